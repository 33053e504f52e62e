//! Domains an organization claims and proves through DNS, their `autoJoin`
//! and `ssoRequired` policies, and [`DomainService`](service::DomainService).

pub(crate) mod model;
pub(crate) mod service;
