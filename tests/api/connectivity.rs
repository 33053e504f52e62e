//! The service over TLS to its dependencies, verified against the stack's
//! CA as an operator would configure it.

use orgman_testkit::{ADMIN, ALICE, BOB, Stack};

use crate::helpers::{Overrides, TestApp};

#[tokio::test]
async fn the_service_serves_through_postgres_over_verified_tls() {
    let stack = Stack::get();
    let plain = stack.fresh_database().await;
    let tls = [("DATABASE_URL", stack.with_tls(&plain, "verify-full"))];
    let mut app = TestApp::builder()
        .settings(Overrides(tls.into_iter().collect()))
        .spawn()
        .await;
    // The test's own queries go to the same database, without TLS.
    app.database_url = plain;
    let admin = app.token(ADMIN).await;
    let id = app.create_org("over-tls").await;
    let read = app
        .get(&format!("/api/v1/organizations/{id}"), &admin)
        .await;
    assert_eq!(read.status(), 200);
    let stored = format!("SELECT count(*) AS n FROM organizations WHERE id = '{id}'");
    assert_eq!(app.count(&stored).await, 1);
    // Every session the service holds on its database is encrypted.
    let sessions = "SELECT count(*) AS n FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()";
    let total = app.count(sessions).await;
    assert!(total > 0);
    assert_eq!(app.count(&format!("{sessions} AND s.ssl")).await, total);
}

/// The service with these cache settings caches an organization's reads:
/// hits and no errors on the metrics, Redis `UP` on the health page.
async fn serves_from_the_cache(settings: Vec<(&'static str, String)>) {
    let app = TestApp::builder()
        .settings(Overrides(settings.into_iter().collect()))
        .spawn()
        .await;
    let admin = app.token(ADMIN).await;
    let id = app.create_org("cached").await;
    for _ in 0..3 {
        let read = app
            .get(&format!("/api/v1/organizations/{id}"), &admin)
            .await;
        assert_eq!(read.status(), 200);
    }
    let metrics = app.metrics().await;
    let counter = |result: &str| -> f64 {
        let prefix = format!("orgman_cache_operations_total{{result=\"{result}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map_or(0.0, |value| value.trim().parse().unwrap())
    };
    assert!(counter("hit") >= 2.0, "{metrics}");
    assert_eq!(counter("error"), 0.0, "{metrics}");
    let health = app
        .request(reqwest::Method::GET, "/actuator/health", Some(&admin))
        .send()
        .await
        .unwrap();
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["components"]["redis"]["status"], "UP", "{health}");
}

#[tokio::test]
async fn the_service_caches_through_redis_sentinel() {
    let sentinels = orgman_testkit::RedisSentinels::start();
    serves_from_the_cache(vec![
        (
            "SPRING_REDIS_SENTINEL_MASTER",
            orgman_testkit::RedisSentinels::MASTER.to_owned(),
        ),
        ("SPRING_REDIS_SENTINEL_NODES", sentinels.nodes()),
    ])
    .await;
}

#[tokio::test]
async fn the_service_caches_in_a_redis_cluster() {
    let cluster = orgman_testkit::RedisCluster::start();
    serves_from_the_cache(vec![("SPRING_REDIS_CLUSTER_NODES", cluster.nodes())]).await;
}

#[tokio::test]
async fn the_service_caches_in_redis_over_verified_tls() {
    let stack = Stack::get();
    let tls_url = std::env::var("REDIS_TLS_URL").expect("REDIS_TLS_URL from the stack");
    let port = tls_url.rsplit_once(':').unwrap().1.to_owned();
    serves_from_the_cache(vec![
        ("SPRING_REDIS_PORT", port),
        ("SPRING_REDIS_SSL", "true".to_owned()),
        ("ORGMAN_REDIS_CA_FILE", stack.ca_file.clone()),
    ])
    .await;
}

#[tokio::test]
async fn the_service_authorizes_through_spicedb_over_verified_tls() {
    let stack = Stack::get();
    let endpoint = std::env::var("SPICEDB_TLS_ENDPOINT").expect("SPICEDB_TLS_ENDPOINT");
    let port = endpoint.rsplit_once(':').unwrap().1.to_owned();
    let mut settings = Overrides::spicedb();
    settings.0.extend([
        ("FLOWX_LIB_CASCLIENT_SPICEDB_PORT", port),
        ("FLOWX_LIB_CASCLIENT_SPICEDB_TLS", "true".to_owned()),
        ("ORGMAN_SPICEDB_CA_FILE", stack.ca_file.clone()),
    ]);
    let app = TestApp::builder().settings(settings).spawn().await;
    let id = app.org_owned_by("authorized-over-tls", ALICE).await;
    let alice = app.token(ALICE).await;
    let bob = app.token(BOB).await;
    app.provision(BOB).await;
    let path = format!("/api/v1/organizations/{id}");
    let within = std::time::Duration::from_secs(10);
    orgman_testkit::eventually("SpiceDB lets the owner read", within, || async {
        app.get(&path, &alice).await.status() == 200
    })
    .await;
    // A non-member is refused. On a loaded machine a check may run past
    // its deadline (503, failing closed), which is never a way in.
    orgman_testkit::eventually("SpiceDB refuses a non-member", within, || async {
        let status = app.get(&path, &bob).await.status();
        assert_ne!(status, 200, "a non-member never gets in");
        status == 404
    })
    .await;
}

#[tokio::test]
async fn the_service_publishes_over_sasl_ssl_with_scram() {
    let stack = Stack::get();
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} from the stack"));
    let topic = orgman_testkit::unique_name("api-sasl");
    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{}\" password=\"{}\";",
        var("KAFKA_SASL_USERNAME"),
        var("KAFKA_SASL_PASSWORD")
    );
    let settings = [
        (
            "SPRING_KAFKA_BOOTSTRAP_SERVERS",
            var("KAFKA_SASL_BOOTSTRAP_SERVERS"),
        ),
        ("SPRING_KAFKA_SECURITY_PROTOCOL", "SASL_SSL".to_owned()),
        (
            "SPRING_KAFKA_PROPERTIES_SASL_MECHANISM",
            "SCRAM-SHA-512".to_owned(),
        ),
        ("SPRING_KAFKA_PROPERTIES_SASL_JAAS_CONFIG", jaas),
        (
            "SPRING_KAFKA_SSL_TRUST_STORE_LOCATION",
            stack.ca_file.clone(),
        ),
        ("SPRING_KAFKA_SSL_TRUST_STORE_TYPE", "PEM".to_owned()),
        ("KAFKA_TOPIC_ORGANIZATION_EVENTS_OUT", topic.clone()),
    ];
    let app = TestApp::builder()
        .settings(Overrides(settings.into_iter().collect()))
        .spawn()
        .await;
    app.create_org("published-over-sasl").await;
    let within = std::time::Duration::from_secs(20);
    orgman_testkit::eventually("the events reach the topic", within, || async {
        crate::events::event_types(&stack.kafka_bootstrap, &topic)
            .await
            .is_ok_and(|types| types.len() >= 2)
    })
    .await;
}
