//! SAML connections at Keycloak: [`SamlMetadata`], the domain's
//! [`SamlMetadataReader`] (metadata fetched with the discovery's guards
//! and read with `orgman-saml`), and the SAML identity provider Keycloak
//! is handed, with explicit endpoints and certificates.

use std::time::Duration;

use async_trait::async_trait;
use orgman_domain::ports::{MetadataProblem, SamlMetadataReader};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::{BrokeredProvider, MetadataUrl, SamlAttributes, SamlIdp, SigningCertificate};
use orgman_egress::AddressRule;
use serde_json::json;

/// Fetches and reads SAML identity providers' metadata. Fetching resolves
/// the host once, refuses private, loopback and link-local addresses
/// (unless allowed, for development), connects to the address checked,
/// follows no redirect, takes no proxy from the environment and reads at
/// most [`orgman_saml::MAX_METADATA_BYTES`]. Reading refuses DTDs, and a
/// single sign-on URL that is not `https` (unless allowed).
#[derive(Clone)]
pub struct SamlMetadata {
    rule: AddressRule,
}

impl std::fmt::Debug for SamlMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlMetadata")
            .field("allow_http", &self.rule.allow_http)
            .finish_non_exhaustive()
    }
}

impl SamlMetadata {
    /// A reader under `rule`.
    pub fn new(rule: AddressRule) -> Self {
        Self { rule }
    }
}

#[async_trait]
impl SamlMetadataReader for SamlMetadata {
    async fn fetch(&self, url: &MetadataUrl) -> Result<String, MetadataProblem> {
        fetch(url, &self.rule).await
    }

    fn read(&self, xml: &str) -> Result<SamlIdp, MetadataProblem> {
        let read = orgman_saml::read_idp_metadata(xml)
            .map_err(|e| MetadataProblem::Invalid(e.to_string()))?;
        check_browser_url(&read.sso_url, &self.rule)?;
        if let Some(slo) = &read.slo_url {
            check_browser_url(slo, &self.rule)?;
        }
        let certificates = read
            .certificates
            .iter()
            .map(|c| {
                Ok(SigningCertificate {
                    base64: c.base64.clone(),
                    sha256: c.sha256.clone(),
                    subject: c.subject.clone(),
                    not_before: instant(c.not_before)?,
                    not_after: instant(c.not_after)?,
                })
            })
            .collect::<Result<Vec<_>, MetadataProblem>>()?;
        let name_id_format = [
            orgman_saml::NAME_ID_EMAIL,
            orgman_saml::NAME_ID_PERSISTENT,
            orgman_saml::NAME_ID_UNSPECIFIED,
        ]
        .into_iter()
        .find(|f| read.name_id_formats.iter().any(|o| o == f))
        .or(read.name_id_formats.first().map(String::as_str))
        .unwrap_or(orgman_saml::NAME_ID_UNSPECIFIED)
        .to_owned();
        Ok(SamlIdp {
            entity_id: read.entity_id,
            sso_url: read.sso_url,
            post_binding: read.binding == orgman_saml::Binding::Post,
            certificates,
            name_id_format,
            wants_signed_requests: read.wants_signed_requests,
            offered_attributes: read.attributes,
            slo_url: read.slo_url,
        })
    }
}

fn instant(seconds: i64) -> Result<OffsetDateTime, MetadataProblem> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| MetadataProblem::Invalid("a certificate's validity is out of range".into()))
}

