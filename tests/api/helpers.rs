//! Spawning the application and talking to it.

use std::collections::HashMap;

use orgman_server::{Application, Config};
use orgman_testkit::{ADMIN, RealmUser, Stack, TcpProxy, http};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

/// The SSO encryption keys the test app uses (base64 of 32 bytes).
pub const TEST_KEY_1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
pub const TEST_KEY_2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// Held by the tests that write orgman's providers and organizations into
/// the stack's shared Keycloak realm, and by those that reconcile it (a
/// reconciliation removes what its own database does not have): one at a
/// time.
pub async fn keycloak_realm() -> tokio::sync::MutexGuard<'static, ()> {
    static REALM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    REALM.lock().await
}

pub struct TestApp {
    pub address: String,
    /// The app's database, without any proxy.
    pub database_url: String,
    /// Set when the app reaches its database through a cuttable proxy.
    pub db_proxy: Option<TcpProxy>,
}

/// Settings the tests change; everything else comes from the stack.
#[derive(Default)]
pub struct Overrides(pub HashMap<&'static str, String>);

impl Overrides {
    /// Authorization through the stack's SpiceDB.
    pub fn spicedb() -> Overrides {
        let stack = Stack::get();
        let (host, port) = stack
            .spicedb_endpoint
            .trim_start_matches("http://")
            .rsplit_once(':')
            .unwrap();
        Overrides(HashMap::from([
            ("ORGMAN_AUTHORIZER", "spicedb".to_owned()),
            ("FLOWX_LIB_CASCLIENT_SPICEDB_HOST", host.to_owned()),
            ("FLOWX_LIB_CASCLIENT_SPICEDB_PORT", port.to_owned()),
            (
                "FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN",
                stack.spicedb_token.clone(),
            ),
        ]))
    }
}

impl TestApp {
    /// The application with the tests' default settings.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    /// An application to start: settings over the tests' defaults, and
    /// how it reaches its database, then [`Spawn::spawn`].
    pub fn builder() -> Spawn {
        Spawn {
            overrides: Overrides::default(),
            proxied_db: false,
        }
    }
}

/// How a [`TestApp`] is started ([`TestApp::builder`]).
pub struct Spawn {
    overrides: Overrides,
    proxied_db: bool,
}

impl Spawn {
    /// These settings over the tests' defaults (later ones win).
    pub fn settings(mut self, overrides: Overrides) -> Self {
        self.overrides.0.extend(overrides.0);
        self
    }

    /// The application reaches its database through a [`TcpProxy`] the
    /// test can cut ([`TestApp::db_proxy`]).
    pub fn database_behind_proxy(mut self) -> Self {
        self.proxied_db = true;
        self
    }

    /// Starts the application on a fresh database and a free port.
    pub async fn spawn(self) -> TestApp {
        let Spawn {
            overrides,
            proxied_db,
        } = self;
        let stack = Stack::get();
        let database_url = stack.fresh_database().await;
        let (url, db_proxy) = if proxied_db {
            let target = database_url
                .rsplit_once('@')
                .unwrap()
                .1
                .split_once('/')
                .unwrap()
                .0
                .to_owned();
            let proxy = TcpProxy::start(&target).await;
            (database_url.replace(&target, &proxy.address()), Some(proxy))
        } else {
            (database_url.clone(), None)
        };
        let (base, realm) = stack.oidc_issuer.split_once("/realms/").unwrap();
        let (redis_host, redis_port) = stack
            .redis_url
            .trim_start_matches("redis://")
            .rsplit_once(':')
            .unwrap();
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("DATABASE_URL", url),
            ("SERVER_ADDRESS", "127.0.0.1".into()),
            ("SERVER_PORT", "0".into()),
            ("SECURITY_OAUTH2_BASE_SERVER_URL", base.to_owned()),
            ("SECURITY_OAUTH2_REALM", realm.to_owned()),
            ("SECURITY_OAUTH2_AUDIENCE", stack.oidc_audience.clone()),
            (
                "SPRING_KAFKA_BOOTSTRAP_SERVERS",
                stack.kafka_bootstrap.clone(),
            ),
            (
                "KAFKA_TOPIC_ORGANIZATION_EVENTS_OUT",
                orgman_testkit::unique_name("api-events"),
            ),
            ("SPRING_REDIS_HOST", redis_host.to_owned()),
            ("SPRING_REDIS_PORT", redis_port.to_owned()),
            (
                "ORGMAN_CACHE_KEY_PREFIX",
                orgman_testkit::unique_name("api"),
            ),
            ("ORGMAN_SSO_ENCRYPTION_KEYS", format!("k1:{TEST_KEY_1}")),
            ("SECURITY_OAUTH2_SA_REALM", realm.to_owned()),
            (
                "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTID",
                stack.service_account_id.clone(),
            ),
            (
                "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET",
                stack.service_account_secret.clone(),
            ),
            ("ORGMAN_SSO_ALLOW_HTTP_LOOPBACK", "true".into()),
            // Tests share one Keycloak realm: the copy of SSO configurations
            // to it is on only where a test asks (`sso_login.rs`).
            ("ORGMAN_SSO_BROKER_SYNC", "false".into()),
            ("ORGMAN_KEYCLOAK_ORGANIZATIONS", "false".into()),
            // Test-sized: figures and probes that tests wait for are fresh
            // within a tenth of a second (the throttling itself is tested
            // with long intervals in `operability.rs`).
            ("ORGMAN_HEALTH_PROBE_INTERVAL_MS", "100".into()),
            ("ORGMAN_METRICS_BACKLOG_REFRESH_MS", "100".into()),
            ("ORGMAN_KEYCLOAK_MIRROR_POLL_MS", "50".into()),
            ("ORGMAN_KEYCLOAK_RELAY_GATHER_MS", "20".into()),
            ("ORGMAN_KEYCLOAK_MIRROR_BACKOFF_MS", "100".into()),
            ("ORGMAN_KEYCLOAK_MIRROR_LEASE_SECONDS", "2".into()),
            // Webhooks to the tests' own receivers, with test-sized waits.
            ("ORGMAN_WEBHOOKS_ALLOW_HTTP_LOOPBACK", "true".into()),
            ("ORGMAN_WEBHOOKS_POLL_MS", "50".into()),
            ("ORGMAN_WEBHOOKS_BACKOFF_BASE_MS", "50".into()),
            ("ORGMAN_WEBHOOKS_BACKOFF_MAX_SECONDS", "1".into()),
            ("ORGMAN_WEBHOOKS_TIMEOUT_MS", "2000".into()),
            ("LOGGING_FORMAT", "text".into()),
            ("LOGGING_LEVEL_ROOT", "WARN".into()),
        ]);
        vars.extend(overrides.0);
        let config = Config::from_env(|name| vars.get(name).cloned()).expect("test configuration");
        let application = Application::build(config)
            .await
            .expect("application starts");
        let address = format!("http://127.0.0.1:{}", application.port());
        tokio::spawn(application.run());
        TestApp {
            address,
            database_url,
            db_proxy,
        }
    }
}

