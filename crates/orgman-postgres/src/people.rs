//! An erasure's writes (GDPR Article 17), inside the unit of work.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{AccountChecks, AccountRecord, PersonWrites, Pseudonymised};
use orgman_domain::{Email, InvitationId, OrganizationId, StoreError, UserId};
use time::OffsetDateTime;

use crate::error::from_diesel;
use crate::schema::invitations;
use crate::store::PgStore;
use crate::unit_of_work::PgUnitOfWork;

/// The address, as the JSON string every stored payload writes it (with
/// its quotes), replaced by the pseudonym's: payloads keep their shape and
/// key order, and rows of many events are rewritten whole.
const AUDIT: &str = "\
UPDATE audit_events
SET details = replace(details::text, to_json($1::text)::text, to_json($2::text)::text)::json
WHERE action = 'organization.invitation.created'
  AND strpos(details::text, to_json($1::text)::text) > 0";

const OUTBOX: &str = "\
UPDATE outbox
SET payload = replace(payload::text, to_json($1::text)::text, to_json($2::text)::text)::json
WHERE strpos(payload::text, to_json($1::text)::text) > 0";

const DELIVERIES: &str = "\
UPDATE webhook_deliveries
SET body = replace(body, to_json($1::text)::text, to_json($2::text)::text)
WHERE strpos(body, to_json($1::text)::text) > 0";

#[async_trait]
impl PersonWrites for PgUnitOfWork {
    async fn delete_invitations_to(
        &mut self,
        email: &Email,
    ) -> Result<Vec<(OrganizationId, InvitationId)>, StoreError> {
        let gone: Vec<(uuid::Uuid, uuid::Uuid)> =
            diesel::delete(invitations::table.filter(invitations::email.eq(email.as_str())))
                .returning((invitations::org_id, invitations::id))
                .get_results(self.conn()?)
                .await
                .map_err(from_diesel)?;
        Ok(gone
            .into_iter()
            .map(|(org, id)| (OrganizationId::from_uuid(org), InvitationId::from_uuid(id)))
            .collect())
    }

    async fn pseudonymise(
        &mut self,
        email: &Email,
        pseudonym: &Email,
    ) -> Result<Pseudonymised, StoreError> {
        let mut counts = [0_u64; 3];
        for (count, statement) in counts.iter_mut().zip([AUDIT, OUTBOX, DELIVERIES]) {
            *count = diesel::sql_query(statement)
                .bind::<Text, _>(email.as_str())
                .bind::<Text, _>(pseudonym.as_str())
                .execute(self.conn()?)
                .await
                .map_err(from_diesel)? as u64;
        }
        Ok(Pseudonymised {
            audit_entries: counts[0],
            outbox_rows: counts[1],
            webhook_deliveries: counts[2],
        })
    }

    async fn erase_user(&mut self, user: UserId, at: OffsetDateTime) -> Result<bool, StoreError> {
        let erased = diesel::sql_query(
            "UPDATE users SET email = NULL, display_name = NULL, given_name = NULL, \
             family_name = NULL, search_words = '{}', erased_at = $2, updated_at = $2, \
             account_missing_since = NULL WHERE id = $1",
        )
        .bind::<SqlUuid, _>(user.as_uuid())
        .bind::<Timestamptz, _>(at)
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(erased == 1)
    }
}

#[derive(diesel::QueryableByName)]
struct AccountRow {
    #[diesel(sql_type = SqlUuid)]
    id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
    account_missing_since: Option<OffsetDateTime>,
}

impl From<AccountRow> for AccountRecord {
    fn from(row: AccountRow) -> Self {
        Self {
            user: UserId::from_uuid(row.id),
            subject: row.subject,
            missing_since: row.account_missing_since,
        }
    }
}

fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait]
impl AccountChecks for PgStore {
    async fn accounts_after(
        &self,
        after: Option<UserId>,
        count: usize,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let mut conn = self.connection().await?;
        let rows: Vec<AccountRow> = diesel::sql_query(
            "SELECT id, subject, account_missing_since FROM users \
             WHERE erased_at IS NULL AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(after.map(|u| u.as_uuid()))
        .bind::<diesel::sql_types::BigInt, _>(limit(count))
        .load(&mut *conn)
        .await
        .map_err(from_diesel)?;
        Ok(rows.into_iter().map(AccountRecord::from).collect())
    }

    async fn mark_accounts(
        &self,
        missing: &[UserId],
        present: &[UserId],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let ids = |users: &[UserId]| users.iter().map(|u| u.as_uuid()).collect::<Vec<_>>();
        let mut conn = self.connection().await?;
        // One statement: a mark is set once (the first sighting counts)
        // and cleared when the account is found again.
        diesel::sql_query(
            "UPDATE users SET account_missing_since = CASE WHEN id = ANY($1) \
               THEN coalesce(account_missing_since, $3) ELSE NULL END \
             WHERE (id = ANY($1) OR id = ANY($2)) AND erased_at IS NULL",
        )
        .bind::<diesel::sql_types::Array<SqlUuid>, _>(ids(missing))
        .bind::<diesel::sql_types::Array<SqlUuid>, _>(ids(present))
        .bind::<Timestamptz, _>(at)
        .execute(&mut *conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn missing_before(
        &self,
        before: OffsetDateTime,
        count: usize,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let mut conn = self.connection().await?;
        let rows: Vec<AccountRow> = diesel::sql_query(
            "SELECT id, subject, account_missing_since FROM users \
             WHERE account_missing_since IS NOT NULL AND erased_at IS NULL \
               AND account_missing_since < $1 \
             ORDER BY account_missing_since, id LIMIT $2",
        )
        .bind::<Timestamptz, _>(before)
        .bind::<diesel::sql_types::BigInt, _>(limit(count))
        .load(&mut *conn)
        .await
        .map_err(from_diesel)?;
        Ok(rows.into_iter().map(AccountRecord::from).collect())
    }
}
