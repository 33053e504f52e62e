//! Test support for orgman's adapter and API tests, which always run against
//! the real services of the local stack (`cargo xtask stack`):
//!
//! - [`Stack::get`] reads the stack's settings from the environment that
//!   `cargo xtask test` sets (or `eval "$(cargo xtask stack env)"`), and fails
//!   loudly when they are missing: a test that needs the stack is never
//!   skipped silently;
//! - [`Stack::fresh_database`] creates an empty database per test;
//! - [`unique_name`] gives topics, keys and slugs no other test uses;
//! - [`Stack::password_token`] and [`Stack::service_account_token`] get real
//!   tokens from the stack's Keycloak for the `dev` realm's users
//!   ([`ADMIN`], [`ALICE`], [`BOB`], [`CAROL`]);
//! - [`TcpProxy`] puts a cuttable connection between one test and a real
//!   service, to test outages without stopping the shared stack;
//!   [`PrivateBroker`] is an Apache Kafka broker of the test's own, to kill
//!   and restart; [`PrivateSpiceDb`] a SpiceDB that comes back empty;
//!   [`MailSink`] an SMTP server that keeps what Keycloak sends.

mod broker;
mod browser;
mod dns;
mod kafka;
mod mail;
mod proxy;
mod redis;
mod spicedb;

use std::env;
use std::sync::OnceLock;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;

pub use broker::PrivateBroker;
pub use browser::{
    TEST_REDIRECT_URI, Tamper, login_by_address, login_through, login_through_tampered,
};
pub use dns::PrivateDns;
pub use kafka::{KafkaRecord, java_kafka_probe, read_topic};
pub use mail::{Mail, MailSink};
pub use proxy::TcpProxy;
pub use redis::{RedisCluster, RedisSentinels};
pub use spicedb::PrivateSpiceDb;

/// A user of the stack's `dev` realm (see `deploy/local/keycloak/realm-dev.json`).
#[derive(Clone, Copy, Debug)]
pub struct RealmUser {
    /// The user's id, which is also the tokens' `sub`.
    pub id: &'static str,
    /// Login name.
    pub username: &'static str,
    /// Password for the direct-access grant.
    pub password: &'static str,
    /// E-mail address.
    pub email: &'static str,
}

/// The platform administrator (realm role `ADMIN`).
pub const ADMIN: RealmUser = RealmUser {
    id: "0a000000-0000-4000-8000-000000000001",
    username: "admin",
    password: "admin-password",
    email: "admin@orgman.test",
};
/// An ordinary user whose token carries an `org_id` claim.
pub const ALICE: RealmUser = RealmUser {
    id: "0a000000-0000-4000-8000-000000000002",
    username: "alice",
    password: "alice-password",
    email: "alice@orgman.test",
};
/// An ordinary user.
pub const BOB: RealmUser = RealmUser {
    id: "0a000000-0000-4000-8000-000000000003",
    username: "bob",
    password: "bob-password",
    email: "bob@orgman.test",
};
/// An ordinary user.
pub const CAROL: RealmUser = RealmUser {
    id: "0a000000-0000-4000-8000-000000000004",
    username: "carol",
    password: "carol-password",
    email: "carol@orgman.test",
};

/// A user of the stack's `customer` realm, which plays an organization's
/// own identity provider (`deploy/local/keycloak/realm-customer.json`);
/// `id` is the customer realm's, not the one the `dev` realm gives the user
/// when it brokers their first login.
pub const DORA: RealmUser = RealmUser {
    id: "0c000000-0000-4000-8000-000000000001",
    username: "dora",
    password: "dora-password",
    email: "dora@customer.example",
};
/// Another user of the `customer` realm.
pub const DAN: RealmUser = RealmUser {
    id: "0c000000-0000-4000-8000-000000000002",
    username: "dan",
    password: "dan-password",
    email: "dan@customer.example",
};

/// A user of the `customer` realm for SAML logins (the OpenID Connect
/// tests never log in as her, so that their accounts never meet).
pub const SAM: RealmUser = RealmUser {
    id: "0c000000-0000-4000-8000-000000000010",
    username: "sam",
    password: "sam-password",
    email: "sam@customer.example",
};
/// Another user of the `customer` realm for SAML logins.
pub const SUE: RealmUser = RealmUser {
    id: "0c000000-0000-4000-8000-000000000011",
    username: "sue",
    password: "sue-password",
    email: "sue@customer.example",
};

/// The SAML 2.0 identity provider metadata of the stack's `customer`
/// realm (an organization's own SAML identity provider in the SAML tests).
pub fn customer_saml_metadata_url() -> String {
    format!("{}/protocol/saml/descriptor", customer_issuer())
}

/// The issuer of the stack's `customer` realm (an organization's own
/// OpenID provider in the SSO tests).
pub fn customer_issuer() -> String {
    Stack::get()
        .oidc_issuer
        .replace("/realms/dev", "/realms/customer")
}

