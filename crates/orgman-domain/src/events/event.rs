//! Domain events: one for every state change, written in the same unit of
//! work as the change (the outbox) and published after it commits.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::domains::model::DomainName;
use crate::members::custom_role::RoleKey;
use crate::members::permission::PermissionName;
use crate::members::role::OrgRole;
use crate::organizations::metadata::Metadata;
use crate::sso::model::SsoProtocol;
use crate::values::actor::{ActorKind, ActorRef};
use crate::values::id::{
    ApiKeyId, DirectoryGroupId, DirectoryUserId, EventId, InvitationId, OrganizationId, RequestId,
    SsoConfigId, UserId, WebhookId,
};
use crate::values::name::{Email, OrgName, Slug};

/// Something that happened to an organization.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct DomainEvent {
    /// Unique id; consumers de-duplicate on it.
    pub id: EventId,
    /// When the change happened.
    #[cfg_attr(feature = "serde", serde(with = "time::serde::rfc3339"))]
    pub occurred_at: OffsetDateTime,
    /// The organization the change belongs to (also the ordering key).
    pub organization_id: OrganizationId,
    /// Who made the change (an id of [`DomainEvent::actor_kind`]'s kind);
    /// `None` for the service itself (e.g. a purge after the grace
    /// period).
    pub actor: Option<Uuid>,
    /// What kind of caller `actor` is: a person, or a non-human caller of
    /// the organization. Payloads written before it existed read as `user`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub actor_kind: ActorKind,
    /// The API request that made the change, when there was one.
    pub request_id: Option<RequestId>,
    /// Version of the payload's shape, see [`DomainEvent::SCHEMA_VERSION`].
    pub schema_version: u16,
    /// What happened.
    pub kind: EventKind,
}

impl DomainEvent {
    /// The current payload schema version. Incremented on any incompatible
    /// change of [`EventKind`]'s serialized form.
    pub const SCHEMA_VERSION: u16 = 1;

    /// Who made the change, kind and id together.
    pub fn actor_ref(&self) -> Option<ActorRef> {
        self.actor.map(|id| ActorRef {
            kind: self.actor_kind,
            id,
        })
    }

    /// The short type name, e.g. `organization.created`; publishers build
    /// the full CloudEvents type from it. A role event of
    /// [`OrganizationId::PLATFORM`] is a platform role's:
    /// `platform.role.created`, `.updated`, `.deleted`.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            EventKind::RoleCreated { .. } if self.organization_id.is_platform() => {
                "platform.role.created"
            }
            EventKind::RoleUpdated { .. } if self.organization_id.is_platform() => {
                "platform.role.updated"
            }
            EventKind::RoleDeleted { .. } if self.organization_id.is_platform() => {
                "platform.role.deleted"
            }
            kind => kind.type_name(),
        }
    }
}

