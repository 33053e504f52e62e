//! Tenant isolation: a user of one organization can neither read nor change
//! another organization through any endpoint, nor learn that it exists.

use orgman_testkit::{ALICE, BOB, CAROL};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, body};

#[tokio::test]
async fn no_endpoint_crosses_organizations() {
    assert_isolated(TestApp::spawn().await).await;
}

#[tokio::test]
async fn no_endpoint_crosses_organizations_with_spicedb_deciding() {
    assert_isolated(
        TestApp::builder()
            .settings(crate::helpers::Overrides::spicedb())
            .spawn()
            .await,
    )
    .await;
}

async fn assert_isolated(app: TestApp) {
    let theirs = app.org_owned_by("bobs", BOB).await;
    app.org_owned_by("alices", ALICE).await;
    app.provision(CAROL).await;
    let bob = app.token(BOB).await;
    let added = app
        .post(
            &format!("/api/v1/organizations/{theirs}/members"),
            &bob,
            json!({"userId": CAROL.id}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let before = body(
        app.get(&format!("/api/v1/organizations/{theirs}"), &bob)
            .await,
    )
    .await;
    let members_before = body(
        app.get(&format!("/api/v1/organizations/{theirs}/members"), &bob)
            .await,
    )
    .await;

    let alice = app.token(ALICE).await;
    let org = format!("/api/v1/organizations/{theirs}");
    let missing = "/api/v1/organizations/0b000000-0000-4000-8000-0000000000ff";
    let attempts: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, org.clone(), None),
        (
            Method::PATCH,
            org.clone(),
            Some(json!({"name": "Mine now"})),
        ),
        (Method::POST, format!("{org}/suspend"), Some(json!({}))),
        (
            Method::PUT,
            format!("{org}/member-limit"),
            Some(json!({"maxMembers": 1})),
        ),
        (Method::POST, format!("{org}/reactivate"), Some(json!({}))),
        (
            Method::POST,
            format!("{org}/request-deletion"),
            Some(json!({})),
        ),
        (Method::POST, format!("{org}/restore"), Some(json!({}))),
        (Method::POST, format!("{org}/purge"), Some(json!({}))),
        (Method::GET, format!("{org}/members"), None),
        (Method::GET, format!("{org}/audit-events"), None),
        (Method::GET, format!("{org}/invitations"), None),
        (Method::GET, format!("{org}/domains"), None),
        (
            Method::POST,
            format!("{org}/domains"),
            Some(json!({"domain": "mallory.example"})),
        ),
        (
            Method::POST,
            format!("{org}/invitations"),
            Some(json!({"email": "mallory@example.com"})),
        ),
        (
            Method::POST,
            format!("{org}/members"),
            Some(json!({"userId": ALICE.id, "role": "OWNER"})),
        ),
        (
            Method::PATCH,
            format!("{org}/members/{}", CAROL.id),
            Some(json!({"role": "OWNER"})),
        ),
        (Method::DELETE, format!("{org}/members/{}", CAROL.id), None),
        (Method::DELETE, format!("{org}/members/{}", BOB.id), None),
    ];
    for (method, path, payload) in attempts {
        let mut request = app.request(method.clone(), &path, Some(&alice));
        if let Some(payload) = payload {
            request = request.json(&payload);
        }
        let response = request.send().await.unwrap();
        // The same answer as for an organization that does not exist.
        assert_problem(response, 404, "organization-not-found").await;
    }
    let import = app
        .request(Method::POST, &format!("{org}/members/import"), Some(&alice))
        .multipart(
            Form::new().part(
                "file",
                Part::bytes(format!("userId\n{}\n", ALICE.id).into_bytes())
                    .file_name("m.csv")
                    .mime_str("text/csv")
                    .unwrap(),
            ),
        )
        .send()
        .await
        .unwrap();
    assert_problem(import, 404, "organization-not-found").await;
    let context = app
        .request(Method::GET, "/api/v1/organizations/current", Some(&alice))
        .header("Fx-Organization-Id", &theirs)
        .send()
        .await
        .unwrap();
    assert_problem(context, 404, "organization-not-found").await;

    // Not a trace in listings, and nothing changed.
    let mine = body(app.get("/api/v1/organizations/mine", &alice).await).await;
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["id"] != theirs.as_str())
    );
    assert_eq!(body(app.get(&org, &bob).await).await, before);
    assert_eq!(
        body(app.get(&format!("{org}/members"), &bob).await).await,
        members_before
    );
    // A missing organization looks exactly the same.
    assert_problem(
        app.get(missing, &alice).await,
        404,
        "organization-not-found",
    )
    .await;
}
