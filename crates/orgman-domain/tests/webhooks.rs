//! Webhooks through the use cases, with a transport that records what it
//! would send: endpoints are managed under `webhooks:manage`; the outbox's
//! webhook sink records deliveries; the dispatcher attempts them per
//! endpoint in order, backs off, gives up, disables; a rotation signs with
//! both secrets for its overlap only.

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use orgman_domain::ports::{
    EventEncoder, OutboxSink, UrlRefused, WebhookRequest, WebhookTransport,
};
use orgman_domain::time::Duration;
use orgman_domain::{
    DeliveryAttempt, DeliveryState, DispatchSettings, DomainEvent, EventKind, EventTypes, OrgError,
    OrgRole, OutboxRelay, PageRequest, WebhookDispatcher, WebhookDraft, WebhookFanout,
    WebhookPorts, WebhookService, WebhookUrl,
};
use orgman_memory::{FakeCipher, PredictableTokens, block_on};
use support::World;

/// What the transport was asked to send, and what it answers next.
#[derive(Default)]
struct Wire {
    sent: Mutex<Vec<(String, usize)>>,
    /// Statuses to answer, in order; 204 once they run out.
    answers: Mutex<VecDeque<u16>>,
}

#[async_trait]
impl WebhookTransport for Wire {
    async fn admit(&self, url: &WebhookUrl) -> Result<(), UrlRefused> {
        if url.as_str().contains("internal") {
            Err(UrlRefused("a private address".into()))
        } else {
            Ok(())
        }
    }

    async fn send(&self, request: WebhookRequest<'_>) -> DeliveryAttempt {
        self.sent
            .lock()
            .unwrap()
            .push((request.body.to_owned(), request.secrets.len()));
        let status = self.answers.lock().unwrap().pop_front().unwrap_or(204);
        DeliveryAttempt {
            at: request.at,
            status: Some(status),
            error: (status >= 300).then(|| format!("the endpoint answered {status}")),
            duration_ms: 1,
        }
    }
}

impl Wire {
    fn bodies(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| b.clone())
            .collect()
    }
}

/// Bodies are the event type and the member's id.
struct Plain;

impl EventEncoder for Plain {
    fn encode(&self, event: &DomainEvent) -> String {
        let member = event
            .kind
            .member()
            .map(|m| m.to_string())
            .unwrap_or_default();
        format!("{} {member}", event.type_name())
    }
}

struct Hooks {
    service: Arc<WebhookService>,
    wire: Arc<Wire>,
    relay: OutboxRelay,
    dispatcher: WebhookDispatcher,
}

fn hooks(w: &World, settings: DispatchSettings) -> Hooks {
    let wire = Arc::new(Wire::default());
    let service = Arc::new(WebhookService::new(
        Arc::new(w.memory.service()),
        WebhookPorts {
            queries: w.memory.store.clone(),
            queue: w.memory.store.clone(),
            transport: wire.clone(),
            cipher: Some(Arc::new(FakeCipher::new("k1"))),
            tokens: Arc::new(PredictableTokens::default()),
        },
    ));
    let fanout = WebhookFanout::new(
        w.memory.store.clone(),
        Arc::new(Plain),
        Arc::new(orgman_domain::ports::NoSignal),
    )
    .with_clock(w.memory.clock.clone());
    let relay = OutboxRelay::new(
        w.memory.store.clone(),
        Arc::new(fanout),
        OutboxSink::Webhooks,
        100,
    );
    // The in-memory outbox hands every sink every event: what was committed
    // before is relayed first, as a running service would have done.
    block_on(relay.run_once()).unwrap();
    Hooks {
        relay,
        dispatcher: WebhookDispatcher::new(service.clone(), settings),
        service,
        wire,
    }
}

fn test_settings() -> DispatchSettings {
    DispatchSettings {
        retry_for: StdDuration::from_secs(600),
        backoff_base: StdDuration::from_secs(10),
        backoff_max: StdDuration::from_secs(60),
        disable_after: 4,
        ..DispatchSettings::default()
    }
}

