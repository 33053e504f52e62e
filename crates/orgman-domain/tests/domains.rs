//! Verified domains through the use cases, with the in-memory ports.

mod support;

use std::sync::Arc;

use orgman_domain::{
    Actor, AutoJoin, DomainName, DomainPolicy, DomainPolicyChange, DomainService, EventKind,
    LifecycleAction, OrgError, OrgRole, Permission, Provisioner, UserId, UserProfile,
};
use orgman_memory::{MemoryTxt, block_on};
use support::World;

fn name(text: &str) -> DomainName {
    DomainName::parse(text).unwrap()
}

#[test]
fn a_claim_is_verified_by_its_txt_record_and_by_one_organization_only() {
    let w = World::new();
    let ann = w.user("ann");
    let acme = w.org_owned_by("acme", &ann);
    let rival = w.org_owned_by("rival", &ann);
    let dns = Arc::new(MemoryTxt::default());
    let domains = DomainService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        dns.clone(),
    );

    let claim = block_on(domains.claim(&ann, acme.id(), name("Acme.Example"))).unwrap();
    assert_eq!(claim.record_name(), "_orgman-challenge.acme.example");
    assert!(claim.verified_at.is_none());
    assert_eq!(
        block_on(domains.claim(&ann, acme.id(), name("acme.example"))),
        Err(OrgError::DomainClaimed)
    );
    let rival_claim = block_on(domains.claim(&ann, rival.id(), name("acme.example"))).unwrap();
    assert_ne!(rival_claim.challenge, claim.challenge);

    // Nothing published yet, then the wrong value: not verified.
    assert_eq!(
        block_on(domains.verify(&ann, acme.id(), &name("acme.example"))),
        Err(OrgError::DomainNotVerified {
            record: "_orgman-challenge.acme.example".into()
        })
    );
    dns.publish(&claim.record_name(), "something else");
    assert!(block_on(domains.verify(&ann, acme.id(), &name("acme.example"))).is_err());
    dns.publish(&claim.record_name(), &claim.challenge);
    let verified = block_on(domains.verify(&ann, acme.id(), &name("acme.example"))).unwrap();
    assert!(verified.verified_at.is_some());
    let event = w.memory.store.committed_events().pop().unwrap();
    assert_eq!(
        event.kind,
        EventKind::DomainVerified {
            domain: name("acme.example")
        }
    );
    // Again: nothing changes.
    let events = w.events();
    block_on(domains.verify(&ann, acme.id(), &name("acme.example"))).unwrap();
    assert_eq!(w.events(), events);

    // The rival publishes its own value: too late.
    dns.publish(&rival_claim.record_name(), &rival_claim.challenge);
    assert_eq!(
        block_on(domains.verify(&ann, rival.id(), &name("acme.example"))),
        Err(OrgError::DomainVerifiedElsewhere)
    );
    // Once Acme gives it up, the rival can verify it.
    block_on(domains.delete(&ann, acme.id(), &name("acme.example"))).unwrap();
    assert!(
        block_on(domains.verify(&ann, rival.id(), &name("acme.example")))
            .unwrap()
            .verified_at
            .is_some()
    );
    assert_eq!(
        block_on(domains.delete(&ann, acme.id(), &name("acme.example"))),
        Err(OrgError::DomainNotFound)
    );
}

#[test]
fn only_owners_and_admins_manage_domains_within_the_limit() {
    let w = World::new();
    let ann = w.user("ann");
    let acme = w.org_owned_by("acme", &ann);
    let (mia, out) = (w.user("mia"), w.user("out"));
    block_on(
        w.service
            .add_member(&ann, acme.id(), mia.user_id(), OrgRole::Member),
    )
    .unwrap();
    let domains = DomainService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        Arc::new(MemoryTxt::default()),
    );
    assert_eq!(
        block_on(domains.claim(&mia, acme.id(), name("acme.example"))),
        Err(OrgError::Forbidden {
            permission: Permission::DomainsManage
        })
    );
    assert_eq!(
        block_on(domains.list(&out, acme.id())),
        Err(OrgError::NotFound)
    );
    for n in 0..DomainService::MAX_PER_ORGANIZATION {
        block_on(domains.claim(&ann, acme.id(), name(&format!("d{n}.example")))).unwrap();
    }
    assert_eq!(
        block_on(domains.claim(&ann, acme.id(), name("one-more.example"))),
        Err(OrgError::DomainLimitReached {
            max: DomainService::MAX_PER_ORGANIZATION
        })
    );
    assert_eq!(
        block_on(domains.list(&ann, acme.id())).unwrap().len() as u64,
        DomainService::MAX_PER_ORGANIZATION
    );
}

