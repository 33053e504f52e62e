//! Organization API keys: the values (a secret shown once, its digest
//! stored, what the key may do) and
//! [`ApiKeyService`](service::ApiKeyService), which creates, lists, rotates,
//! revokes and authenticates them.

pub(crate) mod model;
pub(crate) mod service;
