//! Accounts deleted at the identity provider: marked when found missing,
//! erased after the grace period unless the only OWNER, never in a page
//! that looks like a provider that lost its data.

mod support;

use std::sync::Arc;
use std::time::Duration;

use orgman_domain::ports::{AccountChecks, IdentityProvider, Pseudonyms, UserRepository};
use orgman_domain::{
    AccountCheck, AccountCheckSettings, AccountErasure, Actor, Email, Erasure, EventKind,
    NewIdentity, OrgError, OrgRole, UserId, UserProfile,
};
use orgman_memory::{MemoryIdentityProvider, block_on};
use support::World;

struct Hidden;

impl Pseudonyms for Hidden {
    fn pseudonym(&self, _: &Email) -> Email {
        Email::parse("k-00@erased.invalid").unwrap()
    }
}

struct Setup {
    w: World,
    identity: Arc<MemoryIdentityProvider>,
}

impl Setup {
    fn new() -> Self {
        let w = World::new();
        let identity = Arc::new(MemoryIdentityProvider::new());
        let admin = Email::parse("admin@example.com").unwrap();
        identity.add_account("platform-admin", &admin);
        Self { w, identity }
    }

    /// A person with an account at the identity provider and locally.
    fn person(&self, email: &str) -> (Actor, String) {
        let address = Email::parse(email).unwrap();
        let account = block_on(self.identity.register(&NewIdentity {
            email: address.clone(),
            first_name: None,
            last_name: None,
            password: None,
            set_up_by_user: false,
        }))
        .unwrap();
        let id = UserId::from_uuid(self.w.memory.ids.next());
        block_on(self.w.memory.store.provision(&UserProfile {
            id,
            subject: account.subject.clone(),
            email: Some(address),
            display_name: None,
            given_name: None,
            family_name: None,
        }))
        .unwrap();
        (Actor::user(id), account.subject)
    }

    fn check(&self, batch: usize) -> AccountCheck {
        let erasure = Erasure::new(
            Arc::new(self.w.memory.service()),
            orgman_domain::PersonStores::over(self.w.memory.store.clone()),
            Some(self.identity.clone() as Arc<dyn IdentityProvider>),
            AccountErasure::Delete,
            Arc::new(Hidden),
        );
        AccountCheck::new(
            self.w.memory.store.clone(),
            self.identity.clone(),
            Arc::new(erasure),
            self.w.memory.clock.clone(),
            AccountCheckSettings {
                batch,
                grace: Duration::from_secs(3600),
                most_missing: 0.5,
            },
        )
    }

    fn erased(&self, user: &Actor) -> bool {
        block_on(self.w.memory.store.user(user.user_id()))
            .unwrap()
            .unwrap()
            .erased_at
            .is_some()
    }

    fn after_grace(&self) {
        self.w.memory.clock.advance(time::Duration::minutes(61));
    }
}

