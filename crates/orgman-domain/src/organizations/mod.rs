//! Organizations: the aggregate and its lifecycle (`ACTIVE`, `SUSPENDED`,
//! `PENDING_DELETION`, `DELETED`), metadata with merge patches, and
//! [`OrganizationService`](service::OrganizationService), the use cases over
//! organizations and their members.

pub(crate) mod lifecycle;
pub(crate) mod metadata;
pub(crate) mod model;
pub(crate) mod service;
