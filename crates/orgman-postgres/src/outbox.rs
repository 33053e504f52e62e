//! The outbox port: committed events read back per sink, in `seq` order.
//!
//! One claimer per sink at a time, across replicas: a claim holds a
//! transaction-scoped advisory lock for its sink; a second replica's claim
//! gets an empty batch. Settling records the outcome and commits; a claim
//! dropped unsettled closes its connection and leaves everything pending.

use async_trait::async_trait;
use deadpool::managed::Object;
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Int4, Int8, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl, TransactionManager};
use orgman_domain::ports::{
    AuthorizerState, Backlog, Outbox, OutboxClaim, OutboxSink, PendingEvent,
};
use orgman_domain::{DomainEvent, StoreError};
use time::OffsetDateTime;

use crate::connection::Connection;
use crate::error::from_diesel;
use crate::store::PgStore;

impl PgStore {
    /// [`Outbox::has_undelivered`] for the authorizer sink, which every
    /// check of an external authorizer asks (`SyncGuard`): built with
    /// diesel's DSL, so each connection prepares it once and PostgreSQL
    /// neither parses nor plans it again.
    async fn authorizer_in_doubt(
        &self,
        organization: orgman_domain::OrganizationId,
        grace: std::time::Duration,
    ) -> Result<bool, StoreError> {
        use crate::schema::outbox::dsl as o;
        use diesel::dsl::{exists, now};
        use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl};
        let grace = diesel::pg::data_types::PgInterval::from_microseconds(
            i64::try_from(grace.as_micros()).unwrap_or(i64::MAX),
        );
        let mut conn = self.connection().await?;
        diesel::select(exists(
            o::outbox
                // The platform's events (platform roles) hold for every
                // organization.
                .filter(o::aggregate_id.eq_any([
                    organization.as_uuid(),
                    orgman_domain::OrganizationId::PLATFORM.as_uuid(),
                ]))
                .filter(o::authz_synced_at.is_null())
                .filter(
                    o::authz_dead_at
                        .is_not_null()
                        .or(o::authz_attempts.gt(0))
                        .or((o::created_at + grace).lt(now)),
                ),
        ))
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)
    }

    /// [`Outbox::authorizer_state`]: the sync guard's question and whether
    /// the organization's (or the platform's) authorization data changed
    /// within `window`, in one statement prepared once per connection: an
    /// event committed in the window (`outbox_org_created_idx`), or one the
    /// authorizer took in more than a second after its commit and within
    /// the window (`outbox_authz_late_idx`: after a failure, or behind a
    /// backlog).
    async fn authorizer_state_of(
        &self,
        organization: orgman_domain::OrganizationId,
        grace: std::time::Duration,
        window: std::time::Duration,
    ) -> Result<AuthorizerState, StoreError> {
        use diesel::sql_types::{Array, Double, Uuid as SqlUuid};
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Bool)]
            in_doubt: bool,
            #[diesel(sql_type = Bool)]
            changed: bool,
        }
        let scope = [
            organization.as_uuid(),
            orgman_domain::OrganizationId::PLATFORM.as_uuid(),
        ];
        let mut conn = self.connection().await?;
        let row: Row = crate::prepared::Prepared(
            diesel::sql_query(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE aggregate_id = ANY($1) \
                   AND authz_synced_at IS NULL \
                   AND (authz_dead_at IS NOT NULL OR authz_attempts > 0 \
                        OR created_at < now() - make_interval(secs => $2))) AS in_doubt, \
                 (EXISTS (SELECT 1 FROM outbox WHERE aggregate_id = ANY($1) \
                   AND created_at > now() - make_interval(secs => $3)) \
                  OR EXISTS (SELECT 1 FROM outbox WHERE aggregate_id = ANY($1) \
                   AND authz_synced_at - created_at > interval '1 second' \
                   AND authz_synced_at > now() - make_interval(secs => $3))) AS changed",
            )
            .bind::<Array<SqlUuid>, _>(&scope[..])
            .bind::<Double, _>(grace.as_secs_f64())
            .bind::<Double, _>(window.as_secs_f64()),
        )
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(AuthorizerState {
            in_doubt: row.in_doubt,
            changed_recently: row.changed,
        })
    }
}

