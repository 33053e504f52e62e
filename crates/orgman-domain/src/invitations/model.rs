//! Invitations: joining an organization by accepting a single-use token
//! sent to one e-mail address.

use std::fmt;

use time::OffsetDateTime;

use crate::errors::use_case::OrgError;
use crate::members::role::OrgRole;
use crate::values::id::{InvitationId, OrganizationId, UserId};
use crate::values::name::Email;

/// The secret of an invitation, shown to its creator once and never stored
/// (storage keeps its [`TokenDigest`]).
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationToken(String);

impl InvitationToken {
    /// Wraps a token's text.
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The token's text, for the one answer that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken(..)")
    }
}

/// What storage keeps of an invitation token (a cryptographic digest, as
/// lowercase hex).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub String);

/// Where an invitation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvitationStatus {
    /// Can be accepted.
    Pending,
    /// Used; invitations are single-use.
    Accepted,
    /// Withdrawn by the organization.
    Revoked,
    /// Not accepted in time.
    Expired,
}

impl InvitationStatus {
    /// The wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "PENDING",
            InvitationStatus::Accepted => "ACCEPTED",
            InvitationStatus::Revoked => "REVOKED",
            InvitationStatus::Expired => "EXPIRED",
        }
    }
}

/// An invitation to join an organization with a role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// Id.
    pub id: InvitationId,
    /// The organization to join.
    pub organization_id: OrganizationId,
    /// Who may accept it: the user whose verified e-mail address this is.
    pub email: Email,
    /// The role accepting grants.
    pub role: OrgRole,
    /// Who invited (`None` once that user is gone).
    pub invited_by: Option<UserId>,
    /// Created (or last sent again).
    pub created_at: OffsetDateTime,
    /// When it stops being valid.
    pub expires_at: OffsetDateTime,
    /// When it was accepted.
    pub accepted_at: Option<OffsetDateTime>,
    /// Who accepted it.
    pub accepted_by: Option<UserId>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

impl Invitation {
    /// Its status at `now`.
    pub fn status(&self, now: OffsetDateTime) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if now >= self.expires_at {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }

    /// The error of acting on it when it is not pending.
    pub(crate) fn ensure_pending(&self, now: OffsetDateTime) -> Result<(), OrgError> {
        match self.status(now) {
            InvitationStatus::Pending => Ok(()),
            InvitationStatus::Accepted => Err(OrgError::InvitationAccepted),
            InvitationStatus::Revoked => Err(OrgError::InvitationRevoked),
            InvitationStatus::Expired => Err(OrgError::InvitationExpired),
        }
    }
}

/// An invitation with its token, as handed to its creator once.
#[derive(Clone, Debug)]
pub struct IssuedInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// Its secret token.
    pub token: InvitationToken,
}
