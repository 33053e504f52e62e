//! The rules of the crate documentation, exercised through the use cases
//! with the in-memory ports.

mod support;

use orgman_domain::ports::CacheKey;
use orgman_domain::time::Duration;
use orgman_domain::{
    Actor, CreationPolicy, EventKind, LifecycleAction, OrgError, OrgRole, OrgStatus,
    OrganizationId, OrganizationService, PageRequest, Permission, ServiceSettings, Slug, UserId,
};
use orgman_memory::block_on;
use support::{World, name};

#[test]
fn platform_admin_creates_and_becomes_owner_with_two_events() {
    let w = World::new();
    let org = block_on(
        w.service
            .create(&w.admin, name("Acme"), Slug::parse("acme").unwrap()),
    )
    .unwrap();
    assert_eq!(org.status(), OrgStatus::Active);
    assert_eq!(org.version(), 1);
    assert_eq!(
        block_on(w.service.role_of(org.id(), w.admin.user_id())).unwrap(),
        Some(OrgRole::Owner)
    );
    let kinds: Vec<_> = w
        .memory
        .store
        .committed_events()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::OrganizationCreated {
                name: name("Acme"),
                slug: Slug::parse("acme").unwrap()
            },
            EventKind::MemberAdded {
                user_id: w.admin.user_id(),
                role: OrgRole::Owner
            },
        ]
    );
}

#[test]
fn ordinary_users_create_only_under_the_self_service_policy() {
    let w = World::new();
    let ann = w.user("ann");
    assert_eq!(
        block_on(
            w.service
                .create(&ann, name("Ann's"), Slug::parse("anns").unwrap())
        ),
        Err(OrgError::PlatformAdminRequired)
    );
    let open = OrganizationService::new(
        w.memory.ports(),
        ServiceSettings {
            creation: CreationPolicy::AnyUser,
            ..ServiceSettings::default()
        },
    );
    let org = block_on(open.create(&ann, name("Ann's"), Slug::parse("anns").unwrap())).unwrap();
    assert_eq!(
        block_on(open.role_of(org.id(), ann.user_id())).unwrap(),
        Some(OrgRole::Owner)
    );
}

#[test]
fn duplicate_slug_is_a_conflict_and_writes_nothing() {
    let w = World::new();
    block_on(
        w.service
            .create(&w.admin, name("Acme"), Slug::parse("acme").unwrap()),
    )
    .unwrap();
    let before = w.events();
    assert_eq!(
        block_on(
            w.service
                .create(&w.admin, name("Other"), Slug::parse("acme").unwrap())
        ),
        Err(OrgError::SlugTaken {
            slug: "acme".into()
        })
    );
    assert_eq!(w.events(), before);
    let all = block_on(w.service.list_all(&w.admin, PageRequest::first())).unwrap();
    assert_eq!(all.items.len(), 1);
}

#[test]
fn unknown_creator_is_refused() {
    let w = World::new();
    let ghost = Actor::platform_admin(UserId::from_uuid(w.memory.ids.next()));
    assert_eq!(
        block_on(
            w.service
                .create(&ghost, name("Acme"), Slug::parse("acme").unwrap())
        ),
        Err(OrgError::UserNotFound)
    );
    assert_eq!(w.events(), 0);
}

#[test]
fn non_members_cannot_tell_an_organization_exists() {
    let w = World::new();
    let owner = w.user("owner");
    let stranger = w.user("stranger");
    let org = w.org_owned_by("acme", &owner);
    let missing = OrganizationId::from_uuid(w.memory.ids.next());
    for id in [org.id(), missing] {
        assert_eq!(
            block_on(w.service.get(&stranger, id)),
            Err(OrgError::NotFound)
        );
        assert_eq!(
            block_on(w.service.members(&stranger, id, PageRequest::first())),
            Err(OrgError::NotFound)
        );
        assert_eq!(
            block_on(w.service.rename(&stranger, id, name("Mine"), None)),
            Err(OrgError::NotFound)
        );
        assert_eq!(
            block_on(
                w.service
                    .add_member(&stranger, id, stranger.user_id(), OrgRole::Member)
            ),
            Err(OrgError::NotFound)
        );
    }
    assert_eq!(
        block_on(w.service.get(&owner, org.id())).unwrap().id(),
        org.id()
    );
    assert_eq!(
        block_on(w.service.get(&w.admin, org.id())).unwrap().id(),
        org.id()
    );
}

