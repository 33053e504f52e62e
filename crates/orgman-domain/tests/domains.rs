//! Verified domains through the use cases, with the in-memory ports.

mod support;

use std::sync::Arc;

use orgman_domain::{DomainName, DomainService, EventKind, OrgError, OrgRole, Permission};
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
            permission: Permission::ManageOrganization
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
