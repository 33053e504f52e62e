//! Invitations through the use cases, with the in-memory ports.

mod support;

use std::sync::Arc;

use orgman_domain::ports::Clock;
use orgman_domain::time::Duration;
use orgman_domain::{
    Email, EventKind, InvitationService, InvitationStatus, LifecycleAction, OrgError, OrgRole,
    PageRequest, Permission,
};
use orgman_memory::{PredictableTokens, block_on};
use support::World;

fn invitations(w: &World) -> InvitationService {
    InvitationService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        Arc::new(PredictableTokens::default()),
        Duration::days(7),
    )
}

fn email(text: &str) -> Email {
    Email::parse(text).unwrap()
}

#[test]
fn an_invitation_is_accepted_once_by_the_verified_address_and_makes_a_member() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let service = invitations(&w);
    let issued =
        block_on(service.invite(&ann, org.id(), email("Bob@Example.com"), OrgRole::Admin)).unwrap();
    let token = issued.token.expose().to_owned();
    assert!(
        !format!("{:?}", issued.token).contains(&token),
        "never printed"
    );
    let created = w.memory.store.committed_events().pop().unwrap();
    assert_eq!(
        created.kind,
        EventKind::InvitationCreated {
            invitation_id: issued.invitation.id,
            email: email("bob@example.com"),
            role: OrgRole::Admin,
            expires_at: issued.invitation.expires_at,
        }
    );

    let bob = w.user("bob");
    let carl = w.user("carl");
    assert_eq!(
        block_on(service.accept(&carl, &token, Some(&email("carl@example.com")))),
        Err(OrgError::InvitationEmailMismatch)
    );
    assert_eq!(
        block_on(service.accept(&bob, &token, None)),
        Err(OrgError::InvitationEmailMismatch),
        "an unverified address is not enough"
    );
    let membership =
        block_on(service.accept(&bob, &token, Some(&email("BOB@example.com")))).unwrap();
    assert_eq!(membership.role, OrgRole::Admin);
    assert_eq!(
        block_on(w.service.role_of(org.id(), bob.user_id())).unwrap(),
        Some(OrgRole::Admin)
    );
    let kinds: Vec<_> = w
        .memory
        .store
        .committed_events()
        .into_iter()
        .rev()
        .take(2)
        .map(|e| e.kind.type_name())
        .collect();
    assert_eq!(
        kinds,
        [
            "organization.member.added",
            "organization.invitation.accepted"
        ]
    );
    assert_eq!(
        block_on(service.accept(&bob, &token, Some(&email("bob@example.com")))),
        Err(OrgError::InvitationAccepted),
        "single use"
    );
    assert_eq!(
        block_on(service.accept(&bob, "token-unknown", Some(&email("bob@example.com")))),
        Err(OrgError::InvitationNotFound)
    );
}

#[test]
fn who_may_invite_and_the_rules_of_pending_invitations() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let service = invitations(&w);
    let (dee, mia, out) = (w.user("dee"), w.user("mia"), w.user("out"));
    block_on(
        w.service
            .add_member(&ann, org.id(), dee.user_id(), OrgRole::Admin),
    )
    .unwrap();
    block_on(
        w.service
            .add_member(&ann, org.id(), mia.user_id(), OrgRole::Member),
    )
    .unwrap();
    let bob = email("bob@example.com");
    assert_eq!(
        block_on(service.invite(&out, org.id(), bob.clone(), OrgRole::Member)).unwrap_err(),
        OrgError::NotFound
    );
    assert_eq!(
        block_on(service.invite(&mia, org.id(), bob.clone(), OrgRole::Member)).unwrap_err(),
        OrgError::Forbidden {
            permission: Permission::InvitationsManage
        }
    );
    assert_eq!(
        block_on(service.invite(&dee, org.id(), bob.clone(), OrgRole::Owner)).unwrap_err(),
        OrgError::OwnerRequired
    );
    let first = block_on(service.invite(&dee, org.id(), bob.clone(), OrgRole::Member)).unwrap();
    assert_eq!(
        block_on(service.invite(&ann, org.id(), bob.clone(), OrgRole::Admin)).unwrap_err(),
        OrgError::InvitationPending
    );
    // Resending gives a new token; the old one is dead.
    let again = block_on(service.resend(&dee, org.id(), first.invitation.id)).unwrap();
    assert_ne!(again.token, first.token);
    let bob_user = w.user("bob");
    assert_eq!(
        block_on(service.accept(&bob_user, first.token.expose(), Some(&bob))),
        Err(OrgError::InvitationNotFound)
    );
    // Revoked: the token is refused, a new invitation may be sent.
    block_on(service.revoke(&dee, org.id(), first.invitation.id)).unwrap();
    block_on(service.revoke(&dee, org.id(), first.invitation.id)).unwrap();
    assert_eq!(
        block_on(service.accept(&bob_user, again.token.expose(), Some(&bob))),
        Err(OrgError::InvitationRevoked)
    );
    let listed = block_on(service.list(&dee, org.id(), PageRequest::first())).unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        listed.items[0].status(w.memory.clock.now()),
        InvitationStatus::Revoked
    );
    block_on(service.invite(&ann, org.id(), bob.clone(), OrgRole::Member)).unwrap();
    assert_eq!(
        block_on(service.list(&mia, org.id(), PageRequest::first())).unwrap_err(),
        OrgError::Forbidden {
            permission: Permission::InvitationsManage
        }
    );
}

#[test]
fn expired_invitations_and_organizations_that_changed_refuse_acceptance() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let service = invitations(&w);
    let bob = w.user("bob");
    let address = email("bob@example.com");
    let issued =
        block_on(service.invite(&ann, org.id(), address.clone(), OrgRole::Member)).unwrap();
    w.memory.clock.advance(Duration::days(8));
    assert_eq!(
        block_on(service.accept(&bob, issued.token.expose(), Some(&address))),
        Err(OrgError::InvitationExpired)
    );
    // Sent again: valid for another week.
    let again = block_on(service.resend(&ann, org.id(), issued.invitation.id)).unwrap();
    block_on(
        w.service
            .transition(&w.admin, org.id(), LifecycleAction::Suspend),
    )
    .unwrap();
    assert!(matches!(
        block_on(service.accept(&bob, again.token.expose(), Some(&address))),
        Err(OrgError::ReadOnly { .. })
    ));
    block_on(
        w.service
            .transition(&w.admin, org.id(), LifecycleAction::Reactivate),
    )
    .unwrap();
    block_on(w.service.set_member_limit(&w.admin, org.id(), Some(1))).unwrap();
    assert_eq!(
        block_on(service.accept(&bob, again.token.expose(), Some(&address))),
        Err(OrgError::MemberLimitReached { max: 1 })
    );
    block_on(w.service.set_member_limit(&w.admin, org.id(), None)).unwrap();

    // Purged: the invitation is gone with the organization.
    block_on(
        w.service
            .transition(&ann, org.id(), LifecycleAction::RequestDeletion),
    )
    .unwrap();
    w.memory.clock.advance(Duration::days(31));
    assert_eq!(block_on(w.service.purge_due()).unwrap(), 1);
    assert_eq!(
        block_on(service.accept(&bob, again.token.expose(), Some(&address))),
        Err(OrgError::InvitationNotFound)
    );
    let purge = w.memory.store.committed_events().pop().unwrap();
    assert!(matches!(
        purge.kind,
        EventKind::OrganizationDeleted {
            erased_invitations: 1,
            ..
        }
    ));
}
