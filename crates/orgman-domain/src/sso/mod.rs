//! Single sign-on: per-organization SSO configurations (values in
//! [`model`], use cases in [`service`]), and the login broker's copies of
//! them and of organizations ([`broker_sync`]).

pub(crate) mod broker_sync;
pub(crate) mod model;
pub(crate) mod service;
