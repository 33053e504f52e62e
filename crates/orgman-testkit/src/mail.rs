//! A mail sink: the smallest SMTP server Keycloak's mailer talks to (no
//! TLS, no authentication), keeping every message it is handed, so that a
//! test can assert what was sent, and to whom, and what was not.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as the sink received it.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The envelope's recipients (`RCPT TO`), as given.
    pub to: Vec<String>,
    /// Headers and body, as sent after `DATA`.
    pub data: String,
}

/// An SMTP listener on a loopback port of its own, for one test.
#[derive(Debug)]
pub struct MailSink {
    port: u16,
    received: Arc<Mutex<Vec<Mail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl MailSink {
    /// Starts listening on a free loopback port.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start() -> MailSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("an address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(session(stream, kept));
            }
        });
        MailSink {
            port,
            received,
            task,
        }
    }

    /// The port Keycloak's `smtpServer` names.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Mail> {
        self.received.lock().expect("not poisoned").clone()
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One SMTP conversation, keeping each message as its `DATA` ends.
async fn session(stream: TcpStream, kept: Arc<Mutex<Vec<Mail>>>) {
    let _ = converse(stream, &kept).await;
}

async fn converse(stream: TcpStream, kept: &Mutex<Vec<Mail>>) -> Option<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"220 orgman-test mail sink\r\n")
        .await
        .ok()?;
    let mut to = Vec::new();
    while let Some(line) = lines.next_line().await.ok()? {
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-orgman-test\r\n250 8BITMIME\r\n",
            "HELO" | "MAIL" | "RSET" | "NOOP" => b"250 OK\r\n",
            "RCPT" => {
                let address = line
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_matches(['<', '>']).to_owned())
                    .unwrap_or_default();
                to.push(address);
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await.ok()?;
                let mut data = String::new();
                while let Some(line) = lines.next_line().await.ok()? {
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push('\n');
                }
                kept.lock().expect("not poisoned").push(Mail {
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await.ok()?;
                break;
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(answer).await.ok()?;
    }
    Some(())
}
