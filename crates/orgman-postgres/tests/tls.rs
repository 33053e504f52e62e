//! TLS to the stack's PostgreSQL (which offers TLS on its port, with a
//! certificate for `127.0.0.1` and `localhost` from the stack's own CA),
//! with libpq's `sslmode` meanings.

mod support;

use orgman_postgres::{PgSettings, PgStore, SslMode, migrate};
use orgman_testkit::Stack;
use support::Db;

async fn ping(url: &str) -> Result<(), String> {
    let settings = PgSettings::from_url(url).map_err(|e| e.to_string())?;
    let store = PgStore::connect(&settings).map_err(|e| e.to_string())?;
    store.ping().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn verify_full_checks_the_chain_and_the_name() {
    let stack = Stack::get();
    let plain = stack.fresh_database().await;
    let tls = stack.with_tls(&plain, "verify-full");
    assert_eq!(
        PgSettings::from_url(&tls).unwrap().tls().mode,
        SslMode::VerifyFull
    );
    // Migrations and the store both connect through it.
    migrate::run_pending(&tls).await.unwrap();
    let db = Db::over(tls.clone()).await;
    db.org().await;

    // The same server reached under a name its certificate does not hold
    // (`hostaddr` connects, the host name is what TLS checks): verify-full
    // refuses, verify-ca (chain only) and require accept.
    let (scheme_user, rest) = plain.split_once('@').unwrap();
    let (authority, database) = rest.split_once('/').unwrap();
    let port = authority.rsplit_once(':').unwrap().1;
    let renamed = format!(
        "{scheme_user}@db.example.invalid:{port}/{database}?hostaddr=127.0.0.1&sslrootcert={}",
        stack.ca_file
    );
    let refused = ping(&format!("{renamed}&sslmode=verify-full")).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("certificate")),
        "{refused:?}"
    );
    ping(&format!("{renamed}&sslmode=verify-ca")).await.unwrap();
    ping(&format!("{renamed}&sslmode=require")).await.unwrap();
}

#[tokio::test]
async fn a_server_from_another_authority_is_refused_unless_unverified() {
    let stack = Stack::get();
    let plain = stack.fresh_database().await;
    // A CA that did not sign the server's certificate: the system's roots.
    let foreign = "/etc/ssl/certs/ca-certificates.crt";
    if !std::path::Path::new(foreign).exists() {
        panic!("{foreign} is missing: install ca-certificates");
    }
    for mode in ["verify-ca", "verify-full"] {
        let url = format!("{plain}?sslmode={mode}&sslrootcert={foreign}");
        assert!(
            ping(&url).await.is_err(),
            "{mode} accepted a foreign server"
        );
    }
    // Without a root certificate, require and prefer take any server (as
    // libpq does); disable does not use TLS at all.
    for mode in ["require", "prefer", "disable"] {
        ping(&format!("{plain}?sslmode={mode}")).await.unwrap();
    }
}

#[tokio::test]
async fn a_client_certificate_logs_in_where_the_server_asks_for_one() {
    // The stack's role `orgman_cert` logs in by certificate only.
    let url = std::env::var("DATABASE_CERT_URL").expect("DATABASE_CERT_URL from the stack");
    let settings = PgSettings::from_url(&url).unwrap();
    assert!(settings.tls().client_cert.is_some());
    ping(&url).await.unwrap();
    let (without, _) = url.split_once("&sslcert=").unwrap();
    assert!(
        ping(without).await.is_err(),
        "logged in without the certificate"
    );
}

#[test]
fn an_unreadable_root_certificate_stops_the_start_not_the_first_connection() {
    let settings = PgSettings::from_url(
        "postgres://u@db.example.invalid/x?sslmode=verify-full&sslrootcert=/no/such/ca.pem",
    )
    .unwrap();
    let error = PgStore::connect(&settings).unwrap_err().to_string();
    assert!(error.contains("/no/such/ca.pem"), "{error}");
}
