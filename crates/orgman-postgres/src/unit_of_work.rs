//! One transaction on one pooled connection.

use async_trait::async_trait;
use deadpool::managed::Object;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager};
use orgman_domain::ports::{
    DomainWrites, InvitationWrites, MembershipWrites, OrganizationWrites, UnitOfWork,
};
use orgman_domain::{
    DomainEvent, DomainName, Invitation, InvitationId, Membership, OrgDomain, OrgRole,
    Organization, OrganizationId, StoreError, TokenDigest, UserId,
};

use crate::error::from_diesel;
use diesel::sql_types::{Array, Bool, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};

use crate::connection::Connection;
use crate::rows::{
    DomainRow, InvitationRow, MemberColumns, MemberRow, OrganizationRow, OutboxColumns, UserRow,
    outbox_row, version_to_db,
};
use crate::schema::{
    invitations, organization_domains, organization_members, organizations, users,
};

pub(crate) struct PgUnitOfWork {
    /// `None` once committed or discarded.
    connection: Option<Connection>,
    /// Events are written already settled for the authorizer sink.
    writes: OutboxWrites,
}

impl PgUnitOfWork {
    pub(crate) fn new(connection: Connection, writes: OutboxWrites) -> Self {
        Self {
            connection: Some(connection),
            writes,
        }
    }

    pub(crate) fn conn(&mut self) -> Result<&mut AsyncPgConnection, StoreError> {
        self.connection
            .as_deref_mut()
            .ok_or_else(|| StoreError::Other("unit of work already finished".into()))
    }

    /// Reads an organization, locking its row `FOR SHARE` or `FOR UPDATE`.
    async fn lock(
        &mut self,
        id: OrganizationId,
        shared: bool,
    ) -> Result<Option<Organization>, StoreError> {
        let row = organizations::table
            .find(id.as_uuid())
            .select(OrganizationRow::as_select());
        let conn = self.conn()?;
        let found = if shared {
            row.for_share().first(conn).await
        } else {
            row.for_update().first(conn).await
        };
        found
            .optional()
            .map_err(from_diesel)?
            .map(OrganizationRow::into_domain)
            .transpose()
    }
}

impl Drop for PgUnitOfWork {
    fn drop(&mut self) {
        // Uncommitted: take the connection out of the pool and close it.
        // PostgreSQL then rolls the transaction back and releases its locks
        // at once, instead of when the pool next recycles the connection.
        if let Some(connection) = self.connection.take() {
            drop(Object::take(connection));
        }
    }
}

#[async_trait]
impl OrganizationWrites for PgUnitOfWork {
    async fn lock_organization(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        self.lock(id, false).await
    }

    async fn lock_organization_shared(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        self.lock(id, true).await
    }

    async fn insert_organization(&mut self, organization: &Organization) -> Result<(), StoreError> {
        diesel::insert_into(organizations::table)
            .values(OrganizationRow::from_domain(organization)?)
            .execute(self.conn()?)
            .await
            .map(drop)
            .map_err(from_diesel)
    }

    async fn update_organization(
        &mut self,
        organization: &Organization,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let row = OrganizationRow::from_domain(organization)?;
        let id = row.id;
        let updated = diesel::update(
            organizations::table
                .filter(organizations::id.eq(id))
                .filter(organizations::version.eq(version_to_db(expected_version))),
        )
        .set((
            organizations::name.eq(row.name),
            organizations::status.eq(row.status),
            organizations::purge_after.eq(row.purge_after),
            organizations::version.eq(row.version),
            organizations::updated_at.eq(row.updated_at),
            organizations::max_members.eq(row.max_members),
            organizations::metadata.eq(row.metadata),
            organizations::private_metadata.eq(row.private_metadata),
        ))
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        if updated == 1 {
            return Ok(());
        }
        let actual: Option<i64> = organizations::table
            .find(id)
            .select(organizations::version)
            .first(self.conn()?)
            .await
            .optional()
            .map_err(from_diesel)?;
        match actual {
            None => Err(StoreError::NotFound),
            Some(actual) => Err(StoreError::VersionMismatch {
                expected: expected_version,
                actual: u64::try_from(actual).unwrap_or(0),
            }),
        }
    }