/// A URL browsers are sent to (single sign-on or logout): `https` (unless
/// the rule allows `http`), with a host and no credentials.
fn check_browser_url(raw: &str, rule: &AddressRule) -> Result<(), MetadataProblem> {
    let refused = |why: &str| MetadataProblem::Invalid(format!("the endpoint {raw:?} {why}"));
    let url = url::Url::parse(raw).map_err(|_| refused("is not a URL"))?;
    if url.host_str().unwrap_or_default().is_empty()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(refused("has no host or carries credentials"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if rule.allow_http => Ok(()),
        _ => Err(refused("must use https")),
    }
}

async fn fetch(url: &MetadataUrl, rule: &AddressRule) -> Result<String, MetadataProblem> {
    let parsed = url::Url::parse(url.as_str())
        .map_err(|e| MetadataProblem::NotAllowed(format!("the URL does not parse: {e}")))?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    if !host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .eq_ignore_ascii_case(url.host())
    {
        return Err(MetadataProblem::NotAllowed(
            "the URL names its host ambiguously".into(),
        ));
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let first = match orgman_egress::resolve(&host, port, rule).await {
        Ok(addresses) => addresses[0],
        Err(orgman_egress::Refusal::Unresolved(why)) => {
            return Err(MetadataProblem::Unreachable(why));
        }
        Err(orgman_egress::Refusal::Refused(why)) => return Err(MetadataProblem::NotAllowed(why)),
    };
    let client = orgman_egress::pinned_client(&host, first, Duration::from_secs(5))
        .map_err(|e| MetadataProblem::Unreachable(format!("no HTTP client: {e}")))?;
    let mut response = client
        .get(parsed)
        .header(
            reqwest::header::ACCEPT,
            "application/samlmetadata+xml, application/xml, text/xml",
        )
        .send()
        .await
        .map_err(|e| MetadataProblem::Unreachable(format!("fetching the metadata failed: {e}")))?;
    if !response.status().is_success() {
        return Err(MetadataProblem::Unreachable(format!(
            "the metadata URL answered {}",
            response.status()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| MetadataProblem::Unreachable(format!("reading the metadata failed: {e}")))?
    {
        if body.len() + chunk.len() > orgman_saml::MAX_METADATA_BYTES {
            return Err(MetadataProblem::Invalid(format!(
                "the metadata is larger than {} KiB",
                orgman_saml::MAX_METADATA_BYTES / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body)
        .map_err(|_| MetadataProblem::Invalid("the metadata is not UTF-8 text".into()))
}

/// What the customer's identity provider must know of Keycloak as the
/// service provider of one of orgman's SAML configurations. The entity id
/// is per provider (not Keycloak's default, the realm's URL), so that one
/// customer identity provider can hold several organizations' connections,
/// and a connection removed there never breaks another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlServiceProvider {
    /// The service provider's entity id (the requests' `Issuer`, the
    /// assertions' `Audience`).
    pub entity_id: String,
    /// The assertion consumer service (HTTP-POST).
    pub acs_url: String,
    /// Keycloak's own descriptor of the provider.
    pub descriptor_url: String,
}

impl SamlServiceProvider {
    /// The service provider of `alias` at Keycloak's public URL `base`, in
    /// `realm`.
    pub fn of(base: &str, realm: &str, alias: &str) -> Self {
        let endpoint = format!(
            "{}/realms/{realm}/broker/{alias}/endpoint",
            base.trim_end_matches('/')
        );
        Self {
            entity_id: format!("{endpoint}/descriptor"),
            descriptor_url: format!("{endpoint}/descriptor"),
            acs_url: endpoint,
        }
    }
}

/// The mappers orgman keeps on a SAML provider: one per profile attribute,
/// named `orgman-<attribute>`.
pub(crate) const MAPPER_PREFIX: &str = "orgman-";

/// The attribute mappers of a SAML provider: assertion attribute → the
/// user's attribute, imported at the first login.
pub(crate) fn mappers(alias: &str, attributes: &SamlAttributes) -> Vec<serde_json::Value> {
    [
        ("email", &attributes.email),
        ("firstName", &attributes.first_name),
        ("lastName", &attributes.last_name),
    ]
    .into_iter()
    .map(|(user_attribute, name)| {
        json!({
            "name": format!("{MAPPER_PREFIX}{user_attribute}"),
            "identityProviderAlias": alias,
            "identityProviderMapper": "saml-user-attribute-idp-mapper",
            "config": {
                "syncMode": "INHERIT",
                "attribute.name": name,
                "user.attribute": user_attribute,
            },
        })
    })
    .collect()
}

/// Keycloak's SAML identity provider for a configuration: the endpoint and
/// certificates orgman read from the metadata (Keycloak never fetches
/// metadata itself), signatures validated and assertions required signed,
/// requests signed when the identity provider wants them,
/// the per-provider service provider entity id, the e-mail taken from the
/// NameID when it is an address, and the same first-login flow and address
/// rules as OpenID Connect providers.
pub(crate) fn representation(
    provider: &BrokeredProvider,
    idp: &SamlIdp,
    sp: &SamlServiceProvider,
    first_login_flow: &str,
) -> serde_json::Value {
    let certificates: Vec<&str> = idp.certificates.iter().map(|c| c.base64.as_str()).collect();
    let mut config = json!({
        "entityId": sp.entity_id,
        "idpEntityId": idp.entity_id,
        "singleSignOnServiceUrl": idp.sso_url,
        "nameIDPolicyFormat": idp.name_id_format,
        "principalType": "SUBJECT",
        "postBindingAuthnRequest": idp.post_binding.to_string(),
        "postBindingResponse": "true",
        "postBindingLogout": "true",
        // Signed with the realm's key when the identity provider asks (its
        // certificate is in Keycloak's descriptor of the provider).
        "wantAuthnRequestsSigned": idp.wants_signed_requests.to_string(),
        "signatureAlgorithm": "RSA_SHA256",
        "wantAssertionsSigned": "true",
        "wantAssertionsEncrypted": "false",
        "validateSignature": "true",
        "signingCertificate": certificates.join(","),
        "allowCreate": "true",
        "syncMode": "IMPORT",
        "hideOnLoginPage": "true",
        "useMetadataDescriptorUrl": "false",
    });
    if let Some(slo) = &idp.slo_url {
        // A logout at the realm is passed on to the identity provider.
        config["singleLogoutServiceUrl"] = json!(slo);
        config["backchannelSupported"] = json!("false");
    }
    if let Some(domains) = &provider.email_domains {
        config[crate::EMAIL_DOMAINS_ONLY_KEY] = json!("true");
        if !domains.is_empty() {
            config[crate::EMAIL_DOMAINS_KEY] = json!(domains.join(" "));
        }
    }
    json!({
        "alias": provider.alias,
        "displayName": provider.display_name,
        "providerId": "saml",
        "enabled": provider.enabled,
        "hideOnLogin": true,
        "trustEmail": false,
        "storeToken": false,
        "linkOnly": false,
        "firstBrokerLoginFlowAlias": first_login_flow,
        "config": config,
    })
}
