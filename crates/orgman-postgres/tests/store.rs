//! Every storage port method and constraint, against a fresh database.

mod support;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{MembershipQueries, OrganizationRepository, UserRepository};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::uuid::Uuid;
use orgman_domain::{
    Access, Email, LifecycleAction, OrgError, OrgName, OrgRole, OrgStatus, Organization,
    OrganizationId, PageRequest, Permission, Slug, StoreError, UserId, UserProfile,
};
use orgman_testkit::unique_name;
use support::Db;

#[derive(QueryableByName, Debug)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName, Debug)]
struct Line {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

#[tokio::test]
async fn create_writes_the_org_the_owner_and_two_outbox_and_audit_rows_atomically() {
    let db = Db::new().await;
    let org = db.org().await;
    let stored = db.store.organization(org.id()).await.unwrap().unwrap();
    assert_eq!(stored, org);
    assert_eq!(
        db.store
            .role_of(org.id(), db.admin.user_id())
            .await
            .unwrap(),
        Some(Access::of_role(OrgRole::Owner))
    );
    let mut conn = db.connection().await;
    let outbox: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM outbox WHERE aggregate_id = $1 AND published_at IS NULL",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.id().as_uuid())
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(outbox.n, 2);
    let audit: Count =
        diesel::sql_query("SELECT count(*) AS n FROM audit_events WHERE org_id = $1")
            .bind::<diesel::sql_types::Uuid, _>(org.id().as_uuid())
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(audit.n, 2);
}

#[tokio::test]
async fn duplicate_slug_is_a_conflict_and_leaves_nothing_behind() {
    let db = Db::new().await;
    let slug = Slug::parse(&unique_name("dup")).unwrap();
    db.service
        .create(&db.admin, OrgName::parse("One").unwrap(), slug.clone())
        .await
        .unwrap();
    let again = db
        .service
        .create(&db.admin, OrgName::parse("Two").unwrap(), slug.clone())
        .await;
    assert_eq!(
        again,
        Err(OrgError::SlugTaken {
            slug: slug.to_string()
        })
    );
    let mut conn = db.connection().await;
    let outbox: Count = diesel::sql_query("SELECT count(*) AS n FROM outbox")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(outbox.n, 2, "only the first create's events");
}

#[tokio::test]
async fn unit_of_work_dropped_uncommitted_rolls_back_and_releases_locks() {
    let db = Db::new().await;
    let org = db.org().await;
    {
        let mut uow = db.store.begin().await.unwrap();
        let mut locked = uow.lock_organization(org.id()).await.unwrap().unwrap();
        locked
            .rename(OrgName::parse("Never").unwrap(), OffsetDateTime::now_utc())
            .unwrap();
        uow.update_organization(&locked, org.version())
            .await
            .unwrap();
        // Dropped here without commit.
    }
    let stored = db.store.organization(org.id()).await.unwrap().unwrap();
    assert_eq!(stored.name().as_str(), "Test org");
    // The row lock is gone: another unit of work locks it at once.
    let mut uow = db.store.begin().await.unwrap();
    let locked = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        uow.lock_organization(org.id()),
    )
    .await
    .expect("lock released after rollback")
    .unwrap();
    assert!(locked.is_some());
}

#[tokio::test]
async fn update_honours_the_version_column() {
    let db = Db::new().await;
    let org = db.org().await;
    let mut uow = db.store.begin().await.unwrap();
    let mut changed = org.clone();
    changed
        .rename(
            OrgName::parse("Renamed").unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(
        uow.update_organization(&changed, org.version() + 5).await,
        Err(StoreError::VersionMismatch {
            expected: org.version() + 5,
            actual: org.version()
        })
    );
    drop(uow);
    let missing = Organization::new(
        OrganizationId::from_uuid(Uuid::now_v7()),
        OrgName::parse("Ghost").unwrap(),
        Slug::parse("ghost").unwrap(),
        OffsetDateTime::now_utc(),
    );
    let mut uow = db.store.begin().await.unwrap();
    assert_eq!(
        uow.update_organization(&missing, 1).await,
        Err(StoreError::NotFound)
    );
}

#[tokio::test]
async fn membership_methods_and_their_constraints() {
    let db = Db::new().await;
    let org = db.org().await;
    let ann = db.user().await;
    let bob = db.user().await;
    db.service
        .add_member(&db.admin, org.id(), ann.user_id(), OrgRole::Admin)
        .await
        .unwrap();
    assert_eq!(
        db.service
            .add_member(&db.admin, org.id(), ann.user_id(), OrgRole::Member)
            .await,
        Err(OrgError::AlreadyMember)
    );
    let ghost = UserId::from_uuid(Uuid::now_v7());
    assert_eq!(
        db.service
            .add_member(&db.admin, org.id(), ghost, OrgRole::Member)
            .await,
        Err(OrgError::UserNotFound)
    );
    db.service
        .add_member(&ann, org.id(), bob.user_id(), OrgRole::Member)
        .await
        .unwrap();
    let changed = db
        .service
        .change_role(&ann, org.id(), bob.user_id(), OrgRole::Admin)
        .await
        .unwrap();
    assert_eq!(changed.role, OrgRole::Admin);
    assert_eq!(
        db.store.role_of(org.id(), bob.user_id()).await.unwrap(),
        Some(Access::of_role(OrgRole::Admin))
    );

    let mut uow = db.store.begin().await.unwrap();
    assert_eq!(uow.count_owners(org.id()).await.unwrap(), 1);
    assert!(uow.user_exists(bob.user_id()).await.unwrap());
    assert!(!uow.user_exists(ghost).await.unwrap());
    assert_eq!(
        uow.delete_membership(org.id(), ghost).await,
        Err(StoreError::NotFound)
    );
    drop(uow);

    db.service
        .remove_member(&ann, org.id(), bob.user_id())
        .await
        .unwrap();
    assert_eq!(
        db.store.role_of(org.id(), bob.user_id()).await.unwrap(),
        None
    );
    assert_eq!(
        db.service
            .remove_member(&db.admin, org.id(), db.admin.user_id())
            .await,
        Err(OrgError::LastOwner)
    );
}

#[tokio::test]
async fn listings_are_keyset_paginated_and_stable_under_inserts() {
    let db = Db::new().await;
    let ann = db.user().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        let org = db.org().await;
        db.service
            .add_member(&db.admin, org.id(), ann.user_id(), OrgRole::Member)
            .await
            .unwrap();
        created.push(org.id());
    }
    let first = db
        .store
        .organizations_of(ann.user_id(), PageRequest::new(None, 2))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    // Inserting while paging neither repeats nor skips: new ids sort last.
    let late = db.org().await;
    db.service
        .add_member(&db.admin, late.id(), ann.user_id(), OrgRole::Owner)
        .await
        .unwrap();
    created.push(late.id());
    let mut seen: Vec<OrganizationId> = first.items.iter().map(|(o, _)| o.id()).collect();
    let mut next = first.next;
    while let Some(after) = next {
        let page = db
            .store
            .organizations_of(ann.user_id(), PageRequest::new(Some(after), 2))
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|(o, _)| o.id()));
        next = page.next;
    }
    assert_eq!(seen, created);

    // All organizations (Default included), and the member list.
    let all = db
        .store
        .organizations(PageRequest::new(None, 500))
        .await
        .unwrap();
    assert_eq!(all.items.len(), created.len() + 1);
    let members = db
        .store
        .members(late.id(), PageRequest::new(None, 1))
        .await
        .unwrap();
    assert_eq!(members.items.len(), 1);
    let rest = db
        .store
        .members(late.id(), PageRequest::new(members.next, 10))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next, None);
}