fn draft(types: &[&str]) -> WebhookDraft {
    WebhookDraft {
        url: WebhookUrl::parse("https://hooks.example.com/in").unwrap(),
        event_types: EventTypes::parse(types).unwrap(),
        enabled: true,
    }
}

/// `ann` adds a new user of that name to the organization.
fn join(w: &World, ann: &orgman_domain::Actor, org: &orgman_domain::Organization, name: &str) {
    let user = w.user(name).user_id();
    block_on(w.service.add_member(ann, org.id(), user, OrgRole::Member)).unwrap();
}

/// Fans the outbox out, then dispatches everything due now.
fn pump(h: &Hooks) -> u32 {
    block_on(h.relay.run_once()).unwrap();
    let mut delivered = 0;
    for due in block_on(h.dispatcher.claim(10)).unwrap() {
        delivered += block_on(h.dispatcher.dispatch(due)).unwrap().delivered;
    }
    delivered
}

#[test]
fn deliveries_go_in_order_wait_out_their_backoff_and_are_never_sent_twice() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let h = hooks(&w, test_settings());
    block_on(
        h.service
            .create(&ann, org.id(), draft(&["organization.member.added"])),
    )
    .unwrap();
    let (bob, carol) = (w.user("bob"), w.user("carol"));
    for member in [&bob, &carol] {
        block_on(
            w.service
                .add_member(&ann, org.id(), member.user_id(), OrgRole::Member),
        )
        .unwrap();
    }
    // Not the endpoint's own creation (another type).
    h.wire.answers.lock().unwrap().push_back(503);
    assert_eq!(pump(&h), 0);
    assert_eq!(h.wire.bodies().len(), 1, "carol's waits behind bob's");
    assert_eq!(pump(&h), 0, "not due again before its backoff");
    assert_eq!(h.wire.bodies().len(), 1);
    w.memory.clock.advance(Duration::seconds(10));
    assert_eq!(pump(&h), 2);
    assert_eq!(
        h.wire.bodies(),
        [
            format!("organization.member.added {}", bob.user_id()),
            format!("organization.member.added {}", bob.user_id()),
            format!("organization.member.added {}", carol.user_id()),
        ]
    );
    assert_eq!(pump(&h), 0, "nothing is sent twice");
    let endpoint = block_on(h.service.list(&ann, org.id(), PageRequest::first()))
        .unwrap()
        .items[0]
        .id;
    let listed = block_on(
        h.service
            .deliveries(&ann, org.id(), endpoint, PageRequest::first()),
    )
    .unwrap();
    assert!(
        listed
            .items
            .iter()
            .all(|d| d.state == DeliveryState::Delivered)
    );
    assert_eq!(
        listed.items[1].attempts.len(),
        2,
        "bob's: a failure, then the delivery"
    );
}

#[test]
fn an_endpoint_failing_in_a_row_is_disabled_and_its_deliveries_wait() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let h = hooks(&w, test_settings());
    let made = block_on(
        h.service
            .create(&ann, org.id(), draft(&["organization.member.added"])),
    )
    .unwrap();
    join(&w, &ann, &org, "bob");
    h.wire.answers.lock().unwrap().extend([500; 4]);
    for _ in 0..4 {
        pump(&h);
        w.memory.clock.advance(Duration::seconds(60));
    }
    let endpoint = block_on(h.service.get(&ann, org.id(), made.endpoint.id)).unwrap();
    assert!(!endpoint.enabled);
    assert_eq!(
        endpoint.disabled_reason.as_deref(),
        Some("the endpoint answered 500")
    );
    let disabled = w
        .memory
        .store
        .committed_events()
        .into_iter()
        .find(|e| matches!(e.kind, EventKind::WebhookDisabled { failures: 4, .. }))
        .expect("an event says so");
    assert_eq!(disabled.actor, None, "the service's doing");
    assert_eq!(pump(&h), 0, "nothing goes to a disabled endpoint");
    let patch = orgman_domain::WebhookPatch {
        enabled: Some(true),
        ..Default::default()
    };
    block_on(h.service.update(&ann, org.id(), made.endpoint.id, patch)).unwrap();
    assert_eq!(pump(&h), 1, "the waiting delivery goes once enabled");
}

