//! The service's own surfaces under abuse: the discovery rate limit behind
//! proxies, blank roles in JSON bodies.

use orgman_testkit::ADMIN;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Overrides, TestApp, assert_problem};

/// The status of a discovery request forwarded for `client`.
async fn discover_as(app: &TestApp, client: &str) -> u16 {
    app.request(
        Method::GET,
        "/api/v1/sso/discover?email=someone@unknown.example",
        None,
    )
    .header("X-Forwarded-For", client)
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_clients_flood_leaves_another_unaffected() {
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("ORGMAN_SSO_DISCOVERY_RATE_PER_MINUTE", "3".into());
    overrides
        .0
        .insert("ORGMAN_TRUSTED_PROXIES", "127.0.0.1".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    for _ in 0..3 {
        assert_eq!(discover_as(&app, "203.0.113.1").await, 200);
    }
    assert_eq!(discover_as(&app, "203.0.113.1").await, 429);
    // The proxy's other clients keep their own limit.
    assert_eq!(discover_as(&app, "203.0.113.2").await, 200);
    // A client cannot pose as another by writing the header itself: the
    // proxy appends the address it saw, and that one counts.
    assert_eq!(discover_as(&app, "203.0.113.9, 203.0.113.1").await, 429);
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_for_changes_nothing() {
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("ORGMAN_SSO_DISCOVERY_RATE_PER_MINUTE", "3".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    for n in 0..3 {
        assert_eq!(discover_as(&app, &format!("203.0.113.{n}")).await, 200);
    }
    assert_eq!(discover_as(&app, "203.0.113.200").await, 429);
}

#[tokio::test]
async fn a_blank_role_in_a_json_body_is_refused_everywhere() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    let org = app.create_org("blank-roles").await;
    let invitations = format!("/api/v1/organizations/{org}/invitations");
    for blank in ["", "  "] {
        let refused = assert_problem(
            app.post(
                &invitations,
                &admin,
                json!({"email": "blank@example.com", "role": blank}),
            )
            .await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], "role", "{refused}");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM invitations WHERE org_id = '{org}'"
        ))
        .await,
        0,
        "nothing written"
    );
    // Registration into an organization reads its role the same way.
    assert_problem(
        app.post(
            "/api/v1/users",
            &admin,
            json!({"email": "blank@example.com", "organizationId": org, "role": ""}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    // An absent role still means MEMBER.
    let invited = app
        .post(&invitations, &admin, json!({"email": "absent@example.com"}))
        .await;
    assert_eq!(invited.status(), 201);
}
