//! Rows as diesel reads and writes them, and their conversion to and from the
//! domain's types.

use diesel::prelude::*;
use orgman_domain::{
    DomainEvent, Email, Invitation, InvitationId, Membership, Metadata, MetadataKind, OrgName,
    OrgStatus, Organization, OrganizationId, OrganizationRecord, Slug, SsoConfigId, SsoLoginPolicy,
    StoreError, User, UserId,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::schema::{
    invitations, organization_domains, organization_members, organizations, users,
};

pub(crate) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored {what} is invalid: {error}"))
}

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = organizations, check_for_backend(diesel::pg::Pg))]
pub(crate) struct OrganizationRow {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) slug: String,
    pub(crate) status: String,
    pub(crate) purge_after: Option<OffsetDateTime>,
    pub(crate) version: i64,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) max_members: Option<i32>,
    pub(crate) metadata: serde_json::Value,
    pub(crate) private_metadata: serde_json::Value,
    /// Kept by triggers (migration 000021); never written from here.
    #[diesel(skip_insertion)]
    pub(crate) sso_required_domains: Vec<String>,
    /// Kept by triggers (migration 000021); never written from here.
    #[diesel(skip_insertion)]
    pub(crate) sso_login_configs: Vec<Uuid>,
}

impl OrganizationRow {
    /// The row of a whole organization; a redacted one (without its
    /// private metadata) is refused rather than stored half.
    pub(crate) fn from_domain(organization: &Organization) -> Result<Self, StoreError> {
        let private_metadata = organization
            .private_metadata()
            .ok_or_else(|| StoreError::Other("a redacted organization cannot be stored".into()))?
            .to_value();
        Ok(Self {
            id: organization.id().as_uuid(),
            name: organization.name().as_str().to_owned(),
            slug: organization.slug().as_str().to_owned(),
            status: organization.status().as_str().to_owned(),
            purge_after: organization.purge_after(),
            version: version_to_db(organization.version()),
            created_at: organization.created_at(),
            updated_at: organization.updated_at(),
            max_members: organization
                .max_members()
                .map(|max| i32::try_from(max).unwrap_or(i32::MAX)),
            metadata: organization.metadata().to_value(),
            private_metadata,
            sso_required_domains: Vec::new(),
            sso_login_configs: Vec::new(),
        })
    }

