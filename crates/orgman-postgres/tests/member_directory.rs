//! The member directory against PostgreSQL: a search by a prefix of the
//! e-mail address or of a word of the name, ordered by address, in keyset
//! pages; listings by join date; names kept current; a user's
//! organizations searched.

mod support;

use orgman_domain::ports::{MembershipQueries, UserRepository};
use orgman_domain::uuid::Uuid;
use orgman_domain::{
    Email, MemberEntry, MemberQuery, OrgName, OrgRole, OrganizationId, PageRequest, SearchPrefix,
    Slug, UserId, UserProfile,
};
use orgman_testkit::unique_name;
use support::Db;

fn profile(id: UserId, email: Option<&str>, name: &str, family: Option<&str>) -> UserProfile {
    UserProfile {
        id,
        subject: id.to_string(),
        email: email.map(|e| Email::parse(e).unwrap()),
        display_name: Some(name.to_owned()),
        given_name: name.split(' ').next().map(str::to_owned),
        family_name: family.map(str::to_owned),
    }
}

async fn person(db: &Db, email: Option<&str>, name: &str, family: Option<&str>) -> UserId {
    let id = UserId::from_uuid(Uuid::now_v7());
    db.store
        .provision(&profile(id, email, name, family))
        .await
        .unwrap();
    id
}

fn search(text: &str, limit: u32) -> MemberQuery {
    MemberQuery {
        search: SearchPrefix::parse(text).unwrap(),
        ..MemberQuery::all(limit)
    }
}

fn emails(entries: &[MemberEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.email.as_ref().map_or("-", |m| m.as_str()).to_owned())
        .collect()
}

