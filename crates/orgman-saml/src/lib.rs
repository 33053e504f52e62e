//! SAML 2.0 metadata, as orgman's SSO connections need it, and nothing of
//! organizations:
//!
//! - [`read_idp_metadata`] reads an identity provider's metadata document
//!   (pasted, or fetched by the caller): its entity id, single sign-on
//!   endpoint and binding, signing certificates with their validity, NameID
//!   formats and offered attributes. The XML reader refuses any document
//!   type declaration, so no entity (internal or external) is ever
//!   expanded, and documents above [`MAX_METADATA_BYTES`] are refused
//!   before they are parsed.
//! - [`render_sp_metadata`] writes the service provider's metadata that
//!   the customer's IT imports into their identity provider.

mod certificate;
mod idp;
mod sp;

pub use certificate::{Certificate, CertificateError};
pub use idp::{Binding, IdpMetadata, MetadataError, read_idp_metadata};
pub use sp::{RequestedAttribute, ServiceProvider, render_sp_metadata};

/// The largest metadata document read (federation aggregates, which hold
/// thousands of entities, are not what an organization pastes).
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// SAML 2.0 metadata's namespace.
pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// SAML 2.0 assertions' namespace (attributes in metadata).
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// XML Signature's namespace (certificates in key descriptors).
pub const XMLDSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The SAML 2.0 protocol, as `protocolSupportEnumeration` names it.
pub const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The NameID format of e-mail addresses.
pub const NAME_ID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
/// The NameID format that leaves the choice to the identity provider.
pub const NAME_ID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
/// The NameID format of opaque, stable identifiers.
pub const NAME_ID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