/// Acme with `acme.example` verified, its owner, and the use cases.
struct Verified {
    w: World,
    ann: orgman_domain::Actor,
    acme: orgman_domain::Organization,
    domains: Arc<DomainService>,
    provisioner: Provisioner,
}

fn verified_acme() -> Verified {
    let w = World::new();
    let ann = w.user("ann");
    let acme = w.org_owned_by("acme", &ann);
    let dns = Arc::new(MemoryTxt::default());
    let domains = Arc::new(DomainService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        dns.clone(),
    ));
    let claim = block_on(domains.claim(&ann, acme.id(), name("acme.example"))).unwrap();
    dns.publish(&claim.record_name(), &claim.challenge);
    block_on(domains.verify(&ann, acme.id(), &name("acme.example"))).unwrap();
    let provisioner = Provisioner::new(w.memory.store.clone()).with_auto_join(domains.clone());
    Verified {
        w,
        ann,
        acme,
        domains,
        provisioner,
    }
}

fn newcomer(v: &Verified, subject: &str, email: &str) -> (Actor, UserProfile) {
    let actor = Actor::user(UserId::from_uuid(v.w.memory.ids.next()));
    let profile =
        UserProfile::from_claims(actor.user_id(), subject, Some(email), None, None).unwrap();
    (actor, profile)
}

fn stored(v: &Verified, actor: &Actor) -> bool {
    block_on(orgman_domain::ports::UserRepository::user(
        &*v.w.memory.store,
        actor.user_id(),
    ))
    .unwrap()
    .is_some()
}

const AUTO_JOIN: DomainPolicyChange = DomainPolicyChange {
    auto_join: Some(true),
    sso_required: None,
};

#[test]
fn policies_need_a_verified_domain_and_are_recorded_once() {
    let v = verified_acme();
    let (ann, acme) = (&v.ann, v.acme.id());
    block_on(v.domains.claim(ann, acme, name("pending.example"))).unwrap();
    assert_eq!(
        block_on(
            v.domains
                .set_policy(ann, acme, &name("pending.example"), AUTO_JOIN)
        ),
        Err(OrgError::DomainUnverified)
    );
    // Off stays allowed (and changes nothing).
    let off = DomainPolicyChange {
        auto_join: Some(false),
        sso_required: Some(false),
    };
    let events = v.w.events();
    block_on(
        v.domains
            .set_policy(ann, acme, &name("pending.example"), off),
    )
    .unwrap();
    assert_eq!(v.w.events(), events);

    let changed = block_on(
        v.domains
            .set_policy(ann, acme, &name("acme.example"), AUTO_JOIN),
    )
    .unwrap();
    assert_eq!(
        changed.policy,
        DomainPolicy {
            auto_join: true,
            sso_required: false
        }
    );
    let sso = DomainPolicyChange {
        auto_join: None,
        sso_required: Some(true),
    };
    let both = block_on(v.domains.set_policy(ann, acme, &name("acme.example"), sso)).unwrap();
    assert!(both.policy.auto_join && both.policy.sso_required);
    assert_eq!(
        v.w.memory.store.committed_events().pop().unwrap().kind,
        EventKind::DomainPolicyChanged {
            domain: name("acme.example"),
            auto_join: true,
            sso_required: true
        }
    );
    let events = v.w.events();
    block_on(v.domains.set_policy(ann, acme, &name("acme.example"), sso)).unwrap();
    assert_eq!(v.w.events(), events, "no change, no event");
    assert_eq!(
        block_on(v.domains.list(ann, acme)).unwrap()[0].policy,
        both.policy
    );
    assert_eq!(
        block_on(v.domains.set_policy(ann, acme, &name("other.example"), sso)),
        Err(OrgError::DomainNotFound)
    );
}

