//! The organization manager's domain: organizations (tenants), their
//! lifecycle, memberships and roles, the rules that govern them, the ports
//! the outside world plugs into, and the use cases built over those ports.
//!
//! This crate does no IO and depends on no framework or async runtime; it is
//! meant to be embedded. Adapters for PostgreSQL, Redis, Kafka, SpiceDB and
//! Keycloak live in their own crates; `orgman-memory` provides in-memory
//! implementations of every port for tests and for embedding.
//!
//! # Values
//!
//! Values are parsed once, at the edge, into types that cannot hold an
//! invalid value: [`OrgName`] (1–100 characters after trimming, no control
//! characters), [`Slug`] (1–50 characters of `[a-z0-9-]`), [`Email`], and
//! UUID ids ([`OrganizationId`], [`UserId`]). Constructors return a
//! [`ValidationError`] that names the field and the rule.
//!
//! # Lifecycle
//!
//! | from | action | to | who |
//! |---|---|---|---|
//! | ACTIVE | suspend | SUSPENDED | platform ADMIN |
//! | SUSPENDED | reactivate | ACTIVE | platform ADMIN |
//! | ACTIVE | request deletion | PENDING_DELETION (grace period starts) | OWNER, platform ADMIN |
//! | PENDING_DELETION | restore | ACTIVE | OWNER, platform ADMIN |
//! | PENDING_DELETION | purge (after the grace period) | DELETED | platform ADMIN |
//!
//! Any other transition is refused with [`OrgError::InvalidTransition`].
//! Only ACTIVE organizations accept changes to their name, members and SSO
//! configurations; otherwise [`OrgError::ReadOnly`]. Members keep read
//! access while an organization is SUSPENDED or PENDING_DELETION. Purging
//! erases the organization's memberships and SSO configurations in the same
//! unit of work ([`ports::OrganizationWrites::erase_contents`]); what remains is a
//! tombstone (id, name, slug, status, dates) visible to platform
//! administrators only, and the audit trail.
//!
//! # Membership rules
//!
//! | rule | refused with |
//! |---|---|
//! | The creator of an organization becomes its OWNER. | — |
//! | Creating organizations is for platform ADMINs unless [`CreationPolicy::AnyUser`]. | [`OrgError::PlatformAdminRequired`] |
//! | A platform ADMIN may do everything in every organization. | — |
//! | Non-members cannot see an organization, nor learn that it exists. | [`OrgError::NotFound`] |
//! | OWNER and ADMIN manage the members (delegated administration); a MEMBER cannot. | [`OrgError::Forbidden`] |
//! | Only an OWNER grants or revokes OWNER (adding, promoting to, demoting or removing an OWNER). | [`OrgError::OwnerRequired`] |
//! | An organization keeps at least one OWNER until it is purged: the last one can be neither removed nor demoted. | [`OrgError::LastOwner`] |
//! | A user appears at most once per organization. | [`OrgError::AlreadyMember`] |
//! | An organization with a member limit (set by platform ADMINs, [`ServiceSettings::default_max_members`] at creation) takes no member past it; members beyond a lowered limit stay. | [`OrgError::MemberLimitReached`] |
//! | Any member may leave (remove themselves), except the last OWNER. | [`OrgError::LastOwner`] |
//! | Renaming and SSO settings are for OWNER and ADMIN. | [`OrgError::Forbidden`] |
//! | OWNER and ADMIN invite addresses with a role they may grant; one open invitation per address. | [`OrgError::OwnerRequired`], [`OrgError::InvitationPending`] |
//! | Every use case checks a [`Permission`]; a member holds their built-in role's ([`Permission::granted_to`]) and their custom roles'. | [`OrgError::Forbidden`] |
//! | Holders of `roles:manage` define the organization's custom roles from the permission catalog; a role members hold is deleted only with a replacement. | [`OrgError::UnknownPermission`], [`OrgError::RoleInUse`] |
//! | Platform ADMINs define platform roles ([`OrganizationId::PLATFORM`]'s) that every organization's members may hold and no organization changes; one key names one role in each organization. | [`OrgError::RoleOfPlatform`], [`OrgError::RoleExists`] |
//! | Nobody grants a permission they do not hold: not to a role they define or edit, not to a member through a role (built-in or custom), not through an invitation or an import. OWNERs and platform ADMINs hold every permission of the catalog. | [`OrgError::PermissionNotHeld`] |
//! | An invitation is accepted once, by the user whose verified e-mail address it names, before it expires, into an ACTIVE organization with room. | [`OrgError::InvitationAccepted`], [`OrgError::InvitationEmailMismatch`], [`OrgError::InvitationExpired`], [`OrgError::InvitationRevoked`], [`OrgError::ReadOnly`], [`OrgError::MemberLimitReached`] |
//! | Holders of `members:read` read the member directory: members with their addresses and names, found by a prefix of either ([`MemberQuery`]), and the export of every member. | [`OrgError::NotFound`] |
//! | A person reads what is kept about them and erases themselves; a platform ADMIN does both for anyone; API keys and SCIM clients do neither ([`Erasure`]). | [`OrgError::PlatformAdminRequired`] |
//! | Nobody is erased while the only OWNER of an organization: its organizations are named, and nothing changes. | [`OrgError::SoleOwner`] |
//! | An erased person's row keeps its ids and loses address and names; a token of the account never provisions it again. | [`OrgError::AccountErased`] |
//! | A user whose account the identity provider deleted is erased by orgman itself (events without an actor) once the account stayed missing for a grace period, asked again just before; the only OWNER of an organization is not; a page of accounts mostly missing marks nobody ([`AccountCheck`]). | [`OrgError::SoleOwner`] |
//!
//! Access checks are point lookups of "this user's roles in this
//! organization" ([`ports::MembershipQueries::role_of`]), never a scan of the
//! member list. [`RoleService`] holds the use cases of the catalog, custom
//! roles and the check API (its own rules table).
//!
//! # Events
//!
//! Every state change produces a [`DomainEvent`] (and a change that changes
//! nothing produces none). Events are written through the same
//! [`ports::UnitOfWork`] as the change, so they commit together.
//!
//! # Example
//!
//! See `examples/embed.rs` for a complete program using the in-memory ports.

