//! Writes and the relays, in the default configuration and with the
//! copies to Keycloak off, side by side: the drain of a backlog to Kafka,
//! how long the Keycloak mirror takes to settle the same backlog, and
//! commit → broker latency under a steady 1,000 writes/s of two kinds
//! (renames, and member role changes, which revoke access half the time
//! and so fence the cache).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orgman_domain::{OrganizationId, OrganizationMirror};
use serde_json::{Value, json};

use crate::{Config, Seed, Server, env, sql_number};

/// What one configuration's run measured.
struct OutboxFigures {
    backlog: i64,
    drain_seconds: f64,
    /// Service start until the mirror's sink and member queue are empty;
    /// `None` with the mirror off.
    mirror_seconds: Option<f64>,
    renames: Steady,
    role_changes: Steady,
}

/// A steady write load's outcome.
struct Steady {
    writes: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Steady {
    fn rate(&self) -> f64 {
        self.writes as f64 / self.seconds
    }

    fn json(&self) -> Value {
        json!({
            "writes_per_second": self.rate().round(),
            "commit_to_broker_p50_ms": self.p50_ms,
            "commit_to_broker_p99_ms": self.p99_ms,
        })
    }
}

/// The two configurations, run one after the other on one stack, printed
/// side by side.
pub(crate) async fn outbox_bench(binary: &Path, seed: &Seed, backlog: i64, seconds: u64) -> Value {
    let roles = RoleFlips::new(seed);
    let on = outbox(binary, seed, &roles, backlog, seconds, true).await;
    let off = outbox(binary, seed, &roles, backlog, seconds, false).await;
    print_outbox(&on, &off);
    json!({
        "default": figures_json(&on),
        "keycloak_off": figures_json(&off),
    })
}

fn figures_json(f: &OutboxFigures) -> Value {
    json!({
        "backlog": f.backlog,
        "drain_seconds": f.drain_seconds,
        "drain_events_per_second": (f.backlog as f64 / f.drain_seconds).round(),
        "mirror_settled_seconds": f.mirror_seconds,
        "renames": f.renames.json(),
        "member_role_changes": f.role_changes.json(),
    })
}

fn print_outbox(on: &OutboxFigures, off: &OutboxFigures) {
    println!(
        "\n| outbox relay to Kafka | default (Keycloak mirror on) | ORGMAN_KEYCLOAK_ORGANIZATIONS=false |"
    );
    println!("|---|---|---|");
    println!(
        "| drain of a {}-event backlog (service start to empty, lz4, default batches) | {:.0} events/s ({:.1} s) | {:.0} events/s ({:.1} s) |",
        on.backlog,
        on.backlog as f64 / on.drain_seconds,
        on.drain_seconds,
        off.backlog as f64 / off.drain_seconds,
        off.drain_seconds
    );
    println!(
        "| the same backlog settled by the Keycloak mirror (sink and member queue empty) | {:.1} s | — |",
        on.mirror_seconds.unwrap_or(f64::NAN)
    );
    for (name, a, b) in [
        ("renames", &on.renames, &off.renames),
        (
            "member role changes (half revoke access: cache fence)",
            &on.role_changes,
            &off.role_changes,
        ),
    ] {
        println!(
            "| steady 1,000/s {name}: commits/s, commit → broker p50 / p99 | {:.0}/s, {:.1} / {:.1} ms | {:.0}/s, {:.1} / {:.1} ms |",
            a.rate(),
            a.p50_ms,
            a.p99_ms,
            b.rate(),
            b.p50_ms,
            b.p99_ms
        );
    }
}

async fn pending_for_broker(url: &str) -> i64 {
    sql_number(
        url,
        "SELECT coalesce(sum(events), 0) FROM outbox WHERE published_at IS NULL AND dead_at IS NULL",
    )
    .await as i64
}

/// Events the Keycloak mirror has not settled, plus organizations marked
/// and not yet copied; of `only` when it is given.
pub(crate) async fn pending_for_mirror(url: &str, only: Option<OrganizationId>) -> i64 {
    let (events, marks) = match only {
        Some(org) => (
            format!(" AND aggregate_id = '{org}'"),
            format!(" WHERE org_id = '{org}'"),
        ),
        None => (String::new(), String::new()),
    };
    sql_number(
        url,
        &format!(
            "SELECT (SELECT coalesce(sum(events), 0) FROM outbox WHERE mirror_synced_at IS NULL AND mirror_dead_at IS NULL{events})
                  + (SELECT count(*) FROM mirror_queue{marks})"
        ),
    )
    .await as i64
}

/// Waits until `pending` answers 0; the seconds since `started`.
pub(crate) async fn settled<F, Fut>(started: Instant, what: &str, mut pending: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    while pending().await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{what} did not settle"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed().as_secs_f64()
}

/// One configuration: the drain of `target` events (and, with the mirror
/// on, the mirror's settling of them), then commit → broker of each event
/// (`published_at` minus `created_at`: the broker acknowledged it before
/// the relay recorded it) under steady renames and steady role changes.
async fn outbox(
    binary: &Path,
    seed: &Seed,
    roles: &RoleFlips,
    target: i64,
    seconds: u64,
    keycloak: bool,
) -> OutboxFigures {
    let url = env("DATABASE_URL");
    let backlog = copy_backlog(&url, target, keycloak).await;
    eprintln!("bench: draining {backlog} events to Kafka (Keycloak mirror: {keycloak})");
    let config = Config {
        name: "outbox",
        authorizer: "database",
        redis: true,
        relay: true,
        keycloak,
        members: "linked",
    };
    let started = Instant::now();
    let server = Server::spawn(binary, &config);
    let drain_seconds = settled(started, "the broker's backlog", || pending_for_broker(&url)).await;
    let mirror_seconds = if keycloak {
        Some(
            settled(started, "the mirror's backlog", || {
                pending_for_mirror(&url, None)
            })
            .await,
        )
    } else {
        None
    };

    let (renames, role_changes) = steady_loads(&server, seed, roles, seconds, keycloak).await;
    drop(server);
    OutboxFigures {
        backlog,
        drain_seconds,
        mirror_seconds,
        renames,
        role_changes,
    }
}

/// The two steady loads, each after the copies to Keycloak of what came
/// before it are done (with the mirror on): renames, then role changes.
async fn steady_loads(
    server: &Server,
    seed: &Seed,
    roles: &RoleFlips,
    seconds: u64,
    keycloak: bool,
) -> (Steady, Steady) {
    let url = env("DATABASE_URL");
    if keycloak {
        server.keycloak_quiet();
    }
    eprintln!("bench: commit-to-broker latency at 1,000 renames/s");
    let token = seed.users[0].1.clone();
    let organizations = seed.organizations();
    // BENCH_PERF profiles the renames too (`.renames-keycloak-<on|off>`).
    let on_off = if keycloak { "on" } else { "off" };
    let perf = crate::profile_as(&format!("renames-keycloak-{on_off}"));
    let renames = steady(
        &server.base,
        &token,
        seconds,
        "organization.updated",
        move |n| {
            let org = organizations[(n as usize) % organizations.len()];
            (
                format!("/api/v1/organizations/{org}"),
                json!({"name": format!("Bench {n}")}),
            )
        },
    )
    .await;
    crate::stop_profile(perf);
    if keycloak {
        // The renames' copies to Keycloak finish before the next load: each
        // load is measured with its own work only.
        settled(Instant::now(), "the mirror after the renames", || {
            pending_for_mirror(&url, None)
        })
        .await;
        server.keycloak_quiet();
    }
    eprintln!("bench: commit-to-broker latency at 1,000 role changes/s");
    let flips = roles.clone();
    // BENCH_PERF profiles the role changes (`.roles-keycloak-<on|off>`).
    let perf = crate::profile_as(&format!("roles-keycloak-{on_off}"));
    let role_changes = steady(
        &server.base,
        &token,
        seconds,
        "organization.member.role-changed",
        move |n| flips.next(n),
    )
    .await;
    crate::stop_profile(perf);
    (renames, role_changes)
}

/// Copies of the seeded events (real events of real organizations, new
/// ids), pending for the broker, about `target` of them, and, with the
/// mirror on, pending for it as the service would have written them (and
/// for the webhook sink only where an endpoint listens, as the service
/// writes them); returns the backlog.
async fn copy_backlog(url: &str, target: i64, mirror: bool) -> i64 {
    let have = sql_number(url, "SELECT count(*) FROM outbox WHERE events = 1").await as i64;
    let copies = (target + have - 1) / have.max(1);
    let quoted = |types: &[&str]| -> Vec<String> {
        if types.is_empty() {
            return vec!["''".to_owned()];
        }
        types.iter().map(|t| format!("'{t}'")).collect()
    };
    // As the service writes them by default (members mirrored when
    // linked): membership events are pending for the mirror only in
    // organizations with an SSO configuration.
    let mirrored = quoted(if mirror {
        OrganizationMirror::EVENT_TYPES
    } else {
        &[]
    });
    let members = quoted(OrganizationMirror::MEMBER_EVENT_TYPES);
    let inserted = Command::new("psql")
        .arg(url)
        .args([
            "-qc",
            &format!(
                "INSERT INTO outbox (event_id, aggregate_id, event_type, payload, authz_synced_at, idp_synced_at, mirror_synced_at, webhooks_synced_at)
             SELECT e, aggregate_id, event_type, jsonb_set(payload::jsonb, '{{id}}', to_jsonb(e::text))::json,
                    now(), now(),
                    CASE WHEN event_type IN ({}) AND (event_type NOT IN ({})
                              OR EXISTS (SELECT 1 FROM sso_configs s WHERE s.org_id = aggregate_id))
                         THEN NULL ELSE now() END,
                    CASE WHEN EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.org_id = aggregate_id AND w.enabled)
                         THEN NULL ELSE now() END
             FROM (SELECT gen_random_uuid() AS e, aggregate_id, event_type, payload
                   FROM outbox, generate_series(1, {copies}) WHERE events = 1 ORDER BY seq) copies
             LIMIT {target}",
                mirrored.join(", "),
                members.join(", ")
            ),
        ])
        .status()
        .expect("psql");
    assert!(inserted.success());
    pending_for_broker(url).await
}

