//! Schema migrations: the SQL of `migrations/` (diesel's up/down layout),
//! embedded at build time and applied in name order.
//!
//! Applied versions are recorded in `__diesel_schema_migrations`, the table
//! diesel's own tooling uses, so either tool can take over. Every run holds a
//! PostgreSQL advisory lock, so replicas starting together apply each
//! migration exactly once; each migration runs in its own transaction.
//!
//! Why not `diesel_migrations` through diesel-async's harness: that harness
//! (`AsyncMigrationHarness`, behind diesel-async's `migrations` feature,
//! in the 0.9 line this workspace uses) drives diesel's synchronous runner with
//! `tokio::task::block_in_place`, which panics on a current-thread runtime
//! (every plain `#[tokio::test]` that applies migrations); it takes no
//! advisory lock, so two replicas starting together would race; and it has
//! no dry run. This runner is those three things on top of the same table
//! and directory layout, in about two hundred lines.

use diesel::sql_types::{BigInt, Text};
use diesel::{ConnectionError, QueryableByName};

use crate::PgSettings;
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection, TransactionManager,
};

/// One embedded migration.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// The directory name, e.g. `2026-11-22-000001_create_organizations`.
    pub name: &'static str,
    /// SQL applying it.
    pub up: &'static str,
    /// SQL reverting it, if it can be reverted.
    pub down: Option<&'static str>,
}

impl Migration {
    /// The version recorded when applied: the name's leading date and number
    /// without separators (diesel's rule), e.g. `20261122000001`.
    pub fn version(&self) -> String {
        self.name
            .split('_')
            .next()
            .unwrap_or(self.name)
            .replace('-', "")
    }
}

/// Every migration of `migrations/`, oldest first.
pub const MIGRATIONS: &[Migration] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// An arbitrary constant identifying orgman's migration lock.
const LOCK_KEY: i64 = 0x6f72_676d_616e_0001;

/// Why migrating failed, worded for operators.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The server answers but the database does not exist.
    #[error(
        "database does not exist: create it first (e.g. CREATE DATABASE organization_manager): {0}"
    )]
    MissingDatabase(String),
    /// Wrong user name or password.
    #[error(
        "authentication failed: check SPRING_DATASOURCE_USERNAME / SPRING_DATASOURCE_PASSWORD: {0}"
    )]
    Authentication(String),
    /// Nothing answers at the address.
    #[error("database server unreachable: check the host and port of the URL and the network: {0}")]
    Unreachable(String),
    /// A migration's SQL failed; it was rolled back.
    #[error("migration {name} failed and was rolled back: {source}")]
    Failed {
        /// The migration.
        name: &'static str,
        /// What PostgreSQL said.
        source: diesel::result::Error,
    },
    /// A migration cannot be reverted.
    #[error("migration {0} has no down.sql")]
    Irreversible(&'static str),
    /// Anything else.
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

fn classify(error: ConnectionError) -> MigrationError {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("does not exist") && lower.contains("database") {
        MigrationError::MissingDatabase(text)
    } else if lower.contains("password") || lower.contains("authentication") {
        MigrationError::Authentication(text)
    } else {
        MigrationError::Unreachable(text)
    }
}

/// The state of one migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The migration.
    pub name: &'static str,
    /// Whether it is applied.
    pub applied: bool,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// A connection holding the migration lock.
pub struct Migrator {
    conn: AsyncPgConnection,
}

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Migrator")
    }
}

impl Migrator {
    /// Connects and waits for the migration lock.
    ///
    /// # Errors
    /// [`MigrationError::MissingDatabase`], [`MigrationError::Authentication`]
    /// or [`MigrationError::Unreachable`] with an explanation.
    pub async fn connect(url: &str) -> Result<Self, MigrationError> {
        let settings =
            PgSettings::from_url(url).map_err(|e| MigrationError::Unreachable(e.to_string()))?;
        Self::open(&settings).await
    }