#![deny(missing_docs)]

mod directory;
mod domains;
mod errors;
mod events;
mod import;
mod invitations;
mod keys;
mod members;
mod organizations;
mod platform;
pub mod ports;
mod roles;
mod sso;
mod users;
mod values;
mod webhooks;

pub use directory::model::{
    DirectoryFilter, DirectoryGroup, DirectoryGroupDraft, DirectoryPage, DirectoryUser,
    DirectoryUserDraft, GroupMatch, GroupRole, MAX_DIRECTORY_TEXT, Window, directory_text,
    roles_of_groups,
};
pub use directory::service::{AccountsReport, DirectoryAccounts, DirectoryService};
pub use domains::model::{DomainName, DomainPolicy, DomainPolicyChange, OrgDomain};
pub use domains::service::{AutoJoin, DomainService};
pub use errors::port::{
    AuthzError, CipherError, Conflict, IdentityError, StoreError, ValidationError,
};
pub use errors::use_case::OrgError;
pub use events::audit::{ActorFilter, AuditService};
pub use events::event::{DomainEvent, EventKind};
pub use events::relay::{OutboxRelay, RelayStats, RoundOutcome};
pub use import::member_import::{
    ImportEntry, ImportOutcome, ImportTotals, MemberImport, StagedChunk,
};
pub use invitations::model::{
    Invitation, InvitationStatus, InvitationToken, IssuedInvitation, TokenDigest,
};
pub use invitations::service::InvitationService;
pub use keys::model::{
    ApiKey, IssuedKey, KeyCredential, KeyGrant, KeyName, KeySecret, PresentedKey,
};
pub use keys::service::{ApiKeyService, KeyDraft};
pub use members::actor::Actor;
pub use members::custom_role::{
    Access, CatalogPermission, CustomRole, MemberGrants, MemberRoles, RoleDraft, RoleKey, RoleRef,
    effective_permissions,
};
pub use members::directory::{MemberCursor, MemberEntry, MemberQuery, SearchPrefix};
pub use members::permission::{Permission, PermissionName, PermissionSet};
pub use members::role::{BlankRole, OrgRole, SystemRole};
pub use members::rules::{MemberChange, Membership, check_grants, check_member_change, permits};
pub use organizations::lifecycle::{LifecycleAction, OrgStatus};
pub use organizations::metadata::{Metadata, MetadataKind};
pub use organizations::model::{Organization, OrganizationPatch, OrganizationRecord, Patched};
pub use organizations::service::{
    CreationPolicy, ErasureReport, MemberExport, OrganizationService, ServicePorts,
    ServiceSettings, affected_keys,
};
pub use platform::PlatformView;
pub use roles::service::{CheckScope, Denial, PermissionCheck, RolePatch, RoleService};
pub use sso::broker_sync::{BrokerReconcileReport, ProviderSync};
pub use sso::mirror::{MemberMirroring, MirrorReconcileReport, MirrorSync, OrganizationMirror};
pub use sso::model::{
    BrokeredConnection, BrokeredProvider, CertificateState, HomeRealm, IssuerUrl, LoginRedirect,
    MetadataSource, MetadataUrl, MirroredOrganization, OidcConnection, SamlAttributeDraft,
    SamlAttributes, SamlConnection, SamlIdp, SigningCertificate, SsoConfig, SsoConnection,
    SsoDraft, SsoProtocol, SsoScope,
};
pub use sso::saml::{ConnectionReport, SamlRefreshReport, TestStep};
pub use sso::service::{RotationReport, SsoService};
pub use sso::sign_in::{SignIn, SsoLoginPolicy};
pub use users::account_check::{AccountCheck, AccountCheckReport, AccountCheckSettings};
pub use users::erasure::{AccountErasure, Erasure, PersonStores, PersonalData};
pub use users::model::{ClientSecret, IdentityUser, NewIdentity, User, UserProfile, name_words};
pub use users::registration::{
    Enrolled, Placement, Provisioned, Provisioner, UserService, provision_from_claims,
};
pub use values::actor::{ActorKind, ActorRef};
pub use values::id::{
    ApiKeyId, DeliveryId, DirectoryGroupId, DirectoryUserId, EventId, InvitationId, OrganizationId,
    RequestId, SsoConfigId, UserId, WebhookId,
};
pub use values::name::{Email, OrgName, Slug};
pub use values::page::{Page, PageRequest};
pub use webhooks::dispatch::{DispatchReport, DispatchSettings, WebhookDispatcher, WebhookFanout};
pub use webhooks::model::{
    DeliveryAttempt, DeliveryState, EventTypes, IssuedWebhook, SealedSecrets, SigningSecret,
    WebhookDelivery, WebhookEndpoint, WebhookUrl,
};
pub use webhooks::service::{WebhookDraft, WebhookPatch, WebhookPorts, WebhookService};

/// Re-exported so embedders use the same versions as the domain's types.
pub use time;
/// Re-exported so embedders use the same versions as the domain's types.
pub use uuid;
