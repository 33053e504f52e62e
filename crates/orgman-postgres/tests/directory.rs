//! Directories in PostgreSQL: user names and group names unique per
//! organization whatever their case; a person waiting for an account is
//! taken by one worker at a time, held for the lease, and put back; the
//! filters answer from the organization's rows only.

mod support;

use std::time::Duration;

use orgman_domain::ports::{DirectoryAccountQueue, DirectoryQueries, OrganizationRepository};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::uuid::Uuid;
use orgman_domain::{
    ActorRef, ApiKeyId, Conflict, DirectoryFilter, DirectoryUser, DirectoryUserId, Email,
    OrganizationId, StoreError, Window,
};
use support::Db;

fn person(org: OrganizationId, user_name: &str, email: &str, trusted: bool) -> DirectoryUser {
    let now = OffsetDateTime::now_utc();
    DirectoryUser {
        id: DirectoryUserId::from_uuid(Uuid::now_v7()),
        organization_id: org,
        user_id: None,
        user_name: user_name.into(),
        external_id: Some(format!("ext-{user_name}")),
        active: true,
        email: Some(Email::parse(email).unwrap()),
        email_trusted: trusted,
        display_name: None,
        attributes: serde_json::json!({"userName": user_name}),
        created_by: ActorRef::scim_client(ApiKeyId::from_uuid(Uuid::now_v7())),
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

async fn save(db: &Db, user: &DirectoryUser) -> Result<(), StoreError> {
    let mut uow = db.store.begin().await.unwrap();
    uow.save_directory_user(user).await?;
    uow.commit().await
}

#[tokio::test]
async fn names_are_unique_per_organization_in_any_case() {
    let db = Db::new().await;
    let (one, two) = (db.org().await.id(), db.org().await.id());
    save(
        &db,
        &person(one, "Ada@Corp.example", "ada@corp.example", false),
    )
    .await
    .unwrap();
    let again = save(
        &db,
        &person(one, "ada@corp.EXAMPLE", "x@corp.example", false),
    )
    .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(Conflict::Other(_)))),
        "{again:?}"
    );
    // Another organization's directory may hold the same name.
    save(
        &db,
        &person(two, "ada@corp.example", "ada@corp.example", false),
    )
    .await
    .unwrap();
    let found = db
        .store
        .directory_users(
            one,
            &DirectoryFilter::Email("ADA@corp.example".into()),
            Window {
                offset: 0,
                count: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!((found.total, found.items[0].organization_id), (1, one));
}

#[tokio::test]
async fn a_waiting_account_is_taken_by_one_worker_until_its_lease_ends() {
    let db = Db::new().await;
    let org = db.org().await.id();
    let waiting = person(org, "dee", "dee@corp.example", true);
    save(&db, &waiting).await.unwrap();
    // An untrusted address never waits for an account.
    save(&db, &person(org, "eve", "eve@elsewhere.example", false))
        .await
        .unwrap();

    let taken = db
        .store
        .due_accounts(10, Duration::from_secs(60))
        .await
        .unwrap();
    let mine: Vec<_> = taken.iter().filter(|(o, _)| *o == org).collect();
    assert_eq!(mine, [&(org, waiting.id)]);
    let again = db
        .store
        .due_accounts(10, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        !again.iter().any(|(o, _)| *o == org),
        "held by the first worker"
    );

    db.store
        .retry_account(org, waiting.id, Duration::ZERO)
        .await
        .unwrap();
    let retried = db
        .store
        .due_accounts(10, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        retried.contains(&(org, waiting.id)),
        "put back, taken again"
    );

    // Linked: nothing waits any more.
    let user = db.user().await;
    let mut linked = waiting.clone();
    linked.user_id = Some(user.user_id());
    linked.version = 2;
    save(&db, &linked).await.unwrap();
    db.store
        .retry_account(org, waiting.id, Duration::ZERO)
        .await
        .unwrap();
    let after = db
        .store
        .due_accounts(10, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!after.iter().any(|(o, _)| *o == org));
}
