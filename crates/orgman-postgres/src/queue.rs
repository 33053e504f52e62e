//! The member-mirror queue: one row per marked organization
//! (`member_mirror_queue`). Taking one is an `UPDATE` of the oldest row
//! nobody holds, skipping rows another replica is taking at that moment;
//! the lease is a time in the row, so a worker that dies loses its hold
//! when the lease ends.

use std::time::Duration;

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{MemberMirrorQueue, QueuedOrganization};
use orgman_domain::{OrganizationId, StoreError};

use crate::error::from_diesel;
use crate::store::PgStore;

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = SqlUuid)]
    org_id: uuid::Uuid,
    #[diesel(sql_type = BigInt)]
    marks: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[async_trait]
impl MemberMirrorQueue for PgStore {
    async fn mark(&self, organizations: &[OrganizationId]) -> Result<(), StoreError> {
        let mut ids: Vec<uuid::Uuid> = organizations.iter().map(|o| o.as_uuid()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut conn = self.connection().await?;
        diesel::sql_query(
            "INSERT INTO member_mirror_queue (org_id) SELECT unnest($1::uuid[])
             ON CONFLICT (org_id) DO UPDATE SET marks = member_mirror_queue.marks + 1",
        )
        .bind::<Array<SqlUuid>, _>(ids)
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
        let taken: Vec<Taken> = diesel::sql_query(
            "UPDATE member_mirror_queue SET taken_until = now() + $1
             WHERE org_id = (SELECT org_id FROM member_mirror_queue
                             WHERE taken_until IS NULL OR taken_until <= now()
                             ORDER BY marked_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING org_id, marks",
        )
        .bind::<diesel::sql_types::Interval, _>(lease)
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(taken.into_iter().next().map(|t| QueuedOrganization {
            organization: OrganizationId::from_uuid(t.org_id),
            marks: u64::try_from(t.marks).unwrap_or(0),
        }))
    }

    async fn finish(&self, claimed: QueuedOrganization) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        diesel::sql_query(
            "WITH done AS (DELETE FROM member_mirror_queue WHERE org_id = $1 AND marks = $2 RETURNING org_id)
             UPDATE member_mirror_queue SET taken_until = NULL
             WHERE org_id = $1 AND NOT EXISTS (SELECT 1 FROM done)",
        )
        .bind::<SqlUuid, _>(claimed.organization.as_uuid())
        .bind::<BigInt, _>(i64::try_from(claimed.marks).unwrap_or(i64::MAX))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn marked(&self) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        let count: Count = diesel::sql_query("SELECT count(*) AS count FROM member_mirror_queue")
            .get_result(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(u64::try_from(count.count).unwrap_or(0))
    }
}
