//! Custom roles and the permission catalog through the use cases, with the
//! in-memory ports.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use orgman_domain::{
    Actor, CatalogPermission, EventKind, MemberRoles, OrgError, OrgRole, PermissionName, RoleDraft,
    RoleKey, RolePatch, RoleRef, RoleService,
};
use orgman_memory::block_on;
use support::World;

fn p(name: &str) -> PermissionName {
    PermissionName::parse(name).unwrap()
}

fn key(text: &str) -> RoleKey {
    RoleKey::parse(text).unwrap()
}

fn draft(name: &str, permissions: &[&str]) -> RoleDraft {
    RoleDraft::new(name, "", permissions.iter().map(|n| p(n)).collect()).unwrap()
}

fn held(names: &[&str]) -> MemberRoles {
    let refs: Vec<_> = names.iter().map(|n| RoleRef::parse(n).unwrap()).collect();
    MemberRoles::from_refs(&refs).unwrap()
}

struct Setup {
    w: World,
    roles: RoleService,
}

fn setup() -> Setup {
    let w = World::new();
    let roles = RoleService::new(Arc::new(w.memory.service()), w.memory.store.clone());
    let invoices = CatalogPermission::registered(p("invoices:read"), "Read invoices").unwrap();
    assert!(block_on(roles.register_permission(&w.admin, invoices)).unwrap());
    Setup { w, roles }
}