#[test]
fn a_first_login_with_a_verified_address_in_an_auto_join_domain_makes_a_member() {
    let v = verified_acme();
    let acme = v.acme.id();
    let (bob, bob_profile) = newcomer(&v, "bob", "Bob@ACME.example");
    // The policy is off: no membership.
    let plain = block_on(v.provisioner.provision(&bob, bob_profile, true)).unwrap();
    assert_eq!(plain.auto_join, None);
    assert_eq!(
        block_on(v.w.service.role_of(acme, bob.user_id())).unwrap(),
        None
    );

    block_on(
        v.domains
            .set_policy(&v.ann, acme, &name("acme.example"), AUTO_JOIN),
    )
    .unwrap();
    let (cid, cid_profile) = newcomer(&v, "cid", "cid@acme.example");
    let joined = block_on(v.provisioner.provision(&cid, cid_profile.clone(), true)).unwrap();
    assert!(matches!(joined.auto_join, Some(AutoJoin::Joined(ref m)) if m.role == OrgRole::Member));
    assert_eq!(
        block_on(v.w.service.role_of(acme, cid.user_id())).unwrap(),
        Some(OrgRole::Member)
    );
    let added = v.w.memory.store.committed_events().pop().unwrap();
    assert_eq!(added.actor, Some(cid.user_id().as_uuid()));
    assert_eq!(
        added.kind,
        EventKind::MemberAdded {
            user_id: cid.user_id(),
            role: OrgRole::Member
        }
    );

    // Not the first login: a member who left stays out.
    block_on(v.w.service.remove_member(&cid, acme, cid.user_id())).unwrap();
    let again = block_on(v.provisioner.provision(&cid, cid_profile, true)).unwrap();
    assert_eq!(again.auto_join, None);
    assert_eq!(
        block_on(v.w.service.role_of(acme, cid.user_id())).unwrap(),
        None
    );

    // Bob, who existed before the policy, is not joined either.
    let (_, bob_again) = newcomer(&v, "bob", "bob@acme.example");
    assert_eq!(
        block_on(v.provisioner.provision(&bob, bob_again, true))
            .unwrap()
            .auto_join,
        None
    );
    assert_eq!(
        block_on(v.w.service.role_of(acme, bob.user_id())).unwrap(),
        None
    );

    // An address the identity provider did not verify never joins; other
    // domains and subdomains neither.
    for (subject, email, verified) in [
        ("dan", "dan@acme.example", false),
        ("eve", "eve@evil.example", true),
        ("fay", "fay@sub.acme.example", true),
    ] {
        let (actor, profile) = newcomer(&v, subject, email);
        let outcome = block_on(v.provisioner.provision(&actor, profile, verified)).unwrap();
        assert_eq!(outcome.auto_join, None, "{email}");
        assert_eq!(
            block_on(v.w.service.role_of(acme, actor.user_id())).unwrap(),
            None
        );
        assert!(stored(&v, &actor), "{email} is provisioned");
    }
}

#[test]
fn auto_join_respects_the_member_limit_and_the_organization_state() {
    let v = verified_acme();
    let acme = v.acme.id();
    block_on(
        v.domains
            .set_policy(&v.ann, acme, &name("acme.example"), AUTO_JOIN),
    )
    .unwrap();
    // Ann is the only member; a limit of one leaves no room.
    block_on(v.w.service.set_member_limit(&v.w.admin, acme, Some(1))).unwrap();
    let (gus, profile) = newcomer(&v, "gus", "gus@acme.example");
    let outcome = block_on(v.provisioner.provision(&gus, profile, true)).unwrap();
    assert_eq!(
        outcome.auto_join,
        Some(AutoJoin::Skipped { organization: acme })
    );
    assert!(stored(&v, &gus));
    assert_eq!(
        block_on(v.w.service.role_of(acme, gus.user_id())).unwrap(),
        None
    );

    block_on(v.w.service.set_member_limit(&v.w.admin, acme, None)).unwrap();
    block_on(
        v.w.service
            .transition(&v.w.admin, acme, LifecycleAction::Suspend),
    )
    .unwrap();
    let (hal, profile) = newcomer(&v, "hal", "hal@acme.example");
    let outcome = block_on(v.provisioner.provision(&hal, profile, true)).unwrap();
    assert_eq!(
        outcome.auto_join,
        Some(AutoJoin::Skipped { organization: acme })
    );
    assert_eq!(
        block_on(v.w.service.role_of(acme, hal.user_id())).unwrap(),
        None
    );
}

