//! Starting, probing and stopping local processes, for the two places that
//! run servers on this machine: `cargo xtask stack` (detached processes
//! that outlive it, found again by PID) and the testkit's private servers
//! (children that die with their handle). Both wait for readiness the same
//! way, so a server that exits while starting is reported at once instead
//! of after a timeout. std only: xtask builds quickly.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Starts `command` in its own process group (so it outlives its starter
/// and a Ctrl-C in the terminal does not reach it), with stdout and stderr
/// appended to `log`. Returns its PID.
///
/// # Errors
/// When the log cannot be opened or the program cannot be started.
pub fn spawn_detached(command: &mut Command, log: &Path) -> io::Result<u32> {
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()?;
    Ok(child.id())
}

/// A child process that is killed and reaped when its handle is dropped
/// (or [`Owned::kill`]ed), so a test that panics leaves nothing running.
#[derive(Debug)]
pub struct Owned {
    child: Option<Child>,
}

impl Owned {
    /// Starts `command`; its output goes where the command says (nowhere,
    /// unless set).
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn spawn(command: &mut Command) -> io::Result<Self> {
        let command = command.stdin(Stdio::null());
        Ok(Self {
            child: Some(command.spawn()?),
        })
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Kills and reaps it (nothing if already done).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until `ready` holds, checking every few milliseconds, for at
    /// most `within`. Kills it if it does not get ready.
    ///
    /// # Errors
    /// When it exits first (with its status) or `within` passes, naming
    /// `what`.
    pub fn wait_until(
        &mut self,
        what: &str,
        within: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                self.kill();
                return Err(format!("{what} exited while starting ({status})"));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!("{what} was not ready within {within:?}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `pid` runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
        !status
            .lines()
            .any(|line| line.starts_with("State:") && line.contains('Z'))
    })
}

/// Whether `pid` runs and is still the process we started: its command line
/// contains `marker` (a PID can be reused once our process is gone). Some
/// programs rewrite their command line while starting (Redis sets a process
/// title), so right after a start use [`alive`] instead.
pub fn is_ours(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    alive(pid) && String::from_utf8_lossy(&cmdline).contains(marker)
}

/// Stops a process we started: `signal` first, SIGKILL if it is still there
/// after `grace`.
///
/// # Errors
/// When it survives SIGKILL, or `kill` cannot be run.
pub fn stop(pid: u32, marker: &str, signal: &str, grace: Duration) -> Result<(), String> {
    if !is_ours(pid, marker) {
        return Ok(());
    }
    send_signal(pid, signal)?;
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !is_ours(pid, marker) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
    send_signal(pid, "KILL")?;
    // The kernel takes a moment to tear the process down after SIGKILL.
    thread::sleep(Duration::from_millis(200));
    if is_ours(pid, marker) {
        return Err(format!("process {pid} ({marker}) survived SIGKILL"));
    }
    Ok(())
}

fn send_signal(pid: u32, signal: &str) -> Result<(), String> {
    // `kill` from procps: no unsafe libc call needed.
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    // A failure means it was already gone between the check and the signal.
    Ok(())
}

/// A free TCP port on 127.0.0.1 (the OS picks it).
///
/// # Errors
/// When no port can be bound.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Whether something accepts connections on 127.0.0.1:`port`.
///
/// A connection to a port nobody listens on can connect to itself (TCP
/// simultaneous open) when the kernel picks that same port as its source,
/// which it readily does for a port [`free_port`] just released: such a
/// connection does not count.
pub fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200))
        .is_ok_and(|stream| stream.local_addr().ok() != Some(addr))
}

/// Sends `request` to 127.0.0.1:`port` and returns what the server answers
/// before closing (or until the timeout).
pub fn exchange(port: u16, request: &[u8]) -> Option<String> {
    exchange_bytes(port, request).map(|reply| String::from_utf8_lossy(&reply).into_owned())
}

/// [`exchange`] for binary protocols.
pub fn exchange_bytes(port: u16, request: &[u8]) -> Option<Vec<u8>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request).ok()?;
    let mut buffer = [0u8; 512];
    let n = stream.read(&mut buffer).ok()?;
    Some(buffer[..n].to_vec())
}

/// The last `lines` lines of a log file, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owned_child_dies_with_its_handle() {
        let mut sleeper = Owned::spawn(Command::new("sleep").arg("30")).unwrap();
        let pid = sleeper.child.as_ref().unwrap().id();
        assert!(alive(pid));
        assert_eq!(sleeper.exited(), None);
        drop(sleeper);
        assert!(!alive(pid), "killed and reaped");
    }

    #[test]
    fn waiting_reports_an_exit_at_once_and_a_timeout_by_name() {
        let mut failing = Owned::spawn(&mut Command::new("false")).unwrap();
        let started = Instant::now();
        let error = failing
            .wait_until("false", Duration::from_secs(30), || false)
            .unwrap_err();
        assert!(error.contains("false exited while starting"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(30));
        let mut sleeper = Owned::spawn(Command::new("sleep").arg("30")).unwrap();
        let error = sleeper
            .wait_until("sleep", Duration::from_millis(50), || false)
            .unwrap_err();
        assert!(error.contains("not ready within"), "{error}");
        assert_eq!(
            Owned::spawn(Command::new("sleep").arg("30"))
                .unwrap()
                .wait_until("sleep", Duration::from_secs(1), || true),
            Ok(())
        );
    }
}
