//! The organization console in a real browser: the Node suite of
//! `crates/orgman-server/console/tests` (playwright-core driving Debian's
//! Chromium) against this service and the stack's Keycloak. `cargo xtask
//! test` builds the page first and names the browser (`ORGMAN_CHROMIUM`).

use std::path::PathBuf;
use std::process::Stdio;

use orgman_testkit::{ADMIN, ALICE, BOB, Stack, http};

use crate::helpers::{Overrides, TestApp};

/// See `deploy/local/keycloak/realm-dev.json`, client `orgman-console`.
const CONSOLE_TEST_PORT: &str = "18080";

fn console_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("console")
}

fn chromium() -> String {
    std::env::var("ORGMAN_CHROMIUM").unwrap_or_else(|_| {
        panic!(
            "ORGMAN_CHROMIUM is not set: the console's browser tests need Debian's Chromium \
             (`apt-get install chromium`); `cargo xtask test` installs it and sets this"
        )
    })
}

#[tokio::test]
async fn the_console_runs_an_organization_end_to_end_in_a_real_browser() {
    let browser = chromium();
    assert!(
        console_dir().join("node_modules/playwright-core").is_dir(),
        "the console's packages are not installed: `npm ci` in {} (cargo xtask test does it)",
        console_dir().display()
    );
    let app = TestApp::builder()
        .settings(Overrides(std::collections::HashMap::from([
            ("ORGMAN_ORGANIZATION_CREATION", "any-user".to_owned()),
            // The connection test reaches the stack's Keycloak on loopback.
            ("ORGMAN_SSO_ALLOW_PRIVATE_ISSUERS", "true".to_owned()),
            // The port the stack realm's `orgman-console` client names
            // among its redirect URIs (and so its web origins).
            ("SERVER_PORT", CONSOLE_TEST_PORT.to_owned()),
        ])))
        .spawn()
        .await;
    let page = http()
        .get(format!("{}/console/", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("not built"),
        "this binary has no console: build it with `npm run build` first (cargo xtask test does)"
    );
    app.provision(BOB).await;
    let owner_token = app.token(ALICE).await;
    let stack = Stack::get();
    let customer = stack.oidc_issuer.replace("/realms/dev", "/realms/customer");
    let screenshots =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");

    // Each browser action gives up after 30 s, the whole file after
    // 280 s: no wait of ours here.
    let mut node = std::process::Command::new("node");
    node.args([
        "--test",
        "--test-concurrency=1",
        "--test-timeout=280000",
        "--test-reporter=spec",
        "tests/",
    ])
    .current_dir(console_dir())
    .env("CHROMIUM", browser)
    .env("CONSOLE_URL", &app.address)
    .env("CONSOLE_USER", ALICE.username)
    .env("CONSOLE_PASSWORD", ALICE.password)
    .env("CONSOLE_ADMIN", ADMIN.username)
    .env("CONSOLE_ADMIN_PASSWORD", ADMIN.password)
    .env("CONSOLE_MEMBER_ID", BOB.id)
    .env("CONSOLE_OWNER_TOKEN", owner_token)
    .env("CONSOLE_SSO_ISSUER", customer)
    .env("CONSOLE_SCREENSHOTS", &screenshots)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let output = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("node runs (the machine's Node.js)");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the browser suite failed:\n{report}"
    );
    assert!(
        report.contains("pass 13") && report.contains("fail 0"),
        "{report}"
    );
    assert!(screenshots.join("04-members.png").is_file());
}

#[tokio::test]
async fn the_console_is_served_with_its_own_headers_and_swagger_ui_keeps_its_own() {
    let app = TestApp::spawn().await;
    let get = |path: &str, gzip: bool| {
        let request = http().get(format!("{}{path}", app.address));
        let request = if gzip {
            request.header("Accept-Encoding", "gzip")
        } else {
            request.header("Accept-Encoding", "identity")
        };
        request.send()
    };
    let config: serde_json::Value = get("/console/config.json", false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["clientId"], "orgman-console");
    assert_eq!(config["authority"], Stack::get().oidc_issuer.as_str());

    let page = get("/console/#/org/x", false).await.unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let issuer_origin = url::Url::parse(&Stack::get().oidc_issuer)
        .unwrap()
        .origin()
        .ascii_serialization();
    assert!(
        policy.contains(&format!("connect-src 'self' {issuer_origin};"))
            && policy.contains("frame-ancestors 'none'")
            && !policy.contains("unsafe"),
        "{policy}"
    );
    let html = page.text().await.unwrap();
    let script = html
        .split("src=\"/console/assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page names its script")
        .to_owned();
    assert!(!html.contains("<script>"), "no inline script: {html}");

    // The script: cached for good, gzip to those who take it.
    let plain = get(&format!("/console/assets/{script}"), false)
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert!(
        plain.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let plain_length = plain.bytes().await.unwrap().len();
    let head = http()
        .head(format!("{}/console/assets/{script}", app.address))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-encoding"], "gzip");
    let compressed: usize = head.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        compressed * 2 < plain_length,
        "{compressed} of {plain_length}"
    );
    assert_eq!(
        get("/console/assets/nothing-here.js", false)
            .await
            .unwrap()
            .status(),
        404
    );
    // Swagger UI is not under the console's policy.
    let swagger = get("/swagger-ui/", false).await.unwrap();
    assert_eq!(swagger.status(), 200);
    assert!(swagger.headers().get("content-security-policy").is_none());
}
