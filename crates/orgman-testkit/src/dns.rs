//! [`PrivateDns`]: a name server of one test's own.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Debian's dnsmasq on a free loopback port, answering the TXT records the
/// test publishes (and nothing else: no upstream, no hosts file). Stopped
/// when dropped.
#[derive(Debug)]
pub struct PrivateDns {
    port: u16,
    dir: tempdir::Dir,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    child: Option<Child>,
    records: Vec<(String, String)>,
}

mod tempdir {
    /// A directory removed when dropped.
    #[derive(Debug)]
    pub(super) struct Dir(pub(super) std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl PrivateDns {
    /// A name server with no records yet.
    ///
    /// # Panics
    /// When dnsmasq cannot be started (`cargo xtask stack up` installs it).
    pub fn start() -> PrivateDns {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free UDP port")
            .port();
        let dir = std::env::temp_dir().join(crate::unique_name("orgman-dns"));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let dns = PrivateDns {
            port,
            dir: tempdir::Dir(dir),
            state: Mutex::new(State::default()),
        };
        dns.restart();
        dns
    }

    /// Where to send queries.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Publishes a TXT record (beside those already published); the name
    /// server restarts with it, on the same port.
    pub fn publish(&self, name: &str, value: &str) {
        self.lock()
            .records
            .push((name.to_owned(), value.to_owned()));
        self.restart();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn restart(&self) {
        let mut state = self.lock();
        if let Some(mut child) = state.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let program =
            std::env::var("ORGMAN_STACK_DNSMASQ").unwrap_or_else(|_| "/usr/sbin/dnsmasq".into());
        let mut command = Command::new(program);
        command
            .arg("--keep-in-foreground")
            .arg("--conf-file=/dev/null")
            .arg("--no-resolv")
            .arg("--no-hosts")
            .arg("--listen-address=127.0.0.1")
            .arg("--bind-interfaces")
            .arg(format!("--port={}", self.port))
            .arg(format!("--pid-file={}", self.dir.0.join("pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in &state.records {
            command.arg(format!("--txt-record={name},{value}"));
        }
        let child = command.spawn().expect("dnsmasq starts");
        state.child = Some(child);
        // Ready once the port is taken.
        let deadline = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "dnsmasq did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for PrivateDns {
    fn drop(&mut self) {
        if let Some(mut child) = self.lock().child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
