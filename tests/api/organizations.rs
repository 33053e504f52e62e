//! Creating, reading, listing and renaming organizations.

use orgman_testkit::{ADMIN, ALICE, BOB};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, body};

#[tokio::test]
async fn admin_creates_an_organization_and_reads_it_back() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    let response = app
        .post(
            "/api/v1/organizations",
            &admin,
            json!({"name": " Acme ", "slug": "acme"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(response.headers().contains_key("x-request-id"));
    let created = body(response).await;
    assert_eq!(created["name"], "Acme", "name is trimmed");
    assert_eq!(created["slug"], "acme");
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(
        location,
        format!("/api/v1/organizations/{}", created["id"].as_str().unwrap())
    );
    assert_eq!(etag, "\"1\"");

    let read = app.get(&location, &admin).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"], etag.as_str());
    assert_eq!(body(read).await, created);

    let mine = body(app.get("/api/v1/organizations/mine", &admin).await).await;
    assert_eq!(mine["items"][0]["id"], created["id"]);
    assert_eq!(mine["items"][0]["role"], "OWNER");
}

#[tokio::test]
async fn only_platform_admins_create_and_list_everything() {
    let app = TestApp::spawn().await;
    let alice = app.token(ALICE).await;
    assert_problem(
        app.post(
            "/api/v1/organizations",
            &alice,
            json!({"name": "Mine", "slug": "mine"}),
        )
        .await,
        403,
        "platform-admin-required",
    )
    .await;
    assert_problem(
        app.get("/api/v1/organizations", &alice).await,
        403,
        "platform-admin-required",
    )
    .await;

    let admin = app.token(ADMIN).await;
    for slug in ["a-1", "a-2", "a-3"] {
        app.create_org(slug).await;
    }
    // Keyset pagination: Default + 3, two per page.
    let first = body(app.get("/api/v1/organizations?limit=2", &admin).await).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = body(
        app.get(
            &format!("/api/v1/organizations?limit=2&after={cursor}"),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second.get("nextCursor").is_none());
    for bad in ["ten", "0", "501", "2147483648"] {
        assert_problem(
            app.get(&format!("/api/v1/organizations?limit={bad}"), &admin)
                .await,
            400,
            "invalid-query-parameter",
        )
        .await;
    }
    assert_problem(
        app.get("/api/v1/audit-events?limit=0", &admin).await,
        400,
        "invalid-query-parameter",
    )
    .await;
}

#[tokio::test]
async fn invalid_input_gets_field_level_problems() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    let problem = assert_problem(
        app.post(
            "/api/v1/organizations",
            &admin,
            json!({"name": "   ", "slug": "Acme Corp"}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, vec![json!("name"), json!("slug")]);
    assert!(
        problem["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("^[a-z0-9-]+$")
    );

    let long = "x".repeat(51);
    assert_problem(
        app.post(
            "/api/v1/organizations",
            &admin,
            json!({"name": "ok", "slug": long}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        app.post(
            "/api/v1/organizations",
            &admin,
            json!({"name": "ok", "slug": "ok", "owner": "me"}),
        )
        .await,
        400,
        "malformed-body",
    )
    .await;
    assert_problem(
        app.post("/api/v1/organizations", &admin, json!({"name": "ok"}))
            .await,
        400,
        "malformed-body",
    )
    .await;
    let broken = app
        .request(Method::POST, "/api/v1/organizations", Some(&admin))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_problem(broken, 400, "malformed-body").await;
    let text = app
        .request(Method::POST, "/api/v1/organizations", Some(&admin))
        .header("content-type", "text/plain")
        .body("name=acme")
        .send()
        .await
        .unwrap();
    assert_problem(text, 415, "unsupported-media-type").await;
    let huge = app
        .request(Method::POST, "/api/v1/organizations", Some(&admin))
        .json(&json!({"name": "x".repeat(300 * 1024), "slug": "big"}))
        .send()
        .await
        .unwrap();
    assert_problem(huge, 413, "body-too-large").await;
    // Nothing was created by any of these.
    let all = body(app.get("/api/v1/organizations", &admin).await).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1, "only Default");
}

#[tokio::test]
async fn duplicate_slug_is_a_conflict() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    app.create_org("taken").await;
    assert_problem(
        app.post(
            "/api/v1/organizations",
            &admin,
            json!({"name": "Other", "slug": "taken"}),
        )
        .await,
        409,
        "slug-taken",
    )
    .await;
}

#[tokio::test]
async fn rename_with_if_match() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let alice = app.token(ALICE).await;
    let path = format!("/api/v1/organizations/{org}");
    let etag = app.get(&path, &alice).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();

    let renamed = app
        .request(Method::PATCH, &path, Some(&alice))
        .header("if-match", &etag)
        .json(&json!({"name": "Acme Inc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let new_etag = renamed.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(body(renamed).await["name"], "Acme Inc");

    let stale = app
        .request(Method::PATCH, &path, Some(&alice))
        .header("if-match", &etag)
        .json(&json!({"name": "Lost update"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "precondition-failed").await;
    let garbage = app
        .request(Method::PATCH, &path, Some(&alice))
        .header("if-match", "\"not-a-version\"")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(garbage, 400, "invalid-if-match").await;
    assert_eq!(body(app.get(&path, &alice).await).await["name"], "Acme Inc");

    // A MEMBER may not rename.
    app.provision(BOB).await;
    let added = app
        .post(
            &format!("{path}/members"),
            &alice,
            json!({"userId": BOB.id, "role": "MEMBER"}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let bob = app.token(BOB).await;
    assert_problem(
        app.patch(&path, &bob, json!({"name": "Bob's"})).await,
        403,
        "permission-denied",
    )
    .await;
}

async fn metadata_is_merged_and_private_metadata_stays_with_managers(app: TestApp) {
    let org = app.org_owned_by("acme-metadata", ALICE).await;
    let alice = app.token(ALICE).await;
    let bob = app.token(BOB).await;
    app.provision(BOB).await;
    let path = format!("/api/v1/organizations/{org}");
    assert_eq!(
        app.post(
            &format!("{path}/members"),
            &alice,
            json!({"userId": BOB.id})
        )
        .await
        .status(),
        201
    );
    let fresh = body(app.get(&path, &alice).await).await;
    assert_eq!(fresh["metadata"], json!({}));

    let etag = app.get(&path, &alice).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let changed = app
        .request(Method::PATCH, &path, Some(&alice))
        .header("if-match", &etag)
        .json(&json!({
            "metadata": {"plan": "gold", "tags": ["a"]},
            "privateMetadata": {"crm": {"id": 42}}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let changed = body(changed).await;
    assert_eq!(changed["name"], "acme-metadata", "the name stays");
    assert_eq!(changed["privateMetadata"], json!({"crm": {"id": 42}}));
    // Merge patch: `null` removes, objects merge.
    let merged = body(
        app.patch(
            &path,
            &alice,
            json!({"metadata": {"plan": null, "seats": 5}, "privateMetadata": {"crm": {"owner": "ann"}}}),
        )
        .await,
    )
    .await;
    assert_eq!(merged["metadata"], json!({"tags": ["a"], "seats": 5}));
    assert_eq!(
        merged["privateMetadata"],
        json!({"crm": {"id": 42, "owner": "ann"}})
    );

    // A MEMBER reads metadata, never privateMetadata, alone or in lists.
    let seen = body(app.get(&path, &bob).await).await;
    assert_eq!(seen["metadata"], merged["metadata"]);
    assert!(seen.get("privateMetadata").is_none(), "{seen}");
    let mine = body(app.get("/api/v1/organizations/mine", &bob).await).await;
    assert!(mine["items"][0].get("privateMetadata").is_none(), "{mine}");
    let mine = body(app.get("/api/v1/organizations/mine", &alice).await).await;
    assert_eq!(
        mine["items"][0]["privateMetadata"],
        merged["privateMetadata"]
    );
    assert_problem(
        app.patch(&path, &bob, json!({"metadata": {"x": 1}})).await,
        403,
        "permission-denied",
    )
    .await;

    // Bad metadata: 422 naming the field, nothing changes.
    let version = merged["version"].clone();
    let too_big = json!({"metadata": {"blob": "x".repeat(8192)}});
    let refused = assert_problem(
        app.patch(&path, &alice, too_big).await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "metadata", "{refused}");
    assert_problem(
        app.patch(&path, &alice, json!({"privateMetadata": [1]}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(body(app.get(&path, &alice).await).await["version"], version);

    // The change is an event (and so in the audit trail).
    let audit = body(
        app.get(
            &format!("{path}/audit-events?type=organization.metadata-changed"),
            &alice,
        )
        .await,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
}

#[tokio::test]
async fn metadata_with_the_database_deciding() {
    metadata_is_merged_and_private_metadata_stays_with_managers(TestApp::spawn().await).await;
}

#[tokio::test]
async fn metadata_with_spicedb_deciding() {
    let app = TestApp::builder()
        .settings(crate::helpers::Overrides::spicedb())
        .spawn()
        .await;
    metadata_is_merged_and_private_metadata_stays_with_managers(app).await;
}
