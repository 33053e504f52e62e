//! An erasure's writes (GDPR Article 17), inside the unit of work.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{PersonWrites, Pseudonymised};
use orgman_domain::{Email, InvitationId, OrganizationId, StoreError, UserId};
use time::OffsetDateTime;

use crate::error::from_diesel;
use crate::schema::invitations;
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
             family_name = NULL, search_words = '{}', erased_at = $2, updated_at = $2 \
             WHERE id = $1",
        )
        .bind::<SqlUuid, _>(user.as_uuid())
        .bind::<Timestamptz, _>(at)
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(erased == 1)
    }
}
