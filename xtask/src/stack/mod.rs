//! `cargo xtask stack up | down | status | env`: the local stack of real
//! services (PostgreSQL, Redis, Apache Kafka, SpiceDB and Keycloak) on
//! 127.0.0.1 and private ports, with data and logs under
//! `target/stack/<profile>/`.
//!
//! The stack remembers what it started in `state.json` (PIDs, ports,
//! generated secrets); `down` stops exactly those processes.

mod component;
mod process;
mod tls;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub(crate) use component::Component;

use crate::install;
use crate::project;

/// The realm, clients and audience of `deploy/local/keycloak/realm-dev.json`.
const REALM: &str = "dev";
const SERVICE_ACCOUNT_CLIENT_ID: &str = "flowx-organization-manager-sa";
const SERVICE_ACCOUNT_SECRET: &str = "orgman-sa-dev-secret";
const TEST_CLIENT_ID: &str = "orgman-test";
const AUDIENCE: &str = "organization-manager";
const DATABASE: &str = "organization_manager";

/// The Kafka user of the stack's SASL listener.
pub(crate) const KAFKA_USER: &str = "orgman";

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    postgres_password: String,
    spicedb_token: String,
    /// A development key for SSO client secrets (hex of 32 bytes).
    #[serde(default)]
    sso_key: String,
    /// Kafka's cluster id (22 characters of URL-safe base64), fixed when its
    /// storage is formatted.
    #[serde(default)]
    kafka_cluster_id: String,
    /// Password of Keycloak's bootstrap administrator (master realm).
    #[serde(default)]
    keycloak_admin_password: String,
    /// Password of the Kafka user `orgman` on the SASL listener (PLAIN and
    /// SCRAM).
    #[serde(default)]
    kafka_password: String,
    /// Ports stay the same across restarts of one stack.
    ports: BTreeMap<String, u16>,
    /// PIDs of the running processes we started.
    pids: BTreeMap<String, u32>,
}

/// One stack (a profile: `dev` keeps its data, `test` starts fresh).
#[derive(Debug)]
pub(crate) struct Stack {
    profile: String,
    dir: PathBuf,
    state: State,
    postgres_bin: PathBuf,
    root_user: bool,
}

impl Stack {
    pub(crate) fn open(profile: &str) -> Result<Self> {
        let dir = project::root()?.join("target/stack").join(profile);
        fs::create_dir_all(dir.join("logs"))?;
        let mut state: State = match fs::read_to_string(dir.join("state.json")) {
            Ok(text) => serde_json::from_str(&text)
                .context("state.json is corrupt; run `cargo xtask stack down --wipe`")?,
            Err(_) => State {
                postgres_password: random_hex(16)?,
                spicedb_token: random_hex(16)?,
                sso_key: random_hex(32)?,
                ..State::default()
            },
        };
        // An id of before the fix above that starts with `-` never
        // formatted any storage: a new one.
        if state.kafka_cluster_id.is_empty() || state.kafka_cluster_id.starts_with('-') {
            state.kafka_cluster_id = kafka_cluster_id()?;
        }
        if state.keycloak_admin_password.is_empty() {
            state.keycloak_admin_password = random_hex(16)?;
        }
        if state.kafka_password.is_empty() {
            state.kafka_password = random_hex(16)?;
        }
        Ok(Self {
            profile: profile.to_owned(),
            dir,
            state,
            postgres_bin: install::installed_postgres_bin().unwrap_or_default(),
            root_user: project::is_root(),
        })
    }

    fn id(&self) -> String {
        // Distinguishes checkouts sharing /var/tmp.
        let path = self.dir.to_string_lossy();
        let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{}-{hash:016x}", self.profile)
    }

