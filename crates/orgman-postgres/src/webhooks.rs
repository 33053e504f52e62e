//! Organizations' webhook endpoints (the writes of a unit of work, and
//! reads), and the per-endpoint delivery queue the outbox's webhook sink
//! feeds: recorded in order, claimed per endpoint under a lease
//! (`FOR UPDATE SKIP LOCKED`, so replicas never attempt one endpoint at
//! once), settled with one statement per dispatch.

use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{
    DeliveryOutcome, DueDelivery, DueEndpoint, NewDelivery, Retry, Subscriber, WebhookQueries,
    WebhookQueue, WebhookWrites,
};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::{
    ActorRef, DeliveryAttempt, DeliveryId, DeliveryState, EventId, EventTypes, OrganizationId,
    Page, PageRequest, SealedSecrets, StoreError, WebhookDelivery, WebhookEndpoint, WebhookId,
    WebhookUrl,
};
use uuid::Uuid;

use crate::error::from_diesel;
use crate::schema::webhook_endpoints;
use crate::store::PgStore;
use crate::unit_of_work::PgUnitOfWork;

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
struct EndpointRow {
    id: Uuid,
    org_id: Uuid,
    url: String,
    event_types: Vec<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<OffsetDateTime>,
    created_by: Uuid,
    created_by_kind: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored webhook is invalid: {error}"))
}

