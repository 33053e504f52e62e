//! The service provider's metadata (`SPSSODescriptor`), for the customer's
//! identity provider to import.

use crate::{ASSERTION_NS, METADATA_NS, PROTOCOL};

/// An attribute the service provider asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedAttribute {
    /// The attribute's name as the identity provider sends it.
    pub name: String,
    /// What it holds, for people (`email`, `firstName`, `lastName`).
    pub friendly_name: String,
    /// Whether logins need it.
    pub required: bool,
}

/// What the customer's identity provider needs to know of the service
/// provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceProvider {
    /// The service provider's entity id (the `Issuer` of its requests, the
    /// `Audience` the assertions must name).
    pub entity_id: String,
    /// The assertion consumer service (HTTP-POST binding).
    pub acs_url: String,
    /// The NameID format asked for.
    pub name_id_format: String,
    /// The attributes asked for.
    pub attributes: Vec<RequestedAttribute>,
    /// A name for people (the SSO configuration's).
    pub display_name: String,
    /// Whether its requests are signed (by a key whose certificate the
    /// identity provider takes from elsewhere: Keycloak's descriptor).
    pub signed_requests: bool,
}

/// The service provider's metadata: assertions must be signed, requests
/// are signed as [`ServiceProvider::signed_requests`] says, the response
/// comes back by HTTP-POST.
pub fn render_sp_metadata(sp: &ServiceProvider) -> String {
    let mut xml = String::with_capacity(1024);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<md:EntityDescriptor xmlns:md=\"{METADATA_NS}\" xmlns:saml=\"{ASSERTION_NS}\" entityID=\"{}\">\n",
        escape(&sp.entity_id)
    ));
    xml.push_str(&format!(
        "  <md:SPSSODescriptor protocolSupportEnumeration=\"{PROTOCOL}\" AuthnRequestsSigned=\"{}\" WantAssertionsSigned=\"true\">\n",
        sp.signed_requests
    ));
    xml.push_str(&format!(
        "    <md:NameIDFormat>{}</md:NameIDFormat>\n",
        escape(&sp.name_id_format)
    ));
    xml.push_str(&format!(
        "    <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{}\" index=\"0\" isDefault=\"true\"/>\n",
        escape(&sp.acs_url)
    ));
    if !sp.attributes.is_empty() {
        xml.push_str("    <md:AttributeConsumingService index=\"0\" isDefault=\"true\">\n");
        xml.push_str(&format!(
            "      <md:ServiceName xml:lang=\"en\">{}</md:ServiceName>\n",
            escape(&sp.display_name)
        ));
        for attribute in &sp.attributes {
            xml.push_str(&format!(
                "      <md:RequestedAttribute Name=\"{}\" FriendlyName=\"{}\" isRequired=\"{}\"/>\n",
                escape(&attribute.name),
                escape(&attribute.friendly_name),
                attribute.required
            ));
        }
        xml.push_str("    </md:AttributeConsumingService>\n");
    }
    xml.push_str("  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n");
    xml
}

/// Escapes text for an XML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_reads_back_with_every_value_escaped() {
        let sp = ServiceProvider {
            entity_id: "https://login.example/realms/a/broker/x/endpoint/descriptor?a=1&b=\"2\""
                .into(),
            acs_url: "https://login.example/realms/a/broker/x/endpoint".into(),
            name_id_format: crate::NAME_ID_EMAIL.into(),
            attributes: vec![RequestedAttribute {
                name: "email".into(),
                friendly_name: "email".into(),
                required: true,
            }],
            display_name: "Acme <SSO>".into(),
            signed_requests: false,
        };
        let xml = render_sp_metadata(&sp);
        let document = roxmltree::Document::parse(&xml).unwrap();
        let root = document.root_element();
        assert_eq!(root.attribute("entityID"), Some(sp.entity_id.as_str()));
        let acs = document
            .descendants()
            .find(|n| n.has_tag_name((METADATA_NS, "AssertionConsumerService")))
            .unwrap();
        assert_eq!(acs.attribute("Location"), Some(sp.acs_url.as_str()));
        let name = document
            .descendants()
            .find(|n| n.has_tag_name((METADATA_NS, "ServiceName")))
            .unwrap();
        assert_eq!(name.text(), Some("Acme <SSO>"));
        let descriptor = document
            .descendants()
            .find(|n| n.has_tag_name((METADATA_NS, "SPSSODescriptor")))
            .unwrap();
        assert_eq!(descriptor.attribute("WantAssertionsSigned"), Some("true"));
    }
}
