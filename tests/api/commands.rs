//! The binary's operator commands, as the shipped image runs them.

use std::process::Command;

use orgman_testkit::{ALICE, Stack};
use serde_json::json;

use crate::helpers::{TEST_KEY_1, TEST_KEY_2, TestApp, body, keycloak_realm};

/// `orgman-server <args>` over the test app's database; stdout on success.
pub(crate) fn run(app: &TestApp, args: &[&str], env: &[(&str, String)]) -> Result<String, String> {
    let stack = Stack::get();
    let (base, realm) = stack.oidc_issuer.split_once("/realms/").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_orgman-server"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("SECURITY_OAUTH2_BASE_SERVER_URL", base)
        .env("SECURITY_OAUTH2_REALM", realm)
        .env("LOGGING_FORMAT", "text")
        .env("LOGGING_LEVEL_ROOT", "ERROR")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// What `orgman-server sso reconcile` needs against the stack's Keycloak,
/// the Organizations mirror included.
pub(crate) fn sso_reconcile_settings() -> Vec<(&'static str, String)> {
    let stack = Stack::get();
    vec![
        (
            "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTID",
            stack.service_account_id.clone(),
        ),
        (
            "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET",
            stack.service_account_secret.clone(),
        ),
        ("ORGMAN_SSO_ENCRYPTION_KEYS", format!("k1:{TEST_KEY_1}")),
        ("ORGMAN_SSO_ALLOW_PRIVATE_ISSUERS", "true".to_owned()),
        ("ORGMAN_KEYCLOAK_ORGANIZATIONS", "true".to_owned()),
    ]
}

#[tokio::test]
async fn secrets_rotate_re_encrypts_once_and_then_finds_nothing_to_do() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("rotating", ALICE).await;
    let alice = app.token(ALICE).await;
    let created = app
        .post(
            &format!("/api/v1/organizations/{org}/sso-configs"),
            &alice,
            json!({"name": "Corp", "issuerUrl": Stack::get().oidc_issuer, "clientId": "orgman", "clientSecret": "s3cret"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let keys = [
        (
            "ORGMAN_SSO_ENCRYPTION_KEYS",
            format!("k1:{TEST_KEY_1},k2:{TEST_KEY_2}"),
        ),
        ("ORGMAN_SSO_ENCRYPTION_ACTIVE_KEY", "k2".to_owned()),
    ];
    let first = run(&app, &["secrets", "rotate"], &keys).unwrap();
    assert!(
        first.contains("1 configurations examined, 1 re-encrypted, 0 failed"),
        "{first}"
    );
    let again = run(&app, &["secrets", "rotate"], &keys).unwrap();
    assert!(again.contains("0 re-encrypted"), "{again}");
    // Without the key it was sealed with, a secret cannot be rotated: the
    // command says so and fails.
    let wrong = run(
        &app,
        &["secrets", "rotate"],
        &[("ORGMAN_SSO_ENCRYPTION_KEYS", format!("k3:{TEST_KEY_1}"))],
    )
    .unwrap_err();
    assert!(wrong.contains("1 failed"), "{wrong}");
    assert!(run(&app, &["secrets", "rotate"], &[]).is_err(), "no keys");
}

#[tokio::test]
async fn spicedb_reconcile_fills_an_empty_spicedb_then_finds_nothing_to_fix() {
    // The app decides with the database; a SpiceDB of this test's own
    // (reconciling rewrites all of a SpiceDB) has none of its data.
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("reconciled", ALICE).await;
    let spicedb = orgman_testkit::PrivateSpiceDb::start();
    let settings = [
        ("FLOWX_LIB_CASCLIENT_SPICEDB_HOST", "127.0.0.1".to_owned()),
        (
            "FLOWX_LIB_CASCLIENT_SPICEDB_PORT",
            spicedb.port().to_string(),
        ),
        (
            "FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN",
            spicedb.token().to_owned(),
        ),
    ];
    let first = run(&app, &["spicedb", "reconcile"], &settings).unwrap();
    assert!(
        first.contains(&format!(
            "added    organization:{org}#owner@user:{}",
            ALICE.id
        )),
        "{first}"
    );
    let again = run(&app, &["spicedb", "reconcile"], &settings).unwrap();
    assert!(
        again.contains("0 relationships added, 0 removed"),
        "{again}"
    );
    let unconfigured = run(&app, &["spicedb", "reconcile"], &[]).unwrap_err();
    assert!(
        unconfigured.contains("SpiceDB is not configured"),
        "{unconfigured}"
    );
}

#[test]
fn help_needs_no_configuration_and_an_unknown_command_is_refused() {
    let run_bare = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_orgman-server"))
            .args(args)
            .env_clear()
            .output()
            .expect("the binary runs")
    };
    for flag in ["--help", "-h", "help"] {
        let output = run_bare(&[flag]);
        assert!(output.status.success(), "{flag}");
        let text = String::from_utf8_lossy(&output.stdout);
        for command in [
            "check-config",
            "migrate",
            "secrets rotate",
            "spicedb reconcile",
            "sso reconcile",
        ] {
            assert!(text.contains(command), "{flag}: {text}");
        }
    }
    // Without configuration anything else stops with a configuration error.
    let output = run_bare(&["migrate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("configuration error"));
    let output = run_bare(&["check-config"]);
    assert_eq!(output.status.code(), Some(2));
}

// Multi-threaded: the app's tasks (closing its start-up migration's
// connection, which holds the migrations' advisory lock until then) run
// while this thread waits for the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_need_the_database_settings_alone() {
    let app = TestApp::spawn().await;
    let output = Command::new(env!("CARGO_BIN_EXE_orgman-server"))
        .args(["migrate", "status"])
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("000001"), "{stdout}");
    // The password is never printed.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(":***@"), "{stderr}");
}

#[tokio::test]
async fn check_config_prints_the_settings_without_secrets_and_asks_every_dependency() {
    let app = TestApp::spawn().await;
    let password = app
        .database_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_owned())
        .expect("the stack's database URL has a password");
    let secret_keys = format!("k1:{TEST_KEY_1}");
    let printed = run(
        &app,
        &["check-config"],
        &[
            ("ORGMAN_SSO_ENCRYPTION_KEYS", secret_keys.clone()),
            ("ORGMAN_CACHE_ENABLED", "false".into()),
            ("ORGMAN_AUTHORIZER", "database".into()),
        ],
    )
    .expect("every required dependency answers");
    assert!(printed.contains("PgSettings"), "{printed}");
    assert!(
        !printed.contains(&password),
        "the database password printed"
    );
    assert!(!printed.contains(TEST_KEY_1), "an encryption key printed");
    let database = printed
        .lines()
        .find(|l| l.starts_with("database "))
        .expect("a line for the database");
    assert!(
        database.contains(" UP ") && database.contains("required"),
        "{database}"
    );
    assert!(printed.lines().any(|l| l.starts_with("identityProvider ")));

    // A database that does not answer: the command fails and says so.
    let refused = run(
        &app,
        &["check-config"],
        &[
            (
                "DATABASE_URL",
                "postgres://nobody:x@127.0.0.1:1/none".into(),
            ),
            ("ORGMAN_CACHE_ENABLED", "false".into()),
            ("ORGMAN_AUTHORIZER", "database".into()),
        ],
    )
    .unwrap_err();
    assert!(
        refused.contains("a required dependency does not answer"),
        "{refused}"
    );
    assert!(
        refused
            .lines()
            .any(|l| l.starts_with("database ") && l.contains("DOWN"))
    );
}

async fn keycloak_admin(path: &str) -> Option<serde_json::Value> {
    Stack::get().keycloak_admin(path).await
}

#[tokio::test]
async fn sso_reconcile_writes_what_keycloak_misses_and_removes_what_orgman_no_longer_has() {
    let _realm = keycloak_realm().await;
    let stack = Stack::get();
    // The service itself copies nothing to Keycloak (the tests' default).
    let app = TestApp::spawn().await;
    let org = app
        .org_owned_by(&orgman_testkit::unique_name("reconcile"), ALICE)
        .await;
    let alice = app.token(ALICE).await;
    let created = app
        .post(
            &format!("/api/v1/organizations/{org}/sso-configs"),
            &alice,
            json!({
                "name": "Reconciled login",
                "issuerUrl": orgman_testkit::customer_issuer(),
                "clientId": "dev-broker",
                "clientSecret": "customer-broker-secret",
            }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let config = body(created).await["id"].as_str().unwrap().to_owned();
    let alias = format!("orgman-{config}");
    let provider = format!("identity-provider/instances/{alias}");
    let mirrored = format!("organizations?q=orgman-id:{org}&briefRepresentation=false");
    assert_eq!(keycloak_admin(&provider).await, None);

    let settings = sso_reconcile_settings();
    let first = run(&app, &["sso", "reconcile"], &settings).unwrap();
    assert!(first.contains("0 failed"), "{first}");
    let held = keycloak_admin(&provider)
        .await
        .expect("the provider is written");
    assert_eq!(held["displayName"], "Reconciled login");
    // The organization, with its owner, linked to the provider.
    let organizations = keycloak_admin(&mirrored).await.unwrap();
    let keycloak_org = organizations[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(organizations[0]["alias"], org.as_str());
    let members = keycloak_admin(&format!("organizations/{keycloak_org}/members"))
        .await
        .unwrap();
    let ids: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ALICE.id]);
    assert_eq!(held["organizationId"], keycloak_org.as_str());

    // Deleted in orgman while nothing copies: the next reconciliation
    // removes the provider; the organization, still in orgman, stays.
    let deleted = app
        .delete(
            &format!("/api/v1/organizations/{org}/sso-configs/{config}"),
            &alice,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    let again = run(&app, &["sso", "reconcile"], &settings).unwrap();
    assert!(again.contains("0 failed"), "{again}");
    assert_eq!(keycloak_admin(&provider).await, None);
    assert_eq!(
        keycloak_admin(&mirrored).await.unwrap()[0]["alias"],
        org.as_str()
    );
    // Without a provider, its members are not Keycloak's to hold
    // (`ORGMAN_KEYCLOAK_MEMBERS=linked`, the default).
    let members = keycloak_admin(&format!("organizations/{keycloak_org}/members"))
        .await
        .unwrap();
    assert_eq!(members.as_array().map(Vec::len), Some(0), "{members}");

    // Without the service account there is nothing to copy with.
    let unconfigured = run(&app, &["sso", "reconcile"], &[]).unwrap_err();
    assert!(
        unconfigured.contains("nothing is copied to Keycloak"),
        "{unconfigured}"
    );

    // Tidy up the shared realm.
    let token = stack.service_account_token().await;
    let base = stack.oidc_issuer.split("/realms/").next().unwrap();
    orgman_testkit::http()
        .delete(format!(
            "{base}/admin/realms/dev/organizations/{keycloak_org}"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
}