#[test]
fn a_custom_role_grants_its_permissions_to_the_members_holding_it() {
    let Setup { w, roles } = setup();
    let ann = w.user("ann");
    let bob = w.user("bob");
    let acme = w.org_owned_by("acme", &ann);
    block_on(
        w.service
            .add_member(&ann, acme.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();

    let billing = block_on(roles.create(
        &ann,
        acme.id(),
        key("billing-viewer"),
        draft(
            "Billing viewer",
            &["organization:read", "invoices:read", "audit:read"],
        ),
    ))
    .unwrap();
    assert_eq!(billing.permissions.len(), 3);
    let before = block_on(roles.member_permissions(&ann, acme.id(), bob.user_id())).unwrap();
    assert!(!before.contains(&p("invoices:read")));
    // Bob cannot read the audit trail as a MEMBER...
    let audit = |actor: &Actor| {
        block_on(w.service.ensure_permission(
            actor,
            acme.id(),
            orgman_domain::Permission::AuditRead,
        ))
    };
    assert!(matches!(audit(&bob), Err(OrgError::Forbidden { .. })));

    let changed =
        block_on(roles.set_member_roles(&ann, acme.id(), bob.user_id(), held(&["billing-viewer"])))
            .unwrap();
    assert_eq!(changed.role, OrgRole::Member);
    assert_eq!(changed.custom_roles, [key("billing-viewer")].into());
    let after = block_on(roles.member_permissions(&bob, acme.id(), bob.user_id())).unwrap();
    assert!(after.contains(&p("invoices:read")));
    assert!(after.contains(&p("members:read")), "MEMBER's own stay");
    // ...and can once the role grants it; taking it away takes it at once.
    assert_eq!(audit(&bob), Ok(()));
    let patch = RolePatch {
        permissions: Some([p("invoices:read")].into()),
        ..RolePatch::default()
    };
    block_on(roles.update(&ann, acme.id(), &key("billing-viewer"), patch)).unwrap();
    assert!(matches!(audit(&bob), Err(OrgError::Forbidden { .. })));

    let kinds: Vec<_> = w
        .memory
        .store
        .committed_events()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| {
            matches!(
                k,
                EventKind::RoleCreated { .. }
                    | EventKind::RoleUpdated { .. }
                    | EventKind::MemberRolesChanged { .. }
            )
        })
        .collect();
    assert!(matches!(&kinds[..], [
        EventKind::RoleCreated { .. },
        EventKind::MemberRolesChanged { custom_roles, previous_custom_roles, .. },
        EventKind::RoleUpdated { revoked, .. },
    ] if custom_roles.len() == 1 && previous_custom_roles.is_empty() && revoked.len() == 2));
}

#[test]
fn nobody_grants_what_they_do_not_hold() {
    let Setup { w, roles } = setup();
    let ann = w.user("ann");
    let ada = w.user("ada");
    let max = w.user("max");
    let acme = w.org_owned_by("acme", &ann);
    for (user, role) in [(&ada, OrgRole::Admin), (&max, OrgRole::Member)] {
        block_on(w.service.add_member(&ann, acme.id(), user.user_id(), role)).unwrap();
    }
    // An OWNER holds every permission of the catalog, other services'
    // included; an ADMIN holds orgman's ADMIN set.
    let rows: [(&Actor, &[&str], Result<(), OrgError>); 5] = [
        (&ada, &["members:read"], Ok(())),
        (
            &ada,
            &["organization:delete"],
            Err(OrgError::PermissionNotHeld {
                permission: p("organization:delete"),
            }),
        ),
        (&ann, &["organization:delete", "invoices:read"], Ok(())),
        (
            &ada,
            &["invoices:read"],
            Err(OrgError::PermissionNotHeld {
                permission: p("invoices:read"),
            }),
        ),
        (&w.admin, &["invoices:read"], Ok(())),
    ];
    for (n, (actor, permissions, expected)) in rows.into_iter().enumerate() {
        let made = block_on(roles.create(
            actor,
            acme.id(),
            key(&format!("r{n}")),
            draft("R", permissions),
        ));
        assert_eq!(made.map(drop), expected, "row {n}");
    }
    // A MEMBER cannot manage roles at all.
    assert!(matches!(
        block_on(roles.create(&max, acme.id(), key("x"), draft("X", &[]))),
        Err(OrgError::Forbidden { .. })
    ));
    // An ADMIN may not hand a member a role granting what the ADMIN lacks
    // (r2 grants invoices:read and organization:delete; the first missing
    // by name is named), nor edit a role to grant it.
    assert_eq!(
        block_on(roles.set_member_roles(&ada, acme.id(), max.user_id(), held(&["r2"]))).map(drop),
        Err(OrgError::PermissionNotHeld {
            permission: p("invoices:read")
        })
    );
    let patch = RolePatch {
        permissions: Some([p("members:read"), p("organization:delete")].into()),
        ..RolePatch::default()
    };
    assert_eq!(
        block_on(roles.update(&ada, acme.id(), &key("r0"), patch)).map(drop),
        Err(OrgError::PermissionNotHeld {
            permission: p("organization:delete")
        })
    );
    // A member managing members through a custom role cannot make an
    // ADMIN (ADMIN's permissions are more than theirs), nor an OWNER.
    block_on(roles.create(
        &ann,
        acme.id(),
        key("people"),
        draft("People", &["members:manage"]),
    ))
    .unwrap();
    block_on(roles.set_member_roles(&ann, acme.id(), max.user_id(), held(&["people"]))).unwrap();
    let carl = w.user("carl");
    block_on(
        w.service
            .add_member(&max, acme.id(), carl.user_id(), OrgRole::Member),
    )
    .unwrap();
    assert!(matches!(
        block_on(roles.set_member_roles(&max, acme.id(), carl.user_id(), held(&["ADMIN"]))),
        Err(OrgError::PermissionNotHeld { .. })
    ));
    assert_eq!(
        block_on(roles.set_member_roles(&max, acme.id(), carl.user_id(), held(&["OWNER"])))
            .map(drop),
        Err(OrgError::OwnerRequired)
    );
    // The same holds where members are added, invited or imported with a
    // built-in role.
    let dan = w.user("dan");
    assert!(matches!(
        block_on(
            w.service
                .add_member(&max, acme.id(), dan.user_id(), OrgRole::Admin)
        ),
        Err(OrgError::PermissionNotHeld { .. })
    ));
    let inviter = draft("Inviter", &["invitations:manage"]);
    block_on(roles.create(&ann, acme.id(), key("inviter"), inviter)).unwrap();
    block_on(roles.set_member_roles(&ann, acme.id(), carl.user_id(), held(&["inviter"]))).unwrap();
    let invitations = orgman_domain::InvitationService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        Arc::new(orgman_memory::PredictableTokens::default()),
        orgman_domain::time::Duration::days(7),
    );
    let email = |a: &str| orgman_domain::Email::parse(a).unwrap();
    assert!(matches!(
        block_on(invitations.invite(&carl, acme.id(), email("x@example.com"), OrgRole::Admin)),
        Err(OrgError::PermissionNotHeld { .. })
    ));
    assert_eq!(
        block_on(invitations.invite(&carl, acme.id(), email("y@example.com"), OrgRole::Owner))
            .map(drop),
        Err(OrgError::OwnerRequired)
    );
    block_on(invitations.invite(&carl, acme.id(), email("z@example.com"), OrgRole::Member))
        .unwrap();
    let import = block_on(w.service.start_import(&max, acme.id())).unwrap();
    let outcomes = block_on(import.apply(&[
        orgman_domain::ImportEntry::new(dan.user_id(), OrgRole::Admin),
        orgman_domain::ImportEntry::new(dan.user_id(), OrgRole::Member),
    ]))
    .unwrap();
    assert!(
        matches!(
            &outcomes[..],
            [
                orgman_domain::ImportOutcome::Failed(OrgError::PermissionNotHeld { .. }),
                orgman_domain::ImportOutcome::Added
            ]
        ),
        "{outcomes:?}"
    );
}

