//! The domain's errors, in two layers: [`port`] holds what values refuse
//! and what ports report (storage, identity provider, authorizer, cipher);
//! [`use_case`] holds [`OrgError`](use_case::OrgError), the one error every
//! use case answers with, built from the others.

pub(crate) mod port;
pub(crate) mod use_case;
