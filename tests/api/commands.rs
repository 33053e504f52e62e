//! The binary's operator commands, as the shipped image runs them.

use std::process::Command;

use orgman_testkit::{ALICE, Stack};
use serde_json::json;

use crate::helpers::{TEST_KEY_1, TEST_KEY_2, TestApp};

/// `orgman-server <args>` over the test app's database; stdout on success.
fn run(app: &TestApp, args: &[&str], env: &[(&str, String)]) -> Result<String, String> {
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
        ] {
            assert!(text.contains(command), "{flag}: {text}");
        }
    }
    // Without configuration anything else stops with a configuration error.
    let output = run_bare(&["migrate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("configuration error"));
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