    fn save(&self) -> Result<()> {
        let path = self.dir.join("state.json");
        fs::write(&path, serde_json::to_string_pretty(&self.state)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    fn data_dir(&self, component: Component) -> PathBuf {
        self.dir.join("data").join(component.name())
    }

    fn log_file(&self, component: Component) -> PathBuf {
        self.dir
            .join("logs")
            .join(format!("{}.log", component.name()))
    }

    /// The contract tester, installed on first use (see
    /// `install::schemathesis`).
    pub(crate) fn schemathesis(&self) -> Result<PathBuf> {
        install::schemathesis(&self.tools_dir())
    }

    /// scim2-tester's folder of wheels, installed once
    /// (`install::scim2_tester`).
    pub(crate) fn scim2_tester(&self) -> Result<PathBuf> {
        install::scim2_tester(&self.tools_dir())
    }

    fn tools_dir(&self) -> PathBuf {
        self.dir
            .parent()
            .map_or_else(|| self.dir.join("tools"), |p| p.join("tools"))
    }

    fn port(&mut self, component: Component) -> Result<u16> {
        self.named_port(component.name())
    }

    /// A port kept in the state under `name`, chosen on first use.
    fn named_port(&mut self, name: &str) -> Result<u16> {
        if let Some(port) = self.state.ports.get(name) {
            return Ok(*port);
        }
        let port = process::free_port()?;
        self.state.ports.insert(name.to_owned(), port);
        Ok(port)
    }

    /// A component's second port (a controller, a management interface),
    /// chosen by `up` before the component starts.
    fn extra_port(&self, name: &str) -> Result<u16> {
        self.state
            .ports
            .get(name)
            .copied()
            .with_context(|| format!("no port chosen for {name}"))
    }

    fn running(&self, component: Component) -> Option<u32> {
        self.state
            .pids
            .get(component.name())
            .copied()
            .filter(|pid| process::is_ours(*pid, component.marker()))
    }

    /// Starts the given components (all when empty) and waits until each is
    /// ready. Components already running are left alone.
    pub(crate) fn up(&mut self, only: &[Component]) -> Result<()> {
        let components = if only.is_empty() {
            &Component::ALL[..]
        } else {
            only
        };
        // Everything is installed before anything runs.
        let programs: Vec<install::Program> = components.iter().map(|c| c.program()).collect();
        let installed = install::programs(&self.tools_dir(), &programs)?;
        if components.contains(&Component::Postgres) {
            self.postgres_bin = installed.postgres_bin()?.to_path_buf();
        }
        for &component in components {
            let port = self.port(component)?;
            for name in component.extra_ports() {
                self.named_port(name)?;
            }
            if let Some(pid) = self.running(component) {
                if component.ready(self, port) {
                    eprintln!(
                        "xtask: {} already running (pid {pid}, port {port})",
                        component.name()
                    );
                    continue;
                }
            }
            if self.running(component).is_none() && process::port_open(port) {
                bail!(
                    "{} cannot start: port {port} is taken by another process; \
                     run `cargo xtask stack down --wipe --profile {}` to pick new ports",
                    component.name(),
                    self.profile
                );
            }
            let started = Instant::now();
            let pid = component.start(self, &installed, port).with_context(|| {
                format!(
                    "{} ({}) failed to start",
                    component.name(),
                    component.describe()
                )
            })?;
            self.state.pids.insert(component.name().to_owned(), pid);
            self.save()?;
            self.wait_ready(component, pid, port)?;
            component.after_ready(self, port)?;
            eprintln!(
                "xtask: {:<11} ready on 127.0.0.1:{port} (pid {pid}, {:.1}s)",
                component.name(),
                started.elapsed().as_secs_f32()
            );
        }
        Ok(())
    }

    fn wait_ready(&self, component: Component, pid: u32, port: u16) -> Result<()> {
        let timeout = component.ready_timeout();
        let deadline = Instant::now() + timeout;
        let log = self.log_file(component);
        loop {
            if component.ready(self, port) {
                return Ok(());
            }
            if !process::alive(pid) {
                bail!(
                    "{} ({}) exited during start-up; its log is {}:\n{}",
                    component.name(),
                    component.describe(),
                    log.display(),
                    process::tail(&log, 20)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} ({}) not ready on port {port} after {}s; its log is {}:\n{}",
                    component.name(),
                    component.describe(),
                    timeout.as_secs(),
                    log.display(),
                    process::tail(&log, 20)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the given components (all when empty), by the PIDs we recorded.
    pub(crate) fn down(&mut self, only: &[Component]) -> Result<()> {
        let components = if only.is_empty() {
            &Component::ALL[..]
        } else {
            only
        };
        let mut failures = Vec::new();
        // Reverse order: dependents before what they depend on.
        for &component in components.iter().rev() {
            if let Some(pid) = self.state.pids.get(component.name()).copied() {
                match process::stop(
                    pid,
                    component.marker(),
                    component.stop_signal(),
                    Duration::from_secs(15),
                ) {
                    Ok(()) => {
                        eprintln!("xtask: {} stopped (pid {pid})", component.name());
                        self.state.pids.remove(component.name());
                    }
                    Err(error) => failures.push(format!("{}: {error:#}", component.name())),
                }
            }
        }
        self.save()?;
        if !failures.is_empty() {
            bail!("some components did not stop: {}", failures.join("; "));
        }
        Ok(())
    }

    /// Removes data, logs and state (after `down`).
    pub(crate) fn wipe(&self) -> Result<()> {
        if !self.state.pids.is_empty() {
            bail!("stop the stack before wiping it");
        }
        let outside = Path::new("/var/tmp/orgman-stack").join(self.id());
        if outside.exists() {
            fs::remove_dir_all(&outside)?;
        }
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir)
                .with_context(|| format!("cannot remove {}", self.dir.display()))?;
        }
        Ok(())
    }

    pub(crate) fn status(&mut self) -> Result<String> {
        let mut out = format!("stack {:?} in {}\n", self.profile, self.dir.display());
        for component in Component::ALL {
            let port = self.state.ports.get(component.name()).copied();
            let line = match (self.running(component), port) {
                (Some(pid), Some(port)) => {
                    let health = if component.ready(self, port) {
                        "up"
                    } else {
                        "not answering"
                    };
                    format!("{health:<14} 127.0.0.1:{port:<6} pid {pid}")
                }
                _ => "stopped".to_owned(),
            };
            writeln!(
                out,
                "  {:<9} {:<8} {line}   log: {}",
                component.name(),
                component.version(self),
                self.log_file(component).display()
            )?;
        }
        Ok(out)
    }

    /// A development SSO encryption key in `ORGMAN_SSO_ENCRYPTION_KEYS` form
    /// (`dev:<base64 of 32 bytes>`), created with the stack.
    pub(crate) fn sso_keys(&mut self) -> Result<String> {
        if self.state.sso_key.len() != 64 {
            self.state.sso_key = random_hex(32)?;
            self.save()?;
        }
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&self.state.sso_key[2 * i..2 * i + 2], 16))
            .collect::<Result<_, _>>()?;
        Ok(format!("dev:{}", base64(&bytes)))
    }

    /// The connection settings, as `(name, value)` pairs: this project's
    /// names and the reference service's.
    pub(crate) fn env(&mut self) -> Result<Vec<(String, String)>> {
        let pg = self.port(Component::Postgres)?;
        let ports = Ports {
            redis: self.port(Component::Redis)?,
            redis_tls: self.named_port("redis-tls")?,
            spicedb: self.port(Component::SpiceDb)?,
            spicedb_tls: self.port(Component::SpiceDbTls)?,
            kafka: self.port(Component::Kafka)?,
            kafka_ssl: self.named_port("kafka-ssl")?,
            kafka_sasl: self.named_port("kafka-sasl-ssl")?,
            oidc: self.port(Component::Keycloak)?,
        };
        // Ports chosen here are the ones a later `up` must use.
        self.save()?;
        let mut vars = self.tool_vars();
        vars.extend(self.database_vars(pg)?);
        vars.extend(self.service_vars(&ports));
        Ok(vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Where the stack's own programs are, for tests that start private
    /// copies of them.
    fn tool_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ORGMAN_STACK_DIR", self.dir.display().to_string()),
            ("ORGMAN_STACK_PROFILE", self.profile.clone()),
            // For tests that run a SpiceDB of their own (testkit's
            // PrivateSpiceDb): the same server as the stack's.
            (
                "ORGMAN_STACK_SPICEDB",
                install::spicedb_binary().display().to_string(),
            ),
            // For tests that run a broker of their own (testkit's
            // PrivateBroker): the same Java and jars as the stack's.
            (
                "ORGMAN_STACK_KAFKA_CLASSPATH",
                self.tools_dir()
                    .join("kafka/classpath.txt")
                    .display()
                    .to_string(),
            ),
            (
                "ORGMAN_STACK_KAFKA_JAVA",
                install::java_home(install::KAFKA_JAVA)
                    .map(|home| home.join("bin/java").display().to_string())
                    .unwrap_or_default(),
            ),
            ("ORGMAN_STACK_DNSMASQ", install::DNSMASQ.to_owned()),
        ]
    }

    /// The service's database, plain, over verified TLS and by client
    /// certificate, and the cluster's admin database.
    fn database_vars(&self, pg: u16) -> Result<Vec<(&'static str, String)>> {
        let password = self.state.postgres_password.clone();
        let tls_files = tls::TlsFiles::ensure(&self.dir)?;
        let ca = tls_files.ca.clone();
        Ok(vec![
            (
                "DATABASE_URL",
                format!("postgres://postgres:{password}@127.0.0.1:{pg}/{DATABASE}"),
            ),
            // The same cluster over verified TLS.
            ("STACK_CA_FILE", ca.display().to_string()),
            (
                "DATABASE_TLS_URL",
                format!(
                    "postgres://postgres:{password}@127.0.0.1:{pg}/{DATABASE}?sslmode=verify-full&sslrootcert={}",
                    ca.display()
                ),
            ),
            // The same database as a role that logs in by client
            // certificate (no password).
            (
                "DATABASE_CERT_URL",
                format!(
                    "postgres://{}@127.0.0.1:{pg}/{DATABASE}?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
                    tls::CERT_USER,
                    ca.display(),
                    tls_files.client_cert.display(),
                    tls_files.client_key.display()
                ),
            ),
            (
                "DATABASE_ADMIN_URL",
                format!("postgres://postgres:{password}@127.0.0.1:{pg}/postgres"),
            ),
            (
                "SPRING_DATASOURCE_URL",
                format!("jdbc:postgresql://127.0.0.1:{pg}/{DATABASE}"),
            ),
            ("SPRING_DATASOURCE_USERNAME", "postgres".into()),
            ("SPRING_DATASOURCE_PASSWORD", password),
        ])
    }

    /// Redis, Kafka, SpiceDB and Keycloak, under both names.
    fn service_vars(&self, ports: &Ports) -> Vec<(&'static str, String)> {
        let Ports {
            redis,
            redis_tls,
            spicedb,
            spicedb_tls,
            kafka,
            kafka_ssl,
            kafka_sasl,
            oidc,
        } = *ports;
        let token = self.state.spicedb_token.clone();
        let base = format!("http://127.0.0.1:{oidc}");
        vec![
            ("REDIS_URL", format!("redis://127.0.0.1:{redis}")),
            // The same Redis over TLS (verify against STACK_CA_FILE).
            ("REDIS_TLS_URL", format!("rediss://127.0.0.1:{redis_tls}")),
            ("SPRING_REDIS_HOST", "127.0.0.1".into()),
            ("SPRING_REDIS_PORT", redis.to_string()),
            ("KAFKA_BOOTSTRAP_SERVERS", format!("127.0.0.1:{kafka}")),
            (
                "SPRING_KAFKA_BOOTSTRAP_SERVERS",
                format!("127.0.0.1:{kafka}"),
            ),
            // The same broker over TLS (verify against STACK_CA_FILE), and
            // over TLS with SASL (PLAIN, SCRAM-SHA-256 and -512) for the
            // user `orgman`.
            (
                "KAFKA_TLS_BOOTSTRAP_SERVERS",
                format!("127.0.0.1:{kafka_ssl}"),
            ),
            (
                "KAFKA_SASL_BOOTSTRAP_SERVERS",
                format!("127.0.0.1:{kafka_sasl}"),
            ),
            ("KAFKA_SASL_USERNAME", KAFKA_USER.into()),
            ("KAFKA_SASL_PASSWORD", self.state.kafka_password.clone()),
            ("SPICEDB_ENDPOINT", format!("http://127.0.0.1:{spicedb}")),
            // The same SpiceDB over TLS (verify against STACK_CA_FILE).
            (
                "SPICEDB_TLS_ENDPOINT",
                format!("https://127.0.0.1:{spicedb_tls}"),
            ),
            ("SPICEDB_TOKEN", token.clone()),
            ("FLOWX_LIB_CASCLIENT_SPICEDB_HOST", "127.0.0.1".into()),
            ("FLOWX_LIB_CASCLIENT_SPICEDB_PORT", spicedb.to_string()),
            ("FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN", token),
            ("OIDC_ISSUER_URL", format!("{base}/realms/{REALM}")),
            ("OIDC_AUDIENCE", AUDIENCE.into()),
            ("OIDC_CLIENT_ID", SERVICE_ACCOUNT_CLIENT_ID.into()),
            ("OIDC_CLIENT_SECRET", SERVICE_ACCOUNT_SECRET.into()),
            ("OIDC_TEST_CLIENT_ID", TEST_CLIENT_ID.into()),
            // The master realm's `admin`: for tests that read what the
            // service account holds, which the account itself cannot.
            (
                "KEYCLOAK_ADMIN_PASSWORD",
                self.state.keycloak_admin_password.clone(),
            ),
            ("SECURITY_TYPE", "jwt-public-key".into()),
            ("SECURITY_OAUTH2_BASE_SERVER_URL", base),
            ("SECURITY_OAUTH2_REALM", REALM.into()),
            ("SECURITY_OAUTH2_SA_REALM", REALM.into()),
            (
                "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTID",
                SERVICE_ACCOUNT_CLIENT_ID.into(),
            ),
            (
                "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET",
                SERVICE_ACCOUNT_SECRET.into(),
            ),
        ]
    }
}

/// The ports of the services the environment names.
#[derive(Clone, Copy)]
struct Ports {
    redis: u16,
    redis_tls: u16,
    spicedb: u16,
    spicedb_tls: u16,
    kafka: u16,
    kafka_ssl: u16,
    kafka_sasl: u16,
    oidc: u16,
}

fn random_bytes(bytes: usize) -> Result<Vec<u8>> {
    let mut buffer = vec![0u8; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut buffer)?;
    Ok(buffer)
}

fn random_hex(bytes: usize) -> Result<String> {
    Ok(random_bytes(bytes)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A Kafka cluster id: a random UUID's 16 bytes in URL-safe base64 without
/// padding, as `kafka-storage random-uuid` prints, and like Kafka's never
/// starting with `-`, which its storage tool would read as an option.
fn kafka_cluster_id() -> Result<String> {
    loop {
        let id = base64(&random_bytes(16)?)
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_");
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}

/// Shell-quotes a value for `export NAME='value'`.
pub(crate) fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Standard base64 with padding (enough for a key; no dependency needed).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn kafka_cluster_ids_are_never_read_as_an_option() {
        // One id in 64 would start with `-` without the check.
        for _ in 0..2000 {
            let id = super::kafka_cluster_id().unwrap();
            assert!(!id.starts_with('-'), "{id}");
            assert_eq!(id.len(), 22, "{id}");
        }
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