/// What happened, with the data a consumer needs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(
        tag = "type",
        rename_all = "camelCase",
        rename_all_fields = "camelCase"
    )
)]
pub enum EventKind {
    /// A new organization; its creator became OWNER (a separate
    /// [`EventKind::MemberAdded`] follows).
    OrganizationCreated {
        /// Its name.
        name: OrgName,
        /// Its slug.
        slug: Slug,
    },
    /// The organization was renamed.
    OrganizationUpdated {
        /// The new name.
        name: OrgName,
    },
    /// The organization's metadata changed; each changed object is given
    /// whole, as it is now.
    OrganizationMetadataChanged {
        /// `metadata`, if it changed.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        metadata: Option<Metadata>,
        /// `privateMetadata`, if it changed.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        private_metadata: Option<Metadata>,
    },
    /// ACTIVE → SUSPENDED.
    OrganizationSuspended,
    /// SUSPENDED → ACTIVE.
    OrganizationReactivated,
    /// ACTIVE → PENDING_DELETION.
    OrganizationDeletionRequested {
        /// Earliest purge time.
        #[cfg_attr(feature = "serde", serde(with = "time::serde::rfc3339"))]
        purge_after: OffsetDateTime,
    },
    /// PENDING_DELETION → ACTIVE.
    OrganizationRestored,
    /// An SSO configuration was added to the organization (never with its
    /// secret).
    SsoConfigCreated {
        /// The configuration.
        config_id: SsoConfigId,
        /// Its name.
        name: String,
        /// Its protocol (payloads written before SAML read as `oidc`).
        #[cfg_attr(feature = "serde", serde(default))]
        protocol: SsoProtocol,
        /// OpenID Connect: the identity provider's issuer.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        issuer_url: Option<String>,
        /// OpenID Connect: the client id at the identity provider.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        client_id: Option<String>,
        /// SAML: the identity provider's entity id.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        idp_entity_id: Option<String>,
        /// Whether it is in use.
        enabled: bool,
    },
    /// An SSO configuration changed; what it is now (never its secret).
    SsoConfigUpdated {
        /// The configuration.
        config_id: SsoConfigId,
        /// Its name.
        name: String,
        /// Its protocol (payloads written before SAML read as `oidc`).
        #[cfg_attr(feature = "serde", serde(default))]
        protocol: SsoProtocol,
        /// OpenID Connect: the identity provider's issuer.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        issuer_url: Option<String>,
        /// OpenID Connect: the client id at the identity provider.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        client_id: Option<String>,
        /// SAML: the identity provider's entity id.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        idp_entity_id: Option<String>,
        /// Whether it is in use.
        enabled: bool,
        /// Whether a new secret replaced the old one.
        secret_replaced: bool,
    },
    /// The login broker's copy of an SSO configuration was switched off
    /// because the provider's endpoints no longer pass the issuer rules
    /// (they resolve to a private, loopback or otherwise reserved address).
    /// orgman's configuration is unchanged: the next copy that passes the
    /// rules switches the provider on again.
    SsoProviderDisabled {
        /// The configuration.
        config_id: SsoConfigId,
        /// Why the endpoints were refused.
        reason: String,
    },
    /// A SAML configuration's metadata, re-read from its URL on the
    /// schedule, changed (new certificates, endpoint or entity id): the
    /// login broker's copy follows.
    SsoMetadataRefreshed {
        /// The configuration.
        config_id: SsoConfigId,
        /// The identity provider's entity id now.
        idp_entity_id: String,
        /// The SHA-256 fingerprints of its signing certificates now.
        certificates: Vec<String>,
    },
    /// A SAML identity provider's signing certificate expires within the
    /// warning period (or has expired): announced once per certificate,
    /// so that the organization has its identity provider publish a new
    /// one before logins depend on it.
    SsoCertificateExpiring {
        /// The configuration.
        config_id: SsoConfigId,
        /// The certificate's SHA-256 fingerprint.
        fingerprint: String,
        /// When it expires.
        #[cfg_attr(feature = "serde", serde(with = "time::serde::rfc3339"))]
        not_after: OffsetDateTime,
        /// Whether it has already expired.
        expired: bool,
    },
    /// An SSO configuration was deleted with its sealed secret.
    SsoConfigDeleted {
        /// The configuration.
        config_id: SsoConfigId,
    },
    /// Someone was invited (or an invitation was sent again with a new
    /// token and expiry). Carries what a notification needs, never the
    /// token.
    InvitationCreated {
        /// The invitation.
        invitation_id: InvitationId,
        /// The invited address.
        email: Email,
        /// The role the invitation grants.
        role: OrgRole,
        /// When it stops being valid.
        #[cfg_attr(feature = "serde", serde(with = "time::serde::rfc3339"))]
        expires_at: OffsetDateTime,
    },
    /// A person was erased (GDPR Article 17): their memberships and
    /// invitations are gone (each with its own event before this one) and
    /// their address is replaced by a pseudonym in what orgman still keeps.
    /// Carries no personal data; consumers holding copies of the person's
    /// data erase them on it. One is sent to each organization the person
    /// belonged to (so its webhooks hear of it), or one for
    /// [`OrganizationId::PLATFORM`] when they belonged to none.
    UserErased {
        /// The erased user (the identity provider's subject).
        user_id: UserId,
    },
    /// An invitation was accepted (a `MemberAdded` follows).
    InvitationAccepted {
        /// The invitation.
        invitation_id: InvitationId,
        /// Who accepted it.
        user_id: UserId,
    },
    /// An invitation was revoked.
    InvitationRevoked {
        /// The invitation.
        invitation_id: InvitationId,
    },
    /// The organization claimed a domain (not yet verified).
    DomainClaimed {
        /// The domain.
        domain: DomainName,
    },
    /// The organization proved it controls a domain.
    DomainVerified {
        /// The domain.
        domain: DomainName,
    },
    /// The policy of a verified domain changed.
    DomainPolicyChanged {
        /// The domain.
        domain: DomainName,
        /// Whether users of the domain join at their first login.
        auto_join: bool,
        /// Whether users of the domain must log in through SSO.
        sso_required: bool,
    },
    /// The organization gave a domain up.
    DomainDeleted {
        /// The domain.
        domain: DomainName,
    },
    /// A platform administrator set or lifted the member limit.
    MemberLimitChanged {
        /// The most members the organization may have; `None` for none.
        max_members: Option<u32>,
    },
    /// PENDING_DELETION → DELETED: the organization is a tombstone now; its
    /// memberships and SSO configurations were erased with it.
    OrganizationDeleted {
        /// Memberships erased.
        #[cfg_attr(feature = "serde", serde(default))]
        erased_members: u64,
        /// SSO configurations (and their sealed secrets) erased.
        #[cfg_attr(feature = "serde", serde(default))]
        erased_sso_configurations: u64,
        /// Invitations erased (pending or not).
        #[cfg_attr(feature = "serde", serde(default))]
        erased_invitations: u64,
        /// Claimed and verified domains erased.
        #[cfg_attr(feature = "serde", serde(default))]
        erased_domains: u64,
        /// API keys erased (none of them works after the purge).
        #[cfg_attr(feature = "serde", serde(default))]
        erased_api_keys: u64,
    },
    /// A user joined.
    MemberAdded {
        /// The new member.
        user_id: UserId,
        /// Their role.
        role: OrgRole,
    },
    /// A member's role changed.
    MemberRoleChanged {
        /// The member.
        user_id: UserId,
        /// The previous role.
        from: OrgRole,
        /// The new role.
        to: OrgRole,
    },
    /// A member left or was removed.
    MemberRemoved {
        /// The former member.
        user_id: UserId,
        /// The role they had.
        role: OrgRole,
    },
    /// The custom roles a member holds changed (a change of the built-in
    /// role is [`EventKind::MemberRoleChanged`]).
    MemberRolesChanged {
        /// The member.
        user_id: UserId,
        /// The custom roles held now, by key.
        custom_roles: Vec<RoleKey>,
        /// The custom roles held before.
        previous_custom_roles: Vec<RoleKey>,
    },
    /// The organization defined a custom role (or, for
    /// [`OrganizationId::PLATFORM`], a platform administrator a platform
    /// role).
    RoleCreated {
        /// Its key.
        key: RoleKey,
        /// Its name.
        name: String,
        /// What it grants.
        permissions: Vec<PermissionName>,
    },
    /// A custom role's name, description or permissions changed.
    RoleUpdated {
        /// Its key.
        key: RoleKey,
        /// Its name now.
        name: String,
        /// What it grants now.
        permissions: Vec<PermissionName>,
        /// What it granted before and no longer does.
        #[cfg_attr(feature = "serde", serde(default))]
        revoked: Vec<PermissionName>,
    },
    /// A custom role was deleted (its holders moved to `replacement`
    /// first, each with an [`EventKind::MemberRolesChanged`]).
    RoleDeleted {
        /// Its key.
        key: RoleKey,
        /// The role its holders were given instead, if any.
        replacement: Option<RoleKey>,
    },
    /// An API key was created (by a rotation when `rotated_from` is set).
    ApiKeyCreated {
        /// The key.
        key_id: ApiKeyId,
        /// Its name.
        name: String,
        /// The first characters of its secret.
        prefix: String,
        /// What it may do.
        permissions: Vec<PermissionName>,
        /// When it stops working, if ever.
        #[cfg_attr(feature = "serde", serde(with = "time::serde::rfc3339::option"))]
        expires_at: Option<OffsetDateTime>,
        /// The key it replaces.
        rotated_from: Option<ApiKeyId>,
    },
    /// An API key was revoked, or given an end (a rotation's overlap).
    ApiKeyRevoked {
        /// The key.
        key_id: ApiKeyId,
        /// When it stops working: now for a revocation, later for an
        /// overlap.
        #[cfg_attr(feature = "serde", serde(with = "time::serde::rfc3339"))]
        effective_at: OffsetDateTime,
    },
    /// A webhook endpoint was registered (its URL and secret are never in
    /// an event).
    WebhookCreated {
        /// The endpoint.
        webhook_id: WebhookId,
        /// The event types it receives (`*` for all).
        event_types: Vec<String>,
        /// Whether deliveries are made.
        enabled: bool,
    },
    /// A webhook endpoint changed: what it is now.
    WebhookUpdated {
        /// The endpoint.
        webhook_id: WebhookId,
        /// The event types it receives (`*` for all).
        event_types: Vec<String>,
        /// Whether deliveries are made.
        enabled: bool,
        /// Whether its URL changed.
        url_changed: bool,
    },
    /// A webhook endpoint's signing secret was replaced; the old one signs
    /// beside the new one until `previous_valid_until`.
    WebhookSecretRotated {
        /// The endpoint.
        webhook_id: WebhookId,
        /// When the old secret stops signing.
        #[cfg_attr(feature = "serde", serde(with = "time::serde::rfc3339"))]
        previous_valid_until: OffsetDateTime,
    },
    /// The service stopped delivering to an endpoint after a run of failed
    /// attempts; its pending deliveries wait until it is enabled again.
    WebhookDisabled {
        /// The endpoint.
        webhook_id: WebhookId,
        /// The failed attempts in a row.
        failures: u32,
        /// The last failure, for people.
        reason: String,
    },
    /// A webhook endpoint was deleted with its deliveries.
    WebhookDeleted {
        /// The endpoint.
        webhook_id: WebhookId,
    },
    /// The organization's directory provisioned a person (a SCIM User);
    /// their membership, if active, is a [`EventKind::MemberAdded`] of
    /// the same change. Carries no personal data.
    DirectoryUserProvisioned {
        /// The directory's resource.
        directory_user_id: DirectoryUserId,
        /// The orgman user it is; `None` while the person's account is
        /// being made (a [`EventKind::DirectoryUserUpdated`] names it then).
        user_id: Option<UserId>,
        /// Whether the person is a member (not suspended).
        active: bool,
        /// Whether an existing user was linked by a verified domain's
        /// address (rather than a new one made).
        linked: bool,
    },
    /// The directory changed a person's attributes, or suspended
    /// (`active: false`) or restored them; membership changes are events
    /// of their own in the same change.
    DirectoryUserUpdated {
        /// The directory's resource.
        directory_user_id: DirectoryUserId,
        /// The orgman user it is (`None`: the account is still being made).
        user_id: Option<UserId>,
        /// Whether the person is a member now.
        active: bool,
    },
    /// The directory deleted a person: their membership went with it.
    DirectoryUserDeprovisioned {
        /// The directory's resource.
        directory_user_id: DirectoryUserId,
        /// The orgman user it was (`None`: no account was made yet).
        user_id: Option<UserId>,
    },
    /// The directory created a group.
    DirectoryGroupCreated {
        /// The group.
        group_id: DirectoryGroupId,
        /// Its members at creation.
        members: u32,
    },
    /// The directory renamed a group or changed its members.
    DirectoryGroupUpdated {
        /// The group.
        group_id: DirectoryGroupId,
        /// Members added.
        members_added: u32,
        /// Members removed.
        members_removed: u32,
    },
    /// The directory deleted a group.
    DirectoryGroupDeleted {
        /// The group.
        group_id: DirectoryGroupId,
    },
    /// The organization changed which directory groups give which roles.
    DirectoryGroupRolesChanged {
        /// How many mappings there are now.
        mappings: u32,
    },
}

