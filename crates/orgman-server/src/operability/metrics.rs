//! `/actuator/metrics` in Prometheus text format. Request metrics are
//! recorded as requests finish; the adapters' own counters (pool, outbox,
//! relays, cache, identity provider) are read when the endpoint is scraped.

use std::sync::atomic::Ordering;
use std::time::Duration;

use orgman_domain::ports::{Backlog, Outbox, OutboxSink};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use super::Figures;
use super::health::Health;
use super::throttle::Throttled;

/// Every metric family the service exposes.
pub(crate) struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    pool: IntGaugeVec,
    outbox_pending: IntGaugeVec,
    outbox_oldest_seconds: GaugeVec,
    outbox_dead: IntGaugeVec,
    relay_events: IntCounterVec,
    cache_operations: IntCounterVec,
    token_cache: IntCounterVec,
    token_cache_entries: IntGauge,
    spicedb_restorations: IntCounterVec,
    spicedb_checks: IntCounterVec,
    spicedb_lost: IntGauge,
    authz_seconds: HistogramVec,
    identity_requests: IntCounterVec,
    purge_runs: IntCounterVec,
    purged: IntCounterVec,
    api_key_authentications: IntCounterVec,
    webhook_attempts: IntCounterVec,
    saml_certificates: IntGaugeVec,
    saml_refreshes: IntCounterVec,
    account_checks: IntCounterVec,
    health_up: IntGaugeVec,
    pub(crate) component_up: IntGaugeVec,
    /// The outbox backlog per sink, read from PostgreSQL at most once per
    /// refresh interval whatever the scrape rate (`None`: the read failed).
    backlog: Throttled<StoreFigures>,
    /// Organizations whose members wait to be copied to Keycloak.
    member_mirror_marked: IntGauge,
}

/// What the store's figures read: each sink's backlog and the organizations
/// whose members wait for the mirror (`None`: the read failed).
type StoreFigures = (Vec<(OutboxSink, Option<Backlog>)>, Option<u64>);

/// The method label: the methods the API knows, anything else `OTHER`, so
/// made-up methods cannot grow the number of series.
pub(crate) fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

/// Raises a counter to `total` (the adapters keep totals themselves).
fn catch_up(counter: &prometheus::IntCounter, total: u64) {
    let current = counter.get();
    if total > current {
        counter.inc_by(total - current);
    }
}