    async fn erase_contents(
        &mut self,
        organization: OrganizationId,
    ) -> Result<orgman_domain::ports::Erased, StoreError> {
        let conn = self.conn()?;
        let members = diesel::delete(
            organization_members::table
                .filter(organization_members::org_id.eq(organization.as_uuid())),
        )
        .execute(conn)
        .await
        .map_err(from_diesel)?;
        // Their custom roles went with the memberships; the roles go too.
        diesel::delete(
            crate::schema::custom_roles::table
                .filter(crate::schema::custom_roles::org_id.eq(organization.as_uuid())),
        )
        .execute(conn)
        .await
        .map_err(from_diesel)?;
        let sso_configurations = diesel::delete(
            crate::schema::sso_configs::table
                .filter(crate::schema::sso_configs::org_id.eq(organization.as_uuid())),
        )
        .execute(conn)
        .await
        .map_err(from_diesel)?;
        let invitations = diesel::delete(
            invitations::table.filter(invitations::org_id.eq(organization.as_uuid())),
        )
        .execute(conn)
        .await
        .map_err(from_diesel)?;
        let domains = diesel::delete(
            organization_domains::table
                .filter(organization_domains::org_id.eq(organization.as_uuid())),
        )
        .execute(conn)
        .await
        .map_err(from_diesel)?;
        // The directory's people and groups (their memberships of groups
        // with them), and its mapping of groups to roles.
        for table in [
            "directory_group_roles",
            "directory_groups",
            "directory_users",
        ] {
            diesel::sql_query(format!("DELETE FROM {table} WHERE organization_id = $1"))
                .bind::<diesel::sql_types::Uuid, _>(organization.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(from_diesel)?;
        }
        // Webhook endpoints go with their deliveries and attempts.
        diesel::delete(
            crate::schema::webhook_endpoints::table
                .filter(crate::schema::webhook_endpoints::org_id.eq(organization.as_uuid())),
        )
        .execute(conn)
        .await
        .map_err(from_diesel)?;
        let api_keys = diesel::delete(
            crate::schema::api_keys::table
                .filter(crate::schema::api_keys::org_id.eq(organization.as_uuid())),
        )
        .execute(conn)
        .await
        .map_err(from_diesel)?;
        Ok(orgman_domain::ports::Erased {
            members: members as u64,
            sso_configurations: sso_configurations as u64,
            invitations: invitations as u64,
            domains: domains as u64,
            api_keys: api_keys as u64,
        })
    }
}

#[async_trait]
impl MembershipWrites for PgUnitOfWork {
    async fn membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        crate::member_roles::membership_locked(self.conn()?, organization, user).await
    }

