//! The benchmarks, measured side by side with their anchors in one run on
//! one stack: `cargo xtask bench` builds this (release), brings up a `bench`
//! stack of its own and runs it with the stack's settings and
//! `BENCH_SERVER_BIN` (the release `orgman-server`).
//!
//! It seeds Keycloak users (real tokens) and organizations with their
//! memberships, measures the anchors (`pgbench -S`, the HTTP floor, Redis
//! GET), then starts the real service once per configuration (database or
//! SpiceDB authorizer, Redis cache off or on) and loads it with wrk (keep-
//! alive connections, latency percentiles). Figures are ratios within the
//! run; the absolute numbers depend on the machine. The table goes to
//! stdout, everything to `target/bench/latest.json`.

mod people;
mod ratios;
mod scim;
mod spicedb;
mod writes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orgman_domain::ports::{MembershipCache, NoCache, Outbox, OutboxSink, UserRepository};
use orgman_domain::{
    Actor, ApiKeyService, KeyDraft, KeyName, OrgName, OrgRole, OrganizationId, OrganizationService,
    Permission, ServicePorts, ServiceSettings, Slug, UserId, UserProfile,
};
use orgman_postgres::{PgSettings, PgStore, migrate};
use orgman_redis::{RedisCache, RedisSettings};
use serde_json::{Value, json};

/// Sizes of the key set (overridable with BENCH_USERS, BENCH_ORGS,
/// BENCH_ORGS_PER_USER, BENCH_SECONDS).
struct Sizes {
    users: usize,
    organizations: usize,
    per_user: usize,
    seconds: u64,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} not set: run `cargo xtask bench`"))
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What wrk (or another load tool) measured.
#[derive(Clone, Debug, Default)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// What the service spent per request (`perf stat` on its process),
    /// when a service was measured: a figure that moves far less with the
    /// machine's noise than requests/s do.
    cost: Option<Cost>,
}

/// The service's work per request.
#[derive(Clone, Copy, Debug)]
struct Cost {
    /// Instructions, where the machine exposes the counter (virtual
    /// machines often do not).
    instructions: Option<f64>,
    /// CPU time, in microseconds.
    cpu_us: f64,
}

impl Load {
    fn json(&self) -> Value {
        json!({
            "rps": self.rps.round(), "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "errors": self.errors,
            "instructions_per_request": self.cost.and_then(|c| c.instructions).map(f64::round),
            "cpu_us_per_request": self.cost.map(|c| (c.cpu_us * 10.0).round() / 10.0),
        })
    }

    /// The cost column's text.
    fn instructions_text(&self) -> String {
        match self.cost {
            None => String::new(),
            Some(Cost {
                instructions: Some(count),
                cpu_us,
            }) => format!("{:.0}k instructions, {cpu_us:.1} µs", count / 1000.0),
            Some(Cost { cpu_us, .. }) => format!("{cpu_us:.1} µs"),
        }
    }
}