impl TestApp {
    pub async fn token(&self, user: RealmUser) -> String {
        Stack::get().password_token(user).await
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = http().request(method, format!("{}{path}", self.address));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// The Prometheus text of `/actuator/metrics`.
    pub async fn metrics(&self) -> String {
        self.request(Method::GET, "/actuator/metrics", None)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(token))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    /// Runs SQL statements on the app's database (for setting up data the
    /// API has no way to create in bulk, such as thousands of users).
    pub async fn sql(&self, statements: &str) {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let mut conn = diesel_async::AsyncPgConnection::establish(&self.database_url)
            .await
            .unwrap();
        conn.batch_execute(statements).await.unwrap();
    }

    /// A `bigint` query result (`SELECT count(*) AS n ...`).
    pub async fn count(&self, query: &str) -> i64 {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = diesel_async::AsyncPgConnection::establish(&self.database_url)
            .await
            .unwrap();
        diesel::sql_query(query)
            .get_result::<Count>(&mut conn)
            .await
            .unwrap()
            .n
    }

    /// A `text` query result (`SELECT ... AS v`, or any one text column
    /// named `v`).
    pub async fn sql_value(&self, query: &str) -> String {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        let mut conn = diesel_async::AsyncPgConnection::establish(&self.database_url)
            .await
            .unwrap();
        diesel::sql_query(query)
            .get_result::<Text>(&mut conn)
            .await
            .unwrap()
            .v
    }

    /// `count` local users with fresh ids, returned in creation order.
    pub async fn bulk_users(&self, count: usize) -> Vec<uuid::Uuid> {
        let ids: Vec<uuid::Uuid> = (0..count).map(|_| uuid::Uuid::new_v4()).collect();
        let values = ids
            .iter()
            .map(|id| format!("('{id}', 'bulk-{id}')"))
            .collect::<Vec<_>>()
            .join(",");
        self.sql(&format!("INSERT INTO users (id, subject) VALUES {values}"))
            .await;
        ids
    }

    /// Creates an organization as the platform admin and returns its id.
    pub async fn create_org(&self, slug: &str) -> String {
        let admin = self.token(ADMIN).await;
        let response = self
            .post(
                "/api/v1/organizations",
                &admin,
                json!({"name": slug, "slug": slug}),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        body(response).await["id"].as_str().unwrap().to_owned()
    }

    /// Makes sure a realm user exists locally (any authenticated call
    /// provisions it).
    pub async fn provision(&self, user: RealmUser) {
        let token = self.token(user).await;
        assert_eq!(self.get("/api/v1/users/me", &token).await.status(), 200);
    }

    /// An organization created by the admin with `owner` as its only OWNER.
    pub async fn org_owned_by(&self, slug: &str, owner: RealmUser) -> String {
        let id = self.create_org(slug).await;
        self.provision(owner).await;
        let admin = self.token(ADMIN).await;
        let added = self
            .post(
                &format!("/api/v1/organizations/{id}/members"),
                &admin,
                json!({"userId": owner.id, "role": "OWNER"}),
            )
            .await;
        assert_eq!(added.status(), 201);
        let removed = self
            .delete(
                &format!("/api/v1/organizations/{id}/members/{}", ADMIN.id),
                &admin,
            )
            .await;
        assert_eq!(removed.status(), 204);
        id
    }
}

pub async fn body(response: Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts a problem response: status, content type and code.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "for code {code}");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let problem = body(response).await;
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], status);
    assert_eq!(problem["type"], format!("urn:orgman:problem:{code}"));
    problem
}
