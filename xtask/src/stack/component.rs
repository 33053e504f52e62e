//! The stack's components: how each one starts, when it is ready, and how it
//! stops.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::process;
use super::{REALM, Stack};
use crate::install::{self, Installed};
use crate::project;

/// One process of the local stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Component {
    Postgres,
    Redis,
    Kafka,
    SpiceDb,
    /// A second SpiceDB server on the same datastore, serving TLS
    /// (`spicedb serve` has one gRPC listener).
    SpiceDbTls,
    Keycloak,
}

impl Component {
    pub(crate) const ALL: [Component; 6] = [
        Component::Postgres,
        Component::Redis,
        Component::Kafka,
        Component::SpiceDb,
        Component::SpiceDbTls,
        Component::Keycloak,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Component::Postgres => "postgres",
            Component::Redis => "redis",
            Component::Kafka => "kafka",
            Component::SpiceDb => "spicedb",
            Component::SpiceDbTls => "spicedb-tls",
            Component::Keycloak => "keycloak",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .with_context(|| {
                format!("unknown component {name:?} (postgres, redis, kafka, spicedb, spicedb-tls, keycloak)")
            })
    }

    /// What the process's command line contains; guards against signalling a
    /// reused PID.
    pub(crate) fn marker(self) -> &'static str {
        match self {
            Component::Postgres => "postgres",
            Component::Redis => "redis-server",
            Component::Kafka => "kafka.Kafka",
            Component::SpiceDb | Component::SpiceDbTls => "spicedb",
            // kc.sh stays the parent of its JVM and forwards signals to it.
            Component::Keycloak => "bin/kc.sh",
        }
    }

    /// PostgreSQL's "fast" shutdown is SIGINT (SIGTERM waits for clients).
    pub(crate) fn stop_signal(self) -> &'static str {
        match self {
            Component::Postgres => "INT",
            _ => "TERM",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Component::Postgres => "PostgreSQL (private cluster)",
            Component::Redis => "Redis",
            Component::Kafka => "Apache Kafka (KRaft, one node)",
            Component::SpiceDb => "SpiceDB (PostgreSQL datastore)",
            Component::SpiceDbTls => "SpiceDB over TLS (the same datastore)",
            Component::Keycloak => "Keycloak",
        }
    }

    /// Ports a component needs besides its main one, kept in the state.
    pub(crate) fn extra_ports(self) -> &'static [&'static str] {
        match self {
            Component::Kafka => &["kafka-controller", "kafka-ssl", "kafka-sasl-ssl"],
            Component::Keycloak => &["keycloak-management"],
            Component::Redis => &["redis-tls"],
            _ => &[],
        }
    }

    /// What version runs, for `stack status`.
    pub(crate) fn version(self, stack: &Stack) -> String {
        match self {
            Component::Postgres => stack
                .postgres_bin
                .parent()
                .and_then(|p| p.file_name())
                .map_or_else(String::new, |v| v.to_string_lossy().into_owned()),
            Component::Kafka => install::kafka_version().unwrap_or_default(),
            Component::Keycloak => install::KEYCLOAK_VERSION.to_owned(),
            Component::SpiceDb | Component::SpiceDbTls => install::SPICEDB_VERSION.to_owned(),
            Component::Redis => String::new(),
        }
    }

    /// How long a start may take: the JVMs' first start creates their
    /// storage (Keycloak's schema and realm import take a minute on 2 cores).
    pub(crate) fn ready_timeout(self) -> Duration {
        match self {
            Component::Keycloak => Duration::from_secs(300),
            Component::Kafka => Duration::from_secs(120),
            _ => Duration::from_secs(60),
        }
    }

    /// The program it runs, for the install phase.
    pub(crate) fn program(self) -> install::Program {
        match self {
            Component::Postgres => install::Program::Postgres,
            Component::Redis => install::Program::Redis,
            Component::SpiceDb | Component::SpiceDbTls => install::Program::SpiceDb,
            Component::Keycloak => install::Program::Keycloak,
            Component::Kafka => install::Program::Kafka,
        }
    }

    /// Prepares data and starts the process, with the programs `installed`
    /// (nothing is installed here).
    pub(crate) fn start(self, stack: &Stack, installed: &Installed, port: u16) -> Result<u32> {
        let log = stack.log_file(self);
        let data = stack.data_dir(self);
        fs::create_dir_all(&data)?;
        let mut command = match self {
            Component::Postgres => postgres_command(stack, port)?,
            Component::Redis => {
                // Plain on its port, TLS (the stack's certificate, clients
                // not asked for one) on a second.
                let tls = super::tls::TlsFiles::ensure(&stack.dir)?;
                let mut c = Command::new(installed.redis_server()?);
                c.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                    .args(["--tls-port", &stack.extra_port("redis-tls")?.to_string()])
                    .arg("--tls-cert-file")
                    .arg(&tls.cert)
                    .arg("--tls-key-file")
                    .arg(&tls.key)
                    .arg("--tls-ca-cert-file")
                    .arg(&tls.ca)
                    .args(["--tls-auth-clients", "no"])
                    .arg("--dir")
                    .arg(&data);
                c
            }
            Component::Kafka => kafka_command(stack, installed, port, &data)?,
            Component::SpiceDb => spicedb_command(stack, installed, port, false)?,
            Component::SpiceDbTls => spicedb_command(stack, installed, port, true)?,
            Component::Keycloak => keycloak_command(stack, installed, port)?,
        };
        process::spawn_detached(&mut command, &log)
    }

    /// Whether the component answers like itself on its port.
    pub(crate) fn ready(self, stack: &Stack, port: u16) -> bool {
        match self {
            Component::Postgres => Command::new(stack.postgres_bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
                .status()
                .is_ok_and(|s| s.success()),
            Component::Redis => {
                process::exchange(port, b"PING\r\n").is_some_and(|reply| reply.starts_with("+PONG"))
            }
            Component::Kafka => kafka_answers(port),
            Component::SpiceDb | Component::SpiceDbTls => process::port_open(port),
            // Ready when the realm's discovery document answers (the realm
            // is imported by then).
            Component::Keycloak => process::exchange(
                port,
                format!(
                    "GET /realms/{REALM}/.well-known/openid-configuration HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
                )
                .as_bytes(),
            )
            .is_some_and(|reply| reply.starts_with("HTTP/1.") && reply[8..].starts_with(" 200")),
        }
    }

    /// Work once the component is ready (PostgreSQL: the service database).
    pub(crate) fn after_ready(self, stack: &Stack, port: u16) -> Result<()> {
        if self != Component::Postgres {
            return Ok(());
        }
        let psql = |sql: &str| -> Result<String> {
            let output = Command::new(stack.postgres_bin.join("psql"))
                .env("PGPASSWORD", &stack.state.postgres_password)
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                ])
                .args(["-v", "ON_ERROR_STOP=1", "-tAc", sql])
                .output()
                .context("cannot run psql")?;
            if !output.status.success() {
                bail!("psql failed: {}", String::from_utf8_lossy(&output.stderr));
            }
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        };
        // The role that logs in with the stack's client certificate.
        let cert_user = super::tls::CERT_USER;
        psql(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{cert_user}') \
             THEN CREATE ROLE {cert_user} LOGIN; END IF; END $$"
        ))?;
        // The service's database, and Keycloak's own.
        for database in ["organization_manager", KEYCLOAK_DATABASE, SPICEDB_DATABASE] {
            let exists = psql(&format!(
                "SELECT 1 FROM pg_database WHERE datname = '{database}'"
            ))?;
            if exists != "1" {
                psql(&format!("CREATE DATABASE {database}"))?;
            }
        }
        Ok(())
    }
}

