//! SCIM 2.0 (RFC 7643, RFC 7644) as orgman's directory sync speaks it:
//! the schemas it publishes ([`schema`]), filters and paths ([`filter`]),
//! resource documents reduced to those schemas ([`document`]), PATCH in
//! the dialects Okta and Microsoft Entra ID send ([`patch`]), and error
//! bodies ([`ScimError`]).
//!
//! This crate knows the protocol and nothing of organizations: the
//! directory's use cases are `orgman_domain::DirectoryService`'s, and the
//! HTTP edge joins the two.

pub mod document;
mod error;
pub mod filter;
pub mod patch;
pub mod schema;

pub use error::{ScimError, ScimType};

/// The media type of SCIM requests and responses.
pub const MEDIA_TYPE: &str = "application/scim+json";
/// The schema of error responses.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The schema of list responses.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The schema of PATCH requests.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
