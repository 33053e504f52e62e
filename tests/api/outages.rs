//! Dependencies that go away and come back: the service fails closed while
//! it cannot decide, repairs what the dependency lost, and answers again
//! without a restart.

use std::time::Duration;

use orgman_testkit::{ADMIN, ALICE, BOB, CAROL, PrivateSpiceDb, eventually};
use serde_json::json;

use crate::helpers::{Overrides, TestApp};

fn with_spicedb(spicedb: &PrivateSpiceDb) -> Overrides {
    let mut overrides = Overrides::default();
    overrides.0.insert("ORGMAN_AUTHORIZER", "spicedb".into());
    overrides
        .0
        .insert("FLOWX_LIB_CASCLIENT_SPICEDB_HOST", "127.0.0.1".into());
    overrides.0.insert(
        "FLOWX_LIB_CASCLIENT_SPICEDB_PORT",
        spicedb.port().to_string(),
    );
    overrides
        .0
        .insert("FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN", spicedb.token().into());
    overrides
}

async fn restorations(app: &TestApp) -> u64 {
    let text = app
        .request(reqwest::Method::GET, "/actuator/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("orgman_spicedb_restorations_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_spicedb_that_comes_back_empty_is_restored_and_nobody_gets_in_meanwhile() {
    let mut spicedb = PrivateSpiceDb::start();
    let app = TestApp::spawn_with(with_spicedb(&spicedb), false).await;
    let org = app
        .org_owned_by(&orgman_testkit::unique_name("lost"), ALICE)
        .await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    let (admin, bob, carol) = (
        app.token(ADMIN).await,
        app.token(BOB).await,
        app.token(CAROL).await,
    );
    let path = format!("/api/v1/organizations/{org}");
    let added = app
        .post(
            &format!("{path}/members"),
            &admin,
            json!({"userId": BOB.id, "role": "MEMBER"}),
        )
        .await;
    assert_eq!(added.status(), 201);
    assert_eq!(app.get(&path, &bob).await.status(), 200);
    assert_eq!(app.get(&path, &carol).await.status(), 404);

    // SpiceDB loses everything; a change retires the cached decisions.
    spicedb.restart();
    let renamed = app.patch(&path, &admin, json!({"name": "Renamed"})).await;
    assert_eq!(renamed.status(), 200);
    let first = app.get(&path, &bob).await.status().as_u16();
    assert!(matches!(first, 503 | 200), "{first}");
    let took = eventually(
        "the member is let in again",
        Duration::from_secs(30),
        || async {
            let carol_status = app.get(&path, &carol).await.status().as_u16();
            assert!(
                matches!(carol_status, 404 | 503),
                "a non-member got {carol_status}"
            );
            app.get(&path, &bob).await.status() == 200
        },
    )
    .await;
    assert!(took < Duration::from_secs(30));
    assert!(restorations(&app).await >= 1, "the restoration is counted");
    assert_eq!(app.get(&path, &carol).await.status(), 404);

    // A removal while SpiceDB is down, then SpiceDB returns empty: the
    // removed member never gets back in, and is refused once restored.
    spicedb.stop();
    let removed = app
        .delete(&format!("{path}/members/{}", BOB.id), &admin)
        .await;
    assert_eq!(removed.status(), 204);
    for _ in 0..5 {
        let status = app.get(&path, &bob).await.status().as_u16();
        assert!(matches!(status, 404 | 503), "removed member got {status}");
    }
    spicedb.restart();
    eventually(
        "the removal is decided again",
        Duration::from_secs(30),
        || async {
            let status = app.get(&path, &bob).await.status().as_u16();
            assert!(matches!(status, 404 | 503), "removed member got {status}");
            status == 404
        },
    )
    .await;
    // The owner works throughout once restored.
    let alice = app.token(ALICE).await;
    eventually("the owner reads again", Duration::from_secs(30), || async {
        app.get(&path, &alice).await.status() == 200
    })
    .await;
}
