//! Reads of the audit trail (newest first), of invitations and of domains.

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{AuditFilter, AuditTrail};
use orgman_domain::{
    DomainEvent, EventId, EventKind, OrganizationId, Page, PageRequest, RequestId, StoreError,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::from_diesel;
use crate::store::PgStore;

#[derive(QueryableByName)]
struct AuditRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    org_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    actor_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    actor_kind: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    request_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    details: String,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: OffsetDateTime,
}

impl AuditRow {
    fn into_domain(self) -> Result<DomainEvent, StoreError> {
        let kind: EventKind = serde_json::from_str(&self.details).map_err(|e| {
            StoreError::Other(format!("stored audit entry {} is invalid: {e}", self.id))
        })?;
        Ok(DomainEvent {
            id: EventId::from_uuid(self.id),
            occurred_at: self.occurred_at,
            organization_id: OrganizationId::from_uuid(self.org_id),
            actor: self.actor_id,
            // An unknown kind (a later version's) reads as a person's.
            actor_kind: self.actor_kind.parse().unwrap_or_default(),
            request_id: self.request_id.map(RequestId::from_uuid),
            schema_version: DomainEvent::SCHEMA_VERSION,
            kind,
        })
    }
}

#[async_trait]
impl AuditTrail for PgStore {
    async fn audit_events(
        &self,
        filter: &AuditFilter,
        page: PageRequest<EventId>,
    ) -> Result<Page<DomainEvent, EventId>, StoreError> {
        // Only the conditions asked for, so each query can use the
        // (org_id, id) index or the primary key as it is.
        let mut conditions = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.organization.is_some() {
            conditions.push(format!("org_id = ${}", next()));
        }
        if filter.event_type.is_some() {
            conditions.push(format!("action = ${}", next()));
        }
        if filter.actor.is_some() {
            conditions.push(format!("actor_id = ${}", next()));
        }
        if filter.actor_kind.is_some() {
            conditions.push(format!("actor_kind = ${}", next()));
        }
        if filter.subject.is_some() {
            let n = next();
            conditions.push(format!(
                "(actor_id = ${n} OR strpos(details::text, ${n}::text) > 0)"
            ));
        }
        if page.after.is_some() {
            conditions.push(format!("id < ${}", next()));
        }
        let limit = next();
        let sql = format!(
            "SELECT id, org_id, actor_id, actor_kind, request_id, details::text AS details, occurred_at
             FROM audit_events {} ORDER BY id DESC LIMIT ${limit}",
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            }
        );
        let mut query = diesel::sql_query(sql).into_boxed::<Pg>();
        if let Some(org) = filter.organization {
            query = query.bind::<SqlUuid, _>(org.as_uuid());
        }
        if let Some(event_type) = &filter.event_type {
            query = query.bind::<Text, _>(event_type.clone());
        }
        if let Some(actor) = filter.actor {
            query = query.bind::<SqlUuid, _>(actor);
        }
        if let Some(kind) = filter.actor_kind {
            query = query.bind::<Text, _>(kind.as_str());
        }
        if let Some(subject) = filter.subject {
            query = query.bind::<SqlUuid, _>(subject);
        }
        if let Some(after) = page.after {
            query = query.bind::<SqlUuid, _>(after.as_uuid());
        }
        let query = query.bind::<BigInt, _>(i64::from(page.limit()) + 1);
        let mut conn = self.connection().await?;
        let rows: Vec<AuditRow> = query.load(&mut conn).await.map_err(from_diesel)?;
        let events = rows
            .into_iter()
            .map(AuditRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(events, page.limit(), |e| e.id))
    }
}

#[async_trait]
impl orgman_domain::ports::InvitationQueries for PgStore {
    async fn invitations(
        &self,
        organization: OrganizationId,
        page: PageRequest<orgman_domain::InvitationId>,
    ) -> Result<Page<orgman_domain::Invitation, orgman_domain::InvitationId>, StoreError> {
        use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};

        use crate::rows::InvitationRow;
        use crate::schema::invitations;
        let mut conn = self.connection().await?;
        let mut query = invitations::table
            .filter(invitations::org_id.eq(organization.as_uuid()))
            .select(InvitationRow::as_select())
            .order(invitations::id)
            .limit(i64::from(page.limit()) + 1)
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(invitations::id.gt(after.as_uuid()));
        }
        let rows: Vec<InvitationRow> = query.load(&mut conn).await.map_err(from_diesel)?;
        let items = rows
            .into_iter()
            .map(InvitationRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit(), |i| i.id))
    }

    async fn invitations_to(
        &self,
        email: &orgman_domain::Email,
    ) -> Result<Vec<orgman_domain::Invitation>, StoreError> {
        use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};

        use crate::rows::InvitationRow;
        use crate::schema::invitations;
        let mut conn = self.connection().await?;
        let rows: Vec<InvitationRow> = invitations::table
            .filter(invitations::email.eq(email.as_str()))
            .select(InvitationRow::as_select())
            .order(invitations::id)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        rows.into_iter().map(InvitationRow::into_domain).collect()
    }
}

#[async_trait]
impl orgman_domain::ports::DomainQueries for PgStore {
    async fn domains(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<orgman_domain::OrgDomain>, StoreError> {
        use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};

        use crate::rows::DomainRow;
        use crate::schema::organization_domains;
        let mut conn = self.connection().await?;
        let rows: Vec<DomainRow> = organization_domains::table
            .filter(organization_domains::org_id.eq(organization.as_uuid()))
            .select(DomainRow::as_select())
            .order(organization_domains::name)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        rows.into_iter().map(DomainRow::into_domain).collect()
    }

    async fn domain(
        &self,
        organization: OrganizationId,
        name: &orgman_domain::DomainName,
    ) -> Result<Option<orgman_domain::OrgDomain>, StoreError> {
        use diesel::{OptionalExtension, QueryDsl, SelectableHelper};

        use crate::rows::DomainRow;
        use crate::schema::organization_domains;
        let mut conn = self.connection().await?;
        organization_domains::table
            .find((organization.as_uuid(), name.as_str()))
            .select(DomainRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(DomainRow::into_domain)
            .transpose()
    }

    async fn verified_domain(
        &self,
        name: &orgman_domain::DomainName,
    ) -> Result<Option<orgman_domain::OrgDomain>, StoreError> {
        use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};

        use crate::rows::DomainRow;
        use crate::schema::organization_domains;
        let mut conn = self.connection().await?;
        organization_domains::table
            .filter(organization_domains::name.eq(name.as_str()))
            .filter(organization_domains::verified_at.is_not_null())
            .select(DomainRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(DomainRow::into_domain)
            .transpose()
    }
}