/// Member role changes in turn over up to 1,000 memberships of the seed
/// (not the owner's): each change flips one member between MEMBER and
/// ADMIN, so half grant and half revoke. The flips carry over from one
/// configuration's run to the next.
#[derive(Clone)]
struct RoleFlips {
    pairs: Arc<Vec<(orgman_domain::OrganizationId, orgman_domain::UserId)>>,
    admin: Arc<Vec<AtomicBool>>,
}

impl RoleFlips {
    fn new(seed: &Seed) -> Self {
        let pairs: Vec<_> = seed
            .pairs
            .iter()
            .filter(|(user, _)| *user != 0)
            .take(1000)
            .map(|(user, org)| (*org, seed.users[*user].0))
            .collect();
        let admin = (0..pairs.len()).map(|_| AtomicBool::new(false)).collect();
        Self {
            pairs: Arc::new(pairs),
            admin: Arc::new(admin),
        }
    }

    /// The `n`-th change: its path and body.
    fn next(&self, n: u64) -> (String, Value) {
        let index = (n as usize) % self.pairs.len();
        let (org, user) = self.pairs[index];
        let was_admin = self.admin[index].fetch_xor(true, Ordering::Relaxed);
        let role = if was_admin { "MEMBER" } else { "ADMIN" };
        (
            format!("/api/v1/organizations/{org}/members/{user}"),
            json!({ "role": role }),
        )
    }
}

