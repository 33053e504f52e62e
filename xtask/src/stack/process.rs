//! Starting, probing and stopping the stack's processes, by PID.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Starts `command` in its own process group (so it outlives xtask and a
/// Ctrl-C in the terminal does not reach it), with stdout and stderr appended
/// to `log`. Returns its PID.
pub(crate) fn spawn_detached(command: &mut Command, log: &Path) -> Result<u32> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open log file {}", log.display()))?;
    let err = out.try_clone()?;
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    Ok(child.id())
}

/// Whether `pid` runs (exists and is not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
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
pub(crate) fn is_ours(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    alive(pid) && String::from_utf8_lossy(&cmdline).contains(marker)
}

/// Stops a process we started: `signal` first, SIGKILL if it is still there
/// after `grace`.
pub(crate) fn stop(pid: u32, marker: &str, signal: &str, grace: Duration) -> Result<()> {
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
    thread::sleep(Duration::from_millis(200));
    if is_ours(pid, marker) {
        bail!("process {pid} ({marker}) survived SIGKILL");
    }
    Ok(())
}

fn send_signal(pid: u32, signal: &str) -> Result<()> {
    // `kill` from procps: no unsafe libc call needed in xtask.
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        // Already gone between the check and the signal: fine.
        return Ok(());
    }
    Ok(())
}

/// A free TCP port on 127.0.0.1 (the OS picks it).
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a probe port")?;
    Ok(listener.local_addr()?.port())
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub(crate) fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Sends `request` to 127.0.0.1:`port` and returns what the server answers
/// before closing (or until the timeout).
pub(crate) fn exchange(port: u16, request: &[u8]) -> Option<String> {
    exchange_bytes(port, request).map(|reply| String::from_utf8_lossy(&reply).into_owned())
}

/// [`exchange`] for binary protocols.
pub(crate) fn exchange_bytes(port: u16, request: &[u8]) -> Option<Vec<u8>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request).ok()?;
    let mut buffer = [0u8; 512];
    let n = stream.read(&mut buffer).ok()?;
    Some(buffer[..n].to_vec())
}

/// The last `lines` lines of a log file, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
