//! What the sync guard reads on every check of an external authorizer:
//! whether an organization's authorization events are in doubt, and
//! whether its (or the platform's) authorization data changed within the
//! window that decides between SpiceDB's recent snapshot and a fully
//! consistent check.

mod support;

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use orgman_domain::ports::{AuthorizerState, Outbox};
use orgman_domain::{OrgRole, OrganizationId};
use support::Db;

const GRACE: Duration = Duration::from_secs(5);
const WINDOW: Duration = Duration::from_secs(10);

async fn state(db: &Db, org: OrganizationId) -> AuthorizerState {
    db.store.authorizer_state(org, GRACE, WINDOW).await.unwrap()
}

async fn sql(db: &Db, statements: &str) {
    db.connection()
        .await
        .batch_execute(statements)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_change_counts_for_the_window_and_one_taken_in_late_counts_from_then() {
    let db = Db::new().await;
    let org = db.org().await.id();
    let other = db.org().await.id();
    // Just created, its events not taken in yet but within the grace.
    let fresh = state(&db, org).await;
    assert!(!fresh.in_doubt);
    assert!(fresh.changed_recently);

    // Taken in at once, an hour ago: nothing changed within the window.
    sql(
        &db,
        "UPDATE outbox SET created_at = now() - interval '1 hour', \
                           authz_synced_at = now() - interval '1 hour'",
    )
    .await;
    assert_eq!(
        state(&db, org).await,
        AuthorizerState {
            in_doubt: false,
            changed_recently: false
        }
    );

    // Committed an hour ago, taken in only now (after SpiceDB was away):
    // the authorizer's snapshot may predate it.
    sql(
        &db,
        &format!("UPDATE outbox SET authz_synced_at = now() WHERE aggregate_id = '{org}'"),
    )
    .await;
    assert!(state(&db, org).await.changed_recently);
    assert!(!state(&db, other).await.changed_recently, "only its own");

    // Not taken in at all past the grace: in doubt, checks fail closed.
    sql(
        &db,
        &format!("UPDATE outbox SET authz_synced_at = NULL WHERE aggregate_id = '{org}'"),
    )
    .await;
    assert!(state(&db, org).await.in_doubt);
}

#[tokio::test]
async fn a_change_of_the_platform_counts_for_every_organization() {
    let db = Db::new().await;
    let org = db.org().await.id();
    let member = db.user().await;
    db.service
        .add_member(&db.admin, org, member.user_id(), OrgRole::Member)
        .await
        .unwrap();
    sql(
        &db,
        "UPDATE outbox SET created_at = now() - interval '1 hour', \
                           authz_synced_at = now() - interval '1 hour'",
    )
    .await;
    assert!(!state(&db, org).await.changed_recently);
    // A platform role's event (the platform's nil id), just committed.
    sql(
        &db,
        "INSERT INTO outbox (event_id, aggregate_id, event_type, payload, authz_synced_at) \
         VALUES (gen_random_uuid(), '00000000-0000-0000-0000-000000000000', \
                 'platform.role.updated', '{}', now())",
    )
    .await;
    assert!(state(&db, org).await.changed_recently);
}
