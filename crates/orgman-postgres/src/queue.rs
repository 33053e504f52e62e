//! The mirror queue: one row per marked organization (`mirror_queue`). Taking one is an `UPDATE` of the oldest row
//! nobody holds, skipping rows another replica is taking at that moment;
//! the lease is a time in the row, so a worker that dies loses its hold
//! when the lease ends.

use std::time::Duration;

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{MirrorMark, MirrorQueue, QueuedOrganization};
use orgman_domain::{OrganizationId, StoreError};

use crate::error::from_diesel;
use crate::store::PgStore;

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = SqlUuid)]
    org_id: uuid::Uuid,
    #[diesel(sql_type = Bool)]
    members: bool,
    #[diesel(sql_type = BigInt)]
    marks: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[async_trait]
impl MirrorQueue for PgStore {
    async fn mark(&self, marks: &[MirrorMark]) -> Result<(), StoreError> {
        let mut by_org: Vec<(uuid::Uuid, bool)> = marks
            .iter()
            .map(|m| (m.organization.as_uuid(), m.members))
            .collect();
        // One row per organization (members first, so it wins the dedup):
        // an upsert cannot touch a row twice.
        by_org.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        by_org.dedup_by_key(|m| m.0);
        let (ids, members): (Vec<uuid::Uuid>, Vec<bool>) = by_org.into_iter().unzip();
        let mut conn = self.connection().await?;
        crate::prepared::Prepared(diesel::sql_query(
            "INSERT INTO mirror_queue (org_id, members) SELECT * FROM unnest($1::uuid[], $2::bool[])
             ON CONFLICT (org_id) DO UPDATE
             SET marks = mirror_queue.marks + 1, members = mirror_queue.members OR excluded.members",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Bool>, _>(members))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn take(&self, lease: Duration) -> Result<Option<QueuedOrganization>, StoreError> {
        let lease = diesel::pg::data_types::PgInterval::from_microseconds(
            i64::try_from(lease.as_micros()).unwrap_or(i64::MAX),
        );
        let mut conn = self.connection().await?;
        let taken: Vec<Taken> = crate::prepared::Prepared(
            diesel::sql_query(
                "UPDATE mirror_queue SET taken_until = now() + $1
             WHERE org_id = (SELECT org_id FROM mirror_queue
                             WHERE taken_until IS NULL OR taken_until <= now()
                             ORDER BY marked_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING org_id, members, marks",
            )
            .bind::<diesel::sql_types::Interval, _>(lease),
        )
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(taken.into_iter().next().map(|t| QueuedOrganization {
            organization: OrganizationId::from_uuid(t.org_id),
            members: t.members,
            marks: u64::try_from(t.marks).unwrap_or(0),
        }))
    }

    async fn finish(&self, claimed: QueuedOrganization) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        crate::prepared::Prepared(diesel::sql_query(
            "WITH done AS (DELETE FROM mirror_queue WHERE org_id = $1 AND marks = $2 RETURNING org_id)
             UPDATE mirror_queue SET taken_until = NULL
             WHERE org_id = $1 AND NOT EXISTS (SELECT 1 FROM done)",
        )
        .bind::<SqlUuid, _>(claimed.organization.as_uuid())
        .bind::<BigInt, _>(i64::try_from(claimed.marks).unwrap_or(i64::MAX)))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn release(&self, taken: QueuedOrganization, after: Duration) -> Result<(), StoreError> {
        let after = diesel::pg::data_types::PgInterval::from_microseconds(
            i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        );
        let mut conn = self.connection().await?;
        crate::prepared::Prepared(
            diesel::sql_query("UPDATE mirror_queue SET taken_until = now() + $2 WHERE org_id = $1")
                .bind::<SqlUuid, _>(taken.organization.as_uuid())
                .bind::<diesel::sql_types::Interval, _>(after),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn marked(&self) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        let count: Count = crate::prepared::Prepared(diesel::sql_query(
            "SELECT count(*) AS count FROM mirror_queue",
        ))
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(u64::try_from(count.count).unwrap_or(0))
    }
}
