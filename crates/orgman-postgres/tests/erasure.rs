//! Erasing a person against PostgreSQL: memberships with their events, the
//! OWNER rule, invitations, and the address replaced by its pseudonym in
//! the audit trail and in outbox rows of one event and of many.

mod support;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{OrganizationRepository, Pseudonyms, UserRepository};
use orgman_domain::time::{Duration, OffsetDateTime};
use orgman_domain::uuid::Uuid;
use orgman_domain::{
    DomainEvent, Email, EventId, EventKind, Invitation, InvitationId, OrgError, OrgRole,
    OrganizationId, TokenDigest, UserId, UserProfile, provision_from_claims,
};
use support::Db;

#[derive(QueryableByName, Debug)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One pseudonym for every address: enough to find it again.
struct Fixed;

impl Pseudonyms for Fixed {
    fn pseudonym(&self, _: &Email) -> Email {
        Email::parse("t1-0123456789abcdef01234567@erased.invalid").unwrap()
    }
}

async fn count(db: &Db, sql: &str) -> i64 {
    let mut conn = db.connection().await;
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

async fn person(db: &Db, email: &str) -> UserId {
    let id = UserId::from_uuid(Uuid::now_v7());
    db.store
        .provision(&UserProfile {
            id,
            subject: id.to_string(),
            email: Some(Email::parse(email).unwrap()),
            display_name: Some("Some One".into()),
            given_name: Some("Some".into()),
            family_name: Some("One".into()),
        })
        .await
        .unwrap();
    id
}

/// Invitations to `emails` in `org`, their events appended by one unit of
/// work: several events of one kind make an outbox row of many.
async fn invite(db: &Db, org: OrganizationId, emails: &[&str]) {
    let mut uow = db.store.begin().await.unwrap();
    let now = OffsetDateTime::now_utc();
    let mut events = Vec::new();
    for email in emails {
        let invitation = Invitation {
            id: InvitationId::from_uuid(Uuid::now_v7()),
            organization_id: org,
            email: Email::parse(email).unwrap(),
            role: OrgRole::Member,
            invited_by: None,
            created_at: now,
            expires_at: now + Duration::days(7),
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        };
        uow.insert_invitation(&invitation, &TokenDigest(Uuid::now_v7().to_string()))
            .await
            .unwrap();
        events.push(DomainEvent {
            id: EventId::from_uuid(Uuid::now_v7()),
            occurred_at: now,
            organization_id: org,
            actor: None,
            actor_kind: Default::default(),
            request_id: None,
            schema_version: DomainEvent::SCHEMA_VERSION,
            kind: EventKind::InvitationCreated {
                invitation_id: invitation.id,
                email: invitation.email.clone(),
                role: OrgRole::Member,
                expires_at: invitation.expires_at,
            },
        });
    }
    uow.append_events(&events).await.unwrap();
    uow.commit().await.unwrap();
}

#[tokio::test]
async fn an_erased_person_leaves_every_organization_and_no_readable_address() {
    let db = Db::new().await;
    let bob = person(&db, "bob@example.com").await;
    let carol = person(&db, "carol@example.com").await;
    let (a, b, c) = (
        db.org().await.id(),
        db.org().await.id(),
        db.org().await.id(),
    );
    db.service
        .add_member(&db.admin, a, bob, OrgRole::Member)
        .await
        .unwrap();
    db.service
        .add_member(&db.admin, b, bob, OrgRole::Owner)
        .await
        .unwrap();
    db.service
        .add_member(&db.admin, b, carol, OrgRole::Owner)
        .await
        .unwrap();
    // In `c` Bob is the only OWNER once the administrator leaves.
    db.service
        .add_member(&db.admin, c, bob, OrgRole::Owner)
        .await
        .unwrap();
    db.service
        .remove_member(&db.admin, c, db.admin.user_id())
        .await
        .unwrap();
    invite(
        &db,
        a,
        &["bob@example.com", "dana@example.com", "erin@example.com"],
    )
    .await;
    let bob_email = Email::parse("bob@example.com").unwrap();

    let refused = db
        .service
        .erase_person(Some(&db.admin), bob, Some(&bob_email), &Fixed)
        .await;
    match refused {
        Err(OrgError::SoleOwner { organizations }) => assert_eq!(organizations, vec![c]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) AS n FROM organization_members WHERE user_id = '{bob}'")
        )
        .await,
        3,
        "a refused erasure changes nothing"
    );
    assert_eq!(db.service.sole_ownerships(bob).await.unwrap(), vec![c]);

    db.service
        .add_member(&db.admin, c, carol, OrgRole::Owner)
        .await
        .unwrap();
    let report = db
        .service
        .erase_person(Some(&db.admin), bob, Some(&bob_email), &Fixed)
        .await
        .unwrap();
    let mut expected = vec![a, b, c];
    expected.sort();
    assert_eq!(report.organizations, expected);
    assert_eq!(report.invitations, 1);
    assert_eq!(
        report.pseudonymised.outbox_rows, 1,
        "the row of three events"
    );
    assert!(report.pseudonymised.audit_entries >= 1);

    for (sql, expected) in [
        (format!("SELECT count(*) AS n FROM organization_members WHERE user_id = '{bob}'"), 0),
        (format!("SELECT count(*) AS n FROM member_search WHERE user_id = '{bob}'"), 0),
        ("SELECT count(*) AS n FROM invitations WHERE email = 'bob@example.com'".into(), 0),
        ("SELECT count(*) AS n FROM invitations WHERE email = 'dana@example.com'".into(), 1),
        ("SELECT count(*) AS n FROM outbox WHERE payload::text LIKE '%bob@example.com%'".into(), 0),
        ("SELECT count(*) AS n FROM audit_events WHERE details::text LIKE '%bob@example.com%'".into(), 0),
        ("SELECT count(*) AS n FROM outbox_events WHERE payload::text LIKE '%t1-0123456789abcdef01234567@erased.invalid%'".into(), 1),
        ("SELECT count(*) AS n FROM outbox_events WHERE payload::text LIKE '%dana@example.com%'".into(), 1),
        ("SELECT count(*) AS n FROM audit_events WHERE details::text LIKE '%erased.invalid%'".into(), 1),
        (format!("SELECT count(*) AS n FROM users WHERE id = '{bob}' AND email IS NULL AND display_name IS NULL AND erased_at IS NOT NULL"), 1),
        (format!("SELECT count(*) AS n FROM outbox_events WHERE event_type = 'user.erased' AND payload::text LIKE '%{bob}%'"), 3),
        (format!("SELECT count(*) AS n FROM outbox_events WHERE event_type = 'organization.member.removed' AND payload::text LIKE '%{bob}%'"), 3),
        ("SELECT count(*) AS n FROM outbox_events WHERE event_type = 'organization.invitation.revoked'".into(), 1),
    ] {
        assert_eq!(count(&db, &sql).await, expected, "{sql}");
    }
    // The row of three events still reads as three events, in order.
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM outbox_events WHERE event_type = 'organization.invitation.created'").await,
        3
    );

    // A token of the erased account provisions nothing again.
    let again = provision_from_claims(
        &db.store,
        UserProfile {
            id: bob,
            subject: bob.to_string(),
            email: Some(bob_email.clone()),
            display_name: Some("Bob".into()),
            given_name: None,
            family_name: None,
        },
    )
    .await;
    assert!(matches!(again, Err(OrgError::AccountErased)), "{again:?}");
    let stored = db.store.user(bob).await.unwrap().unwrap();
    assert_eq!(stored.email, None);
    assert!(stored.erased_at.is_some());
}

