//! `cargo xtask`: the project's automation, written in Rust so it runs
//! wherever cargo does (see matklad's cargo-xtask).
//!
//! ```text
//! cargo xtask test     run every test of the workspace (and doctests)
//! ```

use std::env;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod project;

fn main() -> ExitCode {
    match run(env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let (command, rest) = args
        .split_first()
        .map_or(("help", &[][..]), |(c, r)| (c.as_str(), r));
    match command {
        "test" => test(rest),
        "help" | "--help" | "-h" => {
            print!("{}", HELP);
            Ok(())
        }
        other => bail!("unknown command {other:?}\n{HELP}"),
    }
}

const HELP: &str = "\
usage: cargo xtask <command>

  test [ARGS]   run the whole test suite (nextest, then doctests); extra
                ARGS go to nextest (e.g. a test name filter)
";

/// Runs every test in the workspace, then the doctests (nextest does not run
/// doctests).
fn test(extra: &[String]) -> Result<()> {
    let root = project::root()?;
    let mut nextest = Command::new(project::cargo());
    nextest
        .current_dir(&root)
        .args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ])
        .args(extra);
    project::run(&mut nextest).context("tests failed")?;
    if extra.is_empty() {
        let mut doctests = Command::new(project::cargo());
        doctests
            .current_dir(&root)
            .args(["test", "--doc", "--workspace", "--all-features"]);
        project::run(&mut doctests).context("doctests failed")?;
    }
    Ok(())
}
