//! `/actuator/health` (Spring Boot's shape), `/actuator/health/liveness`
//! and `/actuator/health/readiness`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::Serialize;

use async_trait::async_trait;
use orgman_kafka::KafkaPublisher;
use orgman_postgres::PgStore;
use orgman_redis::RedisCache;
use orgman_spicedb::SpiceDbAuthorizer;

use super::Dependencies;
use super::throttle::Throttled;
use crate::auth::TokenVerifier;

/// How long one dependency may take to answer a health probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Serialize)]
pub(crate) struct ComponentHealth {
    pub(crate) status: &'static str,
    pub(crate) details: BTreeMap<&'static str, serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Health {
    pub(crate) status: &'static str,
    pub(crate) components: BTreeMap<String, ComponentHealth>,
}

async fn probe<F, E>(required: bool, check: F) -> ComponentHealth
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, check).await;
    let mut details = BTreeMap::new();
    details.insert("required", serde_json::json!(required));
    details.insert(
        "latencyMs",
        serde_json::json!(started.elapsed().as_millis() as u64),
    );
    let status = match outcome {
        Ok(Ok(())) => "UP",
        Ok(Err(error)) => {
            // The adapter's error names hosts and URLs: it goes to the log,
            // the answer only says what kind of failure it was.
            tracing::debug!(%error, "health probe failed");
            details.insert("error", serde_json::json!("not answering or refusing"));
            "DOWN"
        }
        Err(_) => {
            details.insert(
                "error",
                serde_json::json!(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
            );
            "DOWN"
        }
    };
    ComponentHealth { status, details }
}

/// A dependency health looks at.
#[async_trait]
pub(crate) trait Probe: Send + Sync {
    /// Its name among `/actuator/health`'s components.
    fn component(&self) -> &'static str;

    /// Whether it answers; the error goes to the log only.
    async fn ping(&self) -> Result<(), String>;

    /// Figures shown beside its status.
    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
}

#[async_trait]
impl Probe for PgStore {
    fn component(&self) -> &'static str {
        "database"
    }
    async fn ping(&self) -> Result<(), String> {
        PgStore::ping(self).await.map_err(|e| e.to_string())
    }
    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        let pool = self.pool_status();
        vec![
            ("poolSize", serde_json::json!(pool.size)),
            ("poolIdle", serde_json::json!(pool.idle)),
        ]
    }
}

#[async_trait]
impl Probe for RedisCache {
    fn component(&self) -> &'static str {
        "redis"
    }
    async fn ping(&self) -> Result<(), String> {
        RedisCache::ping(self).await
    }
}

#[async_trait]
impl Probe for KafkaPublisher {
    fn component(&self) -> &'static str {
        "kafka"
    }
    async fn ping(&self) -> Result<(), String> {
        KafkaPublisher::ping(self).await.map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Probe for SpiceDbAuthorizer {
    fn component(&self) -> &'static str {
        "spicedb"
    }
    async fn ping(&self) -> Result<(), String> {
        SpiceDbAuthorizer::ping(self)
            .await
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Probe for TokenVerifier {
    fn component(&self) -> &'static str {
        "identityProvider"
    }
    async fn ping(&self) -> Result<(), String> {
        self.probe().await.map_err(|e| e.to_string())
    }
}

/// Which dependencies a health check asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// All of them (`/actuator/health`).
    Every,
    /// Those whose failure makes the service not ready (readiness: a slow
    /// optional dependency never delays it).
    Required,
}

/// A dependency and its last probe: asked at most once per interval
/// (`ORGMAN_HEALTH_PROBE_INTERVAL_MS`), however many callers ask for health.
pub(crate) struct Watched {
    probe: Arc<dyn Probe>,
    last: Throttled<ComponentHealth>,
}

impl Watched {
    /// `probe`, asked at most once per `interval`.
    pub(crate) fn new(probe: Arc<dyn Probe>, interval: Duration) -> Self {
        Self {
            probe,
            last: Throttled::new(interval),
        }
    }

    fn component(&self) -> &'static str {
        self.probe.component()
    }

    async fn health(&self, required: bool) -> ComponentHealth {
        self.last
            .get(|| async {
                let mut health = probe(required, self.probe.ping()).await;
                health.details.extend(self.probe.details());
                health
            })
            .await
    }
}

/// Probes the dependencies of `scope` at once.
pub(crate) async fn check(deps: &Dependencies, scope: Scope) -> Health {
    check_probes(&deps.probes, &deps.required, scope).await
}

async fn check_probes(watched: &[Watched], required: &BTreeSet<String>, scope: Scope) -> Health {
    let probed = watched.iter().filter(|dependency| match scope {
        Scope::Every => true,
        Scope::Required => required.contains(dependency.component()),
    });
    let probes = probed.map(|dependency| async move {
        let health = dependency
            .health(required.contains(dependency.component()))
            .await;
        (dependency.component().to_owned(), health)
    });
    let components: BTreeMap<String, ComponentHealth> =
        join_all(probes).await.into_iter().collect();
    let down_required = components
        .iter()
        .any(|(name, c)| c.status == "DOWN" && required.contains(name.as_str()));
    Health {
        status: if down_required { "DOWN" } else { "UP" },
        components,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted(AtomicUsize);

    #[async_trait]
    impl Probe for Counted {
        fn component(&self) -> &'static str {
            "database"
        }
        async fn ping(&self) -> Result<(), String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_burst_of_health_checks_pings_each_dependency_once() {
        let counted = Arc::new(Counted(AtomicUsize::new(0)));
        let watched = [Watched::new(counted.clone(), Duration::from_secs(60))];
        let required = BTreeSet::from(["database".to_owned()]);
        let checks = (0..200).map(|n| {
            let scope = if n % 2 == 0 {
                Scope::Every
            } else {
                Scope::Required
            };
            check_probes(&watched, &required, scope)
        });
        let answers = join_all(checks).await;
        assert!(answers.iter().all(|h| h.status == "UP"));
        assert_eq!(counted.0.load(Ordering::SeqCst), 1);
    }
}
