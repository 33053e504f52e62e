//! Health, metrics, info and the platform component monitor.

use std::time::Duration;

use orgman_testkit::{ADMIN, ALICE, TcpProxy};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Overrides, TestApp, body};

/// GETs a JSON endpoint; the overall health as a platform administrator,
/// who sees its components (`when-authorized`, the default).
async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let token = if path == "/actuator/health" {
        Some(app.token(ADMIN).await)
    } else {
        None
    };
    let response = app
        .request(Method::GET, path, token.as_deref())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, body(response).await)
}

/// `GET path` until `check` holds (the testkit's `eventually`, 10 s);
/// the observation that held.
async fn eventually(
    app: &TestApp,
    path: &str,
    check: impl Fn(u16, &Value) -> bool,
) -> (u16, Value) {
    let last = std::cell::RefCell::new((0, Value::Null));
    orgman_testkit::eventually(path, Duration::from_secs(10), || async {
        let observed = get_json(app, path).await;
        let holds = check(observed.0, &observed.1);
        *last.borrow_mut() = observed;
        holds
    })
    .await;
    last.into_inner()
}

#[tokio::test]
async fn health_follows_a_stopped_database_and_recovers() {
    let app = TestApp::builder().database_behind_proxy().spawn().await;
    let (status, health) = get_json(&app, "/actuator/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "UP");
    for component in ["database", "redis", "kafka", "identityProvider"] {
        assert_eq!(
            health["components"][component]["status"], "UP",
            "{component}: {health}"
        );
    }
    assert_eq!(
        health["components"]["database"]["details"]["required"],
        true
    );

    app.db_proxy.as_ref().unwrap().cut();
    let (status, health) = eventually(&app, "/actuator/health", |s, _| s == 503).await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "DOWN");
    assert_eq!(health["components"]["database"]["status"], "DOWN");
    assert!(health["components"]["database"]["details"]["error"].is_string());
    assert_eq!(get_json(&app, "/actuator/health/readiness").await.0, 503);
    assert_eq!(
        get_json(&app, "/actuator/health/liveness").await.0,
        200,
        "liveness ignores dependencies"
    );
    // What does not need the database still answers.
    assert_eq!(get_json(&app, "/actuator/info").await.0, 200);

    app.db_proxy.as_ref().unwrap().restore();
    let (status, health) = eventually(&app, "/actuator/health", |s, _| s == 200).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(get_json(&app, "/actuator/health/readiness").await.0, 200);
}

#[tokio::test]
async fn an_optional_dependency_down_degrades_without_making_the_service_unready() {
    let redis = orgman_testkit::Stack::get()
        .redis_url
        .trim_start_matches("redis://")
        .to_owned();
    let proxy = TcpProxy::start(&redis).await;
    let (host, port) = proxy
        .address()
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let mut overrides = Overrides::default();
    overrides.0.insert("SPRING_REDIS_HOST", host);
    overrides.0.insert("SPRING_REDIS_PORT", port);
    let app = TestApp::builder().settings(overrides).spawn().await;
    let admin = app.token(ADMIN).await;
    proxy.cut();
    let (status, health) = eventually(&app, "/actuator/health", |_, h| {
        h["components"]["redis"]["status"] == "DOWN"
    })
    .await;
    assert_eq!(health["components"]["redis"]["status"], "DOWN", "{health}");
    assert_eq!(status, 200, "redis is optional by default");
    // Readiness asks the required dependencies only: a dead optional one
    // neither fails nor delays it.
    let (ready, readiness) = get_json(&app, "/actuator/health/readiness").await;
    assert_eq!(ready, 200);
    let asked: Vec<&String> = readiness["components"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(asked, ["database"], "{readiness}");
    // Requests still succeed, from the database.
    assert_eq!(app.get("/api/v1/organizations", &admin).await.status(), 200);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("orgman_dependency_up{dependency=\"redis\"} 0"),
        "{metrics}"
    );
    assert!(metrics.lines().any(
        |l| l.starts_with("orgman_cache_operations_total{result=\"error\"}") && !l.ends_with(" 0")
    ));
    proxy.restore();
}

