//! Typed errors. Each variant says what is wrong; the HTTP edge maps each
//! one to a stable problem code and status.

use std::fmt;

use time::OffsetDateTime;

use crate::membership::Permission;
use crate::organization::OrgStatus;

/// An input value broke a rule. Returned by the value types' constructors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// An organization name is empty after trimming.
    #[error("name must not be empty")]
    NameEmpty,
    /// An organization name is too long.
    #[error("name must be at most {max} characters, got {actual}")]
    NameTooLong {
        /// The limit.
        max: usize,
        /// The length found, in characters.
        actual: usize,
    },
    /// An organization name contains a control character.
    #[error("name must not contain control characters")]
    NameControlCharacter,
    /// A slug is empty.
    #[error("slug must not be empty")]
    SlugEmpty,
    /// A slug is too long.
    #[error("slug must be at most {max} characters, got {actual}")]
    SlugTooLong {
        /// The limit.
        max: usize,
        /// The length found.
        actual: usize,
    },
    /// A slug contains a character outside `[a-z0-9-]`.
    #[error("slug must match ^[a-z0-9-]+$; {character:?} is not allowed")]
    SlugInvalidCharacter {
        /// The first character that is not allowed.
        character: char,
    },
    /// An e-mail address is malformed.
    #[error("email address is not valid")]
    EmailInvalid,
    /// A domain name is malformed.
    #[error("domain must be a DNS name of at least two labels of a-z, 0-9 and -")]
    DomainInvalid,
    /// A text is not a UUID.
    #[error("{field} must be a UUID")]
    InvalidId {
        /// Which field (in the API's camelCase).
        field: &'static str,
    },
    /// A role name is unknown.
    #[error("unknown role {value:?}; expected OWNER, ADMIN or MEMBER")]
    UnknownRole {
        /// The value given (truncated).
        value: String,
    },
    /// A lifecycle status name is unknown.
    #[error("unknown organization status {value:?}")]
    UnknownStatus {
        /// The value given (truncated).
        value: String,
    },
    /// An SSO issuer URL is not acceptable.
    #[error("issuerUrl {reason}")]
    IssuerUrlInvalid {
        /// What is wrong.
        reason: &'static str,
    },
    /// A text field is empty, too long or contains control characters.
    #[error("{field} must be 1-{max} characters without control characters")]
    TextInvalid {
        /// The field (camelCase).
        field: &'static str,
        /// Its largest length.
        max: usize,
    },
    /// An SSO configuration's issuer or client id changes without a new
    /// client secret: the stored secret belongs to the old pair and is never
    /// sent to another issuer.
    #[error("clientSecret is required when issuerUrl or clientId changes")]
    SecretRequired,
    /// Organization metadata is not an object, or too large.
    #[error("{field} {reason}")]
    MetadataInvalid {
        /// `metadata` or `privateMetadata`.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Stored data contradicts the domain's invariants.
    #[error("inconsistent stored record: {reason}")]
    InconsistentRecord {
        /// What is inconsistent.
        reason: &'static str,
    },
}

impl ValidationError {
    /// The request field (camelCase) this error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::NameEmpty | Self::NameTooLong { .. } | Self::NameControlCharacter => Some("name"),
            Self::SlugEmpty | Self::SlugTooLong { .. } | Self::SlugInvalidCharacter { .. } => {
                Some("slug")
            }
            Self::EmailInvalid => Some("email"),
            Self::DomainInvalid => Some("domain"),
            Self::InvalidId { field } => Some(field),
            Self::UnknownRole { .. } => Some("role"),
            Self::IssuerUrlInvalid { .. } => Some("issuerUrl"),
            Self::TextInvalid { field, .. } => Some(field),
            Self::SecretRequired => Some("clientSecret"),
            Self::MetadataInvalid { field, .. } => Some(field),
            Self::UnknownStatus { .. } | Self::InconsistentRecord { .. } => None,
        }
    }
}

/// A lifecycle action on an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LifecycleAction {
    /// ACTIVE → SUSPENDED.
    Suspend,
    /// SUSPENDED → ACTIVE.
    Reactivate,
    /// ACTIVE → PENDING_DELETION.
    RequestDeletion,
    /// PENDING_DELETION → ACTIVE.
    Restore,
    /// PENDING_DELETION → DELETED, once the grace period is over.
    Purge,
}

