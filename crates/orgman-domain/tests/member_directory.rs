//! The member directory through the use cases, with the in-memory ports:
//! who may read it, the names a login keeps current, the export's pages.

mod support;

use orgman_domain::ports::UserRepository;
use orgman_domain::{
    Email, MemberQuery, OrgError, OrgRole, SearchPrefix, UserProfile, provision_from_claims,
};
use orgman_memory::block_on;
use support::World;

/// What a login of `member` (the [`World::user`] named so) tells.
fn profile(user: &orgman_domain::Actor, email: &str, name: &str) -> UserProfile {
    UserProfile {
        id: user.user_id(),
        subject: "member".to_owned(),
        email: Some(Email::parse(email).unwrap()),
        display_name: Some(name.to_owned()),
        given_name: name.split(' ').next().map(str::to_owned),
        family_name: name.split(' ').nth(1).map(str::to_owned),
    }
}

#[test]
fn a_login_with_changed_claims_updates_the_directory_and_an_unchanged_one_writes_nothing() {
    let w = World::new();
    let owner = w.user("owner");
    let member = w.user("member");
    let org = w.org_owned_by("acme", &owner);
    block_on(
        w.service
            .add_member(&owner, org.id(), member.user_id(), OrgRole::Member),
    )
    .unwrap();
    let store = &*w.memory.store;
    let first = block_on(provision_from_claims(
        store,
        profile(&member, "ann@example.com", "Ann Smith"),
    ))
    .unwrap();
    assert_eq!(first.family_name.as_deref(), Some("Smith"));
    let again = block_on(provision_from_claims(
        store,
        profile(&member, "ann@example.com", "Ann Smith"),
    ))
    .unwrap();
    assert_eq!(
        again.updated_at, first.updated_at,
        "nothing changed, nothing written"
    );

    let search = |text: &str| MemberQuery {
        search: SearchPrefix::parse(text).unwrap(),
        ..MemberQuery::all(50)
    };
    let found = block_on(w.service.directory(&owner, org.id(), &search("smi"))).unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].membership.user_id, member.user_id());

    // Married: a new family name and address at the next login.
    block_on(provision_from_claims(
        store,
        profile(&member, "ann.jones@example.com", "Ann Jones"),
    ))
    .unwrap();
    let stored = block_on(store.user(member.user_id())).unwrap().unwrap();
    assert_eq!(stored.email.unwrap().as_str(), "ann.jones@example.com");
    assert!(
        block_on(w.service.directory(&owner, org.id(), &search("smi")))
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        block_on(w.service.directory(&owner, org.id(), &search("jon")))
            .unwrap()
            .items
            .len(),
        1
    );
}

#[test]
fn only_those_who_read_members_see_the_directory_and_its_export() {
    let w = World::new();
    let owner = w.user("owner");
    let stranger = w.user("stranger");
    let org = w.org_owned_by("acme", &owner);
    assert!(matches!(
        block_on(
            w.service
                .directory(&stranger, org.id(), &MemberQuery::all(50))
        ),
        Err(OrgError::NotFound)
    ));
    assert!(matches!(
        block_on(w.service.export_members(&stranger, org.id())),
        Err(OrgError::NotFound)
    ));
}

#[test]
fn an_export_reads_every_member_once_in_pages() {
    let w = World::new();
    let owner = w.user("owner");
    let org = w.org_owned_by("acme", &owner);
    let count = 7;
    for n in 0..count {
        let user = w.user(&format!("user-{n}"));
        block_on(
            w.service
                .add_member(&owner, org.id(), user.user_id(), OrgRole::Member),
        )
        .unwrap();
    }
    let mut export = block_on(w.service.export_members(&owner, org.id()))
        .unwrap()
        .with_page_size(3);
    let mut pages = Vec::new();
    while let Some(page) = block_on(export.next_page()).unwrap() {
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2]);
    let mut users: Vec<_> = pages
        .concat()
        .iter()
        .map(|e| e.membership.user_id)
        .collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), count + 1, "every member once, the owner too");
}
