//! Webhooks over HTTP, to a receiver of the tests' own that checks every
//! signature with the Standard Webhooks library (`standardwebhooks`): an
//! organization registers an endpoint and hears its events, in order,
//! across an outage of the receiver and a rotation of the secret; an
//! endpoint that keeps failing is disabled and picks up where it was when
//! enabled; a slow endpoint holds nobody else; private addresses are
//! refused.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use orgman_testkit::{ALICE, BOB, CAROL, eventually};
use serde_json::{Value, json};

use crate::helpers::{Overrides, TestApp, assert_problem, body};

/// One request the receiver took.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    signatures: usize,
    body: Value,
    /// The secrets (by index in the receiver's list) it verifies with.
    verified_by: Vec<usize>,
}

/// What the receiver's handler shares with the test.
#[derive(Default)]
struct Inbox {
    received: Mutex<Vec<Received>>,
    /// The status answered (204 unless set).
    status: AtomicU16,
    /// Secrets to verify with.
    secrets: Mutex<Vec<String>>,
    /// Requests that did not verify with any secret.
    forged: AtomicUsize,
    /// Hold every request this long before answering.
    hold_ms: AtomicU16,
    /// Requests being held now.
    in_flight: AtomicUsize,
}

impl Inbox {
    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn types(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| {
                r.body["data"]["kind"]["type"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }
}

async fn take(request: HttpRequest, payload: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        if let Some(value) = request.headers().get(name) {
            headers.insert(
                name,
                http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
    }
    let secrets = inbox.secrets.lock().unwrap().clone();
    let verified_by: Vec<usize> = secrets
        .iter()
        .enumerate()
        .filter(|(_, secret)| {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(&payload, &headers)
                .is_ok()
        })
        .map(|(i, _)| i)
        .collect();
    if verified_by.is_empty() {
        inbox.forged.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::Unauthorized().finish();
    }
    let hold = inbox.hold_ms.load(Ordering::SeqCst);
    if hold > 0 {
        inbox.in_flight.fetch_add(1, Ordering::SeqCst);
        // The receiver is slow on purpose: longer than the service's
        // timeout, so the attempt is cut off by orgman, not ended here.
        tokio::time::sleep(Duration::from_millis(u64::from(hold))).await;
        inbox.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    let status = inbox.status.load(Ordering::SeqCst);
    if status != 0 && status != 204 {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .finish();
    }
    inbox.received.lock().unwrap().push(Received {
        id: headers["webhook-id"].to_str().unwrap().to_owned(),
        signatures: headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        body: serde_json::from_slice(&payload).unwrap(),
        verified_by,
    });
    HttpResponse::NoContent().finish()
}

/// A receiver on a loopback port that can be stopped and started again on
/// the same port.
struct Receiver {
    port: u16,
    inbox: web::Data<Inbox>,
    server: Option<actix_web::dev::ServerHandle>,
}

impl Receiver {
    fn start() -> Receiver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut receiver = Receiver {
            port,
            inbox: web::Data::new(Inbox::default()),
            server: None,
        };
        receiver.up();
        receiver
    }

    fn up(&mut self) {
        let inbox = self.inbox.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(inbox.clone())
                .route("/hook", web::post().to(take))
        })
        .workers(1)
        .bind(("127.0.0.1", self.port))
        .unwrap()
        .run();
        self.server = Some(server.handle());
        tokio::spawn(server);
    }

    async fn down(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop(false).await;
        }
    }

    /// Verifies with the secret of a registered endpoint from now on.
    fn trust(&self, hook: &Value) {
        let secret = hook["secret"].as_str().unwrap().to_owned();
        self.inbox.secrets.lock().unwrap().push(secret);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }
}