/// `PATCH`es at a steady 1,000/s (open loop) for `seconds` after a one-second warm-up
/// (`request(n)` gives the n-th path and body), then commit → broker of
/// the `event_type` events of the measured window.
async fn steady<F>(base: &str, token: &str, seconds: u64, event_type: &str, request: F) -> Steady
where
    F: Fn(u64) -> (String, Value) + Send + Sync + 'static,
{
    let url = env("DATABASE_URL");
    let http = reqwest::Client::new();
    let request = Arc::new(request);
    let written = Arc::new(AtomicU64::new(0));
    // A second at the same rate before the measured window: new
    // connections, first requests and the broker's first small batches
    // are not the steady state the figure describes.
    let warm_up = Duration::from_secs(1);
    let deadline = Instant::now() + warm_up + Duration::from_secs(seconds);
    // Open loop: a request every millisecond whatever the answers take
    // (at most 64 in flight; a tick that finds 64 waiting is not sent), so
    // a slow answer shows as latency and a shortfall, not as a quieter
    // client.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    let sender = {
        let (in_flight, written) = (in_flight.clone(), written.clone());
        let (base, token) = (base.to_owned(), token.to_owned());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n = 0_u64;
            while Instant::now() < deadline {
                tick.tick().await;
                n += 1;
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    continue;
                };
                let (path, body) = request(n);
                let sent = http
                    .patch(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send();
                let written = written.clone();
                tokio::spawn(async move {
                    if sent.await.is_ok_and(|r| r.status().is_success()) {
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(permit);
                });
            }
        })
    };
    tokio::time::sleep(warm_up).await;
    let window_start = sql_number(&url, "SELECT extract(epoch FROM now())").await;
    let measured = Instant::now();
    written.store(0, Ordering::Relaxed);
    sender.await.unwrap();
    // The requests still in flight end the window.
    let _all = in_flight.acquire_many(64).await.unwrap();
    let seconds = measured.elapsed().as_secs_f64();
    let writes = written.load(Ordering::Relaxed);
    while pending_for_broker(&url).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Steady {
        writes,
        seconds,
        p50_ms: commit_to_broker(&url, event_type, window_start, 0.5).await,
        p99_ms: commit_to_broker(&url, event_type, window_start, 0.99).await,
    }
}

/// The `p` quantile of commit → broker (`published_at - created_at`, ms)
/// of the `event_type` events since `window_start`.
async fn commit_to_broker(url: &str, event_type: &str, window_start: f64, p: f64) -> f64 {
    sql_number(
        url,
        &format!(
            "SELECT 1000 * percentile_cont({p}) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at))
             FROM outbox WHERE event_type = '{event_type}' AND created_at >= to_timestamp({window_start})"
        ),
    )
    .await
}