/// The process wrk's load is counted in (`perf stat -p`), while a service
/// runs: 0 for none.
static MEASURED_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Counts the instructions of the measured service (if any) until
/// [`instructions_counted`].
fn count_instructions() -> Option<(Child, PathBuf)> {
    let pid = MEASURED_PID.load(std::sync::atomic::Ordering::Relaxed);
    if pid == 0 {
        return None;
    }
    let file = std::env::temp_dir().join(format!("orgman-bench-perf-{pid}.csv"));
    let child = Command::new("perf")
        .args([
            "stat",
            "-x",
            ",",
            "-e",
            "instructions,task-clock",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((child, file))
}

/// What [`count_instructions`] counted: instructions (`None` where the
/// machine has no such counter) and CPU milliseconds; `None` without perf.
fn instructions_counted(counting: Option<(Child, PathBuf)>) -> Option<(Option<f64>, f64)> {
    let (mut child, file) = counting?;
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(&file).ok()?;
    let _ = std::fs::remove_file(&file);
    let counter = |event: &str| {
        text.lines()
            .filter(|line| line.split(',').nth(2) == Some(event))
            .find_map(|line| line.split(',').next()?.trim().parse::<f64>().ok())
    };
    Some((counter("instructions"), counter("task-clock")?))
}

fn milliseconds(text: &str) -> f64 {
    let text = text.trim();
    let (number, factor) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * factor
}

/// Runs wrk (2 threads, 16 keep-alive connections) against `url`, each
/// request taken in turn from `requests` (a file of `path<TAB>token` lines)
/// when given.
fn wrk(base: &str, path: &str, requests: Option<&Path>, seconds: u64) -> Load {
    let mut command = Command::new("wrk");
    command
        .args(["-t2", "-c16", "--latency", "-d"])
        .arg(format!("{seconds}s"));
    if let Some(requests) = requests {
        command
            .arg("-s")
            .arg(script_path())
            .arg(format!("{base}{path}"))
            .arg("--")
            .arg(requests);
    } else {
        command.arg(format!("{base}{path}"));
    }
    let counting = count_instructions();
    let output = command.output().expect("run wrk (apt-get install wrk)");
    let counted = instructions_counted(counting);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut load = Load::default();
    let mut requests = 0.0;
    for line in text.lines() {
        let line = line.trim();
        if line.contains(" requests in ") {
            requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            load.rps = rest.trim().parse().unwrap_or(0.0);
        } else if let Some(rest) = line.strip_prefix("50%") {
            load.p50_ms = milliseconds(rest);
        } else if let Some(rest) = line.strip_prefix("99%") {
            load.p99_ms = milliseconds(rest);
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            load.errors += rest.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            load.errors += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    assert!(load.rps > 0.0, "wrk measured nothing:\n{text}");
    load.cost = counted
        .filter(|_| requests > 0.0)
        .map(|(instructions, cpu_ms)| Cost {
            instructions: instructions.map(|count| count / requests),
            cpu_us: cpu_ms * 1000.0 / requests,
        });
    load
}

/// The wrk script: requests prepared once per thread, taken in turn.
fn script_path() -> PathBuf {
    let path = std::env::temp_dir().join("orgman-bench.lua");
    std::fs::write(
        &path,
        r#"
local prepared = {}
local index = 0
function init(args)
  for line in io.lines(args[1]) do
    local path, token, body = line:match("([^\t]+)\t([^\t]+)\t?(.*)")
    if body ~= "" then
      local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
      prepared[#prepared + 1] = wrk.format("POST", path, headers, body)
    else
      prepared[#prepared + 1] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
    end
  end
  index = math.random(#prepared)
end
function request()
  index = index % #prepared + 1
  return prepared[index]
end
"#,
    )
    .unwrap();
    path
}

fn pgbench(admin_url: &str, seconds: u64) -> Load {
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/pgbench");
    let _ = Command::new("psql")
        .arg(admin_url)
        .args(["-qc", "CREATE DATABASE pgbench"])
        .stderr(Stdio::null())
        .status();
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "10"])
        .arg(&url)
        .stderr(Stdio::null())
        .status()
        .expect("pgbench");
    assert!(init.success(), "pgbench -i failed");
    let output = Command::new("pgbench")
        .args(["-S", "-M", "prepared", "-c", "16", "-j", "2", "-T"])
        .arg(seconds.to_string())
        .arg(&url)
        .output()
        .expect("pgbench");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let load = pgbench_load(&text);
    assert!(load.rps > 0.0, "pgbench measured nothing:\n{text}");
    load
}

/// What pgbench printed: transactions/s, and its average latency (as
/// `p50_ms`; pgbench gives no percentiles without a log).
fn pgbench_load(text: &str) -> Load {
    let mut load = Load::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("tps = ") {
            load.rps = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
        } else if let Some(rest) = line.strip_prefix("latency average = ") {
            load.p50_ms = milliseconds(&rest.replace(' ', ""));
        }
    }
    load
}

fn redis_get(host: &str, port: &str) -> Load {
    let output = Command::new("redis-benchmark")
        .args([
            "-h", host, "-p", port, "-t", "get", "-c", "16", "-n", "400000", "-q",
        ])
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    // "GET: 51282.05 requests per second, p50=0.183 msec"
    let line = text
        .split(['\r', '\n'])
        .rfind(|l| l.starts_with("GET:"))
        .unwrap_or_default()
        .to_owned();
    let rps = line
        .trim_start_matches("GET:")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let p50 = line
        .split("p50=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    assert!(rps > 0.0, "redis-benchmark measured nothing:\n{text}");
    Load {
        rps,
        p50_ms: p50,
        ..Load::default()
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Keycloak, through its Admin API as the stack's bootstrap administrator.
struct Keycloak {
    http: reqwest::Client,
    base: String,
    admin_token: String,
}

impl Keycloak {
    async fn connect() -> Keycloak {
        let issuer = env("OIDC_ISSUER_URL");
        let base = issuer.split("/realms/").next().unwrap().to_owned();
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!(
                "{base}/realms/master/protocol/openid-connect/token"
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", "admin"),
                ("password", &env("KEYCLOAK_ADMIN_PASSWORD")),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Keycloak {
            http,
            base,
            admin_token: token["access_token"]
                .as_str()
                .expect("admin token")
                .to_owned(),
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> reqwest::Response {
        self.http
            .request(method, format!("{}/admin/realms/dev{path}", self.base))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A bench client with hour-long tokens, and cheap password hashing:
    /// the bench stack's realm only.
    async fn prepare(&self) {
        let realm = self.admin(reqwest::Method::GET, "", json!({})).await;
        let mut realm: Value = realm.json().await.unwrap();
        realm["passwordPolicy"] = json!("hashAlgorithm(pbkdf2-sha256) and hashIterations(1)");
        let updated = self.admin(reqwest::Method::PUT, "", realm).await;
        assert!(updated.status().is_success(), "{}", updated.status());
        let created = self
            .admin(
                reqwest::Method::POST,
                "/clients",
                json!({
                    "clientId": "orgman-bench",
                    "publicClient": true,
                    "directAccessGrantsEnabled": true,
                    "standardFlowEnabled": false,
                    "attributes": {"access.token.lifespan": "3600"},
                    "protocolMappers": [{
                        "name": "orgman-audience",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-audience-mapper",
                        "config": {
                            "included.custom.audience": env("OIDC_AUDIENCE"),
                            "access.token.claim": "true"
                        }
                    }]
                }),
            )
            .await;
        assert!(
            created.status().is_success() || created.status() == 409,
            "{}",
            created.status()
        );
    }

    /// Creates a user and returns its id and an access token.
    async fn user(&self, n: usize) -> (UserId, String) {
        let username = format!("bench-{n}");
        let created = self
            .admin(
                reqwest::Method::POST,
                "/users",
                json!({
                    "username": username,
                    "email": format!("{username}@bench.test"),
                    "emailVerified": true,
                    "firstName": "Bench",
                    "lastName": format!("User {n}"),
                    "enabled": true,
                    "credentials": [{"type": "password", "value": "bench", "temporary": false}]
                }),
            )
            .await;
        assert_eq!(created.status(), 201, "create {username}");
        let id = created
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.rsplit('/').next())
            .and_then(|id| id.parse::<uuid::Uuid>().ok())
            .expect("user id");
        let token: Value = self
            .http
            .post(format!(
                "{}/realms/dev/protocol/openid-connect/token",
                self.base
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "orgman-bench"),
                ("username", &username),
                ("password", "bench"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            UserId::from_uuid(id),
            token["access_token"].as_str().expect("token").to_owned(),
        )
    }
}

/// The seeded key set: users with tokens, and (user, organization) pairs.
struct Seed {
    users: Vec<(UserId, String)>,
    pairs: Vec<(usize, OrganizationId)>,
    /// One API key per organization (`organization:read`), by secret.
    keys: Vec<(OrganizationId, String)>,
}

impl Seed {
    /// The seeded organizations, each once.
    fn organizations(&self) -> Arc<Vec<OrganizationId>> {
        let mut organizations: Vec<OrganizationId> = self.pairs.iter().map(|(_, o)| *o).collect();
        organizations.sort();
        organizations.dedup();
        Arc::new(organizations)
    }
}

async fn seed(store: &Arc<PgStore>, sizes: &Sizes) -> Seed {
    let keycloak = Arc::new(Keycloak::connect().await);
    keycloak.prepare().await;
    let started = Instant::now();
    let mut users = Vec::with_capacity(sizes.users);
    for chunk in (0..sizes.users).collect::<Vec<_>>().chunks(8) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&n| {
                let keycloak = keycloak.clone();
                tokio::spawn(async move { keycloak.user(n).await })
            })
            .collect();
        for task in tasks {
            users.push(task.await.unwrap());
        }
    }
    eprintln!(
        "bench: {} Keycloak users with tokens in {:.1}s",
        users.len(),
        started.elapsed().as_secs_f32()
    );
    for (id, _) in &users {
        store
            .provision(&UserProfile {
                id: *id,
                subject: id.to_string(),
                email: None,
                display_name: None,
                given_name: None,
                family_name: None,
            })
            .await
            .unwrap();
    }
    let service = OrganizationService::new(
        ServicePorts::over_storage(store.clone()),
        ServiceSettings::default(),
    );
    let owner = users[0].0;
    let admin = Actor::platform_admin(owner);
    let started = Instant::now();
    let mut organizations = Vec::new();
    for n in 0..sizes.organizations {
        let org = service
            .create(
                &admin,
                OrgName::parse(&format!("Bench {n}")).unwrap(),
                Slug::parse(&format!("bench-{n}")).unwrap(),
            )
            .await
            .unwrap();
        organizations.push(org.id());
    }
    let mut pairs = Vec::new();
    for (index, (user, _)) in users.iter().enumerate() {
        for k in 0..sizes.per_user {
            let org = organizations[(index * 7 + k * 13) % organizations.len()];
            if pairs.contains(&(index, org)) {
                continue;
            }
            if *user != owner {
                service
                    .add_member(&admin, org, *user, OrgRole::Member)
                    .await
                    .unwrap();
            }
            pairs.push((index, org));
        }
    }
    eprintln!(
        "bench: {} organizations, {} memberships in {:.1}s",
        organizations.len(),
        pairs.len(),
        started.elapsed().as_secs_f32()
    );
    let keys = api_keys(service, store, &admin, &organizations).await;
    Seed { users, pairs, keys }
}

/// One API key with `organization:read` per organization, made through
/// the domain as a platform administrator.
async fn api_keys(
    service: OrganizationService,
    store: &Arc<PgStore>,
    admin: &Actor,
    organizations: &[OrganizationId],
) -> Vec<(OrganizationId, String)> {
    let keys = ApiKeyService::new(
        Arc::new(service),
        store.clone(),
        Arc::new(orgman_secrets::RandomTokens::new()),
    );
    let mut secrets = Vec::with_capacity(organizations.len());
    for org in organizations {
        let draft = KeyDraft {
            name: KeyName::parse("bench").unwrap(),
            permissions: [Permission::OrganizationRead].into_iter().collect(),
            expires_at: None,
        };
        let issued = keys.create(admin, *org, draft).await.unwrap();
        secrets.push((*org, issued.secret.expose().to_owned()));
    }
    secrets
}

fn request_file(name: &str, lines: impl Iterator<Item = String>) -> PathBuf {
    let path = std::env::temp_dir().join(format!("orgman-bench-{name}.txt"));
    let text: Vec<String> = lines.collect();
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    path
}

/// One configuration of the service.
struct Config {
    name: &'static str,
    authorizer: &'static str,
    redis: bool,
    /// Run the outbox relays in the server (the default deployment).
    relay: bool,
    /// The copies to Keycloak (identity providers, the Organizations
    /// mirror), on by default; a row with them off names
    /// `ORGMAN_KEYCLOAK_ORGANIZATIONS=false`.
    keycloak: bool,
    /// `ORGMAN_KEYCLOAK_MEMBERS` (`linked` by default).
    members: &'static str,
}

struct Server {
    child: Child,
    base: String,
    ready_ms: f64,
    port: u16,
    started: Instant,
}

impl Server {
    /// The service, ready, past its start-up round of copies to Keycloak.
    fn start(binary: &Path, config: &Config) -> Server {
        let server = Self::spawn(binary, config);
        if config.keycloak {
            server.keycloak_quiet();
        }
        server
    }

    /// Waits until the start-up round of copies to Keycloak is over
    /// ([`keycloak_quiet`]).
    fn keycloak_quiet(&self) {
        keycloak_quiet(self.port, self.started);
    }

    /// The service, ready.
    fn spawn(binary: &Path, config: &Config) -> Server {
        let port = free_port();
        let started = Instant::now();
        let child = Command::new(binary)
            .env("SERVER_PORT", port.to_string())
            .env("SERVER_ADDRESS", "127.0.0.1")
            .env("ORGMAN_AUTHORIZER", config.authorizer)
            .env("ORGMAN_CACHE_ENABLED", config.redis.to_string())
            .env("ORGMAN_OUTBOX_RELAY_ENABLED", config.relay.to_string())
            .env("ORGMAN_CACHE_TTL_SECONDS", "300")
            .env(
                "ORGMAN_KEYCLOAK_ORGANIZATIONS",
                if config.keycloak { "auto" } else { "false" },
            )
            .env("ORGMAN_SSO_BROKER_SYNC", config.keycloak.to_string())
            .env("ORGMAN_KEYCLOAK_MEMBERS", config.members)
            .env("LOGGING_LEVEL_ROOT", "WARN")
            .env("LOGGING_LEVEL_APP", "WARN")
            .env("SPRING_LIQUIBASE_ENABLED", "false")
            // BENCH_SERVER_LOG=<file>: the servers' warnings, appended.
            .stdout(match std::env::var("BENCH_SERVER_LOG") {
                Ok(file) => std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
                Err(_) => Stdio::null(),
            })
            .spawn()
            .expect("start orgman-server");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(port) {
            assert!(Instant::now() < deadline, "orgman-server not ready");
            std::thread::sleep(Duration::from_millis(2));
        }
        Server {
            ready_ms: started.elapsed().as_secs_f64() * 1e3,
            child,
            base,
            port,
            started,
        }
    }
}

/// Waits for the start-up round of the copies to Keycloak (every replica
/// reconciles a few seconds after it starts, then every ten minutes) to
/// end: at least 6 s after `started`, and no Admin API call for a second.
/// The rows measure a service in its steady state, not its first seconds.
fn keycloak_quiet(port: u16, started: Instant) {
    let deadline = started + Duration::from_secs(120);
    let mut last = None;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        // No series yet: no call made yet.
        let calls = admin_calls(port).unwrap_or(0);
        if started.elapsed() >= Duration::from_secs(6) && Some(calls) == last {
            return;
        }
        if Instant::now() >= deadline {
            // Measured anyway, and said: what the mirror still had to do.
            let url = env("DATABASE_URL");
            let output = Command::new("psql")
                .arg(&url)
                .args(["-tAc", "SELECT (SELECT count(*) FROM outbox WHERE mirror_synced_at IS NULL AND mirror_dead_at IS NULL) || ' outbox rows, ' || (SELECT count(*) FROM mirror_queue) || ' marks: ' || coalesce((SELECT string_agg(org_id || CASE WHEN members THEN '+members' ELSE '' END, ' ') FROM mirror_queue), '')"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            eprintln!(
                "bench: WARNING: Keycloak calls still going 120 s after start ({} so far); the mirror's pending work: {}",
                calls,
                output.trim()
            );
            return;
        }
        last = Some(calls);
    }
}

/// The service's Admin API calls so far (`/actuator/metrics`).
fn admin_calls(port: u16) -> Option<u64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = "GET /actuator/metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    stream.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("orgman_identity_provider_requests_total{kind=\"admin\"}"))?;
    line.rsplit(' ')
        .next()?
        .trim()
        .parse::<f64>()
        .ok()
        .map(|v| v as u64)
}

/// Whether the readiness probe answers 200 (plain HTTP/1.1 over TCP).
fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request =
        "GET /actuator/health/readiness HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut reply = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && reply.ends_with(b" 200")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every (user, organization) pair requested once, 16 at a time, with
/// reqwest: the cold path (token verification, cache misses, checks).
async fn one_pass(base: &str, seed: &Seed) -> Load {
    let requests: Vec<(String, String)> = seed
        .pairs
        .iter()
        .map(|(u, o)| {
            (
                format!("{base}/api/v1/organizations/{o}"),
                seed.users[*u].1.clone(),
            )
        })
        .collect();
    let total = requests.len();
    callers(Arc::new(requests), move |n| n < total, false).await
}

/// `GET <base><path>` for `seconds`, 16 callers with keep-alive
/// connections taking the users' tokens in turn, each response read whole:
/// the same load as wrk's, measured by a second, independent client.
async fn timed_pass(base: &str, path: &str, seed: &Seed, seconds: u64) -> Load {
    let url = format!("{base}{path}");
    let requests: Vec<(String, String)> = seed
        .users
        .iter()
        .map(|u| (url.clone(), u.1.clone()))
        .collect();
    let until = Instant::now() + Duration::from_secs(seconds);
    callers(Arc::new(requests), move |_| Instant::now() < until, true).await
}

/// 16 concurrent reqwest callers taking `requests` (URL, token) in turn,
/// the n-th while `go(n)`; with `read_body`, a sample ends when the whole
/// response is read, else at its headers.
async fn callers(
    requests: Arc<Vec<(String, String)>>,
    go: impl Fn(usize) -> bool + Clone + Send + 'static,
    read_body: bool,
) -> Load {
    let http = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (http, requests, next, go) =
                (http.clone(), requests.clone(), next.clone(), go.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut errors = 0_u64;
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if !go(n) {
                        break;
                    }
                    let (url, token) = &requests[n % requests.len()];
                    let at = Instant::now();
                    let ok = match http.get(url).bearer_auth(token).send().await {
                        Ok(response) => {
                            let success = response.status().is_success();
                            success && (!read_body || response.bytes().await.is_ok())
                        }
                        Err(_) => false,
                    };
                    samples.push(at.elapsed());
                    errors += u64::from(!ok);
                }
                (samples, errors)
            })
        })
        .collect();
    gather(workers, started).await
}

/// The samples and errors of callers that ran since `started`, as one
/// load.
async fn gather(
    workers: Vec<tokio::task::JoinHandle<(Vec<Duration>, u64)>>,
    started: Instant,
) -> Load {
    let mut samples = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (s, e) = worker.await.unwrap();
        samples.extend(s);
        errors += e;
    }
    summarize(samples, started.elapsed(), errors)
}

fn summarize(mut samples: Vec<Duration>, wall: Duration, errors: u64) -> Load {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    Load {
        rps: samples.len() as f64 / wall.as_secs_f64(),
        p50_ms: pct(0.5).as_secs_f64() * 1e3,
        p99_ms: pct(0.99).as_secs_f64() * 1e3,
        errors,
        cost: None,
    }
}

/// What the outbox bench measured.
async fn sql_number(url: &str, sql: &str) -> f64 {
    let output = Command::new("psql")
        .arg(url)
        .args(["-tAc", sql])
        .output()
        .expect("psql");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

/// Figures of one member import.
struct ImportFigures {
    rows: usize,
    seconds: f64,
    added: u64,
    peak_rss_kib: u64,
    idle_rss_kib: u64,
}

/// Member import through the API beside `psql \copy` of the same rows into
/// a scratch table `LIKE organization_members INCLUDING ALL` (same indexes;
/// the import also writes an outbox row and an audit row per member, checks
/// every user exists, and the relay publishes the events meanwhile). Two
/// file sizes, to show memory does not follow the file.
async fn import_bench(binary: &Path, seed: &Seed, service: &OrganizationService) -> Value {
    let url = env("DATABASE_URL");
    let rows_large = env_number("BENCH_IMPORT_ROWS", 100_000);
    let rows_small = rows_large / 5;
    let dir = std::env::temp_dir().join("orgman-bench-import");
    std::fs::create_dir_all(&dir).unwrap();

    let users = import_users(&url, &dir, rows_large + rows_small);

    let owner = Actor::platform_admin(seed.users[0].0);
    let organization = |slug: &'static str| new_organization(service, &owner, slug);
    let anchor_org = organization("bench-import-anchor").await;
    let small_org = organization("bench-import-small").await;
    let large_org = organization("bench-import-large").await;

    let copy_seconds = copy_anchor(&url, &dir, anchor_org, &users[..rows_large]);

    let config = Config {
        name: "import",
        authorizer: "database",
        redis: true,
        relay: true,
        keycloak: true,
        members: "linked",
    };
    let server = Server::start(binary, &config);
    let token = seed.users[0].1.clone();
    let small = import_once(&server, &token, small_org, &users[rows_large..]).await;
    let large = import_once(&server, &token, large_org, &users[..rows_large]).await;
    // The Keycloak mirror marks the organization once and settles the
    // import's events: how long after the import until nothing waits.
    let imported = Instant::now();
    let mirror_settled = writes::settled(imported, "the mirror after the import", || {
        writes::pending_for_mirror(&url, Some(large_org))
    })
    .await;
    drop(server);
    assert_eq!(large.added as usize, rows_large, "every row imported");
    assert_eq!(small.added as usize, rows_small, "every row imported");
    // The same import with the copies to Keycloak off, and with the relays
    // in another process (ORGMAN_OUTBOX_RELAY_ENABLED=false here), so the
    // figure is the import's own work. Each into a new organization, with
    // the table as large as before.
    let other = |slug: &'static str, config: Config| {
        let (organization, token, users) = (&organization, &token, &users[..rows_large]);
        async move {
            psql(
                &env("DATABASE_URL"),
                &format!("DELETE FROM organization_members WHERE org_id = '{large_org}'"),
            );
            import_again(binary, token, organization(slug).await, users, config).await
        }
    };
    let off = other(
        "bench-import-keycloak-off",
        Config {
            keycloak: false,
            members: "linked",
            ..config
        },
    )
    .await;
    let alone = other(
        "bench-import-alone",
        Config {
            relay: false,
            ..config
        },
    )
    .await;
    print_import(copy_seconds, &small, &large, &off, &alone, mirror_settled);
    import_json(copy_seconds, &small, &large, &off, &alone, mirror_settled)
}

/// With `ORGMAN_KEYCLOAK_MEMBERS=all`: the seed's Keycloak users (every
/// one but the owner) imported into a new organization, and the time from
/// the import's answer until the mirror has copied every membership to
/// Keycloak (its events settled, its organization's mark gone).
async fn members_to_keycloak(binary: &Path, seed: &Seed, service: &OrganizationService) -> Value {
    let url = env("DATABASE_URL");
    let owner = Actor::platform_admin(seed.users[0].0);
    let org = new_organization(service, &owner, "bench-members-copied").await;
    let users: Vec<uuid::Uuid> = seed.users[1..].iter().map(|(id, _)| id.as_uuid()).collect();
    // Only this organization's members are measured: the earlier runs'
    // organizations (their events written while no mirror ran) would be
    // copied first, 100,000 members at a time, in this mode.
    psql(
        &url,
        &format!(
            "UPDATE outbox SET mirror_synced_at = now() WHERE mirror_synced_at IS NULL AND aggregate_id <> '{org}'; DELETE FROM mirror_queue"
        ),
    );
    let server = Server::start(
        binary,
        &Config {
            name: "members to Keycloak",
            authorizer: "database",
            redis: true,
            relay: true,
            keycloak: true,
            members: "all",
        },
    );
    let imported = import_once(&server, &seed.users[0].1, org, &users).await;
    let answered = Instant::now();
    let seconds = writes::settled(answered, "the members' copy to Keycloak", || {
        writes::pending_for_mirror(&url, Some(org))
    })
    .await;
    drop(server);
    let rate = imported.added as f64 / seconds;
    println!(
        "| ORGMAN_KEYCLOAK_MEMBERS=all: {} imported members copied to Keycloak's organization | {seconds:.1} s after the import | {rate:.0} members/s (100,000: {:.0} min) | |",
        imported.added,
        100_000.0 / rate / 60.0
    );
    json!({"members": imported.added, "seconds": seconds, "members_per_second": rate.round()})
}

/// The import of `users` into `org` by a service of `config`.
async fn import_again(
    binary: &Path,
    token: &str,
    org: OrganizationId,
    users: &[uuid::Uuid],
    config: Config,
) -> ImportFigures {
    let server = Server::start(binary, &config);
    let figures = import_once(&server, token, org, users).await;
    assert_eq!(figures.added as usize, users.len(), "every row imported");
    if !config.relay {
        // Nothing here relays these events (the relays elsewhere would):
        // settled, so that no later run inherits them.
        psql(
            &env("DATABASE_URL"),
            &format!(
                "UPDATE outbox SET published_at = now(), authz_synced_at = now(), idp_synced_at = now(), mirror_synced_at = now() WHERE aggregate_id = '{org}'"
            ),
        );
    }
    figures
}

/// An organization for an import.
async fn new_organization(
    service: &OrganizationService,
    owner: &Actor,
    slug: &str,
) -> OrganizationId {
    service
        .create(
            owner,
            OrgName::parse(slug).unwrap(),
            Slug::parse(slug).unwrap(),
        )
        .await
        .unwrap()
        .id()
}

/// The import's figures, for the report.
fn import_json(
    copy_seconds: f64,
    small: &ImportFigures,
    large: &ImportFigures,
    off: &ImportFigures,
    alone: &ImportFigures,
    mirror_settled: f64,
) -> Value {
    json!({
        "rows": large.rows,
        "copy_seconds": copy_seconds,
        "import_seconds": large.seconds,
        "import_rows_per_second": (large.rows as f64 / large.seconds).round(),
        "ratio_to_copy": copy_seconds / large.seconds,
        "mirror_settled_seconds_after_import": mirror_settled,
        "import_seconds_keycloak_off": off.seconds,
        "ratio_to_copy_keycloak_off": copy_seconds / off.seconds,
        "import_seconds_relays_elsewhere": alone.seconds,
        "ratio_to_copy_relays_elsewhere": copy_seconds / alone.seconds,
        "idle_rss_kib": large.idle_rss_kib,
        "peak_rss_kib": {"rows": {small.rows.to_string(): small.peak_rss_kib, large.rows.to_string(): large.peak_rss_kib}},
    })
}

/// `count` users for the import files, loaded with `\copy` (setup, not
/// measured).
fn import_users(url: &str, dir: &Path, count: usize) -> Vec<uuid::Uuid> {
    let users: Vec<uuid::Uuid> = (0..count).map(|_| uuid::Uuid::new_v4()).collect();
    let users_file = dir.join("users.csv");
    let mut text = String::with_capacity(users.len() * 50);
    for id in &users {
        text.push_str(&format!("{id},import-{id}\n"));
    }
    std::fs::write(&users_file, text).unwrap();
    psql(
        url,
        &format!(
            "\\copy users (id, subject) FROM '{}' CSV",
            users_file.display()
        ),
    );
    users
}

/// The anchor: seconds for `psql \copy` of the memberships of `users`
/// into a scratch table like `organization_members` (same indexes).
fn copy_anchor(url: &str, dir: &Path, org: OrganizationId, users: &[uuid::Uuid]) -> f64 {
    let copy_file = dir.join("copy.csv");
    let mut text = String::with_capacity(users.len() * 60);
    for id in users {
        text.push_str(&format!("{org},{id},MEMBER\n"));
    }
    std::fs::write(&copy_file, text).unwrap();
    psql(
        url,
        "DROP TABLE IF EXISTS import_anchor; CREATE TABLE import_anchor (LIKE organization_members INCLUDING ALL)",
    );
    let started = Instant::now();
    psql(
        url,
        &format!(
            "\\copy import_anchor (org_id, user_id, role) FROM '{}' CSV",
            copy_file.display()
        ),
    );
    let copy_seconds = started.elapsed().as_secs_f64();
    psql(url, "DROP TABLE import_anchor");
    copy_seconds
}

/// The import's table, to stdout.
fn print_import(
    copy_seconds: f64,
    small: &ImportFigures,
    large: &ImportFigures,
    off: &ImportFigures,
    alone: &ImportFigures,
    mirror_settled: f64,
) {
    println!(
        "\n| member import, {} rows | seconds | rows/s | ratio |",
        large.rows
    );
    println!("|---|---|---|---|");
    println!(
        "| psql \\copy into a LIKE ... INCLUDING ALL table | {copy_seconds:.3} | {:.0} | anchor |",
        large.rows as f64 / copy_seconds
    );
    for (name, figures) in [
        (
            "POST .../members/import (CSV, default chunks; outbox + audit rows; default configuration)",
            large,
        ),
        ("the same, ORGMAN_KEYCLOAK_ORGANIZATIONS=false", off),
        (
            "the same, default configuration, relays in another process",
            alone,
        ),
    ] {
        println!(
            "| {name} | {:.3} | {:.0} | {:.2}× psql \\copy |",
            figures.seconds,
            figures.rows as f64 / figures.seconds,
            copy_seconds / figures.seconds
        );
    }
    println!(
        "| Keycloak mirror: the import's events settled, its organization unmarked (members not copied: no SSO configuration, ORGMAN_KEYCLOAK_MEMBERS=linked) | {mirror_settled:.1} s after the import | | |"
    );
    println!(
        "| server RSS: idle / peak importing {} rows / peak importing {} rows | {} / {} / {} MiB | | |",
        small.rows,
        large.rows,
        large.idle_rss_kib / 1024,
        small.peak_rss_kib / 1024,
        large.peak_rss_kib / 1024
    );
}

fn psql(url: &str, command: &str) {
    let status = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-qc", command])
        .status()
        .expect("psql");
    assert!(status.success(), "psql {command}");
}

/// The peak resident memory of a process, sampled every 10 ms on a thread
/// of its own until asked.
struct PeakRss {
    sampling: Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl PeakRss {
    fn sample(pid: u32) -> Self {
        let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = {
            let sampling = sampling.clone();
            std::thread::spawn(move || {
                let mut peak = 0;
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(rss_kib(pid));
                    std::thread::sleep(Duration::from_millis(10));
                }
                peak
            })
        };
        PeakRss { sampling, sampler }
    }

    /// Stops sampling; the peak in KiB.
    fn peak(self) -> u64 {
        self.sampling
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.sampler.join().unwrap()
    }
}

/// BENCH_PERF=<file>: a system-wide profile of an import of `rows` rows (or
/// of the batch check run, `.checks`), for `perf report --sort comm,dso`.
fn profile(rows: usize) -> Option<Child> {
    profile_as(&rows.to_string())
}

fn profile_as(suffix: &str) -> Option<Child> {
    let file = std::env::var("BENCH_PERF").ok()?;
    let perf = Command::new("perf")
        .args([
            "record",
            "-a",
            "-g",
            "-F",
            "499",
            "-o",
            &format!("{file}.{suffix}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("perf");
    Some(perf)
}

/// Ends a [`profile`], writing its file.
fn stop_profile(perf: Option<Child>) {
    if let Some(mut perf) = perf {
        let _ = Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait();
    }
}

/// One import through the API, sampling the server's RSS meanwhile.
async fn import_once(
    server: &Server,
    token: &str,
    org: OrganizationId,
    users: &[uuid::Uuid],
) -> ImportFigures {
    let mut csv = String::with_capacity(users.len() * 45 + 16);
    csv.push_str("userId,role\n");
    for id in users {
        csv.push_str(&format!("{id},MEMBER\n"));
    }
    let pid = server.child.id();
    let idle_rss_kib = rss_kib(pid);
    let sampler = PeakRss::sample(pid);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(csv.into_bytes())
            .file_name("members.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let perf = profile(users.len());
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/organizations/{org}/members/import",
            server.base
        ))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let report: Value = response.json().await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    stop_profile(perf);
    let peak_rss_kib = sampler.peak();
    assert!(status.is_success(), "import answered {status}: {report}");
    ImportFigures {
        rows: users.len(),
        seconds,
        added: report["added"].as_u64().unwrap_or(0),
        peak_rss_kib,
        idle_rss_kib,
    }
}

/// The membership check through the domain, 16 concurrent callers.
async fn membership_checks(
    store: &Arc<PgStore>,
    cache: Arc<dyn MembershipCache>,
    seed: &Seed,
    seconds: u64,
) -> Load {
    let service = Arc::new(OrganizationService::new(
        ServicePorts {
            cache,
            ..ServicePorts::over_storage(store.clone())
        },
        ServiceSettings::default(),
    ));
    let pairs: Arc<Vec<(UserId, OrganizationId)>> = Arc::new(
        seed.pairs
            .iter()
            .map(|(u, o)| (seed.users[*u].0, *o))
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|worker| {
            let service = service.clone();
            let pairs = pairs.clone();
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut n = worker * 97;
                while Instant::now() < deadline {
                    let (user, org) = pairs[n % pairs.len()];
                    let at = Instant::now();
                    let role = service.role_of(org, user).await.unwrap();
                    assert!(role.is_some());
                    samples.push(at.elapsed());
                    n += 1;
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap());
    }
    summarize(samples, started.elapsed(), 0)
}

/// The configurations the hot path is measured in.
const CONFIGS: [Config; 4] = [
    Config {
        name: "database authorizer, Redis off",
        authorizer: "database",
        redis: false,
        relay: true,
        keycloak: true,
        members: "linked",
    },
    Config {
        name: "database authorizer, Redis on",
        authorizer: "database",
        redis: true,
        relay: true,
        keycloak: true,
        members: "linked",
    },
    Config {
        name: "SpiceDB authorizer, Redis on",
        authorizer: "spicedb",
        redis: true,
        relay: true,
        keycloak: true,
        members: "linked",
    },
    // Every read asks SpiceDB: the cost the decision cache saves.
    Config {
        name: "SpiceDB authorizer, Redis off",
        authorizer: "spicedb",
        redis: false,
        relay: true,
        keycloak: true,
        members: "linked",
    },
];

/// The row of a read with an API key: the key and its organization in one
/// Redis round trip (or one statement without Redis).
const KEYED_READ: &str = "GET /organizations/{id} with an API key";

/// The request files wrk takes in turn: (path, token) lines, and a JSON
/// body for a POST.
struct RequestFiles {
    organization: PathBuf,
    /// `GET /organizations/{id}` with each organization's API key.
    organization_key: PathBuf,
    me: PathBuf,
    mine: PathBuf,
    /// `POST /authz/check` with one check of the caller.
    check: PathBuf,
    /// `POST /authz/check` with ten checks of the caller, in each of their
    /// organizations.
    checks: PathBuf,
}

/// A check API body: `permissions` in each organization, for the caller.
fn check_body(organizations: &[OrganizationId], permissions: &[&str]) -> String {
    let checks: Vec<Value> = organizations
        .iter()
        .flat_map(|o| {
            permissions
                .iter()
                .map(move |p| json!({"organizationId": o, "permission": p}))
        })
        .collect();
    json!({ "checks": checks }).to_string()
}

impl RequestFiles {
    fn write(seed: &Seed) -> Self {
        let per_user = |name: &str, path: &str| {
            request_file(
                name,
                seed.users
                    .iter()
                    .map(|(_, token)| format!("{path}\t{token}")),
            )
        };
        RequestFiles {
            organization: request_file(
                "organization",
                seed.pairs
                    .iter()
                    .map(|(u, o)| format!("/api/v1/organizations/{o}\t{}", seed.users[*u].1)),
            ),
            organization_key: request_file(
                "organization-key",
                seed.keys
                    .iter()
                    .map(|(o, secret)| format!("/api/v1/organizations/{o}\t{secret}")),
            ),
            me: per_user("me", "/api/v1/users/me"),
            mine: per_user("mine", "/api/v1/organizations/mine"),
            check: request_file(
                "check",
                seed.pairs.iter().map(|(u, o)| {
                    let body = check_body(&[*o], &["organization:read"]);
                    format!("/api/v1/authz/check\t{}\t{body}", seed.users[*u].1)
                }),
            ),
            checks: request_file(
                "checks",
                seed.users.iter().enumerate().map(|(index, (_, token))| {
                    let mut orgs: Vec<OrganizationId> = seed
                        .pairs
                        .iter()
                        .filter(|(u, _)| *u == index)
                        .map(|(_, o)| *o)
                        .collect();
                    orgs.truncate(5);
                    // Ten checks: two permissions in each of five
                    // organizations (repeated when the user has fewer).
                    let five: Vec<OrganizationId> = orgs.iter().copied().cycle().take(5).collect();
                    let body = check_body(&five, &["organization:read", "members:manage"]);
                    format!("/api/v1/authz/check\t{token}\t{body}")
                }),
            ),
        }
    }
}

/// One table row: configuration, endpoint, load, ratio to its ceiling.
type Row = (String, String, Load, String);

/// What the configurations measured.
#[derive(Default)]
struct Measured {
    results: Vec<Value>,
    rows: Vec<Row>,
    memory: Vec<Value>,
    /// `GET /organizations/{id}` per configuration.
    by_config: BTreeMap<&'static str, f64>,
}

/// Waits until the SpiceDB sink has relayed the seeded memberships.
async fn wait_for_spicedb_sync(store: &Arc<PgStore>) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while store.backlog(OutboxSink::Authorizer).await.unwrap().pending > 0 {
        assert!(Instant::now() < deadline, "SpiceDB sync did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SpiceDB's own checks, once (cold, then steady), and a fresh revision so
/// that the service's cold pass meets a SpiceDB with nothing cached.
async fn spicedb_anchors(seed: &Seed, sizes: &Sizes, anchors: &mut BTreeMap<&'static str, Load>) {
    let (endpoint, token) = (env("SPICEDB_ENDPOINT"), env("SPICEDB_TOKEN"));
    if !anchors.contains_key("spicedb_check") {
        eprintln!("bench: SpiceDB CheckPermission");
        let pairs: Vec<(UserId, OrganizationId)> = seed
            .pairs
            .iter()
            .map(|(u, o)| (seed.users[*u].0, *o))
            .collect();
        let cold = spicedb::checks(&endpoint, &token, &pairs, spicedb::Pass::Cold).await;
        anchors.insert("spicedb_check_cold", cold);
        let consistent = spicedb::checks(
            &endpoint,
            &token,
            &pairs,
            spicedb::Pass::Steady(sizes.seconds),
        )
        .await;
        anchors.insert("spicedb_check_consistent", consistent);
        // What the service sends once the organizations are unchanged for
        // ORGMAN_SPICEDB_RECENT_READS_AFTER_MS: the ceiling's anchor.
        let recent = spicedb::checks(
            &endpoint,
            &token,
            &pairs,
            spicedb::Pass::Recent(sizes.seconds),
        )
        .await;
        anchors.insert("spicedb_check", recent);
    }
    spicedb::new_revision(&endpoint, &token).await;
}

/// Starts the service in `config` and measures its reads; the HTTP floor
/// too, on the first configuration.
async fn measure_config(
    config: &Config,
    (store, seed, binary, sizes): (&Arc<PgStore>, &Seed, &Path, &Sizes),
    files: &RequestFiles,
    anchors: &mut BTreeMap<&'static str, Load>,
    measured: &mut Measured,
) {
    let server = Server::start(binary, config);
    MEASURED_PID.store(server.child.id(), std::sync::atomic::Ordering::Relaxed);
    if config.authorizer == "spicedb" {
        wait_for_spicedb_sync(store).await;
        spicedb_anchors(seed, sizes, anchors).await;
    }
    let idle = rss_kib(server.child.id());
    if !anchors.contains_key("http_floor") {
        eprintln!("bench: HTTP floor");
        let floor = wrk(
            &server.base,
            "/actuator/health/liveness",
            None,
            sizes.seconds,
        );
        anchors.insert("http_floor", floor);
    }
    eprintln!("bench: {}", config.name);
    // One pass over the whole key set first, with empty caches (the cold
    // figure), then the steady state.
    let cold = one_pass(&server.base, seed).await;
    // BENCH_PERF profiles the read in each configuration
    // (`.read-<authorizer>-redis-<on|off>`).
    let redis = if config.redis { "on" } else { "off" };
    let perf = profile_as(&format!("read-{}-redis-{redis}", config.authorizer));
    let org = wrk(&server.base, "", Some(&files.organization), sizes.seconds);
    stop_profile(perf);
    let me = wrk(&server.base, "", Some(&files.me), sizes.seconds);
    let mine = wrk(&server.base, "", Some(&files.mine), sizes.seconds);
    let path = "/api/v1/organizations/mine";
    let mine_own = timed_pass(&server.base, path, seed, sizes.seconds).await;
    let check_rows = database_only_rows(&server.base, config, files, sizes.seconds);
    let loaded = rss_kib(server.child.id());
    measured.by_config.insert(config.name, org.rps);
    let rows = [
        (
            "GET /organizations/{id}, one pass over every pair (cold)",
            cold,
        ),
        ("GET /organizations/{id}", org),
        ("GET /users/me", me),
        ("GET /organizations/mine", mine),
        (
            "GET /organizations/mine, measured by the bench's own client",
            mine_own,
        ),
    ];
    record_rows(measured, config.name, rows.into_iter().chain(check_rows));
    measured.memory.push(json!({
        "config": config.name,
        "start_to_ready_ms": server.ready_ms,
        "idle_rss_mib": idle as f64 / 1024.0,
        "loaded_rss_mib": loaded as f64 / 1024.0,
    }));
    MEASURED_PID.store(0, std::sync::atomic::Ordering::Relaxed);
}

/// What only the database authorizer's configurations measure: the read
/// with an API key, and the check API, which reads no authorizer (measured
/// where the cache is the question).
fn database_only_rows(
    base: &str,
    config: &Config,
    files: &RequestFiles,
    seconds: u64,
) -> Vec<(&'static str, Load)> {
    if config.authorizer != "database" {
        return Vec::new();
    }
    let keyed = wrk(base, "", Some(&files.organization_key), seconds);
    let one = wrk(base, "", Some(&files.check), seconds);
    let perf = config.redis.then(|| profile_as("checks")).flatten();
    let ten = wrk(base, "", Some(&files.checks), seconds);
    stop_profile(perf);
    vec![
        (KEYED_READ, keyed),
        ("POST /authz/check, 1 check", one),
        ("POST /authz/check, a batch of 10 checks", ten),
    ]
}

/// The two ratios of the main measurement (`None` when it measured only
/// some configurations).
fn first_ratio_run(
    anchors: &BTreeMap<&'static str, Load>,
    ceilings: &Ceilings,
    measured: &Measured,
    steal: f64,
) -> Option<ratios::RatioRun> {
    let row = |config: &str| {
        measured
            .rows
            .iter()
            .find(|r| r.0 == config && r.1 == "GET /organizations/{id}")
            .map(|r| &r.2)
    };
    let (off, on) = (row(CONFIGS[0].name)?, row(CONFIGS[1].name)?);
    let cpu = |load: &Load| load.cost.map_or(f64::NAN, |c| c.cpu_us);
    let anchor = |name: &str| anchors.get(name).map_or(f64::NAN, |l| l.rps);
    Some(ratios::RatioRun {
        db: off.rps / ceilings.db,
        redis: on.rps / ceilings.redis,
        cpu_us: (cpu(off), cpu(on)),
        steal,
        anchors: (
            anchor("http_floor"),
            anchor("pgbench_S"),
            anchor("redis_GET"),
        ),
    })
}

/// The main measurement's ratios and `BENCH_RUNS` (default 3) less one
/// further runs of them.
async fn ratio_runs(
    first: Option<ratios::RatioRun>,
    (binary, seed, files, sizes): (&Path, &Seed, &RequestFiles, &Sizes),
) -> Vec<ratios::RatioRun> {
    let Some(first) = first else {
        return Vec::new();
    };
    let mut runs = vec![first];
    for n in 1..env_number("BENCH_RUNS", 3) {
        eprintln!("bench: the ratios, run {}", n + 1);
        runs.push(ratios::ratio_run(binary, seed, files, sizes).await);
    }
    runs
}

/// Keeps one configuration's measured rows.
fn record_rows(
    measured: &mut Measured,
    config: &str,
    rows: impl Iterator<Item = (&'static str, Load)>,
) {
    for (endpoint, load) in rows {
        measured
            .results
            .push(json!({"config": config, "endpoint": endpoint, "load": load.json()}));
        let row = (config.to_owned(), endpoint.to_owned(), load, String::new());
        measured.rows.push(row);
    }
}

/// The membership check through the domain, without a cache and with
/// Redis.
async fn membership_check_loads(store: &Arc<PgStore>, seed: &Seed, seconds: u64) -> (Load, Load) {
    eprintln!("bench: membership check through the domain");
    let redis_cache: Arc<dyn MembershipCache> = Arc::new(
        RedisCache::connect(
            RedisSettings::from_env(|k| {
                std::env::var(k).ok().or(match k {
                    "ORGMAN_CACHE_TTL_SECONDS" => Some("300".into()),
                    _ => None,
                })
            })
            .unwrap(),
        )
        .unwrap(),
    );
    let check_db = membership_checks(store, Arc::new(NoCache), seed, seconds).await;
    let check_redis = membership_checks(store, redis_cache, seed, seconds).await;
    (check_db, check_redis)
}

/// The combined ceilings of one run.
struct Ceilings {
    db: f64,
    redis: f64,
    spicedb: f64,
}

impl Ceilings {
    fn of(anchors: &BTreeMap<&'static str, Load>) -> Self {
        let floor = anchors["http_floor"].rps;
        // An anchor a partial run did not measure leaves its ceiling NaN.
        let with = |anchor: &str| {
            let rps = anchors.get(anchor).map_or(f64::NAN, |load| load.rps);
            1.0 / (1.0 / floor + 1.0 / rps)
        };
        Ceilings {
            db: with("pgbench_S"),
            redis: with("redis_GET"),
            spicedb: with("spicedb_check"),
        }
    }

    /// The ratio a `GET /organizations/{id}` row is judged by.
    fn ratio(&self, row: &Row, db_cached: f64) -> String {
        let (config, endpoint, load, _) = row;
        let rps = load.rps;
        if endpoint == KEYED_READ {
            return match config.as_str() {
                "database authorizer, Redis on" => {
                    format!("{:.2}× ceiling_redis", rps / self.redis)
                }
                _ => format!("{:.2}× ceiling_db", rps / self.db),
            };
        }
        if endpoint.starts_with("POST /authz/check") && config == "database authorizer, Redis on" {
            return format!("{:.2}× ceiling_redis", rps / self.redis);
        }
        if endpoint != "GET /organizations/{id}" {
            return String::new();
        }
        match config.as_str() {
            "database authorizer, Redis off" => format!("{:.2}× ceiling_db", rps / self.db),
            "database authorizer, Redis on" => format!("{:.2}× ceiling_redis", rps / self.redis),
            "SpiceDB authorizer, Redis off" => {
                format!("{:.2}× ceiling_spicedb", rps / self.spicedb)
            }
            _ => format!("{:.2}× database authorizer cached", rps / db_cached),
        }
    }
}

fn p99_text(load: &Load) -> String {
    if load.p99_ms > 0.0 {
        format!("{:.2} ms", load.p99_ms)
    } else {
        "–".into()
    }
}

/// The hot path's tables, to stdout.
fn print_http(
    anchors: &BTreeMap<&'static str, Load>,
    ceilings: &Ceilings,
    measured: &Measured,
    checks: &(Load, Load),
) {
    println!("\n| measurement | requests/s | p50 | p99 | ratio | service cost/request |");
    println!("|---|---|---|---|---|---|");
    for (name, load) in anchors {
        let (rps, p50, p99) = (load.rps, load.p50_ms, p99_text(load));
        let instructions = load.instructions_text();
        println!("| anchor: {name} | {rps:.0} | {p50:.2} ms | {p99} | | {instructions} |");
    }
    let Ceilings { db, redis, spicedb } = ceilings;
    println!("| ceiling_db = 1/(1/floor + 1/pgbench_S) | {db:.0} | | | | |");
    println!("| ceiling_redis = 1/(1/floor + 1/redis_GET) | {redis:.0} | | | | |");
    println!("| ceiling_spicedb = 1/(1/floor + 1/spicedb_check) | {spicedb:.0} | | | | |");
    for (config, endpoint, load, ratio) in &measured.rows {
        let errors = if load.errors > 0 {
            format!(" **{} errors**", load.errors)
        } else {
            String::new()
        };
        let (rps, p50, p99) = (load.rps, load.p50_ms, load.p99_ms);
        let instructions = load.instructions_text();
        println!(
            "| {endpoint}, {config} | {rps:.0} | {p50:.2} ms | {p99:.2} ms | {ratio} | {instructions} |{errors}"
        );
    }
    let pg = anchors["pgbench_S"].rps;
    for (label, load) in [
        ("membership check (domain), no cache", &checks.0),
        ("membership check (domain), Redis", &checks.1),
    ] {
        let (rps, p50, p99) = (load.rps, load.p50_ms, load.p99_ms);
        let ratio = rps / pg;
        println!("| {label} | {rps:.0} | {p50:.2} ms | {p99:.2} ms | {ratio:.2}× pgbench_S | |");
    }
    println!("\n| configuration | start to ready | idle RSS | RSS after the load |");
    println!("|---|---|---|---|");
    for m in &measured.memory {
        println!(
            "| {} | {:.0} ms | {:.1} MiB | {:.1} MiB |",
            m["config"].as_str().unwrap(),
            m["start_to_ready_ms"].as_f64().unwrap(),
            m["idle_rss_mib"].as_f64().unwrap(),
            m["loaded_rss_mib"].as_f64().unwrap()
        );
    }
}

/// The hot path beside its anchors; prints its tables and returns them.
async fn http_bench(store: &Arc<PgStore>, seed: &Seed, binary: &Path, sizes: &Sizes) -> Value {
    let files = RequestFiles::write(seed);
    // Anchors, on the same stack.
    let mut anchors = BTreeMap::new();
    eprintln!("bench: anchors");
    let pgbench_s = pgbench(&env("DATABASE_ADMIN_URL"), sizes.seconds);
    anchors.insert("pgbench_S", pgbench_s);
    let redis_get = redis_get(&env("SPRING_REDIS_HOST"), &env("SPRING_REDIS_PORT"));
    anchors.insert("redis_GET", redis_get);
    let mut measured = Measured::default();
    // BENCH_CONFIGS=<name>;...: only these configurations (for a profile
    // or a quick look; the ratios need "database authorizer, Redis on").
    let only = std::env::var("BENCH_CONFIGS").ok();
    let selected = |config: &&Config| {
        only.as_deref()
            .is_none_or(|names| names.split(';').any(|name| name.trim() == config.name))
    };
    let before = ratios::cpu_ticks();
    for config in CONFIGS.iter().filter(selected) {
        let context = (store, seed, binary, sizes);
        measure_config(config, context, &files, &mut anchors, &mut measured).await;
    }
    let steal = ratios::steal_between(before, ratios::cpu_ticks());
    let checks = membership_check_loads(store, seed, sizes.seconds).await;
    let ceilings = Ceilings::of(&anchors);
    let db_cached = measured
        .by_config
        .get("database authorizer, Redis on")
        .copied()
        .unwrap_or(f64::NAN);
    let ratios: Vec<String> = measured
        .rows
        .iter()
        .map(|row| ceilings.ratio(row, db_cached))
        .collect();
    for (row, ratio) in measured.rows.iter_mut().zip(ratios) {
        row.3 = ratio;
    }
    print_http(&anchors, &ceilings, &measured, &checks);
    let first = first_ratio_run(&anchors, &ceilings, &measured, steal);
    let runs = ratio_runs(first, (binary, seed, &files, sizes)).await;
    json!({
        "ratio_runs": ratios::report(&runs),
        "anchors": anchors.iter().map(|(k, v)| (k.to_string(), v.json())).collect::<serde_json::Map<_, _>>(),
        "ceilings": {"db": ceilings.db.round(), "redis": ceilings.redis.round(), "spicedb": ceilings.spicedb.round()},
        "results": measured.results,
        "membership_check": {"no_cache": checks.0.json(), "redis": checks.1.json()},
        "memory": measured.memory,
        "ratios": measured.rows.iter().filter(|r| !r.3.is_empty()).map(|r| json!({"config": r.0, "ratio": r.3})).collect::<Vec<_>>(),
    })
}

/// The domain's service over the bench's store, as the seeding uses it.
fn service_over(store: &Arc<PgStore>) -> OrganizationService {
    OrganizationService::new(
        ServicePorts::over_storage(store.clone()),
        ServiceSettings::default(),
    )
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let names = std::env::var("BENCH_NAMES").unwrap_or_else(|_| "http outbox".into());
    // The SCIM sync needs one user with a token; the import's copy of
    // members to Keycloak needs users of Keycloak's besides (200 of them);
    // the others need the key set.
    let seeded = if names
        .split_whitespace()
        .any(|n| n == "http" || n == "outbox" || n == "people")
    {
        1000
    } else if names.split_whitespace().any(|n| n == "import") {
        200
    } else {
        1
    };
    let sizes = Sizes {
        users: env_number("BENCH_USERS", seeded),
        organizations: env_number("BENCH_ORGS", 100),
        per_user: env_number("BENCH_ORGS_PER_USER", 5),
        seconds: env_number("BENCH_SECONDS", 8) as u64,
    };
    let binary = PathBuf::from(env("BENCH_SERVER_BIN"));
    let database_url = env("DATABASE_URL");
    migrate::run_pending(&database_url).await.unwrap();
    // Events written as the service writes them by default: pending for
    // the Keycloak mirror where it takes them.
    let store = Arc::new(
        PgStore::connect(&PgSettings::from_url(&database_url).unwrap())
            .unwrap()
            .with_organization_mirror_sink(orgman_domain::OrganizationMirror::EVENT_TYPES)
            .with_linked_member_mirroring(orgman_domain::OrganizationMirror::MEMBER_EVENT_TYPES),
    );
    let seed = seed(&store, &sizes).await;

    let mut report = json!({
        "date": String::from_utf8_lossy(&Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().map(|o| o.stdout).unwrap_or_default()).trim(),
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        },
        "sizes": {"users": sizes.users, "organizations": sizes.organizations, "memberships": seed.pairs.len(), "seconds": sizes.seconds},
    });
    if names.split_whitespace().any(|n| n == "http") {
        report["http"] = http_bench(&store, &seed, &binary, &sizes).await;
    }
    if names.split_whitespace().any(|n| n == "outbox") {
        let backlog = env_number("BENCH_OUTBOX_EVENTS", 100_000) as i64;
        report["outbox"] = writes::outbox_bench(&binary, &seed, backlog, sizes.seconds).await;
    }
    if names.split_whitespace().any(|n| n == "import") {
        let service = service_over(&store);
        report["import"] = import_bench(&binary, &seed, &service).await;
        report["import"]["members_to_keycloak"] =
            members_to_keycloak(&binary, &seed, &service).await;
        let import_rate = report["import"]["import_rows_per_second"]
            .as_f64()
            .unwrap_or(f64::NAN);
        report["import"]["scim"] = scim::scim_bench(&binary, &seed, &service, import_rate).await;
    } else if names.split_whitespace().any(|n| n == "scim") {
        let service = service_over(&store);
        report["scim"] = scim::scim_bench(&binary, &seed, &service, f64::NAN).await;
    }
    if names.split_whitespace().any(|n| n == "people") {
        let service = service_over(&store);
        report["people"] = people::people_bench(&binary, &seed, &service, sizes.seconds).await;
    }
    let out = PathBuf::from(env("BENCH_OUTPUT"));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    eprintln!("bench: written to {}", out.display());
}