impl EventKind {
    /// Every type name an organization's events carry
    /// ([`EventKind::type_name`]), in catalog order: what a webhook
    /// endpoint may subscribe to.
    pub const ORGANIZATION_TYPES: [&'static str; 44] = [
        "organization.created",
        "organization.updated",
        "organization.metadata-changed",
        "organization.suspended",
        "organization.reactivated",
        "organization.deletion-requested",
        "organization.restored",
        "organization.member-limit-changed",
        "organization.domain.claimed",
        "organization.domain.verified",
        "organization.domain.policy-changed",
        "organization.domain.deleted",
        "organization.invitation.created",
        "organization.invitation.accepted",
        "organization.invitation.revoked",
        "organization.sso-config.created",
        "organization.sso-config.updated",
        "organization.sso-config.deleted",
        "organization.sso-config.provider-disabled",
        "organization.sso-config.metadata-refreshed",
        "organization.sso.certificate-expiring",
        "organization.deleted",
        "organization.member.added",
        "organization.member.role-changed",
        "organization.member.removed",
        "user.erased",
        "organization.member.roles-changed",
        "organization.role.created",
        "organization.role.updated",
        "organization.role.deleted",
        "organization.api-key.created",
        "organization.api-key.revoked",
        "organization.webhook.created",
        "organization.webhook.updated",
        "organization.webhook.secret-rotated",
        "organization.webhook.disabled",
        "organization.webhook.deleted",
        "organization.directory.user-provisioned",
        "organization.directory.user-updated",
        "organization.directory.user-deprovisioned",
        "organization.directory.group-created",
        "organization.directory.group-updated",
        "organization.directory.group-deleted",
        "organization.directory.group-roles-changed",
    ];

