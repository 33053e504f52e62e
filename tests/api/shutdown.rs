//! SIGTERM: the binary stops accepting, lets the request in flight finish,
//! and exits cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use orgman_testkit::{ADMIN, Stack};

#[tokio::test]
async fn an_in_flight_request_finishes_after_sigterm() {
    let stack = Stack::get();
    let database = stack.fresh_database().await;
    let token = stack.password_token(ADMIN).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (base, realm) = stack.oidc_issuer.split_once("/realms/").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_orgman-server"))
        .env_clear()
        .env("DATABASE_URL", &database)
        .env("SERVER_ADDRESS", "127.0.0.1")
        .env("SERVER_PORT", port.to_string())
        .env("SECURITY_OAUTH2_BASE_SERVER_URL", base)
        .env("SECURITY_OAUTH2_REALM", realm)
        .env("ORGMAN_CACHE_ENABLED", "false")
        .env("ORGMAN_OUTBOX_RELAY_ENABLED", "false")
        .env("LOGGING_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    // Ready, not merely listening: the identity provider's keys load in
    // the background, and a request that waits for them is not yet the
    // request in flight this test is about.
    let readiness = format!("http://127.0.0.1:{port}/actuator/health/readiness");
    orgman_testkit::eventually(
        "the service becomes ready",
        Duration::from_secs(30),
        || async {
            let ready = orgman_testkit::http().get(&readiness).send().await;
            ready.is_ok_and(|r| r.status() == 200)
        },
    )
    .await;

    // A request whose body is still arriving is in flight. `Expect:
    // 100-continue` makes the server say when it has taken the request
    // (no fixed sleep that a loaded machine outruns).
    let body = r#"{"name":"Late","slug":"late"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/organizations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len(),
    )
    .unwrap();
    stream.flush().unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut interim = String::new();
    reader.read_line(&mut interim).unwrap();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim:?}");
    let mut blank = String::new();
    reader.read_line(&mut blank).unwrap();
    stream.write_all(&body.as_bytes()[..10]).unwrap();
    stream.flush().unwrap();

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // New connections are no longer accepted (soon after the signal)...
    orgman_testkit::eventually_blocking(
        "new connections refused after SIGTERM",
        Duration::from_secs(5),
        || TcpStream::connect(("127.0.0.1", port)).is_err(),
    );
    // ...but the request in flight completes.
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    assert!(status_line.starts_with("HTTP/1.1 201"), "{status_line:?}");

    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    assert!(output.contains("stopped gracefully"), "{output}");
}