/// Column names of one sink's progress (constants, never user input).
struct Columns {
    done: &'static str,
    dead: &'static str,
    attempts: &'static str,
    error: &'static str,
    lock: i64,
}

fn columns(sink: OutboxSink) -> Columns {
    match sink {
        OutboxSink::Broker => Columns {
            done: "published_at",
            dead: "dead_at",
            attempts: "attempts",
            error: "last_error",
            lock: 0x6f72_676d_616e_0101,
        },
        OutboxSink::Authorizer => Columns {
            done: "authz_synced_at",
            dead: "authz_dead_at",
            attempts: "authz_attempts",
            error: "authz_last_error",
            lock: 0x6f72_676d_616e_0102,
        },
        OutboxSink::LoginBroker => Columns {
            done: "idp_synced_at",
            dead: "idp_dead_at",
            attempts: "idp_attempts",
            error: "idp_last_error",
            lock: 0x6f72_676d_616e_0103,
        },
        OutboxSink::OrganizationMirror => Columns {
            done: "mirror_synced_at",
            dead: "mirror_dead_at",
            attempts: "mirror_attempts",
            error: "mirror_last_error",
            lock: 0x6f72_676d_616e_0104,
        },
        OutboxSink::Webhooks => Columns {
            done: "webhooks_synced_at",
            dead: "webhooks_dead_at",
            attempts: "webhooks_attempts",
            error: "webhooks_last_error",
            lock: 0x6f72_676d_616e_0105,
        },
    }
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Int8)]
    seq: i64,
    /// The event's JSON as text: decoded straight into the event, without
    /// an intermediate JSON tree.
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Int4)]
    attempts: i32,
}

#[derive(QueryableByName)]
struct BacklogRow {
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    oldest: Option<OffsetDateTime>,
    #[diesel(sql_type = BigInt)]
    dead: i64,
}

use crate::connection::Tm;

#[async_trait]
impl Outbox for PgStore {
    async fn claim(
        &self,
        sink: OutboxSink,
        limit: u32,
    ) -> Result<Box<dyn OutboxClaim>, StoreError> {
        let cols = columns(sink);
        let mut conn = self.connection().await?;
        Tm::begin_transaction(&mut *conn)
            .await
            .map_err(from_diesel)?;
        let mut claim = PgClaim {
            connection: Some(conn),
            events: Vec::new(),
            sink,
        };
        let conn = claim.conn()?;
        let locked: Locked = crate::prepared::Prepared(
            diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
                .bind::<BigInt, _>(cols.lock),
        )
        .get_result(conn)
        .await
        .map_err(from_diesel)?;
        if !locked.locked {
            return Ok(Box::new(claim));
        }
        // `limit` counts events: rows are taken in order while the events
        // before them number fewer than `limit` (so at least one row, and
        // at most `limit` + EVENTS_PER_ROW - 1 events).
        let rows: Vec<Row> = crate::prepared::Prepared(
            diesel::sql_query(format!(
                "SELECT o.seq, o.payload::text AS payload, o.{attempts} AS attempts
             FROM outbox o JOIN (
                 SELECT seq, sum(events) OVER (ORDER BY seq) - events AS before
                 FROM (SELECT seq, events FROM outbox
                       WHERE {done} IS NULL AND {dead} IS NULL ORDER BY seq LIMIT $1) pending
             ) w USING (seq)
             WHERE w.before < $1 ORDER BY o.seq",
                attempts = cols.attempts,
                done = cols.done,
                dead = cols.dead,
            ))
            .bind::<BigInt, _>(i64::from(limit)),
        )
        .load(conn)
        .await
        .map_err(from_diesel)?;
        for row in rows {
            let position = u64::try_from(row.seq).unwrap_or(0);
            let attempts = u32::try_from(row.attempts).unwrap_or(0);
            let not_an_event = |e: serde_json::Error| {
                StoreError::Other(format!("outbox row {} is not an event: {e}", row.seq))
            };
            let pending = |event| PendingEvent {
                position,
                event,
                attempts,
            };
            if row.payload.trim_start().starts_with('[') {
                let events: Vec<DomainEvent> =
                    serde_json::from_str(&row.payload).map_err(not_an_event)?;
                claim.events.extend(events.into_iter().map(pending));
            } else {
                let event: DomainEvent =
                    serde_json::from_str(&row.payload).map_err(not_an_event)?;
                claim.events.push(pending(event));
            }
        }
        Ok(Box::new(claim))
    }

