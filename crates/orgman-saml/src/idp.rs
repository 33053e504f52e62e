//! An identity provider's metadata (SAML 2.0 metadata, `IDPSSODescriptor`).

use roxmltree::{Document, Node, ParsingOptions};

use crate::certificate::Certificate;
use crate::{ASSERTION_NS, MAX_METADATA_BYTES, METADATA_NS, PROTOCOL, XMLDSIG_NS};

/// How the service provider sends its authentication request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// HTTP-POST (a form the browser submits): preferred, no URL limits.
    Post,
    /// HTTP-Redirect (the request in the URL).
    Redirect,
}

impl Binding {
    /// The binding's URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Post => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            Self::Redirect => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        }
    }
}

/// What an identity provider's metadata says, as a service provider needs
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpMetadata {
    /// The identity provider's entity id (the `Issuer` of its responses).
    pub entity_id: String,
    /// Where browsers are sent to log in.
    pub sso_url: String,
    /// How they are sent there.
    pub binding: Binding,
    /// Its signing certificates (those marked `use="signing"` or unmarked),
    /// each once, in document order.
    pub certificates: Vec<Certificate>,
    /// The NameID formats it offers, in document order.
    pub name_id_formats: Vec<String>,
    /// The attribute names it says it can send.
    pub attributes: Vec<String>,
    /// Whether it wants authentication requests signed.
    pub wants_signed_requests: bool,
    /// Where logouts are sent (HTTP-POST preferred, else HTTP-Redirect),
    /// if it offers single logout.
    pub slo_url: Option<String>,
}

/// Why metadata was refused; each says what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataError {
    /// Larger than [`MAX_METADATA_BYTES`].
    TooLarge,
    /// It carries a document type declaration (refused: entities).
    Dtd,
    /// Not well-formed XML.
    NotXml(String),
    /// No identity provider's descriptor for SAML 2.0 in it.
    NoIdentityProvider,
    /// Several identity providers (an aggregate): paste one.
    SeveralIdentityProviders,
    /// A required part is missing (names it).
    Missing(&'static str),
    /// A part is there but unusable (says why).
    Invalid(String),
}

impl std::fmt::Display for MetadataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge => write!(
                f,
                "the metadata is larger than {} KiB",
                MAX_METADATA_BYTES / 1024
            ),
            Self::Dtd => f.write_str("the metadata carries a DTD, which is refused"),
            Self::NotXml(why) => write!(f, "the metadata is not well-formed XML ({why})"),
            Self::NoIdentityProvider => {
                f.write_str("the metadata describes no SAML 2.0 identity provider")
            }
            Self::SeveralIdentityProviders => f.write_str(
                "the metadata describes several identity providers; give the one to use",
            ),
            Self::Missing(what) => write!(f, "the metadata has no {what}"),
            Self::Invalid(why) => write!(f, "the metadata is unusable: {why}"),
        }
    }
}

impl std::error::Error for MetadataError {}

/// Reads an identity provider's metadata: an `EntityDescriptor`, or an
/// `EntitiesDescriptor` holding exactly one identity provider.
///
/// # Errors
/// [`MetadataError`], which names what is wrong.
pub fn read_idp_metadata(xml: &str) -> Result<IdpMetadata, MetadataError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(MetadataError::TooLarge);
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: 100_000,
    };
    let document = Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => MetadataError::Dtd,
        other => MetadataError::NotXml(other.to_string()),
    })?;
    let descriptors: Vec<Node<'_, '_>> = document
        .descendants()
        .filter(|n| is(n, METADATA_NS, "IDPSSODescriptor"))
        .filter(|n| {
            n.attribute("protocolSupportEnumeration")
                .is_some_and(|p| p.split_whitespace().any(|p| p == PROTOCOL))
        })
        .collect();
    let descriptor = match descriptors.as_slice() {
        [] => return Err(MetadataError::NoIdentityProvider),
        [one] => *one,
        _ => return Err(MetadataError::SeveralIdentityProviders),
    };
    let entity = descriptor
        .parent_element()
        .filter(|p| is(p, METADATA_NS, "EntityDescriptor"))
        .ok_or(MetadataError::NoIdentityProvider)?;
    let entity_id = entity
        .attribute("entityID")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or(MetadataError::Missing("entityID"))?;
    if entity_id.len() > 1024 || entity_id.chars().any(char::is_control) {
        return Err(MetadataError::Invalid(
            "the entityID is longer than 1024 characters or holds control characters".into(),
        ));
    }
    let (sso_url, binding) = single_sign_on(descriptor)?;
    Ok(IdpMetadata {
        entity_id: entity_id.to_owned(),
        sso_url,
        binding,
        certificates: signing_certificates(descriptor)?,
        name_id_formats: children(descriptor, METADATA_NS, "NameIDFormat")
            .filter_map(|n| n.text())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect(),
        attributes: children(descriptor, ASSERTION_NS, "Attribute")
            .filter_map(|n| n.attribute("Name"))
            .map(str::to_owned)
            .collect(),
        wants_signed_requests: descriptor.attribute("WantAuthnRequestsSigned") == Some("true"),
        slo_url: single_logout(descriptor),
    })
}

