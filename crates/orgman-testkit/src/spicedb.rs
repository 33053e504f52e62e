//! A SpiceDB of a test's own: the stack's `spicedb` server on a private
//! port, with one of two datastores.
//!
//! - [`PrivateSpiceDb::start`]: the in-memory datastore. A restart brings it
//!   back empty, as a memdb deployment (or one whose datastore was lost)
//!   would be.
//! - [`PrivateSpiceDb::durable`]: a PostgreSQL database of its own in the
//!   stack's cluster. A restart keeps every relationship;
//!   [`PrivateSpiceDb::wipe`] loses them on purpose.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use orgman_launch::Owned;

/// What `spicedb serve` runs with here besides its port, key and datastore:
/// the stack's own choices (`xtask/src/stack/component.rs`).
const SERVE: &[&str] = &[
    "--http-enabled=false",
    "--metrics-enabled=false",
    "--dispatch-cluster-enabled=false",
    "--telemetry-endpoint=",
    "--skip-release-check",
    "--datastore-conn-pool-read-max-open=4",
    "--datastore-conn-pool-read-min-open=1",
    "--datastore-conn-pool-write-max-open=2",
    "--datastore-conn-pool-write-min-open=1",
    "--log-level=warn",
];

/// A private SpiceDB; killed when dropped.
#[derive(Debug)]
pub struct PrivateSpiceDb {
    port: u16,
    token: String,
    /// The PostgreSQL datastore's URL; `None` for the memory engine.
    datastore: Option<String>,
    child: Option<Owned>,
}

/// The stack's `spicedb` binary (`ORGMAN_STACK_SPICEDB`).
fn binary() -> PathBuf {
    std::env::var_os("ORGMAN_STACK_SPICEDB")
        .map(PathBuf::from)
        .expect("ORGMAN_STACK_SPICEDB from `cargo xtask stack env`")
}

impl PrivateSpiceDb {
    /// Starts one on the memory engine, on a free port with a random
    /// preshared key.
    ///
    /// # Panics
    /// When it does not come up within 30 seconds.
    pub fn start() -> PrivateSpiceDb {
        let mut spicedb = PrivateSpiceDb {
            port: crate::free_port(),
            token: uuid::Uuid::new_v4().simple().to_string(),
            datastore: None,
            child: None,
        };
        spicedb.restart();
        spicedb
    }

    /// Starts one on a fresh PostgreSQL database of its own (migrated to
    /// head), on a free port with a random preshared key.
    ///
    /// # Panics
    /// When the database cannot be made or the server does not come up.
    pub async fn durable() -> PrivateSpiceDb {
        let mut spicedb = PrivateSpiceDb {
            port: crate::free_port(),
            token: uuid::Uuid::new_v4().simple().to_string(),
            datastore: Some(Self::migrated_database().await),
            child: None,
        };
        spicedb.restart();
        spicedb
    }

    /// A new database, migrated by `spicedb datastore migrate head`.
    async fn migrated_database() -> String {
        let url = crate::Stack::get().fresh_database().await;
        let datastore = format!("{url}?sslmode=disable");
        let migrated = tokio::task::spawn_blocking({
            let datastore = datastore.clone();
            move || {
                Command::new(binary())
                    .args(["datastore", "migrate", "head"])
                    .args(["--datastore-engine", "postgres", "--log-level", "warn"])
                    .args(["--datastore-conn-uri", &datastore])
                    .output()
                    .expect("run spicedb datastore migrate")
            }
        })
        .await
        .unwrap();
        assert!(
            migrated.status.success(),
            "spicedb datastore migrate head: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        datastore
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The preshared key.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Kills it. The memory engine loses everything; a durable one keeps
    /// its database.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Starts it again on the same port: empty on the memory engine, with
    /// everything it held on PostgreSQL.
    ///
    /// # Panics
    /// When it does not come up within 30 seconds.
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new(binary());
        command
            .args(["serve", "--grpc-preshared-key", &self.token])
            .args(["--grpc-addr", &format!("127.0.0.1:{}", self.port)])
            .args(SERVE)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &self.datastore {
            Some(url) => command.args([
                "--datastore-engine",
                "postgres",
                "--datastore-conn-uri",
                url,
            ]),
            None => command.args(["--datastore-engine", "memory"]),
        };
        let mut child = Owned::spawn(&mut command).expect("start spicedb");
        let port = self.port;
        child
            .wait_until("the private SpiceDB", Duration::from_secs(30), || {
                orgman_launch::port_open(port)
            })
            .unwrap_or_else(|error| panic!("{error}"));
        self.child = Some(child);
    }

    /// Loses everything it holds and starts again empty: on PostgreSQL, a
    /// new migrated database replaces the old one (as a datastore restored
    /// from nothing would).
    ///
    /// # Panics
    /// As [`PrivateSpiceDb::durable`].
    pub async fn wipe(&mut self) {
        self.stop();
        if self.datastore.is_some() {
            self.datastore = Some(Self::migrated_database().await);
        }
        self.restart();
    }
}

impl Drop for PrivateSpiceDb {
    fn drop(&mut self) {
        self.stop();
    }
}
