//! The stack tooling keeps its promises: `up` is idempotent, `down` stops
//! exactly what it started and frees the port, and a component that cannot
//! start is named. Uses Redis, the quickest component, in profiles of its
//! own.

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn redis_port(profile: &str) -> u16 {
    let env = text(&xtask(&["stack", "env", "--profile", profile]));
    env.lines()
        .find_map(|line| line.strip_prefix("export SPRING_REDIS_PORT="))
        .map(|value| value.trim_matches('\'').parse().unwrap())
        .expect("env prints SPRING_REDIS_PORT")
}

#[test]
fn up_is_idempotent_and_down_frees_the_port() {
    let profile = "selftest-updown";
    xtask(&["stack", "down", "--profile", profile, "--wipe"]);

    let first = xtask(&["stack", "up", "redis", "--profile", profile]);
    assert!(first.status.success(), "{}", text(&first));
    let port = redis_port(profile);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());

    let second = xtask(&["stack", "up", "redis", "--profile", profile]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("already running"),
        "{}",
        text(&second)
    );

    let status = text(&xtask(&["stack", "status", "--profile", profile]));
    assert!(status.contains(&format!("127.0.0.1:{port}")), "{status}");

    let down = xtask(&["stack", "down", "--profile", profile, "--wipe"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still open after down"
    );
}

#[test]
fn a_taken_port_is_reported_naming_the_component_and_port() {
    let profile = "selftest-blocked";
    xtask(&["stack", "down", "--profile", profile, "--wipe"]);
    // Learn the port the stack will use, then occupy it.
    let port = redis_port(profile);
    let _blocker = TcpListener::bind(("127.0.0.1", port)).expect("port is free");

    let up = xtask(&["stack", "up", "redis", "--profile", profile]);
    let out = text(&up);
    assert!(!up.status.success(), "{out}");
    assert!(out.contains("redis"), "{out}");
    assert!(out.contains(&port.to_string()), "{out}");
    xtask(&["stack", "down", "--profile", profile, "--wipe"]);
}