impl Metrics {
    /// The families, with the backlog read at most once per `backlog_refresh`.
    pub(crate) fn new(backlog_refresh: Duration) -> Self {
        let registry = Registry::new_custom(Some("orgman".into()), None).expect("registry");
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
                .expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("unique metric");
            metric
        };
        let latency = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let build = gauge(
            &registry,
            "build_info",
            "Build information (always 1).",
            &["version", "commit"],
        );
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("ORGMAN_GIT_COMMIT")])
            .set(1);
        // CPU, memory, file descriptors, threads and start time, read by
        // the client library from /proc with the system's page size and
        // clock tick (Linux; nothing elsewhere).
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");
        let int = |name: &str, help: &str| {
            let metric = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("unique metric");
            metric
        };
        Self {
            http_requests: counter(
                &registry,
                "http_requests_total",
                "HTTP requests by route template and status.",
                &["method", "route", "status"],
            ),
            http_seconds: histogram(
                "http_request_duration_seconds",
                "HTTP request latency by route template.",
                &["method", "route"],
                latency.clone(),
            ),
            pool: gauge(
                &registry,
                "db_pool_connections",
                "Database pool connections by state.",
                &["state"],
            ),
            outbox_pending: gauge(
                &registry,
                "outbox_pending_events",
                "Committed events not yet delivered, by sink.",
                &["sink"],
            ),
            outbox_oldest_seconds: {
                let metric = GaugeVec::new(
                    Opts::new(
                        "outbox_oldest_pending_age_seconds",
                        "Age of the oldest undelivered event, by sink.",
                    ),
                    &["sink"],
                )
                .expect("valid metric");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("unique metric");
                metric
            },
            outbox_dead: gauge(
                &registry,
                "outbox_dead_lettered_events",
                "Events given up on, by sink.",
                &["sink"],
            ),
            relay_events: counter(
                &registry,
                "outbox_relay_events_total",
                "Relay outcomes by sink (delivered, failed attempts, dead-lettered).",
                &["sink", "outcome"],
            ),
            cache_operations: counter(
                &registry,
                "cache_operations_total",
                "Cache hits, misses, errors and invalidations.",
                &["result"],
            ),
            token_cache: counter(
                &registry,
                "token_cache_operations_total",
                "Verified-token cache: hits, misses (full verification) and evictions.",
                &["result"],
            ),
            token_cache_entries: int(
                "token_cache_entries",
                "Verified tokens held until they expire.",
            ),
            spicedb_restorations: counter(
                &registry,
                "spicedb_restorations_total",
                "Times SpiceDB was found without orgman's schema and restored from PostgreSQL.",
                &[],
            ),
            spicedb_checks: counter(
                &registry,
                "spicedb_checks_total",
                "Permission checks sent to SpiceDB, by freshness: latest (fully consistent: the organization changed within ORGMAN_SPICEDB_RECENT_READS_AFTER_MS) or recent (its quantized revision).",
                &["freshness"],
            ),
            spicedb_lost: int(
                "spicedb_data_lost",
                "1 while SpiceDB lacks orgman's data and checks fail closed, else 0.",
            ),
            authz_seconds: histogram(
                "authorization_check_duration_seconds",
                "Authorization check latency by backend, permission and outcome.",
                &["backend", "permission", "outcome"],
                latency,
            ),
            identity_requests: counter(
                &registry,
                "identity_provider_requests_total",
                "Requests to the identity provider's token endpoint and admin API.",
                &["kind"],
            ),
            api_key_authentications: counter(
                &registry,
                "api_key_authentications_total",
                "Requests made with an API key, by outcome: accepted, malformed, unknown, revoked, expired, unavailable.",
                &["outcome"],
            ),
            webhook_attempts: counter(
                &registry,
                "webhook_attempts_total",
                "Webhook delivery attempts by outcome: delivered, failed (to be retried), given-up (its retry period over), disabled (the endpoint disabled after it).",
                &["outcome"],
            ),
            saml_certificates: {
                let metric = IntGaugeVec::new(
                    Opts::new(
                        "sso_saml_certificates",
                        "Signing certificates of SAML identity providers by state at the last refresh: valid, expiring (within the warning period), expired.",
                    ),
                    &["state"],
                )
                .expect("valid metric");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("unique metric");
                metric
            },
            saml_refreshes: counter(
                &registry,
                "sso_saml_metadata_refreshes_total",
                "SAML metadata read again from its URL that changed, or could not be read or used (failed: the stored metadata stays in use), by outcome.",
                &["outcome"],
            ),
            account_checks: counter(
                &registry,
                "account_checks_total",
                "Accounts looked up at the identity provider by the account check, by outcome (checked, missing, returned, erased, blocked: the only OWNER somewhere, suspicious: a page mostly missing, marked nobody, failed: a round that could not finish).",
                &["outcome"],
            ),
            purge_runs: counter(
                &registry,
                "purge_runs_total",
                "Runs of the purger by outcome (ok, failed).",
                &["outcome"],
            ),
            purged: counter(
                &registry,
                "organizations_purged_total",
                "Organizations moved to DELETED by the purger after their grace period.",
                &[],
            ),
            health_up: gauge(
                &registry,
                "dependency_up",
                "Whether a dependency answered its last health probe (1) or not (0).",
                &["dependency"],
            ),
            component_up: gauge(
                &registry,
                "platform_component_up",
                "Whether a platform component answered its last probe as up.",
                &["component"],
            ),
            backlog: Throttled::new(backlog_refresh),
            member_mirror_marked: {
                let metric = IntGauge::new(
                    "keycloak_member_mirror_marked_organizations",
                    "Organizations whose members wait to be copied to Keycloak's Organizations.",
                )
                .expect("valid metric");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("unique metric");
                metric
            },
            registry,
        }
    }

    /// Records one finished request; `route` is the matched template.
    pub(crate) fn observe_request(
        &self,
        method: &str,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) {
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_seconds
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// Records one request made with an API key; `outcome` is one of
    /// `accepted`, `malformed`, `unknown`, `revoked`, `expired`,
    /// `unavailable`.
    pub(crate) fn observe_api_key(&self, outcome: &'static str) {
        self.api_key_authentications
            .with_label_values(&[outcome])
            .inc();
    }

    /// Records what one endpoint's dispatch did.
    pub(crate) fn observe_webhook_dispatch(&self, report: &orgman_domain::DispatchReport) {
        let counts = [
            ("delivered", report.delivered),
            (
                "failed",
                report.failed_attempts - report.given_up.min(report.failed_attempts),
            ),
            ("given-up", report.given_up),
            ("disabled", u32::from(report.disabled)),
        ];
        for (outcome, count) in counts {
            if count > 0 {
                self.webhook_attempts
                    .with_label_values(&[outcome])
                    .inc_by(u64::from(count));
            }
        }
    }

    /// Records one round of the SAML refresh.
    pub(crate) fn observe_saml_refresh(&self, report: &orgman_domain::SamlRefreshReport) {
        for (state, count) in &report.certificates {
            self.saml_certificates
                .with_label_values(&[state.as_str()])
                .set(i64::try_from(*count).unwrap_or(i64::MAX));
        }
        let failed = report.failed.len();
        let counts = [("changed", report.changed), ("failed", failed)];
        for (outcome, count) in counts {
            self.saml_refreshes
                .with_label_values(&[outcome])
                .inc_by(count as u64);
        }
    }

    /// Records one round of the account check (`None`: it failed).
    pub(crate) fn observe_account_check(&self, report: Option<&orgman_domain::AccountCheckReport>) {
        let Some(report) = report else {
            self.account_checks.with_label_values(&["failed"]).inc();
            return;
        };
        let counts = [
            ("checked", report.checked),
            ("missing", report.missing),
            ("returned", report.returned),
            ("erased", report.erased.len()),
            ("blocked", report.blocked.len()),
            ("suspicious", usize::from(report.suspicious)),
        ];
        for (outcome, count) in counts {
            self.account_checks
                .with_label_values(&[outcome])
                .inc_by(count as u64);
        }
    }

    /// Records one run of the purger: how many it purged, or that it failed.
    pub(crate) fn observe_purge(&self, purged: Option<usize>) {
        let outcome = if purged.is_some() { "ok" } else { "failed" };
        self.purge_runs.with_label_values(&[outcome]).inc();
        if let Some(purged) = purged {
            self.purged
                .with_label_values(&[] as &[&str])
                .inc_by(purged as u64);
        }
    }

    pub(crate) fn observe_check(
        &self,
        backend: &str,
        permission: &str,
        outcome: &str,
        elapsed: Duration,
    ) {
        self.authz_seconds
            .with_label_values(&[backend, permission, outcome])
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn record_health(&self, health: &Health) {
        for (name, component) in &health.components {
            self.health_up
                .with_label_values(&[name])
                .set(i64::from(component.status == "UP"));
        }
    }

    /// Reads the adapters' figures into the metric families.
    pub(crate) async fn refresh(&self, deps: &Figures) {
        if let Some(spicedb) = &deps.spicedb {
            catch_up(
                &self.spicedb_restorations.with_label_values::<&str>(&[]),
                spicedb.restorations(),
            );
            self.spicedb_lost.set(i64::from(spicedb.needs_restore()));
            let (latest, recent) = spicedb.checks_by_freshness();
            catch_up(&self.spicedb_checks.with_label_values(&["latest"]), latest);
            catch_up(&self.spicedb_checks.with_label_values(&["recent"]), recent);
        }
        let tokens = deps.verifier.token_cache_stats();
        for (result, total) in [
            ("hit", tokens.hits),
            ("miss", tokens.misses),
            ("eviction", tokens.evictions),
        ] {
            catch_up(&self.token_cache.with_label_values(&[result]), total);
        }
        self.token_cache_entries.set(tokens.entries as i64);
        let pool = deps.store.pool_status();
        for (state, value) in [
            ("max", pool.max_size),
            ("open", pool.size),
            ("idle", pool.idle),
            ("waiting", pool.waiting),
        ] {
            self.pool.with_label_values(&[state]).set(value as i64);
        }
        self.refresh_outbox(deps).await;
        self.refresh_relays(deps);
        if let Some(redis) = &deps.redis {
            let stats = redis.stats();
            for (result, value) in [
                ("hit", &stats.hits),
                ("miss", &stats.misses),
                ("error", &stats.errors),
                ("invalidation", &stats.invalidations),
            ] {
                catch_up(
                    &self.cache_operations.with_label_values(&[result]),
                    value.load(Ordering::Relaxed),
                );
            }
        }
        if let Some(keycloak) = &deps.keycloak {
            catch_up(
                &self.identity_requests.with_label_values(&["token"]),
                keycloak.token_requests(),
            );
            catch_up(
                &self.identity_requests.with_label_values(&["admin"]),
                keycloak.admin_requests(),
            );
        }
    }

    /// The outbox's backlog per sink (read at most once per throttle
    /// window).
    async fn refresh_outbox(&self, deps: &Figures) {
        let (backlogs, marked) = self
            .backlog
            .get(|| async {
                let mut read = Vec::new();
                for sink in [OutboxSink::Broker, OutboxSink::Authorizer] {
                    read.push((sink, deps.store.backlog(sink).await.ok()));
                }
                let marked = orgman_domain::ports::MirrorQueue::marked(deps.store.as_ref())
                    .await
                    .ok();
                (read, marked)
            })
            .await;
        if let Some(marked) = marked {
            self.member_mirror_marked
                .set(i64::try_from(marked).unwrap_or(i64::MAX));
        }
        for (sink, backlog) in backlogs {
            let Some(backlog) = backlog else { continue };
            self.outbox_pending
                .with_label_values(&[sink.as_str()])
                .set(backlog.pending as i64);
            self.outbox_dead
                .with_label_values(&[sink.as_str()])
                .set(backlog.dead_lettered as i64);
            let age = backlog.oldest.map_or(0.0, |oldest| {
                (time::OffsetDateTime::now_utc() - oldest)
                    .as_seconds_f64()
                    .max(0.0)
            });
            self.outbox_oldest_seconds
                .with_label_values(&[sink.as_str()])
                .set(age);
        }
    }

    /// The relays' delivery counters.
    fn refresh_relays(&self, deps: &Figures) {
        for relay in &deps.relays {
            let stats = relay.stats();
            let sink = relay.target().as_str();
            catch_up(
                &self.relay_events.with_label_values(&[sink, "delivered"]),
                stats.delivered.load(Ordering::Relaxed),
            );
            catch_up(
                &self.relay_events.with_label_values(&[sink, "failed"]),
                stats.failed.load(Ordering::Relaxed),
            );
            catch_up(
                &self
                    .relay_events
                    .with_label_values(&[sink, "dead_lettered"]),
                stats.dead_lettered.load(Ordering::Relaxed),
            );
        }
    }

    pub(crate) fn encode(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}
