//! `migrate`: against an empty database, an up-to-date one, twice in a row,
//! down and redo, and from two migrators at once.

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use orgman_postgres::migrate::{MIGRATIONS, MigrationError, Migrator};
use orgman_testkit::Stack;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(url: &str, sql: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn up_down_redo_on_empty_and_current_databases() {
    let url = Stack::get().fresh_database().await;
    let mut migrator = Migrator::connect(&url).await.unwrap();
    assert!(migrator.status().await.unwrap().iter().all(|m| !m.applied));

    let applied = migrator.up().await.unwrap();
    assert_eq!(applied.len(), MIGRATIONS.len());
    assert!(migrator.status().await.unwrap().iter().all(|m| m.applied));
    // Up to date: nothing to do, twice.
    assert!(migrator.up().await.unwrap().is_empty());
    assert!(migrator.up().await.unwrap().is_empty());
    // The reference's Default organization is there.
    assert_eq!(
        count(
            &url,
            "SELECT count(*) AS n FROM organizations WHERE slug = 'default'"
        )
        .await,
        1
    );

    let reverted = migrator.down(1).await.unwrap();
    assert_eq!(reverted, vec![MIGRATIONS[MIGRATIONS.len() - 1].name]);
    assert_eq!(migrator.up().await.unwrap().len(), 1);
    // Down to the first migration: the outbox (second migration) is gone.
    let reverted = migrator.down(MIGRATIONS.len() - 1).await.unwrap();
    assert_eq!(reverted.len(), MIGRATIONS.len() - 1);
    assert_eq!(reverted.last(), Some(&MIGRATIONS[1].name));
    let outbox_tables =
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'outbox'";
    assert_eq!(count(&url, outbox_tables).await, 0);
    assert_eq!(migrator.up().await.unwrap().len(), MIGRATIONS.len() - 1);
    assert_eq!(count(&url, outbox_tables).await, 1);
    // redo = down 1 + up.
    assert_eq!(migrator.down(1).await.unwrap().len(), 1);
    migrator.up().await.unwrap();
    assert_eq!(
        count(&url, "SELECT count(*) AS n FROM __diesel_schema_migrations").await,
        MIGRATIONS.len() as i64
    );

    // All the way down and up again.
    assert_eq!(
        migrator.down(usize::MAX).await.unwrap().len(),
        MIGRATIONS.len()
    );
    assert_eq!(migrator.up().await.unwrap().len(), MIGRATIONS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_migrators_at_once_apply_each_migration_once() {
    for _ in 0..3 {
        let url = Stack::get().fresh_database().await;
        let runs = (0..4).map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Migrator::connect(&url).await?.up().await })
        });
        let mut total = 0;
        for run in runs {
            total += run.await.unwrap().unwrap().len();
        }
        assert_eq!(
            total,
            MIGRATIONS.len(),
            "every migration applied exactly once"
        );
        assert_eq!(
            count(&url, "SELECT count(*) AS n FROM __diesel_schema_migrations").await,
            MIGRATIONS.len() as i64
        );
    }
}

#[tokio::test]
async fn clear_errors_for_missing_database_wrong_password_and_no_server() {
    let stack = Stack::get();
    let (base, _) = stack.database_admin_url.rsplit_once('/').unwrap();
    let missing = Migrator::connect(&format!("{base}/no_such_database"))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, MigrationError::MissingDatabase(_)),
        "{missing}"
    );

    let (userinfo, host) = base.split_once('@').unwrap();
    let (user, _) = userinfo.rsplit_once(':').unwrap();
    let wrong = Migrator::connect(&format!("{user}:wrong@{host}/postgres"))
        .await
        .unwrap_err();
    assert!(
        matches!(wrong, MigrationError::Authentication(_)),
        "{wrong}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = Migrator::connect(&format!("postgres://postgres:x@127.0.0.1:{port}/postgres"))
        .await
        .unwrap_err();
    assert!(matches!(nobody, MigrationError::Unreachable(_)), "{nobody}");
    assert!(nobody.to_string().contains("host and port"));
}

/// Migration 000020 turns audit details from jsonb into json and back
/// without changing what a stored entry says.
#[tokio::test]
async fn audit_details_keep_their_content_through_the_json_migration() {
    #[derive(QueryableByName)]
    struct Details {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        details: String,
    }
    async fn details(url: &str) -> (String, serde_json::Value) {
        let mut conn = AsyncPgConnection::establish(url).await.unwrap();
        let row: Details = diesel::sql_query(
            "SELECT pg_typeof(details)::text AS kind, details::text AS details
             FROM audit_events WHERE action = 'member.added'",
        )
        .get_result(&mut conn)
        .await
        .unwrap();
        (row.kind, serde_json::from_str(&row.details).unwrap())
    }

    let name = MIGRATIONS
        .iter()
        .position(|m| m.name.ends_with("audit_details_as_json"))
        .expect("migration 000020");
    let url = Stack::get().fresh_database().await;
    let mut migrator = Migrator::connect(&url).await.unwrap();
    migrator.up().await.unwrap();
    // Back to just before 000020, with an entry written then.
    migrator.down(MIGRATIONS.len() - name).await.unwrap();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query(
        "INSERT INTO audit_events (id, org_id, action, details, occurred_at)
         SELECT gen_random_uuid(), id, 'member.added',
                '{\"type\": \"memberAdded\", \"userId\": \"0190a1b2-0000-7000-8000-000000000001\", \"role\": \"ADMIN\"}',
                now()
         FROM organizations WHERE slug = 'default'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let expected = serde_json::json!({
        "type": "memberAdded",
        "userId": "0190a1b2-0000-7000-8000-000000000001",
        "role": "ADMIN",
    });
    assert_eq!(details(&url).await, ("jsonb".to_owned(), expected.clone()));
    migrator.up().await.unwrap();
    assert_eq!(details(&url).await, ("json".to_owned(), expected.clone()));
    migrator.down(MIGRATIONS.len() - name).await.unwrap();
    assert_eq!(details(&url).await, ("jsonb".to_owned(), expected));
}
