//! What operators see: health (with Kubernetes probes), Prometheus metrics,
//! build info, and the monitor of the platform's other components.

pub(crate) mod components;
pub(crate) mod health;
pub(crate) mod metered;
pub(crate) mod metrics;

use std::collections::BTreeSet;
use std::sync::Arc;

use orgman_domain::OutboxRelay;
use orgman_kafka::KafkaPublisher;
use orgman_keycloak::KeycloakClient;
use orgman_postgres::PgStore;
use orgman_redis::RedisCache;
use orgman_spicedb::SpiceDbAuthorizer;

use crate::auth::TokenVerifier;

/// Handles on everything health and metrics look at.
#[allow(missing_debug_implementations)]
pub(crate) struct Dependencies {
    pub(crate) store: Arc<PgStore>,
    pub(crate) redis: Option<Arc<RedisCache>>,
    pub(crate) kafka: Option<Arc<KafkaPublisher>>,
    pub(crate) spicedb: Option<Arc<SpiceDbAuthorizer>>,
    pub(crate) keycloak: Option<Arc<KeycloakClient>>,
    pub(crate) verifier: Arc<TokenVerifier>,
    pub(crate) relays: Vec<Arc<OutboxRelay>>,
    /// Components whose failure makes the service not ready.
    pub(crate) required: BTreeSet<String>,
}
