//! The outbox relay: every committed event reaches the sink once, in order
//! per organization, across failures.

mod support;

use std::sync::Arc;

use orgman_domain::ports::{DeliveryError, Outbox, OutboxSink};
use orgman_domain::{OrgRole, OutboxRelay};
use orgman_memory::{RecordingSink, block_on};
use support::World;

fn relay(world: &World, sink: &Arc<RecordingSink>) -> OutboxRelay {
    OutboxRelay::new(
        world.memory.store.clone(),
        sink.clone(),
        OutboxSink::Broker,
        100,
    )
}

#[test]
fn every_committed_event_is_delivered_once_in_order() {
    let w = World::new();
    let owner = w.user("owner");
    let member = w.user("member");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    let sink = Arc::new(RecordingSink::new());
    let relay = relay(&w, &sink);
    let outcome = block_on(relay.run_once()).unwrap();
    assert_eq!(outcome.delivered, w.events());
    assert_eq!(sink.received(), w.memory.store.committed_events());
    assert_eq!(
        block_on(relay.run_once()).unwrap().claimed,
        0,
        "nothing twice"
    );
    let backlog = block_on(w.memory.store.backlog(OutboxSink::Broker)).unwrap();
    assert_eq!(backlog.pending, 0);
    // The other sink has its own progress.
    assert_eq!(
        block_on(w.memory.store.backlog(OutboxSink::Authorizer))
            .unwrap()
            .pending as usize,
        w.events()
    );
}

#[test]
fn a_sink_outage_loses_nothing() {
    let w = World::new();
    let owner = w.user("owner");
    w.org_owned_by("acme", &owner);
    let sink = Arc::new(RecordingSink::new());
    let relay = relay(&w, &sink);
    sink.set_down(true);
    for _ in 0..3 {
        let outcome = block_on(relay.run_once()).unwrap();
        assert_eq!(outcome.delivered, 0);
    }
    let backlog = block_on(w.memory.store.backlog(OutboxSink::Broker)).unwrap();
    assert_eq!(backlog.pending as usize, w.events());
    assert!(backlog.oldest.is_some());
    let failed = relay
        .stats()
        .failed
        .load(std::sync::atomic::Ordering::Relaxed) as usize;
    assert_eq!(
        failed,
        3 * w.events(),
        "one failed attempt per event and round"
    );
    assert!(
        w.memory
            .store
            .last_outbox_error(OutboxSink::Broker, 1)
            .unwrap()
            .contains("down")
    );
    sink.set_down(false);
    block_on(relay.run_once()).unwrap();
    assert_eq!(sink.received(), w.memory.store.committed_events());
}

#[test]
fn a_failure_holds_back_its_organization_only() {
    let w = World::new();
    let owner = w.user("owner");
    let a = w.org_owned_by("a", &owner);
    let b = w.org_owned_by("b", &owner);
    let sink = Arc::new(RecordingSink::new());
    let relay = relay(&w, &sink);
    // The first event (a's creation) fails once.
    sink.script([Some(DeliveryError::Retryable("timeout".into()))]);
    block_on(relay.run_once()).unwrap();
    let first: Vec<_> = sink.received().iter().map(|e| e.organization_id).collect();
    assert!(
        first.iter().all(|org| *org == b.id()),
        "only b got through: {first:?}"
    );
    block_on(relay.run_once()).unwrap();
    let all = sink.received();
    let of_a: Vec<_> = all
        .iter()
        .filter(|e| e.organization_id == a.id())
        .cloned()
        .collect();
    let expected: Vec<_> = w
        .memory
        .store
        .committed_events()
        .into_iter()
        .filter(|e| e.organization_id == a.id())
        .collect();
    assert_eq!(of_a, expected, "a's events arrive complete and in order");
}

#[test]
fn undeliverable_events_are_dead_lettered_without_blocking() {
    let w = World::new();
    let owner = w.user("owner");
    w.org_owned_by("acme", &owner);
    let sink = Arc::new(RecordingSink::new());
    let relay = relay(&w, &sink);
    sink.script([Some(DeliveryError::Permanent("too large".into()))]);
    let outcome = block_on(relay.run_once()).unwrap();
    assert_eq!(outcome.dead, 1);
    assert_eq!(outcome.delivered, w.events() - 1);
    let backlog = block_on(w.memory.store.backlog(OutboxSink::Broker)).unwrap();
    assert_eq!((backlog.pending, backlog.dead_lettered), (0, 1));
    assert_eq!(
        block_on(relay.run_once()).unwrap().claimed,
        0,
        "not retried"
    );
}

#[test]
fn a_second_claimer_gets_nothing_while_a_claim_is_open() {
    let w = World::new();
    let owner = w.user("owner");
    w.org_owned_by("acme", &owner);
    let store = w.memory.store.clone();
    let first = block_on(store.claim(OutboxSink::Broker, 10)).unwrap();
    assert!(!first.events().is_empty());
    let second = block_on(store.claim(OutboxSink::Broker, 10)).unwrap();
    assert!(second.events().is_empty());
    block_on(second.settle(&[], &[], &[])).unwrap();
    drop(first);
    let third = block_on(store.claim(OutboxSink::Broker, 10)).unwrap();
    assert_eq!(
        third.events().len(),
        w.events(),
        "a dropped claim leaves events pending"
    );
}