#[test]
fn a_deleted_account_is_erased_after_the_grace_period_unless_its_user_is_the_only_owner() {
    let s = Setup::new();
    let (owner, _) = s.person("owner@example.com");
    let (pat, pat_subject) = s.person("pat@example.com");
    let (sam, sam_subject) = s.person("sam@example.com");
    let acme = s.w.org_owned_by("acme", &owner);
    let solo = s.w.org_owned_by("solo", &sam);
    block_on(
        s.w.service
            .add_member(&owner, acme.id(), pat.user_id(), OrgRole::Member),
    )
    .unwrap();
    let check = s.check(100);

    let first = block_on(check.round()).unwrap();
    assert_eq!((first.checked, first.missing, first.returned), (4, 0, 0));
    assert!(first.wrapped && !first.suspicious);

    block_on(s.identity.delete(&pat_subject)).unwrap();
    block_on(s.identity.delete(&sam_subject)).unwrap();
    let marked = block_on(check.round()).unwrap();
    assert_eq!(marked.missing, 2);
    assert!(
        marked.erased.is_empty(),
        "nobody is erased within the grace period"
    );
    assert!(!s.erased(&pat));
    assert!(
        block_on(
            s.w.service
                .members(&owner, acme.id(), orgman_domain::PageRequest::first())
        )
        .unwrap()
        .items
        .iter()
        .any(|m| m.user_id == pat.user_id())
    );

    s.after_grace();
    let events_before = s.w.memory.store.committed_events().len();
    let due = block_on(check.round()).unwrap();
    assert_eq!(due.erased, vec![pat.user_id()]);
    assert_eq!(due.blocked, vec![(sam.user_id(), vec![solo.id()])]);
    assert!(s.erased(&pat));
    assert!(!s.erased(&sam), "the only OWNER of an organization stays");
    let events: Vec<_> = s.w.memory.store.committed_events()[events_before..].to_vec();
    assert_eq!(
        events.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        vec![
            EventKind::MemberRemoved {
                user_id: pat.user_id(),
                role: OrgRole::Member
            },
            EventKind::UserErased {
                user_id: pat.user_id()
            },
        ]
    );
    assert!(
        events.iter().all(|e| e.actor.is_none()),
        "orgman erased, not a person"
    );

    // Once someone else owns `solo`, the next round erases sam too.
    block_on(
        s.w.service
            .add_member(&sam, solo.id(), owner.user_id(), OrgRole::Owner),
    )
    .unwrap();
    let later = block_on(check.round()).unwrap();
    assert_eq!(later.erased, vec![sam.user_id()]);
    assert!(s.erased(&sam));
    // Erased users are not checked again.
    assert_eq!(block_on(check.round()).unwrap().checked, 2);
}

#[test]
fn an_account_found_again_is_unmarked_and_a_provider_that_lost_most_accounts_erases_nobody() {
    let s = Setup::new();
    let people: Vec<(Actor, String)> = (0..11)
        .map(|n| s.person(&format!("p{n}@example.com")))
        .collect();
    let check = s.check(100);

    // One account gone, then back (restored with its id): no erasure.
    let (kim, kim_subject) = &people[0];
    block_on(s.identity.delete(kim_subject)).unwrap();
    assert_eq!(block_on(check.round()).unwrap().missing, 1);
    s.identity
        .add_account(kim_subject, &Email::parse("p0@example.com").unwrap());
    s.after_grace();
    let back = block_on(check.round()).unwrap();
    assert_eq!((back.missing, back.returned), (0, 1));
    assert!(back.erased.is_empty());
    assert!(!s.erased(kim));

    // Seven of twelve missing: the page marks nothing, even past the grace.
    for (_, subject) in &people[..7] {
        block_on(s.identity.delete(subject)).unwrap();
    }
    let suspicious = block_on(check.round()).unwrap();
    assert!(suspicious.suspicious);
    s.after_grace();
    let still = block_on(check.round()).unwrap();
    assert!(still.suspicious && still.erased.is_empty());
    assert!(people.iter().all(|(p, _)| !s.erased(p)));
    let marked = block_on(s.w.memory.store.accounts_after(None, 100)).unwrap();
    assert!(marked.iter().all(|a| a.missing_since.is_none()));

    // A provider that cannot be reached marks nothing either.
    s.identity.set_unavailable(true);
    assert!(matches!(
        block_on(check.round()),
        Err(OrgError::Unavailable(_))
    ));
}

#[test]
fn the_check_walks_every_user_a_page_per_round_and_starts_again() {
    let s = Setup::new();
    for n in 0..4 {
        s.person(&format!("p{n}@example.com"));
    }
    let check = s.check(2);
    let rounds: Vec<(usize, bool)> = (0..4)
        .map(|_| {
            let r = block_on(check.round()).unwrap();
            (r.checked, r.wrapped)
        })
        .collect();
    // Five users (the platform administrator too): 2, 2, 1, then again.
    assert_eq!(rounds, vec![(2, false), (2, false), (1, true), (2, false)]);
}
