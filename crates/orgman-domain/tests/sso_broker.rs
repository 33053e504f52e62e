//! SSO configurations at the login broker, through the use cases and the
//! outbox relay with in-memory ports: the copy follows every change, waits
//! out an unavailable broker, the reconciliation repairs drift, and first
//! logins through an auto-provisioning provider join its organization.

mod support;

use std::sync::Arc;

use orgman_domain::ports::{OutboxSink, SsoConfigRepository, UserRepository};
use orgman_domain::time::Duration;
use orgman_domain::{
    Actor, AutoJoin, BrokeredConnection, BrokeredProvider, ClientSecret, Email, IssuerUrl,
    LifecycleAction, OrgRole, OutboxRelay, ProviderSync, Provisioner, SsoConfig, SsoDraft,
    SsoService, UserId, UserProfile,
};
use orgman_memory::{FakeCipher, MemoryLoginBroker, block_on};
use support::World;

struct Setup {
    w: World,
    sso: Arc<SsoService>,
    broker: Arc<MemoryLoginBroker>,
    relay: OutboxRelay,
    sync: Arc<ProviderSync>,
}

fn setup() -> Setup {
    let w = World::new();
    let cipher = Arc::new(FakeCipher::new("k1"));
    let sso = Arc::new(SsoService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        Some(cipher.clone()),
        w.memory.clock.clone(),
        w.memory.ids.clone(),
    ));
    let broker = Arc::new(MemoryLoginBroker::new());
    let sync = Arc::new(
        ProviderSync::new(w.memory.store.clone(), cipher, broker.clone())
            .with_organizations(
                w.memory.store.clone(),
                w.memory.clock.clone(),
                w.memory.ids.clone(),
            )
            .with_login_domains(w.memory.store.clone()),
    );
    let relay = OutboxRelay::new(
        w.memory.store.clone(),
        sync.clone(),
        OutboxSink::LoginBroker,
        100,
    );
    Setup {
        w,
        sso,
        broker,
        relay,
        sync,
    }
}

fn draft(name: &str, auto_provision: bool) -> SsoDraft {
    SsoDraft {
        name: Some(name.into()),
        issuer_url: Some(
            IssuerUrl::parse("https://login.acme.example/realms/acme", false).unwrap(),
        ),
        client_id: Some("orgman".into()),
        client_secret: Some(ClientSecret::new("s3cret".into())),
        enabled: None,
        auto_provision: Some(auto_provision),
        ..Default::default()
    }
}

fn create(s: &Setup, owner: &Actor, org: orgman_domain::OrganizationId, name: &str) -> SsoConfig {
    block_on(s.sso.create(owner, Some(org), draft(name, true))).unwrap()
}

#[test]
fn the_broker_follows_every_change_of_a_configuration() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let config = create(&s, &ann, org.id(), "Acme login");
    assert!(s.broker.providers().is_empty(), "only after the relay runs");

    block_on(s.relay.run_once()).unwrap();
    let held = s.broker.providers();
    let provider = &held[&config.broker_alias()];
    assert_eq!(provider.display_name, "Acme login");
    let BrokeredConnection::Oidc { client_secret, .. } = &provider.connection else {
        panic!("an OpenID Connect provider");
    };
    assert_eq!(client_secret.expose(), "s3cret", "decrypted for the call");
    assert_eq!(provider.organization, Some(org.id()));
    assert!(provider.enabled);

    let off = SsoDraft {
        enabled: Some(false),
        ..SsoDraft::default()
    };
    block_on(s.sso.update(&ann, Some(org.id()), config.id, off)).unwrap();
    block_on(s.relay.run_once()).unwrap();
    assert!(!s.broker.providers()[&config.broker_alias()].enabled);

    block_on(s.sso.delete(&ann, Some(org.id()), config.id)).unwrap();
    block_on(s.relay.run_once()).unwrap();
    assert!(s.broker.providers().is_empty());
}