/// Deletes the `dev` realm's accounts with `email` (as the service account),
/// so that the next brokered login of a `customer` user is a first one.
///
/// # Panics
/// When Keycloak cannot be asked or refuses.
pub async fn forget_dev_user(email: &str) {
    let stack = Stack::get();
    let token = stack.service_account_token().await;
    let users: Vec<serde_json::Value> = http()
        .get(format!("{}/admin/realms/dev/users", stack.keycloak_base()))
        .query(&[("email", email), ("exact", "true")])
        .bearer_auth(&token)
        .send()
        .await
        .expect("Keycloak reachable")
        .json()
        .await
        .expect("a list of users");
    for found in users {
        let id = found["id"].as_str().expect("an id");
        let deleted = http()
            .delete(format!(
                "{}/admin/realms/dev/users/{id}",
                stack.keycloak_base()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("Keycloak reachable");
        assert!(deleted.status().is_success(), "{}", deleted.status());
    }
}

/// A public client of the `dev` realm whose access tokens live 2 seconds
/// (Keycloak's per-client `access.token.lifespan`), for expiry tests.
pub const SHORT_LIVED_CLIENT: &str = "orgman-short-lived";

/// The local stack's settings.
#[derive(Clone, Debug)]
pub struct Stack {
    /// `postgres://` URL of the service database.
    pub database_url: String,
    /// `postgres://` URL of the maintenance database (to create databases).
    pub database_admin_url: String,
    /// `redis://` URL.
    pub redis_url: String,
    /// `host:port` of the Kafka-compatible broker.
    pub kafka_bootstrap: String,
    /// `http://host:port` of SpiceDB's gRPC API.
    pub spicedb_endpoint: String,
    /// SpiceDB's preshared key.
    pub spicedb_token: String,
    /// The OIDC issuer, Keycloak's `dev` realm (`.../realms/dev`).
    pub oidc_issuer: String,
    /// The audience of the realm's access tokens.
    pub oidc_audience: String,
    /// The service account's client id.
    pub service_account_id: String,
    /// The service account's client secret.
    pub service_account_secret: String,
    /// The public client used for password grants.
    pub test_client_id: String,
    /// The password of the `master` realm's `admin`, Keycloak's own
    /// administrator (never orgman's).
    pub keycloak_admin_password: String,
    /// The stack's CA certificate (PEM), which its TLS listeners' server
    /// certificate (for `127.0.0.1` and `localhost`) chains to.
    pub ca_file: String,
}

fn required(name: &str) -> String {
    env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs the local stack. Run it through \
             `cargo xtask test`, or start the stack and load its settings with \
             `cargo xtask stack up && eval \"$(cargo xtask stack env)\"`"
        )
    })
}