#[test]
fn an_address_held_by_another_user_is_provisioned_without_it_and_joins_nothing() {
    let v = verified_acme();
    let acme = v.acme.id();
    block_on(
        v.domains
            .set_policy(&v.ann, acme, &name("acme.example"), AUTO_JOIN),
    )
    .unwrap();
    let (ivy, profile) = newcomer(&v, "ivy", "ivy@acme.example");
    block_on(v.provisioner.provision(&ivy, profile, true)).unwrap();
    let (imp, profile) = newcomer(&v, "impostor", "ivy@acme.example");
    let outcome = block_on(v.provisioner.provision(&imp, profile, true)).unwrap();
    assert_eq!(outcome.auto_join, None);
    assert_eq!(
        block_on(v.w.service.role_of(acme, imp.user_id())).unwrap(),
        None
    );
    let stored = block_on(orgman_domain::ports::UserRepository::user(
        &*v.w.memory.store,
        imp.user_id(),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(stored.email, None);
}

#[test]
fn an_sso_required_domain_counts_only_sign_ins_through_the_organizations_providers() {
    use orgman_domain::{BrokeredProvider, SignIn, SsoDraft, SsoService};
    use orgman_memory::FakeCipher;
    let w = World::new();
    let ann = w.user("ann");
    let acme = w.org_owned_by("acme", &ann);
    let erin = w.user("erin");
    block_on(
        w.service
            .add_member(&ann, acme.id(), erin.user_id(), OrgRole::Member),
    )
    .unwrap();
    let (domains, _) = w.domains();
    let sso = SsoService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        Some(Arc::new(FakeCipher::new("k1"))),
        w.memory.clock.clone(),
        w.memory.ids.clone(),
    );
    let config = block_on(sso.create(
        &ann,
        Some(acme.id()),
        support::sso_draft("Acme login", "https://login.acme.example"),
    ))
    .unwrap();
    w.verify_domain(&ann, acme.id(), "acme.example");

    let signed_in = |provider: Option<&str>| {
        erin.clone()
            .signed_in(SignIn::from_claims(Some("erin@acme.example"), provider))
    };
    let by_password = signed_in(None);
    let through_acme = signed_in(Some(&BrokeredProvider::alias_of(config.id)));
    let through_another = signed_in(Some("orgman-00000000-0000-0000-0000-000000000001"));
    // Verified but not `ssoRequired`: any sign-in counts.
    assert!(block_on(w.service.get(&by_password, acme.id())).is_ok());

    block_on(domains.set_policy(
        &ann,
        acme.id(),
        &name("acme.example"),
        DomainPolicyChange {
            sso_required: Some(true),
            ..DomainPolicyChange::default()
        },
    ))
    .unwrap();
    for refused in [&by_password, &through_another] {
        assert_eq!(
            block_on(w.service.get(refused, acme.id())),
            Err(OrgError::SsoRequired)
        );
        assert_eq!(
            block_on(
                w.service
                    .members(refused, acme.id(), orgman_domain::PageRequest::first())
            )
            .map(drop),
            Err(OrgError::SsoRequired)
        );
        assert_eq!(
            block_on(
                w.service
                    .ensure_permission(refused, acme.id(), Permission::OrganizationRead)
            ),
            Err(OrgError::SsoRequired)
        );
    }
    assert!(block_on(w.service.get(&through_acme, acme.id())).is_ok());
    // Platform administrators are exempt; other addresses are not held.
    let admin = w
        .admin
        .clone()
        .signed_in(SignIn::from_claims(Some("root@acme.example"), None));
    assert!(block_on(w.service.get(&admin, acme.id())).is_ok());
    let outsider_address = erin
        .clone()
        .signed_in(SignIn::from_claims(Some("erin@elsewhere.example"), None));
    assert!(block_on(w.service.get(&outsider_address, acme.id())).is_ok());

    // The provider switched off no longer counts.
    block_on(sso.update(
        &ann,
        Some(acme.id()),
        config.id,
        SsoDraft {
            enabled: Some(false),
            ..SsoDraft::default()
        },
    ))
    .unwrap();
    assert_eq!(
        block_on(w.service.get(&through_acme, acme.id())),
        Err(OrgError::SsoRequired)
    );
}