    async fn count_members(&mut self, organization: OrganizationId) -> Result<u64, StoreError> {
        let count: i64 = organization_members::table
            .filter(organization_members::org_id.eq(organization.as_uuid()))
            .count()
            .get_result(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn count_owners(&mut self, organization: OrganizationId) -> Result<u64, StoreError> {
        let count: i64 = organization_members::table
            .filter(organization_members::org_id.eq(organization.as_uuid()))
            .filter(organization_members::role.eq(OrgRole::Owner.as_str()))
            .count()
            .get_result(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn insert_membership(&mut self, membership: &Membership) -> Result<(), StoreError> {
        diesel::insert_into(organization_members::table)
            .values(MemberRow::from_domain(membership))
            .execute(self.conn()?)
            .await
            .map(drop)
            .map_err(from_diesel)
    }

    async fn update_membership(&mut self, membership: &Membership) -> Result<(), StoreError> {
        let updated = diesel::update(organization_members::table.find((
            membership.organization_id.as_uuid(),
            membership.user_id.as_uuid(),
        )))
        .set((
            organization_members::role.eq(membership.role.as_str()),
            organization_members::updated_at.eq(membership.updated_at),
        ))
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        exactly_one(updated)
    }

    async fn delete_membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), StoreError> {
        let deleted = diesel::delete(
            organization_members::table.find((organization.as_uuid(), user.as_uuid())),
        )
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        exactly_one(deleted)
    }

    async fn user_exists(&mut self, user: UserId) -> Result<bool, StoreError> {
        diesel::select(diesel::dsl::exists(users::table.find(user.as_uuid())))
            .get_result(self.conn()?)
            .await
            .map_err(from_diesel)
    }

    async fn memberships(
        &mut self,
        organization: OrganizationId,
        users: &[UserId],
    ) -> Result<Vec<Membership>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<uuid::Uuid> = users.iter().map(|u| u.as_uuid()).collect();
        ids.sort_unstable();
        // One probe of the primary key per user, in key order (not a
        // bitmap scan of the organization's part of it).
        diesel::sql_query(
            "SELECT m.org_id, m.user_id, m.role, m.created_at, m.updated_at \
             FROM unnest($2::uuid[]) AS wanted(id) \
             CROSS JOIN LATERAL (SELECT * FROM organization_members m \
                                 WHERE m.org_id = $1 AND m.user_id = wanted.id) AS m",
        )
        .bind::<SqlUuid, _>(organization.as_uuid())
        .bind::<Array<SqlUuid>, _>(ids)
        .load::<MemberRow>(self.conn()?)
        .await
        .map_err(from_diesel)?
        .into_iter()
        .map(MemberRow::into_domain)
        .collect()
    }

    async fn existing_users(&mut self, users: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<uuid::Uuid> = users.iter().map(|u| u.as_uuid()).collect();
        // One index probe per id, whatever the size of the table: for a
        // chunk of thousands, `id = ANY($1)` or a join may be planned as a
        // scan of the whole table, which grows with every user.
        let found: Vec<FoundId> = diesel::sql_query(
            "SELECT wanted.id FROM unnest($1::uuid[]) AS wanted(id) \
             CROSS JOIN LATERAL (SELECT 1 FROM users u WHERE u.id = wanted.id LIMIT 1) AS known",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .load(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(found.into_iter().map(|f| UserId::from_uuid(f.id)).collect())
    }

    async fn insert_memberships(&mut self, memberships: &[Membership]) -> Result<(), StoreError> {
        if memberships.is_empty() {
            return Ok(());
        }
        // One statement over arrays (`unnest`): a chunk of thousands is one
        // round trip and one plan, with five parameters whatever its size.
        let mut columns = MemberColumns::default();
        for membership in memberships {
            columns.push(membership);
        }
        diesel::sql_query(
            "INSERT INTO organization_members (org_id, user_id, role, created_at, updated_at) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::varchar[], $4::timestamptz[], $5::timestamptz[])",
        )
        .bind::<Array<SqlUuid>, _>(columns.org_ids)
        .bind::<Array<SqlUuid>, _>(columns.user_ids)
        .bind::<Array<Text>, _>(columns.roles)
        .bind::<Array<Timestamptz>, _>(columns.created)
        .bind::<Array<Timestamptz>, _>(columns.updated)
        .execute(self.conn()?)
        .await
        .map(drop)
        .map_err(from_diesel)
    }

    async fn insert_memberships_of_known_users(
        &mut self,
        memberships: &[Membership],
    ) -> Result<Vec<UserId>, StoreError> {
        if memberships.is_empty() {
            return Ok(Vec::new());
        }
        let columns = MemberColumns::sorted(memberships);
        // The users are probed once here, one index probe each (as in
        // `existing_users`); the references trigger checks the same rows.
        let inserted: Vec<InsertedUser> = diesel::sql_query(
            "INSERT INTO organization_members (org_id, user_id, role, created_at, updated_at) \
             SELECT m.* FROM unnest($1::uuid[], $2::uuid[], $3::varchar[], $4::timestamptz[], $5::timestamptz[]) \
                  AS m(org_id, user_id, role, created_at, updated_at) \
             CROSS JOIN LATERAL (SELECT 1 FROM users u WHERE u.id = m.user_id LIMIT 1) AS known \
             RETURNING user_id",
        )
        .bind::<Array<SqlUuid>, _>(columns.org_ids)
        .bind::<Array<SqlUuid>, _>(columns.user_ids)
        .bind::<Array<Text>, _>(columns.roles)
        .bind::<Array<Timestamptz>, _>(columns.created)
        .bind::<Array<Timestamptz>, _>(columns.updated)
        .load(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(inserted
            .into_iter()
            .map(|row| UserId::from_uuid(row.user_id))
            .collect())
    }

    async fn insert_user_if_new(
        &mut self,
        profile: &orgman_domain::UserProfile,
    ) -> Result<bool, StoreError> {
        let inserted = diesel::insert_into(users::table)
            .values(UserRow::new(profile, time::OffsetDateTime::now_utc()))
            .on_conflict(users::subject)
            .do_nothing()
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(inserted == 1)
    }
}

#[async_trait]
impl InvitationWrites for PgUnitOfWork {
    async fn insert_invitation(
        &mut self,
        invitation: &Invitation,
        digest: &TokenDigest,
    ) -> Result<(), StoreError> {
        diesel::insert_into(invitations::table)
            .values((
                invitations::id.eq(invitation.id.as_uuid()),
                invitations::org_id.eq(invitation.organization_id.as_uuid()),
                invitations::email.eq(invitation.email.as_str()),
                invitations::role.eq(invitation.role.as_str()),
                invitations::token_digest.eq(&digest.0),
                invitations::invited_by.eq(invitation.invited_by.map(|u| u.as_uuid())),
                invitations::created_at.eq(invitation.created_at),
                invitations::expires_at.eq(invitation.expires_at),
            ))
            .execute(self.conn()?)
            .await
            .map(drop)
            .map_err(from_diesel)
    }

    async fn invitation_by_digest(
        &mut self,
        digest: &TokenDigest,
    ) -> Result<Option<Invitation>, StoreError> {
        invitations::table
            .filter(invitations::token_digest.eq(&digest.0))
            .select(InvitationRow::as_select())
            .first(self.conn()?)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(InvitationRow::into_domain)
            .transpose()
    }

    async fn invitation(
        &mut self,
        organization: OrganizationId,
        id: InvitationId,
    ) -> Result<Option<Invitation>, StoreError> {
        invitations::table
            .find(id.as_uuid())
            .filter(invitations::org_id.eq(organization.as_uuid()))
            .select(InvitationRow::as_select())
            .first(self.conn()?)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(InvitationRow::into_domain)
            .transpose()
    }

    async fn update_invitation(
        &mut self,
        invitation: &Invitation,
        digest: Option<&TokenDigest>,
    ) -> Result<(), StoreError> {
        let target = invitations::table.find(invitation.id.as_uuid());
        let changes = (
            invitations::created_at.eq(invitation.created_at),
            invitations::expires_at.eq(invitation.expires_at),
            invitations::accepted_at.eq(invitation.accepted_at),
            invitations::accepted_by.eq(invitation.accepted_by.map(|u| u.as_uuid())),
            invitations::revoked_at.eq(invitation.revoked_at),
        );
        let conn = self.conn()?;
        let updated = match digest {
            Some(digest) => {
                diesel::update(target)
                    .set((changes, invitations::token_digest.eq(&digest.0)))
                    .execute(conn)
                    .await
            }
            None => diesel::update(target).set(changes).execute(conn).await,
        }
        .map_err(from_diesel)?;
        exactly_one(updated)
    }
}

#[async_trait]
impl DomainWrites for PgUnitOfWork {
    async fn count_domains(&mut self, organization: OrganizationId) -> Result<u64, StoreError> {
        let count: i64 = organization_domains::table
            .filter(organization_domains::org_id.eq(organization.as_uuid()))
            .count()
            .get_result(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn insert_domain(&mut self, domain: &OrgDomain) -> Result<(), StoreError> {
        diesel::insert_into(organization_domains::table)
            .values(DomainRow::from_domain(domain))
            .execute(self.conn()?)
            .await
            .map(drop)
            .map_err(from_diesel)
    }

    async fn domain(
        &mut self,
        organization: OrganizationId,
        name: &DomainName,
    ) -> Result<Option<OrgDomain>, StoreError> {
        organization_domains::table
            .find((organization.as_uuid(), name.as_str()))
            .select(DomainRow::as_select())
            .first(self.conn()?)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(DomainRow::into_domain)
            .transpose()
    }

    async fn mark_domain_verified(&mut self, domain: &OrgDomain) -> Result<(), StoreError> {
        let updated = diesel::update(
            organization_domains::table
                .find((domain.organization_id.as_uuid(), domain.name.as_str())),
        )
        .set(organization_domains::verified_at.eq(domain.verified_at))
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        exactly_one(updated)
    }

    async fn update_domain_policy(&mut self, domain: &OrgDomain) -> Result<(), StoreError> {
        let updated = diesel::update(
            organization_domains::table
                .find((domain.organization_id.as_uuid(), domain.name.as_str())),
        )
        .set((
            organization_domains::auto_join.eq(domain.policy.auto_join),
            organization_domains::sso_required.eq(domain.policy.sso_required),
        ))
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        exactly_one(updated)
    }

    async fn delete_domain(
        &mut self,
        organization: OrganizationId,
        name: &DomainName,
    ) -> Result<bool, StoreError> {
        diesel::delete(organization_domains::table.find((organization.as_uuid(), name.as_str())))
            .execute(self.conn()?)
            .await
            .map(|n| n == 1)
            .map_err(from_diesel)
    }
}

#[async_trait]
impl UnitOfWork for PgUnitOfWork {
    async fn append_events(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        let writes = self.writes.clone();
        append_events(self.conn()?, events, &writes).await
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let result =
            <AsyncPgConnection as AsyncConnection>::TransactionManager::commit_transaction(
                self.conn()?,
            )
            .await
            .map_err(from_diesel);
        if result.is_ok() {
            // Back to the pool for reuse; on failure Drop discards it.
            drop(self.connection.take());
        }
        result
    }
}

/// Which sinks new outbox rows are pending for; for the others they are
/// written already settled, so they never enter a sink's pending index.
#[derive(Clone, Debug, Default)]
pub(crate) struct OutboxWrites {
    /// No external authorizer consumes the outbox.
    pub(crate) authorizer_settled: bool,
    /// The event types the login-broker sink takes; empty when it is off.
    pub(crate) login_broker_types: std::sync::Arc<[String]>,
    /// The event types the organization-mirror sink takes; empty when it
    /// is off.
    pub(crate) mirror_types: std::sync::Arc<[String]>,
    /// Of those, the ones it takes only for organizations with an SSO
    /// configuration (members mirrored when linked); empty otherwise.
    pub(crate) linked_member_types: std::sync::Arc<[String]>,
}

/// The most events one outbox row carries. A run of events of one kind for
/// one organization (a member import's `member.added`) is stored as rows of
/// up to this many; the relays expand them when they claim.
pub(crate) const EVENTS_PER_ROW: usize = 500;

/// Appends events to the outbox, and their audit rows, in the connection's
/// transaction, pending for the sinks `writes` names and settled for the
/// others. Consecutive events of one kind for one organization share an
/// outbox row (a JSON array, at most [`EVENTS_PER_ROW`]); a lone event is
/// a row holding its JSON object, as always. Audit rows are one per event.
pub(crate) async fn append_events(
    conn: &mut AsyncPgConnection,
    events: &[DomainEvent],
    writes: &OutboxWrites,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut columns = OutboxColumns::default();
    for event in events {
        columns.push(outbox_row(event)?);
    }
    let payloads = std::mem::take(&mut columns.payloads);
    let rows = OutboxRows::group(&columns, payloads);
    // One statement for both tables. The payload is stored as text in a
    // `json` column (checked, not rebuilt as jsonb). An outbox row's events
    // share its organization, kind, actor, request and time, so the audit
    // rows take those from their row (numbered: `first` events come before
    // it) and only their ids and small `details` (json as well, since
    // migration 000020) come one per event. `seq` follows the order of
    // `events`.
    crate::prepared::Prepared(diesel::sql_query(
        "WITH r AS (\
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::varchar[], $4::text[], $5::int4[], \
                                $6::uuid[], $7::uuid[], $8::text[], $14::varchar[]) \
             WITH ORDINALITY AS r(id, agg, kind, body, n_events, actor, request, at, actor_kind, n)), \
         stored AS (\
           INSERT INTO outbox (event_id, aggregate_id, event_type, payload, events, authz_synced_at, idp_synced_at, mirror_synced_at, webhooks_synced_at) \
           SELECT id, agg, kind, body::json, n_events, CASE WHEN $9 THEN now() END, \
                  CASE WHEN kind = ANY($10::varchar[]) THEN NULL ELSE now() END, \
                  CASE WHEN kind = ANY($11::varchar[]) \
                        AND (kind <> ALL($15::varchar[]) \
                             OR EXISTS (SELECT 1 FROM sso_configs s WHERE s.org_id = agg)) \
                       THEN NULL ELSE now() END, \
                  CASE WHEN EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.org_id = agg AND w.enabled) \
                       THEN NULL ELSE now() END \
           FROM r ORDER BY n), \
         numbered AS (\
           SELECT agg, kind, actor, actor_kind, request, at::timestamptz AS at, n_events, \
                  sum(n_events) OVER (ORDER BY n) - n_events AS first FROM r) \
         INSERT INTO audit_events (id, org_id, actor_id, actor_kind, action, request_id, details, occurred_at) \
         SELECT e.id, r.agg, r.actor, r.actor_kind, r.kind, r.request, e.details, r.at \
         FROM unnest($12::uuid[], $13::text[]::json[]) WITH ORDINALITY AS e(id, details, i) \
         JOIN numbered r ON e.i > r.first AND e.i <= r.first + r.n_events",
    )
    .bind::<Array<SqlUuid>, _>(rows.event_ids)
    .bind::<Array<SqlUuid>, _>(rows.aggregate_ids)
    .bind::<Array<Text>, _>(rows.event_types)
    .bind::<Array<Text>, _>(rows.payloads)
    .bind::<Array<Int4>, _>(rows.events)
    .bind::<Array<Nullable<SqlUuid>>, _>(rows.actors)
    .bind::<Array<Nullable<SqlUuid>>, _>(rows.request_ids)
    .bind::<Array<Text>, _>(rows.occurred_at)
    .bind::<Bool, _>(writes.authorizer_settled)
    .bind::<Array<Text>, _>(&writes.login_broker_types[..])
    .bind::<Array<Text>, _>(&writes.mirror_types[..])
    .bind::<Array<SqlUuid>, _>(&columns.event_ids)
    .bind::<Array<Text>, _>(&columns.details)
    .bind::<Array<Text>, _>(rows.actor_kinds)
    .bind::<Array<Text>, _>(&writes.linked_member_types[..]))
    .execute(conn)
    .await
    .map_err(from_diesel)?;
    Ok(())
}

/// Outbox rows as columns: events grouped into runs of one kind for one
/// organization, by one actor in one request at one time.
struct OutboxRows {
    /// The first event's id.
    event_ids: Vec<uuid::Uuid>,
    aggregate_ids: Vec<uuid::Uuid>,
    event_types: Vec<&'static str>,
    /// One event's JSON object, or a JSON array of a run's events.
    payloads: Vec<String>,
    events: Vec<i32>,
    actors: Vec<Option<uuid::Uuid>>,
    actor_kinds: Vec<&'static str>,
    request_ids: Vec<Option<uuid::Uuid>>,
    occurred_at: Vec<String>,
}

impl OutboxRows {
    fn group(columns: &OutboxColumns, payloads: Vec<String>) -> Self {
        let mut payloads = payloads.into_iter();
        let mut rows = OutboxRows {
            event_ids: Vec::new(),
            aggregate_ids: Vec::new(),
            event_types: Vec::new(),
            payloads: Vec::new(),
            events: Vec::new(),
            actors: Vec::new(),
            actor_kinds: Vec::new(),
            request_ids: Vec::new(),
            occurred_at: Vec::new(),
        };
        let mut start = 0;
        let count = columns.event_ids.len();
        while start < count {
            let (agg, kind) = (columns.aggregate_ids[start], columns.event_types[start]);
            let (actor, request) = (columns.actors[start], columns.request_ids[start]);
            let at = &columns.occurred_at[start];
            let mut end = start + 1;
            while end < count
                && end - start < EVENTS_PER_ROW
                && columns.aggregate_ids[end] == agg
                && columns.event_types[end] == kind
                && columns.actors[end] == actor
                && columns.actor_kinds[end] == columns.actor_kinds[start]
                && columns.request_ids[end] == request
                && columns.occurred_at[end] == *at
            {
                end += 1;
            }
            let run: Vec<String> = payloads.by_ref().take(end - start).collect();
            let payload = if run.len() == 1 {
                run.into_iter().next().unwrap_or_default()
            } else {
                let mut array =
                    String::with_capacity(run.iter().map(|p| p.len() + 1).sum::<usize>() + 1);
                array.push('[');
                for (i, payload) in run.iter().enumerate() {
                    if i > 0 {
                        array.push(',');
                    }
                    array.push_str(payload);
                }
                array.push(']');
                array
            };
            rows.event_ids.push(columns.event_ids[start]);
            rows.aggregate_ids.push(agg);
            rows.event_types.push(kind);
            rows.payloads.push(payload);
            rows.events
                .push(i32::try_from(end - start).unwrap_or(i32::MAX));
            rows.actors.push(actor);
            rows.actor_kinds.push(columns.actor_kinds[start]);
            rows.request_ids.push(request);
            rows.occurred_at.push(at.clone());
            start = end;
        }
        rows
    }
}

/// A write that had to touch exactly one row: [`StoreError::NotFound`] when
/// the row was gone.
fn exactly_one(rows: usize) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// The user of an inserted membership.
#[derive(diesel::QueryableByName)]
struct InsertedUser {
    #[diesel(sql_type = SqlUuid)]
    user_id: uuid::Uuid,
}

/// One id of a raw query's result.
#[derive(diesel::QueryableByName)]
struct FoundId {
    #[diesel(sql_type = SqlUuid)]
    id: uuid::Uuid,
}