#[tokio::test]
async fn account_marks_are_set_once_cleared_when_found_and_dropped_by_an_erasure() {
    use orgman_domain::ports::AccountChecks;
    let db = Db::new().await;
    let mut users = vec![db.admin.user_id()];
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        users.push(person(&db, email).await);
    }
    users.sort();
    // Pages by id, after a cursor, without marks at first.
    let first = db.store.accounts_after(None, 3).await.unwrap();
    let rest = db
        .store
        .accounts_after(Some(first[2].user), 3)
        .await
        .unwrap();
    let walked: Vec<UserId> = first.iter().chain(&rest).map(|a| a.user).collect();
    assert_eq!(walked, users);
    assert!(first.iter().all(|a| a.missing_since.is_none()));
    assert_eq!(first[1].subject, users[1].to_string());

    let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let (x, y) = (users[1], users[2]);
    db.store.mark_accounts(&[x], &[], t0).await.unwrap();
    // A later sighting keeps the first mark; y's mark is newer.
    db.store
        .mark_accounts(&[x, y], &[], t0 + Duration::hours(1))
        .await
        .unwrap();
    let due = db
        .store
        .missing_before(t0 + Duration::minutes(90), 10)
        .await
        .unwrap();
    let marks: Vec<(UserId, Option<OffsetDateTime>)> =
        due.iter().map(|a| (a.user, a.missing_since)).collect();
    assert_eq!(
        marks,
        vec![(x, Some(t0)), (y, Some(t0 + Duration::hours(1)))]
    );
    assert_eq!(
        db.store
            .missing_before(t0 + Duration::minutes(30), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Found again: the mark goes.
    db.store.mark_accounts(&[], &[y], t0).await.unwrap();
    let due = db
        .store
        .missing_before(t0 + Duration::days(1), 10)
        .await
        .unwrap();
    assert_eq!(due.iter().map(|a| a.user).collect::<Vec<_>>(), vec![x]);

    // An erased user is neither walked nor due.
    db.service
        .erase_person(
            None,
            x,
            Some(&Email::parse("a@example.com").unwrap()),
            &Fixed,
        )
        .await
        .unwrap();
    assert!(
        db.store
            .missing_before(t0 + Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let walked = db.store.accounts_after(None, 10).await.unwrap();
    assert!(walked.iter().all(|a| a.user != x));
    assert_eq!(walked.len(), 3);
    assert_eq!(
        count(&db, &format!("SELECT count(*) AS n FROM outbox_events WHERE event_type = 'user.erased' AND payload::text LIKE '%{x}%' AND json_typeof(payload -> 'actor') = 'null'")).await,
        1,
        "orgman erased: the event names no actor"
    );
}
