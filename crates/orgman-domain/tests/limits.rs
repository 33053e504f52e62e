//! Member limits through the use cases, with the in-memory ports.

mod support;

use orgman_domain::{
    EventKind, ImportEntry, ImportOutcome, OrgError, OrgRole, OrganizationService, ServiceSettings,
    Slug,
};
use orgman_memory::block_on;
use support::{World, name};

#[test]
fn only_platform_admins_set_a_limit_and_setting_it_again_changes_nothing() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let stranger = w.user("stranger");
    assert_eq!(
        block_on(w.service.set_member_limit(&stranger, org.id(), Some(5))),
        Err(OrgError::NotFound)
    );
    assert_eq!(
        block_on(w.service.set_member_limit(&ann, org.id(), Some(5))),
        Err(OrgError::PlatformAdminRequired)
    );
    let before = w.events();
    let limited = block_on(w.service.set_member_limit(&w.admin, org.id(), Some(5))).unwrap();
    assert_eq!(limited.max_members(), Some(5));
    assert_eq!(limited.version(), org.version() + 1);
    let events = w.memory.store.committed_events();
    assert_eq!(events.len(), before + 1);
    assert_eq!(
        events[before].kind,
        EventKind::MemberLimitChanged {
            max_members: Some(5)
        }
    );
    block_on(w.service.set_member_limit(&w.admin, org.id(), Some(5))).unwrap();
    assert_eq!(w.events(), before + 1, "the same limit is no change");
}

#[test]
fn a_full_organization_refuses_additions_and_a_lowered_limit_keeps_members() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let (bob, carl, dee) = (w.user("bob"), w.user("carl"), w.user("dee"));
    block_on(w.service.set_member_limit(&w.admin, org.id(), Some(2))).unwrap();
    block_on(
        w.service
            .add_member(&ann, org.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();
    let events = w.events();
    assert_eq!(
        block_on(
            w.service
                .add_member(&ann, org.id(), carl.user_id(), OrgRole::Member)
        ),
        Err(OrgError::MemberLimitReached { max: 2 })
    );
    assert_eq!(w.events(), events, "nothing written");

    // Lowered below the count: nobody leaves, nobody joins.
    block_on(w.service.set_member_limit(&w.admin, org.id(), Some(1))).unwrap();
    assert_eq!(w.memory.store.memberships_of(org.id()).len(), 2);
    assert_eq!(
        block_on(
            w.service
                .add_member(&w.admin, org.id(), dee.user_id(), OrgRole::Member)
        ),
        Err(OrgError::MemberLimitReached { max: 1 })
    );
    // Lifting the limit makes room.
    block_on(w.service.set_member_limit(&w.admin, org.id(), None)).unwrap();
    block_on(
        w.service
            .add_member(&ann, org.id(), dee.user_id(), OrgRole::Member),
    )
    .unwrap();
}

#[test]
fn an_import_fills_the_room_left_and_refuses_the_rest() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    block_on(w.service.set_member_limit(&w.admin, org.id(), Some(3))).unwrap();
    let users: Vec<_> = (0..4).map(|n| w.user(&format!("u{n}")).user_id()).collect();
    let import = block_on(w.service.start_import(&ann, org.id())).unwrap();
    let entries: Vec<_> = users
        .iter()
        .map(|&user| ImportEntry::new(user, OrgRole::Member))
        .collect();
    let outcomes = block_on(import.apply(&entries)).unwrap();
    assert_eq!(
        outcomes,
        vec![
            ImportOutcome::Added,
            ImportOutcome::Added,
            ImportOutcome::Failed(OrgError::MemberLimitReached { max: 3 }),
            ImportOutcome::Failed(OrgError::MemberLimitReached { max: 3 }),
        ]
    );
    // Already-present rows are still `Unchanged`, not refused.
    let again = block_on(import.apply(&entries[..1])).unwrap();
    assert_eq!(again, vec![ImportOutcome::Unchanged]);
}

#[test]
fn new_organizations_start_with_the_default_limit() {
    let w = World::new();
    let service = OrganizationService::new(
        w.memory.ports(),
        ServiceSettings {
            default_max_members: Some(10),
            ..ServiceSettings::default()
        },
    );
    let org =
        block_on(service.create(&w.admin, name("Acme"), Slug::parse("acme").unwrap())).unwrap();
    assert_eq!(org.max_members(), Some(10));
    assert_eq!(
        block_on(w.service.get(&w.admin, org.id()))
            .unwrap()
            .max_members(),
        Some(10)
    );
}
