//! SpiceDB's recent snapshot: a check of an organization whose
//! authorization data did not change within the window reads SpiceDB's
//! quantized revision; any change sends every replica back to fully
//! consistent checks at once (the outbox, which every replica reads, says
//! so), so a member removed through one replica is refused by another at
//! once, with no cache in between.

use std::collections::HashMap;
use std::time::Duration;

use orgman_testkit::{ALICE, BOB, eventually};
use serde_json::json;

use crate::helpers::{Overrides, TestApp, assert_problem};

/// How many checks the replica sent SpiceDB at `freshness`.
async fn checks(app: &TestApp, freshness: &str) -> u64 {
    let prefix = format!("orgman_spicedb_checks_total{{freshness=\"{freshness}\"}} ");
    app.metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn a_member_removed_through_one_replica_is_refused_at_once_where_checks_read_recent_snapshots()
 {
    let settings = |database: Option<String>| {
        let mut overrides = Overrides::spicedb();
        let more: HashMap<&'static str, String> = HashMap::from([
            // Every read is a SpiceDB check.
            ("ORGMAN_CACHE_ENABLED", "false".to_owned()),
            // Longer than the stack SpiceDB's 5 s revision quantization
            // with its 10 % staleness, plus a second.
            ("ORGMAN_SPICEDB_RECENT_READS_AFTER_MS", "7000".to_owned()),
        ]);
        overrides.0.extend(more);
        if let Some(url) = database {
            overrides.0.insert("DATABASE_URL", url);
        }
        overrides
    };
    let one = TestApp::builder().settings(settings(None)).spawn().await;
    let two = TestApp::builder()
        .settings(settings(Some(one.database_url.clone())))
        .spawn()
        .await;
    let org = one.org_owned_by("recent-reads", ALICE).await;
    let alice = one.token(ALICE).await;
    one.provision(BOB).await;
    let members = format!("/api/v1/organizations/{org}/members");
    let added = one.post(&members, &alice, json!({"userId": BOB.id})).await;
    assert_eq!(added.status(), 201);
    let bob = one.token(BOB).await;
    let path = format!("/api/v1/organizations/{org}");

    // Bob reads through replica two until its checks read the snapshot.
    eventually(
        "replica two checks at SpiceDB's recent snapshot",
        Duration::from_secs(40),
        || async {
            assert_eq!(two.get(&path, &bob).await.status(), 200);
            checks(&two, "recent").await > 0
        },
    )
    .await;
    let latest_before = checks(&two, "latest").await;

    let removed = one.delete(&format!("{members}/{}", BOB.id), &alice).await;
    assert_eq!(removed.status(), 204);
    // No waiting: the removal is in the outbox, so replica two's next
    // checks are fully consistent and see it.
    for _ in 0..5 {
        assert_problem(two.get(&path, &bob).await, 404, "organization-not-found").await;
    }
    assert!(
        checks(&two, "latest").await > latest_before,
        "replica two went back to fully consistent checks"
    );
}
