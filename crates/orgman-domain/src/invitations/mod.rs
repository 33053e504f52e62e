//! Invitations: the values (a token shown once, its digest stored) and
//! [`InvitationService`](service::InvitationService), which issues,
//! resends, revokes and accepts them.

pub(crate) mod model;
pub(crate) mod service;
