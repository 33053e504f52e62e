//! Erasing a person through the use case, with the in-memory ports: who
//! may ask, the account at the identity provider first, the OWNER rule.

mod support;

use std::sync::Arc;

use orgman_domain::ports::{IdentityProvider, Pseudonyms, UserRepository};
use orgman_domain::{
    AccountErasure, Actor, Email, Erasure, EventKind, NewIdentity, OrgError, OrgRole,
    OrganizationService, UserId, UserProfile,
};
use orgman_memory::{MemoryIdentityProvider, block_on};
use support::World;

struct Hidden;

impl Pseudonyms for Hidden {
    fn pseudonym(&self, _: &Email) -> Email {
        Email::parse("k-00@erased.invalid").unwrap()
    }
}

/// A person with an account at the identity provider and locally.
fn person(w: &World, identity: &MemoryIdentityProvider, email: &str) -> Actor {
    let address = Email::parse(email).unwrap();
    let account = block_on(identity.register(&NewIdentity {
        email: address.clone(),
        first_name: None,
        last_name: None,
        password: None,
        set_up_by_user: false,
    }))
    .unwrap();
    let id = UserId::from_uuid(w.memory.ids.next());
    block_on(w.memory.store.provision(&UserProfile {
        id,
        subject: account.subject,
        email: Some(address),
        display_name: Some("Pat Doe".into()),
        given_name: None,
        family_name: None,
    }))
    .unwrap();
    Actor::user(id)
}

fn erasure(w: &World, identity: &Arc<MemoryIdentityProvider>, account: AccountErasure) -> Erasure {
    let service: Arc<OrganizationService> = Arc::new(w.memory.service());
    Erasure::new(
        service,
        orgman_domain::PersonStores::over(w.memory.store.clone()),
        Some(identity.clone() as Arc<dyn IdentityProvider>),
        account,
        Arc::new(Hidden),
    )
}

#[test]
fn a_person_erases_themselves_after_the_account_and_only_when_others_own_their_organizations() {
    let w = World::new();
    let identity = Arc::new(MemoryIdentityProvider::new());
    let pat = person(&w, &identity, "pat@example.com");
    let other = person(&w, &identity, "other@example.com");
    let owner = w.user("owner");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), pat.user_id(), OrgRole::Owner),
    )
    .unwrap();
    block_on(w.service.remove_member(&pat, org.id(), owner.user_id())).unwrap();
    let erasure = erasure(&w, &identity, AccountErasure::Delete);
    let pat_email = Email::parse("pat@example.com").unwrap();
    let has_account = || {
        block_on(identity.find_by_email(&pat_email))
            .unwrap()
            .is_some()
    };

    // Nobody else erases a person; an API key never does.
    assert!(matches!(
        block_on(erasure.erase(&other, pat.user_id())),
        Err(OrgError::PlatformAdminRequired)
    ));
    // The only OWNER stays, account and all.
    match block_on(erasure.erase(&pat, pat.user_id())) {
        Err(OrgError::SoleOwner { organizations }) => assert_eq!(organizations, vec![org.id()]),
        other => panic!("{other:?}"),
    }
    assert!(has_account());
    block_on(
        w.service
            .add_member(&pat, org.id(), owner.user_id(), OrgRole::Owner),
    )
    .unwrap();

    // An identity provider that cannot be reached: nothing is erased.
    identity.set_unavailable(true);
    assert!(matches!(
        block_on(erasure.erase(&pat, pat.user_id())),
        Err(OrgError::Unavailable(_))
    ));
    identity.set_unavailable(false);
    assert!(
        block_on(w.memory.store.user(pat.user_id()))
            .unwrap()
            .unwrap()
            .email
            .is_some()
    );

    let events_before = w.memory.store.committed_events().len();
    let report = block_on(erasure.erase(&pat, pat.user_id())).unwrap();
    assert_eq!(report.organizations, vec![org.id()]);
    assert!(!has_account(), "the account is deleted");
    let stored = block_on(w.memory.store.user(pat.user_id()))
        .unwrap()
        .unwrap();
    assert_eq!((stored.email, stored.display_name), (None, None));
    assert!(stored.erased_at.is_some());
    let kinds: Vec<EventKind> = w.memory.store.committed_events()[events_before..]
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::MemberRemoved {
                user_id: pat.user_id(),
                role: OrgRole::Owner
            },
            EventKind::UserErased {
                user_id: pat.user_id()
            },
        ]
    );

    // Again: only the account step runs; a platform administrator may ask.
    let again = block_on(erasure.erase(&w.admin, pat.user_id())).unwrap();
    assert!(again.already_erased);
    assert_eq!(w.memory.store.committed_events().len(), events_before + 2);
}

#[test]
fn a_disabled_account_stays_at_the_identity_provider_and_cannot_log_in() {
    let w = World::new();
    let identity = Arc::new(MemoryIdentityProvider::new());
    let pat = person(&w, &identity, "pat@example.com");
    let erasure = erasure(&w, &identity, AccountErasure::Disable);
    let report = block_on(erasure.erase(&w.admin, pat.user_id())).unwrap();
    assert!(report.organizations.is_empty());
    let account = block_on(identity.find_by_email(&Email::parse("pat@example.com").unwrap()))
        .unwrap()
        .unwrap();
    assert!(!account.enabled);
    // A person in no organization is announced to the platform.
    let last = w.memory.store.committed_events().pop().unwrap();
    assert_eq!(last.organization_id.as_uuid(), uuid::Uuid::nil());
    assert!(matches!(last.kind, EventKind::UserErased { .. }));
}