#[test]
fn the_last_owner_stays_when_roles_are_set() {
    let Setup { w, roles } = setup();
    let ann = w.user("ann");
    let acme = w.org_owned_by("acme", &ann);
    assert_eq!(
        block_on(roles.set_member_roles(&ann, acme.id(), ann.user_id(), held(&["ADMIN"])))
            .map(drop),
        Err(OrgError::LastOwner)
    );
    // Setting what is held changes nothing and writes no event.
    let events = w.events();
    block_on(roles.set_member_roles(&ann, acme.id(), ann.user_id(), held(&["OWNER"]))).unwrap();
    assert_eq!(w.events(), events);
    assert!(matches!(
        block_on(roles.set_member_roles(&ann, acme.id(), ann.user_id(), held(&["OWNER", "nope"]))),
        Err(OrgError::UnknownRoleKey { key }) if key == "nope"
    ));
}

#[test]
fn a_held_role_is_deleted_only_with_a_replacement() {
    let Setup { w, roles } = setup();
    let ann = w.user("ann");
    let bob = w.user("bob");
    let acme = w.org_owned_by("acme", &ann);
    block_on(
        w.service
            .add_member(&ann, acme.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();
    for name in ["old", "new", "unused"] {
        block_on(roles.create(&ann, acme.id(), key(name), draft(name, &["audit:read"]))).unwrap();
    }
    block_on(roles.set_member_roles(&ann, acme.id(), bob.user_id(), held(&["old"]))).unwrap();
    assert_eq!(
        block_on(roles.delete(&ann, acme.id(), &key("old"), None)),
        Err(OrgError::RoleInUse { members: 1 })
    );
    assert_eq!(
        block_on(roles.delete(&ann, acme.id(), &key("old"), Some(key("ghost")))),
        Err(OrgError::UnknownRoleKey {
            key: "ghost".into()
        })
    );
    block_on(roles.delete(&ann, acme.id(), &key("unused"), None)).unwrap();
    block_on(roles.delete(&ann, acme.id(), &key("old"), Some(key("new")))).unwrap();
    let listed: Vec<_> = block_on(roles.list(&bob, acme.id()))
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(listed, [key("new")]);
    let held = block_on(roles.member_permissions(&bob, acme.id(), bob.user_id())).unwrap();
    assert!(held.contains(&p("audit:read")));
    assert_eq!(
        block_on(roles.get(&bob, acme.id(), &key("old"))).map(drop),
        Err(OrgError::RoleNotFound)
    );
}

#[test]
fn the_catalog_is_for_platform_admins_and_a_used_permission_goes_only_when_forced() {
    let Setup { w, roles } = setup();
    let ann = w.user("ann");
    let acme = w.org_owned_by("acme", &ann);
    let catalog = block_on(roles.catalog()).unwrap();
    assert!(
        catalog
            .iter()
            .any(|c| c.name == p("members:manage") && c.built_in)
    );
    assert!(
        catalog
            .iter()
            .any(|c| c.name == p("invoices:read") && !c.built_in)
    );

    let projects = CatalogPermission::registered(p("projects:write"), "").unwrap();
    assert_eq!(
        block_on(roles.register_permission(&ann, projects.clone())),
        Err(OrgError::PlatformAdminRequired)
    );
    let own = CatalogPermission::registered(p("members:manage"), "").unwrap();
    assert!(matches!(
        block_on(roles.register_permission(&w.admin, own)),
        Err(OrgError::PermissionBuiltIn { .. })
    ));
    // Registering twice: new once, then unchanged.
    assert!(block_on(roles.register_permission(&w.admin, projects.clone())).unwrap());
    assert!(!block_on(roles.register_permission(&w.admin, projects)).unwrap());
    assert!(matches!(
        block_on(roles.create(&w.admin, acme.id(), key("x"), draft("X", &["nothing:here"]))),
        Err(OrgError::UnknownPermission { .. })
    ));

    block_on(roles.create(
        &w.admin,
        acme.id(),
        key("billing"),
        draft("B", &["invoices:read", "organization:read"]),
    ))
    .unwrap();
    assert_eq!(
        block_on(roles.delete_permission(&w.admin, &p("invoices:read"), false)),
        Err(OrgError::PermissionInUse { roles: 1 })
    );
    block_on(roles.delete_permission(&w.admin, &p("invoices:read"), true)).unwrap();
    let billing = block_on(roles.get(&ann, acme.id(), &key("billing"))).unwrap();
    assert_eq!(
        billing.permissions,
        BTreeSet::from([p("organization:read")])
    );
    assert_eq!(
        block_on(roles.delete_permission(&w.admin, &p("invoices:read"), true)),
        Err(OrgError::PermissionNotFound)
    );
    assert!(w.memory.store.committed_events().iter().any(|e| matches!(
        &e.kind,
        EventKind::RoleUpdated { revoked, .. } if revoked == &[p("invoices:read")]
    )));
}

#[test]
fn a_platform_role_serves_every_organization_and_only_platform_admins_change_it() {
    let Setup { w, roles } = setup();
    let platform = orgman_domain::OrganizationId::PLATFORM;
    let (ann, bob, cid, dan) = (w.user("ann"), w.user("bob"), w.user("cid"), w.user("dan"));
    let acme = w.org_owned_by("acme", &ann);
    let zeta = w.org_owned_by("zeta", &cid);
    for (owner, org, member) in [(&ann, &acme, &bob), (&cid, &zeta, &dan)] {
        block_on(
            w.service
                .add_member(owner, org.id(), member.user_id(), OrgRole::Member),
        )
        .unwrap();
    }
    let auditor = || draft("Auditor", &["audit:read", "invoices:read"]);
    assert_eq!(
        block_on(roles.create(&ann, platform, key("auditor"), auditor())).map(drop),
        Err(OrgError::PlatformAdminRequired)
    );
    block_on(roles.create(&w.admin, platform, key("auditor"), auditor())).unwrap();
    block_on(roles.create(
        &w.admin,
        platform,
        key("viewer"),
        draft("V", &["audit:read"]),
    ))
    .unwrap();
    // One key names one role in an organization, both ways round.
    assert_eq!(
        block_on(roles.create(&ann, acme.id(), key("auditor"), auditor())).map(drop),
        Err(OrgError::RoleExists)
    );
    block_on(roles.create(&ann, acme.id(), key("billing"), auditor())).unwrap();
    assert_eq!(
        block_on(roles.create(&w.admin, platform, key("billing"), auditor())).map(drop),
        Err(OrgError::RoleExists)
    );
    let listed: Vec<_> = block_on(roles.list(&dan, zeta.id()))
        .unwrap()
        .into_iter()
        .map(|r| (r.key.to_string(), r.is_platform()))
        .collect();
    assert_eq!(listed, [("auditor".into(), true), ("viewer".into(), true)]);

    let audit = |actor: &Actor, org: &orgman_domain::Organization| {
        block_on(
            w.service
                .ensure_permission(actor, org.id(), orgman_domain::Permission::AuditRead),
        )
    };
    block_on(roles.set_member_roles(&ann, acme.id(), bob.user_id(), held(&["auditor"]))).unwrap();
    block_on(roles.set_member_roles(&cid, zeta.id(), dan.user_id(), held(&["auditor"]))).unwrap();
    assert_eq!((audit(&bob, &acme), audit(&dan, &zeta)), (Ok(()), Ok(())));
    assert_eq!(
        block_on(roles.update(&ann, acme.id(), &key("auditor"), RolePatch::default())).map(drop),
        Err(OrgError::RoleOfPlatform)
    );

    // Taking a permission from the platform role takes it everywhere.
    let patch = RolePatch {
        permissions: Some([p("invoices:read")].into()),
        ..RolePatch::default()
    };
    block_on(roles.update(&w.admin, platform, &key("auditor"), patch)).unwrap();
    assert!(matches!(
        audit(&bob, &acme),
        Err(OrgError::Forbidden { .. })
    ));
    assert!(matches!(
        audit(&dan, &zeta),
        Err(OrgError::Forbidden { .. })
    ));

    assert_eq!(
        block_on(roles.delete(&w.admin, platform, &key("auditor"), None)),
        Err(OrgError::RoleInUse { members: 2 })
    );
    block_on(roles.delete(&w.admin, platform, &key("auditor"), Some(key("viewer")))).unwrap();
    assert_eq!((audit(&bob, &acme), audit(&dan, &zeta)), (Ok(()), Ok(())));
    let events = w.memory.store.committed_events();
    let moved: BTreeSet<_> = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::MemberRolesChanged { custom_roles, .. } if custom_roles == &[key("viewer")]))
        .map(|e| e.organization_id)
        .collect();
    assert_eq!(moved, [acme.id(), zeta.id()].into());
    let platform_events: Vec<_> = events
        .iter()
        .filter(|e| e.organization_id == platform)
        .map(|e| e.type_name())
        .collect();
    assert_eq!(
        platform_events,
        [
            "platform.role.created",
            "platform.role.created",
            "platform.role.updated",
            "platform.role.deleted"
        ]
    );
}