#[tokio::test]
async fn deleted_organizations_leave_the_user_listing() {
    let db = Db::new().await;
    let org = db.org().await;
    db.service
        .transition(&db.admin, org.id(), LifecycleAction::RequestDeletion)
        .await
        .unwrap();
    // Make the grace period end now, then purge.
    let mut conn = db.connection().await;
    diesel::sql_query(
        "UPDATE organizations SET purge_after = now() - interval '1 second' WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.id().as_uuid())
    .execute(&mut conn)
    .await
    .unwrap();
    let purged = db
        .service
        .transition(&db.admin, org.id(), LifecycleAction::Purge)
        .await
        .unwrap();
    assert_eq!(purged.status(), OrgStatus::Deleted);
    let mine = db
        .store
        .organizations_of(db.admin.user_id(), PageRequest::first())
        .await
        .unwrap();
    assert!(mine.items.is_empty());
}

#[tokio::test]
async fn the_schema_refuses_what_the_domain_refuses() {
    let db = Db::new().await;
    let mut conn = db.connection().await;
    for sql in [
        "INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), 'x', 'Bad Slug')",
        "INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), '   ', 'ok')",
        "INSERT INTO organizations (id, name, slug, status) VALUES (gen_random_uuid(), 'x', 'ok2', 'PENDING_DELETION')",
        "INSERT INTO organizations (id, name, slug, status) VALUES (gen_random_uuid(), 'x', 'ok3', 'WHATEVER')",
        "INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), NULL, 'ok4')",
    ] {
        assert!(
            diesel::sql_query(sql).execute(&mut conn).await.is_err(),
            "{sql}"
        );
    }
}

#[tokio::test]
async fn an_organization_and_a_users_role_in_it_come_in_one_read() {
    let db = Db::new().await;
    let org = db.org().await;
    let stranger = db.user().await;
    assert_eq!(
        db.store
            .organization_with_role(org.id(), db.admin.user_id())
            .await
            .unwrap(),
        Some((org.clone(), Some(Access::of_role(OrgRole::Owner))))
    );
    assert_eq!(
        db.store
            .organization_with_role(org.id(), stranger.user_id())
            .await
            .unwrap(),
        Some((org.clone(), None)),
        "the organization, without a role"
    );
    assert_eq!(
        db.store
            .organization_with_role(
                OrganizationId::from_uuid(Uuid::now_v7()),
                db.admin.user_id()
            )
            .await
            .unwrap(),
        None
    );
}

/// The hot reads look at a membership's `holds_roles` flag and read its
/// roles' permissions only when it is set: the triggers must keep the
/// flag true through every write of the holding tables.
#[tokio::test]
async fn a_members_other_roles_are_read_while_held_and_not_after() {
    let db = Db::new().await;
    let org = db.org().await;
    let user = db.user().await.user_id();
    db.service
        .add_member(&db.admin, org.id(), user, OrgRole::Member)
        .await
        .unwrap();
    let key = unique_name("auditor");
    let platform_key = unique_name("support");
    let mut conn = db.connection().await;
    let run = |sql: String| diesel::sql_query(sql);
    let (o, u) = (org.id().as_uuid(), user.as_uuid());
    for sql in [
        format!(
            "INSERT INTO custom_roles (org_id, role_key, name, permissions) VALUES ('{o}', '{key}', 'A', '{{audit:read}}')"
        ),
        format!(
            "INSERT INTO platform_roles (role_key, name, permissions) VALUES ('{platform_key}', 'S', '{{domains:manage}}')"
        ),
    ] {
        run(sql).execute(&mut conn).await.unwrap();
    }
    let access = |granted: &[Permission]| {
        Some(Access {
            role: OrgRole::Member,
            granted: granted.iter().copied().collect(),
        })
    };
    let read = || async {
        let role = db.store.role_of(org.id(), user).await.unwrap();
        let (_, with_organization) = db
            .store
            .organization_with_role(org.id(), user)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(role, with_organization, "both reads agree");
        role
    };
    assert_eq!(read().await, access(&[]));
    let steps = [
        (
            format!("INSERT INTO member_custom_roles VALUES ('{o}', '{u}', '{key}')"),
            vec![Permission::AuditRead],
        ),
        (
            format!("INSERT INTO member_platform_roles VALUES ('{o}', '{u}', '{platform_key}')"),
            vec![Permission::AuditRead, Permission::DomainsManage],
        ),
        // One of two roles gone: the other still counts.
        (
            format!("DELETE FROM member_custom_roles WHERE org_id = '{o}' AND user_id = '{u}'"),
            vec![Permission::DomainsManage],
        ),
        (
            format!("DELETE FROM member_platform_roles WHERE org_id = '{o}' AND user_id = '{u}'"),
            vec![],
        ),
        (
            format!("INSERT INTO member_custom_roles VALUES ('{o}', '{u}', '{key}')"),
            vec![Permission::AuditRead],
        ),
    ];
    for (sql, granted) in steps {
        run(sql.clone()).execute(&mut conn).await.unwrap();
        assert_eq!(read().await, access(&granted), "after {sql}");
    }
    let flag: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM organization_members WHERE org_id = '{o}' AND holds_roles"
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(flag.n, 1, "only the member holding a role is flagged");
    // The membership removed with its roles (the cascade fires the
    // trigger on a membership already gone).
    db.service
        .remove_member(&db.admin, org.id(), user)
        .await
        .unwrap();
    assert_eq!(read().await, None);
}

#[tokio::test]
async fn concurrent_point_reads_on_shared_connections_each_get_their_own_answer() {
    let db = Db::new().await;
    let mut cases = Vec::new();
    for n in 0..6 {
        let org = db.org().await;
        let user = db.user().await.user_id();
        let role = [None, Some(OrgRole::Member), Some(OrgRole::Admin)][n % 3];
        if let Some(role) = role {
            db.service
                .add_member(&db.admin, org.id(), user, role)
                .await
                .unwrap();
        }
        // Every column distinct from the others' (metadata included), and
        // the organization as the pool's diesel statements read it: the
        // shared statements must decode the same thing.
        let patch = orgman_domain::OrganizationPatch {
            metadata: Some(serde_json::json!({ "public": n })),
            private_metadata: Some(serde_json::json!({ "private": n })),
            ..orgman_domain::OrganizationPatch::default()
        };
        db.service
            .update(&db.admin, org.id(), &patch, None)
            .await
            .unwrap();
        let org = db.store.organization(org.id()).await.unwrap().unwrap();
        cases.push((org, user, role));
    }
    // Hundreds of reads at once over the two shared connections, pipelined:
    // each must come back with its own organization and role.
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..300 {
        let (org, user, role) = cases[i % cases.len()].clone();
        let store = db.store.clone();
        reads.spawn(async move {
            let (found, found_role) = store
                .organization_with_role(org.id(), user)
                .await
                .unwrap()
                .expect("the organization");
            assert_eq!(found, org);
            assert_eq!(found_role, role.map(Access::of_role));
            assert_eq!(
                store.role_of(org.id(), user).await.unwrap(),
                role.map(Access::of_role)
            );
            let mine = store
                .organizations_of(user, PageRequest::first())
                .await
                .unwrap()
                .items;
            assert_eq!(
                mine,
                role.map(|r| (org.clone(), r))
                    .into_iter()
                    .collect::<Vec<_>>()
            );
            let found = store.user(user).await.unwrap().expect("the user");
            assert_eq!((found.id, found.subject), (user, user.to_string()));
        });
    }
    while let Some(read) = reads.join_next().await {
        read.unwrap();
    }
    let nowhere = OrganizationId::from_uuid(Uuid::now_v7());
    assert_eq!(
        db.store
            .organization_with_role(nowhere, db.admin.user_id())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_shared_connection_the_server_closed_is_replaced() {
    let db = Db::new().await;
    let org = db.org().await;
    let owner = db.admin.user_id();
    assert_eq!(
        db.store.role_of(org.id(), owner).await.unwrap(),
        Some(Access::of_role(OrgRole::Owner))
    );
    // PostgreSQL ends every other session of this database (as a restart
    // or an administrator would).
    let mut conn = db.connection().await;
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // A read may still meet the dead connection (reported unavailable,
    // never a wrong answer); the ones after it are served again.
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(db.store.role_of(org.id(), owner).await);
    }
    assert!(
        answers.iter().all(|a| matches!(
            a,
            Ok(Some(Access {
                role: OrgRole::Owner,
                ..
            })) | Err(StoreError::Unavailable(_))
        )),
        "{answers:?}"
    );
    assert_eq!(
        answers.last(),
        Some(&Ok(Some(Access::of_role(OrgRole::Owner)))),
        "{answers:?}"
    );
}

#[tokio::test]
async fn the_membership_check_is_an_index_point_lookup() {
    let db = Db::new().await;
    let mut conn = db.connection().await;
    // Enough rows that the planner prefers an index for real.
    diesel::sql_query(
        "INSERT INTO users (id, subject) SELECT gen_random_uuid(), 'bulk-' || g FROM generate_series(1, 3000) g",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO organization_members (org_id, user_id, role)
         SELECT '00000000-0000-0000-0000-00000000d3fa', id, 'MEMBER' FROM users",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();

    let plan = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            let mut conn = diesel_async::AsyncPgConnection::establish(&url)
                .await
                .unwrap();
            let lines: Vec<Line> = diesel::sql_query(sql).load(&mut conn).await.unwrap();
            lines
                .into_iter()
                .map(|l| l.plan)
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    use diesel_async::AsyncConnection as _;
    let role_of = plan(
        "EXPLAIN SELECT role FROM organization_members
         WHERE org_id = '00000000-0000-0000-0000-00000000d3fa' AND user_id = '00000000-0000-0000-0000-000000000001'",
    )
    .await;
    // A one-row index lookup on both key columns, never a scan of the table.
    assert!(!role_of.contains("Seq Scan"), "{role_of}");
    assert!(role_of.contains("Index"), "{role_of}");
    assert!(role_of.contains("rows=1 "), "{role_of}");
    assert!(
        role_of.contains("Index Cond")
            && role_of.contains("org_id =")
            && role_of.contains("user_id ="),
        "{role_of}"
    );
    let of_user = plan(
        "EXPLAIN SELECT org_id FROM organization_members
         WHERE user_id = '00000000-0000-0000-0000-000000000001' ORDER BY org_id LIMIT 51",
    )
    .await;
    assert!(
        of_user.contains("organization_members_user_idx"),
        "{of_user}"
    );
    assert!(!of_user.contains("Seq Scan"), "{of_user}");
}

#[tokio::test]
async fn users_are_provisioned_once_and_conflicts_are_typed() {
    let db = Db::new().await;
    let id = UserId::from_uuid(Uuid::now_v7());
    let profile = UserProfile {
        id,
        subject: unique_name("sub"),
        email: Some(Email::parse(&format!("{}@example.com", unique_name("u"))).unwrap()),
        display_name: Some("Ann".into()),
        given_name: None,
        family_name: None,
    };
    let first = db.store.provision(&profile).await.unwrap();
    let second = db
        .store
        .provision(&UserProfile {
            display_name: None,
            given_name: None,
            family_name: None,
            ..profile.clone()
        })
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(db.store.user(id).await.unwrap(), Some(first.clone()));
    assert_eq!(
        db.store.user_by_subject(&profile.subject).await.unwrap(),
        Some(first)
    );
    // Another subject with the same e-mail address.
    let clash = UserProfile {
        id: UserId::from_uuid(Uuid::now_v7()),
        subject: unique_name("other"),
        ..profile
    };
    assert_eq!(
        db.store.provision(&clash).await,
        Err(StoreError::Conflict(orgman_domain::Conflict::User))
    );
}

#[tokio::test]
async fn organizations_due_for_purge_are_found_and_purged_once() {
    let db = Db::new().await;
    let due = db.org().await;
    let later = db.org().await;
    for org in [&due, &later] {
        db.service
            .transition(&db.admin, org.id(), LifecycleAction::RequestDeletion)
            .await
            .unwrap();
    }
    let mut conn = db.connection().await;
    // Each holds an SSO configuration, an invitation, a domain and an API
    // key besides its owner.
    for org in [&due, &later] {
        for statement in [
            "INSERT INTO sso_configs (org_id, name, issuer_url, client_id, client_secret_enc)
             VALUES ($1, 'IdP', 'https://idp.example', 'orgman', 'sealed')",
            "INSERT INTO invitations (id, org_id, email, role, token_digest, created_at, expires_at)
             VALUES (gen_random_uuid(), $1, 'x@example.com', 'MEMBER', md5(random()::text), now(), now() + interval '1 day')",
            "INSERT INTO organization_domains (org_id, name, challenge, created_at, verified_at)
             VALUES ($1, 'x-' || md5(random()::text) || '.example', 'c', now(), now())",
            "INSERT INTO api_keys (id, org_id, name, prefix, digest, created_by, created_at)
             VALUES (gen_random_uuid(), $1, 'ci', 'orgman_x', md5(random()::text), gen_random_uuid(), now())",
        ] {
            diesel::sql_query(statement)
                .bind::<diesel::sql_types::Uuid, _>(org.id().as_uuid())
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    diesel::sql_query(
        "UPDATE organizations SET purge_after = now() - interval '1 minute' WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(due.id().as_uuid())
    .execute(&mut conn)
    .await
    .unwrap();
    let found = db
        .store
        .due_for_purge(OffsetDateTime::now_utc(), 10)
        .await
        .unwrap();
    assert_eq!(found, vec![due.id()]);
    // Two replicas purging at once purge it once.
    let (a, b) = tokio::join!(db.service.purge_due(), db.service.purge_due());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(
        db.store
            .organization(due.id())
            .await
            .unwrap()
            .unwrap()
            .status(),
        OrgStatus::Deleted
    );
    assert_eq!(
        db.store
            .organization(later.id())
            .await
            .unwrap()
            .unwrap()
            .status(),
        OrgStatus::PendingDeletion
    );
    // The purged organization's memberships, SSO configurations and API
    // keys went with it, in the same transaction; the other keeps its own; the audit
    // trail stays.
    let count = |sql: &'static str, org: OrganizationId| {
        let url = db.url.clone();
        async move {
            use diesel_async::AsyncConnection as _;
            let mut conn = diesel_async::AsyncPgConnection::establish(&url)
                .await
                .unwrap();
            diesel::sql_query(sql)
                .bind::<diesel::sql_types::Uuid, _>(org.as_uuid())
                .get_result::<Count>(&mut conn)
                .await
                .unwrap()
                .n
        }
    };
    for (org, expected) in [(due.id(), 0), (later.id(), 1)] {
        assert_eq!(
            count(
                "SELECT count(*) AS n FROM organization_members WHERE org_id = $1",
                org
            )
            .await,
            expected
        );
        for table in [
            "SELECT count(*) AS n FROM sso_configs WHERE org_id = $1",
            "SELECT count(*) AS n FROM invitations WHERE org_id = $1",
            "SELECT count(*) AS n FROM organization_domains WHERE org_id = $1",
            "SELECT count(*) AS n FROM api_keys WHERE org_id = $1",
        ] {
            assert_eq!(count(table, org).await, expected, "{table}");
        }
    }
    assert!(
        count(
            "SELECT count(*) AS n FROM audit_events WHERE org_id = $1",
            due.id()
        )
        .await
            >= 3
    );
}

#[tokio::test]
async fn retention_deletes_only_what_every_sink_settled_before_the_cutoff() {
    use orgman_domain::ports::{Outbox, OutboxSink};

    let db = Db::new().await;
    for _ in 0..3 {
        db.org().await; // two events each
    }
    let later = OffsetDateTime::now_utc() + orgman_domain::time::Duration::hours(1);
    // Nothing is settled yet: nothing goes.
    assert_eq!(
        db.store
            .prune(&[OutboxSink::Broker], later, 100)
            .await
            .unwrap(),
        0
    );
    // The broker settles four events (one dead-lettered).
    let claim = db.store.claim(OutboxSink::Broker, 4).await.unwrap();
    let positions: Vec<u64> = claim.events().iter().map(|p| p.position).collect();
    claim
        .settle(&positions[..3], &[], &[(positions[3], "too large".into())])
        .await
        .unwrap();
    // Not old enough yet.
    let earlier = OffsetDateTime::now_utc() - orgman_domain::time::Duration::hours(1);
    assert_eq!(
        db.store
            .prune(&[OutboxSink::Broker], earlier, 100)
            .await
            .unwrap(),
        0
    );
    // A sink that settled nothing keeps every event.
    assert_eq!(
        db.store
            .prune(&[OutboxSink::Broker, OutboxSink::Authorizer], later, 100)
            .await
            .unwrap(),
        0
    );
    // In batches: three, then the fourth, then nothing.
    assert_eq!(
        db.store
            .prune(&[OutboxSink::Broker], later, 3)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        db.store
            .prune(&[OutboxSink::Broker], later, 3)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.store
            .prune(&[OutboxSink::Broker], later, 3)
            .await
            .unwrap(),
        0
    );
    // The two pending events are still there, and still pending.
    let backlog = db.store.backlog(OutboxSink::Broker).await.unwrap();
    assert_eq!((backlog.pending, backlog.dead_lettered), (2, 0));
}

#[tokio::test]
async fn the_backlog_is_read_through_indexes_not_a_table_scan() {
    let db = Db::new().await;
    let mut conn = db.connection().await;
    diesel::sql_query(
        "INSERT INTO outbox (event_id, aggregate_id, event_type, payload, published_at)
         SELECT gen_random_uuid(), gen_random_uuid(), 't', '{}'::json, now()
         FROM generate_series(1, 20000)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("ANALYZE outbox")
        .execute(&mut conn)
        .await
        .unwrap();
    let lines: Vec<Line> = diesel::sql_query(
        "EXPLAIN SELECT (SELECT coalesce(sum(events), 0)::int8 FROM outbox WHERE published_at IS NULL AND dead_at IS NULL),
                (SELECT created_at FROM outbox WHERE published_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT 1),
                (SELECT coalesce(sum(events), 0)::int8 FROM outbox WHERE dead_at IS NOT NULL)",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let plan = lines
        .into_iter()
        .map(|l| l.plan)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!plan.contains("Seq Scan"), "{plan}");
    assert!(plan.contains("outbox_broker_pending_idx"), "{plan}");
    assert!(plan.contains("outbox_broker_dead_idx"), "{plan}");
}

#[tokio::test]
async fn events_in_doubt_are_those_failed_dead_or_older_than_the_grace() {
    use std::time::Duration;

    use orgman_domain::ports::{Outbox, OutboxSink};

    let db = Db::new().await;
    let org = db.org().await.id();
    let other = db.org().await.id();
    let sink = OutboxSink::Authorizer;
    let long = Duration::from_secs(3600);
    // Fresh and never tried: not in doubt yet, unless the grace is over.
    assert!(!db.store.has_undelivered(sink, org, long).await.unwrap());
    assert!(
        db.store
            .has_undelivered(sink, org, Duration::ZERO)
            .await
            .unwrap()
    );
    // One failed attempt puts the organization in doubt, not the other one.
    let claim = db.store.claim(sink, 2).await.unwrap();
    let positions: Vec<u64> = claim.events().iter().map(|p| p.position).collect();
    claim
        .settle(
            &[positions[0]],
            &[(positions[1], "unreachable".into())],
            &[],
        )
        .await
        .unwrap();
    assert!(db.store.has_undelivered(sink, org, long).await.unwrap());
    assert!(!db.store.has_undelivered(sink, other, long).await.unwrap());
    // Delivered: no longer in doubt.
    let claim = db.store.claim(sink, 1).await.unwrap();
    let position = claim.events()[0].position;
    claim.settle(&[position], &[], &[]).await.unwrap();
    assert!(!db.store.has_undelivered(sink, org, long).await.unwrap());
    // Dead-lettered stays in doubt: the authorizer never took it in.
    let claim = db.store.claim(sink, 2).await.unwrap();
    let positions: Vec<u64> = claim.events().iter().map(|p| p.position).collect();
    claim
        .settle(
            &[],
            &[],
            &[
                (positions[0], "invalid".into()),
                (positions[1], "invalid".into()),
            ],
        )
        .await
        .unwrap();
    assert!(db.store.has_undelivered(sink, other, long).await.unwrap());
}

#[tokio::test]
async fn bulk_reads_and_writes_of_a_unit_of_work_are_all_or_nothing() {
    use orgman_domain::Membership;
    let db = Db::new().await;
    let org = db.org().await;
    let ann = db.user().await.user_id();
    let bob = db.user().await.user_id();
    let ghost = UserId::from_uuid(Uuid::now_v7());
    let now = OffsetDateTime::now_utc();
    let member = |user, role| Membership {
        organization_id: org.id(),
        user_id: user,
        role,
        custom_roles: Default::default(),
        created_at: now,
        updated_at: now,
    };

    let mut uow = db.store.begin().await.unwrap();
    let mut known = uow.existing_users(&[ann, ghost, bob]).await.unwrap();
    known.sort();
    let mut expected = vec![ann, bob];
    expected.sort();
    assert_eq!(known, expected);
    assert!(uow.memberships(org.id(), &[]).await.unwrap().is_empty());
    // One unknown user refuses the whole statement.
    assert_eq!(
        uow.insert_memberships(&[member(ann, OrgRole::Member), member(ghost, OrgRole::Member)])
            .await,
        Err(StoreError::NotFound)
    );
    drop(uow);
    assert_eq!(db.store.role_of(org.id(), ann).await.unwrap(), None);

    let mut uow = db.store.begin().await.unwrap();
    uow.insert_memberships(&[member(ann, OrgRole::Member), member(bob, OrgRole::Admin)])
        .await
        .unwrap();
    let mut found: Vec<_> = uow
        .memberships(org.id(), &[ann, bob, ghost, db.admin.user_id()])
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.user_id, m.role))
        .collect();
    found.sort();
    let mut expected = vec![
        (ann, OrgRole::Member),
        (bob, OrgRole::Admin),
        (db.admin.user_id(), OrgRole::Owner),
    ];
    expected.sort();
    assert_eq!(found, expected);
    uow.commit().await.unwrap();
    assert_eq!(
        db.store.role_of(org.id(), bob).await.unwrap(),
        Some(Access::of_role(OrgRole::Admin))
    );
}

#[tokio::test]
async fn memberships_reference_existing_users_and_organizations_checked_per_statement() {
    let db = Db::new().await;
    let org = db.org().await;
    let ann = db.user().await.user_id();
    let bob = db.user().await.user_id();
    let db = &db;
    let run = |sql: String| async move {
        let mut conn = db.connection().await;
        diesel::sql_query(sql).execute(&mut conn).await
    };
    let count = |sql: String| async {
        let mut conn = db.connection().await;
        diesel::sql_query(sql)
            .get_result::<Count>(&mut conn)
            .await
            .unwrap()
            .n
    };
    let (org, ann, bob) = (org.id(), ann.as_uuid(), bob.as_uuid());
    let nowhere = Uuid::now_v7();
    // Inserts and updates naming a missing user or organization fail with
    // the foreign-key SQLSTATE, whatever the size of the statement.
    for sql in [
        format!(
            "INSERT INTO organization_members (org_id, user_id, role) VALUES ('{org}', '{nowhere}', 'MEMBER')"
        ),
        format!(
            "INSERT INTO organization_members (org_id, user_id, role) VALUES ('{nowhere}', '{ann}', 'MEMBER')"
        ),
        format!(
            "INSERT INTO organization_members (org_id, user_id, role) \
             SELECT '{org}', u, 'MEMBER' FROM unnest(ARRAY['{ann}', '{nowhere}']::uuid[]) u"
        ),
    ] {
        let error = run(sql.clone()).await.expect_err(&sql);
        assert!(
            matches!(
                error,
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _
                )
            ),
            "{sql}: {error}"
        );
    }
    run(format!(
        "INSERT INTO organization_members (org_id, user_id, role) VALUES ('{org}', '{ann}', 'MEMBER'), ('{org}', '{bob}', 'MEMBER')"
    ))
    .await
    .unwrap();
    assert!(
        run(format!(
            "UPDATE organization_members SET user_id = '{nowhere}' WHERE org_id = '{org}' AND user_id = '{ann}'"
        ))
        .await
        .is_err()
    );
    run(format!(
        "UPDATE organization_members SET role = 'ADMIN' WHERE org_id = '{org}' AND user_id = '{ann}'"
    ))
    .await
    .unwrap();
    // Deleting a user or an organization (orgman never does) takes its
    // memberships along, as the foreign keys' ON DELETE CASCADE did.
    run(format!("DELETE FROM users WHERE id = '{bob}'"))
        .await
        .unwrap();
    let members = format!("SELECT count(*) AS n FROM organization_members WHERE org_id = '{org}'");
    assert_eq!(count(members.clone()).await, 2, "the owner and ann stay");
    run(format!("DELETE FROM organizations WHERE id = '{org}'"))
        .await
        .unwrap();
    assert_eq!(count(members).await, 0);
    assert_eq!(
        count(format!(
            "SELECT count(*) AS n FROM organization_members WHERE user_id = '{ann}'"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn audit_rows_are_the_events_as_stored_and_a_store_without_an_authorizer_sink_settles_it_at_birth()
 {
    use orgman_domain::ports::{Outbox, OutboxSink};
    use orgman_domain::{DomainEvent, EventId, EventKind, RequestId};

    #[derive(QueryableByName, Debug)]
    struct Audit {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
        actor_id: Option<Uuid>,
        #[diesel(sql_type = Text)]
        actor_kind: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
        request_id: Option<Uuid>,
        #[diesel(sql_type = Text)]
        action: String,
        #[diesel(sql_type = Text)]
        details: String,
        #[diesel(sql_type = BigInt)]
        micros: i64,
    }

    let db = Db::new().await;
    let org = db.org().await;
    let ann = db.user().await.user_id();
    let occurred_at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let event = |actor: Option<(Uuid, orgman_domain::ActorKind)>, request| DomainEvent {
        id: EventId::from_uuid(Uuid::now_v7()),
        occurred_at,
        organization_id: org.id(),
        actor: actor.map(|(id, _)| id),
        actor_kind: actor.map(|(_, kind)| kind).unwrap_or_default(),
        request_id: request,
        schema_version: DomainEvent::SCHEMA_VERSION,
        kind: EventKind::MemberAdded {
            user_id: ann,
            role: OrgRole::Admin,
        },
    };
    let request = RequestId::from_uuid(Uuid::now_v7());
    // A non-human actor: its kind is stored and read back with its id.
    let key = Uuid::now_v7();
    let with_actor = event(Some((key, orgman_domain::ActorKind::ApiKey)), Some(request));
    let without = event(None, None);
    let append = |store: orgman_postgres::PgStore, events: Vec<DomainEvent>| async move {
        let mut uow = store.begin().await.unwrap();
        uow.append_events(&events).await.unwrap();
        uow.commit().await.unwrap();
    };
    let authz_before = db
        .store
        .backlog(OutboxSink::Authorizer)
        .await
        .unwrap()
        .pending;
    let broker_before = db.store.backlog(OutboxSink::Broker).await.unwrap().pending;
    append(db.store.clone(), vec![with_actor.clone()]).await;
    let lean =
        orgman_postgres::PgStore::connect(&orgman_postgres::PgSettings::from_url(&db.url).unwrap())
            .unwrap()
            .without_authorizer_sink();
    append(lean, vec![without.clone()]).await;
    assert_eq!(
        db.store.backlog(OutboxSink::Broker).await.unwrap().pending,
        broker_before + 2
    );
    assert_eq!(
        db.store
            .backlog(OutboxSink::Authorizer)
            .await
            .unwrap()
            .pending,
        authz_before + 1,
        "only the usual store's event waits for an authorizer"
    );

    let mut conn = db.connection().await;
    let read = |id: EventId| {
        diesel::sql_query(
            "SELECT actor_id, actor_kind, request_id, action, details::text AS details,
                    (extract(epoch FROM occurred_at) * 1000000)::bigint AS micros
             FROM audit_events WHERE id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(id.as_uuid())
    };
    let audit: Audit = read(with_actor.id).get_result(&mut conn).await.unwrap();
    assert_eq!(audit.actor_id, Some(key));
    assert_eq!(audit.actor_kind, "apiKey");
    assert_eq!(audit.request_id, Some(request.as_uuid()));
    assert_eq!(audit.action, "organization.member.added");
    assert_eq!(audit.micros, 1_800_000_000 * 1_000_000);
    let details: serde_json::Value = serde_json::from_str(&audit.details).unwrap();
    assert_eq!(details["userId"], ann.to_string());
    assert_eq!(details["role"], "ADMIN");
    let audit: Audit = read(without.id).get_result(&mut conn).await.unwrap();
    assert_eq!((audit.actor_id, audit.request_id), (None, None));
    assert_eq!(
        audit.actor_kind, "user",
        "the service's own changes read as before"
    );
}

#[tokio::test]
async fn concurrent_additions_never_pass_the_member_limit() {
    let db = Db::new().await;
    let org = db.org().await.id();
    let limited = db
        .service
        .set_member_limit(&db.admin, org, Some(4))
        .await
        .unwrap();
    assert_eq!(
        db.store
            .organization(org)
            .await
            .unwrap()
            .unwrap()
            .max_members(),
        Some(4)
    );
    assert_eq!(limited.max_members(), Some(4));
    let mut users = Vec::new();
    for _ in 0..12 {
        users.push(db.user().await.user_id());
    }
    let service = std::sync::Arc::new(support::service(&db.store));
    let admin = db.admin;
    let attempts: Vec<_> = users
        .iter()
        .map(|&user| {
            let (service, admin) = (service.clone(), admin.clone());
            tokio::spawn(
                async move { service.add_member(&admin, org, user, OrgRole::Member).await },
            )
        })
        .collect();
    let mut added = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => added += 1,
            Err(error) => assert_eq!(error, OrgError::MemberLimitReached { max: 4 }),
        }
    }
    // The owner and three more.
    assert_eq!(added, 3);
    let members = db
        .store
        .members(org, PageRequest::new(None, 100))
        .await
        .unwrap();
    assert_eq!(members.items.len(), 4);
}

#[tokio::test]
async fn a_saml_configuration_reads_back_as_written_and_changes_only_if_unchanged_meanwhile() {
    use orgman_domain::ports::SsoConfigRepository;
    use orgman_domain::{
        MetadataUrl, SamlAttributes, SamlConnection, SamlIdp, SigningCertificate, SsoConfig,
        SsoConfigId, SsoConnection,
    };
    let db = Db::new().await;
    let org = db.org().await.id();
    let now =
        OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let certificate = |n: i64| SigningCertificate {
        base64: format!("MII{n}"),
        sha256: format!("{n:064x}"),
        subject: "CN=idp".into(),
        not_before: now - orgman_domain::time::Duration::days(n),
        not_after: now + orgman_domain::time::Duration::days(n),
    };
    let config = SsoConfig {
        id: SsoConfigId::from_uuid(Uuid::now_v7()),
        organization: Some(org),
        name: "Corp SAML".into(),
        connection: SsoConnection::Saml(SamlConnection {
            metadata_url: Some(
                MetadataUrl::parse("https://idp.example/metadata?app=1", false).unwrap(),
            ),
            idp: SamlIdp {
                entity_id: "urn:idp.example".into(),
                sso_url: "https://idp.example/sso".into(),
                post_binding: true,
                certificates: vec![certificate(10), certificate(400)],
                name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
                wants_signed_requests: false,
                offered_attributes: vec!["mail".into()],
                slo_url: Some("https://idp.example/slo".into()),
            },
            attributes: SamlAttributes {
                email: "mail".into(),
                first_name: "givenName".into(),
                last_name: "sn".into(),
            },
            announced: vec![format!("{:064x}", 10)],
        }),
        enabled: true,
        auto_provision: false,
        created_at: now,
        updated_at: now,
    };
    db.store.insert(&config, &[]).await.unwrap();
    assert_eq!(db.store.get(config.id).await.unwrap(), Some(config.clone()));

    let mut later = config.clone();
    later.name = "Corp SAML, renamed".into();
    later.updated_at = now + orgman_domain::time::Duration::seconds(5);
    assert!(
        db.store
            .update_unless_changed(&later, now, &[])
            .await
            .unwrap()
    );
    let mut stale = config.clone();
    stale.name = "a replica that read it before".into();
    assert!(
        !db.store
            .update_unless_changed(&stale, now, &[])
            .await
            .unwrap(),
        "changed meanwhile: not written"
    );
    assert_eq!(db.store.get(config.id).await.unwrap(), Some(later));
}

#[tokio::test]
async fn sso_changes_and_their_events_commit_together() {
    use orgman_domain::ports::SsoConfigRepository;
    use orgman_domain::{DomainEvent, EventId, EventKind, IssuerUrl, SsoConfig, SsoConfigId};
    let db = Db::new().await;
    let org = db.org().await.id();
    let now = OffsetDateTime::now_utc();
    let config = SsoConfig {
        id: SsoConfigId::from_uuid(Uuid::now_v7()),
        organization: Some(org),
        name: "Corp".into(),
        connection: orgman_domain::SsoConnection::Oidc(orgman_domain::OidcConnection {
            issuer_url: IssuerUrl::parse("https://idp.example", false).unwrap(),
            client_id: "orgman".into(),
            client_secret_enc: "sealed".into(),
        }),
        enabled: true,
        auto_provision: true,
        created_at: now,
        updated_at: now,
    };
    let event = |kind| DomainEvent {
        id: EventId::from_uuid(Uuid::now_v7()),
        occurred_at: now,
        organization_id: org,
        actor: Some(db.admin.user_id().as_uuid()),
        actor_kind: orgman_domain::ActorKind::User,
        request_id: None,
        schema_version: DomainEvent::SCHEMA_VERSION,
        kind,
    };
    let deleted = |id| EventKind::SsoConfigDeleted { config_id: id };
    let count = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            let mut conn =
                <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&url)
                    .await
                    .unwrap();
            diesel::sql_query(sql)
                .get_result::<Count>(&mut conn)
                .await
                .unwrap()
                .n
        }
    };
    let audited =
        "SELECT count(*) AS n FROM audit_events WHERE action LIKE 'organization.sso-config.%'";

    db.store
        .insert(&config, &[event(deleted(config.id))])
        .await
        .unwrap();
    assert_eq!(count(audited).await, 1);
    // A configuration that is not there: no change, no event.
    let ghost = SsoConfigId::from_uuid(Uuid::now_v7());
    assert!(
        !db.store
            .delete(ghost, &[event(deleted(ghost))])
            .await
            .unwrap()
    );
    let mut gone = config.clone();
    gone.id = ghost;
    assert_eq!(
        db.store.update(&gone, &[event(deleted(ghost))]).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(count(audited).await, 1);
    // One event refused by the outbox (a duplicate id) undoes the change.
    let duplicate = event(deleted(config.id));
    assert!(
        db.store
            .delete(config.id, &[duplicate.clone(), duplicate])
            .await
            .is_err()
    );
    assert!(db.store.get(config.id).await.unwrap().is_some());
    assert!(
        db.store
            .delete(config.id, &[event(deleted(config.id))])
            .await
            .unwrap()
    );
    assert_eq!(count(audited).await, 2);
}

#[tokio::test]
async fn one_domain_is_verified_by_one_organization_even_when_two_race() {
    use orgman_domain::{Conflict, DomainName, OrgDomain};
    let db = Db::new().await;
    let (a, b) = (db.org().await.id(), db.org().await.id());
    let now = OffsetDateTime::now_utc();
    let claim = move |org| OrgDomain {
        organization_id: org,
        name: DomainName::parse("race.example").unwrap(),
        challenge: format!("orgman-verification={}", Uuid::now_v7().simple()),
        created_at: now,
        verified_at: None,
        policy: Default::default(),
    };
    for org in [a, b] {
        let mut uow = db.store.begin().await.unwrap();
        uow.insert_domain(&claim(org)).await.unwrap();
        uow.commit().await.unwrap();
    }
    let verified = move |org| OrgDomain {
        verified_at: Some(now),
        ..claim(org)
    };
    // The first marks it and holds its transaction open; the second waits
    // on the unique index, then fails once the first commits.
    let mut first = db.store.begin().await.unwrap();
    first.mark_domain_verified(&verified(a)).await.unwrap();
    let store = db.store.clone();
    let second = tokio::spawn(async move {
        let mut uow = store.begin().await.unwrap();
        let outcome = uow.mark_domain_verified(&verified(b)).await;
        if outcome.is_ok() {
            uow.commit().await.unwrap();
        }
        outcome
    });
    // Not a guess: the second transaction is seen waiting for a lock in
    // this test's database before the first commits.
    orgman_testkit::eventually(
        "the second transaction waits on the first",
        std::time::Duration::from_secs(10),
        || async {
            let mut watcher = db.connection().await;
            diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .get_result::<Count>(&mut watcher)
            .await
            .unwrap()
            .n == 1
        },
    )
    .await;
    first.commit().await.unwrap();
    assert!(matches!(
        second.await.unwrap(),
        Err(StoreError::Conflict(Conflict::Other(_)))
    ));
    let mut uow = db.store.begin().await.unwrap();
    let name = DomainName::parse("race.example").unwrap();
    assert!(
        uow.domain(a, &name)
            .await
            .unwrap()
            .unwrap()
            .verified_at
            .is_some()
    );
    assert!(
        uow.domain(b, &name)
            .await
            .unwrap()
            .unwrap()
            .verified_at
            .is_none()
    );
}

#[tokio::test]
async fn domain_policies_and_users_created_in_a_unit_of_work() {
    use orgman_domain::ports::DomainQueries;
    use orgman_domain::{
        Conflict, DomainName, DomainPolicy, Email, OrgDomain, UserId, UserProfile,
    };
    let db = Db::new().await;
    let org = db.org().await.id();
    let name = DomainName::parse("policy.example").unwrap();
    let now = OffsetDateTime::now_utc();
    let mut claim = OrgDomain {
        organization_id: org,
        name: name.clone(),
        challenge: "orgman-verification=x".into(),
        created_at: now,
        verified_at: None,
        policy: DomainPolicy::default(),
    };
    let mut uow = db.store.begin().await.unwrap();
    uow.insert_domain(&claim).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(db.store.verified_domain(&name).await.unwrap(), None);

    // The schema refuses policies on a claim not verified.
    claim.policy.auto_join = true;
    let mut uow = db.store.begin().await.unwrap();
    assert!(uow.update_domain_policy(&claim).await.is_err());
    drop(uow);

    claim.verified_at = Some(now);
    claim.policy = DomainPolicy {
        auto_join: true,
        sso_required: true,
    };
    let mut uow = db.store.begin().await.unwrap();
    uow.mark_domain_verified(&claim).await.unwrap();
    uow.update_domain_policy(&claim).await.unwrap();
    uow.commit().await.unwrap();
    let found = db.store.verified_domain(&name).await.unwrap().unwrap();
    assert_eq!(found.organization_id, org);
    assert_eq!(found.policy, claim.policy);
    let mut gone = claim.clone();
    gone.name = DomainName::parse("gone.example").unwrap();
    let mut uow = db.store.begin().await.unwrap();
    assert!(matches!(
        uow.update_domain_policy(&gone).await,
        Err(StoreError::NotFound)
    ));
    drop(uow);

    // A user created inside a unit of work exists once it commits, once.
    let subject = unique_name("uow-user");
    let profile = UserProfile {
        id: UserId::from_uuid(Uuid::now_v7()),
        subject: subject.clone(),
        email: Some(Email::parse(&format!("{subject}@policy.example")).unwrap()),
        display_name: None,
        given_name: None,
        family_name: None,
    };
    let mut uow = db.store.begin().await.unwrap();
    assert!(uow.insert_user_if_new(&profile).await.unwrap());
    assert!(!uow.insert_user_if_new(&profile).await.unwrap());
    drop(uow);
    assert_eq!(
        db.store.user(profile.id).await.unwrap(),
        None,
        "rolled back"
    );
    let mut uow = db.store.begin().await.unwrap();
    assert!(uow.insert_user_if_new(&profile).await.unwrap());
    uow.commit().await.unwrap();
    assert!(db.store.user(profile.id).await.unwrap().is_some());
    // Another subject with the same address: a conflict on users.
    let clash = UserProfile {
        id: UserId::from_uuid(Uuid::now_v7()),
        subject: unique_name("uow-clash"),
        ..profile.clone()
    };
    let mut uow = db.store.begin().await.unwrap();
    assert!(matches!(
        uow.insert_user_if_new(&clash).await,
        Err(StoreError::Conflict(Conflict::User))
    ));
}

#[tokio::test]
async fn metadata_is_stored_as_json_objects_and_a_redacted_organization_is_refused() {
    use orgman_domain::{Metadata, MetadataKind, OrganizationPatch};
    let db = Db::new().await;
    let org = db.org().await;
    let patch = OrganizationPatch {
        metadata: Some(serde_json::json!({"plan": "gold", "n": [1, 2]})),
        private_metadata: Some(serde_json::json!({"crm": {"id": 42}})),
        ..OrganizationPatch::default()
    };
    db.service
        .update(&db.admin, org.id(), &patch, None)
        .await
        .unwrap();
    let stored = db.store.organization(org.id()).await.unwrap().unwrap();
    assert_eq!(
        stored.metadata(),
        &Metadata::parse(
            MetadataKind::Public,
            serde_json::json!({"n": [1, 2], "plan": "gold"})
        )
        .unwrap()
    );
    assert_eq!(
        stored.private_metadata(),
        Some(
            &Metadata::parse(
                MetadataKind::Private,
                serde_json::json!({"crm": {"id": 42}})
            )
            .unwrap()
        )
    );
    // Numbers at the ends of f64's range come back as they went in, though
    // jsonb prints them in full (`-179769313486231570000…`, 309 digits).
    let extremes = serde_json::json!({
        "max": f64::MAX, "min": f64::MIN, "tiny": 5e-324, "small": 1.330097872626748e-76,
        "big": 5.005870571078346e223, "huge": 123_456_789_012_345_678_901_234_567_890.0,
    });
    let patch = OrganizationPatch {
        metadata: Some(extremes.clone()),
        ..OrganizationPatch::default()
    };
    db.service
        .update(&db.admin, org.id(), &patch, None)
        .await
        .unwrap();
    let stored = db.store.organization(org.id()).await.unwrap().unwrap();
    let numbers = stored.metadata().as_map();
    for (name, value) in extremes.as_object().unwrap() {
        assert_eq!(numbers[name].as_f64(), value.as_f64(), "{name}");
    }
    // The schema refuses anything but objects.
    let mut conn = db.connection().await;
    let refused = diesel::sql_query(format!(
        "UPDATE organizations SET metadata = '[1]' WHERE id = '{}'",
        org.id()
    ))
    .execute(&mut conn)
    .await;
    assert!(refused.is_err());
    // A redacted organization (as a reader without the permission sees
    // it) is never written back.
    let mut uow = db.store.begin().await.unwrap();
    let locked = uow.lock_organization(org.id()).await.unwrap().unwrap();
    assert!(matches!(
        uow.update_organization(&stored.clone().redacted(), locked.version())
            .await,
        Err(StoreError::Other(_))
    ));
}

#[tokio::test]
async fn a_run_of_events_shares_outbox_rows_claimed_as_events_and_settled_per_row() {
    use orgman_domain::ports::{Outbox, OutboxSink};
    use orgman_domain::{DomainEvent, EventId, EventKind};

    #[derive(QueryableByName, Debug)]
    struct Events {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        events: i32,
    }

    let db = Db::new().await;
    let org = db.org().await; // two lone events: created, owner added
    let other = db.org().await.id();
    let event = |organization_id, kind| DomainEvent {
        id: EventId::from_uuid(Uuid::now_v7()),
        occurred_at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        organization_id,
        actor: Some(db.admin.user_id().as_uuid()),
        actor_kind: orgman_domain::ActorKind::User,
        request_id: None,
        schema_version: DomainEvent::SCHEMA_VERSION,
        kind,
    };
    let added = |n: u128| EventKind::MemberAdded {
        user_id: UserId::from_uuid(Uuid::from_u128(n + 1)),
        role: OrgRole::Member,
    };
    // 1,200 additions, a lone event of another organization, then two
    // more additions: runs break on the organization and at 500 events.
    let mut events: Vec<DomainEvent> = (0..1200).map(|n| event(org.id(), added(n))).collect();
    events.push(event(other, added(5000)));
    events.extend((1200..1202).map(|n| event(org.id(), added(n))));
    let mut uow = db.store.begin().await.unwrap();
    uow.append_events(&events).await.unwrap();
    uow.commit().await.unwrap();

    let mut conn = db.connection().await;
    let rows: Vec<Events> = diesel::sql_query("SELECT events FROM outbox ORDER BY seq")
        .load(&mut conn)
        .await
        .unwrap();
    let rows: Vec<i32> = rows.into_iter().map(|r| r.events).collect();
    assert_eq!(rows, [1, 1, 1, 1, 500, 500, 200, 1, 2]);
    let audited: Count = diesel::sql_query("SELECT count(*) AS n FROM audit_events")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(audited.n, 4 + 1203, "one audit row per event");
    // Each audit row is its own event's, with its row's organization.
    let ids: Vec<String> = events.iter().map(|e| format!("'{}'", e.id)).collect();
    let matching: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM audit_events a
         WHERE a.id IN ({}) AND a.actor_id = '{}'
           AND a.org_id = CASE WHEN a.details->>'userId' = '{}' THEN '{other}'::uuid ELSE '{}'::uuid END",
        ids.join(","),
        db.admin.user_id(),
        Uuid::from_u128(5001),
        org.id()
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(matching.n, 1203);
    // The view shows one row per event, in order, with its id.
    let ids: Vec<Line> = diesel::sql_query(
        "SELECT event_id::text AS \"QUERY PLAN\" FROM outbox_events ORDER BY seq, index_in_row",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let ids: Vec<String> = ids.into_iter().skip(4).map(|l| l.plan).collect();
    let expected: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, expected);

    let sink = OutboxSink::Broker;
    assert_eq!(db.store.backlog(sink).await.unwrap().pending, 4 + 1203);
    // A limit of 600 events: whole rows while fewer than 600 came before,
    // so the four lone events and two rows of 500.
    let claim = db.store.claim(sink, 600).await.unwrap();
    let claimed: Vec<DomainEvent> = claim.events().iter().map(|p| p.event.clone()).collect();
    assert_eq!(claimed.len(), 4 + 1000);
    assert_eq!(claimed[4..], events[..1000]);
    let positions: Vec<u64> = claim.events().iter().map(|p| p.position).collect();
    assert_eq!(
        positions[4], positions[503],
        "a row's events share its position"
    );
    assert_ne!(positions[503], positions[504]);
    // One event of the second row fails: that row stays pending as a
    // whole, the others are done.
    let failed = positions[4 + 700];
    let delivered: Vec<u64> = positions
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| *i != 4 + 700)
        .map(|(_, p)| p)
        .collect();
    claim
        .settle(&delivered, &[(failed, "broker down".into())], &[])
        .await
        .unwrap();
    let backlog = db.store.backlog(sink).await.unwrap();
    assert_eq!(backlog.pending, 500 + 200 + 1 + 2);

    // Next claim: the second row again (one attempt counted, once), then
    // the rest.
    let claim = db.store.claim(sink, 2000).await.unwrap();
    let claimed: Vec<DomainEvent> = claim.events().iter().map(|p| p.event.clone()).collect();
    assert_eq!(claimed[..700], events[500..1200]);
    assert_eq!(claimed[700..], events[1200..]);
    let attempts: Vec<u32> = claim.events().iter().map(|p| p.attempts).collect();
    assert!(
        attempts[..500].iter().all(|a| *a == 1),
        "{:?}",
        &attempts[..3]
    );
    assert!(attempts[500..].iter().all(|a| *a == 0));
    // A dead event dead-letters its row; the lone event and the last row
    // are delivered.
    let positions: Vec<u64> = claim.events().iter().map(|p| p.position).collect();
    let delivered: Vec<u64> = positions[..600]
        .iter()
        .chain(&positions[700..])
        .copied()
        .collect();
    claim
        .settle(&delivered, &[], &[(positions[600], "refused".into())])
        .await
        .unwrap();
    let backlog = db.store.backlog(sink).await.unwrap();
    assert_eq!((backlog.pending, backlog.dead_lettered), (0, 200));
}

fn added_outcomes(count: usize) -> Vec<orgman_domain::ImportOutcome> {
    (0..count)
        .map(|_| orgman_domain::ImportOutcome::Added)
        .collect()
}

/// Users provisioned for an import, as entries with one role.
async fn import_entries(db: &Db, count: usize) -> Vec<orgman_domain::ImportEntry> {
    let mut entries = Vec::new();
    for _ in 0..count {
        entries.push(orgman_domain::ImportEntry::new(
            db.user().await.user_id(),
            OrgRole::Member,
        ));
    }
    entries
}

#[tokio::test]
async fn import_chunks_staged_side_by_side_commit_in_staging_order() {
    use orgman_domain::MemberImport;

    let db = Db::new().await;
    let org = db.org().await.id();
    let entries = import_entries(&db, 6).await;
    let (first, second) = entries.split_at(3);
    assert!(!MemberImport::overlap(first, second));
    assert!(MemberImport::overlap(first, &entries[2..4]));
    let import = db.service.start_import(&db.admin, org).await.unwrap();
    // Both staged at once: the organization's lock is shared between them
    // (under an exclusive one the second would wait for the first's commit
    // and this would time out).
    let (staged_first, staged_second) =
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            tokio::join!(import.stage(first), import.stage(second))
        })
        .await
        .expect("two chunks staged side by side");
    let (staged_first, staged_second) = (staged_first.unwrap(), staged_second.unwrap());
    assert_eq!(staged_second.outcomes(), added_outcomes(3));
    // Out of turn: refused and abandoned, nothing of it written.
    assert!(matches!(
        import.commit(staged_second).await,
        Err(OrgError::Internal(_))
    ));
    assert_eq!(
        import.commit(staged_first).await.unwrap(),
        added_outcomes(3)
    );
    // The abandoned chunk holds nothing back: staged again, it commits.
    assert_eq!(import.apply(second).await.unwrap(), added_outcomes(3));
    assert_eq!(import.totals().chunks, 2);
    assert_eq!(import.totals().added, 6);

    // Staged side by side and committed in turn, the events keep the
    // staging order.
    let more = import_entries(&db, 4).await;
    let (third, fourth) = more.split_at(2);
    let (staged_third, staged_fourth) = tokio::join!(import.stage(third), import.stage(fourth));
    let (staged_third, staged_fourth) = (staged_third.unwrap(), staged_fourth.unwrap());
    import.commit(staged_third).await.unwrap();
    import.commit(staged_fourth).await.unwrap();
    let mut conn = db.connection().await;
    let added: Vec<Line> = diesel::sql_query(format!(
        "SELECT payload->'kind'->>'userId' AS \"QUERY PLAN\" FROM outbox_events
         WHERE aggregate_id = '{org}' AND event_type = 'organization.member.added'
         ORDER BY seq, index_in_row"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let added: Vec<String> = added.into_iter().skip(1).map(|l| l.plan).collect();
    let expected: Vec<String> = entries
        .iter()
        .chain(&more)
        .map(|e| e.user.to_string())
        .collect();
    assert_eq!(added, expected, "the owner's event, then the file's order");
}

#[tokio::test]
async fn with_a_member_limit_chunks_staged_side_by_side_take_turns_and_keep_it() {
    use orgman_domain::ImportOutcome;

    let db = Db::new().await;
    let org = db.org().await.id();
    db.service
        .set_member_limit(&db.admin, org, Some(5))
        .await
        .unwrap();
    let entries = import_entries(&db, 6).await;
    let (first, second) = entries.split_at(3);
    let import = db.service.start_import(&db.admin, org).await.unwrap();
    // While the first chunk is staged, the second cannot be: the room left
    // is counted under the exclusive lock. (Under a shared one it would be
    // staged at once, counting the room the first chunk also counted.)
    let staged_first = import.stage(first).await.unwrap();
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), import.stage(second))
            .await
            .is_err(),
        "the second chunk waits for the first"
    );
    // The cancelled attempt holds nothing back.
    assert_eq!(
        import.commit(staged_first).await.unwrap(),
        added_outcomes(3)
    );
    let outcomes = import.apply(second).await.unwrap();
    assert_eq!(
        outcomes,
        [
            ImportOutcome::Added,
            ImportOutcome::Failed(OrgError::MemberLimitReached { max: 5 }),
            ImportOutcome::Failed(OrgError::MemberLimitReached { max: 5 }),
        ]
    );
    let members = db
        .store
        .members(org, PageRequest::new(None, 100))
        .await
        .unwrap();
    assert_eq!(members.items.len(), 5, "the owner and four more");
}

