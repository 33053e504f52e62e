//! Lifecycle actions and read-only states over HTTP.

use std::collections::HashMap;
use std::time::Duration;

use orgman_testkit::{ADMIN, ALICE, BOB};
use serde_json::json;

use crate::helpers::{Overrides, TestApp, assert_problem, body};

#[tokio::test]
async fn suspend_reactivate_delete_restore() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let admin = app.token(ADMIN).await;
    let alice = app.token(ALICE).await;
    let path = format!("/api/v1/organizations/{org}");

    assert_problem(
        app.post(&format!("{path}/suspend"), &alice, json!({}))
            .await,
        403,
        "permission-denied",
    )
    .await;
    let suspended = app
        .post(&format!("{path}/suspend"), &admin, json!({}))
        .await;
    assert_eq!(suspended.status(), 200);
    assert_eq!(body(suspended).await["status"], "SUSPENDED");

    // Read-only: reads work, writes are refused for everyone.
    assert_eq!(app.get(&path, &alice).await.status(), 200);
    assert_eq!(
        app.get(&format!("{path}/members"), &alice).await.status(),
        200
    );
    app.provision(BOB).await;
    for token in [&alice, &admin] {
        assert_problem(
            app.post(&format!("{path}/members"), token, json!({"userId": BOB.id}))
                .await,
            409,
            "organization-read-only",
        )
        .await;
        assert_problem(
            app.patch(&path, token, json!({"name": "Renamed"})).await,
            409,
            "organization-read-only",
        )
        .await;
    }
    assert_problem(
        app.post(&format!("{path}/request-deletion"), &alice, json!({}))
            .await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        app.post(&format!("{path}/reactivate"), &admin, json!({}))
            .await
            .status(),
        200
    );

    let pending = body(
        app.post(&format!("{path}/request-deletion"), &alice, json!({}))
            .await,
    )
    .await;
    assert_eq!(pending["status"], "PENDING_DELETION");
    assert!(pending["purgeAfter"].is_string());
    assert_problem(
        app.post(&format!("{path}/purge"), &admin, json!({})).await,
        409,
        "grace-period-not-over",
    )
    .await;
    let restored = body(
        app.post(&format!("{path}/restore"), &alice, json!({}))
            .await,
    )
    .await;
    assert_eq!(restored["status"], "ACTIVE");
    assert!(restored.get("purgeAfter").is_none());
}

#[tokio::test]
async fn the_purger_deletes_organizations_once_their_grace_period_ends() {
    let app = TestApp::builder()
        .settings(Overrides(HashMap::from([
            ("ORGMAN_DELETION_GRACE_DAYS", "0".to_owned()),
            ("ORGMAN_PURGE_INTERVAL_SECONDS", "1".to_owned()),
        ])))
        .spawn()
        .await;
    let doomed = app.org_owned_by("doomed", ALICE).await;
    let kept = app.org_owned_by("kept", ALICE).await;
    let alice = app.token(ALICE).await;
    let admin = app.token(ADMIN).await;
    let requested = app
        .post(
            &format!("/api/v1/organizations/{doomed}/request-deletion"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(requested.status(), 200);

    // The purger runs every second; give it generous time on a busy machine.
    let path = format!("/api/v1/organizations/{doomed}");
    orgman_testkit::eventually("the purger deleted it", Duration::from_secs(20), || async {
        body(app.get(&path, &admin).await).await["status"] == "DELETED"
    })
    .await;
    // Its members no longer see it; the other organization is untouched.
    assert_problem(app.get(&path, &alice).await, 404, "organization-not-found").await;
    let other = body(
        app.get(&format!("/api/v1/organizations/{kept}"), &alice)
            .await,
    )
    .await;
    assert_eq!(other["status"], "ACTIVE");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("orgman_organizations_purged_total 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains(r#"orgman_purge_runs_total{outcome="ok"}"#));
}