#[test]
fn an_unavailable_broker_delays_changes_and_a_late_event_never_restores_an_old_state() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    s.broker.set_unavailable(true);
    let config = create(&s, &ann, org.id(), "First name");
    let renamed = SsoDraft {
        name: Some("Second name".into()),
        ..SsoDraft::default()
    };
    block_on(s.sso.update(&ann, Some(org.id()), config.id, renamed)).unwrap();
    let round = block_on(s.relay.run_once()).unwrap();
    assert_eq!(round.delivered, round.claimed - 2, "both SSO events wait");
    assert_eq!(round.retried, 2);

    s.broker.set_unavailable(false);
    block_on(s.relay.run_once()).unwrap();
    // The creation's event, delivered after the rename, copies the
    // configuration as it is now.
    assert_eq!(
        s.broker.providers()[&config.broker_alias()].display_name,
        "Second name"
    );
    assert_eq!(block_on(s.relay.run_once()).unwrap().claimed, 0);
}

#[test]
fn reconciliation_copies_installation_configurations_and_removes_only_orphans_of_orgman() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let own = create(&s, &ann, org.id(), "Acme login");
    // Installation-wide: no event, so only the reconciliation copies it.
    let shared = block_on(s.sso.create(&s.w.admin, None, draft("Staff login", false))).unwrap();
    // Drift: an orphan under orgman's prefix, and the realm's own provider.
    let orphan = BrokeredProvider {
        alias: "orgman-00000000-0000-0000-0000-0000000000ff".into(),
        ..brokered(&own)
    };
    s.broker.insert(orphan.clone());
    let foreign = BrokeredProvider {
        alias: "google".into(),
        ..brokered(&own)
    };
    s.broker.insert(foreign);

    let report = block_on(s.sync.reconcile()).unwrap();
    assert_eq!((report.copied, report.removed), (2, 1));
    assert!(report.failed.is_empty());
    let aliases: Vec<String> = s.broker.providers().into_keys().collect();
    let mut expected = vec![
        own.broker_alias(),
        shared.broker_alias(),
        "google".to_owned(),
    ];
    expected.sort();
    assert_eq!(aliases, expected);

    s.broker.set_unavailable(true);
    assert!(block_on(s.sync.reconcile()).is_err());
}

#[test]
fn an_organizations_provider_logs_in_only_addresses_of_its_verified_domains() {
    use orgman_domain::DomainName;
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let config = create(&s, &ann, org.id(), "Acme login");
    let shared = block_on(s.sso.create(&s.w.admin, None, draft("Staff login", false))).unwrap();
    block_on(s.relay.run_once()).unwrap();
    block_on(s.sync.reconcile()).unwrap();
    let domains_of = |alias: &str| s.broker.providers()[alias].email_domains.clone();
    // No verified domain yet: nobody.
    assert_eq!(domains_of(&config.broker_alias()), Some(vec![]));
    // Installation-wide: anyone.
    assert_eq!(domains_of(&shared.broker_alias()), None);

    let (domains, _) = s.w.domains();
    s.w.verify_domain(&ann, org.id(), "acme.example");
    s.w.verify_domain(&ann, org.id(), "acme-labs.example");
    // Claimed, not verified: not listed.
    block_on(domains.claim(
        &ann,
        org.id(),
        DomainName::parse("pending.example").unwrap(),
    ))
    .unwrap();
    block_on(s.relay.run_once()).unwrap();
    assert_eq!(
        domains_of(&config.broker_alias()),
        Some(vec![
            "acme-labs.example".to_owned(),
            "acme.example".to_owned()
        ])
    );

    block_on(domains.delete(&ann, org.id(), &DomainName::parse("acme.example").unwrap())).unwrap();
    block_on(s.relay.run_once()).unwrap();
    assert_eq!(
        domains_of(&config.broker_alias()),
        Some(vec!["acme-labs.example".to_owned()])
    );
}

fn brokered(config: &SsoConfig) -> BrokeredProvider {
    BrokeredProvider {
        alias: config.broker_alias(),
        display_name: config.name.clone(),
        connection: BrokeredConnection::Oidc {
            issuer_url: config.oidc().unwrap().issuer_url.clone(),
            client_id: config.oidc().unwrap().client_id.clone(),
            client_secret: ClientSecret::new("x".into()),
        },
        enabled: true,
        organization: config.organization,
        login_domain: None,
        email_domains: None,
    }
}

