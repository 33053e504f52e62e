//! What operators see: health (with Kubernetes probes), Prometheus metrics,
//! build info, and the monitor of the platform's other components.

pub(crate) mod components;
pub(crate) mod health;
pub(crate) mod metered;
pub(crate) mod metrics;
pub(crate) mod throttle;

use std::collections::BTreeSet;
use std::sync::Arc;

use orgman_domain::OutboxRelay;
use orgman_keycloak::KeycloakClient;
use orgman_postgres::PgStore;
use orgman_redis::RedisCache;
use orgman_spicedb::SpiceDbAuthorizer;

use crate::auth::TokenVerifier;
use health::Watched;

/// What health and metrics look at.
#[allow(missing_debug_implementations)]
pub(crate) struct Dependencies {
    /// One probe per configured dependency, in the order health lists them.
    pub(crate) probes: Vec<Watched>,
    /// Components whose failure makes the service not ready.
    pub(crate) required: BTreeSet<String>,
    /// Where the metrics' figures come from.
    pub(crate) figures: Figures,
}

/// The adapters whose own counters the metrics read at scrape time. Each
/// adapter counts what only it sees (pool states, cache hits, restorations,
/// token requests); the metric families for them are defined in
/// `metrics.rs`, so this is the one place naming the adapters' types.
#[allow(missing_debug_implementations)]
pub(crate) struct Figures {
    pub(crate) store: Arc<PgStore>,
    pub(crate) redis: Option<Arc<RedisCache>>,
    pub(crate) spicedb: Option<Arc<SpiceDbAuthorizer>>,
    pub(crate) keycloak: Option<Arc<KeycloakClient>>,
    pub(crate) verifier: Arc<TokenVerifier>,
    pub(crate) relays: Vec<Arc<OutboxRelay>>,
}