#[tokio::test]
async fn metrics_expose_every_family() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    let org = app.create_org("metered").await;
    for _ in 0..3 {
        assert_eq!(
            app.get(&format!("/api/v1/organizations/{org}"), &admin)
                .await
                .status(),
            200
        );
    }
    let alice = app.token(ALICE).await;
    assert_eq!(
        app.get(&format!("/api/v1/organizations/{org}"), &alice)
            .await
            .status(),
        404
    );
    // Reads decide from the role they read; a write asks the authorizer.
    assert_eq!(
        app.patch(
            &format!("/api/v1/organizations/{org}"),
            &alice,
            serde_json::json!({"name": "Not hers"})
        )
        .await
        .status(),
        404
    );
    let _ = get_json(&app, "/actuator/health").await;
    let response = app
        .request(Method::GET, "/actuator/metrics", None)
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for family in [
        "orgman_http_requests_total",
        "orgman_http_request_duration_seconds_bucket",
        "orgman_db_pool_connections",
        "orgman_outbox_pending_events",
        "orgman_outbox_oldest_pending_age_seconds",
        "orgman_outbox_relay_events_total",
        "orgman_cache_operations_total",
        "orgman_token_cache_operations_total",
        "orgman_token_cache_entries",
        "orgman_authorization_check_duration_seconds_bucket",
        "orgman_dependency_up",
        "orgman_process_resident_memory_bytes",
        "orgman_process_open_fds",
        "orgman_process_cpu_seconds_total",
        "orgman_build_info",
    ] {
        assert!(text.contains(family), "missing {family}");
    }
    // Process figures are real: this process holds megabytes.
    let resident: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("orgman_process_resident_memory_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("resident memory reported");
    assert!(resident > 1_000_000.0, "{resident}");
    // Routes are labelled by template, not by id.
    assert!(text.contains(r#"orgman_http_requests_total{method="GET",route="/api/v1/organizations/{id}",status="200"} 3"#), "{text}");
    assert!(text.contains(r#"route="/api/v1/organizations/{id}",status="404"} 1"#));
    assert!(!text.contains(&org), "no ids in labels");
    // The admin's token was verified once and then found in the cache.
    assert!(
        text.lines().any(
            |l| l.starts_with(r#"orgman_token_cache_operations_total{result="hit"}"#)
                && !l.ends_with(" 0")
        ),
        "{text}"
    );
    let info = get_json(&app, "/actuator/info").await.1;
    assert_eq!(info["build"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["build"]["commit"].is_string());
}

#[tokio::test]
async fn the_component_monitor_reports_up_and_down_components() {
    let other = TestApp::spawn().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut overrides = Overrides::default();
    overrides.0.insert(
        "ORGMAN_PLATFORM_COMPONENTS",
        format!(
            "engine={}/actuator/info,scheduler=http://127.0.0.1:{closed}/actuator/health",
            other.address
        ),
    );
    overrides
        .0
        .insert("ORGMAN_PLATFORM_COMPONENTS_INTERVAL_SECONDS", "1".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let admin = app.token(ADMIN).await;
    let components = std::cell::RefCell::new(Value::Null);
    orgman_testkit::eventually(
        "every component has a status",
        Duration::from_secs(5),
        || async {
            let observed = body(app.get("/api/v1/platform/components", &admin).await).await;
            let known = observed
                .as_array()
                .is_some_and(|c| c.iter().all(|c| c["status"] != "UNKNOWN"));
            *components.borrow_mut() = observed;
            known
        },
    )
    .await;
    let components = components.into_inner();
    let by_name = |name: &str| {
        components
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    let engine = by_name("engine");
    assert_eq!(engine["status"], "UP", "{components}");
    assert_eq!(engine["version"], env!("CARGO_PKG_VERSION"));
    assert!(engine["lastCheck"].is_string());
    let scheduler = by_name("scheduler");
    assert_eq!(scheduler["status"], "DOWN");
    assert!(scheduler["detail"].is_string());
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"orgman_platform_component_up{component="engine"} 1"#));
    assert!(metrics.contains(r#"orgman_platform_component_up{component="scheduler"} 0"#));
    let alice = app.token(ALICE).await;
    assert_eq!(
        app.get("/api/v1/platform/components", &alice)
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn broker_spicedb_and_identity_provider_outages_show_and_the_rest_keeps_serving() {
    let stack = orgman_testkit::Stack::get();
    let mut broker = orgman_testkit::PrivateBroker::start();
    let spicedb = TcpProxy::start(stack.spicedb_endpoint.trim_start_matches("http://")).await;
    let oidc = TcpProxy::start(
        stack
            .oidc_issuer
            .split("/realms/")
            .next()
            .unwrap()
            .trim_start_matches("http://"),
    )
    .await;
    let mut overrides = Overrides::spicedb();
    overrides
        .0
        .insert("FLOWX_LIB_CASCLIENT_SPICEDB_HOST", "127.0.0.1".into());
    overrides.0.insert(
        "FLOWX_LIB_CASCLIENT_SPICEDB_PORT",
        spicedb.port().to_string(),
    );
    overrides
        .0
        .insert("SPRING_KAFKA_BOOTSTRAP_SERVERS", broker.address());
    overrides.0.insert(
        "SECURITY_OAUTH2_BASE_SERVER_URL",
        format!("http://{}", oidc.address()),
    );
    let app = TestApp::builder().settings(overrides).spawn().await;
    let admin = app.token(ADMIN).await;
    let (_, health) = get_json(&app, "/actuator/health").await;
    for component in ["kafka", "spicedb", "identityProvider"] {
        assert_eq!(
            health["components"][component]["status"], "UP",
            "{component}: {health}"
        );
    }

    broker.stop();
    spicedb.cut();
    oidc.cut();
    let (status, health) = eventually(&app, "/actuator/health", |_, h| {
        ["kafka", "spicedb", "identityProvider"]
            .iter()
            .all(|c| h["components"][c]["status"] == "DOWN")
    })
    .await;
    for component in ["kafka", "spicedb", "identityProvider"] {
        assert_eq!(
            health["components"][component]["status"], "DOWN",
            "{component}: {health}"
        );
    }
    assert_eq!(status, 200, "only the database is required");
    let metrics = app.metrics().await;
    for component in ["kafka", "spicedb", "identityProvider"] {
        assert!(
            metrics.contains(&format!(
                "orgman_dependency_up{{dependency=\"{component}\"}} 0"
            )),
            "{component}"
        );
    }
    // Still served: cached keys verify the token, platform admins need no
    // SpiceDB check, and writes only queue their events.
    assert_eq!(app.get("/api/v1/users/me", &admin).await.status(), 200);
    let created = app
        .post(
            "/api/v1/organizations",
            &admin,
            serde_json::json!({"name": "During", "slug": "during"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    broker.restart();
    spicedb.restore();
    oidc.restore();
    let (_, health) = eventually(&app, "/actuator/health", |_, h| {
        ["kafka", "spicedb", "identityProvider"]
            .iter()
            .all(|c| h["components"][c]["status"] == "UP")
    })
    .await;
    for component in ["kafka", "spicedb", "identityProvider"] {
        assert_eq!(
            health["components"][component]["status"], "UP",
            "{component} recovered: {health}"
        );
    }
}

#[tokio::test]
async fn health_details_are_for_platform_administrators_and_name_no_address() {
    let app = TestApp::spawn().await;
    let anonymous = app
        .request(Method::GET, "/actuator/health", None)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200);
    let anonymous = body(anonymous).await;
    assert_eq!(anonymous, serde_json::json!({"status": "UP"}));
    let alice = app.token(ALICE).await;
    let member = body(app.get("/actuator/health", &alice).await).await;
    assert_eq!(
        member,
        serde_json::json!({"status": "UP"}),
        "not a platform admin"
    );
    let (_, admin) = get_json(&app, "/actuator/health").await;
    assert_eq!(admin["components"]["database"]["status"], "UP", "{admin}");

    let mut never = Overrides::default();
    never
        .0
        .insert("MANAGEMENT_ENDPOINT_HEALTH_SHOW_DETAILS", "never".into());
    let never = TestApp::builder().settings(never).spawn().await;
    let (_, hidden) = get_json(&never, "/actuator/health").await;
    assert!(hidden.get("components").is_none(), "{hidden}");

    // Always: anyone sees the components, but a component that is down
    // says so without naming where it lives.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut always = Overrides::default();
    always
        .0
        .insert("MANAGEMENT_ENDPOINT_HEALTH_SHOW_DETAILS", "always".into());
    always.0.insert(
        "SPRING_KAFKA_BOOTSTRAP_SERVERS",
        format!("127.0.0.1:{closed}"),
    );
    let always = TestApp::builder().settings(always).spawn().await;
    let shown = body(
        always
            .request(Method::GET, "/actuator/health", None)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(shown["components"]["kafka"]["status"], "DOWN", "{shown}");
    let text = shown.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains(&closed.to_string()),
        "{text}"
    );
}

/// The series of the HTTP request families.
fn http_series(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|l| l.starts_with("orgman_http_request"))
        .count()
}

#[tokio::test]
async fn made_up_methods_add_no_series() {
    let app = TestApp::spawn().await;
    let made_up = |n: usize| Method::from_bytes(format!("X{n}SCAN").as_bytes()).unwrap();
    // The first made-up method creates the one `OTHER` series per status.
    for path in ["/api/v1/organizations", "/no/such/path"] {
        let response = app.request(made_up(0), path, None).send().await.unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // A scrape is counted once it is answered: the second one sees the
    // first, so both snapshots hold the same families.
    app.metrics().await;
    let before = app.metrics().await;
    assert!(before.contains(r#"method="OTHER""#), "{before}");
    for n in 1..=1000 {
        let path = if n % 2 == 0 {
            "/api/v1/organizations"
        } else {
            "/no/such/path"
        };
        app.request(made_up(n), path, None).send().await.unwrap();
    }
    let after = app.metrics().await;
    assert_eq!(http_series(&before), http_series(&after), "{after}");
    assert!(!after.contains("X17SCAN"));
}

/// The backlog value of the broker sink in a scrape.
fn broker_pending(metrics: &str) -> i64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"orgman_outbox_pending_events{sink="broker"} "#))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no broker backlog in {metrics}"))
}

#[tokio::test]
async fn scrapes_read_the_backlog_at_most_once_per_refresh_interval() {
    let mut overrides = Overrides::default();
    // Nothing delivers, so each new organization grows the backlog.
    overrides
        .0
        .insert("ORGMAN_OUTBOX_RELAY_ENABLED", "false".into());
    let fresh = TestApp::builder().settings(overrides).spawn().await;
    let first = broker_pending(&fresh.metrics().await);
    fresh.create_org("backlog-seen").await;
    orgman_testkit::eventually(
        "a short interval shows the new events",
        Duration::from_secs(10),
        || async { broker_pending(&fresh.metrics().await) > first },
    )
    .await;

    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("ORGMAN_OUTBOX_RELAY_ENABLED", "false".into());
    overrides
        .0
        .insert("ORGMAN_METRICS_BACKLOG_REFRESH_MS", "3600000".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let first = broker_pending(&app.metrics().await);
    app.create_org("backlog-kept").await;
    assert!(app.count("SELECT count(*) AS n FROM outbox_events").await > 0);
    for _ in 0..20 {
        assert_eq!(broker_pending(&app.metrics().await), first);
    }
}
