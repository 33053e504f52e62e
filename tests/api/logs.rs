//! No secret in the logs: everything the service logs at debug level while
//! it handles SSO secrets and passwords is captured and searched.

use std::io::Write;
use std::sync::{Arc, Mutex};

use orgman_testkit::{ADMIN, Stack, unique_name};
use serde_json::json;

use crate::helpers::{Overrides, TestApp, body};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    // Each test runs in its own process: this subscriber sees only this test.
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .init();

    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("SPRING_PROFILES_ACTIVE", "kubernetes,prod".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let admin = app.token(ADMIN).await;
    let sso_secret = "sso-secret-that-must-not-leak-7f3a";
    let password = "user-password-that-must-not-leak-9c1e";
    let created = app
        .post("/api/v1/sso-configs", &admin, json!({"name": "n", "issuerUrl": Stack::get().oidc_issuer, "clientId": "c", "clientSecret": sso_secret}))
        .await;
    assert_eq!(created.status(), 201);
    let id = body(created).await["id"].as_str().unwrap().to_owned();
    let updated = app
        .patch(
            &format!("/api/v1/sso-configs/{id}"),
            &admin,
            json!({"clientSecret": sso_secret}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let _ = app
        .post(&format!("/api/v1/sso-configs/{id}/test"), &admin, json!({}))
        .await;
    let email = format!("{}@example.com", unique_name("logs"));
    let registered = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(registered.status(), 201);
    // A refused request carrying the secret in an unknown field.
    let refused = app
        .post(
            "/api/v1/sso-configs",
            &admin,
            json!({"clientSecret": sso_secret, "oops": sso_secret}),
        )
        .await;
    assert_eq!(refused.status(), 400);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The reference's profiles are acknowledged, not silently ignored.
    assert!(
        logs.lines()
            .any(|l| l.contains("SPRING_PROFILES_ACTIVE acknowledged")
                && l.contains("kubernetes,prod")),
        "no line acknowledges SPRING_PROFILES_ACTIVE"
    );
    assert!(logs.contains("request finished"), "the capture works");
    for secret in [
        sso_secret,
        password,
        Stack::get().service_account_secret.as_str(),
        Stack::get().spicedb_token.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    let database_password = app
        .database_url
        .split(':')
        .nth(2)
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    assert!(
        !logs.contains(database_password),
        "the database password reached the logs"
    );
}
