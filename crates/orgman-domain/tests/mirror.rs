//! The organization mirror at the login broker, through the use cases and
//! the outbox relay with in-memory ports.

mod support;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use orgman_domain::ports::{BrokerOrganizations, MirrorMark, MirrorQueue, Outbox, OutboxSink};
use orgman_domain::time::Duration;
use orgman_domain::{
    DomainName, DomainPolicyChange, DomainService, LifecycleAction, LoginRedirect, MemberMirroring,
    MirroredOrganization, OrgRole, OrganizationMirror, OutboxRelay, SsoDraft, SsoService, UserId,
};
use orgman_memory::{FakeCipher, MemoryBrokerOrganizations, MemoryTxt, block_on};
use support::World;

struct Setup {
    w: World,
    broker: Arc<MemoryBrokerOrganizations>,
    mirror: Arc<OrganizationMirror>,
    relay: OutboxRelay,
}

fn setup() -> Setup {
    setup_copying(MemberMirroring::All)
}

fn setup_copying(members: MemberMirroring) -> Setup {
    let w = World::new();
    let store = w.memory.store.clone();
    let broker = Arc::new(MemoryBrokerOrganizations::new());
    let mirror = Arc::new(
        OrganizationMirror::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            broker.clone(),
        )
        .with_members(members),
    );
    let relay = OutboxRelay::new(store, mirror.clone(), OutboxSink::OrganizationMirror, 100);
    Setup {
        w,
        broker,
        mirror,
        relay,
    }
}

/// The outbox relayed, then every marked organization's members synced.
fn drain(s: &Setup) {
    while block_on(s.relay.run_once()).unwrap().claimed > 0 {}
    while block_on(s.mirror.sync_next(StdDuration::ZERO, StdDuration::ZERO))
        .unwrap()
        .is_some()
    {}
}

fn members(s: &Setup, org: orgman_domain::OrganizationId) -> Vec<UserId> {
    s.broker.held()[&org].1.iter().copied().collect()
}

fn marked(s: &Setup) -> u64 {
    block_on(s.w.memory.store.marked()).unwrap()
}

