//! Registration: permissions first, nothing half-made.

mod support;

use std::sync::Arc;

use orgman_domain::ports::IdentityProvider;
use orgman_domain::{Email, NewIdentity, OrgError, OrgRole, Placement, UserService};
use orgman_memory::{MemoryIdentityProvider, block_on};
use support::World;

fn new_user(email: &str) -> NewIdentity {
    NewIdentity {
        email: Email::parse(email).unwrap(),
        first_name: Some("Dana".into()),
        last_name: None,
        password: None,
        set_up_by_user: false,
    }
}

fn setup(w: &World) -> (UserService, Arc<MemoryIdentityProvider>) {
    let idp = Arc::new(MemoryIdentityProvider::new());
    let service = UserService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        idp.clone(),
    );
    (service, idp)
}

#[test]
fn platform_admins_register_users_with_a_local_projection() {
    let w = World::new();
    let (users, idp) = setup(&w);
    let user = block_on(users.register(&w.admin, new_user("dana@example.com"), None)).unwrap();
    assert_eq!(
        user.email.as_ref().map(|e| e.as_str()),
        Some("dana@example.com")
    );
    assert_eq!(user.display_name.as_deref(), Some("Dana"));
    let remote = block_on(idp.find_by_email(&Email::parse("dana@example.com").unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(remote.subject, user.id.to_string());
    assert!(remote.enabled);
    assert_eq!(
        block_on(users.register(&w.admin, new_user("DANA@example.com"), None)),
        Err(OrgError::UserExists)
    );
}

#[test]
fn organization_admins_register_into_their_organization_only() {
    let w = World::new();
    let owner = w.user("owner");
    let admin = w.user("admin");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), admin.user_id(), OrgRole::Admin),
    )
    .unwrap();
    let (users, idp) = setup(&w);

    assert_eq!(
        block_on(users.register(&admin, new_user("a@example.com"), None)),
        Err(OrgError::PlatformAdminRequired)
    );
    let owner_place = Placement {
        organization: org.id(),
        role: OrgRole::Owner,
    };
    assert_eq!(
        block_on(users.register(&admin, new_user("b@example.com"), Some(owner_place))),
        Err(OrgError::OwnerRequired)
    );
    // Nothing was created at the provider for the refusals.
    for email in ["a@example.com", "b@example.com"] {
        assert_eq!(
            block_on(idp.find_by_email(&Email::parse(email).unwrap())).unwrap(),
            None
        );
    }
    let place = Placement {
        organization: org.id(),
        role: OrgRole::Member,
    };
    let user = block_on(users.register(&admin, new_user("c@example.com"), Some(place))).unwrap();
    assert_eq!(
        block_on(w.service.role_of(org.id(), user.id)).unwrap(),
        Some(OrgRole::Member)
    );
}

#[test]
fn a_failed_local_step_disables_the_provider_account() {
    let w = World::new();
    let (users, idp) = setup(&w);
    w.memory.store.set_unavailable(true);
    let result = block_on(users.register(&w.admin, new_user("e@example.com"), None));
    assert!(
        matches!(result, Err(OrgError::Unavailable(_))),
        "{result:?}"
    );
    w.memory.store.set_unavailable(false);
    let remote = block_on(idp.find_by_email(&Email::parse("e@example.com").unwrap()))
        .unwrap()
        .unwrap();
    assert!(!remote.enabled, "compensated: the account cannot log in");
}

#[test]
fn a_provider_outage_creates_nothing() {
    let w = World::new();
    let (users, idp) = setup(&w);
    idp.set_unavailable(true);
    assert!(matches!(
        block_on(users.register(&w.admin, new_user("f@example.com"), None)),
        Err(OrgError::Unavailable(_))
    ));
    idp.set_unavailable(false);
    assert_eq!(
        block_on(idp.find_by_email(&Email::parse("f@example.com").unwrap())).unwrap(),
        None
    );
}

#[test]
fn an_organization_admin_invites_whether_or_not_the_address_has_an_account() {
    use orgman_domain::{InvitationService, OrgError, OrgRole, Placement};
    use orgman_memory::PredictableTokens;
    let w = World::new();
    let (users, idp) = setup(&w);
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let invitations = InvitationService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        Arc::new(PredictableTokens::default()),
        orgman_domain::time::Duration::days(7),
    );
    let place = Placement {
        organization: org.id(),
        role: OrgRole::Member,
    };
    // An account that exists already.
    block_on(users.register(&w.admin, new_user("old@example.com"), None)).unwrap();
    let existing =
        block_on(users.register_into(&ann, new_user("old@example.com"), place, &invitations))
            .unwrap();
    let fresh =
        block_on(users.register_into(&ann, new_user("new@example.com"), place, &invitations))
            .unwrap();
    assert_eq!(existing.invitation.role, fresh.invitation.role);
    assert!(
        block_on(idp.find_by_email(&Email::parse("new@example.com").unwrap()))
            .unwrap()
            .is_some(),
        "a new account for the new address"
    );
    // Nobody joined yet, and nobody was made locally for the new address:
    // its owner appears at their own first login.
    assert_eq!(w.memory.store.memberships_of(org.id()).len(), 1);
    let new_account = block_on(idp.find_by_email(&Email::parse("new@example.com").unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(
        block_on(orgman_domain::ports::UserRepository::user(
            &*w.memory.store,
            new_account.subject.parse().unwrap()
        ))
        .unwrap(),
        None
    );
    // The identity provider down: nothing stays behind, the invitation
    // included.
    idp.set_unavailable(true);
    assert!(matches!(
        block_on(users.register_into(&ann, new_user("later@example.com"), place, &invitations)),
        Err(OrgError::Unavailable(_))
    ));
    idp.set_unavailable(false);
    block_on(users.register_into(&ann, new_user("later@example.com"), place, &invitations))
        .unwrap();
}
