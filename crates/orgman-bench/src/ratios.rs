//! The hot path's two ratios over several runs: the first is the main
//! measurement's, each further run measures the anchors (`pgbench -S`,
//! Redis GET, the HTTP floor) and `GET /organizations/{id}` with the
//! database authorizer, Redis off and on, again, so that a ratio is a
//! median with its spread rather than one draw of a noisy machine. Each
//! run also records the CPU time the hypervisor took from this machine
//! (steal, from `/proc/stat`) and the service's CPU per request, which
//! tell a slow machine from a slow service.

use std::path::Path;

use serde_json::{Value, json};

use crate::{
    CONFIGS, Load, MEASURED_PID, RequestFiles, Seed, Server, Sizes, env, one_pass, pgbench,
    redis_get, wrk,
};

/// One run's ratios and what stood around them.
pub(crate) struct RatioRun {
    /// `GET /organizations/{id}`, database authorizer, Redis off, to
    /// ceiling_db.
    pub(crate) db: f64,
    /// The same, Redis on, to ceiling_redis.
    pub(crate) redis: f64,
    /// The service's CPU per request in those two rows (µs).
    pub(crate) cpu_us: (f64, f64),
    /// The share of CPU time stolen by the hypervisor during the run.
    pub(crate) steal: f64,
    /// The anchors: HTTP floor, `pgbench -S`, Redis GET (requests/s).
    pub(crate) anchors: (f64, f64, f64),
}

/// Cumulative (all, stolen) CPU ticks of the machine.
pub(crate) fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already in user).
    let all = fields.iter().take(8).sum();
    (all, fields.get(7).copied().unwrap_or(0))
}

/// The stolen share of the CPU time between two readings.
pub(crate) fn steal_between(before: (u64, u64), after: (u64, u64)) -> f64 {
    let all = after.0.saturating_sub(before.0);
    let stolen = after.1.saturating_sub(before.1);
    if all == 0 {
        0.0
    } else {
        stolen as f64 / all as f64
    }
}

fn ceiling(floor: f64, anchor: f64) -> f64 {
    1.0 / (1.0 / floor + 1.0 / anchor)
}

fn cpu_of(load: &Load) -> f64 {
    load.cost.map_or(f64::NAN, |c| c.cpu_us)
}

/// One more run of the anchors and the two rows, each row after one pass
/// over every pair, as in the main measurement.
pub(crate) async fn ratio_run(
    binary: &Path,
    seed: &Seed,
    files: &RequestFiles,
    sizes: &Sizes,
) -> RatioRun {
    let before = cpu_ticks();
    let pgbench_s = pgbench(&env("DATABASE_ADMIN_URL"), sizes.seconds).rps;
    let redis = redis_get(&env("SPRING_REDIS_HOST"), &env("SPRING_REDIS_PORT")).rps;
    let mut floor = f64::NAN;
    let mut rows = Vec::new();
    for config in &CONFIGS[..2] {
        let server = Server::start(binary, config);
        if floor.is_nan() {
            floor = wrk(
                &server.base,
                "/actuator/health/liveness",
                None,
                sizes.seconds,
            )
            .rps;
        }
        one_pass(&server.base, seed).await;
        MEASURED_PID.store(server.child.id(), std::sync::atomic::Ordering::Relaxed);
        rows.push(wrk(
            &server.base,
            "",
            Some(&files.organization),
            sizes.seconds,
        ));
        MEASURED_PID.store(0, std::sync::atomic::Ordering::Relaxed);
    }
    RatioRun {
        db: rows[0].rps / ceiling(floor, pgbench_s),
        redis: rows[1].rps / ceiling(floor, redis),
        cpu_us: (cpu_of(&rows[0]), cpu_of(&rows[1])),
        steal: steal_between(before, cpu_ticks()),
        anchors: (floor, pgbench_s, redis),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The runs' table, to stdout, and their JSON.
pub(crate) fn report(runs: &[RatioRun]) -> Value {
    println!(
        "\n| run | floor / pgbench -S / Redis GET | steal | DB authorizer, Redis off | Redis on |"
    );
    println!("|---|---|---|---|---|");
    for (n, run) in runs.iter().enumerate() {
        println!(
            "| {} | {:.1}k / {:.1}k / {:.1}k | {:.1} % | {:.2}× ceiling_db, {:.1} µs | {:.2}× ceiling_redis, {:.1} µs |",
            n + 1,
            run.anchors.0 / 1e3,
            run.anchors.1 / 1e3,
            run.anchors.2 / 1e3,
            run.steal * 100.0,
            run.db,
            run.cpu_us.0,
            run.redis,
            run.cpu_us.1
        );
    }
    let spread = |pick: fn(&RatioRun) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(pick).collect();
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (median(&mut values), low, high)
    };
    let db = spread(|r| r.db);
    let redis = spread(|r| r.redis);
    let db_cpu = spread(|r| r.cpu_us.0);
    let redis_cpu = spread(|r| r.cpu_us.1);
    println!(
        "| median (spread) of {} | | | **{:.2}×** ({:.2}–{:.2}), {:.1} µs | **{:.2}×** ({:.2}–{:.2}), {:.1} µs |",
        runs.len(),
        db.0,
        db.1,
        db.2,
        db_cpu.0,
        redis.0,
        redis.1,
        redis.2,
        redis_cpu.0
    );
    json!({
        "runs": runs.iter().map(|r| json!({
            "ratio_db": r.db, "ratio_redis": r.redis,
            "cpu_us_per_request": [r.cpu_us.0, r.cpu_us.1],
            "steal": r.steal,
            "anchors": {"http_floor": r.anchors.0, "pgbench_S": r.anchors.1, "redis_GET": r.anchors.2},
        })).collect::<Vec<_>>(),
        "median": {"ratio_db": db.0, "ratio_redis": redis.0},
        "spread": {"ratio_db": [db.1, db.2], "ratio_redis": [redis.1, redis.2]},
    })
}