#[test]
fn only_platform_admins_list_every_organization_page_by_page() {
    let w = World::new();
    let ann = w.user("ann");
    for i in 0..5 {
        w.org_owned_by(&format!("org-{i}"), &ann);
    }
    assert_eq!(
        block_on(w.service.list_all(&ann, PageRequest::first())),
        Err(OrgError::PlatformAdminRequired)
    );
    let first = block_on(w.service.list_all(&w.admin, PageRequest::new(None, 2))).unwrap();
    assert_eq!(first.items.len(), 2);
    let second = block_on(
        w.service
            .list_all(&w.admin, PageRequest::new(first.next, 2)),
    )
    .unwrap();
    let third = block_on(
        w.service
            .list_all(&w.admin, PageRequest::new(second.next, 2)),
    )
    .unwrap();
    assert_eq!(third.items.len(), 1);
    assert_eq!(third.next, None);
    let mut slugs: Vec<_> = [first, second, third]
        .into_iter()
        .flat_map(|p| p.items)
        .map(|o| o.slug().to_string())
        .collect();
    slugs.sort();
    assert_eq!(slugs, ["org-0", "org-1", "org-2", "org-3", "org-4"]);
}

#[test]
fn mine_lists_memberships_with_roles_and_hides_deleted() {
    let w = World::new();
    let ann = w.user("ann");
    let bob = w.user("bob");
    let a = w.org_owned_by("a", &ann);
    let b = w.org_owned_by("b", &bob);
    block_on(
        w.service
            .add_member(&bob, b.id(), ann.user_id(), OrgRole::Member),
    )
    .unwrap();
    w.org_owned_by("c", &bob);
    let mine = block_on(w.service.list_mine(&ann, PageRequest::first())).unwrap();
    let got: Vec<_> = mine.items.iter().map(|(o, r)| (o.id(), *r)).collect();
    assert_eq!(
        got,
        vec![(a.id(), OrgRole::Owner), (b.id(), OrgRole::Member)]
    );

    block_on(
        w.service
            .transition(&ann, a.id(), LifecycleAction::RequestDeletion),
    )
    .unwrap();
    w.memory.clock.advance(Duration::days(31));
    block_on(
        w.service
            .transition(&w.admin, a.id(), LifecycleAction::Purge),
    )
    .unwrap();
    let mine = block_on(w.service.list_mine(&ann, PageRequest::first())).unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(
        block_on(w.service.get(&ann, a.id())),
        Err(OrgError::NotFound)
    );
    assert_eq!(
        block_on(w.service.get(&w.admin, a.id())).unwrap().status(),
        OrgStatus::Deleted
    );
}

