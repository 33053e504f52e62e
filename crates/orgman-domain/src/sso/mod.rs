//! Single sign-on: per-organization SSO configurations (values in
//! [`model`], use cases in [`service`]), the login broker's copies of
//! them and of organizations ([`broker_sync`]), SAML connections'
//! metadata, certificates and connection tests ([`saml`]), and which sign-ins an
//! organization with `ssoRequired` domains admits ([`sign_in`]).

pub(crate) mod broker_sync;
pub(crate) mod mirror;
pub(crate) mod model;
pub(crate) mod saml;
pub(crate) mod service;
pub(crate) mod sign_in;
