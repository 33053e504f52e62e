//! Directory sync through the use cases, with the in-memory ports: a
//! directory's key provisions people (linked by a verified domain's
//! address only), suspends and restores them, and its groups give roles
//! only through the organization's mapping; the directory never touches
//! an OWNER.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use orgman_domain::ports::{IdentityProvider, UserRepository};
use orgman_domain::{
    Actor, ActorKind, ApiKeyService, DirectoryFilter, DirectoryGroupDraft, DirectoryService,
    DirectoryUserDraft, Email, EventKind, GroupMatch, GroupRole, KeyDraft, KeyName, OrgError,
    OrgRole, OrganizationId, Permission, PermissionName, RoleDraft, RoleKey, RoleRef, RoleService,
    UserId, UserProfile, Window,
};
use orgman_memory::{PredictableTokens, block_on};
use support::World;

struct Setup {
    w: World,
    owner: Actor,
    org: OrganizationId,
    directory: DirectoryService,
    scim: Actor,
}

fn key_of(w: &World, owner: &Actor, org: OrganizationId, permissions: &[Permission]) -> Actor {
    let keys = ApiKeyService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        Arc::new(PredictableTokens::default()),
    );
    let draft = KeyDraft {
        name: KeyName::parse("okta").unwrap(),
        permissions: permissions.iter().copied().collect(),
        expires_at: None,
    };
    let issued = block_on(keys.create(owner, org, draft)).unwrap();
    Actor::scim_client(block_on(keys.authenticate(issued.secret.expose())).unwrap())
}

fn setup() -> Setup {
    let w = World::new();
    let owner = w.user("owner");
    let org = w.org_owned_by("acme", &owner).id();
    let directory = DirectoryService::new(Arc::new(w.memory.service()), w.memory.store.clone());
    let scim = key_of(&w, &owner, org, &[Permission::ScimProvision]);
    Setup {
        w,
        owner,
        org,
        directory,
        scim,
    }
}

fn person(user_name: &str, email: &str, active: bool) -> DirectoryUserDraft {
    DirectoryUserDraft {
        user_name: user_name.into(),
        external_id: Some(format!("ext-{user_name}")),
        active,
        email: Email::parse(email).ok(),
        display_name: Some(user_name.to_uppercase()),
        attributes: serde_json::json!({"userName": user_name}),
    }
}

fn group(name: &str, members: &[orgman_domain::DirectoryUserId]) -> DirectoryGroupDraft {
    DirectoryGroupDraft {
        display_name: name.into(),
        external_id: None,
        members: members.iter().copied().collect(),
        attributes: serde_json::json!({}),
    }
}

fn role_of(s: &Setup, user: UserId) -> Option<(OrgRole, BTreeSet<RoleKey>)> {
    s.w.memory
        .store
        .memberships_of(s.org)
        .into_iter()
        .find(|m| m.user_id == user)
        .map(|m| (m.role, m.custom_roles))
}

/// A user already known to orgman with a verified address.
fn known_user(s: &Setup, email: &str) -> UserId {
    let id = UserId::from_uuid(s.w.memory.ids.next());
    let profile = UserProfile {
        id,
        subject: format!("kc-{id}"),
        email: Some(Email::parse(email).unwrap()),
        display_name: None,
        given_name: None,
        family_name: None,
    };
    block_on(s.w.memory.store.provision(&profile)).unwrap().id
}

#[test]
fn a_provisioned_person_is_a_new_member_recorded_as_the_directorys_doing() {
    let s = setup();
    let made = block_on(s.directory.create_user(
        &s.scim,
        s.org,
        person("ada", "ada@corp.example", true),
    ))
    .unwrap();
    assert_eq!(
        role_of(&s, made.user_id.unwrap()).map(|r| r.0),
        Some(OrgRole::Member)
    );
    assert!(!made.email_trusted);
    let events = s.w.memory.store.committed_events();
    let provisioned = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::DirectoryUserProvisioned { .. }))
        .unwrap();
    assert_eq!(provisioned.actor_kind, ActorKind::ScimClient);
    assert!(events.iter().any(|e| e.kind
        == EventKind::MemberAdded {
            user_id: made.user_id.unwrap(),
            role: OrgRole::Member
        }
        && e.actor_kind == ActorKind::ScimClient));
    // The user name is the directory's, unique case-insensitively.
    assert!(matches!(
        block_on(s.directory.create_user(
            &s.scim,
            s.org,
            person("ADA", "other@corp.example", true)
        )),
        Err(OrgError::DirectoryConflict(_))
    ));
    let found = block_on(s.directory.users(
        &s.scim,
        s.org,
        &DirectoryFilter::UserName("AdA".into()),
        Window {
            offset: 0,
            count: 10,
        },
    ))
    .unwrap();
    assert_eq!((found.total, found.items[0].id), (1, made.id));
}