#[test]
fn rename_needs_admin_role_and_honours_the_version() {
    let w = World::new();
    let owner = w.user("owner");
    let admin = w.user("admin");
    let member = w.user("member");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), admin.user_id(), OrgRole::Admin),
    )
    .unwrap();
    block_on(
        w.service
            .add_member(&owner, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();

    assert_eq!(
        block_on(w.service.rename(&member, org.id(), name("X"), None)),
        Err(OrgError::Forbidden {
            permission: Permission::OrganizationUpdate
        })
    );
    let current = block_on(w.service.get(&admin, org.id())).unwrap();
    let renamed =
        block_on(
            w.service
                .rename(&admin, org.id(), name("Acme Inc"), Some(current.version())),
        )
        .unwrap();
    assert_eq!(renamed.name().as_str(), "Acme Inc");
    assert_eq!(renamed.version(), current.version() + 1);
    assert_eq!(
        block_on(
            w.service
                .rename(&owner, org.id(), name("Stale"), Some(current.version()))
        ),
        Err(OrgError::VersionMismatch {
            expected: current.version(),
            actual: renamed.version()
        })
    );
    // The cached organization was invalidated: the member reads the new name.
    assert_eq!(
        block_on(w.service.get(&member, org.id()))
            .unwrap()
            .name()
            .as_str(),
        "Acme Inc"
    );

    let events = w.events();
    let same = block_on(w.service.rename(&owner, org.id(), name("Acme Inc"), None)).unwrap();
    assert_eq!(same.version(), renamed.version());
    assert_eq!(
        w.events(),
        events,
        "a rename that changes nothing emits nothing"
    );
}

#[test]
fn lifecycle_permissions_and_read_only_states() {
    let w = World::new();
    let owner = w.user("owner");
    let admin = w.user("admin");
    let newcomer = w.user("newcomer");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), admin.user_id(), OrgRole::Admin),
    )
    .unwrap();

    for action in [LifecycleAction::Suspend, LifecycleAction::Purge] {
        assert_eq!(
            block_on(w.service.transition(&owner, org.id(), action)),
            Err(OrgError::Forbidden {
                permission: Permission::Suspend
            })
        );
    }
    assert_eq!(
        block_on(
            w.service
                .transition(&admin, org.id(), LifecycleAction::RequestDeletion)
        ),
        Err(OrgError::Forbidden {
            permission: Permission::OrganizationDelete
        })
    );

    let suspended = block_on(
        w.service
            .transition(&w.admin, org.id(), LifecycleAction::Suspend),
    )
    .unwrap();
    assert_eq!(suspended.status(), OrgStatus::Suspended);
    // Members keep reading; nobody writes, not even a platform admin.
    assert_eq!(
        block_on(w.service.get(&admin, org.id())).unwrap().status(),
        OrgStatus::Suspended
    );
    assert!(block_on(w.service.members(&admin, org.id(), PageRequest::first())).is_ok());
    for actor in [&owner, &w.admin] {
        assert_eq!(
            block_on(
                w.service
                    .add_member(actor, org.id(), newcomer.user_id(), OrgRole::Member)
            ),
            Err(OrgError::ReadOnly {
                status: OrgStatus::Suspended
            })
        );
        assert_eq!(
            block_on(w.service.rename(actor, org.id(), name("Renamed"), None)),
            Err(OrgError::ReadOnly {
                status: OrgStatus::Suspended
            })
        );
    }
    assert_eq!(
        block_on(
            w.service
                .transition(&w.admin, org.id(), LifecycleAction::RequestDeletion)
        ),
        Err(OrgError::InvalidTransition {
            from: OrgStatus::Suspended,
            action: LifecycleAction::RequestDeletion
        })
    );
    block_on(
        w.service
            .transition(&w.admin, org.id(), LifecycleAction::Reactivate),
    )
    .unwrap();

    let pending = block_on(w.service.transition(
        &owner,
        org.id(),
        LifecycleAction::RequestDeletion,
    ))
    .unwrap();
    assert_eq!(pending.status(), OrgStatus::PendingDeletion);
    assert_eq!(
        block_on(
            w.service
                .transition(&w.admin, org.id(), LifecycleAction::Purge)
        ),
        Err(OrgError::GracePeriodNotOver {
            purge_after: pending.purge_after().unwrap()
        })
    );
    let restored = block_on(
        w.service
            .transition(&owner, org.id(), LifecycleAction::Restore),
    )
    .unwrap();
    assert_eq!(restored.status(), OrgStatus::Active);
    assert_eq!(restored.purge_after(), None);
}

