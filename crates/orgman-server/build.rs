//! Records the git commit and build time for `/actuator/info`.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let commit = std::env::var("GIT_COMMIT").ok().or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    });
    println!(
        "cargo::rustc-env=ORGMAN_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    println!("cargo::rustc-env=ORGMAN_BUILD_UNIX_TIME={seconds}");
    println!("cargo::rerun-if-env-changed=GIT_COMMIT");
    println!("cargo::rerun-if-changed=../../.git/HEAD");
}
