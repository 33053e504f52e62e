//! The one error every use case answers with.

use time::OffsetDateTime;

use crate::errors::port::{AuthzError, Conflict, IdentityError, StoreError, ValidationError};
use crate::members::permission::{Permission, PermissionName};
use crate::organizations::lifecycle::{LifecycleAction, OrgStatus};

/// Why a use case of [`crate::OrganizationService`] failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    /// The organization does not exist, or the actor may not know that it
    /// does (non-members get this, never [`OrgError::Forbidden`]).
    #[error("organization not found")]
    NotFound,
    /// The actor is a member but lacks the permission.
    #[error("missing permission {}", permission.name())]
    Forbidden {
        /// The permission that was needed.
        permission: Permission,
    },
    /// The actor would grant a permission they do not hold (to a role
    /// they define or edit, or to a member through a role).
    #[error("you cannot grant {permission}: you do not hold it")]
    PermissionNotHeld {
        /// The first permission granted but not held.
        permission: PermissionName,
    },
    /// A role grants a permission the catalog does not list.
    #[error("permission {permission} is not in the catalog")]
    UnknownPermission {
        /// The permission named.
        permission: PermissionName,
    },
    /// The catalog does not list this permission.
    #[error("permission not found")]
    PermissionNotFound,
    /// orgman's own permissions are fixed.
    #[error("permission {permission} is built in and cannot be changed")]
    PermissionBuiltIn {
        /// The permission named.
        permission: PermissionName,
    },
    /// Roles still grant the permission to be deleted.
    #[error(
        "{roles} role(s) still grant this permission; delete it with force=true to take it from them"
    )]
    PermissionInUse {
        /// How many roles grant it.
        roles: u64,
    },
    /// The organization has no role of this key.
    #[error("role not found")]
    RoleNotFound,
    /// A request names a custom role the organization does not define.
    #[error("the organization has no role {key:?}")]
    UnknownRoleKey {
        /// The key named.
        key: String,
    },
    /// A role of this key exists already where the new one would clash:
    /// in the organization or among the platform roles (for a platform
    /// role: in any organization).
    #[error("a role with this key exists already, in the organization or among the platform roles")]
    RoleExists,
    /// The role is a platform role: only platform administrators change it,
    /// through the platform's routes.
    #[error("this is a platform role; platform administrators change it under /api/v1/roles")]
    RoleOfPlatform,
    /// Members hold the role to be deleted.
    #[error("{members} member(s) hold this role; name a replacement role to delete it")]
    RoleInUse {
        /// How many members hold it.
        members: u64,
    },
    /// The organization defines as many roles as allowed.
    #[error("at most {max} roles per organization")]
    RoleLimitReached {
        /// The limit.
        max: u64,
    },
    /// The actor's address is in one of the organization's `ssoRequired`
    /// domains, and they did not sign in through one of its providers.
    #[error("this organization requires signing in through its identity provider")]
    SsoRequired,
    /// The use case is reserved to platform administrators.
    #[error("platform administrator role required")]
    PlatformAdminRequired,
    /// Only an OWNER (or a platform administrator) grants or revokes OWNER.
    #[error("only an owner may grant or revoke the OWNER role")]
    OwnerRequired,
    /// The change would leave the organization without an OWNER.
    #[error("an organization must keep at least one owner")]
    LastOwner,
    /// The user cannot be erased while they are the only OWNER of these
    /// organizations: another OWNER must be named first (or the
    /// organizations deleted).
    #[error("the user is the only owner of {} organization(s)", organizations.len())]
    SoleOwner {
        /// The organizations, by id.
        organizations: Vec<crate::values::id::OrganizationId>,
    },
    /// The account was erased: its tokens no longer reach anything.
    #[error("this account was erased")]
    AccountErased,
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
    /// The organization has no API key with this id.
    #[error("API key not found")]
    ApiKeyNotFound,
    /// The API key was revoked or has expired: it cannot be rotated.
    #[error("the API key has been revoked or has expired")]
    ApiKeyEnded,
    /// A presented API key does not authenticate: malformed, unknown,
    /// revoked or expired (which one is told only to the logs).
    #[error("the API key is not valid")]
    ApiKeyRejected {
        /// Why, for the logs.
        reason: &'static str,
    },
    /// A key's end (its expiry or a rotation's overlap) is not in the
    /// future, or too far in it.
    #[error("{0}")]
    ApiKeyEndInvalid(&'static str),
    /// The organization has no webhook endpoint with this id.
    #[error("webhook endpoint not found")]
    WebhookNotFound,
    /// The endpoint has no delivery with this id.
    #[error("webhook delivery not found")]
    DeliveryNotFound,
    /// The delivery is still waiting for its next attempt: it cannot be
    /// sent again before it ends.
    #[error("the delivery is still pending")]
    DeliveryPending,
    /// A webhook endpoint's URL or event types are not acceptable.
    #[error("{0}")]
    WebhookInvalid(String),
    /// A webhook URL the service may not call: a private, loopback or
    /// link-local address, plain `http`, or a host that does not resolve.
    #[error("{0}")]
    WebhookUrlNotAllowed(String),
    /// The organization's directory has no person with this id.
    #[error("directory user not found")]
    DirectoryUserNotFound,
    /// The organization's directory has no group with this id.
    #[error("directory group not found")]
    DirectoryGroupNotFound,
    /// A directory resource would take a value another one holds (a user
    /// name, a group's name, or a person the directory already has).
    #[error("{0}")]
    DirectoryConflict(String),
    /// A directory resource or a group mapping is not acceptable.
    #[error("{0}")]
    DirectoryInvalid(String),
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