async fn every_page(db: &Db, org: OrganizationId, mut query: MemberQuery) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    loop {
        let page = db.store.directory(org, &query).await.unwrap();
        pages.push(emails(&page.items));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn a_search_finds_members_by_a_prefix_of_the_address_or_of_a_word_of_the_name_in_address_order()
 {
    let db = Db::new().await;
    let org = db.org().await.id();
    let other = db.org().await.id();
    let ann = person(
        &db,
        Some("Ann.Smith@example.com"),
        "Ann Smith",
        Some("Smith"),
    )
    .await;
    let bob = person(&db, Some("bob@example.com"), "Robert Smithers", None).await;
    let smiley = person(&db, Some("smiley@example.com"), "Zed Zulu", None).await;
    let dan = person(&db, Some("dan@example.com"), "Dan Jean-Smith", None).await;
    let eve = person(&db, None, "Eve Smit", None).await;
    let tom = person(&db, Some("tom@example.com"), "Tom Jones", None).await;
    let elsewhere = person(&db, Some("sam.smith@example.com"), "Sam Smith", None).await;
    for (user, role) in [
        (ann, OrgRole::Admin),
        (bob, OrgRole::Member),
        (smiley, OrgRole::Member),
        (dan, OrgRole::Admin),
        (eve, OrgRole::Member),
        (tom, OrgRole::Member),
    ] {
        db.service
            .add_member(&db.admin, org, user, role)
            .await
            .unwrap();
    }
    db.service
        .add_member(&db.admin, other, elsewhere, OrgRole::Member)
        .await
        .unwrap();

    // By address: the member without one first (''), then address order;
    // a member matched twice (Ann: address and name) appears once; Sam of
    // the other organization never.
    assert_eq!(
        every_page(&db, org, search(" SMI", 2)).await,
        vec![
            vec!["-", "ann.smith@example.com"],
            vec!["bob@example.com", "dan@example.com"],
            vec!["smiley@example.com"],
        ]
    );
    assert_eq!(
        every_page(&db, org, search("jean", 10)).await,
        vec![vec!["dan@example.com"]]
    );
    assert_eq!(
        every_page(&db, org, search("Smith@", 10)).await,
        vec![Vec::<String>::new()],
        "an address's inner part is no word"
    );
    let admins = MemberQuery {
        role: Some(OrgRole::Admin),
        ..search("smi", 1)
    };
    assert_eq!(
        every_page(&db, org, admins).await,
        vec![vec!["ann.smith@example.com"], vec!["dan@example.com"]]
    );

    // Without a search: join order, the organization's creator (the
    // fixture's administrator, without an address) first.
    let listed = every_page(&db, org, MemberQuery::all(4)).await;
    assert_eq!(
        listed.concat(),
        [
            "-",
            "ann.smith@example.com",
            "bob@example.com",
            "smiley@example.com",
            "dan@example.com",
            "-",
            "tom@example.com"
        ]
    );
    assert_eq!(listed.len(), 2);
    let page = db
        .store
        .directory(org, &MemberQuery::all(50))
        .await
        .unwrap();
    let ann_entry = &page.items[1];
    assert_eq!(ann_entry.display_name.as_deref(), Some("Ann Smith"));
    assert_eq!(ann_entry.given_name.as_deref(), Some("Ann"));
    assert_eq!(ann_entry.family_name.as_deref(), Some("Smith"));
    assert_eq!(ann_entry.membership.role, OrgRole::Admin);

    // Read-your-writes: who just joined is found by the next search.
    let new = person(&db, Some("smitty@example.com"), "Smitty Werben", None).await;
    db.service
        .add_member(&db.admin, org, new, OrgRole::Member)
        .await
        .unwrap();
    assert!(
        every_page(&db, org, search("smit", 50))
            .await
            .concat()
            .contains(&"smitty@example.com".to_owned())
    );

    // A changed address and name re-key the member; a removal drops them.
    let renamed = db
        .store
        .update_profile(
            bob,
            &profile(
                bob,
                Some("robert@example.com"),
                "Robert Jones",
                Some("Jones"),
            ),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.family_name.as_deref(), Some("Jones"));
    db.service.remove_member(&db.admin, org, dan).await.unwrap();
    assert_eq!(
        every_page(&db, org, search("smi", 50)).await.concat(),
        [
            "-",
            "ann.smith@example.com",
            "smiley@example.com",
            "smitty@example.com"
        ]
    );
    assert_eq!(
        every_page(&db, org, search("jo", 50)).await.concat(),
        ["robert@example.com", "tom@example.com"]
    );
}

#[tokio::test]
async fn an_unchanged_profile_is_not_written_and_a_taken_address_is_a_conflict() {
    let db = Db::new().await;
    let ann = person(&db, Some("ann@example.com"), "Ann Smith", None).await;
    let bob = person(&db, Some("bob@example.com"), "Bob Brown", None).await;
    let before = db.store.user(ann).await.unwrap().unwrap();
    let same = db
        .store
        .update_profile(
            ann,
            &profile(ann, Some("ann@example.com"), "Ann Smith", None),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.updated_at, before.updated_at, "nothing was written");
    let taken = db
        .store
        .update_profile(
            bob,
            &profile(bob, Some("ann@example.com"), "Bob Brown", None),
        )
        .await;
    assert!(
        matches!(
            taken,
            Err(orgman_domain::StoreError::Conflict(
                orgman_domain::Conflict::User
            ))
        ),
        "{taken:?}"
    );
    let nobody = UserId::from_uuid(Uuid::now_v7());
    assert_eq!(
        db.store
            .update_profile(nobody, &profile(nobody, None, "No One", None))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_users_organizations_are_searched_by_slug_or_a_word_of_the_name() {
    let db = Db::new().await;
    let user = db.user().await;
    let mut ids = Vec::new();
    for name in ["Acme Widgets", "Globex", "Widget-Works Ltd", "Initech"] {
        let org = db
            .service
            .create(
                &db.admin,
                OrgName::parse(name).unwrap(),
                Slug::parse(&unique_name("org")).unwrap(),
            )
            .await
            .unwrap();
        db.service
            .add_member(&db.admin, org.id(), user.user_id(), OrgRole::Member)
            .await
            .unwrap();
        ids.push(org.id());
    }
    let wid = SearchPrefix::parse("WID").unwrap().unwrap();
    let first = db
        .store
        .organizations_of_matching(user.user_id(), &wid, PageRequest::new(None, 1))
        .await
        .unwrap();
    let second = db
        .store
        .organizations_of_matching(user.user_id(), &wid, PageRequest::new(first.next, 1))
        .await
        .unwrap();
    let found: Vec<OrganizationId> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|(org, _)| org.id())
        .collect();
    let mut expected = vec![ids[0], ids[2]];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(second.next, None);
    let by_slug = SearchPrefix::parse("org").unwrap().unwrap();
    let all = db
        .store
        .organizations_of_matching(user.user_id(), &by_slug, PageRequest::new(None, 50))
        .await
        .unwrap();
    assert_eq!(
        all.items.len(),
        4,
        "unique_name slugs start with the prefix"
    );
}
