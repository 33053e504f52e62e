//! A broker of a test's own: Apache Kafka from the stack's classpath, one
//! KRaft node on private ports with its log in a folder of its own, so the
//! test can kill and restart it without disturbing the tests beside it. Its
//! log survives a restart, as a deployed broker's does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use orgman_launch::Owned;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

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

/// A private Apache Kafka broker; killed and its folder removed when
/// dropped.
#[derive(Debug)]
pub struct PrivateBroker {
    java: PathBuf,
    classpath: String,
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    child: Option<Owned>,
    placeholders: Vec<Placeholder>,
}

fn stack_setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} (run through cargo xtask test)"))
}

/// The repository's `deploy/local/kafka/<file>`.
fn deploy_file(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/local/kafka")
        .join(file)
}

impl PrivateBroker {
    /// Formats a new broker's storage and starts it on free ports.
    ///
    /// # Panics
    /// When the stack's Kafka is not installed or the broker does not start.
    pub fn start() -> PrivateBroker {
        Self::start_with(&[])
    }

    /// [`PrivateBroker::start`] with broker settings added to the stack's
    /// (e.g. `("message.max.bytes", "600")`).
    ///
    /// # Panics
    /// As [`PrivateBroker::start`].
    pub fn start_with(settings: &[(&str, &str)]) -> PrivateBroker {
        let java = PathBuf::from(stack_setting("ORGMAN_STACK_KAFKA_JAVA"));
        let classpath = std::fs::read_to_string(stack_setting("ORGMAN_STACK_KAFKA_CLASSPATH"))
            .expect("the stack's Kafka classpath (cargo xtask stack up kafka)")
            .trim()
            .to_owned();
        let port = crate::free_port();
        let controller_port = crate::free_port();
        let dir = std::env::temp_dir().join(format!("orgman-kafka-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let template = std::fs::read_to_string(deploy_file("server.properties")).unwrap();
        let mut properties = template
            .replace("{port}", &port.to_string())
            .replace("{controller_port}", &controller_port.to_string())
            .replace("{log_dirs}", &dir.join("log").display().to_string());
        for (name, value) in settings {
            properties.push_str(&format!("{name}={value}\n"));
        }
        std::fs::write(dir.join("server.properties"), properties).unwrap();
        let mut broker = PrivateBroker {
            java,
            classpath,
            dir,
            port,
            controller_port,
            child: None,
            placeholders: Vec::new(),
        };
        let cluster_id = {
            let id = uuid::Uuid::new_v4().simple().to_string();
            // Any 22 characters of URL-safe base64 make a valid cluster id.
            id[..22].to_owned()
        };
        let status = broker
            .java_command()
            .args([
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                &cluster_id,
            ])
            .arg("--config")
            .arg(broker.dir.join("server.properties"))
            .stdout(Stdio::null())
            .status()
            .expect("run Kafka's storage tool");
        assert!(
            status.success(),
            "formatting the private broker's storage failed"
        );
        broker.restart();
        broker
    }

    fn java_command(&self) -> Command {
        let mut command = Command::new(&self.java);
        command
            .args(["-Xms32m", "-Xmx256m", "-XX:+UseSerialGC"])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                deploy_file("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(&self.classpath);
        command
    }

    /// `host:port` for clients.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL: an abrupt outage, nothing flushed by the
    /// broker itself); its ports stay reserved.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
            self.placeholders = vec![
                Placeholder::hold(self.port),
                Placeholder::hold(self.controller_port),
            ];
        }
    }

    /// Starts it again on the same ports and storage, and waits until it
    /// answers requests.
    ///
    /// # Panics
    /// When it does not come up within 90 seconds.
    pub fn restart(&mut self) {
        self.stop();
        for placeholder in self.placeholders.drain(..) {
            placeholder.release();
        }
        let log = std::fs::File::create(self.dir.join("broker.log")).unwrap();
        let mut child = Owned::spawn(
            self.java_command()
                .arg("kafka.Kafka")
                .arg(self.dir.join("server.properties"))
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        )
        .expect("start the private Kafka broker");
        let port = self.port;
        if let Err(error) = child.wait_until("the private broker", Duration::from_secs(90), || {
            answers(port)
        }) {
            panic!("{error}; see {}", self.dir.join("broker.log").display());
        }
        self.child = Some(child);
    }

    /// The broker's folder (storage and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Whether a broker answers an ApiVersions request on `port` (it does once
/// it processes requests).
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let client = b"testkit";
    let mut request = Vec::new();
    request.extend_from_slice(&(10 + client.len() as i32).to_be_bytes());
    request.extend_from_slice(&18_i16.to_be_bytes()); // ApiVersions
    request.extend_from_slice(&0_i16.to_be_bytes()); // v0
    request.extend_from_slice(&7_i32.to_be_bytes()); // correlation id
    request.extend_from_slice(&(client.len() as i16).to_be_bytes());
    request.extend_from_slice(client);
    let mut reply = [0u8; 10];
    stream.write_all(&request).is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && reply[4..8] == 7_i32.to_be_bytes()
        && reply[8..10] == [0, 0]
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.child.take();
        for placeholder in self.placeholders.drain(..) {
            placeholder.release();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
