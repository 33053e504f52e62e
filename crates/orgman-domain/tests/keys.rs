//! API keys through the use cases: a key acts in its organization with the
//! permissions it was given, which its creator held; expiry, rotation and
//! revocation end it; what it does is recorded as the key's doing.

mod support;

use std::sync::Arc;

use orgman_domain::ports::Clock;
use orgman_domain::time::Duration;
use orgman_domain::{
    Actor, ActorKind, ApiKeyService, EventKind, KeyDraft, KeyName, OrgError, OrgRole, Permission,
    PermissionSet,
};
use orgman_memory::{PredictableTokens, block_on};
use support::World;

fn keys(w: &World) -> ApiKeyService {
    ApiKeyService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        Arc::new(PredictableTokens::default()),
    )
}

fn draft(permissions: &[Permission]) -> KeyDraft {
    KeyDraft {
        name: KeyName::parse("ci").unwrap(),
        permissions: permissions.iter().copied().collect(),
        expires_at: None,
    }
}

#[test]
fn a_key_sees_its_organization_only_and_does_only_what_it_was_given() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let other = w.org_owned_by("other", &w.user("bea"));
    let keys = keys(&w);
    let issued =
        block_on(keys.create(&ann, org.id(), draft(&[Permission::OrganizationRead]))).unwrap();
    assert!(issued.secret.expose().starts_with("orgman_"));
    let robot = Actor::api_key(block_on(keys.authenticate(issued.secret.expose())).unwrap());
    assert_eq!(
        block_on(w.service.get(&robot, org.id())).unwrap().id(),
        org.id()
    );
    assert_eq!(
        block_on(w.service.get(&robot, other.id())),
        Err(OrgError::NotFound)
    );
    let bob = w.user("bob");
    assert_eq!(
        block_on(
            w.service
                .add_member(&robot, org.id(), bob.user_id(), OrgRole::Member)
        ),
        Err(OrgError::Forbidden {
            permission: Permission::MembersManage
        })
    );
    // Another token with the same key and organization is refused.
    let text = issued.secret.expose();
    let tampered = text.replacen("token-1", "token-9", 1);
    assert_ne!(tampered, text);
    assert!(matches!(
        block_on(keys.authenticate(&tampered)),
        Err(OrgError::ApiKeyRejected { .. })
    ));
}

#[test]
fn nobody_gives_a_key_what_they_do_not_hold_and_a_key_is_an_admin_under_the_rules() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let dan = w.user("dan");
    block_on(
        w.service
            .add_member(&ann, org.id(), dan.user_id(), OrgRole::Admin),
    )
    .unwrap();
    let keys = keys(&w);
    assert!(matches!(
        block_on(keys.create(&dan, org.id(), draft(&[Permission::OrganizationDelete]))),
        Err(OrgError::PermissionNotHeld { .. })
    ));
    // A key managing keys cannot mint one with more than it holds.
    let manager = block_on(keys.create(
        &dan,
        org.id(),
        draft(&[Permission::ApiKeysManage, Permission::OrganizationRead]),
    ))
    .unwrap();
    let robot = Actor::api_key(block_on(keys.authenticate(manager.secret.expose())).unwrap());
    assert!(matches!(
        block_on(keys.create(&robot, org.id(), draft(&[Permission::MembersManage]))),
        Err(OrgError::PermissionNotHeld { .. })
    ));
    // A key with members:manage adds MEMBERs, never OWNERs.
    let members = block_on(keys.create(
        &ann,
        org.id(),
        draft(&[
            Permission::OrganizationRead,
            Permission::MembersRead,
            Permission::MembersManage,
        ]),
    ))
    .unwrap();
    let robot = Actor::api_key(block_on(keys.authenticate(members.secret.expose())).unwrap());
    let eve = w.user("eve");
    block_on(
        w.service
            .add_member(&robot, org.id(), eve.user_id(), OrgRole::Member),
    )
    .unwrap();
    assert_eq!(
        block_on(
            w.service
                .change_role(&robot, org.id(), eve.user_id(), OrgRole::Owner)
        ),
        Err(OrgError::OwnerRequired)
    );
    let added = w
        .memory
        .store
        .committed_events()
        .into_iter()
        .rev()
        .find(|e| matches!(e.kind, EventKind::MemberAdded { .. }))
        .unwrap();
    assert_eq!(added.actor, Some(members.key.id.as_uuid()));
    assert_eq!(added.actor_kind, ActorKind::ApiKey);
}