    async fn backlog(&self, sink: OutboxSink) -> Result<Backlog, StoreError> {
        let cols = columns(sink);
        let mut conn = self.connection().await?;
        // Each part reads a partial index (pending rows, dead rows) and
        // those rows only: a scrape costs no scan of the outbox.
        let row: BacklogRow = diesel::sql_query(format!(
            "SELECT (SELECT coalesce(sum(events), 0)::int8 FROM outbox
                     WHERE {done} IS NULL AND {dead} IS NULL) AS pending,
                    (SELECT created_at FROM outbox WHERE {done} IS NULL AND {dead} IS NULL
                     ORDER BY seq LIMIT 1) AS oldest,
                    (SELECT coalesce(sum(events), 0)::int8 FROM outbox WHERE {dead} IS NOT NULL) AS dead",
            done = cols.done,
            dead = cols.dead,
        ))
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(Backlog {
            pending: u64::try_from(row.pending).unwrap_or(0),
            oldest: row.oldest,
            dead_lettered: u64::try_from(row.dead).unwrap_or(0),
        })
    }

    async fn authorizer_state(
        &self,
        organization: orgman_domain::OrganizationId,
        grace: std::time::Duration,
        window: std::time::Duration,
    ) -> Result<AuthorizerState, StoreError> {
        self.authorizer_state_of(organization, grace, window).await
    }

    async fn has_undelivered(
        &self,
        sink: OutboxSink,
        organization: orgman_domain::OrganizationId,
        grace: std::time::Duration,
    ) -> Result<bool, StoreError> {
        if sink == OutboxSink::Authorizer {
            return self.authorizer_in_doubt(organization, grace).await;
        }
        let cols = columns(sink);
        let mut conn = self.connection().await?;
        let found: Locked = crate::prepared::Prepared(
            diesel::sql_query(format!(
                "SELECT EXISTS (SELECT 1 FROM outbox
                 WHERE aggregate_id = $1 AND {done} IS NULL
                   AND ({dead} IS NOT NULL OR {attempts} > 0
                        OR created_at < now() - make_interval(secs => $2))) AS locked",
                done = cols.done,
                dead = cols.dead,
                attempts = cols.attempts,
            ))
            .bind::<diesel::sql_types::Uuid, _>(organization.as_uuid())
            .bind::<diesel::sql_types::Double, _>(grace.as_secs_f64()),
        )
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(found.locked)
    }

    async fn prune(
        &self,
        settled_by: &[OutboxSink],
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        if settled_by.is_empty() {
            return Ok(0);
        }
        let settled: Vec<String> = settled_by
            .iter()
            .map(|sink| {
                let cols = columns(*sink);
                format!("({} IS NOT NULL OR {} IS NOT NULL)", cols.done, cols.dead)
            })
            .collect();
        let mut conn = self.connection().await?;
        // Oldest first, a bounded batch at a time: short transactions, no
        // long lock on the table.
        let deleted = diesel::sql_query(format!(
            "DELETE FROM outbox WHERE seq IN (
                 SELECT seq FROM outbox WHERE created_at < $1 AND {}
                 ORDER BY seq LIMIT $2)",
            settled.join(" AND ")
        ))
        .bind::<Timestamptz, _>(before)
        .bind::<BigInt, _>(i64::from(limit))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(deleted as u64)
    }
}

