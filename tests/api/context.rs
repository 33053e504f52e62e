//! The request's organization context: token claim, header, membership.

use orgman_testkit::{ADMIN, ALICE, BOB};
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, body};

const DEFAULT_ORG: &str = "00000000-0000-0000-0000-00000000d3fa";

#[tokio::test]
async fn the_organization_comes_from_the_token_or_the_header_and_needs_membership() {
    let app = TestApp::spawn().await;
    let alice = app.token(ALICE).await;
    let admin = app.token(ADMIN).await;

    // ALICE's token names the Default organization, but she is no member yet.
    assert_problem(
        app.get("/api/v1/organizations/current", &alice).await,
        404,
        "organization-not-found",
    )
    .await;
    let added = app
        .post(
            &format!("/api/v1/organizations/{DEFAULT_ORG}/members"),
            &admin,
            json!({"userId": ALICE.id}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let current = body(app.get("/api/v1/organizations/current", &alice).await).await;
    assert_eq!(current["id"], DEFAULT_ORG);
    assert_eq!(current["role"], "MEMBER");

    // The header overrides the claim, for organizations she belongs to.
    let own = app.org_owned_by("alices", ALICE).await;
    let with_header = app
        .request(
            reqwest::Method::GET,
            "/api/v1/organizations/current",
            Some(&alice),
        )
        .header("Fx-Organization-Id", &own)
        .send()
        .await
        .unwrap();
    let current = body(with_header).await;
    assert_eq!(current["id"], own.as_str());
    assert_eq!(current["role"], "OWNER");

    let other = app.org_owned_by("bobs", BOB).await;
    let foreign = app
        .request(
            reqwest::Method::GET,
            "/api/v1/organizations/current",
            Some(&alice),
        )
        .header("Fx-Organization-Id", &other)
        .send()
        .await
        .unwrap();
    assert_problem(foreign, 404, "organization-not-found").await;
    let malformed = app
        .request(
            reqwest::Method::GET,
            "/api/v1/organizations/current",
            Some(&alice),
        )
        .header("Fx-Organization-Id", "acme")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, 400, "invalid-organization-header").await;

    // BOB's token has no organization claim.
    let bob = app.token(BOB).await;
    assert_problem(
        app.get("/api/v1/organizations/current", &bob).await,
        400,
        "organization-context-missing",
    )
    .await;
}
