//! Records the git commit and build time for `/actuator/info`, and embeds
//! the console's built files (`console/dist`, made by `npm run build`) when
//! they are there: a Rust-only build without Node still compiles, and its
//! `/console` says how to build the page.

use std::path::{Path, PathBuf};
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
    embed_console();
}

/// Writes `$OUT_DIR/console_assets.rs`: `CONSOLE_ASSETS`, each file of
/// `console/dist` by its path there, with its bytes.
fn embed_console() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("console/dist");
    println!("cargo::rerun-if-changed=console/dist");
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &mut files);
    }
    files.sort();
    let mut code = String::from("/// The console's built files (empty: not built).\n");
    code.push_str("pub(crate) static CONSOLE_ASSETS: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let name = file
            .strip_prefix(&dist)
            .expect("under dist")
            .to_string_lossy()
            .replace('\\', "/");
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({path:?})),\n",
            path = file.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("console_assets.rs"), code).expect("console_assets.rs");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