struct PgClaim {
    connection: Option<Connection>,
    events: Vec<PendingEvent>,
    sink: OutboxSink,
}

impl PgClaim {
    fn conn(&mut self) -> Result<&mut AsyncPgConnection, StoreError> {
        self.connection
            .as_deref_mut()
            .ok_or_else(|| StoreError::Other("claim already settled".into()))
    }
}

impl Drop for PgClaim {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            drop(Object::take(connection));
        }
    }
}

/// Positions with the reason of their outcome.
type Reasons = Vec<(u64, String)>;

/// The outcome of each claimed row: events of one row share its position,
/// and a row is settled as a whole. One event to retry keeps the row
/// pending (its delivered events will be delivered again, which consumers
/// de-duplicate by event id); otherwise one dead event dead-letters it.
fn by_row(
    delivered: &[u64],
    retry: &[(u64, String)],
    dead: &[(u64, String)],
) -> (Vec<u64>, Reasons, Reasons) {
    let mut settled = std::collections::HashSet::new();
    let mut first = |list: &[(u64, String)]| -> Reasons {
        list.iter()
            .filter(|(position, _)| settled.insert(*position))
            .cloned()
            .collect()
    };
    let retry_rows = first(retry);
    let dead_rows = first(dead);
    let delivered_rows = delivered
        .iter()
        .copied()
        .filter(|position| settled.insert(*position))
        .collect();
    (delivered_rows, retry_rows, dead_rows)
}

fn positions(list: &[u64]) -> Vec<i64> {
    list.iter()
        .map(|p| i64::try_from(*p).unwrap_or(i64::MAX))
        .collect()
}

#[async_trait]
impl OutboxClaim for PgClaim {
    fn events(&self) -> &[PendingEvent] {
        &self.events
    }

    fn take_events(&mut self) -> Vec<PendingEvent> {
        std::mem::take(&mut self.events)
    }

    async fn settle(
        mut self: Box<Self>,
        delivered: &[u64],
        retry: &[(u64, String)],
        dead: &[(u64, String)],
    ) -> Result<(), StoreError> {
        let cols = columns(self.sink);
        let (delivered, retry, dead) = by_row(delivered, retry, dead);
        let conn = self.conn()?;
        // Settled at the time of recording (after the sink acknowledged),
        // not at the start of the claim's transaction.
        if !delivered.is_empty() {
            crate::prepared::Prepared(diesel::sql_query(format!(
                "UPDATE outbox SET {done} = clock_timestamp(), {error} = NULL WHERE seq = ANY($1)",
                done = cols.done,
                error = cols.error,
            ))
            .bind::<Array<BigInt>, _>(positions(&delivered)))
            .execute(conn)
            .await
            .map_err(from_diesel)?;
        }
        for (list, set_dead) in [(&retry, false), (&dead, true)] {
            for (position, reason) in list.iter() {
                let dead_clause = if set_dead {
                    format!(", {} = clock_timestamp()", cols.dead)
                } else {
                    String::new()
                };
                crate::prepared::Prepared(diesel::sql_query(format!(
                    "UPDATE outbox SET {attempts} = {attempts} + 1, {error} = $2{dead_clause} WHERE seq = $1",
                    attempts = cols.attempts,
                    error = cols.error,
                ))
                .bind::<BigInt, _>(i64::try_from(*position).unwrap_or(i64::MAX))
                .bind::<Text, _>(reason.chars().take(2000).collect::<String>()))
                .execute(conn)
                .await
                .map_err(from_diesel)?;
            }
        }
        Tm::commit_transaction(conn).await.map_err(from_diesel)?;
        drop(self.connection.take());
        Ok(())
    }
}