#[test]
fn delegated_administration_of_members() {
    let w = World::new();
    let owner = w.user("owner");
    let admin = w.user("admin");
    let member = w.user("member");
    let other = w.user("other");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), admin.user_id(), OrgRole::Admin),
    )
    .unwrap();

    // An org ADMIN manages non-owners...
    let added = block_on(
        w.service
            .add_member(&admin, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    assert_eq!(added.role, OrgRole::Member);
    let changed =
        block_on(
            w.service
                .change_role(&admin, org.id(), member.user_id(), OrgRole::Admin),
        )
        .unwrap();
    assert_eq!(changed.role, OrgRole::Admin);
    // ...but never grants or revokes OWNER.
    assert_eq!(
        block_on(
            w.service
                .change_role(&admin, org.id(), member.user_id(), OrgRole::Owner)
        ),
        Err(OrgError::OwnerRequired)
    );
    assert_eq!(
        block_on(
            w.service
                .add_member(&admin, org.id(), other.user_id(), OrgRole::Owner)
        ),
        Err(OrgError::OwnerRequired)
    );
    assert_eq!(
        block_on(w.service.remove_member(&admin, org.id(), owner.user_id())),
        Err(OrgError::OwnerRequired)
    );
    // A MEMBER manages nobody.
    block_on(
        w.service
            .change_role(&owner, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    assert_eq!(
        block_on(
            w.service
                .add_member(&member, org.id(), other.user_id(), OrgRole::Member)
        ),
        Err(OrgError::Forbidden {
            permission: Permission::MembersManage
        })
    );
    assert_eq!(
        block_on(w.service.remove_member(&member, org.id(), admin.user_id())),
        Err(OrgError::Forbidden {
            permission: Permission::MembersManage
        })
    );
    // The OWNER grants OWNER.
    block_on(
        w.service
            .change_role(&owner, org.id(), admin.user_id(), OrgRole::Owner),
    )
    .unwrap();
    assert_eq!(
        block_on(w.service.role_of(org.id(), admin.user_id())).unwrap(),
        Some(OrgRole::Owner)
    );
}

#[test]
fn a_user_appears_once_and_must_exist() {
    let w = World::new();
    let owner = w.user("owner");
    let member = w.user("member");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    let events = w.events();
    assert_eq!(
        block_on(
            w.service
                .add_member(&owner, org.id(), member.user_id(), OrgRole::Admin)
        ),
        Err(OrgError::AlreadyMember)
    );
    let ghost = UserId::from_uuid(w.memory.ids.next());
    assert_eq!(
        block_on(
            w.service
                .add_member(&owner, org.id(), ghost, OrgRole::Member)
        ),
        Err(OrgError::UserNotFound)
    );
    assert_eq!(
        block_on(w.service.remove_member(&owner, org.id(), ghost)),
        Err(OrgError::MemberNotFound)
    );
    assert_eq!(
        block_on(
            w.service
                .change_role(&owner, org.id(), ghost, OrgRole::Admin)
        ),
        Err(OrgError::MemberNotFound)
    );
    assert_eq!(w.events(), events);
    assert_eq!(w.memory.store.memberships_of(org.id()).len(), 2);
}

#[test]
fn the_last_owner_can_be_neither_removed_nor_demoted() {
    let w = World::new();
    let owner = w.user("owner");
    let second = w.user("second");
    let org = w.org_owned_by("acme", &owner);
    for actor in [&owner, &w.admin] {
        assert_eq!(
            block_on(w.service.remove_member(actor, org.id(), owner.user_id())),
            Err(OrgError::LastOwner)
        );
        assert_eq!(
            block_on(
                w.service
                    .change_role(actor, org.id(), owner.user_id(), OrgRole::Admin)
            ),
            Err(OrgError::LastOwner)
        );
    }
    block_on(
        w.service
            .add_member(&owner, org.id(), second.user_id(), OrgRole::Owner),
    )
    .unwrap();
    // With two owners, one may step down (here by leaving).
    block_on(w.service.remove_member(&owner, org.id(), owner.user_id())).unwrap();
    assert_eq!(
        block_on(w.service.remove_member(&second, org.id(), second.user_id())),
        Err(OrgError::LastOwner)
    );
}

#[test]
fn members_may_leave() {
    let w = World::new();
    let owner = w.user("owner");
    let member = w.user("member");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    block_on(w.service.remove_member(&member, org.id(), member.user_id())).unwrap();
    assert_eq!(
        block_on(w.service.get(&member, org.id())),
        Err(OrgError::NotFound)
    );
}

#[test]
fn role_changes_that_change_nothing_emit_nothing() {
    let w = World::new();
    let owner = w.user("owner");
    let member = w.user("member");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    let events = w.events();
    let same = block_on(
        w.service
            .change_role(&owner, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    assert_eq!(same.role, OrgRole::Member);
    assert_eq!(w.events(), events);
}

#[test]
fn revocation_is_immediate_despite_the_cache() {
    let w = World::new();
    let owner = w.user("owner");
    let member = w.user("member");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    // Warm the cache with the member's role.
    block_on(w.service.get(&member, org.id())).unwrap();
    let hits = w.memory.cache.hits();
    block_on(w.service.get(&member, org.id())).unwrap();
    assert!(
        w.memory.cache.hits() > hits,
        "second read is served from the cache"
    );
    assert!(
        w.memory
            .cache
            .contains(CacheKey::Role(org.id(), member.user_id()))
    );

    block_on(w.service.remove_member(&owner, org.id(), member.user_id())).unwrap();
    assert!(
        !w.memory
            .cache
            .contains(CacheKey::Role(org.id(), member.user_id()))
    );
    assert_eq!(
        block_on(w.service.get(&member, org.id())),
        Err(OrgError::NotFound)
    );
}

#[test]
fn storage_outage_is_reported_as_unavailable_and_changes_nothing() {
    let w = World::new();
    let owner = w.user("owner");
    let org = w.org_owned_by("acme", &owner);
    let events = w.events();
    w.memory.store.set_unavailable(true);
    assert!(matches!(
        block_on(w.service.rename(&w.admin, org.id(), name("Down"), None)),
        Err(OrgError::Unavailable(_))
    ));
    assert!(matches!(
        block_on(w.service.list_all(&w.admin, PageRequest::first())),
        Err(OrgError::Unavailable(_))
    ));
    w.memory.store.set_unavailable(false);
    assert_eq!(w.events(), events);
    assert_eq!(
        block_on(w.service.get(&owner, org.id()))
            .unwrap()
            .name()
            .as_str(),
        "acme"
    );
}

#[test]
fn every_event_names_its_organization_actor_and_schema() {
    let w = World::new();
    let owner = w.user("owner");
    let org = w.org_owned_by("acme", &owner);
    let events = w.memory.store.committed_events();
    let mut ids: Vec<_> = events.iter().map(|e| e.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    for event in &events {
        assert_eq!(event.organization_id, org.id());
        assert_eq!(event.actor, Some(w.admin.user_id().as_uuid()));
        assert_eq!(event.schema_version, 1);
    }
}

#[test]
fn a_store_after_an_invalidation_is_never_served() {
    use orgman_domain::ports::{Lookup, MembershipCache};
    let w = World::new();
    let owner = w.user("owner");
    let member = w.user("member");
    let org = w.org_owned_by("acme", &owner);
    let cache = &w.memory.cache;
    // A reader misses and reads storage (the member still belongs)...
    let Lookup::Miss(lease) = block_on(cache.role(org.id(), member.user_id())) else {
        panic!("cold cache")
    };
    // ...meanwhile the membership changes and is invalidated...
    block_on(cache.invalidate(&[CacheKey::Role(org.id(), member.user_id())]));
    // ...and only then the reader stores what it read.
    block_on(cache.store_role(
        lease,
        org.id(),
        member.user_id(),
        Some(orgman_domain::Access::of_role(OrgRole::Member)),
    ));
    assert!(matches!(
        block_on(cache.role(org.id(), member.user_id())),
        Lookup::Miss(_)
    ));
}

#[test]
fn the_organization_list_is_cached_and_never_stale() {
    let w = World::new();
    let owner = w.user("owner");
    let member = w.user("member");
    let a = w.org_owned_by("a", &owner);
    block_on(
        w.service
            .add_member(&owner, a.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    let first = block_on(w.service.list_mine(&member, PageRequest::first())).unwrap();
    let hits = w.memory.cache.hits();
    let again = block_on(w.service.list_mine(&member, PageRequest::first())).unwrap();
    assert_eq!(again, first);
    assert_eq!(w.memory.cache.hits(), hits + 1, "served from the cache");

    // A rename of a listed organization shows at once...
    block_on(w.service.rename(&owner, a.id(), name("A renamed"), None)).unwrap();
    let renamed = block_on(w.service.list_mine(&member, PageRequest::first())).unwrap();
    assert_eq!(renamed.items[0].0.name().as_str(), "A renamed");
    // ...so does a new membership and a removal.
    let b = w.org_owned_by("b", &owner);
    block_on(
        w.service
            .add_member(&owner, b.id(), member.user_id(), OrgRole::Admin),
    )
    .unwrap();
    assert_eq!(
        block_on(w.service.list_mine(&member, PageRequest::first()))
            .unwrap()
            .items
            .len(),
        2
    );
    block_on(w.service.remove_member(&owner, a.id(), member.user_id())).unwrap();
    let left = block_on(w.service.list_mine(&member, PageRequest::first())).unwrap();
    assert_eq!(
        left.items
            .iter()
            .map(|(o, r)| (o.id(), *r))
            .collect::<Vec<_>>(),
        vec![(b.id(), OrgRole::Admin)]
    );
}

#[test]
fn a_list_read_before_a_change_is_not_stored_after_it() {
    use orgman_domain::ports::{Lookup, MembershipCache};
    let w = World::new();
    let owner = w.user("owner");
    let org = w.org_owned_by("acme", &owner);
    let cache = &w.memory.cache;
    let Lookup::Miss(lease) = block_on(cache.user_organizations(owner.user_id())) else {
        panic!("cold")
    };
    let stale = block_on(w.service.list_mine(&owner, PageRequest::new(None, 10)))
        .unwrap()
        .items;
    block_on(w.service.rename(&owner, org.id(), name("Changed"), None)).unwrap();
    block_on(cache.store_user_organizations(lease, owner.user_id(), &stale));
    assert!(matches!(
        block_on(cache.user_organizations(owner.user_id())),
        Lookup::Miss(_)
    ));
}

#[test]
fn organizations_are_purged_by_the_service_once_the_grace_period_ends() {
    let w = World::new();
    let owner = w.user("owner");
    let due = w.org_owned_by("due", &owner);
    let restored = w.org_owned_by("restored", &owner);
    let active = w.org_owned_by("active", &owner);
    for org in [&due, &restored] {
        block_on(
            w.service
                .transition(&owner, org.id(), LifecycleAction::RequestDeletion),
        )
        .unwrap();
    }
    assert_eq!(
        block_on(w.service.purge_due()).unwrap(),
        0,
        "not before the grace period"
    );
    block_on(
        w.service
            .transition(&owner, restored.id(), LifecycleAction::Restore),
    )
    .unwrap();
    w.memory.clock.advance(Duration::days(30));
    let events = w.events();
    assert_eq!(block_on(w.service.purge_due()).unwrap(), 1);
    assert_eq!(
        block_on(w.service.get(&w.admin, due.id()))
            .unwrap()
            .status(),
        OrgStatus::Deleted
    );
    for kept in [&restored, &active] {
        assert_eq!(
            block_on(w.service.get(&owner, kept.id())).unwrap().status(),
            OrgStatus::Active
        );
    }
    let purge = w.memory.store.committed_events().pop().unwrap();
    assert_eq!(w.events(), events + 1);
    // The owner's membership was erased with it; the event says so.
    assert_eq!(
        purge.kind,
        EventKind::OrganizationDeleted {
            erased_members: 1,
            erased_sso_configurations: 0,
            erased_invitations: 0,
            erased_domains: 0,
            erased_api_keys: 0
        }
    );
    assert!(w.memory.store.memberships_of(due.id()).is_empty());
    assert_eq!(w.memory.store.memberships_of(active.id()).len(), 1);
    assert_eq!(purge.actor, None, "the service purged it, not a user");
    assert_eq!(block_on(w.service.purge_due()).unwrap(), 0, "nothing twice");
}

#[test]
fn a_backlog_larger_than_one_batch_is_purged_in_one_run() {
    let w = World::new();
    let owner = w.user("owner");
    // More than the purger's batch of 100.
    let orgs: Vec<_> = (0..130)
        .map(|i| w.org_owned_by(&format!("backlog-{i}"), &owner))
        .collect();
    for org in &orgs {
        block_on(
            w.service
                .transition(&owner, org.id(), LifecycleAction::RequestDeletion),
        )
        .unwrap();
    }
    w.memory.clock.advance(Duration::days(30));
    assert_eq!(block_on(w.service.purge_due()).unwrap(), 130);
    for org in &orgs {
        assert_eq!(
            block_on(w.service.get(&w.admin, org.id()))
                .unwrap()
                .status(),
            OrgStatus::Deleted
        );
    }
}

/// An authorizer outside the domain (as SpiceDB is): the domain's rules over
/// the stored roles, but it says it does not decide from roles, and counts
/// its checks.
struct External {
    inner: orgman_domain::ports::RoleAuthorizer,
    checks: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl orgman_domain::ports::Authorizer for External {
    async fn check(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        permission: Permission,
    ) -> Result<bool, orgman_domain::AuthzError> {
        self.checks
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.check(actor, organization, permission).await
    }

    async fn apply(&self, _: &orgman_domain::DomainEvent) -> Result<(), orgman_domain::AuthzError> {
        Ok(())
    }
}

impl External {
    /// The domain's rules over the world's stored roles, counting checks.
    fn over(w: &World) -> std::sync::Arc<External> {
        std::sync::Arc::new(External {
            inner: orgman_domain::ports::RoleAuthorizer::new(
                w.memory.store.clone(),
                std::sync::Arc::new(orgman_domain::ports::NoCache),
            ),
            checks: Default::default(),
        })
    }
}

#[test]
fn an_external_authorizers_decisions_are_cached_until_the_organization_changes() {
    use std::sync::atomic::Ordering;

    let w = World::new();
    let external = External::over(&w);
    let service = OrganizationService::new(
        orgman_domain::ServicePorts {
            authorizer: external.clone(),
            ..w.memory.ports()
        },
        ServiceSettings::default(),
    );
    let owner = w.user("owner");
    let member = w.user("member");
    let org = w.org_owned_by("acme", &owner);
    block_on(service.add_member(&owner, org.id(), member.user_id(), OrgRole::Member)).unwrap();

    let before = external.checks.load(Ordering::SeqCst);
    block_on(service.get(&member, org.id())).unwrap();
    assert_eq!(external.checks.load(Ordering::SeqCst), before + 1);
    for _ in 0..3 {
        block_on(service.get(&member, org.id())).unwrap();
    }
    assert_eq!(
        external.checks.load(Ordering::SeqCst),
        before + 1,
        "later reads use the cached decision"
    );

    // A committed change of the organization retires its decisions: the
    // removed member is asked about again, and refused.
    block_on(service.remove_member(&owner, org.id(), member.user_id())).unwrap();
    assert_eq!(
        block_on(service.get(&member, org.id())),
        Err(OrgError::NotFound)
    );
    assert!(external.checks.load(Ordering::SeqCst) > before + 1);
    // The refusal is cached too, and stays a refusal.
    assert_eq!(
        block_on(service.get(&member, org.id())),
        Err(OrgError::NotFound)
    );
}

#[test]
fn a_member_reads_an_organization_in_one_storage_read() {
    let w = World::new();
    let owner = w.user("owner");
    let stranger = w.user("stranger");
    let org = w.org_owned_by("acme", &owner);
    let misses = w.memory.cache.misses();
    block_on(w.service.get(&owner, org.id())).unwrap();
    assert!(w.memory.cache.misses() > misses, "first read misses");
    let hits = w.memory.cache.hits();
    block_on(w.service.get(&owner, org.id())).unwrap();
    assert_eq!(
        w.memory.cache.hits(),
        hits + 2,
        "role and organization cached"
    );
    // A stranger and a missing organization cannot be told apart.
    assert_eq!(
        block_on(w.service.get(&stranger, org.id())),
        Err(OrgError::NotFound)
    );
    assert_eq!(
        block_on(
            w.service
                .get(&owner, OrganizationId::from_uuid(uuid::Uuid::nil()))
        ),
        Err(OrgError::NotFound)
    );
}

#[test]
fn a_profile_from_token_claims_keeps_what_fits_and_refuses_what_cannot_be_stored() {
    let id = UserId::from_uuid(uuid::Uuid::nil());
    let long_name = "é".repeat(300);
    let profile = orgman_domain::UserProfile::from_claims(
        id,
        "subject",
        Some("not an address"),
        Some(&long_name),
        Some("login"),
    )
    .unwrap();
    assert_eq!(profile.email, None, "an invalid address is left out");
    assert_eq!(
        profile.display_name.as_deref().map(|n| n.chars().count()),
        Some(orgman_domain::UserProfile::MAX_DISPLAY_NAME_CHARS)
    );
    let blank =
        orgman_domain::UserProfile::from_claims(id, "s", None, Some("  "), Some("login")).unwrap();
    assert_eq!(
        blank.display_name.as_deref(),
        Some("login"),
        "the login name stands in"
    );
    for subject in [String::new(), "s".repeat(256)] {
        assert!(
            orgman_domain::UserProfile::from_claims(id, &subject, None, None, None).is_err(),
            "{} bytes",
            subject.len()
        );
    }
}

#[test]
fn a_request_context_names_an_organization_the_actor_is_in() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let stranger = w.user("stranger");
    assert_eq!(
        block_on(w.service.context(&ann, org.id())).unwrap(),
        Some(OrgRole::Owner)
    );
    assert_eq!(
        block_on(w.service.context(&stranger, org.id())),
        Err(OrgError::NotFound)
    );
    let nowhere = OrganizationId::from_uuid(orgman_domain::uuid::Uuid::nil());
    assert_eq!(
        block_on(w.service.context(&stranger, nowhere)),
        Err(OrgError::NotFound),
        "the same answer whether it exists or not"
    );
    assert_eq!(
        block_on(w.service.context(&w.admin, org.id())).unwrap(),
        None
    );
}

#[test]
fn provisioning_keeps_a_user_whose_address_another_user_holds() {
    use orgman_domain::ports::UserRepository;
    use orgman_domain::{Email, UserProfile, provision_from_claims};
    let w = World::new();
    let profile = |id: UserId, subject: &str| UserProfile {
        id,
        subject: subject.to_owned(),
        email: Some(Email::parse("shared@example.com").unwrap()),
        display_name: None,
        given_name: None,
        family_name: None,
    };
    let first = UserId::from_uuid(w.memory.ids.next());
    let second = UserId::from_uuid(w.memory.ids.next());
    let kept = block_on(provision_from_claims(
        &*w.memory.store,
        profile(first, "one"),
    ))
    .unwrap();
    assert!(kept.email.is_some());
    let again = block_on(provision_from_claims(
        &*w.memory.store,
        profile(first, "one"),
    ))
    .unwrap();
    assert_eq!(again.id, first, "idempotent");
    let without = block_on(provision_from_claims(
        &*w.memory.store,
        profile(second, "two"),
    ))
    .unwrap();
    assert_eq!(without.email, None);
    assert!(block_on(w.memory.store.user(second)).unwrap().is_some());
}

#[test]
fn an_authorizer_is_asked_once_per_use_case_and_never_about_platform_admins() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    let w = World::new();
    let external = External::over(&w);
    // No cache: every decision is asked for.
    let service = OrganizationService::new(
        orgman_domain::ServicePorts {
            authorizer: external.clone(),
            cache: Arc::new(orgman_domain::ports::NoCache),
            ..w.memory.ports()
        },
        ServiceSettings::default(),
    );
    let owner = w.user("owner");
    let (member, stranger) = (w.user("member"), w.user("stranger"));
    let org = w.org_owned_by("acme", &owner);
    let asked = || external.checks.load(Ordering::SeqCst);

    let before = asked();
    block_on(service.add_member(&w.admin, org.id(), member.user_id(), OrgRole::Member)).unwrap();
    block_on(service.rename(&w.admin, org.id(), name("Acme by admin"), None)).unwrap();
    assert_eq!(asked(), before, "platform admins are decided by the domain");

    // A permitted write: one question.
    let before = asked();
    block_on(service.rename(&owner, org.id(), name("Acme by owner"), None)).unwrap();
    assert_eq!(asked(), before + 1);
    // A refused one asks again, to tell a member (403) from a stranger (404).
    let before = asked();
    assert!(matches!(
        block_on(service.rename(&member, org.id(), name("No"), None)),
        Err(OrgError::Forbidden { .. })
    ));
    assert_eq!(asked(), before + 2);
    assert_eq!(
        block_on(service.rename(&stranger, org.id(), name("No"), None)),
        Err(OrgError::NotFound)
    );
}
