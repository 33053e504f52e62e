//! Embeds the SQL migrations of `migrations/` (diesel's up/down layout) into
//! the crate, in name order, so every binary carries the schema it needs.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("migrations/ exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("up.sql").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut code = String::from("&[\n");
    for name in &names {
        let path = dir.join(name);
        println!("cargo::rerun-if-changed={}", path.display());
        let down = path.join("down.sql");
        writeln!(
            code,
            "    Migration {{ name: {name:?}, up: include_str!({up:?}), down: {down} }},",
            up = path
                .join("up.sql")
                .canonicalize()
                .unwrap()
                .display()
                .to_string(),
            down = if down.exists() {
                format!(
                    "Some(include_str!({:?}))",
                    down.canonicalize().unwrap().display().to_string()
                )
            } else {
                "None".to_owned()
            }
        )
        .unwrap();
    }
    code.push(']');
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("migrations.rs");
    fs::write(out, code).unwrap();
}