/// `program`, run as `postgres` when xtask runs as root (PostgreSQL
/// refuses to run as root).
fn as_postgres(stack: &Stack, program: PathBuf) -> Command {
    if !stack.root_user {
        return Command::new(program);
    }
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--",
    ])
    .arg(program);
    c
}

/// Hands `path` (recursively) to the `postgres` user, when running as root.
fn give_to_postgres(stack: &Stack, path: &Path) -> Result<()> {
    if stack.root_user {
        project::run(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path),
        )?;
    }
    Ok(())
}

/// `initdb` for a new cluster in `data`, with the stack's password.
fn initdb(stack: &Stack, area: &Path, data: &Path) -> Result<()> {
    let pwfile = area.join("pwfile");
    fs::write(&pwfile, format!("{}\n", stack.state.postgres_password))?;
    give_to_postgres(stack, &pwfile)?;
    let output = as_postgres(stack, stack.postgres_bin.join("initdb"))
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .output()
        .context("cannot run initdb")?;
    let _ = fs::remove_file(&pwfile);
    if !output.status.success() {
        bail!(
            "initdb failed for {}:\n{}",
            data.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The cluster's TLS files (the stack's certificate, copied where
/// PostgreSQL owns them; it wants its key readable by itself alone) and the
/// `pg_hba.conf` rule that lets the certificate role in by certificate.
/// Returns the certificate, key and CA paths.
fn postgres_tls(stack: &Stack, area: &Path, data: &Path) -> Result<[PathBuf; 3]> {
    let tls = super::tls::TlsFiles::ensure(&stack.dir)?;
    let own_tls = area.join("tls");
    fs::create_dir_all(&own_tls)?;
    let (cert, key) = (own_tls.join("server.pem"), own_tls.join("server.key"));
    let ca = own_tls.join("ca.pem");
    fs::copy(&tls.cert, &cert)?;
    fs::copy(&tls.key, &key)?;
    fs::copy(&tls.ca, &ca)?;
    // The certificate role logs in with its certificate alone (first line
    // wins); everyone else as initdb set up.
    let hba = data.join("pg_hba.conf");
    let rules = fs::read_to_string(&hba)?;
    let cert_rule = format!("hostssl all {} 127.0.0.1/32 cert\n", super::tls::CERT_USER);
    if !rules.contains(cert_rule.trim_end()) {
        fs::write(&hba, format!("{cert_rule}{rules}"))?;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))?;
    }
    give_to_postgres(stack, &own_tls)?;
    Ok([cert, key, ca])
}

/// `postgres` for a private cluster: initialised on first start with a
/// password, listening on 127.0.0.1 only (TLS on the same port, clients
/// choose with sslmode), its socket inside its data area.
fn postgres_command(stack: &Stack, port: u16) -> Result<Command> {
    let area = postgres_area(stack)?;
    let data = area.join("data");
    let sockets = area.join("sockets");
    fs::create_dir_all(&sockets)?;
    give_to_postgres(stack, &area)?;
    if !data.join("PG_VERSION").exists() {
        initdb(stack, &area, &data)?;
    }
    let [cert, key, ca] = postgres_tls(stack, &area, &data)?;
    let mut command = as_postgres(stack, stack.postgres_bin.join("postgres"));
    command
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-h", "127.0.0.1"])
        .args(["-c", "ssl=on"])
        .arg("-c")
        .arg(format!("ssl_cert_file={}", cert.display()))
        .arg("-c")
        .arg(format!("ssl_key_file={}", key.display()))
        .arg("-c")
        .arg(format!("ssl_ca_file={}", ca.display()))
        .arg("-k")
        .arg(&sockets)
        // A disposable development cluster: durability is not needed, speed is.
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .args(["-c", "max_connections=300"])
        // SpiceDB's datastore wants commit timestamps (its Watch API and
        // revision bookkeeping use them).
        .args(["-c", "track_commit_timestamp=on"]);
    Ok(command)
}

/// SpiceDB's database on the stack's PostgreSQL.
const SPICEDB_DATABASE: &str = "spicedb";

/// `spicedb serve` on the stack's PostgreSQL, after `datastore migrate
/// head` (the plain server migrates; the TLS one starts after it). Both
/// servers share the datastore, so a relationship written through one is
/// read through the other, and both keep everything across restarts.
fn spicedb_command(stack: &Stack, installed: &Installed, port: u16, tls: bool) -> Result<Command> {
    let spicedb = installed.spicedb()?;
    let datastore = format!(
        "postgres://postgres:{}@127.0.0.1:{}/{SPICEDB_DATABASE}?sslmode=disable",
        stack.state.postgres_password,
        stack
            .state
            .ports
            .get(Component::Postgres.name())
            .context("SpiceDB needs the stack's PostgreSQL: start it first")?
    );
    if !tls {
        let output = Command::new(spicedb)
            .args([
                "datastore",
                "migrate",
                "head",
                "--datastore-engine",
                "postgres",
            ])
            .arg("--datastore-conn-uri")
            .arg(&datastore)
            .args(["--log-level", "warn"])
            .output()
            .context("cannot run spicedb datastore migrate")?;
        if !output.status.success() {
            bail!(
                "spicedb datastore migrate head failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    let mut c = Command::new(spicedb);
    c.args(["serve", "--grpc-preshared-key", &stack.state.spicedb_token])
        .args(["--grpc-addr", &format!("127.0.0.1:{port}")])
        .args(["--datastore-engine", "postgres"])
        .arg("--datastore-conn-uri")
        .arg(&datastore)
        .args(SPICEDB_SERVE);
    if tls {
        let files = super::tls::TlsFiles::ensure(&stack.dir)?;
        c.arg("--grpc-tls-cert-path")
            .arg(&files.cert)
            .arg("--grpc-tls-key-path")
            .arg(&files.key);
    }
    Ok(c)
}

/// What every SpiceDB of the stack (and of the tests) runs with: nothing
/// listening beyond its gRPC port, no calls home, pools sized for a shared
/// PostgreSQL, and the schema cached from the Watch API (without it a
/// fully consistent check reads and compiles the schema again at each new
/// head revision, and costs grow with the schema's size).
const SPICEDB_SERVE: &[&str] = &[
    "--enable-experimental-watchable-schema-cache",
    "--http-enabled=false",
    "--metrics-enabled=false",
    "--dispatch-cluster-enabled=false",
    "--telemetry-endpoint=",
    "--skip-release-check",
    "--datastore-conn-pool-read-max-open=16",
    "--datastore-conn-pool-read-min-open=2",
    "--datastore-conn-pool-write-max-open=4",
    "--datastore-conn-pool-write-min-open=1",
    "--log-level=warn",
];

/// Where the cluster lives. Normally inside the stack directory; when the
/// `postgres` user cannot reach it (a checkout under a private home), under
/// /var/tmp with a symlink from the stack directory, so the stack still has
/// one root.
fn postgres_area(stack: &Stack) -> Result<PathBuf> {
    let inside = stack.data_dir(Component::Postgres);
    if !stack.root_user || fs::symlink_metadata(&inside).is_ok_and(|m| m.file_type().is_symlink()) {
        return Ok(inside);
    }
    let reachable = Command::new("setpriv")
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
            "test",
            "-x",
        ])
        .arg(&stack.dir)
        .status()
        .is_ok_and(|s| s.success());
    if reachable {
        return Ok(inside);
    }
    let outside = Path::new("/var/tmp/orgman-stack").join(stack.id());
    fs::create_dir_all(&outside)?;
    if inside.exists() {
        fs::remove_dir_all(&inside)?;
    }
    std::os::unix::fs::symlink(&outside, &inside)?;
    Ok(outside)
}

/// Keycloak's database on the stack's PostgreSQL.
const KEYCLOAK_DATABASE: &str = "keycloak";

/// Build-time options of the Keycloak distribution (`kc.sh build`); a change
/// here rebuilds it once.
///
/// Besides the database and health: the identity-provider mappers that give
/// a brokered user roles, groups or session notes are switched off. orgman
/// uses none of them, and `manage-identity-providers`, which orgman's
/// service account needs, would otherwise let whoever holds its secret add
/// one that grants `realm-admin` (docs/identity.md, "The service account").
const KEYCLOAK_BUILD: &[&str] = &[
    "--db=postgres",
    "--health-enabled=true",
    "--spi-identity-provider-mapper--oidc-hardcoded-role-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--oidc-role-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--oidc-advanced-role-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--keycloak-oidc-role-to-role-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--oidc-hardcoded-group-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--oidc-advanced-group-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--saml-role-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--saml-advanced-role-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--saml-advanced-group-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--oidc-user-session-note-idp-mapper--enabled=false",
    "--spi-identity-provider-mapper--hardcoded-user-session-attribute-idp-mapper--enabled=false",
];

/// Keycloak as deployed: built once for this configuration, then `start
/// --optimized` on the stack's PostgreSQL, hostname pinned to its loopback
/// port, the `dev` and `customer` realms imported on the first start.
fn keycloak_command(stack: &Stack, installed: &Installed, port: u16) -> Result<Command> {
    let (home, java) = installed.keycloak()?;
    let built = home.join(".orgman-build");
    let extension = keycloak_extension(home, java)?;
    let options = format!("{} extension:{extension}", KEYCLOAK_BUILD.join(" "));
    if fs::read_to_string(&built).ok().as_deref() != Some(options.as_str()) {
        eprintln!("xtask: building Keycloak for this configuration (once, ~20 s)");
        project::run(
            Command::new(home.join("bin/kc.sh"))
                .env("JAVA_HOME", java)
                .arg("build")
                .args(KEYCLOAK_BUILD),
        )
        .context("kc.sh build failed")?;
        fs::write(&built, &options)?;
    }
    // `--import-realm` reads data/import of the distribution; a realm that
    // exists already is left alone (so `--wipe` is how to re-import).
    // The `customer` realm plays an organization's own identity provider
    // in the SSO tests; its redirect URIs name this Keycloak's address.
    let import = home.join("data/import");
    fs::create_dir_all(&import)?;
    let mut realms = String::new();
    for realm in ["realm-dev.json", "realm-customer.json"] {
        let text = fs::read_to_string(project::root()?.join("deploy/local/keycloak").join(realm))?;
        fs::write(
            import.join(realm),
            text.replace("@KEYCLOAK_URL@", &format!("http://127.0.0.1:{port}")),
        )?;
        realms.push_str(&text);
    }
    warn_when_realms_changed(stack, &realms)?;
    let pg = stack
        .state
        .ports
        .get(Component::Postgres.name())
        .copied()
        .context("Keycloak needs the stack's PostgreSQL: start it first")?;
    let management = stack.extra_port("keycloak-management")?;
    let mut c = Command::new(home.join("bin/kc.sh"));
    c.env("JAVA_HOME", java)
        .env(
            "JAVA_OPTS_KC_HEAP",
            "-Xms64m -Xmx512m -XX:MaxMetaspaceSize=256m",
        )
        // JBoss threads resets thread locals through java.lang on Java 24+.
        .env(
            "JAVA_OPTS_APPEND",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
        )
        .env(
            "KC_DB_URL",
            format!("jdbc:postgresql://127.0.0.1:{pg}/{KEYCLOAK_DATABASE}"),
        )
        .env("KC_DB_USERNAME", "postgres")
        .env("KC_DB_PASSWORD", &stack.state.postgres_password)
        .env("KC_DB_POOL_MAX_SIZE", "20")
        // One node: no cluster, so nothing listens beyond loopback.
        .env("KC_CACHE", "local")
        .env("KC_HTTP_ENABLED", "true")
        .env("KC_HTTP_HOST", "127.0.0.1")
        .env("KC_HTTP_PORT", port.to_string())
        // The issuer never follows the request's Host header.
        .env("KC_HOSTNAME", format!("http://127.0.0.1:{port}"))
        .env("KC_HOSTNAME_STRICT", "true")
        .env("KC_HTTP_MANAGEMENT_PORT", management.to_string())
        // Read on the first start only (master realm's administrator).
        .env("KC_BOOTSTRAP_ADMIN_USERNAME", "admin")
        .env(
            "KC_BOOTSTRAP_ADMIN_PASSWORD",
            &stack.state.keycloak_admin_password,
        )
        .args(["start", "--optimized", "--import-realm"]);
    Ok(c)
}

/// orgman's Keycloak extension (`deploy/keycloak-extension`: the
/// first-login step that admits only addresses of an organization's
/// verified domains), compiled with the JDK's `javac` against the
/// distribution's own jars into its `providers/`. Answers a fingerprint of
/// the sources, so that a change rebuilds the distribution.
fn keycloak_extension(home: &Path, java: &Path) -> Result<String> {
    use std::hash::{Hash, Hasher};
    let root = project::root()?.join("deploy/keycloak-extension");
    let mut sources: Vec<PathBuf> = fs::read_dir(root.join("src/dev/orgman/keycloak"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    sources.sort();
    let services = root.join("META-INF/services/org.keycloak.authentication.AuthenticatorFactory");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in sources.iter().chain([&services]) {
        fs::read(file)?.hash(&mut hasher);
    }
    let fingerprint = format!("{:016x}", hasher.finish());
    let jar = home.join("providers/orgman-keycloak.jar");
    let stamp = home.join("providers/.orgman-keycloak.jar.sources");
    if jar.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
        return Ok(fingerprint);
    }
    let javac = java.join("bin/javac");
    if !javac.exists() {
        bail!(
            "{} has no javac: Keycloak's orgman extension needs a JDK (Java 21+), not a JRE",
            java.display()
        );
    }
    eprintln!("xtask: compiling orgman's Keycloak extension (once per change, ~5 s)");
    let classes = home.join(".orgman-extension");
    if classes.exists() {
        fs::remove_dir_all(&classes)?;
    }
    fs::create_dir_all(classes.join("META-INF/services"))?;
    project::run(
        Command::new(&javac)
            .args(["--release", "21", "-d"])
            .arg(&classes)
            .arg("-cp")
            .arg(home.join("lib/lib/main/*"))
            .args(&sources),
    )
    .context("compiling deploy/keycloak-extension failed")?;
    fs::copy(
        &services,
        classes.join("META-INF/services/org.keycloak.authentication.AuthenticatorFactory"),
    )?;
    project::run(
        Command::new(java.join("bin/jar"))
            .arg("--create")
            .arg("--file")
            .arg(&jar)
            .arg("-C")
            .arg(&classes)
            .arg("."),
    )
    .context("packing orgman's Keycloak extension failed")?;
    fs::write(&stamp, &fingerprint)?;
    Ok(fingerprint)
}

/// Keycloak imports the realms on its first start only: a stack whose realm
/// files changed since then runs the old realms until it is wiped. The
/// files as first imported are kept beside the stack's data to tell.
fn warn_when_realms_changed(stack: &Stack, realms: &str) -> Result<()> {
    let dir = stack.data_dir(Component::Keycloak);
    fs::create_dir_all(&dir)?;
    let imported = dir.join("realms-imported.json");
    match fs::read_to_string(&imported) {
        Ok(before) if before != realms => eprintln!(
            "xtask: warning: deploy/local/keycloak changed since this stack's Keycloak \
             imported its realms; `cargo xtask stack down --wipe` (with this --profile) \
             and start again to import them"
        ),
        Ok(_) => {}
        Err(_) => fs::write(&imported, realms)?,
    }
    Ok(())
}

/// Apache Kafka in KRaft mode, broker and controller in one JVM, its log on
/// disk under the stack's data folder; the storage is formatted once with
/// the stack's cluster id.
fn kafka_command(stack: &Stack, installed: &Installed, port: u16, data: &Path) -> Result<Command> {
    let (classpath, java) = installed.kafka()?;
    let controller = stack.extra_port("kafka-controller")?;
    let log_dirs = data.join("log");
    let properties = data.join("server.properties");
    let secure = KafkaSecure {
        ssl_port: stack.extra_port("kafka-ssl")?,
        sasl_port: stack.extra_port("kafka-sasl-ssl")?,
        keystore: kafka_keystore(stack, data)?,
        password: stack.state.kafka_password.clone(),
    };
    fs::write(
        &properties,
        secure.apply(&kafka_properties(port, controller, &log_dirs)?),
    )?;
    let log4j = project::root()?.join("deploy/local/kafka/log4j2.properties");
    let jvm = |c: &mut Command| {
        c.args(["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC"])
            .args(["-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"])
            .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
            .arg("-cp")
            .arg(classpath);
    };
    if !log_dirs.join("meta.properties").exists() {
        // What `kafka-storage.sh format` runs.
        let mut format = Command::new(java);
        jvm(&mut format);
        project::run(
            format
                .args(["kafka.tools.StorageTool", "format", "--ignore-formatted"])
                .args(["--cluster-id", &stack.state.kafka_cluster_id])
                // SCRAM users live in the cluster's metadata, set at format.
                .args(secure.scram_users())
                .arg("--config")
                .arg(&properties),
        )
        .context("formatting Kafka's storage failed")?;
    }
    let mut c = Command::new(java);
    jvm(&mut c);
    c.arg("kafka.Kafka").arg(&properties);
    Ok(c)
}

/// The stack broker's listeners besides the plain one: `SSL` and
/// `SASL_SSL` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), both with the stack's
/// certificate.
struct KafkaSecure {
    ssl_port: u16,
    sasl_port: u16,
    /// The stack's key and certificate in one PEM file.
    keystore: PathBuf,
    password: String,
}

impl KafkaSecure {
    /// The shared template's properties with these listeners added.
    fn apply(&self, properties: &str) -> String {
        let (ssl, sasl) = (self.ssl_port, self.sasl_port);
        let mut out: String = properties
            .lines()
            .map(|line| {
                if line.starts_with("listeners=") || line.starts_with("advertised.listeners=") {
                    format!("{line},SSL://127.0.0.1:{ssl},SASL_SSL://127.0.0.1:{sasl}\n")
                } else if line.starts_with("listener.security.protocol.map=") {
                    format!("{line},SSL:SSL,SASL_SSL:SASL_SSL\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        let keystore = self.keystore.display();
        let user = super::KAFKA_USER;
        let password = &self.password;
        for listener in ["ssl", "sasl_ssl"] {
            out.push_str(&format!(
                "listener.name.{listener}.ssl.keystore.type=PEM\n\
                 listener.name.{listener}.ssl.keystore.location={keystore}\n"
            ));
        }
        out.push_str(&format!(
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n\
             listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}=\"{password}\";\n\
             listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
             listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
        ));
        out
    }

    /// `kafka-storage format` arguments creating the SCRAM user.
    fn scram_users(&self) -> Vec<String> {
        ["SCRAM-SHA-256", "SCRAM-SHA-512"]
            .into_iter()
            .flat_map(|mechanism| {
                [
                    "--add-scram".to_owned(),
                    format!(
                        "{mechanism}=[name={},password={}]",
                        super::KAFKA_USER,
                        self.password
                    ),
                ]
            })
            .collect()
    }
}

/// The stack's private key and certificate in one PEM file, as Kafka's PEM
/// key store wants them.
fn kafka_keystore(stack: &Stack, data: &Path) -> Result<PathBuf> {
    let tls = super::tls::TlsFiles::ensure(&stack.dir)?;
    let keystore = data.join("keystore.pem");
    let mut pem = fs::read_to_string(&tls.key)?;
    pem.push_str(&fs::read_to_string(&tls.cert)?);
    fs::write(&keystore, pem)?;
    Ok(keystore)
}

/// `deploy/local/kafka/server.properties` for these ports and folder.
fn kafka_properties(port: u16, controller: u16, log_dirs: &Path) -> Result<String> {
    let template =
        fs::read_to_string(project::root()?.join("deploy/local/kafka/server.properties"))?;
    Ok(template
        .replace("{port}", &port.to_string())
        .replace("{controller_port}", &controller.to_string())
        .replace("{log_dirs}", &log_dirs.display().to_string()))
}

/// Whether a Kafka broker answers an ApiVersions request (v0) on `port`:
/// it only does once it processes requests.
fn kafka_answers(port: u16) -> bool {
    const CLIENT: &[u8] = b"xtask";
    let mut request = Vec::new();
    let size = 2 + 2 + 4 + 2 + CLIENT.len();
    request.extend_from_slice(&(size as i32).to_be_bytes());
    request.extend_from_slice(&18_i16.to_be_bytes()); // ApiVersions
    request.extend_from_slice(&0_i16.to_be_bytes()); // version 0
    request.extend_from_slice(&7_i32.to_be_bytes()); // correlation id
    request.extend_from_slice(&(CLIENT.len() as i16).to_be_bytes());
    request.extend_from_slice(CLIENT);
    process::exchange_bytes(port, &request).is_some_and(|reply| {
        reply.len() >= 10 && reply[4..8] == 7_i32.to_be_bytes() && reply[8..10] == [0, 0]
    })
}