#[test]
fn a_purge_removes_the_organizations_providers() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let kept_org = s.w.org_owned_by("other", &ann);
    let gone = create(&s, &ann, org.id(), "Acme login");
    let kept = create(&s, &ann, kept_org.id(), "Other login");
    block_on(s.relay.run_once()).unwrap();
    assert_eq!(s.broker.providers().len(), 2);

    block_on(
        s.w.service
            .transition(&ann, org.id(), LifecycleAction::RequestDeletion),
    )
    .unwrap();
    s.w.memory.clock.advance(Duration::days(31));
    transition(&s, org.id(), LifecycleAction::Purge);
    assert_eq!(
        block_on(SsoConfigRepository::get(&*s.w.memory.store, gone.id)).unwrap(),
        None
    );
    block_on(s.relay.run_once()).unwrap();
    let aliases: Vec<String> = s.broker.providers().into_keys().collect();
    assert_eq!(aliases, vec![kept.broker_alias()]);
}

fn profile(s: &Setup, email: &str) -> (Actor, UserProfile) {
    let id = UserId::from_uuid(s.w.memory.ids.next());
    let profile = UserProfile {
        id,
        subject: id.to_string(),
        email: Some(Email::parse(email).unwrap()),
        display_name: None,
        given_name: None,
        family_name: None,
    };
    (Actor::user(id), profile)
}

#[test]
fn a_first_login_through_an_auto_provisioning_provider_joins_its_organization() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let config = create(&s, &ann, org.id(), "Acme login");
    let manual = block_on(s.sso.create(&ann, Some(org.id()), draft("Manual", false))).unwrap();
    let provisioner =
        Provisioner::new(s.w.memory.store.clone()).with_sso_provisioning(s.sso.clone());
    let via = config.broker_alias();

    let (dora, dora_profile) = profile(&s, "dora@acme.example");
    let done = block_on(provisioner.provision_via(&dora, dora_profile.clone(), false, Some(&via)))
        .unwrap();
    let Some(AutoJoin::Joined(membership)) = done.auto_join else {
        panic!("not joined: {done:?}");
    };
    assert_eq!(membership.role, OrgRole::Member);
    assert_eq!(
        block_on(s.w.service.role_of(org.id(), dora.user_id())).unwrap(),
        Some(OrgRole::Member)
    );

    // A removed member is not added back at their next login.
    block_on(s.w.service.remove_member(&ann, org.id(), dora.user_id())).unwrap();
    let again =
        block_on(provisioner.provision_via(&dora, dora_profile, false, Some(&via))).unwrap();
    assert_eq!(again.auto_join, None);
    assert_eq!(
        block_on(s.w.service.role_of(org.id(), dora.user_id())).unwrap(),
        None
    );

    // Without autoProvision, through an unknown or foreign alias, or with
    // no alias: the user is created, and joins nothing.
    for alias in [
        Some(manual.broker_alias()),
        Some("orgman-00000000-0000-0000-0000-0000000000ff".to_owned()),
        Some("google".to_owned()),
        None,
    ] {
        let (actor, person) = profile(&s, &format!("{}@acme.example", actor_name(&alias)));
        let done =
            block_on(provisioner.provision_via(&actor, person, false, alias.as_deref())).unwrap();
        assert_eq!(done.auto_join, None, "{alias:?}");
        assert_eq!(
            block_on(s.w.service.role_of(org.id(), actor.user_id())).unwrap(),
            None
        );
        assert!(
            block_on(s.w.memory.store.user(actor.user_id()))
                .unwrap()
                .is_some()
        );
    }

    // Disabled: nobody joins through it.
    let off = SsoDraft {
        enabled: Some(false),
        ..SsoDraft::default()
    };
    block_on(s.sso.update(&ann, Some(org.id()), config.id, off)).unwrap();
    let (eve, eve_profile) = profile(&s, "eve@acme.example");
    let done = block_on(provisioner.provision_via(&eve, eve_profile, false, Some(&via))).unwrap();
    assert_eq!(done.auto_join, None);
}

fn actor_name(alias: &Option<String>) -> String {
    match alias {
        Some(alias) => alias
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect(),
        None => "nobody".into(),
    }
}