#[test]
fn only_an_address_of_a_verified_domain_links_an_existing_user() {
    let s = setup();
    let existing = known_user(&s, "bea@corp.example");
    let foreign = known_user(&s, "cy@elsewhere.example");
    // Not verified yet: a new user is made, and the address is not theirs.
    let unlinked = block_on(s.directory.create_user(
        &s.scim,
        s.org,
        person("bea", "bea@corp.example", true),
    ))
    .unwrap();
    assert_ne!(unlinked.user_id, Some(existing));
    let stored = block_on(s.w.memory.store.user(unlinked.user_id.unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.email, None,
        "an untrusted address is kept with the resource only"
    );
    block_on(s.directory.delete_user(&s.scim, s.org, unlinked.id, None)).unwrap();

    s.w.verify_domain(&s.owner, s.org, "corp.example");
    let linked = block_on(s.directory.create_user(
        &s.scim,
        s.org,
        person("bea", "bea@corp.example", true),
    ))
    .unwrap();
    assert_eq!(linked.user_id, Some(existing));
    assert!(linked.email_trusted);
    let other = block_on(s.directory.create_user(
        &s.scim,
        s.org,
        person("cy", "cy@elsewhere.example", true),
    ))
    .unwrap();
    assert_ne!(other.user_id, Some(foreign));
    // One person, one resource per organization.
    assert!(matches!(
        block_on(
            s.directory
                .create_user(&s.scim, s.org, person("bea2", "bea@corp.example", true))
        ),
        Err(OrgError::DirectoryConflict(_))
    ));
}

#[test]
fn deactivation_suspends_the_membership_and_keeps_the_resource() {
    let s = setup();
    let ada = block_on(s.directory.create_user(
        &s.scim,
        s.org,
        person("ada", "ada@corp.example", true),
    ))
    .unwrap();
    let off = block_on(s.directory.replace_user(
        &s.scim,
        s.org,
        ada.id,
        person("ada", "ada@corp.example", false),
        Some(1),
    ))
    .unwrap();
    assert_eq!((off.active, off.version), (false, 2));
    assert_eq!(role_of(&s, ada.user_id.unwrap()), None);
    assert!(s.w.memory.store.committed_events().iter().any(|e| e.kind
        == EventKind::MemberRemoved {
            user_id: ada.user_id.unwrap(),
            role: OrgRole::Member
        }));
    assert!(
        !block_on(s.directory.user(&s.scim, s.org, ada.id))
            .unwrap()
            .active
    );
    // A stale version is refused, the current one restores.
    assert!(matches!(
        block_on(s.directory.replace_user(
            &s.scim,
            s.org,
            ada.id,
            person("ada", "ada@corp.example", true),
            Some(1)
        )),
        Err(OrgError::VersionMismatch {
            expected: 1,
            actual: 2
        })
    ));
    block_on(s.directory.replace_user(
        &s.scim,
        s.org,
        ada.id,
        person("ada", "ada@corp.example", true),
        Some(2),
    ))
    .unwrap();
    assert_eq!(
        role_of(&s, ada.user_id.unwrap()).map(|r| r.0),
        Some(OrgRole::Member)
    );
    block_on(s.directory.delete_user(&s.scim, s.org, ada.id, None)).unwrap();
    assert_eq!(role_of(&s, ada.user_id.unwrap()), None);
    assert_eq!(
        block_on(s.directory.user(&s.scim, s.org, ada.id)),
        Err(OrgError::DirectoryUserNotFound)
    );
}

#[test]
fn groups_give_roles_only_through_the_mapping() {
    let s = setup();
    let roles = RoleService::new(Arc::new(s.w.memory.service()), s.w.memory.store.clone());
    let billing = RoleKey::parse("billing").unwrap();
    let draft = RoleDraft::new(
        "Billing",
        "",
        [PermissionName::parse("audit:read").unwrap()].into(),
    )
    .unwrap();
    block_on(roles.create(&s.owner, s.org, billing.clone(), draft)).unwrap();
    let ada = block_on(s.directory.create_user(
        &s.scim,
        s.org,
        person("ada", "ada@corp.example", true),
    ))
    .unwrap();
    let eng = block_on(
        s.directory
            .create_group(&s.scim, s.org, group("Engineering", &[ada.id])),
    )
    .unwrap();
    let sales = block_on(
        s.directory
            .create_group(&s.scim, s.org, group("Sales", &[ada.id])),
    )
    .unwrap();
    assert_eq!(
        role_of(&s, ada.user_id.unwrap()),
        Some((OrgRole::Member, BTreeSet::new())),
        "nothing is mapped yet"
    );

    let mappings = vec![
        GroupRole {
            group: GroupMatch::Name("engineering".into()),
            role: RoleRef::BuiltIn(OrgRole::Admin),
        },
        GroupRole {
            group: GroupMatch::Id(sales.id),
            role: RoleRef::Custom(billing.clone()),
        },
    ];
    block_on(s.directory.set_group_roles(&s.owner, s.org, mappings)).unwrap();
    assert_eq!(
        role_of(&s, ada.user_id.unwrap()),
        Some((OrgRole::Admin, BTreeSet::from([billing.clone()])))
    );

    // Leaving a group is a role change; renaming it away from a mapped name too.
    block_on(
        s.directory
            .replace_group(&s.scim, s.org, sales.id, group("Sales", &[]), None),
    )
    .unwrap();
    assert_eq!(
        role_of(&s, ada.user_id.unwrap()),
        Some((OrgRole::Admin, BTreeSet::new()))
    );
    block_on(
        s.directory
            .replace_group(&s.scim, s.org, eng.id, group("Platform", &[ada.id]), None),
    )
    .unwrap();
    assert_eq!(
        role_of(&s, ada.user_id.unwrap()).map(|r| r.0),
        Some(OrgRole::Member)
    );
    assert!(s.w.memory.store.committed_events().iter().any(|e| e.kind
        == EventKind::MemberRoleChanged {
            user_id: ada.user_id.unwrap(),
            from: OrgRole::Admin,
            to: OrgRole::Member
        }));

    // A mapping never makes OWNERs, nor names a role the organization lacks.
    let owner_map = vec![GroupRole {
        group: GroupMatch::Name("x".into()),
        role: RoleRef::BuiltIn(OrgRole::Owner),
    }];
    assert!(matches!(
        block_on(s.directory.set_group_roles(&s.owner, s.org, owner_map)),
        Err(OrgError::DirectoryInvalid(_))
    ));
    let unknown = vec![GroupRole {
        group: GroupMatch::Name("x".into()),
        role: RoleRef::Custom(RoleKey::parse("nope").unwrap()),
    }];
    assert!(matches!(
        block_on(s.directory.set_group_roles(&s.owner, s.org, unknown)),
        Err(OrgError::DirectoryInvalid(_))
    ));
    // The directory's key does not set mappings.
    assert!(matches!(
        block_on(s.directory.set_group_roles(&s.scim, s.org, Vec::new())),
        Err(OrgError::Forbidden { .. })
    ));
}

#[test]
fn the_directory_never_touches_an_owner_nor_another_organization() {
    let s = setup();
    s.w.verify_domain(&s.owner, s.org, "corp.example");
    let owner_id = s.owner.user_id();
    s.w.memory.store.set_email(owner_id, "owner@corp.example");
    let linked = block_on(s.directory.create_user(
        &s.scim,
        s.org,
        person("boss", "owner@corp.example", true),
    ))
    .unwrap();
    assert_eq!(linked.user_id, Some(owner_id));
    assert_eq!(
        block_on(s.directory.replace_user(
            &s.scim,
            s.org,
            linked.id,
            person("boss", "owner@corp.example", false),
            None
        )),
        Err(OrgError::OwnerRequired)
    );
    assert_eq!(role_of(&s, owner_id).map(|r| r.0), Some(OrgRole::Owner));

    let elsewhere = s.w.org_owned_by("other", &s.w.user("zed"));
    assert_eq!(
        block_on(s.directory.create_user(
            &s.scim,
            elsewhere.id(),
            person("ada", "ada@corp.example", true)
        )),
        Err(OrgError::NotFound)
    );
    let reader = key_of(&s.w, &s.owner, s.org, &[Permission::OrganizationRead]);
    assert!(matches!(
        block_on(s.directory.users(
            &reader,
            s.org,
            &DirectoryFilter::All,
            Window {
                offset: 0,
                count: 1
            }
        )),
        Err(OrgError::Forbidden {
            permission: Permission::ScimProvision
        })
    ));
}

#[test]
fn a_trusted_address_nobody_has_gets_its_account_off_the_request_then_the_membership() {
    let s = setup();
    s.w.verify_domain(&s.owner, s.org, "corp.example");
    let identity = Arc::new(orgman_memory::MemoryIdentityProvider::new());
    let accounts = orgman_domain::DirectoryAccounts {
        queue: s.w.memory.store.clone(),
        identity: identity.clone(),
        batch: 10,
        lease: std::time::Duration::from_secs(60),
        retry: std::time::Duration::ZERO,
    };
    let dee = block_on(s.directory.create_user(
        &s.scim,
        s.org,
        person("dee", "dee@corp.example", true),
    ))
    .unwrap();
    assert_eq!(dee.user_id, None, "no account in the request");
    assert!(dee.email_trusted);

    // The identity provider is down: nothing changes, the person waits.
    identity.set_unavailable(true);
    let report = block_on(s.directory.open_accounts(&accounts)).unwrap();
    assert_eq!((report.opened, report.failed), (0, 1));
    assert!(
        block_on(s.directory.user(&s.scim, s.org, dee.id))
            .unwrap()
            .user_id
            .is_none()
    );

    identity.set_unavailable(false);
    let report = block_on(s.directory.open_accounts(&accounts)).unwrap();
    assert_eq!((report.opened, report.failed), (1, 0));
    let opened = block_on(s.directory.user(&s.scim, s.org, dee.id)).unwrap();
    let account = block_on(identity.find_by_email(&Email::parse("dee@corp.example").unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(opened.user_id.map(|u| u.to_string()), Some(account.subject));
    assert_eq!(
        role_of(&s, opened.user_id.unwrap()).map(|r| r.0),
        Some(OrgRole::Member)
    );
    let added =
        s.w.memory
            .store
            .committed_events()
            .into_iter()
            .rev()
            .find(|e| matches!(e.kind, EventKind::MemberAdded { .. }))
            .unwrap();
    assert_eq!(
        added.actor_kind,
        ActorKind::ScimClient,
        "the provisioning client's doing"
    );
    // Nothing is left waiting.
    assert_eq!(
        block_on(s.directory.open_accounts(&accounts)).unwrap(),
        orgman_domain::AccountsReport::default()
    );
}

#[test]
fn a_waiting_person_whose_address_stops_being_trusted_is_a_member_at_once() {
    let s = setup();
    s.w.verify_domain(&s.owner, s.org, "corp.example");
    let fay = block_on(s.directory.create_user(
        &s.scim,
        s.org,
        person("fay", "fay@corp.example", true),
    ))
    .unwrap();
    assert_eq!(fay.user_id, None);
    let moved = block_on(s.directory.replace_user(
        &s.scim,
        s.org,
        fay.id,
        person("fay", "fay@elsewhere.example", true),
        None,
    ))
    .unwrap();
    let user = moved.user_id.expect("a user of the directory's");
    assert!(!moved.email_trusted);
    assert_eq!(role_of(&s, user).map(|r| r.0), Some(OrgRole::Member));
    let stored = block_on(s.w.memory.store.user(user)).unwrap().unwrap();
    assert_eq!(
        stored.email, None,
        "the untrusted address is not the user's"
    );
}