/// `published_at` is when the relay recorded the delivery, after the sink
/// acknowledged it, not when the claim began; and events taken out of a
/// claim are still settled by their positions.
#[tokio::test]
async fn a_delivery_is_recorded_at_the_time_the_sink_acknowledged_it() {
    use orgman_domain::ports::{Outbox, OutboxSink};

    #[derive(QueryableByName)]
    struct Gap {
        #[diesel(sql_type = diesel::sql_types::Double)]
        ms: f64,
    }

    let db = Db::new().await;
    let org = db.org().await; // created, owner added
    let mut conn = db.connection().await;
    diesel::sql_query("CREATE TEMP TABLE claimed_at AS SELECT clock_timestamp() AS t")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut claim = db.store.claim(OutboxSink::Broker, 10).await.unwrap();
    let taken = claim.take_events();
    assert_eq!(taken.len(), 2);
    assert!(taken.iter().all(|p| p.event.organization_id == org.id()));
    assert!(
        claim.events().is_empty(),
        "the events moved out of the claim"
    );
    // The sink takes its time to acknowledge: a fixed time on purpose,
    // since the test asserts the record is at least this much later.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let positions: Vec<u64> = taken.iter().map(|p| p.position).collect();
    claim.settle(&positions, &[], &[]).await.unwrap();
    assert_eq!(
        db.store.backlog(OutboxSink::Broker).await.unwrap().pending,
        0
    );
    let gaps: Vec<Gap> = diesel::sql_query(
        "SELECT 1000 * extract(epoch FROM o.published_at - c.t)::float8 AS ms
         FROM outbox o, claimed_at c",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(gaps.len(), 2);
    for gap in gaps {
        assert!(
            gap.ms >= 300.0,
            "published {:.1} ms after the claim began, before the sink acknowledged",
            gap.ms
        );
    }
}

/// The organization's sign-in rule is read with it, and kept in step with
/// its domains and SSO configurations by the database itself, whoever
/// writes them.
#[tokio::test]
async fn an_organizations_sign_in_rule_follows_its_domains_and_configurations() {
    use diesel_async::RunQueryDsl;
    use orgman_domain::ports::{MembershipQueries, OrganizationRepository};
    let db = Db::new().await;
    let org = db.org().await;
    let other = db.org().await;
    let mut conn = db.connection().await;
    let mut run = async |sql: String| {
        diesel::sql_query(sql).execute(&mut conn).await.unwrap();
    };
    let (id, other_id) = (org.id(), other.id());
    let config = orgman_domain::uuid::Uuid::now_v7();
    run(format!(
        "INSERT INTO organization_domains (org_id, name, challenge, created_at, verified_at, sso_required)
         VALUES ('{id}', 'acme.example', 'x', now(), now(), true),
                ('{id}', 'pending.example', 'x', now(), NULL, false),
                ('{id}', 'open.example', 'x', now(), now(), false)"
    ))
    .await;
    run(format!(
        "INSERT INTO sso_configs (id, org_id, name, issuer_url, client_id, client_secret_enc, enabled, auto_provision, created_at, updated_at)
         VALUES ('{config}', '{id}', 'Acme', 'https://login.acme.example', 'c', 'x', true, false, now(), now())"
    ))
    .await;
    let read = async || db.store.organization(id).await.unwrap().unwrap();
    let policy = read().await.sso_login().clone();
    assert_eq!(policy.required_domains(), ["acme.example".to_owned()]);
    assert_eq!(
        policy.providers(),
        [orgman_domain::SsoConfigId::from_uuid(config)]
    );
    // The statement of the hot path reads the same.
    let (with_role, _) = db
        .store
        .organization_with_role(id, db.admin.user_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with_role.sso_login(), &policy);
    // Another organization is untouched.
    assert!(
        db.store
            .organization(other_id)
            .await
            .unwrap()
            .unwrap()
            .sso_login()
            == &orgman_domain::SsoLoginPolicy::default()
    );

    run(format!(
        "UPDATE sso_configs SET enabled = false WHERE id = '{config}'"
    ))
    .await;
    run("UPDATE organization_domains SET sso_required = true WHERE name = 'open.example'".into())
        .await;
    let policy = read().await.sso_login().clone();
    assert_eq!(
        policy.required_domains(),
        ["acme.example".to_owned(), "open.example".to_owned()]
    );
    assert!(policy.providers().is_empty());

    run(format!(
        "DELETE FROM organization_domains WHERE org_id = '{id}'"
    ))
    .await;
    assert!(read().await.sso_login().required_domains().is_empty());
}

#[tokio::test]
async fn membership_events_wait_for_the_mirror_only_where_an_sso_configuration_links_members() {
    use orgman_domain::ports::SsoConfigRepository;
    use orgman_domain::{
        IssuerUrl, OidcConnection, OrganizationMirror, SsoConfig, SsoConfigId, SsoConnection,
    };
    let db = Db::new().await;
    let store =
        orgman_postgres::PgStore::connect(&orgman_postgres::PgSettings::from_url(&db.url).unwrap())
            .unwrap()
            .with_organization_mirror_sink(OrganizationMirror::EVENT_TYPES)
            .with_linked_member_mirroring(OrganizationMirror::MEMBER_EVENT_TYPES);
    let service = support::service(&store);
    let create = |name: &str| {
        service.create(
            &db.admin,
            OrgName::parse("Mirrored").unwrap(),
            Slug::parse(&unique_name(name)).unwrap(),
        )
    };
    let unlinked = create("unlinked").await.unwrap().id();
    let linked = create("linked").await.unwrap().id();
    let now = OffsetDateTime::now_utc();
    store
        .insert(
            &SsoConfig {
                id: SsoConfigId::from_uuid(Uuid::now_v7()),
                organization: Some(linked),
                name: "Corp".into(),
                connection: SsoConnection::Oidc(OidcConnection {
                    issuer_url: IssuerUrl::parse("https://idp.example", false).unwrap(),
                    client_id: "orgman".into(),
                    client_secret_enc: "sealed".into(),
                }),
                enabled: true,
                auto_provision: false,
                created_at: now,
                updated_at: now,
            },
            &[],
        )
        .await
        .unwrap();
    for org in [unlinked, linked] {
        let ann = db.user().await;
        service
            .add_member(&db.admin, org, ann.user_id(), OrgRole::Member)
            .await
            .unwrap();
        service
            .remove_member(&db.admin, org, ann.user_id())
            .await
            .unwrap();
    }
    let mut conn = db.connection().await;
    let mut pending = async |org: orgman_domain::OrganizationId, kinds: &str| {
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM outbox WHERE aggregate_id = '{org}' \
             AND event_type LIKE '{kinds}' AND mirror_synced_at IS NULL"
        ))
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
    };
    // Without a configuration the mirror has nothing to do for members;
    // the organization's own events still wait for it.
    assert_eq!(pending(unlinked, "organization.member.%").await, 0);
    assert_eq!(pending(unlinked, "organization.created").await, 1);
    // With one, the member added and removed after it wait (the owner was
    // added before it: its copy comes with the configuration's).
    assert_eq!(pending(linked, "organization.member.%").await, 2);
}