#[test]
fn a_full_or_suspended_organization_takes_no_one_and_the_user_is_still_created() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let config = create(&s, &ann, org.id(), "Acme login");
    let provisioner =
        Provisioner::new(s.w.memory.store.clone()).with_sso_provisioning(s.sso.clone());
    let via = config.broker_alias();

    block_on(s.w.service.set_member_limit(&s.w.admin, org.id(), Some(1))).unwrap();
    let (dora, person) = profile(&s, "dora@acme.example");
    let done = block_on(provisioner.provision_via(&dora, person, false, Some(&via))).unwrap();
    assert_eq!(
        done.auto_join,
        Some(AutoJoin::Skipped {
            organization: org.id()
        })
    );
    assert_eq!(
        block_on(s.w.service.role_of(org.id(), dora.user_id())).unwrap(),
        None
    );

    block_on(s.w.service.set_member_limit(&s.w.admin, org.id(), None)).unwrap();
    transition(&s, org.id(), LifecycleAction::Suspend);
    let (dan, person) = profile(&s, "dan@acme.example");
    let done = block_on(provisioner.provision_via(&dan, person, false, Some(&via))).unwrap();
    assert!(matches!(done.auto_join, Some(AutoJoin::Skipped { .. })));
    assert_eq!(
        block_on(s.w.service.role_of(org.id(), dan.user_id())).unwrap(),
        None
    );
}

/// A lifecycle action by the platform administrator.
fn transition(s: &Setup, org: orgman_domain::OrganizationId, action: LifecycleAction) {
    block_on(s.w.service.transition(&s.w.admin, org, action)).unwrap();
}

fn provider_disabled_events(s: &Setup) -> Vec<orgman_domain::DomainEvent> {
    s.w.memory
        .store
        .committed_events()
        .into_iter()
        .filter(|e| e.kind.type_name() == "organization.sso-config.provider-disabled")
        .collect()
}

