//! SSO configurations: write-only secrets encrypted at rest, scopes,
//! permissions, the issuer rule, the connection test's guard, and key
//! rotation while reads go on.

use std::sync::Arc;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use orgman_domain::ports::{SystemClock, UuidV7Generator};
use orgman_domain::{OrganizationService, ServiceSettings, SsoService};
use orgman_postgres::{PgSettings, PgStore};
use orgman_secrets::AesGcmCipher;
use orgman_testkit::{ADMIN, ALICE, BOB, CAROL, Stack};
use serde_json::json;

use crate::helpers::{Overrides, TEST_KEY_1, TEST_KEY_2, TestApp, assert_problem, body};

const SECRET: &str = "very-secret-client-credential-42";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    client_secret_enc: String,
}

async fn stored_secrets(app: &TestApp) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    diesel::sql_query("SELECT client_secret_enc FROM sso_configs ORDER BY id")
        .load::<Stored>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.client_secret_enc)
        .collect()
}

fn config(issuer: &str) -> serde_json::Value {
    json!({"name": "Corporate IdP", "issuerUrl": issuer, "clientId": "orgman", "clientSecret": SECRET})
}

#[tokio::test]
async fn secrets_are_write_only_and_encrypted_at_rest() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let alice = app.token(ALICE).await;
    let path = format!("/api/v1/organizations/{org}/sso-configs");
    let issuer = Stack::get().oidc_issuer.clone();

    let created = app.post(&path, &alice, config(&issuer)).await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let text = created.text().await.unwrap();
    assert!(
        !text.contains(SECRET) && !text.to_lowercase().contains("secret"),
        "{text}"
    );
    let view: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["issuerUrl"], issuer.as_str());
    assert_eq!(view["organizationId"], org.as_str());

    for read in [
        app.get(&location, &alice).await,
        app.get(&path, &alice).await,
    ] {
        let text = read.text().await.unwrap();
        assert!(
            !text.contains(SECRET) && !text.to_lowercase().contains("secret"),
            "{text}"
        );
    }

    // At rest: only ciphertext, nowhere the plain secret.
    let stored = stored_secrets(&app).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].starts_with("v1:k1:"), "{}", stored[0]);
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    let leaks: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM sso_configs s WHERE s::text LIKE '%' || $1 || '%'",
    )
    .bind::<Text, _>(SECRET)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(leaks.n, 0);

    // A new secret replaces the old ciphertext; other fields keep.
    let updated = app
        .patch(
            &location,
            &alice,
            json!({"clientSecret": "another-secret", "enabled": false}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let updated = body(updated).await;
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["name"], "Corporate IdP");
    assert_ne!(stored_secrets(&app).await, stored);

    assert_eq!(app.delete(&location, &alice).await.status(), 204);
    assert_problem(
        app.get(&location, &alice).await,
        404,
        "sso-config-not-found",
    )
    .await;
}

#[tokio::test]
async fn who_may_manage_which_configurations() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let alice = app.token(ALICE).await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    let members = format!("/api/v1/organizations/{org}/members");
    assert_eq!(
        app.post(&members, &alice, json!({"userId": BOB.id, "role": "ADMIN"}))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.post(&members, &alice, json!({"userId": CAROL.id}))
            .await
            .status(),
        201
    );
    let path = format!("/api/v1/organizations/{org}/sso-configs");
    let issuer = "https://idp.example.com/realms/acme";

    let bob = app.token(BOB).await;
    assert_eq!(
        app.post(&path, &bob, config(issuer)).await.status(),
        201,
        "an org ADMIN manages SSO"
    );
    let carol = app.token(CAROL).await;
    assert_problem(
        app.post(&path, &carol, config(issuer)).await,
        403,
        "permission-denied",
    )
    .await;
    assert_problem(app.get(&path, &carol).await, 403, "permission-denied").await;

    // Installation-wide: platform administrators only.
    assert_problem(
        app.post("/api/v1/sso-configs", &alice, config(issuer))
            .await,
        403,
        "platform-admin-required",
    )
    .await;
    let admin = app.token(ADMIN).await;
    let global = body(
        app.post("/api/v1/sso-configs", &admin, config(issuer))
            .await,
    )
    .await;
    let global_id = global["id"].as_str().unwrap();
    assert!(global.get("organizationId").is_none());
    // Not reachable through an organization's scope.
    assert_problem(
        app.get(&format!("{path}/{global_id}"), &alice).await,
        404,
        "sso-config-not-found",
    )
    .await;
    let listed = body(app.get("/api/v1/sso-configs", &admin).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // A stranger cannot see that the organization exists.
    let other = app.org_owned_by("other", CAROL).await;
    assert_problem(
        app.get(
            &format!("/api/v1/organizations/{other}/sso-configs"),
            &alice,
        )
        .await,
        404,
        "organization-not-found",
    )
    .await;
}