#[test]
fn a_delivery_past_its_retry_period_is_given_up_and_the_next_goes() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let h = hooks(&w, test_settings());
    block_on(
        h.service
            .create(&ann, org.id(), draft(&["organization.member.added"])),
    )
    .unwrap();
    join(&w, &ann, &org, "bob");
    h.wire.answers.lock().unwrap().push_back(500);
    pump(&h);
    join(&w, &ann, &org, "cy");
    w.memory.clock.advance(Duration::seconds(601));
    h.wire.answers.lock().unwrap().push_back(500);
    assert_eq!(pump(&h), 1, "bob's is given up, cy's goes");
    let endpoint = block_on(h.service.list(&ann, org.id(), PageRequest::first()))
        .unwrap()
        .items[0]
        .id;
    let listed = block_on(
        h.service
            .deliveries(&ann, org.id(), endpoint, PageRequest::first()),
    )
    .unwrap();
    let states: Vec<DeliveryState> = listed.items.iter().map(|d| d.state).collect();
    assert_eq!(states, [DeliveryState::Delivered, DeliveryState::Failed]);
    // A failed one can be sent again; a second ask while pending is refused.
    let failed = listed.items[1].id;
    block_on(h.service.retry(&ann, org.id(), endpoint, failed)).unwrap();
    assert_eq!(
        block_on(h.service.retry(&ann, org.id(), endpoint, failed)).unwrap_err(),
        OrgError::DeliveryPending
    );
    assert_eq!(pump(&h), 1);
}

#[test]
fn a_rotation_signs_with_both_secrets_for_its_overlap_only() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let h = hooks(&w, test_settings());
    let made = block_on(
        h.service
            .create(&ann, org.id(), draft(&["organization.member.added"])),
    )
    .unwrap();
    let rotated =
        block_on(
            h.service
                .rotate_secret(&ann, org.id(), made.endpoint.id, Duration::minutes(5)),
        )
        .unwrap();
    assert_ne!(rotated.secret.expose(), made.secret.expose());
    assert!(rotated.secret.expose().starts_with("whsec_"));
    assert!(rotated.secret.key().is_some(), "base64 after the prefix");
    join(&w, &ann, &org, "bob");
    pump(&h);
    w.memory.clock.advance(Duration::minutes(6));
    join(&w, &ann, &org, "cy");
    pump(&h);
    let secrets: Vec<usize> = h
        .wire
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(secrets, [2, 1], "bob's within the overlap, cy's after");
}

#[test]
fn endpoints_are_managed_under_their_permission_at_allowed_addresses_only() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let h = hooks(&w, test_settings());
    let bob = w.user("bob");
    block_on(
        w.service
            .add_member(&ann, org.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();
    assert!(matches!(
        block_on(h.service.create(&bob, org.id(), draft(&["*"]))),
        Err(OrgError::Forbidden { .. })
    ));
    let internal = WebhookDraft {
        url: WebhookUrl::parse("https://internal.example/in").unwrap(),
        ..draft(&["*"])
    };
    assert!(matches!(
        block_on(h.service.create(&ann, org.id(), internal)),
        Err(OrgError::WebhookUrlNotAllowed(_))
    ));
    assert!(EventTypes::parse(&["organization.nope"]).is_err());
    assert!(EventTypes::parse::<&str>(&[]).is_err());
    assert!(WebhookUrl::parse("https://u:p@example.com/").is_err());
    assert!(
        block_on(h.service.list(&ann, org.id(), PageRequest::first()))
            .unwrap()
            .items
            .is_empty()
    );
}