#[test]
fn a_provider_whose_endpoints_fail_the_rules_is_switched_off_at_once_with_one_event() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let config = create(&s, &ann, org.id(), "Acme login");
    block_on(s.relay.run_once()).unwrap();
    assert!(s.broker.providers()[&config.broker_alias()].enabled);

    // The issuer's name now resolves to an internal address: the next
    // write and every reconciliation are refused by the broker's adapter.
    s.broker.set_refusing(true);
    let report = block_on(s.sync.reconcile()).unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        !s.broker.providers()[&config.broker_alias()].enabled,
        "the old provider must not stay enabled"
    );
    let events = provider_disabled_events(&s);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].organization_id, org.id());
    assert_eq!(events[0].actor, None, "done by orgman itself");
    match &events[0].kind {
        orgman_domain::EventKind::SsoProviderDisabled { config_id, reason } => {
            assert_eq!(*config_id, config.id);
            assert!(reason.contains("private address"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A change of the configuration is refused the same way; the provider
    // was off already, so no second event.
    let renamed = SsoDraft {
        name: Some("Renamed".into()),
        ..SsoDraft::default()
    };
    block_on(s.sso.update(&ann, Some(org.id()), config.id, renamed)).unwrap();
    block_on(s.relay.run_once()).unwrap();
    block_on(s.sync.reconcile()).unwrap();
    assert_eq!(provider_disabled_events(&s).len(), 1);
    // orgman's configuration is untouched: once the endpoints pass again,
    // the reconciliation switches the provider back on.
    assert!(
        block_on(SsoConfigRepository::get(&*s.w.memory.store, config.id))
            .unwrap()
            .unwrap()
            .enabled
    );
    s.broker.set_refusing(false);
    block_on(s.sync.reconcile()).unwrap();
    let held = &s.broker.providers()[&config.broker_alias()];
    assert!(held.enabled);
    assert_eq!(held.display_name, "Renamed");
}

#[test]
fn an_unavailable_broker_while_switching_off_is_retried() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let config = create(&s, &ann, org.id(), "Acme login");
    block_on(s.relay.run_once()).unwrap();
    s.broker.set_refusing(true);
    s.broker.set_unavailable(true);
    let outcome = block_on(s.sync.sync(config.id));
    assert!(
        matches!(
            outcome,
            Err(orgman_domain::ports::DeliveryError::Retryable(_))
        ),
        "{outcome:?}"
    );
    s.broker.set_unavailable(false);
    let outcome = block_on(s.sync.sync(config.id));
    assert!(
        matches!(
            outcome,
            Err(orgman_domain::ports::DeliveryError::Permanent(_))
        ),
        "{outcome:?}"
    );
    assert!(!s.broker.providers()[&config.broker_alias()].enabled);
    assert_eq!(provider_disabled_events(&s).len(), 1);
}

#[test]
fn a_suspended_organizations_providers_are_off_until_it_is_reactivated() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let other = s.w.org_owned_by("other", &ann);
    let config = create(&s, &ann, org.id(), "Acme login");
    let kept = create(&s, &ann, other.id(), "Other login");
    block_on(s.relay.run_once()).unwrap();
    let enabled = |alias: &str| s.broker.providers()[alias].enabled;
    assert!(enabled(&config.broker_alias()));

    transition(&s, org.id(), LifecycleAction::Suspend);
    block_on(s.relay.run_once()).unwrap();
    assert!(!enabled(&config.broker_alias()));
    assert!(
        enabled(&kept.broker_alias()),
        "other organizations unaffected"
    );
    // The reconciliation keeps it off.
    block_on(s.sync.reconcile()).unwrap();
    assert!(!enabled(&config.broker_alias()));
    assert!(provider_disabled_events(&s).is_empty(), "not a refusal");

    transition(&s, org.id(), LifecycleAction::Reactivate);
    block_on(s.relay.run_once()).unwrap();
    assert!(enabled(&config.broker_alias()));
    // Suspended while its endpoints fail the rules: the refused copy
    // still leaves the provider off.
    transition(&s, org.id(), LifecycleAction::Suspend);
    s.broker.set_refusing(true);
    block_on(s.relay.run_once()).unwrap();
    assert!(!enabled(&config.broker_alias()));
    s.broker.set_refusing(false);
    transition(&s, org.id(), LifecycleAction::Reactivate);
    block_on(s.relay.run_once()).unwrap();
    assert!(enabled(&config.broker_alias()));
    // A configuration switched off by its owner stays off on reactivation.
    let off = SsoDraft {
        enabled: Some(false),
        ..SsoDraft::default()
    };
    block_on(s.sso.update(&ann, Some(org.id()), config.id, off)).unwrap();
    for action in [LifecycleAction::Suspend, LifecycleAction::Reactivate] {
        transition(&s, org.id(), action);
    }
    block_on(s.relay.run_once()).unwrap();
    assert!(!enabled(&config.broker_alias()));
}

#[test]
fn an_auto_provisioned_user_keeps_the_address_only_of_a_domain_its_organization_verified() {
    use orgman_domain::ports::UserRepository;
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let config = create(&s, &ann, org.id(), "Acme login");
    let sso = Arc::new(
        SsoService::new(
            Arc::new(s.w.memory.service()),
            s.w.memory.store.clone(),
            Some(Arc::new(FakeCipher::new("k1"))),
            s.w.memory.clock.clone(),
            s.w.memory.ids.clone(),
        )
        .with_home_realm_discovery(s.w.memory.store.clone()),
    );
    let provisioner = Provisioner::new(s.w.memory.store.clone()).with_sso_provisioning(sso);
    s.w.verify_domain(&ann, org.id(), "acme.example");
    let via = config.broker_alias();
    let stored_email = |actor: &Actor| {
        block_on(s.w.memory.store.user(actor.user_id()))
            .unwrap()
            .unwrap()
            .email
            .map(|e| e.as_str().to_owned())
    };

    // An address of the organization's verified domain is kept ...
    let (dora, person) = profile(&s, "dora@acme.example");
    block_on(provisioner.provision_via(&dora, person, false, Some(&via))).unwrap();
    assert_eq!(stored_email(&dora).as_deref(), Some("dora@acme.example"));
    // ... any other is not: the provider vouches for its own domains only,
    // and nobody's address is squatted through it.
    let (mallory, person) = profile(&s, "victim@elsewhere.example");
    let done = block_on(provisioner.provision_via(&mallory, person, false, Some(&via))).unwrap();
    assert!(
        matches!(done.auto_join, Some(AutoJoin::Joined(_))),
        "{done:?}"
    );
    assert_eq!(stored_email(&mallory), None);
}