    pub(crate) fn into_domain(self) -> Result<Organization, StoreError> {
        Organization::from_record(OrganizationRecord {
            id: OrganizationId::from_uuid(self.id),
            name: OrgName::parse(&self.name).map_err(|e| corrupt("organization name", e))?,
            slug: Slug::parse(&self.slug).map_err(|e| corrupt("slug", e))?,
            status: self
                .status
                .parse::<OrgStatus>()
                .map_err(|e| corrupt("status", e))?,
            purge_after: self.purge_after,
            max_members: self
                .max_members
                .map(u32::try_from)
                .transpose()
                .map_err(|e| corrupt("member limit", e))?,
            metadata: Metadata::parse(MetadataKind::Public, self.metadata)
                .map_err(|e| corrupt("metadata", e))?,
            private_metadata: Metadata::parse(MetadataKind::Private, self.private_metadata)
                .map_err(|e| corrupt("private metadata", e))?,
            version: u64::try_from(self.version).map_err(|e| corrupt("version", e))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
        .map(|organization| {
            organization.with_sso_login(SsoLoginPolicy::new(
                self.sso_required_domains,
                self.sso_login_configs
                    .into_iter()
                    .map(SsoConfigId::from_uuid),
            ))
        })
        .map_err(|e| corrupt("organization", e))
    }
}

pub(crate) fn version_to_db(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

#[derive(Queryable, QueryableByName, Selectable, Insertable, Debug)]
#[diesel(table_name = organization_members, check_for_backend(diesel::pg::Pg))]
pub(crate) struct MemberRow {
    pub(crate) org_id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) role: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

impl MemberRow {
    pub(crate) fn from_domain(membership: &Membership) -> Self {
        Self {
            org_id: membership.organization_id.as_uuid(),
            user_id: membership.user_id.as_uuid(),
            role: membership.role.as_str().to_owned(),
            created_at: membership.created_at,
            updated_at: membership.updated_at,
        }
    }

    pub(crate) fn into_domain(self) -> Result<Membership, StoreError> {
        Ok(Membership {
            organization_id: OrganizationId::from_uuid(self.org_id),
            user_id: UserId::from_uuid(self.user_id),
            role: self.role.parse().map_err(|e| corrupt("role", e))?,
            // Kept in their own table: see `roles::fill_custom_roles`.
            custom_roles: std::collections::BTreeSet::new(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub(crate) struct UserRow {
    pub(crate) id: Uuid,
    pub(crate) subject: String,
    pub(crate) email: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) given_name: Option<String>,
    pub(crate) family_name: Option<String>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) erased_at: Option<OffsetDateTime>,
}

impl UserRow {
    pub(crate) fn new(profile: &orgman_domain::UserProfile, now: OffsetDateTime) -> Self {
        Self {
            id: profile.id.as_uuid(),
            subject: profile.subject.clone(),
            email: profile.email.as_ref().map(|e| e.as_str().to_owned()),
            display_name: profile.display_name.clone(),
            given_name: profile.given_name.clone(),
            family_name: profile.family_name.clone(),
            created_at: now,
            updated_at: now,
            erased_at: None,
        }
    }

    pub(crate) fn into_domain(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId::from_uuid(self.id),
            subject: self.subject,
            email: self
                .email
                .map(|e| Email::parse(&e))
                .transpose()
                .map_err(|e| corrupt("email", e))?,
            display_name: self.display_name,
            given_name: self.given_name,
            family_name: self.family_name,
            created_at: self.created_at,
            updated_at: self.updated_at,
            erased_at: self.erased_at,
        })
    }
}

/// The outbox row of one event and the columns of its audit row.
pub(crate) struct NewOutboxRow {
    pub(crate) event_id: Uuid,
    pub(crate) aggregate_id: Uuid,
    pub(crate) event_type: &'static str,
    /// The event's JSON, as text: serialized once, straight from the
    /// event, and stored as it is (a `json` column).
    pub(crate) payload: String,
    pub(crate) actor: Option<Uuid>,
    pub(crate) actor_kind: &'static str,
    pub(crate) request_id: Option<Uuid>,
    /// RFC 3339, as in the payload, so both rows round it alike.
    pub(crate) occurred_at: String,
    /// The payload's `kind`, the audit row's details.
    pub(crate) details: String,
}

pub(crate) fn outbox_row(event: &DomainEvent) -> Result<NewOutboxRow, StoreError> {
    let unserializable =
        |e: serde_json::Error| StoreError::Other(format!("cannot serialize event: {e}"));
    let occurred_at = event
        .occurred_at
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Other(format!("cannot format an event's time: {e}")))?;
    Ok(NewOutboxRow {
        event_id: event.id.as_uuid(),
        aggregate_id: event.organization_id.as_uuid(),
        event_type: event.type_name(),
        payload: serde_json::to_string(event).map_err(unserializable)?,
        actor: event.actor,
        actor_kind: event.actor_kind.as_str(),
        request_id: event.request_id.map(|r| r.as_uuid()),
        occurred_at,
        details: serde_json::to_string(&event.kind).map_err(unserializable)?,
    })
}

/// Memberships as columns, for one `unnest` insert.
#[derive(Default)]
pub(crate) struct MemberColumns {
    pub(crate) org_ids: Vec<Uuid>,
    pub(crate) user_ids: Vec<Uuid>,
    pub(crate) roles: Vec<&'static str>,
    pub(crate) created: Vec<OffsetDateTime>,
    pub(crate) updated: Vec<OffsetDateTime>,
}

impl MemberColumns {
    /// The memberships in key order (organization, user): inserted in that
    /// order, consecutive rows go to neighbouring index pages.
    pub(crate) fn sorted(memberships: &[Membership]) -> Self {
        let mut sorted: Vec<&Membership> = memberships.iter().collect();
        sorted.sort_unstable_by_key(|m| (m.organization_id, m.user_id));
        let mut columns = Self::default();
        for membership in sorted {
            columns.push(membership);
        }
        columns
    }

    pub(crate) fn push(&mut self, membership: &Membership) {
        self.org_ids.push(membership.organization_id.as_uuid());
        self.user_ids.push(membership.user_id.as_uuid());
        self.roles.push(membership.role.as_str());
        self.created.push(membership.created_at);
        self.updated.push(membership.updated_at);
    }
}

/// Outbox and audit rows as columns, for one `unnest` insert each.
#[derive(Default)]
pub(crate) struct OutboxColumns {
    pub(crate) event_ids: Vec<Uuid>,
    pub(crate) aggregate_ids: Vec<Uuid>,
    pub(crate) event_types: Vec<&'static str>,
    pub(crate) payloads: Vec<String>,
    pub(crate) actors: Vec<Option<Uuid>>,
    pub(crate) actor_kinds: Vec<&'static str>,
    pub(crate) request_ids: Vec<Option<Uuid>>,
    pub(crate) occurred_at: Vec<String>,
    pub(crate) details: Vec<String>,
}

impl OutboxColumns {
    pub(crate) fn push(&mut self, row: NewOutboxRow) {
        self.event_ids.push(row.event_id);
        self.aggregate_ids.push(row.aggregate_id);
        self.event_types.push(row.event_type);
        self.payloads.push(row.payload);
        self.actors.push(row.actor);
        self.actor_kinds.push(row.actor_kind);
        self.request_ids.push(row.request_id);
        self.occurred_at.push(row.occurred_at);
        self.details.push(row.details);
    }
}

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = invitations, check_for_backend(diesel::pg::Pg))]
pub(crate) struct InvitationRow {
    pub(crate) id: Uuid,
    pub(crate) org_id: Uuid,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) invited_by: Option<Uuid>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) accepted_at: Option<OffsetDateTime>,
    pub(crate) accepted_by: Option<Uuid>,
    pub(crate) revoked_at: Option<OffsetDateTime>,
}

