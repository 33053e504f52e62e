//! Starting, probing and stopping the stack's processes, by PID: the shared
//! launcher (`orgman-launch`), with xtask's error type.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

pub(crate) use orgman_launch::{alive, exchange, exchange_bytes, is_ours, port_open, tail};

/// [`orgman_launch::spawn_detached`], naming the program when it fails.
pub(crate) fn spawn_detached(command: &mut Command, log: &Path) -> Result<u32> {
    orgman_launch::spawn_detached(command, log).with_context(|| {
        format!(
            "cannot start {:?} (log {})",
            command.get_program(),
            log.display()
        )
    })
}

/// [`orgman_launch::stop`].
pub(crate) fn stop(pid: u32, marker: &str, signal: &str, grace: Duration) -> Result<()> {
    orgman_launch::stop(pid, marker, signal, grace).map_err(anyhow::Error::msg)
}

/// [`orgman_launch::free_port`].
pub(crate) fn free_port() -> Result<u16> {
    orgman_launch::free_port().context("cannot bind a probe port")
}