#[test]
fn an_import_gives_custom_and_platform_roles_under_the_same_rules() {
    use orgman_domain::{ImportEntry, ImportOutcome};
    let Setup { w, roles } = setup();
    let (ann, max) = (w.user("ann"), w.user("max"));
    let (bob, cid, dan, eve) = (w.user("bob"), w.user("cid"), w.user("dan"), w.user("eve"));
    let acme = w.org_owned_by("acme", &ann);
    block_on(
        w.service
            .add_member(&ann, acme.id(), max.user_id(), OrgRole::Admin),
    )
    .unwrap();
    block_on(roles.create(&ann, acme.id(), key("auditor"), draft("A", &["audit:read"]))).unwrap();
    block_on(roles.create(
        &ann,
        acme.id(),
        key("billing"),
        draft("B", &["invoices:read"]),
    ))
    .unwrap();
    let platform = orgman_domain::OrganizationId::PLATFORM;
    block_on(roles.create(
        &w.admin,
        platform,
        key("viewer"),
        draft("V", &["audit:read"]),
    ))
    .unwrap();
    block_on(
        w.service
            .add_member(&ann, acme.id(), eve.user_id(), OrgRole::Member),
    )
    .unwrap();

    // Max (ADMIN) imports: he holds audit:read, not invoices:read.
    let import = block_on(w.service.start_import(&max, acme.id())).unwrap();
    let row = |who: &Actor, keys: &[&str]| {
        ImportEntry::new(who.user_id(), OrgRole::Member)
            .with_custom_roles(keys.iter().map(|k| key(k)))
    };
    let rows = [
        row(&bob, &["auditor", "viewer"]),
        row(&cid, &["billing"]),
        row(&dan, &["ghost"]),
        row(&eve, &["auditor"]),
        row(&bob, &["auditor"]),
    ];
    let outcomes = block_on(import.apply(&rows)).unwrap();
    assert!(
        matches!(
            &outcomes[..],
            [
                ImportOutcome::Added,
                ImportOutcome::Failed(OrgError::PermissionNotHeld { .. }),
                ImportOutcome::Failed(OrgError::UnknownRoleKey { .. }),
                // Eve is a member without the role: an import adds, it
                // does not change roles.
                ImportOutcome::Failed(OrgError::AlreadyMember),
                // Bob holds what the row names (and more) already.
                ImportOutcome::Unchanged,
            ]
        ),
        "{outcomes:?}"
    );
    let held = block_on(roles.member_permissions(&bob, acme.id(), bob.user_id())).unwrap();
    assert!(held.contains(&p("audit:read")), "{held:?}");
    let bob_roles = block_on(w.service.members(
        &ann,
        acme.id(),
        orgman_domain::PageRequest::new(None, 50),
    ))
    .unwrap()
    .items
    .into_iter()
    .find(|m| m.user_id == bob.user_id())
    .unwrap()
    .custom_roles;
    assert_eq!(bob_roles, [key("auditor"), key("viewer")].into());
    // Importing the same file again changes nothing more.
    let again = block_on(import.apply(&rows[..1])).unwrap();
    assert_eq!(again, [ImportOutcome::Unchanged]);
    let changed = w
        .memory
        .store
        .committed_events()
        .into_iter()
        .filter(|e| matches!(&e.kind, EventKind::MemberRolesChanged { user_id, .. } if *user_id == bob.user_id()))
        .count();
    assert_eq!(changed, 1);
}