    /// The short type name, e.g. `organization.created`.
    pub const fn type_name(&self) -> &'static str {
        match self {
            EventKind::OrganizationCreated { .. } => "organization.created",
            EventKind::OrganizationUpdated { .. } => "organization.updated",
            EventKind::OrganizationMetadataChanged { .. } => "organization.metadata-changed",
            EventKind::OrganizationSuspended => "organization.suspended",
            EventKind::OrganizationReactivated => "organization.reactivated",
            EventKind::OrganizationDeletionRequested { .. } => "organization.deletion-requested",
            EventKind::OrganizationRestored => "organization.restored",
            EventKind::MemberLimitChanged { .. } => "organization.member-limit-changed",
            EventKind::DomainClaimed { .. } => "organization.domain.claimed",
            EventKind::DomainVerified { .. } => "organization.domain.verified",
            EventKind::DomainPolicyChanged { .. } => "organization.domain.policy-changed",
            EventKind::DomainDeleted { .. } => "organization.domain.deleted",
            EventKind::InvitationCreated { .. } => "organization.invitation.created",
            EventKind::InvitationAccepted { .. } => "organization.invitation.accepted",
            EventKind::InvitationRevoked { .. } => "organization.invitation.revoked",
            EventKind::SsoConfigCreated { .. } => "organization.sso-config.created",
            EventKind::SsoConfigUpdated { .. } => "organization.sso-config.updated",
            EventKind::SsoConfigDeleted { .. } => "organization.sso-config.deleted",
            EventKind::SsoProviderDisabled { .. } => "organization.sso-config.provider-disabled",
            EventKind::SsoMetadataRefreshed { .. } => "organization.sso-config.metadata-refreshed",
            EventKind::SsoCertificateExpiring { .. } => "organization.sso.certificate-expiring",
            EventKind::OrganizationDeleted { .. } => "organization.deleted",
            EventKind::MemberAdded { .. } => "organization.member.added",
            EventKind::MemberRoleChanged { .. } => "organization.member.role-changed",
            EventKind::MemberRemoved { .. } => "organization.member.removed",
            EventKind::UserErased { .. } => "user.erased",
            EventKind::MemberRolesChanged { .. } => "organization.member.roles-changed",
            EventKind::RoleCreated { .. } => "organization.role.created",
            EventKind::RoleUpdated { .. } => "organization.role.updated",
            EventKind::RoleDeleted { .. } => "organization.role.deleted",
            EventKind::ApiKeyCreated { .. } => "organization.api-key.created",
            EventKind::ApiKeyRevoked { .. } => "organization.api-key.revoked",
            EventKind::WebhookCreated { .. } => "organization.webhook.created",
            EventKind::WebhookUpdated { .. } => "organization.webhook.updated",
            EventKind::WebhookSecretRotated { .. } => "organization.webhook.secret-rotated",
            EventKind::WebhookDisabled { .. } => "organization.webhook.disabled",
            EventKind::WebhookDeleted { .. } => "organization.webhook.deleted",
            EventKind::DirectoryUserProvisioned { .. } => "organization.directory.user-provisioned",
            EventKind::DirectoryUserUpdated { .. } => "organization.directory.user-updated",
            EventKind::DirectoryUserDeprovisioned { .. } => {
                "organization.directory.user-deprovisioned"
            }
            EventKind::DirectoryGroupCreated { .. } => "organization.directory.group-created",
            EventKind::DirectoryGroupUpdated { .. } => "organization.directory.group-updated",
            EventKind::DirectoryGroupDeleted { .. } => "organization.directory.group-deleted",
            EventKind::DirectoryGroupRolesChanged { .. } => {
                "organization.directory.group-roles-changed"
            }
        }
    }

    /// The user whose access this event changes, if it is a membership event.
    pub const fn member(&self) -> Option<UserId> {
        match self {
            EventKind::MemberAdded { user_id, .. }
            | EventKind::MemberRoleChanged { user_id, .. }
            | EventKind::MemberRemoved { user_id, .. }
            | EventKind::MemberRolesChanged { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn serialized_form_is_camel_case_and_tagged() {
        let event = DomainEvent {
            id: EventId::from_uuid(Uuid::from_u128(1)),
            occurred_at: datetime!(2026-01-02 03:04:05 UTC),
            organization_id: OrganizationId::from_uuid(Uuid::from_u128(2)),
            actor: Some(Uuid::from_u128(3)),
            actor_kind: ActorKind::ApiKey,
            request_id: None,
            schema_version: DomainEvent::SCHEMA_VERSION,
            kind: EventKind::MemberRoleChanged {
                user_id: UserId::from_uuid(Uuid::from_u128(4)),
                from: OrgRole::Member,
                to: OrgRole::Admin,
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["occurredAt"], "2026-01-02T03:04:05Z");
        assert_eq!(json["kind"]["type"], "memberRoleChanged");
        assert_eq!(
            json["kind"]["userId"],
            "00000000-0000-0000-0000-000000000004"
        );
        assert_eq!(json["kind"]["to"], "ADMIN");
        assert_eq!(json["actorKind"], "apiKey");
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("actorKind");
        let written_before: DomainEvent = serde_json::from_value(old).unwrap();
        assert_eq!(written_before.actor_kind, ActorKind::User, "older payloads");
        let back: DomainEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
