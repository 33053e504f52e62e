//! Reading the audit trail: who may, what it holds (SSO changes too), its
//! filters and pages.

use orgman_testkit::{ADMIN, ALICE, BOB, CAROL, Stack};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, body};

fn types(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn owners_read_their_organizations_changes_newest_first_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("audited", ALICE).await;
    let alice = app.token(ALICE).await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    let members = format!("/api/v1/organizations/{org}/members");
    assert_eq!(
        app.post(&members, &alice, json!({"userId": BOB.id}))
            .await
            .status(),
        201
    );
    let sso = format!("/api/v1/organizations/{org}/sso-configs");
    let created = app
        .post(
            &sso,
            &alice,
            json!({"name": "Corp", "issuerUrl": Stack::get().oidc_issuer, "clientId": "orgman", "clientSecret": "s3cret-value"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let config = body(created).await["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.patch(
            &format!("{sso}/{config}"),
            &alice,
            json!({"clientSecret": "another-secret"})
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.delete(&format!("{sso}/{config}"), &alice)
            .await
            .status(),
        204
    );

    let path = format!("/api/v1/organizations/{org}/audit-events");
    let page = body(app.get(&path, &alice).await).await;
    assert_eq!(
        types(&page)[..4],
        [
            "organization.sso-config.deleted",
            "organization.sso-config.updated",
            "organization.sso-config.created",
            "organization.member.added",
        ]
    );
    let updated = &page["items"][1];
    assert_eq!(updated["actor"], ALICE.id.to_string());
    assert_eq!(updated["organizationId"], org);
    assert!(updated["requestId"].is_string(), "{updated}");
    assert_eq!(updated["data"]["secretReplaced"], true);
    assert!(
        !page.to_string().contains("another-secret"),
        "no secret in the trail"
    );

    // Filters.
    let added = body(
        app.get(&format!("{path}?type=organization.member.added"), &alice)
            .await,
    )
    .await;
    assert!(
        types(&added)
            .iter()
            .all(|t| t == "organization.member.added")
    );
    let by_alice = body(app.get(&format!("{path}?actor={}", ALICE.id), &alice).await).await;
    assert_eq!(by_alice["items"].as_array().unwrap().len(), 4);

    // Pages of one, newest first, with no entry twice.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let url = match &after {
            Some(cursor) => format!("{path}?limit=1&after={cursor}"),
            None => format!("{path}?limit=1"),
        };
        let page = body(app.get(&url, &alice).await).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    let all: Vec<String> =
        page_ids(&body(app.get(&format!("{path}?limit=500"), &alice).await).await);
    assert_eq!(seen, all);
    let mut sorted = all.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(all, sorted, "newest (largest UUIDv7) first");

    // A MEMBER may not read it; an outsider cannot tell it exists.
    let bob = app.token(BOB).await;
    assert_problem(app.get(&path, &bob).await, 403, "permission-denied").await;
    let carol = app.token(CAROL).await;
    assert_problem(app.get(&path, &carol).await, 404, "organization-not-found").await;
    assert_problem(
        app.get(&format!("{path}?actor=not-a-uuid"), &alice).await,
        400,
        "invalid-query-parameter",
    )
    .await;

    // The platform-wide trail is for platform administrators.
    assert_problem(
        app.get("/api/v1/audit-events", &alice).await,
        403,
        "platform-admin-required",
    )
    .await;
    let admin = app.token(ADMIN).await;
    let everything = body(app.get("/api/v1/audit-events?limit=500", &admin).await).await;
    assert!(
        everything["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "organization.created" && e["organizationId"] == org)
    );
}

fn page_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}