#[tokio::test]
async fn issuer_rules_and_the_connection_test_guard() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    for bad in [
        "http://idp.example.com",
        "ftp://idp.example.com",
        "idp.example.com",
        "https://user:pw@idp.example.com",
        "https://",
    ] {
        let problem = assert_problem(
            app.post("/api/v1/sso-configs", &admin, config(bad)).await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "issuerUrl", "{bad}");
    }
    let long = "x".repeat(300);
    assert_problem(
        app.post("/api/v1/sso-configs", &admin, json!({"name": "n", "issuerUrl": "https://a.example", "clientId": "c", "clientSecret": long})).await,
        422,
        "validation-failed",
    )
    .await;

    // The stack's provider is on 127.0.0.1: refused by default...
    let issuer = Stack::get().oidc_issuer.clone();
    let id = body(
        app.post("/api/v1/sso-configs", &admin, config(&issuer))
            .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        app.post(&format!("/api/v1/sso-configs/{id}/test"), &admin, json!({}))
            .await,
        422,
        "issuer-not-allowed",
    )
    .await;
    // ...and reached when private issuers are explicitly allowed.
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("ORGMAN_SSO_ALLOW_PRIVATE_ISSUERS", "true".into());
    let open = TestApp::builder().settings(overrides).spawn().await;
    let admin = open.token(ADMIN).await;
    let id = body(
        open.post("/api/v1/sso-configs", &admin, config(&issuer))
            .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let result = body(
        open.post(&format!("/api/v1/sso-configs/{id}/test"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(result["reachable"], true, "{result}");
    assert_eq!(result["issuer"], issuer.as_str());
}

#[tokio::test]
async fn without_a_key_secrets_are_refused_not_stored_in_clear() {
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("ORGMAN_SSO_ENCRYPTION_KEYS", String::new());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let admin = app.token(ADMIN).await;
    assert_problem(
        app.post(
            "/api/v1/sso-configs",
            &admin,
            config("https://idp.example.com"),
        )
        .await,
        503,
        "not-configured",
    )
    .await;
    assert!(stored_secrets(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_rotation_while_reads_go_on() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    let mut secrets = Vec::new();
    for i in 0..20 {
        let secret = format!("secret-number-{i}");
        let created = app
            .post("/api/v1/sso-configs", &admin, json!({"name": format!("idp {i}"), "issuerUrl": "https://idp.example.com", "clientId": "c", "clientSecret": secret}))
            .await;
        assert_eq!(created.status(), 201);
        secrets.push(secret);
    }

    // The new deployment: k2 added and active, k1 still configured.
    let store =
        Arc::new(PgStore::connect(&PgSettings::from_url(&app.database_url).unwrap()).unwrap());
    let both = Arc::new(
        AesGcmCipher::new(
            vec![
                ("k1".into(), key(TEST_KEY_1)),
                ("k2".into(), key(TEST_KEY_2)),
            ],
            "k2",
        )
        .unwrap(),
    );
    let sso = Arc::new(service(&store, both.clone()));
    let reader = sso.clone();
    let expected = secrets.clone();
    let reads = tokio::spawn(async move {
        // Every configuration decrypts, before, during and after rotation.
        for _ in 0..10 {
            let configs = reader
                .list(&orgman_domain::Actor::platform_admin(admin_id()), None)
                .await
                .unwrap();
            let mut plain: Vec<String> = configs
                .iter()
                .map(|c| reader.client_secret(c).unwrap().expose().to_owned())
                .collect();
            plain.sort();
            let mut want = expected.clone();
            want.sort();
            assert_eq!(plain, want);
        }
    });
    let report = sso.rotate().await.unwrap();
    reads.await.unwrap();
    assert_eq!(
        (report.examined, report.rotated, report.failed.len()),
        (20, 20, 0)
    );
    assert!(
        stored_secrets(&app)
            .await
            .iter()
            .all(|s| s.starts_with("v1:k2:"))
    );
    assert_eq!(
        sso.rotate().await.unwrap().rotated,
        0,
        "nothing left to rotate"
    );

    // The old key can go: k2 alone decrypts everything.
    let only_new = Arc::new(AesGcmCipher::new(vec![("k2".into(), key(TEST_KEY_2))], "k2").unwrap());
    let after = service(&store, only_new);
    let configs = after
        .list(&orgman_domain::Actor::platform_admin(admin_id()), None)
        .await
        .unwrap();
    assert!(configs.iter().all(|c| after.client_secret(c).is_ok()));
}

fn admin_id() -> orgman_domain::UserId {
    ADMIN.id.parse().unwrap()
}

fn key(encoded: &str) -> [u8; 32] {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap()
        .try_into()
        .unwrap()
}

fn service(store: &Arc<PgStore>, cipher: Arc<AesGcmCipher>) -> SsoService {
    let organizations = Arc::new(OrganizationService::new(
        orgman_domain::ServicePorts::over_storage(store.clone()),
        ServiceSettings::default(),
    ));
    SsoService::new(
        organizations,
        store.clone(),
        Some(cipher),
        Arc::new(SystemClock),
        Arc::new(UuidV7Generator),
    )
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    for name in ["first", "second"] {
        let created = app
            .post("/api/v1/sso-configs", &admin, json!({"name": name, "issuerUrl": "https://idp.example.com", "clientId": "c", "clientSecret": format!("{name}-secret")}))
            .await;
        assert_eq!(created.status(), 201);
    }
    // Copy the first row's ciphertext over the second's, in the database.
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    diesel::sql_query(
        "UPDATE sso_configs SET client_secret_enc = (SELECT client_secret_enc FROM sso_configs WHERE name = 'first') WHERE name = 'second'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let store =
        Arc::new(PgStore::connect(&PgSettings::from_url(&app.database_url).unwrap()).unwrap());
    let cipher = Arc::new(AesGcmCipher::new(vec![("k1".into(), key(TEST_KEY_1))], "k1").unwrap());
    let sso = service(&store, cipher);
    let configs = sso
        .list(&orgman_domain::Actor::platform_admin(admin_id()), None)
        .await
        .unwrap();
    let first = configs.iter().find(|c| c.name == "first").unwrap();
    let second = configs.iter().find(|c| c.name == "second").unwrap();
    assert_eq!(
        first.oidc().unwrap().client_secret_enc,
        second.oidc().unwrap().client_secret_enc
    );
    assert_eq!(sso.client_secret(first).unwrap().expose(), "first-secret");
    let moved = sso.client_secret(second).unwrap_err();
    assert!(moved.to_string().contains("authentication"), "{moved}");
}

#[tokio::test]
async fn sso_configurations_follow_the_organizations_lifecycle_and_keep_secrets_with_their_issuer()
{
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("sso-lifecycle", ALICE).await;
    let (alice, admin) = (app.token(ALICE).await, app.token(ADMIN).await);
    let path = format!("/api/v1/organizations/{org}/sso-configs");
    let issuer = Stack::get().oidc_issuer.clone();
    let created = app.post(&path, &alice, config(&issuer)).await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();

    // A new issuer or client id needs the secret again: the stored one is
    // never handed to another issuer.
    let moved = app
        .patch(&location, &alice, json!({"clientId": "someone-else"}))
        .await;
    let problem = assert_problem(moved, 422, "validation-failed").await;
    assert!(problem.to_string().contains("clientSecret"), "{problem}");
    let with_secret = app
        .patch(
            &location,
            &alice,
            json!({"clientId": "someone-else", "clientSecret": "a-new-secret"}),
        )
        .await;
    assert_eq!(with_secret.status(), 200);
    let renamed = app
        .patch(&location, &alice, json!({"name": "Renamed"}))
        .await;
    assert_eq!(renamed.status(), 200, "other fields need no secret");

    // Suspended (and pending deletion): readable, not writable.
    let suspended = app
        .post(
            &format!("/api/v1/organizations/{org}/suspend"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(suspended.status(), 200);
    for refused in [
        app.post(&path, &alice, config(&issuer)).await,
        app.patch(&location, &alice, json!({"name": "Again"})).await,
        app.delete(&location, &alice).await,
    ] {
        assert_problem(refused, 409, "organization-read-only").await;
    }
    assert_eq!(app.get(&location, &alice).await.status(), 200);
    assert_eq!(stored_secrets(&app).await.len(), 1, "nothing was written");
    let reactivated = app
        .post(
            &format!("/api/v1/organizations/{org}/reactivate"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(reactivated.status(), 200);
    assert_eq!(app.delete(&location, &alice).await.status(), 204);
}

#[tokio::test]
async fn the_connection_test_refuses_ambiguous_urls_and_reads_at_most_64_kib() {
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("ORGMAN_SSO_ALLOW_PRIVATE_ISSUERS", "true".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let admin = app.token(ADMIN).await;
    // `\` reads as `/` to an HTTP client: another host than the one checked.
    assert_problem(
        app.post(
            "/api/v1/sso-configs",
            &admin,
            config("https://10.0.0.5\\x.example/realms/a"),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;

    // A provider whose discovery document is 1 MiB.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let padding = "x".repeat(1 << 20);
                let body = format!("{{\"issuer\":\"x\",\"padding\":\"{padding}\"}}");
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            });
        }
    });
    let issuer = format!("http://127.0.0.1:{port}/realms/big");
    let id = body(
        app.post("/api/v1/sso-configs", &admin, config(&issuer))
            .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let result = body(
        app.post(&format!("/api/v1/sso-configs/{id}/test"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(result["reachable"], false, "{result}");
    assert!(
        result["detail"].as_str().unwrap().contains("64 KiB"),
        "{result}"
    );
}

#[tokio::test]
async fn long_multibyte_secrets_are_kept_and_configurations_are_capped() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("sso-caps", ALICE).await;
    let alice = app.token(ALICE).await;
    let path = format!("/api/v1/organizations/{org}/sso-configs");
    let issuer = Stack::get().oidc_issuer.clone();
    // 256 characters (the limit) of 4 bytes each.
    let mut wide = config(&issuer);
    wide["clientSecret"] = json!("🔑".repeat(256));
    let created = app.post(&path, &alice, wide).await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let mut over = config(&issuer);
    over["clientSecret"] = json!("🔑".repeat(257));
    assert_problem(
        app.post(&path, &alice, over).await,
        422,
        "validation-failed",
    )
    .await;
    // Up to the cap, then a clear 409.
    for _ in 1..20 {
        assert_eq!(app.post(&path, &alice, config(&issuer)).await.status(), 201);
    }
    assert_problem(
        app.post(&path, &alice, config(&issuer)).await,
        409,
        "sso-config-limit-reached",
    )
    .await;
}