async fn register(app: &TestApp, org: &str, token: &str, url: &str, types: Value) -> Value {
    let created = app
        .post(
            &format!("/api/v1/organizations/{org}/webhooks"),
            token,
            json!({"url": url, "eventTypes": types, "enabled": true}),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    body(created).await
}

async fn add_member(app: &TestApp, org: &str, token: &str, user: &orgman_testkit::RealmUser) {
    app.provision(*user).await;
    let added = app
        .post(
            &format!("/api/v1/organizations/{org}/members"),
            token,
            json!({"userId": user.id}),
        )
        .await;
    assert_eq!(added.status(), 201);
}

#[tokio::test]
async fn events_arrive_signed_and_in_order_across_an_outage_and_a_rotation() {
    let app = TestApp::spawn().await;
    let mut receiver = Receiver::start();
    let org = app.org_owned_by("hooked", ALICE).await;
    let alice = app.token(ALICE).await;
    let hook = register(
        &app,
        &org,
        &alice,
        &receiver.url(),
        json!(["organization.member.added", "organization.member.removed"]),
    )
    .await;
    let first_secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(first_secret.starts_with("whsec_"), "{first_secret}");
    receiver.inbox.secrets.lock().unwrap().push(first_secret);
    let hook_path = format!(
        "/api/v1/organizations/{org}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );
    let listed = body(
        app.get(&format!("/api/v1/organizations/{org}/webhooks"), &alice)
            .await,
    )
    .await;
    assert!(listed["items"][0].get("secret").is_none(), "never listed");

    add_member(&app, &org, &alice, &BOB).await;
    eventually(
        "the first event arrives",
        Duration::from_secs(20),
        || async { receiver.inbox.received().len() == 1 },
    )
    .await;
    let first = &receiver.inbox.received()[0];
    assert_eq!(first.body["specversion"], "1.0");
    assert_eq!(first.body["data"]["kind"]["type"], "memberAdded");
    assert_eq!(first.body["data"]["kind"]["userId"], BOB.id.to_string());
    assert_eq!(first.body["subject"], org.as_str());

    // The receiver goes away; two more changes, and a rotation meanwhile.
    receiver.down().await;
    add_member(&app, &org, &alice, &CAROL).await;
    let removed = app
        .delete(
            &format!("/api/v1/organizations/{org}/members/{}", BOB.id),
            &alice,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let deliveries = format!("{hook_path}/deliveries");
    eventually(
        "attempts fail while it is down",
        Duration::from_secs(20),
        || async {
            let listed = body(app.get(&deliveries, &alice).await).await;
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["state"] == "pending" && !d["attempts"].as_array().unwrap().is_empty())
        },
    )
    .await;
    let rotated = app
        .post(
            &format!("{hook_path}/rotate-secret"),
            &alice,
            json!({"overlapSeconds": 3600}),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated = body(rotated).await;
    let second_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert!(!rotated["previousSecretExpiresAt"].is_null());
    receiver.inbox.secrets.lock().unwrap().push(second_secret);
    receiver.up();

    eventually("the rest arrive", Duration::from_secs(30), || async {
        receiver.inbox.received().len() >= 3
    })
    .await;
    let received = receiver.inbox.received();
    assert_eq!(
        receiver.inbox.types(),
        ["memberAdded", "memberAdded", "memberRemoved"],
        "in order, none lost, none twice"
    );
    assert_eq!(
        received[1].body["data"]["kind"]["userId"],
        CAROL.id.to_string()
    );
    // Signed after the rotation with both secrets, each verifying alone.
    for later in &received[1..] {
        assert_eq!(later.signatures, 2);
        assert_eq!(later.verified_by, [0, 1]);
    }
    assert_eq!(receiver.inbox.forged.load(Ordering::SeqCst), 0);
    let listed = body(app.get(&deliveries, &alice).await).await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|d| d["state"] == "delivered"));
    // Newest first; each listed id is the webhook-id the receiver saw.
    let ids: Vec<&str> = items.iter().map(|d| d["id"].as_str().unwrap()).collect();
    let seen: Vec<&str> = received.iter().rev().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, seen);
}

#[tokio::test]
async fn a_failing_endpoint_is_disabled_then_resumes_where_it_was() {
    let app = TestApp::builder()
        .settings(Overrides(HashMap::from([(
            "ORGMAN_WEBHOOKS_DISABLE_AFTER_FAILURES",
            "3".to_owned(),
        )])))
        .spawn()
        .await;
    let receiver = Receiver::start();
    receiver.inbox.status.store(500, Ordering::SeqCst);
    let org = app.org_owned_by("failing-hook", ALICE).await;
    let alice = app.token(ALICE).await;
    let hook = register(
        &app,
        &org,
        &alice,
        &receiver.url(),
        json!(["organization.member.added"]),
    )
    .await;
    receiver.trust(&hook);
    let hook_path = format!(
        "/api/v1/organizations/{org}/webhooks/{}",
        hook["id"].as_str().unwrap()
    );

    add_member(&app, &org, &alice, &BOB).await;
    eventually(
        "the endpoint is disabled",
        Duration::from_secs(30),
        || async { body(app.get(&hook_path, &alice).await).await["enabled"] == false },
    )
    .await;
    let disabled = body(app.get(&hook_path, &alice).await).await;
    assert_eq!(disabled["disabledReason"], "the endpoint answered 500");
    let deliveries = body(app.get(&format!("{hook_path}/deliveries"), &alice).await).await;
    let pending = &deliveries["items"][0];
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(pending["attempts"][0]["status"], 500);
    // A pending delivery is not sent again by hand.
    let retry = format!(
        "{hook_path}/deliveries/{}/retry",
        pending["id"].as_str().unwrap()
    );
    assert_problem(
        app.post(&retry, &alice, json!({})).await,
        409,
        "webhook-delivery-pending",
    )
    .await;
    // The disabling is an event of the organization, by no one.
    eventually(
        "the disabling is recorded",
        Duration::from_secs(10),
        || async {
            app.count(&format!(
                "SELECT count(*) AS n FROM outbox_events WHERE aggregate_id = '{org}' \
             AND event_type = 'organization.webhook.disabled'"
            ))
            .await
                == 1
        },
    )
    .await;

    // Fixed and enabled again: the waiting delivery goes out.
    receiver.inbox.status.store(204, Ordering::SeqCst);
    let enabled = app
        .patch(&hook_path, &alice, json!({"enabled": true}))
        .await;
    assert_eq!(enabled.status(), 200);
    assert!(body(enabled).await.get("disabledReason").is_none());
    eventually(
        "the waiting delivery arrives",
        Duration::from_secs(20),
        || async { receiver.inbox.received().len() == 1 },
    )
    .await;
    // A delivered one can be sent again; the receiver sees the same id.
    let delivered = pending["id"].as_str().unwrap();
    let resent = app.post(&retry, &alice, json!({})).await;
    assert_eq!(resent.status(), 202);
    eventually("it is sent again", Duration::from_secs(20), || async {
        receiver.inbox.received().len() == 2
    })
    .await;
    let received = receiver.inbox.received();
    assert_eq!(received[0].id, delivered);
    assert_eq!(received[1].id, delivered);
}

