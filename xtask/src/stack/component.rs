//! The stack's components: how each one starts, when it is ready, and how it
//! stops.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::Stack;
use super::install;
use super::process;
use crate::project;

/// One process of the local stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Component {
    Postgres,
    Redis,
    Kafka,
    SpiceDb,
    Oidc,
}

impl Component {
    pub(crate) const ALL: [Component; 5] = [
        Component::Postgres,
        Component::Redis,
        Component::Kafka,
        Component::SpiceDb,
        Component::Oidc,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Component::Postgres => "postgres",
            Component::Redis => "redis",
            Component::Kafka => "kafka",
            Component::SpiceDb => "spicedb",
            Component::Oidc => "oidc",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .with_context(|| {
                format!("unknown component {name:?} (postgres, redis, kafka, spicedb, oidc)")
            })
    }

    /// What the process's command line contains; guards against signalling a
    /// reused PID.
    pub(crate) fn marker(self) -> &'static str {
        match self {
            Component::Postgres => "postgres",
            Component::Redis => "redis-server",
            Component::Kafka => "tansu",
            Component::SpiceDb => "spicedb-front.mjs",
            Component::Oidc => "oidc-provider.mjs",
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
            Component::Kafka => "tansu (Kafka wire protocol)",
            Component::SpiceDb => "SpiceDB (embedded library behind a gRPC front)",
            Component::Oidc => "OIDC provider (Keycloak layout)",
        }
    }

    /// Installs what is missing, prepares data, and starts the process.
    pub(crate) fn start(self, stack: &Stack, port: u16) -> Result<u32> {
        let log = stack.log_file(self);
        let data = stack.data_dir(self);
        fs::create_dir_all(&data)?;
        let mut command = match self {
            Component::Postgres => postgres_command(stack, port)?,
            Component::Redis => {
                let mut c = Command::new(install::redis_server()?);
                c.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                    .arg("--dir")
                    .arg(&data);
                c
            }
            Component::Kafka => {
                let url = format!("tcp://127.0.0.1:{port}");
                let mut c = Command::new(install::tansu(&stack.tools_dir())?);
                c.args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                ])
                .args(["--storage-engine", "memory://tansu/"]);
                c
            }
            Component::SpiceDb => {
                let node = install::node(&stack.tools_dir())?;
                let dir = install::node_packages(&node)?;
                let mut c = Command::new(node);
                c.current_dir(&dir).arg("spicedb-front.mjs").args([
                    "--port",
                    &port.to_string(),
                    "--token",
                    &stack.state.spicedb_token,
                ]);
                c
            }
            Component::Oidc => {
                let node = install::node(&stack.tools_dir())?;
                let dir = install::node_packages(&node)?;
                let realm = project::root()?.join("deploy/local/oidc/realm-dev.json");
                let mut c = Command::new(node);
                c.current_dir(&dir)
                    .env("NODE_NO_WARNINGS", "1")
                    .arg("oidc-provider.mjs")
                    .args(["--port", &port.to_string()])
                    .arg("--realm-file")
                    .arg(realm)
                    .arg("--keys-file")
                    .arg(data.join("jwks.json"));
                c
            }
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
            Component::Kafka | Component::SpiceDb => process::port_open(port),
            Component::Oidc => process::exchange(
                port,
                b"GET /realms/dev/.well-known/openid-configuration HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
            )
            .is_some_and(|reply| reply.starts_with("HTTP/1.1 200")),
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
        let exists = psql("SELECT 1 FROM pg_database WHERE datname = 'organization_manager'")?;
        if exists != "1" {
            psql("CREATE DATABASE organization_manager")?;
        }
        Ok(())
    }
}

/// `postgres` for a private cluster: initialised on first start with a
/// password, listening on 127.0.0.1 only, its socket inside its data area.
/// PostgreSQL refuses to run as root, so as root it runs as `postgres`.
fn postgres_command(stack: &Stack, port: u16) -> Result<Command> {
    let bin = &stack.postgres_bin;
    let area = postgres_area(stack)?;
    let data = area.join("data");
    let sockets = area.join("sockets");
    fs::create_dir_all(&sockets)?;
    let as_postgres = |program: PathBuf| -> Command {
        if stack.root_user {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(program);
            c
        } else {
            Command::new(program)
        }
    };
    if stack.root_user {
        project::run(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&area),
        )?;
    }
    if !data.join("PG_VERSION").exists() {
        let pwfile = area.join("pwfile");
        fs::write(&pwfile, format!("{}\n", stack.state.postgres_password))?;
        if stack.root_user {
            project::run(Command::new("chown").arg("postgres:postgres").arg(&pwfile))?;
        }
        let output = as_postgres(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
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
    }
    let mut command = as_postgres(bin.join("postgres"));
    command
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-h", "127.0.0.1"])
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
        .args(["-c", "max_connections=300"]);
    Ok(command)
}

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