fn is(node: &Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(namespace)
}

fn children<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    namespace: &'static str,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(move |n| is(n, namespace, name))
}

/// The single sign-on endpoint: HTTP-POST when offered, else HTTP-Redirect.
fn single_sign_on(descriptor: Node<'_, '_>) -> Result<(String, Binding), MetadataError> {
    let services: Vec<Node<'_, '_>> =
        children(descriptor, METADATA_NS, "SingleSignOnService").collect();
    if services.is_empty() {
        return Err(MetadataError::Missing("SingleSignOnService"));
    }
    for binding in [Binding::Post, Binding::Redirect] {
        if let Some(service) = services
            .iter()
            .find(|s| s.attribute("Binding") == Some(binding.uri()))
        {
            let location = service
                .attribute("Location")
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .ok_or(MetadataError::Missing("SingleSignOnService Location"))?;
            return Ok((location.to_owned(), binding));
        }
    }
    Err(MetadataError::Invalid(
        "no SingleSignOnService with the HTTP-POST or HTTP-Redirect binding".into(),
    ))
}

/// The single logout endpoint, HTTP-POST preferred.
fn single_logout(descriptor: Node<'_, '_>) -> Option<String> {
    let services: Vec<Node<'_, '_>> =
        children(descriptor, METADATA_NS, "SingleLogoutService").collect();
    [Binding::Post, Binding::Redirect]
        .into_iter()
        .find_map(|binding| {
            services
                .iter()
                .find(|s| s.attribute("Binding") == Some(binding.uri()))
                .and_then(|s| s.attribute("Location"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
        })
}

fn signing_certificates(descriptor: Node<'_, '_>) -> Result<Vec<Certificate>, MetadataError> {
    let mut certificates: Vec<Certificate> = Vec::new();
    for key in children(descriptor, METADATA_NS, "KeyDescriptor") {
        if key.attribute("use").is_some_and(|u| u != "signing") {
            continue;
        }
        for element in key
            .descendants()
            .filter(|n| is(n, XMLDSIG_NS, "X509Certificate"))
        {
            let certificate = Certificate::from_base64(element.text().unwrap_or_default())
                .map_err(|e| MetadataError::Invalid(e.to_string()))?;
            if !certificates.iter().any(|c| c.sha256 == certificate.sha256) {
                certificates.push(certificate);
            }
        }
    }
    if certificates.is_empty() {
        return Err(MetadataError::Missing("signing certificate"));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate (CN=orgman-saml-test, valid from
    /// 2026-12-07 12:44:54 to 2036-12-07 12:44:54 UTC), made with openssl for these tests.
    pub(crate) const CERT: &str = include_str!("../tests/data/idp-cert.b64");

    fn metadata(keys: &str, services: &str) -> String {
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" entityID="https://idp.example/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true">
    {keys}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    {services}
    <saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    fn key(usage: &str) -> String {
        format!(
            r#"<md:KeyDescriptor {usage}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{CERT}
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
        )
    }

    const POST: &str = r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/logout"/>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/redirect"/>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/post"/>"#;

    #[test]
    fn a_providers_metadata_gives_what_a_service_provider_needs() {
        let read = read_idp_metadata(&metadata(
            &format!("{}{}", key(r#"use="signing""#), key("")),
            POST,
        ))
        .unwrap();
        assert_eq!(read.entity_id, "https://idp.example/saml");
        assert_eq!(read.sso_url, "https://idp.example/post");
        assert_eq!(read.binding, Binding::Post);
        assert_eq!(read.certificates.len(), 1, "the same certificate once");
        let certificate = &read.certificates[0];
        assert_eq!(certificate.subject, "CN=orgman-saml-test");
        assert_eq!(certificate.not_before, 1_796_647_494);
        assert_eq!(certificate.not_after, 2_112_266_694);
        assert_eq!(certificate.sha256.len(), 64);
        assert_eq!(
            read.name_id_formats,
            ["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"]
        );
        assert_eq!(read.attributes.len(), 1);
        assert!(read.wants_signed_requests);
        assert_eq!(read.slo_url.as_deref(), Some("https://idp.example/logout"));
    }

    #[test]
    fn redirect_is_taken_when_post_is_not_offered_and_encryption_keys_are_not_signing_keys() {
        let redirect = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/redirect"/>"#;
        let read = read_idp_metadata(&metadata(&key(r#"use="signing""#), redirect)).unwrap();
        assert_eq!(read.binding, Binding::Redirect);
        assert_eq!(read.sso_url, "https://idp.example/redirect");
        assert_eq!(
            read_idp_metadata(&metadata(&key(r#"use="encryption""#), POST)),
            Err(MetadataError::Missing("signing certificate"))
        );
        let soap = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://idp.example/soap"/>"#;
        assert!(matches!(
            read_idp_metadata(&metadata(&key(""), soap)),
            Err(MetadataError::Invalid(_))
        ));
        assert_eq!(
            read_idp_metadata(&metadata(&key(""), "")),
            Err(MetadataError::Missing("SingleSignOnService"))
        );
    }

    #[test]
    fn entities_are_never_expanded_because_no_dtd_is_read() {
        let billion = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol2;"/>"#;
        assert_eq!(read_idp_metadata(billion), Err(MetadataError::Dtd));
        let external = r#"<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>"#;
        assert_eq!(read_idp_metadata(external), Err(MetadataError::Dtd));
        let undeclared = metadata(&key(""), POST).replace("https://idp.example/saml", "&xxe;");
        assert!(matches!(
            read_idp_metadata(&undeclared),
            Err(MetadataError::NotXml(_))
        ));
    }

    #[test]
    fn oversized_malformed_and_aggregate_documents_are_refused() {
        let padding = " ".repeat(MAX_METADATA_BYTES);
        assert_eq!(
            read_idp_metadata(&format!("{}{padding}", metadata(&key(""), POST))),
            Err(MetadataError::TooLarge)
        );
        assert!(matches!(
            read_idp_metadata("<md:EntityDescriptor"),
            Err(MetadataError::NotXml(_))
        ));
        assert_eq!(
            read_idp_metadata(
                r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>"#
            ),
            Err(MetadataError::NoIdentityProvider)
        );
        let one = metadata(&key(""), POST);
        let body = &one[one.find("<md:EntityDescriptor").unwrap()..];
        let aggregate = format!(
            r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{body}{}</md:EntitiesDescriptor>"#,
            body.replace("https://idp.example/saml", "https://other.example/saml")
        );
        assert_eq!(
            read_idp_metadata(&aggregate),
            Err(MetadataError::SeveralIdentityProviders)
        );
        let single = format!(
            r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{body}</md:EntitiesDescriptor>"#
        );
        assert_eq!(
            read_idp_metadata(&single).unwrap().entity_id,
            "https://idp.example/saml"
        );
        let anonymous =
            metadata(&key(""), POST).replace(r#"entityID="https://idp.example/saml""#, "");
        assert_eq!(
            read_idp_metadata(&anonymous),
            Err(MetadataError::Missing("entityID"))
        );
    }
}
