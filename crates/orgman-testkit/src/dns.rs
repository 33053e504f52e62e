//! [`PrivateDns`]: a name server of one test's own.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};

use orgman_launch::Owned;
use std::sync::Mutex;
use std::time::Duration;

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
    child: Option<Owned>,
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
        let dir = std::env::temp_dir().join(crate::unique_name("orgman-dns"));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let mut dns = PrivateDns {
            port: 0,
            dir: tempdir::Dir(dir),
            state: Mutex::new(State::default()),
        };
        // dnsmasq listens on UDP and TCP: a port free for UDP may be taken
        // for TCP (or be taken between the check and the start), so a port
        // it cannot have is exchanged for another.
        let mut last = String::new();
        for _ in 0..5 {
            dns.port = free_udp_and_tcp_port();
            match dns.try_restart() {
                Ok(()) => return dns,
                Err(why) => last = why,
            }
        }
        panic!("dnsmasq did not start: {last}");
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
        // The port was dnsmasq's a moment ago; another process may still
        // take it in between, which a few attempts get past.
        let mut last = String::new();
        for _ in 0..5 {
            match self.try_restart() {
                Ok(()) => return,
                Err(why) => last = why,
            }
            // A pause before binding the port again (it may still be held).
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("dnsmasq did not restart on port {}: {last}", self.port);
    }

    fn try_restart(&self) -> Result<(), String> {
        let mut state = self.lock();
        if let Some(mut child) = state.child.take() {
            child.kill();
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
        let mut child =
            Owned::spawn(&mut command).map_err(|e| format!("dnsmasq cannot be run: {e}"))?;
        // Ready once the port is taken.
        let port = self.port;
        child.wait_until(
            &format!("dnsmasq on port {port}"),
            Duration::from_secs(10),
            || UdpSocket::bind(("127.0.0.1", port)).is_err(),
        )?;
        state.child = Some(child);
        Ok(())
    }
}

/// A loopback port free for both UDP and TCP at the time of asking.
fn free_udp_and_tcp_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("a free TCP port");
        let port = tcp.local_addr().expect("a bound address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Drop for PrivateDns {
    fn drop(&mut self) {
        self.lock().child.take();
    }
}