#[test]
fn an_organization_its_members_domains_providers_and_state_are_mirrored() {
    let s = setup();
    let ann = s.w.user("ann");
    let bob = s.w.user("bob");
    let org = s.w.org_owned_by("acme", &ann);
    drain(&s);
    let (held, _) = &s.broker.held()[&org.id()];
    assert_eq!(
        *held,
        MirroredOrganization {
            id: org.id(),
            slug: "acme".into(),
            name: org.name().as_str().to_owned(),
            enabled: true,
            domains: vec![],
            identity_providers: vec![],
            login_redirect: None,
        }
    );
    // The admin who created it was removed again: only Ann is a member.
    assert_eq!(members(&s, org.id()), vec![ann.user_id()]);

    block_on(
        s.w.service
            .add_member(&ann, org.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();
    drain(&s);
    let mut both = vec![ann.user_id(), bob.user_id()];
    both.sort();
    assert_eq!(members(&s, org.id()), both);
    block_on(s.w.service.remove_member(&ann, org.id(), bob.user_id())).unwrap();
    drain(&s);
    assert_eq!(members(&s, org.id()), vec![ann.user_id()]);

    // Verified domains only.
    let dns = Arc::new(MemoryTxt::default());
    let domains = DomainService::new(
        Arc::new(s.w.memory.service()),
        s.w.memory.store.clone(),
        dns.clone(),
    );
    let claimed =
        block_on(domains.claim(&ann, org.id(), DomainName::parse("acme.example").unwrap()))
            .unwrap();
    block_on(domains.claim(
        &ann,
        org.id(),
        DomainName::parse("pending.example").unwrap(),
    ))
    .unwrap();
    dns.publish(&claimed.record_name(), &claimed.challenge);
    block_on(domains.verify(&ann, org.id(), &claimed.name)).unwrap();
    drain(&s);
    assert_eq!(
        s.broker.held()[&org.id()].0.domains,
        vec!["acme.example".to_owned()]
    );

    // Its SSO configurations' providers are linked.
    let sso = SsoService::new(
        Arc::new(s.w.memory.service()),
        s.w.memory.store.clone(),
        Some(Arc::new(FakeCipher::new("k1"))),
        s.w.memory.clock.clone(),
        s.w.memory.ids.clone(),
    );
    let draft = support::sso_draft("Acme login", "https://login.acme.example");
    let config = block_on(sso.create(&ann, Some(org.id()), draft)).unwrap();
    drain(&s);
    assert_eq!(
        s.broker.held()[&org.id()].0.identity_providers,
        vec![config.broker_alias()]
    );
    assert_eq!(s.broker.held()[&org.id()].0.login_redirect, None);
    // An `ssoRequired` domain sends its users to the provider.
    let required = DomainPolicyChange {
        auto_join: None,
        sso_required: Some(true),
    };
    block_on(domains.set_policy(&ann, org.id(), &claimed.name, required)).unwrap();
    drain(&s);
    assert_eq!(
        s.broker.held()[&org.id()].0.login_redirect,
        Some(LoginRedirect {
            domain: "acme.example".into(),
            identity_provider: config.broker_alias(),
        })
    );
    // Not through a disabled provider.
    let off = SsoDraft {
        enabled: Some(false),
        ..SsoDraft::default()
    };
    block_on(sso.update(&ann, Some(org.id()), config.id, off)).unwrap();
    drain(&s);
    assert_eq!(s.broker.held()[&org.id()].0.login_redirect, None);
    block_on(sso.delete(&ann, Some(org.id()), config.id)).unwrap();
    drain(&s);
    assert!(s.broker.held()[&org.id()].0.identity_providers.is_empty());

    // Suspended and pending deletion: disabled; purged: gone.
    block_on(
        s.w.service
            .transition(&s.w.admin, org.id(), LifecycleAction::Suspend),
    )
    .unwrap();
    drain(&s);
    assert!(!s.broker.held()[&org.id()].0.enabled);
    block_on(
        s.w.service
            .transition(&s.w.admin, org.id(), LifecycleAction::Reactivate),
    )
    .unwrap();
    drain(&s);
    assert!(s.broker.held()[&org.id()].0.enabled);
    block_on(
        s.w.service
            .transition(&ann, org.id(), LifecycleAction::RequestDeletion),
    )
    .unwrap();
    drain(&s);
    assert!(!s.broker.held()[&org.id()].0.enabled);
    s.w.memory.clock.advance(Duration::days(31));
    block_on(
        s.w.service
            .transition(&s.w.admin, org.id(), LifecycleAction::Purge),
    )
    .unwrap();
    drain(&s);
    assert!(!s.broker.held().contains_key(&org.id()));
}

#[test]
fn an_unavailable_broker_delays_the_mirror_and_loses_nothing() {
    let s = setup();
    let ann = s.w.user("ann");
    let bob = s.w.user("bob");
    s.broker.set_unavailable(true);
    let org = s.w.org_owned_by("acme", &ann);
    block_on(
        s.w.service
            .add_member(&ann, org.id(), bob.user_id(), OrgRole::Admin),
    )
    .unwrap();
    // The outbox settles: the events only mark the organization.
    let round = block_on(s.relay.run_once()).unwrap();
    assert!(round.delivered > 0);
    assert_eq!(round.retried, 0);
    assert_eq!(marked(&s), 1);
    // The copy fails once, one call, and the mark waits for the lease.
    assert!(block_on(s.mirror.sync_next(StdDuration::ZERO, StdDuration::ZERO)).is_err());
    assert_eq!(s.broker.calls(), 1);
    assert_eq!(marked(&s), 1);

    s.broker.set_unavailable(false);
    drain(&s);
    let mut both = vec![ann.user_id(), bob.user_id()];
    both.sort();
    assert_eq!(members(&s, org.id()), both);
    assert_eq!(marked(&s), 0);
}

#[test]
fn many_changes_to_one_organization_cost_one_copy() {
    let s = setup_copying(MemberMirroring::None);
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    drain(&s);
    let before = s.broker.calls();
    for n in 0..10 {
        let patch = orgman_domain::OrganizationPatch {
            name: Some(orgman_domain::OrgName::parse(&format!("Acme {n}")).unwrap()),
            ..Default::default()
        };
        block_on(s.w.service.update(&ann, org.id(), &patch, None)).unwrap();
    }
    drain(&s);
    assert_eq!(s.broker.calls() - before, 1, "one copy for ten renames");
    assert_eq!(s.broker.held()[&org.id()].0.name, "Acme 9");
}

#[test]
fn reconciliation_repairs_organizations_and_members() {
    let s = setup();
    let ann = s.w.user("ann");
    let bob = s.w.user("bob");
    let org = s.w.org_owned_by("acme", &ann);
    block_on(
        s.w.service
            .add_member(&ann, org.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();
    // Nothing mirrored yet (the events were never relayed), plus drift: an
    // organization orgman does not have.
    let stray = MirroredOrganization {
        id: orgman_domain::OrganizationId::from_uuid(orgman_domain::uuid::Uuid::from_u128(9)),
        slug: "stray".into(),
        name: "Stray".into(),
        enabled: true,
        domains: vec![],
        identity_providers: vec![],
        login_redirect: None,
    };
    block_on(s.broker.put_organization(&stray)).unwrap();

    let report = block_on(s.mirror.reconcile(false)).unwrap();
    assert_eq!((report.organizations, report.removed), (1, 1));
    assert!(members(&s, org.id()).is_empty(), "members only when asked");

    // A stranger at the broker, Bob missing.
    let stranger = s.w.user("stranger");
    block_on(s.broker.add_member(org.id(), stranger.user_id())).unwrap();
    let report = block_on(s.mirror.reconcile(true)).unwrap();
    assert_eq!((report.members_added, report.members_removed), (2, 1));
    let mut both = vec![ann.user_id(), bob.user_id()];
    both.sort();
    assert_eq!(members(&s, org.id()), both);
    assert_eq!(s.broker.held().len(), 1);
}

fn sso_service(s: &Setup) -> SsoService {
    SsoService::new(
        Arc::new(s.w.memory.service()),
        s.w.memory.store.clone(),
        Some(Arc::new(FakeCipher::new("k1"))),
        s.w.memory.clock.clone(),
        s.w.memory.ids.clone(),
    )
}

#[test]
fn a_large_change_of_members_settles_the_outbox_with_one_mark() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    for n in 0..20 {
        let user = s.w.user(&format!("user{n}"));
        block_on(
            s.w.service
                .add_member(&ann, org.id(), user.user_id(), OrgRole::Member),
        )
        .unwrap();
    }
    // The relay settles every event; the broker got nothing yet: the
    // organization waits in the queue, once.
    while block_on(s.relay.run_once()).unwrap().claimed > 0 {}
    assert_eq!(
        block_on(s.w.memory.store.backlog(OutboxSink::OrganizationMirror))
            .unwrap()
            .pending,
        0
    );
    assert!(s.broker.held().is_empty());
    assert_eq!(marked(&s), 1);
    let synced = block_on(s.mirror.sync_next(StdDuration::ZERO, StdDuration::ZERO))
        .unwrap()
        .expect("the organization was marked");
    assert_eq!(
        (synced.organization, synced.added, synced.removed),
        (org.id(), 21, 0)
    );
    assert_eq!(members(&s, org.id()).len(), 21);
    assert_eq!(marked(&s), 0);
    assert_eq!(
        block_on(s.mirror.sync_next(StdDuration::ZERO, StdDuration::ZERO)).unwrap(),
        None
    );
}

#[test]
fn linked_copies_members_only_while_the_organization_has_a_provider() {
    let s = setup_copying(MemberMirroring::Linked);
    let ann = s.w.user("ann");
    let bob = s.w.user("bob");
    let org = s.w.org_owned_by("acme", &ann);
    block_on(
        s.w.service
            .add_member(&ann, org.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();
    drain(&s);
    assert!(
        s.broker.held().contains_key(&org.id()),
        "the organization is"
    );
    assert!(members(&s, org.id()).is_empty(), "its members are not");

    let sso = sso_service(&s);
    let draft = support::sso_draft("Acme login", "https://login.acme.example");
    let config = block_on(sso.create(&ann, Some(org.id()), draft)).unwrap();
    drain(&s);
    let mut both = vec![ann.user_id(), bob.user_id()];
    both.sort();
    assert_eq!(members(&s, org.id()), both, "a provider brings them");

    block_on(s.w.service.remove_member(&ann, org.id(), bob.user_id())).unwrap();
    drain(&s);
    assert_eq!(members(&s, org.id()), vec![ann.user_id()]);

    block_on(sso.delete(&ann, Some(org.id()), config.id)).unwrap();
    drain(&s);
    assert!(
        members(&s, org.id()).is_empty(),
        "they leave with its last provider"
    );
}

#[test]
fn none_copies_no_member_and_reconciliation_leaves_them_alone() {
    let s = setup_copying(MemberMirroring::None);
    assert!(
        !s.mirror
            .event_types()
            .contains(&"organization.member.added")
    );
    assert!(s.mirror.event_types().contains(&"organization.created"));
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    drain(&s);
    assert!(s.broker.held().contains_key(&org.id()));
    assert!(members(&s, org.id()).is_empty());
    assert_eq!(marked(&s), 0);
    let stranger = s.w.user("stranger");
    block_on(s.broker.add_member(org.id(), stranger.user_id())).unwrap();
    let report = block_on(s.mirror.reconcile(true)).unwrap();
    assert_eq!((report.members_added, report.members_removed), (0, 0));
    assert_eq!(members(&s, org.id()), vec![stranger.user_id()]);
}

#[test]
fn a_broker_down_during_a_copy_gives_the_organization_back_for_later() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    while block_on(s.relay.run_once()).unwrap().claimed > 0 {}
    s.broker.set_unavailable(true);
    assert!(
        block_on(
            s.mirror
                .sync_next(StdDuration::ZERO, StdDuration::from_secs(3600))
        )
        .is_err()
    );
    assert_eq!(marked(&s), 1, "the mark stays");
    s.broker.set_unavailable(false);
    // Given back for an hour: nobody takes it before then.
    assert_eq!(
        block_on(s.mirror.sync_next(StdDuration::ZERO, StdDuration::ZERO)).unwrap(),
        None
    );
    assert_eq!(marked(&s), 1);
    assert!(!s.broker.held().contains_key(&org.id()));
}

#[test]
fn a_mark_made_while_a_worker_holds_the_organization_is_kept() {
    let s = setup();
    let store = &s.w.memory.store;
    let org = s.w.org_owned_by("acme", &s.w.user("ann")).id();
    let other = s.w.org_owned_by("other", &s.w.user("bob")).id();
    let mark = |organization| MirrorMark {
        organization,
        members: false,
    };
    block_on(store.mark(&[mark(org), mark(other), mark(org)])).unwrap();
    assert_eq!(marked(&s), 2);
    let first = block_on(store.take(StdDuration::from_secs(3600)))
        .unwrap()
        .unwrap();
    assert_eq!(first.organization, org, "the longest-marked first");
    let second = block_on(store.take(StdDuration::from_secs(3600)))
        .unwrap()
        .unwrap();
    assert_eq!(second.organization, other, "a held one is skipped");
    assert_eq!(
        block_on(store.take(StdDuration::from_secs(3600))).unwrap(),
        None
    );

    block_on(store.mark(&[MirrorMark {
        organization: org,
        members: true,
    }]))
    .unwrap();
    block_on(store.finish(first)).unwrap();
    block_on(store.finish(second)).unwrap();
    assert_eq!(marked(&s), 1, "marked again while held: kept");
    let again = block_on(store.take(StdDuration::from_secs(3600)))
        .unwrap()
        .expect("free to claim at once");
    assert_eq!(again.organization, org);
    assert!(again.members, "a later mark's members are kept");
    block_on(store.finish(again)).unwrap();
    assert_eq!(marked(&s), 0);
}