#[test]
fn a_role_granting_organization_update_shows_private_metadata_in_every_read() {
    let Setup { w, roles } = setup();
    let (ann, bob) = (w.user("ann"), w.user("bob"));
    let acme = w.org_owned_by("acme", &ann);
    block_on(
        w.service
            .add_member(&ann, acme.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();
    let patch = orgman_domain::OrganizationPatch {
        private_metadata: Some(serde_json::json!({"crm": 42})),
        ..Default::default()
    };
    block_on(w.service.update(&ann, acme.id(), &patch, None)).unwrap();
    let private_in_list = |who: &Actor| {
        let page = block_on(
            w.service
                .list_mine(who, orgman_domain::PageRequest::new(None, 20)),
        );
        page.unwrap().items[0].0.private_metadata().is_some()
    };
    let private_in_read = |who: &Actor| {
        block_on(w.service.get(who, acme.id()))
            .unwrap()
            .private_metadata()
            .is_some()
    };
    assert_eq!(
        (private_in_list(&bob), private_in_read(&bob)),
        (false, false)
    );
    assert_eq!((private_in_list(&ann), private_in_read(&ann)), (true, true));

    block_on(roles.create(
        &ann,
        acme.id(),
        key("editor"),
        draft("E", &["organization:update"]),
    ))
    .unwrap();
    block_on(roles.set_member_roles(&ann, acme.id(), bob.user_id(), held(&["editor"]))).unwrap();
    assert_eq!((private_in_list(&bob), private_in_read(&bob)), (true, true));
}
