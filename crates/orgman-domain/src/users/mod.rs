//! Users: the local projection of people the identity provider knows, and
//! registering them there and locally (invitation or account, and
//! just-in-time provisioning with the `autoJoin` policy).

pub(crate) mod account_check;
pub(crate) mod erasure;
pub(crate) mod model;
pub(crate) mod registration;
