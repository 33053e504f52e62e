//! Directory sync: an organization's directory (Okta, Microsoft Entra ID,
//! ...) provisions its people and groups, over SCIM at the edge. A
//! directory user is an orgman user and, while active, a member; a
//! directory group gives a role only through the organization's own
//! mapping ([`GroupRole`](model::GroupRole)). The use cases are
//! [`DirectoryService`](service::DirectoryService)'s.

pub(crate) mod model;
pub(crate) mod service;