#[test]
fn expiry_rotation_and_revocation_end_a_key() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let keys = keys(&w);
    let now = w.memory.clock.now();
    let mut expiring = draft(&[Permission::OrganizationRead]);
    expiring.expires_at = Some(now + Duration::hours(1));
    let short = block_on(keys.create(&ann, org.id(), expiring)).unwrap();
    let mut past = draft(&[Permission::OrganizationRead]);
    past.expires_at = Some(now);
    assert!(matches!(
        block_on(keys.create(&ann, org.id(), past)),
        Err(OrgError::ApiKeyEndInvalid(_))
    ));

    let old =
        block_on(keys.create(&ann, org.id(), draft(&[Permission::OrganizationRead]))).unwrap();
    let rotated =
        block_on(keys.rotate(&ann, org.id(), old.key.id, Some(Duration::minutes(10)))).unwrap();
    assert_eq!(rotated.key.rotated_from, Some(old.key.id));
    assert_eq!(rotated.key.permissions, old.key.permissions);
    for secret in [&old.secret, &rotated.secret, &short.secret] {
        assert!(block_on(keys.authenticate(secret.expose())).is_ok());
    }
    w.memory.clock.advance(Duration::minutes(10));
    assert!(
        block_on(keys.authenticate(old.secret.expose())).is_err(),
        "overlap over"
    );
    assert!(block_on(keys.authenticate(rotated.secret.expose())).is_ok());
    w.memory.clock.advance(Duration::minutes(50));
    assert!(
        block_on(keys.authenticate(short.secret.expose())).is_err(),
        "expired"
    );
    assert_eq!(
        block_on(keys.rotate(&ann, org.id(), short.key.id, None)).unwrap_err(),
        OrgError::ApiKeyEnded
    );

    let before = w.events();
    block_on(keys.revoke(&ann, org.id(), rotated.key.id)).unwrap();
    assert!(block_on(keys.authenticate(rotated.secret.expose())).is_err());
    block_on(keys.revoke(&ann, org.id(), rotated.key.id)).unwrap();
    assert_eq!(w.events(), before + 1, "revoking twice records once");
    let listed = block_on(keys.list(&ann, org.id(), orgman_domain::PageRequest::first())).unwrap();
    assert_eq!(listed.items.len(), 3);
    let read_only: PermissionSet = [Permission::OrganizationRead].into_iter().collect();
    assert!(listed.items.iter().all(|k| k.permissions == read_only));
}

#[test]
fn a_purge_erases_the_organizations_keys() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let keys = keys(&w);
    let issued =
        block_on(keys.create(&ann, org.id(), draft(&[Permission::OrganizationRead]))).unwrap();
    block_on(w.service.transition(
        &ann,
        org.id(),
        orgman_domain::LifecycleAction::RequestDeletion,
    ))
    .unwrap();
    w.memory.clock.advance(Duration::days(31));
    assert_eq!(block_on(w.service.purge_due()).unwrap(), 1);
    let purge = w.memory.store.committed_events().pop().unwrap();
    assert!(
        matches!(
            purge.kind,
            EventKind::OrganizationDeleted {
                erased_api_keys: 1,
                ..
            }
        ),
        "{purge:?}"
    );
    assert!(matches!(
        block_on(keys.authenticate(issued.secret.expose())),
        Err(OrgError::ApiKeyRejected { .. })
    ));
}
