//! Organization API keys over HTTP: an organization creates a key, its
//! systems call the API with it, within its organization and its
//! permissions only; rotation keeps the old secret for the overlap asked;
//! revocation shuts it out at once; what it changes is recorded as the
//! key's doing.

use std::collections::HashMap;
use std::time::Duration;

use orgman_testkit::{ALICE, BOB, CAROL, eventually};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Overrides, TestApp, assert_problem, body};

async fn with_key(app: &TestApp, method: Method, path: &str, secret: &str) -> reqwest::Response {
    app.request(method, path, Some(secret))
        .send()
        .await
        .unwrap()
}

async fn create(app: &TestApp, org: &str, token: &str, permissions: &[&str]) -> Value {
    let created = app
        .post(
            &format!("/api/v1/organizations/{org}/api-keys"),
            token,
            json!({"name": "billing sync", "permissions": permissions}),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    body(created).await
}

#[tokio::test]
async fn a_key_acts_in_its_organization_with_its_permissions_until_revoked() {
    let app = TestApp::builder()
        .settings(Overrides(HashMap::from([(
            "ORGMAN_API_KEYS_LAST_USED_SECONDS",
            "1".to_owned(),
        )])))
        .spawn()
        .await;
    let org = app.org_owned_by("keyed", ALICE).await;
    let other = app.org_owned_by("unkeyed", CAROL).await;
    let alice = app.token(ALICE).await;
    let key = create(&app, &org, &alice, &["organization:read", "members:read"]).await;
    let secret = key["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("orgman_"), "{secret}");
    assert!(secret.starts_with(key["prefix"].as_str().unwrap()));
    assert_eq!(key["createdByKind"], "user");

    // Its organization, by path or as the current one.
    let read = with_key(
        &app,
        Method::GET,
        &format!("/api/v1/organizations/{org}"),
        &secret,
    )
    .await;
    assert_eq!(read.status(), 200);
    assert_eq!(body(read).await["id"], org.as_str());
    let current = with_key(&app, Method::GET, "/api/v1/organizations/current", &secret).await;
    assert_eq!(body(current).await["id"], org.as_str());
    let members = format!("/api/v1/organizations/{org}/members");
    assert_eq!(
        with_key(&app, Method::GET, &members, &secret)
            .await
            .status(),
        200
    );
    // Not what it was not given, not another organization, not a person's
    // routes.
    app.provision(BOB).await;
    let add = app
        .request(Method::POST, &members, Some(&secret))
        .json(&json!({"userId": BOB.id}))
        .send()
        .await
        .unwrap();
    assert_problem(add, 403, "permission-denied").await;
    let elsewhere = format!("/api/v1/organizations/{other}");
    assert_problem(
        with_key(&app, Method::GET, &elsewhere, &secret).await,
        404,
        "organization-not-found",
    )
    .await;
    let mine = with_key(&app, Method::GET, "/api/v1/organizations/mine", &secret).await;
    assert_problem(mine, 403, "api-key-not-allowed").await;
    // A forged secret: the right shape, another token.
    let forged = format!("orgman_{}{}", "A".repeat(43), &secret[50..]);
    assert_problem(
        with_key(&app, Method::GET, &elsewhere, &forged).await,
        401,
        "invalid-api-key",
    )
    .await;

    // Listed with its last use, written within the interval.
    let keys = format!("/api/v1/organizations/{org}/api-keys");
    eventually(
        "lastUsedAt is recorded",
        Duration::from_secs(20),
        || async {
            let listed = body(app.get(&keys, &alice).await).await;
            !listed["items"][0]["lastUsedAt"].is_null()
        },
    )
    .await;
    let listed = body(app.get(&keys, &alice).await).await;
    assert!(listed["items"][0].get("secret").is_none(), "never listed");
    assert_eq!(
        listed["items"][0]["permissions"],
        json!(["organization:read", "members:read"])
    );

    // Rotation with an overlap: both secrets work; without one, the old
    // stops at once.
    let id = key["id"].as_str().unwrap();
    let rotated = body(
        app.post(
            &format!("{keys}/{id}/rotate"),
            &alice,
            json!({"overlapSeconds": 3600}),
        )
        .await,
    )
    .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(rotated["rotatedFrom"], id);
    let path = format!("/api/v1/organizations/{org}");
    for secret in [&secret, &new_secret] {
        assert_eq!(
            with_key(&app, Method::GET, &path, secret).await.status(),
            200
        );
    }
    let new_id = rotated["id"].as_str().unwrap();
    let again = body(
        app.post(&format!("{keys}/{new_id}/rotate"), &alice, json!({}))
            .await,
    )
    .await;
    assert_problem(
        with_key(&app, Method::GET, &path, &new_secret).await,
        401,
        "invalid-api-key",
    )
    .await;
    let newest = again["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        with_key(&app, Method::GET, &path, &newest).await.status(),
        200
    );

    // Revoked: refused on the next request.
    let revoked = app
        .delete(&format!("{keys}/{}", again["id"].as_str().unwrap()), &alice)
        .await;
    assert_eq!(revoked.status(), 204);
    assert_problem(
        with_key(&app, Method::GET, &path, &newest).await,
        401,
        "invalid-api-key",
    )
    .await;
    // The first secret still has its overlap: revoking it ends it too.
    app.delete(&format!("{keys}/{id}"), &alice).await;
    assert_problem(
        with_key(&app, Method::GET, &path, &secret).await,
        401,
        "invalid-api-key",
    )
    .await;
    // Each outcome counted apart, from a closed set.
    let metrics = app.metrics().await;
    for outcome in ["accepted", "revoked", "unknown"] {
        let series = format!("orgman_api_key_authentications_total{{outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&series), "{series} in\n{metrics}");
    }
}

#[tokio::test]
async fn nobody_gives_a_key_more_than_they_hold_and_its_changes_are_its_own() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("keys-grants", ALICE).await;
    let alice = app.token(ALICE).await;
    app.provision(BOB).await;
    let members = format!("/api/v1/organizations/{org}/members");
    let added = app
        .post(&members, &alice, json!({"userId": BOB.id, "role": "ADMIN"}))
        .await;
    assert_eq!(added.status(), 201);
    let bob = app.token(BOB).await;
    // An ADMIN does not hold organization:delete, so cannot give it.
    let refused = app
        .post(
            &format!("/api/v1/organizations/{org}/api-keys"),
            &bob,
            json!({"name": "x", "permissions": ["organization:delete"]}),
        )
        .await;
    assert_problem(refused, 403, "permission-not-held").await;
    let unknown = app
        .post(
            &format!("/api/v1/organizations/{org}/api-keys"),
            &bob,
            json!({"name": "x", "permissions": ["invoices:read"]}),
        )
        .await;
    assert_problem(unknown, 422, "unknown-permission").await;

    // A key that manages members adds one, holding what a MEMBER holds
    // (nobody grants what they do not hold, keys included); the audit
    // trail names the key.
    let narrow = create(&app, &org, &bob, &["members:manage"]).await;
    app.provision(CAROL).await;
    let refused = app
        .request(Method::POST, &members, narrow["secret"].as_str())
        .json(&json!({"userId": CAROL.id}))
        .send()
        .await
        .unwrap();
    assert_problem(refused, 403, "permission-not-held").await;
    let key = create(
        &app,
        &org,
        &bob,
        &["members:manage", "members:read", "organization:read"],
    )
    .await;
    let secret = key["secret"].as_str().unwrap();
    let by_key = app
        .request(Method::POST, &members, Some(secret))
        .json(&json!({"userId": CAROL.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 201, "{}", by_key.text().await.unwrap());
    // As an ADMIN under the membership rules: never an OWNER.
    let owner = app
        .request(
            Method::PATCH,
            &format!("{members}/{}", CAROL.id),
            Some(secret),
        )
        .json(&json!({"role": "OWNER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), 403);
    let audit = body(
        app.get(
            &format!("/api/v1/organizations/{org}/audit-events?actorKind=apiKey"),
            &alice,
        )
        .await,
    )
    .await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit}");
    assert_eq!(items[0]["type"], "organization.member.added");
    assert_eq!(items[0]["actor"], key["id"]);
    assert_eq!(items[0]["actorKind"], "apiKey");
    let created = body(
        app.get(
            &format!("/api/v1/organizations/{org}/audit-events?type=organization.api-key.created"),
            &alice,
        )
        .await,
    )
    .await;
    assert_eq!(created["items"][0]["actorKind"], "user");
    assert_eq!(created["items"][0]["actor"], BOB.id);
    assert!(created["items"][0]["data"].get("secret").is_none());
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_by_another_replica_that_had_it_cached() {
    let prefix = orgman_testkit::unique_name("keys-replicas");
    let shared = |database: Option<String>| {
        let mut settings = HashMap::from([("ORGMAN_CACHE_KEY_PREFIX", prefix.clone())]);
        if let Some(url) = database {
            settings.insert("DATABASE_URL", url);
        }
        Overrides(settings)
    };
    let one = TestApp::builder().settings(shared(None)).spawn().await;
    let two = TestApp::builder()
        .settings(shared(Some(one.database_url.clone())))
        .spawn()
        .await;
    let org = one.org_owned_by("keys-replicas", ALICE).await;
    let alice = one.token(ALICE).await;
    let key = create(&one, &org, &alice, &["organization:read"]).await;
    let secret = key["secret"].as_str().unwrap();
    let path = format!("/api/v1/organizations/{org}");
    // Replica two reads with the key until its credential is cached.
    for _ in 0..3 {
        assert_eq!(
            with_key(&two, Method::GET, &path, secret).await.status(),
            200
        );
    }
    let revoked = one
        .delete(
            &format!(
                "/api/v1/organizations/{org}/api-keys/{}",
                key["id"].as_str().unwrap()
            ),
            &alice,
        )
        .await;
    assert_eq!(revoked.status(), 204);
    // No waiting: the revocation fenced the organization before it
    // committed, so replica two's next request reads the key anew.
    assert_problem(
        with_key(&two, Method::GET, &path, secret).await,
        401,
        "invalid-api-key",
    )
    .await;
    assert_problem(
        with_key(&one, Method::GET, &path, secret).await,
        401,
        "invalid-api-key",
    )
    .await;
}
