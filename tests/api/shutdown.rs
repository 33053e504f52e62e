//! SIGTERM: the binary stops accepting, lets the request in flight finish,
//! and exits cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the service did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A request whose body is still arriving is in flight.
    let body = r#"{"name":"Late","slug":"late"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /api/v1/organizations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // New connections are no longer accepted (soon after the signal)...
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...but the request in flight completes.
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut status_line = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut status_line)
        .unwrap();
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
