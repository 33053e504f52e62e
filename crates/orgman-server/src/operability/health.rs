//! `/actuator/health` (Spring Boot's shape), `/actuator/health/liveness`
//! and `/actuator/health/readiness`.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::Serialize;

use super::Dependencies;

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

/// One pending health probe.
type Probe<'a> = std::pin::Pin<Box<dyn Future<Output = ComponentHealth> + 'a>>;

/// Probes every configured dependency at once.
pub(crate) async fn check(deps: &Dependencies) -> Health {
    let required = |name: &str| deps.required.contains(name);
    let mut probes: Vec<(String, Probe<'_>)> = Vec::new();
    probes.push((
        "database".into(),
        Box::pin(probe(required("database"), deps.store.ping())),
    ));
    if let Some(redis) = &deps.redis {
        probes.push((
            "redis".into(),
            Box::pin(probe(required("redis"), redis.ping())),
        ));
    }
    if let Some(kafka) = &deps.kafka {
        probes.push((
            "kafka".into(),
            Box::pin(probe(required("kafka"), kafka.ping())),
        ));
    }
    if let Some(spicedb) = &deps.spicedb {
        probes.push((
            "spicedb".into(),
            Box::pin(probe(required("spicedb"), spicedb.ping())),
        ));
    }
    probes.push((
        "identityProvider".into(),
        Box::pin(probe(required("identityProvider"), deps.verifier.probe())),
    ));
    let (names, futures): (Vec<_>, Vec<_>) = probes.into_iter().unzip();
    let results = join_all(futures).await;
    let mut components = BTreeMap::new();
    for (name, mut health) in names.into_iter().zip(results) {
        if name == "database" {
            let pool = deps.store.pool_status();
            health
                .details
                .insert("poolSize", serde_json::json!(pool.size));
            health
                .details
                .insert("poolIdle", serde_json::json!(pool.idle));
        }
        components.insert(name, health);
    }
    let down_required = components
        .iter()
        .any(|(name, c)| c.status == "DOWN" && deps.required.contains(name.as_str()));
    Health {
        status: if down_required { "DOWN" } else { "UP" },
        components,
    }
}