impl LifecycleAction {
    /// The action's name in the API (`suspend`, `reactivate`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            LifecycleAction::Suspend => "suspend",
            LifecycleAction::Reactivate => "reactivate",
            LifecycleAction::RequestDeletion => "request-deletion",
            LifecycleAction::Restore => "restore",
            LifecycleAction::Purge => "purge",
        }
    }
}

impl fmt::Display for LifecycleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a use case of [`crate::OrganizationService`] failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    /// The organization does not exist, or the actor may not know that it
    /// does (non-members get this, never [`OrgError::Forbidden`]).
    #[error("organization not found")]
    NotFound,
    /// The actor is a member but lacks the permission.
    #[error("missing permission {}", permission.as_str())]
    Forbidden {
        /// The permission that was needed.
        permission: Permission,
    },
    /// The use case is reserved to platform administrators.
    #[error("platform administrator role required")]
    PlatformAdminRequired,
    /// Only an OWNER (or a platform administrator) grants or revokes OWNER.
    #[error("only an owner may grant or revoke the OWNER role")]
    OwnerRequired,
    /// The change would leave the organization without an OWNER.
    #[error("an organization must keep at least one owner")]
    LastOwner,
    /// Another organization already uses the slug.
    #[error("slug {slug:?} is already taken")]
    SlugTaken {
        /// The slug asked for.
        slug: String,
    },
    /// The user already is a member.
    #[error("user is already a member of this organization")]
    AlreadyMember,
    /// The user is not a member.
    #[error("user is not a member of this organization")]
    MemberNotFound,
    /// The SSO configuration does not exist (in this scope).
    #[error("SSO configuration not found")]
    SsoConfigNotFound,
    /// The scope already holds as many SSO configurations as allowed.
    #[error("at most {max} SSO configurations per organization")]
    SsoConfigLimitReached {
        /// The limit.
        max: usize,
    },
    /// The organization has not claimed this domain.
    #[error("domain not found")]
    DomainNotFound,
    /// The organization claimed this domain already.
    #[error("the organization has claimed this domain already")]
    DomainClaimed,
    /// The organization claimed as many domains as allowed.
    #[error("at most {max} domains per organization")]
    DomainLimitReached {
        /// The limit.
        max: u64,
    },
    /// The TXT record proving the claim was not found (or holds another
    /// value).
    #[error("the TXT record {record} does not hold the expected value yet")]
    DomainNotVerified {
        /// The record looked up.
        record: String,
    },
    /// Domain policies need a verified domain.
    #[error("verify the domain before turning its policies on")]
    DomainUnverified,
    /// Another organization verified this domain first.
    #[error("another organization has verified this domain")]
    DomainVerifiedElsewhere,
    /// An SSO issuer the server may not reach (a private address, a host
    /// named ambiguously).
    #[error("{0}")]
    IssuerNotAllowed(String),
    /// No invitation has this id (in this organization) or token.
    #[error("invitation not found")]
    InvitationNotFound,
    /// The invitation was accepted already; it is single-use.
    #[error("the invitation has been accepted already")]
    InvitationAccepted,
    /// The invitation was revoked.
    #[error("the invitation has been revoked")]
    InvitationRevoked,
    /// The invitation expired.
    #[error("the invitation has expired")]
    InvitationExpired,
    /// The invitation is for another e-mail address than the accepting
    /// user's verified one.
    #[error("the invitation is for another e-mail address than your verified one")]
    InvitationEmailMismatch,
    /// The address already has a pending invitation to the organization.
    #[error("this address already has a pending invitation; resend it instead")]
    InvitationPending,
    /// The organization has as many members as its limit allows.
    #[error("the organization has reached its limit of {max} members")]
    MemberLimitReached {
        /// The limit.
        max: u32,
    },
    /// A required setting is missing (e.g. no encryption key configured).
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    /// A field of the request is invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The user is unknown to the service.
    #[error("user not found")]
    UserNotFound,
    /// A user with that e-mail address (or username) already exists.
    #[error("a user with this e-mail address already exists")]
    UserExists,
    /// The identity provider refused the request as invalid.
    #[error("the identity provider refused the user: {0}")]
    IdentityRejected(String),
    /// The organization is not ACTIVE, so it cannot be changed.
    #[error("organization is {status} and read-only")]
    ReadOnly {
        /// Its current status.
        status: OrgStatus,
    },
    /// The lifecycle edge does not exist.
    #[error("cannot {action} an organization that is {from}")]
    InvalidTransition {
        /// The current status.
        from: OrgStatus,
        /// The action asked for.
        action: LifecycleAction,
    },
    /// A purge was asked for before the grace period ended.
    #[error("deletion grace period lasts until {purge_after}")]
    GracePeriodNotOver {
        /// When the organization may be purged.
        purge_after: OffsetDateTime,
    },
    /// The caller's expected version is not the current one (lost update
    /// prevented).
    #[error("organization was modified: expected version {expected}, current is {actual}")]
    VersionMismatch {
        /// The version the caller based its change on.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// A dependency (storage, authorization service, ...) is unavailable;
    /// retrying later may succeed. Nothing was changed.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// An unexpected failure in a dependency; details are for the logs.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a storage port call failed. Adapters map their own errors into it
/// where they happen.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// A row changed since it was read (optimistic concurrency).
    #[error("version mismatch: expected {expected}, found {actual}")]
    VersionMismatch {
        /// The version the write expected.
        expected: u64,
        /// The version found.
        actual: u64,
    },
    /// A row the write refers to is missing.
    #[error("not found")]
    NotFound,
    /// The store cannot be reached or is restarting; nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("store error: {0}")]
    Other(String),
}