#[tokio::test]
async fn a_slow_endpoint_holds_nobody_else() {
    let app = TestApp::spawn().await;
    let slow = Receiver::start();
    slow.inbox.hold_ms.store(10_000, Ordering::SeqCst);
    let quick = Receiver::start();
    let held = app.org_owned_by("slow-hook", ALICE).await;
    let other = app.org_owned_by("quick-hook", CAROL).await;
    let alice = app.token(ALICE).await;
    let carol = app.token(CAROL).await;
    for (org, token, receiver) in [(&held, &alice, &slow), (&other, &carol, &quick)] {
        let hook = register(&app, org, token, &receiver.url(), json!(["*"])).await;
        receiver.trust(&hook);
    }
    add_member(&app, &held, &alice, &BOB).await;
    eventually(
        "the slow endpoint holds a request",
        Duration::from_secs(20),
        || async { slow.inbox.in_flight.load(Ordering::SeqCst) == 1 },
    )
    .await;
    add_member(&app, &other, &carol, &BOB).await;
    eventually(
        "the other endpoint hears at once",
        Duration::from_secs(5),
        || async { quick.inbox.received().len() == 1 },
    )
    .await;
    assert_eq!(
        slow.inbox.in_flight.load(Ordering::SeqCst),
        1,
        "delivered while the slow one was still held"
    );
}

#[tokio::test]
async fn only_public_addresses_over_https_are_accepted() {
    let app = TestApp::builder()
        .settings(Overrides(HashMap::from([(
            "ORGMAN_WEBHOOKS_ALLOW_HTTP_LOOPBACK",
            "false".to_owned(),
        )])))
        .spawn()
        .await;
    let org = app.org_owned_by("guarded-hook", ALICE).await;
    let alice = app.token(ALICE).await;
    let path = format!("/api/v1/organizations/{org}/webhooks");
    for (url, code) in [
        ("http://127.0.0.1:9/hook", "webhook-url-not-allowed"),
        ("https://127.0.0.1/hook", "webhook-url-not-allowed"),
        ("https://10.1.2.3/hook", "webhook-url-not-allowed"),
        (
            "https://169.254.169.254/latest/meta-data",
            "webhook-url-not-allowed",
        ),
        ("https://[::1]/hook", "webhook-url-not-allowed"),
        ("ftp://example.com/hook", "webhook-invalid"),
        ("https://user:pw@example.com/hook", "webhook-invalid"),
    ] {
        let refused = app
            .post(&path, &alice, json!({"url": url, "eventTypes": ["*"]}))
            .await;
        assert_problem(refused, 422, code).await;
    }
    let unknown = app
        .post(
            &path,
            &alice,
            json!({"url": "https://hooks.example.com/x", "eventTypes": ["organization.exploded"]}),
        )
        .await;
    assert_problem(unknown, 422, "webhook-invalid").await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_endpoints")
            .await,
        0,
        "nothing stored"
    );
    // Without webhooks:manage nothing is seen.
    app.provision(BOB).await;
    let bob = app.token(BOB).await;
    assert_problem(app.get(&path, &bob).await, 404, "organization-not-found").await;
}