    /// Connects with `settings` (TLS included) and waits for the migration
    /// lock.
    ///
    /// # Errors
    /// As [`Migrator::connect`].
    pub async fn open(settings: &PgSettings) -> Result<Self, MigrationError> {
        let connector = crate::tls::Connector::new(settings.tls())
            .map_err(|e| MigrationError::Unreachable(format!("database TLS settings: {e}")))?;
        let mut conn = connector.connect(settings.url()).await.map_err(classify)?;
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(LOCK_KEY)
            .execute(&mut conn)
            .await?;
        conn.batch_execute(
            "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
                 version VARCHAR(50) PRIMARY KEY NOT NULL,
                 run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
             )",
        )
        .await?;
        Ok(Self { conn })
    }

    async fn applied(&mut self) -> Result<Vec<String>, MigrationError> {
        let rows: Vec<Version> =
            diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
                .load(&mut self.conn)
                .await?;
        Ok(rows.into_iter().map(|r| r.version).collect())
    }

    /// Every embedded migration and whether it is applied.
    ///
    /// # Errors
    /// [`MigrationError::Database`].
    pub async fn status(&mut self) -> Result<Vec<MigrationStatus>, MigrationError> {
        let applied = self.applied().await?;
        Ok(MIGRATIONS
            .iter()
            .map(|m| MigrationStatus {
                name: m.name,
                applied: applied.contains(&m.version()),
            })
            .collect())
    }

    /// The migrations not applied yet, oldest first.
    ///
    /// # Errors
    /// [`MigrationError::Database`].
    pub async fn pending(&mut self) -> Result<Vec<Migration>, MigrationError> {
        let applied = self.applied().await?;
        Ok(MIGRATIONS
            .iter()
            .filter(|m| !applied.contains(&m.version()))
            .copied()
            .collect())
    }

    /// Applies every pending migration; returns their names.
    ///
    /// # Errors
    /// [`MigrationError::Failed`] names the migration that failed; the ones
    /// before it stay applied.
    pub async fn up(&mut self) -> Result<Vec<&'static str>, MigrationError> {
        let mut done = Vec::new();
        for migration in self.pending().await? {
            self.apply(
                migration.name,
                migration.up,
                Some(&migration.version()),
                None,
            )
            .await?;
            done.push(migration.name);
        }
        Ok(done)
    }

    /// Reverts the `count` most recent applied migrations; returns their names.
    ///
    /// # Errors
    /// [`MigrationError::Irreversible`] or [`MigrationError::Failed`].
    pub async fn down(&mut self, count: usize) -> Result<Vec<&'static str>, MigrationError> {
        let applied = self.applied().await?;
        let mut done = Vec::new();
        for migration in MIGRATIONS
            .iter()
            .rev()
            .filter(|m| applied.contains(&m.version()))
            .take(count)
        {
            let down = migration
                .down
                .ok_or(MigrationError::Irreversible(migration.name))?;
            self.apply(migration.name, down, None, Some(&migration.version()))
                .await?;
            done.push(migration.name);
        }
        Ok(done)
    }

    /// Runs one script and records it, in one transaction.
    async fn apply(
        &mut self,
        name: &'static str,
        sql: &'static str,
        record: Option<&str>,
        forget: Option<&str>,
    ) -> Result<(), MigrationError> {
        type Tm = <AsyncPgConnection as AsyncConnection>::TransactionManager;
        let conn = &mut self.conn;
        Tm::begin_transaction(conn).await?;
        let result = async {
            conn.batch_execute(sql).await?;
            if let Some(version) = record {
                diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ($1)")
                    .bind::<Text, _>(version)
                    .execute(conn)
                    .await?;
            }
            if let Some(version) = forget {
                diesel::sql_query("DELETE FROM __diesel_schema_migrations WHERE version = $1")
                    .bind::<Text, _>(version)
                    .execute(conn)
                    .await?;
            }
            Ok::<_, diesel::result::Error>(())
        }
        .await;
        match result {
            Ok(()) => Tm::commit_transaction(conn).await?,
            Err(source) => {
                Tm::rollback_transaction(conn).await?;
                return Err(MigrationError::Failed { name, source });
            }
        }
        Ok(())
    }
}

/// An operator's request, as `cargo xtask migrate` and the service's
/// `migrate` subcommand take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// List every migration and whether it is applied.
    Status,
    /// Apply the pending ones.
    Up,
    /// Revert the most recent N.
    Down(usize),
    /// Revert the most recent one and apply it again.
    Redo,
}

