//! What the Redis cache buys, measured in one run against the local stack:
//! the membership check (`OrganizationService::role_of`) and
//! `GET /api/v1/organizations/{id}` through the real application, each with
//! and without the cache. Run with `cargo xtask bench cache` (release build,
//! a `bench` stack of its own).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orgman_domain::ports::{MembershipCache, NoCache, RoleAuthorizer, UserRepository};
use orgman_domain::{
    Actor, OrgName, OrgRole, OrganizationService, ServicePorts, ServiceSettings, Slug, UserId,
    UserProfile,
};
use orgman_postgres::{PgSettings, PgStore, migrate};
use orgman_redis::{RedisCache, RedisSettings};
use orgman_server::{Application, Config};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} not set: run through `cargo xtask bench cache`"))
}

fn summary(label: &str, mut samples: Vec<Duration>, wall: Duration) -> String {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    format!(
        "| {label} | {n} | {rate:.0}/s | {p50:.2} ms | {p99:.2} ms |",
        n = samples.len(),
        rate = samples.len() as f64 / wall.as_secs_f64(),
        p50 = pct(0.50).as_secs_f64() * 1e3,
        p99 = pct(0.99).as_secs_f64() * 1e3,
    )
}

fn service(store: &Arc<PgStore>, cache: Arc<dyn MembershipCache>) -> OrganizationService {
    OrganizationService::new(
        ServicePorts {
            authorizer: Arc::new(RoleAuthorizer::new(store.clone(), cache.clone())),
            cache,
            ..ServicePorts::over_storage(store.clone())
        },
        ServiceSettings::default(),
    )
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database_url = env("DATABASE_URL");
    migrate::run_pending(&database_url).await.unwrap();
    let store = Arc::new(PgStore::connect(&PgSettings::from_url(&database_url).unwrap()).unwrap());
    let (redis_host, redis_port) = env("REDIS_URL")
        .trim_start_matches("redis://")
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let redis = Arc::new(
        RedisCache::connect(
            RedisSettings::from_env(|k| match k {
                "SPRING_REDIS_HOST" => Some(redis_host.clone()),
                "SPRING_REDIS_PORT" => Some(redis_port.clone()),
                "ORGMAN_CACHE_TTL_SECONDS" => Some("300".into()),
                _ => None,
            })
            .unwrap(),
        )
        .unwrap(),
    );

    // An organization with 2 000 members, the shape where a member-list scan
    // would hurt and a point lookup does not.
    let admin_id = UserId::from_uuid(uuid::Uuid::now_v7());
    store
        .provision(&UserProfile {
            id: admin_id,
            subject: admin_id.to_string(),
            email: None,
            display_name: None,
        })
        .await
        .unwrap();
    let admin = Actor::platform_admin(admin_id);
    let plain = service(&store, Arc::new(NoCache));
    let slug = format!("bench-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let org = plain
        .create(
            &admin,
            OrgName::parse("Bench").unwrap(),
            Slug::parse(&slug).unwrap(),
        )
        .await
        .unwrap()
        .id();
    let mut members = Vec::new();
    for _ in 0..2000 {
        let id = UserId::from_uuid(uuid::Uuid::now_v7());
        store
            .provision(&UserProfile {
                id,
                subject: id.to_string(),
                email: None,
                display_name: None,
            })
            .await
            .unwrap();
        plain
            .add_member(&admin, org, id, OrgRole::Member)
            .await
            .unwrap();
        members.push(id);
    }
    let cached = service(&store, redis.clone());

    println!("| measurement | requests | throughput | p50 | p99 |");
    println!("|---|---|---|---|---|");
    for (label, svc) in [
        ("membership check, no cache", &plain),
        ("membership check, Redis cache", &cached),
    ] {
        for id in members.iter().take(200) {
            svc.role_of(org, *id).await.unwrap(); // warm-up (and fill the cache)
        }
        let mut samples = Vec::new();
        let started = Instant::now();
        for i in 0..5000 {
            let id = members[i % 200];
            let t = Instant::now();
            svc.role_of(org, id).await.unwrap();
            samples.push(t.elapsed());
        }
        println!("{}", summary(label, samples, started.elapsed()));
    }

    // The same GET through the real application, with and without cache.
    let issuer = env("OIDC_ISSUER_URL");
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{issuer}/protocol/openid-connect/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &env("OIDC_TEST_CLIENT_ID")),
            ("username", "admin"),
            ("password", "admin-password"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    for (label, cache_on) in [
        ("GET /organizations/{id}, no cache", false),
        ("GET /organizations/{id}, Redis cache", true),
    ] {
        let (base, realm) = issuer.split_once("/realms/").unwrap();
        let vars: HashMap<&str, String> = HashMap::from([
            ("DATABASE_URL", database_url.clone()),
            ("SERVER_ADDRESS", "127.0.0.1".into()),
            ("SERVER_PORT", "0".into()),
            ("SECURITY_OAUTH2_BASE_SERVER_URL", base.to_owned()),
            ("SECURITY_OAUTH2_REALM", realm.to_owned()),
            ("SPRING_REDIS_HOST", redis_host.clone()),
            ("SPRING_REDIS_PORT", redis_port.clone()),
            ("ORGMAN_CACHE_ENABLED", cache_on.to_string()),
            ("ORGMAN_OUTBOX_RELAY_ENABLED", "false".into()),
            ("LOGGING_LEVEL_ROOT", "ERROR".into()),
            ("LOGGING_LEVEL_APP", "ERROR".into()),
        ]);
        let app = Application::build(Config::from_env(|k| vars.get(k).cloned()).unwrap())
            .await
            .unwrap();
        let url = format!("http://127.0.0.1:{}/api/v1/organizations/{org}", app.port());
        tokio::spawn(app.run());
        for _ in 0..100 {
            http.get(&url).bearer_auth(&token).send().await.unwrap();
        }
        let started = Instant::now();
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (http, url, token) = (http.clone(), url.clone(), token.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    for _ in 0..500 {
                        let t = Instant::now();
                        let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
                        assert_eq!(response.status(), 200);
                        samples.push(t.elapsed());
                    }
                    samples
                })
            })
            .collect();
        let mut samples = Vec::new();
        for worker in workers {
            samples.extend(worker.await.unwrap());
        }
        println!("{}", summary(label, samples, started.elapsed()));
    }
}