impl InvitationRow {
    pub(crate) fn into_domain(self) -> Result<Invitation, StoreError> {
        Ok(Invitation {
            id: InvitationId::from_uuid(self.id),
            organization_id: OrganizationId::from_uuid(self.org_id),
            email: Email::parse(&self.email).map_err(|e| corrupt("invitation e-mail", e))?,
            role: self.role.parse().map_err(|e| corrupt("role", e))?,
            invited_by: self.invited_by.map(UserId::from_uuid),
            created_at: self.created_at,
            expires_at: self.expires_at,
            accepted_at: self.accepted_at,
            accepted_by: self.accepted_by.map(UserId::from_uuid),
            revoked_at: self.revoked_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = organization_domains, check_for_backend(diesel::pg::Pg))]
pub(crate) struct DomainRow {
    pub(crate) org_id: Uuid,
    pub(crate) name: String,
    pub(crate) challenge: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) verified_at: Option<OffsetDateTime>,
    pub(crate) auto_join: bool,
    pub(crate) sso_required: bool,
}

impl DomainRow {
    pub(crate) fn from_domain(domain: &orgman_domain::OrgDomain) -> Self {
        Self {
            org_id: domain.organization_id.as_uuid(),
            name: domain.name.as_str().to_owned(),
            challenge: domain.challenge.clone(),
            created_at: domain.created_at,
            verified_at: domain.verified_at,
            auto_join: domain.policy.auto_join,
            sso_required: domain.policy.sso_required,
        }
    }

    pub(crate) fn into_domain(self) -> Result<orgman_domain::OrgDomain, StoreError> {
        Ok(orgman_domain::OrgDomain {
            organization_id: OrganizationId::from_uuid(self.org_id),
            name: orgman_domain::DomainName::parse(&self.name).map_err(|e| corrupt("domain", e))?,
            challenge: self.challenge,
            created_at: self.created_at,
            verified_at: self.verified_at,
            policy: orgman_domain::DomainPolicy {
                auto_join: self.auto_join,
                sso_required: self.sso_required,
            },
        })
    }
}

/// A custom role or platform role as stored, read through the
/// `scoped_roles` view (a platform role's scope is the nil UUID).
#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = crate::schema::scoped_roles, check_for_backend(diesel::pg::Pg))]
pub(crate) struct RoleRow {
    pub(crate) scope_id: Uuid,
    pub(crate) role_key: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) permissions: Vec<String>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

impl RoleRow {
    pub(crate) fn from_domain(role: &orgman_domain::CustomRole) -> Self {
        Self {
            scope_id: role.organization_id.as_uuid(),
            role_key: role.key.as_str().to_owned(),
            name: role.name.clone(),
            description: role.description.clone(),
            permissions: role
                .permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            created_at: role.created_at,
            updated_at: role.updated_at,
        }
    }

    pub(crate) fn into_domain(self) -> Result<orgman_domain::CustomRole, StoreError> {
        let corrupt = |what: &str, e: orgman_domain::ValidationError| {
            StoreError::Other(format!("stored custom role {what}: {e}"))
        };
        Ok(orgman_domain::CustomRole {
            organization_id: OrganizationId::from_uuid(self.scope_id),
            key: orgman_domain::RoleKey::parse(&self.role_key).map_err(|e| corrupt("key", e))?,
            name: self.name,
            description: self.description,
            permissions: self
                .permissions
                .iter()
                .map(|p| {
                    orgman_domain::PermissionName::parse(p).map_err(|e| corrupt("permission", e))
                })
                .collect::<Result<_, _>>()?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Stored custom roles, as the domain's.
pub(crate) fn roles(rows: Vec<RoleRow>) -> Result<Vec<orgman_domain::CustomRole>, StoreError> {
    rows.into_iter().map(RoleRow::into_domain).collect()
}