impl Stack {
    /// The stack's settings from the environment.
    ///
    /// # Panics
    /// When a setting is missing (the stack is not configured).
    pub fn get() -> &'static Stack {
        static STACK: OnceLock<Stack> = OnceLock::new();
        STACK.get_or_init(|| {
            // rustls needs one process-wide crypto provider before any client.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Stack {
                database_url: required("DATABASE_URL"),
                database_admin_url: required("DATABASE_ADMIN_URL"),
                redis_url: required("REDIS_URL"),
                kafka_bootstrap: required("KAFKA_BOOTSTRAP_SERVERS"),
                spicedb_endpoint: required("SPICEDB_ENDPOINT"),
                spicedb_token: required("SPICEDB_TOKEN"),
                oidc_issuer: required("OIDC_ISSUER_URL"),
                oidc_audience: required("OIDC_AUDIENCE"),
                service_account_id: required("OIDC_CLIENT_ID"),
                service_account_secret: required("OIDC_CLIENT_SECRET"),
                test_client_id: required("OIDC_TEST_CLIENT_ID"),
                keycloak_admin_password: required("KEYCLOAK_ADMIN_PASSWORD"),
                ca_file: required("STACK_CA_FILE"),
            }
        })
    }

    /// `url` (one of the stack's `postgres://` URLs) over TLS with `mode`,
    /// verified against the stack's CA.
    pub fn with_tls(&self, url: &str, mode: &str) -> String {
        format!("{url}?sslmode={mode}&sslrootcert={}", self.ca_file)
    }

    /// Creates an empty database for one test and returns its URL. Databases
    /// are not dropped: the test stack is wiped after each run.
    ///
    /// # Panics
    /// When PostgreSQL refuses (the test cannot run).
    pub async fn fresh_database(&self) -> String {
        let name = unique_name("test").replace('-', "_");
        let mut admin = AsyncPgConnection::establish(&self.database_admin_url)
            .await
            .expect("connect to the stack's PostgreSQL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let (base, _) = self
            .database_admin_url
            .rsplit_once('/')
            .expect("database URL has a path");
        format!("{base}/{name}")
    }

    /// The OIDC token endpoint (Keycloak's layout).
    pub fn token_endpoint(&self) -> String {
        format!("{}/protocol/openid-connect/token", self.oidc_issuer)
    }

    /// An access token for a realm user, by the direct-access (password)
    /// grant.
    ///
    /// # Panics
    /// When the provider refuses.
    pub async fn password_token(&self, user: RealmUser) -> String {
        self.password_token_for(&self.test_client_id, user).await
    }

    /// An access token for a realm user through another public client of
    /// the realm, e.g. [`SHORT_LIVED_CLIENT`].
    ///
    /// # Panics
    /// When the provider refuses.
    pub async fn password_token_for(&self, client_id: &str, user: RealmUser) -> String {
        self.token(&[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", user.username),
            ("password", user.password),
        ])
        .await
    }

    /// An access token for the service account, by client credentials.
    ///
    /// # Panics
    /// When the provider refuses.
    pub async fn service_account_token(&self) -> String {
        let response = http()
            .post(self.token_endpoint())
            .basic_auth(&self.service_account_id, Some(&self.service_account_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token endpoint reachable");
        read_token(response).await
    }

    /// Keycloak's base URL (the issuer without `/realms/...`).
    pub fn keycloak_base(&self) -> &str {
        self.oidc_issuer
            .split("/realms/")
            .next()
            .unwrap_or(&self.oidc_issuer)
    }

    /// `GET /admin/realms/dev/<path>` of Keycloak's Admin API as the
    /// service account: the JSON answer, `None` for 404.
    ///
    /// # Panics
    /// On any other answer.
    pub async fn keycloak_admin(&self, path: &str) -> Option<serde_json::Value> {
        let response = http()
            .get(format!("{}/admin/realms/dev/{path}", self.keycloak_base()))
            .bearer_auth(self.service_account_token().await)
            .send()
            .await
            .expect("Keycloak reachable");
        match response.status().as_u16() {
            404 => None,
            200 => Some(response.json().await.expect("JSON")),
            other => panic!("Keycloak answered {other} to GET {path}"),
        }
    }

    /// A token of Keycloak's own administrator (the `master` realm's
    /// `admin`), for reading what orgman's service account may not.
    pub async fn keycloak_master_token(&self) -> String {
        let response = http()
            .post(format!(
                "{}/realms/master/protocol/openid-connect/token",
                self.keycloak_base()
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", "admin"),
                ("password", self.keycloak_admin_password.as_str()),
            ])
            .send()
            .await
            .expect("token endpoint reachable");
        read_token(response).await
    }

    async fn token(&self, form: &[(&str, &str)]) -> String {
        let response = http()
            .post(self.token_endpoint())
            .form(form)
            .send()
            .await
            .expect("token endpoint reachable");
        read_token(response).await
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

async fn read_token(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "token request refused: {status} {body}"
    );
    serde_json::from_str::<TokenResponse>(&body)
        .expect("token response is JSON with access_token")
        .access_token
}

/// A shared HTTP client for tests. It keeps no idle connections: each test
/// has a runtime of its own, and a pooled connection opened on a runtime
/// that has ended can no longer be used (servers such as Keycloak keep
/// connections alive).
pub fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client")
    })
}

/// Provisions a new user with a random id (its subject is the id) through
/// any storage adapter, and returns the id.
///
/// # Panics
/// When the repository refuses.
pub async fn new_user(users: &dyn orgman_domain::ports::UserRepository) -> orgman_domain::UserId {
    let id = orgman_domain::UserId::from_uuid(uuid::Uuid::new_v4());
    users
        .provision(&orgman_domain::UserProfile {
            id,
            subject: id.to_string(),
            email: None,
            display_name: None,
            given_name: None,
            family_name: None,
        })
        .await
        .expect("provision a test user");
    id
}

/// A free loopback port.
///
/// # Panics
/// When the machine has none.
pub(crate) fn free_port() -> u16 {
    orgman_launch::free_port().expect("a free loopback port")
}

/// A name no other test uses: `prefix-<random>`.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// [`eventually`] for code that cannot await (a thread of its own, a
/// blocking helper): polls `condition` every 20 ms until it holds, for at
/// most `within`. Returns how long it took.
///
/// # Panics
/// When it still does not hold after `within`, naming `what`.
pub fn eventually_blocking(
    what: &str,
    within: std::time::Duration,
    mut condition: impl FnMut() -> bool,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < within,
            "{what}: still not the case after {within:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    started.elapsed()
}

/// Polls `condition` every 100 ms until it holds, for at most `within`.
/// Returns how long it took.
///
/// # Panics
/// When it still does not hold after `within`, naming `what`.
pub async fn eventually<F, Fut>(
    what: &str,
    within: std::time::Duration,
    mut condition: F,
) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if condition().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what}: still not the case after {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
