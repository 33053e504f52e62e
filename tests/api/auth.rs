//! Token authentication: what is accepted, what is refused and how.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orgman_testkit::{ADMIN, ALICE};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Overrides, TestApp, assert_problem, body};

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn decode(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn missing_or_malformed_tokens_get_401_with_a_challenge() {
    let app = TestApp::spawn().await;
    let none = app
        .request(Method::GET, "/api/v1/users/me", None)
        .send()
        .await
        .unwrap();
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"orgman\""
    );
    assert_problem(none, 401, "missing-token").await;

    let basic = app
        .request(Method::GET, "/api/v1/users/me", None)
        .header("authorization", "Basic YWxpY2U6cHc=")
        .send()
        .await
        .unwrap();
    assert_problem(basic, 401, "invalid-token").await;

    let garbage = app.get("/api/v1/users/me", "not.a.jwt").await;
    assert!(
        garbage.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_problem(garbage, 401, "invalid-token").await;
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let real = app.token(ALICE).await;
    let parts: Vec<&str> = real.split('.').collect();
    let header = decode(parts[0]);
    let mut payload = decode(parts[1]);

    // `alg: none`, no signature.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        parts[1]
    );
    assert_problem(
        app.get("/api/v1/users/me", &none).await,
        401,
        "invalid-token",
    )
    .await;

    // HS256 "signed" with the realm's public key set (algorithm confusion).
    let jwks = orgman_testkit::http()
        .get(format!(
            "{}/protocol/openid-connect/certs",
            orgman_testkit::Stack::get().oidc_issuer
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    let confused = jsonwebtoken::encode(
        &hs_header,
        &payload,
        &jsonwebtoken::EncodingKey::from_secret(jwks.as_bytes()),
    )
    .unwrap();
    assert_problem(
        app.get("/api/v1/users/me", &confused).await,
        401,
        "invalid-token",
    )
    .await;

    // Payload changed to claim the platform admin role.
    payload["realm_access"] = json!({"roles": ["ADMIN"]});
    let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    assert_problem(
        app.get("/api/v1/organizations", &tampered).await,
        401,
        "invalid-token",
    )
    .await;

    // A key id the realm never published.
    let mut unknown = header.clone();
    unknown["kid"] = json!("someone-elses-key");
    let foreign = format!("{}.{}.{}", b64(&unknown), parts[1], parts[2]);
    assert_problem(
        app.get("/api/v1/users/me", &foreign).await,
        401,
        "invalid-token",
    )
    .await;

    // The genuine token still works.
    assert_eq!(app.get("/api/v1/users/me", &real).await.status(), 200);
}

#[tokio::test]
async fn tokens_for_another_audience_are_refused() {
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("SECURITY_OAUTH2_AUDIENCE", "some-other-service".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let token = app.token(ALICE).await;
    assert_problem(
        app.get("/api/v1/users/me", &token).await,
        401,
        "invalid-token",
    )
    .await;
}

#[tokio::test]
async fn first_request_provisions_the_user_from_the_token_and_roles_come_from_the_realm() {
    let app = TestApp::spawn().await;
    let alice = app.token(ALICE).await;
    let me = body(app.get("/api/v1/users/me", &alice).await).await;
    assert_eq!(me["id"], ALICE.id);
    assert_eq!(me["email"], ALICE.email);
    assert_eq!(me["displayName"], "Alice Anders");
    assert_eq!(me["systemRole"], "USER");
    let admin = body(app.get("/api/v1/users/me", &app.token(ADMIN).await).await).await;
    assert_eq!(admin["systemRole"], "ADMIN");

    // Concurrent first requests of one subject provision it once.
    let fresh = TestApp::spawn().await;
    let token = fresh.token(ALICE).await;
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let request = fresh.request(Method::GET, "/api/v1/users/me", Some(&token));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    // The realm's short-lived client: Keycloak gives its tokens 2 seconds.
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("SECURITY_JWT_LEEWAY_SECONDS", "0".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let token = orgman_testkit::Stack::get()
        .password_token_for(orgman_testkit::SHORT_LIVED_CLIENT, ALICE)
        .await;
    assert_eq!(
        app.get("/api/v1/users/me", &token).await.status(),
        200,
        "fresh token accepted"
    );
    // A fixed time on purpose: the token lives 2 s (the short-lived
    // client) and no leeway is allowed; nothing else would tell it expired.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let expired = app.get("/api/v1/users/me", &token).await;
    let problem = assert_problem(expired, 401, "invalid-token").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("Expired"),
        "{problem}"
    );
}

#[tokio::test]
async fn only_access_tokens_are_accepted() {
    // With the audience check off, an ID token of the realm (same key,
    // same issuer) would otherwise pass.
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("SECURITY_OAUTH2_AUDIENCE", String::new());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let stack = orgman_testkit::Stack::get();
    let response = orgman_testkit::http()
        .post(stack.token_endpoint())
        .form(&[
            ("grant_type", "password"),
            ("client_id", stack.test_client_id.as_str()),
            ("username", ALICE.username),
            ("password", ALICE.password),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    let tokens = body(response).await;
    let access = tokens["access_token"].as_str().unwrap();
    let id = tokens["id_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/users/me", access).await.status(), 200);
    let refused = assert_problem(app.get("/api/v1/users/me", id).await, 401, "invalid-token").await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("not an access token"),
        "{refused}"
    );
    // A refresh token is HS512-signed by Keycloak: refused before anything.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_problem(
        app.get("/api/v1/users/me", refresh).await,
        401,
        "invalid-token",
    )
    .await;
}

#[tokio::test]
async fn claims_longer_than_the_columns_are_cut_not_a_500() {
    let stack = orgman_testkit::Stack::get();
    let app = TestApp::spawn().await;
    // A Keycloak user whose name claim (first + last, 255 characters each)
    // is far longer than the 200 characters a display name keeps.
    let base = stack.oidc_issuer.replace("/realms/", "/admin/realms/");
    let username = orgman_testkit::unique_name("long");
    let created = orgman_testkit::http()
        .post(format!("{base}/users"))
        .bearer_auth(stack.service_account_token().await)
        .json(&json!({
            "username": username,
            "email": format!("{username}@orgman.test"),
            "emailVerified": true,
            "firstName": "Ä".repeat(255),
            "lastName": "B".repeat(255),
            "enabled": true,
            "credentials": [{"type": "password", "value": "long-password", "temporary": false}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let token = body(
        orgman_testkit::http()
            .post(stack.token_endpoint())
            .form(&[
                ("grant_type", "password"),
                ("client_id", stack.test_client_id.as_str()),
                ("username", username.as_str()),
                ("password", "long-password"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = app.get("/api/v1/users/me", &token).await;
    assert_eq!(me.status(), 200);
    let me = body(me).await;
    let name = me["displayName"].as_str().unwrap();
    assert_eq!(name.chars().count(), 200);
    assert!(
        name.starts_with("ÄÄÄ"),
        "cut on a character boundary: {name}"
    );
}

#[tokio::test]
async fn an_allow_list_of_clients_refuses_tokens_of_other_clients() {
    let stack = orgman_testkit::Stack::get();
    let mut only_the_test_client = Overrides::default();
    only_the_test_client.0.insert(
        "SECURITY_OAUTH2_AUTHORIZED_PARTIES",
        format!(" {} ,some-front-end", stack.test_client_id),
    );
    let app = TestApp::builder()
        .settings(only_the_test_client)
        .spawn()
        .await;
    let listed = stack.password_token(ALICE).await;
    assert_eq!(app.get("/api/v1/users/me", &listed).await.status(), 200);
    // The service account's token: same realm, same audience, another client.
    let other = stack.service_account_token().await;
    let refused = assert_problem(
        app.get("/api/v1/users/me", &other).await,
        401,
        "invalid-token",
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains(&stack.service_account_id),
        "{refused}"
    );
}