/// Which uniqueness rule a write broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// An organization with that slug exists.
    Slug,
    /// The user is already a member of the organization.
    Membership,
    /// A user with that subject or e-mail exists.
    User,
    /// Something else, described.
    Other(String),
}

impl From<StoreError> for OrgError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(Conflict::Membership) => OrgError::AlreadyMember,
            StoreError::VersionMismatch { expected, actual } => {
                OrgError::VersionMismatch { expected, actual }
            }
            StoreError::NotFound => OrgError::NotFound,
            StoreError::Unavailable(reason) => OrgError::Unavailable(reason),
            other @ (StoreError::Conflict(_) | StoreError::Other(_)) => {
                OrgError::Internal(other.to_string())
            }
        }
    }
}

/// Why an authorization port call failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthzError {
    /// The authorization service cannot be reached. Callers must fail
    /// closed: an unavailable authorizer never means "allowed".
    #[error("authorization service unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("authorization error: {0}")]
    Other(String),
}

impl From<IdentityError> for OrgError {
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::Conflict => OrgError::UserExists,
            IdentityError::Rejected(reason) => OrgError::IdentityRejected(reason),
            IdentityError::Unavailable(reason) => {
                OrgError::Unavailable(format!("identity provider: {reason}"))
            }
            IdentityError::Other(reason) => {
                OrgError::Internal(format!("identity provider: {reason}"))
            }
        }
    }
}

impl From<AuthzError> for OrgError {
    fn from(error: AuthzError) -> Self {
        match error {
            AuthzError::Unavailable(reason) => OrgError::Unavailable(reason),
            AuthzError::Other(reason) => OrgError::Internal(reason),
        }
    }
}

/// Why an identity provider call failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// A user with that username or e-mail exists at the provider.
    #[error("user already exists at the identity provider")]
    Conflict,
    /// The provider refused the request as invalid.
    #[error("identity provider refused the request: {0}")]
    Rejected(String),
    /// The provider cannot be reached or answers with server errors.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("identity provider error: {0}")]
    Other(String),
}

/// Why a [`crate::ports::SecretCipher`] call failed. It never carries secret
/// material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The stored value names a key that is not configured.
    #[error("encryption key {key_id:?} is not configured")]
    UnknownKey {
        /// The key id found in the stored value.
        key_id: String,
    },
    /// Authentication failed: wrong key, tampered ciphertext, or a
    /// ciphertext that belongs to another record.
    #[error("ciphertext failed authentication (wrong key, tampered, or moved between records)")]
    Authentication,
    /// The stored value is not in the expected format.
    #[error("stored secret is malformed: {0}")]
    Malformed(&'static str),
}