impl EndpointRow {
    fn from_domain(endpoint: &WebhookEndpoint) -> EndpointRow {
        let (previous_secret, previous_secret_until) = endpoint
            .secrets
            .previous
            .clone()
            .map_or((None, None), |(secret, until)| (Some(secret), Some(until)));
        EndpointRow {
            id: endpoint.id.as_uuid(),
            org_id: endpoint.organization.as_uuid(),
            url: endpoint.url.as_str().to_owned(),
            event_types: endpoint.event_types.names().to_vec(),
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason.clone(),
            secret: endpoint.secrets.current.clone(),
            previous_secret,
            previous_secret_until,
            created_by: endpoint.created_by.id,
            created_by_kind: endpoint.created_by.kind.as_str().to_owned(),
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }

    fn into_domain(self) -> Result<WebhookEndpoint, StoreError> {
        Ok(WebhookEndpoint {
            id: WebhookId::from_uuid(self.id),
            organization: OrganizationId::from_uuid(self.org_id),
            url: WebhookUrl::parse(&self.url).map_err(corrupt)?,
            event_types: EventTypes::parse(&self.event_types).map_err(corrupt)?,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            created_by: ActorRef {
                kind: self.created_by_kind.parse().map_err(corrupt)?,
                id: self.created_by,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
            secrets: SealedSecrets {
                current: self.secret,
                previous: self.previous_secret.zip(self.previous_secret_until),
            },
        })
    }
}

#[derive(QueryableByName)]
struct DeliveryRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    webhook_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    event_id: Uuid,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: OffsetDateTime,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next_attempt_at: Option<OffsetDateTime>,
    /// The attempts as a JSON array, oldest first.
    #[diesel(sql_type = Text)]
    attempts: String,
}

/// One attempt of the attempts' JSON array.
fn attempt(value: &serde_json::Value) -> Result<DeliveryAttempt, StoreError> {
    let at = value["at"].as_str().unwrap_or_default();
    Ok(DeliveryAttempt {
        at: OffsetDateTime::parse(
            at,
            &orgman_domain::time::format_description::well_known::Rfc3339,
        )
        .map_err(corrupt)?,
        status: value["status"].as_u64().and_then(|s| u16::try_from(s).ok()),
        error: value["error"].as_str().map(str::to_owned),
        duration_ms: value["duration_ms"]
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(0),
    })
}

impl DeliveryRow {
    fn into_domain(self) -> Result<WebhookDelivery, StoreError> {
        let attempts: Vec<serde_json::Value> =
            serde_json::from_str(&self.attempts).map_err(corrupt)?;
        Ok(WebhookDelivery {
            id: DeliveryId::from_uuid(self.id),
            webhook: WebhookId::from_uuid(self.webhook_id),
            event_id: EventId::from_uuid(self.event_id),
            event_type: self.event_type,
            state: DeliveryState::parse(&self.state).ok_or_else(|| corrupt(&self.state))?,
            created_at: self.created_at,
            next_attempt_at: self.next_attempt_at,
            attempts: attempts.iter().map(attempt).collect::<Result<_, _>>()?,
        })
    }
}

/// A delivery with its attempts as one JSON array (`d` is the delivery).
const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_id, d.event_type, d.state, \
     d.created_at, d.next_attempt_at, \
     COALESCE((SELECT json_agg(json_build_object('at', to_char(a.at AT TIME ZONE 'UTC', \
         'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'status', a.status, 'error', a.error, \
         'duration_ms', a.duration_ms) ORDER BY a.attempt)::text \
       FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS attempts";

#[async_trait]
impl WebhookQueries for PgStore {
    async fn webhook(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let mut conn = self.connection().await?;
        let row: Option<EndpointRow> = webhook_endpoints::table
            .filter(webhook_endpoints::id.eq(webhook.as_uuid()))
            .filter(webhook_endpoints::org_id.eq(organization.as_uuid()))
            .select(EndpointRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(EndpointRow::into_domain).transpose()
    }

    async fn webhooks(
        &self,
        organization: OrganizationId,
        page: PageRequest<WebhookId>,
    ) -> Result<Page<WebhookEndpoint, WebhookId>, StoreError> {
        let mut conn = self.connection().await?;
        let mut query = webhook_endpoints::table
            .filter(webhook_endpoints::org_id.eq(organization.as_uuid()))
            .order(webhook_endpoints::id)
            .select(EndpointRow::as_select())
            .limit(i64::from(page.limit()) + 1)
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(webhook_endpoints::id.gt(after.as_uuid()));
        }
        let rows: Vec<EndpointRow> = query.load(&mut conn).await.map_err(from_diesel)?;
        let endpoints = rows
            .into_iter()
            .map(EndpointRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(endpoints, page.limit(), |e| e.id))
    }

    async fn deliveries(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<WebhookDelivery, DeliveryId>, StoreError> {
        let mut conn = self.connection().await?;
        let rows: Vec<DeliveryRow> = diesel::sql_query(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             WHERE d.webhook_id = $1 AND d.org_id = $2 AND ($3::uuid IS NULL OR d.id < $3) \
             ORDER BY d.id DESC LIMIT $4"
        ))
        .bind::<SqlUuid, _>(webhook.as_uuid())
        .bind::<SqlUuid, _>(organization.as_uuid())
        .bind::<Nullable<SqlUuid>, _>(page.after.map(|id| id.as_uuid()))
        .bind::<BigInt, _>(i64::from(page.limit()) + 1)
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        let deliveries = rows
            .into_iter()
            .map(DeliveryRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(deliveries, page.limit(), |d| d.id))
    }
}

#[async_trait]
impl WebhookWrites for PgUnitOfWork {
    async fn insert_webhook(&mut self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        diesel::insert_into(webhook_endpoints::table)
            .values(EndpointRow::from_domain(endpoint))
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    async fn lock_webhook(
        &mut self,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let row: Option<EndpointRow> = webhook_endpoints::table
            .filter(webhook_endpoints::id.eq(webhook.as_uuid()))
            .filter(webhook_endpoints::org_id.eq(organization.as_uuid()))
            .select(EndpointRow::as_select())
            .for_update()
            .first(self.conn()?)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(EndpointRow::into_domain).transpose()
    }

    async fn update_webhook(&mut self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        let row = EndpointRow::from_domain(endpoint);
        // Enabling an endpoint starts its run of failures over and makes
        // its waiting deliveries due now.
        let updated = diesel::sql_query(
            "WITH before AS (SELECT enabled FROM webhook_endpoints WHERE id = $1), \
             due AS (UPDATE webhook_deliveries SET next_attempt_at = $9 \
                     WHERE webhook_id = $1 AND state = 'pending' AND $4 \
                       AND NOT (SELECT enabled FROM before)) \
             UPDATE webhook_endpoints SET url = $2, event_types = $3, enabled = $4, \
               disabled_reason = $5, secret = $6, previous_secret = $7, \
               previous_secret_until = $8, updated_at = $9, \
               failures = CASE WHEN $4 AND NOT (SELECT enabled FROM before) THEN 0 ELSE failures END \
             WHERE id = $1",
        )
        .bind::<SqlUuid, _>(row.id)
        .bind::<Text, _>(row.url)
        .bind::<Array<Text>, _>(row.event_types)
        .bind::<diesel::sql_types::Bool, _>(row.enabled)
        .bind::<Nullable<Text>, _>(row.disabled_reason)
        .bind::<Text, _>(row.secret)
        .bind::<Nullable<Text>, _>(row.previous_secret)
        .bind::<Nullable<Timestamptz>, _>(row.previous_secret_until)
        .bind::<Timestamptz, _>(row.updated_at)
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn delete_webhook(
        &mut self,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<(), StoreError> {
        diesel::delete(
            webhook_endpoints::table
                .filter(webhook_endpoints::id.eq(webhook.as_uuid()))
                .filter(webhook_endpoints::org_id.eq(organization.as_uuid())),
        )
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }
}

#[derive(QueryableByName)]
struct SubscriberRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    org_id: Uuid,
    #[diesel(sql_type = Array<Text>)]
    event_types: Vec<String>,
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    org_id: Uuid,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    secret: String,
    #[diesel(sql_type = Nullable<Text>)]
    previous_secret: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    previous_secret_until: Option<OffsetDateTime>,
    #[diesel(sql_type = Int4)]
    failures: i32,
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = SqlUuid)]
    webhook_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Int4)]
    attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    window_start: OffsetDateTime,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next_attempt_at: Option<OffsetDateTime>,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl WebhookQueue for PgStore {
    async fn subscribers(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<Subscriber>, StoreError> {
        let ids: Vec<Uuid> = organizations.iter().map(|o| o.as_uuid()).collect();
        let mut conn = self.connection().await?;
        let rows: Vec<SubscriberRow> = diesel::sql_query(
            "SELECT id, org_id, event_types FROM webhook_endpoints \
             WHERE org_id = ANY($1) AND enabled ORDER BY id",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        rows.into_iter()
            .map(|row| {
                Ok(Subscriber {
                    webhook: WebhookId::from_uuid(row.id),
                    organization: OrganizationId::from_uuid(row.org_id),
                    event_types: EventTypes::parse(&row.event_types).map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn enqueue(
        &self,
        deliveries: &[NewDelivery],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut bodies = Vec::new();
        for d in deliveries {
            columns.0.push(d.id.as_uuid());
            columns.1.push(d.webhook.as_uuid());
            columns.2.push(d.organization.as_uuid());
            columns.3.push(d.event_id.as_uuid());
            columns.4.push(d.event_type);
            bodies.push(d.body.as_str());
        }
        let mut conn = self.connection().await?;
        // In the given order (`seq`), skipping an event already recorded
        // for its endpoint and an endpoint deleted meanwhile.
        diesel::sql_query(
            "INSERT INTO webhook_deliveries \
               (id, webhook_id, org_id, event_id, event_type, body, state, created_at, window_start, next_attempt_at) \
             SELECT n.id, n.webhook, n.org, n.event, n.kind, n.body, 'pending', $7, $7, $7 \
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::varchar[], $6::text[]) \
               WITH ORDINALITY AS n(id, webhook, org, event, kind, body, i) \
             WHERE EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = n.webhook) \
             ORDER BY n.i \
             ON CONFLICT (webhook_id, event_id) DO NOTHING",
        )
        .bind::<Array<SqlUuid>, _>(columns.0)
        .bind::<Array<SqlUuid>, _>(columns.1)
        .bind::<Array<SqlUuid>, _>(columns.2)
        .bind::<Array<SqlUuid>, _>(columns.3)
        .bind::<Array<Text>, _>(columns.4)
        .bind::<Array<Text>, _>(bodies)
        .bind::<Timestamptz, _>(now)
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        endpoints: u32,
        per_endpoint: u32,
        lease: Duration,
    ) -> Result<Vec<DueEndpoint>, StoreError> {
        let mut conn = self.connection().await?;
        // Each enabled, unleased endpoint's oldest pending delivery (one
        // index probe each); those due are leased, skipping rows another
        // replica is claiming.
        let claimed: Vec<ClaimedRow> = diesel::sql_query(
            "WITH picked AS (\
               SELECT e.id FROM webhook_endpoints e \
               CROSS JOIN LATERAL (SELECT d.next_attempt_at FROM webhook_deliveries d \
                 WHERE d.webhook_id = e.id AND d.state = 'pending' ORDER BY d.seq LIMIT 1) head \
               WHERE e.enabled AND (e.leased_until IS NULL OR e.leased_until <= $1) \
                 AND head.next_attempt_at <= $1 \
               ORDER BY head.next_attempt_at LIMIT $2 \
               FOR UPDATE OF e SKIP LOCKED) \
             UPDATE webhook_endpoints e SET leased_until = $1 + $3 * interval '1 millisecond' \
             FROM picked WHERE e.id = picked.id \
             RETURNING e.id, e.org_id, e.url, e.secret, e.previous_secret, \
                       e.previous_secret_until, e.failures",
        )
        .bind::<Timestamptz, _>(now)
        .bind::<BigInt, _>(i64::from(endpoints))
        .bind::<BigInt, _>(millis(lease))
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = claimed.iter().map(|row| row.id).collect();
        let due: Vec<DueRow> = diesel::sql_query(
            "SELECT d.webhook_id, d.id, d.body, d.attempts, d.window_start, d.next_attempt_at \
             FROM unnest($1::uuid[]) AS w(id) \
             CROSS JOIN LATERAL (SELECT * FROM webhook_deliveries d \
               WHERE d.webhook_id = w.id AND d.state = 'pending' ORDER BY d.seq LIMIT $2) d \
             ORDER BY d.webhook_id, d.seq",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<BigInt, _>(i64::from(per_endpoint))
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        claimed
            .into_iter()
            .map(|row| {
                let deliveries = due
                    .iter()
                    .filter(|d| d.webhook_id == row.id)
                    .map(|d| DueDelivery {
                        id: DeliveryId::from_uuid(d.id),
                        body: d.body.clone(),
                        attempts: u32::try_from(d.attempts).unwrap_or(0),
                        window_start: d.window_start,
                        due_at: d.next_attempt_at.unwrap_or(now),
                    })
                    .collect();
                Ok(DueEndpoint {
                    webhook: WebhookId::from_uuid(row.id),
                    organization: OrganizationId::from_uuid(row.org_id),
                    url: WebhookUrl::parse(&row.url).map_err(corrupt)?,
                    secrets: SealedSecrets {
                        current: row.secret,
                        previous: row.previous_secret.zip(row.previous_secret_until),
                    },
                    failures: u32::try_from(row.failures).unwrap_or(0),
                    deliveries,
                })
            })
            .collect()
    }

    async fn record(
        &self,
        webhook: WebhookId,
        outcomes: &[DeliveryOutcome],
        failures: u32,
    ) -> Result<(), StoreError> {
        let mut ids = Vec::new();
        let mut states = Vec::new();
        let mut at = Vec::new();
        let mut retry_at = Vec::new();
        let mut status = Vec::new();
        let mut errors = Vec::new();
        let mut durations = Vec::new();
        for outcome in outcomes {
            ids.push(outcome.delivery.as_uuid());
            states.push(outcome.state.as_str());
            at.push(outcome.attempt.at);
            retry_at.push(outcome.retry_at);
            status.push(outcome.attempt.status.map(i32::from));
            errors.push(outcome.attempt.error.as_deref());
            durations.push(i32::try_from(outcome.attempt.duration_ms).unwrap_or(i32::MAX));
        }
        let mut conn = self.connection().await?;
        diesel::sql_query(
            "WITH o AS (SELECT * FROM unnest($2::uuid[], $3::varchar[], $4::timestamptz[], \
                          $5::timestamptz[], $6::int4[], $7::text[], $8::int4[]) \
                        AS o(id, state, at, retry_at, status, error, duration)), \
             d AS (UPDATE webhook_deliveries d SET state = o.state, next_attempt_at = o.retry_at, \
                     attempts = d.attempts + 1 \
                   FROM o WHERE d.id = o.id RETURNING d.id, d.attempts), \
             a AS (INSERT INTO webhook_attempts (delivery_id, attempt, at, status, error, duration_ms) \
                   SELECT o.id, d.attempts, o.at, o.status, o.error, o.duration \
                   FROM o JOIN d ON d.id = o.id) \
             UPDATE webhook_endpoints SET failures = $9, leased_until = NULL WHERE id = $1",
        )
        .bind::<SqlUuid, _>(webhook.as_uuid())
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Text>, _>(states)
        .bind::<Array<Timestamptz>, _>(at)
        .bind::<Array<Nullable<Timestamptz>>, _>(retry_at)
        .bind::<Array<Nullable<Int4>>, _>(status)
        .bind::<Array<Nullable<Text>>, _>(errors)
        .bind::<Array<Int4>, _>(durations)
        .bind::<Int4, _>(i32::try_from(failures).unwrap_or(i32::MAX))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn retry(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
        delivery: DeliveryId,
        now: OffsetDateTime,
    ) -> Result<Option<Retry>, StoreError> {
        let mut conn = self.connection().await?;
        let found: Vec<DeliveryRow> = diesel::sql_query(format!(
            "WITH changed AS (UPDATE webhook_deliveries SET state = 'pending', \
                 next_attempt_at = $4, window_start = $4 \
               WHERE id = $3 AND webhook_id = $2 AND org_id = $1 AND state <> 'pending' \
               RETURNING id) \
             SELECT {DELIVERY_COLUMNS} \
             FROM webhook_deliveries d WHERE d.id = $3 AND d.webhook_id = $2 AND d.org_id = $1"
        ))
        .bind::<SqlUuid, _>(organization.as_uuid())
        .bind::<SqlUuid, _>(webhook.as_uuid())
        .bind::<SqlUuid, _>(delivery.as_uuid())
        .bind::<Timestamptz, _>(now)
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        let Some(row) = found.into_iter().next() else {
            return Ok(None);
        };
        // The select sees the row as it was before the update: a pending
        // one was left alone, an ended one is pending now.
        if row.state == DeliveryState::Pending.as_str() {
            return Ok(Some(Retry::StillPending));
        }
        let mut retried = row.into_domain()?;
        retried.state = DeliveryState::Pending;
        retried.next_attempt_at = Some(now);
        Ok(Some(Retry::Retried(retried)))
    }

    async fn prune_deliveries(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        let deleted = diesel::sql_query(
            "DELETE FROM webhook_deliveries WHERE id IN (\
               SELECT id FROM webhook_deliveries \
               WHERE state <> 'pending' AND created_at < $1 LIMIT $2)",
        )
        .bind::<Timestamptz, _>(before)
        .bind::<BigInt, _>(i64::from(limit))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(deleted as u64)
    }
}