impl Command {
    /// Parses `status | up | down [N] | redo` (default `up`) and `--dry-run`.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(args: &[String]) -> Result<(Command, bool), String> {
        let dry_run = args.iter().any(|a| a == "--dry-run");
        let words: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "--dry-run")
            .collect();
        let command = match words.as_slice() {
            [] | ["up"] => Command::Up,
            ["status"] => Command::Status,
            ["redo"] => Command::Redo,
            ["down"] => Command::Down(1),
            ["down", n] => Command::Down(
                n.parse()
                    .map_err(|_| format!("down takes a number, got {n:?}"))?,
            ),
            other => {
                return Err(format!(
                    "unknown migrate arguments {other:?}; expected status | up | down [N] | redo [--dry-run]"
                ));
            }
        };
        Ok((command, dry_run))
    }
}

/// Runs an operator's command and returns what to print. With `dry_run`,
/// prints the SQL that would run and changes nothing.
///
/// # Errors
/// As [`Migrator`]'s methods.
pub async fn run_command(
    settings: &PgSettings,
    command: Command,
    dry_run: bool,
) -> Result<String, MigrationError> {
    use std::fmt::Write as _;
    let mut migrator = Migrator::open(settings).await?;
    let mut out = String::new();
    let applied: Vec<Migration> = {
        let status = migrator.status().await?;
        MIGRATIONS
            .iter()
            .zip(status)
            .filter(|(_, s)| s.applied)
            .map(|(m, _)| *m)
            .collect()
    };
    let last = |n: usize| applied.iter().rev().take(n).copied().collect::<Vec<_>>();
    match (command, dry_run) {
        (Command::Status, _) => {
            for status in migrator.status().await? {
                let mark = if status.applied { "applied" } else { "pending" };
                let _ = writeln!(out, "{mark:<8} {}", status.name);
            }
        }
        (Command::Up, true) => {
            for m in migrator.pending().await? {
                let _ = writeln!(out, "-- up: {}\n{}", m.name, m.up);
            }
        }
        (Command::Down(n), true) => {
            for m in last(n) {
                let _ = writeln!(
                    out,
                    "-- down: {}\n{}",
                    m.name,
                    m.down.unwrap_or("-- (irreversible)")
                );
            }
        }
        (Command::Redo, true) => {
            for m in last(1) {
                let _ = writeln!(
                    out,
                    "-- down: {}\n{}\n-- up: {}\n{}",
                    m.name,
                    m.down.unwrap_or(""),
                    m.name,
                    m.up
                );
            }
        }
        (Command::Up, false) => {
            let done = migrator.up().await?;
            if done.is_empty() {
                out.push_str("database is up to date\n");
            }
            for name in done {
                let _ = writeln!(out, "applied  {name}");
            }
        }
        (Command::Down(n), false) => {
            for name in migrator.down(n).await? {
                let _ = writeln!(out, "reverted {name}");
            }
        }
        (Command::Redo, false) => {
            for name in migrator.down(1).await? {
                let _ = writeln!(out, "reverted {name}");
            }
            for name in migrator.up().await? {
                let _ = writeln!(out, "applied  {name}");
            }
        }
    }
    Ok(out)
}

/// Applies every pending migration (what the service does at start-up when
/// asked to).
///
/// # Errors
/// As [`Migrator::connect`] and [`Migrator::up`].
pub async fn run_pending(url: &str) -> Result<Vec<&'static str>, MigrationError> {
    Migrator::connect(url).await?.up().await
}

/// As [`run_pending`], with settings (TLS included).
///
/// # Errors
/// As [`run_pending`].
pub async fn run_pending_with(settings: &PgSettings) -> Result<Vec<&'static str>, MigrationError> {
    Migrator::open(settings).await?.up().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(Command::parse(&args("")), Ok((Command::Up, false)));
        assert_eq!(
            Command::parse(&args("status")),
            Ok((Command::Status, false))
        );
        assert_eq!(
            Command::parse(&args("down 3 --dry-run")),
            Ok((Command::Down(3), true))
        );
        assert_eq!(Command::parse(&args("down")), Ok((Command::Down(1), false)));
        assert_eq!(Command::parse(&args("redo")), Ok((Command::Redo, false)));
        assert!(Command::parse(&args("down many")).is_err());
        assert!(Command::parse(&args("sideways")).is_err());
    }

    #[test]
    fn migrations_are_embedded_in_order_with_diesel_versions() {
        assert!(MIGRATIONS.len() >= 2);
        let names: Vec<_> = MIGRATIONS.iter().map(|m| m.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(MIGRATIONS[0].version(), "20261122000001");
        assert!(MIGRATIONS[0].up.contains("CREATE TABLE organizations"));
        assert!(MIGRATIONS.iter().all(|m| m.down.is_some()));
    }
}
