//! Races: two creates of one slug, owners removing each other, concurrent
//! renames, concurrent first logins. Each runs several rounds.

mod support;

use std::sync::Arc;

use orgman_domain::ports::{MembershipQueries, OrganizationRepository, UserRepository};
use orgman_domain::uuid::Uuid;
use orgman_domain::{OrgError, OrgName, OrgRole, Slug, UserId, UserProfile};
use orgman_testkit::unique_name;
use support::Db;

const ROUNDS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_of_one_slug_give_one_organization_and_one_conflict() {
    let db = Arc::new(Db::new().await);
    for _ in 0..ROUNDS {
        let slug = Slug::parse(&unique_name("race")).unwrap();
        let attempts: Vec<_> = (0..2)
            .map(|i| {
                let db = db.clone();
                let slug = slug.clone();
                tokio::spawn(async move {
                    db.service
                        .create(
                            &db.admin,
                            OrgName::parse(&format!("Racer {i}")).unwrap(),
                            slug,
                        )
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => won += 1,
                Err(OrgError::SlugTaken { slug: taken }) => assert_eq!(taken, slug.as_str()),
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(won, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_removing_each_other_leave_one_owner() {
    let db = Arc::new(Db::new().await);
    for _ in 0..ROUNDS {
        let org = db.org().await.id();
        let a = db.user().await;
        let b = db.user().await;
        for owner in [&a, &b] {
            db.service
                .add_member(&db.admin, org, owner.user_id(), OrgRole::Owner)
                .await
                .unwrap();
        }
        db.service
            .remove_member(&db.admin, org, db.admin.user_id())
            .await
            .unwrap();

        // A removes B while B demotes A.
        let (db1, db2) = (db.clone(), db.clone());
        let (a1, b1, a2, b2) = (a.clone(), b.clone(), a, b);
        let remove =
            tokio::spawn(async move { db1.service.remove_member(&a1, org, b1.user_id()).await });
        let demote = tokio::spawn(async move {
            db2.service
                .change_role(&b2, org, a2.user_id(), OrgRole::Member)
                .await
                .map(drop)
        });
        let results = [remove.await.unwrap(), demote.await.unwrap()];
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "exactly one wins: {results:?}");
        assert!(results.iter().any(|r| matches!(
            r,
            Err(OrgError::LastOwner
                | OrgError::NotFound
                | OrgError::MemberNotFound
                | OrgError::OwnerRequired
                | OrgError::Forbidden { .. })
        )));
        let owners = db
            .store
            .members(org, orgman_domain::PageRequest::first())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|m| m.role == OrgRole::Owner)
            .count();
        assert_eq!(owners, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_renames_with_one_version_lose_no_update() {
    let db = Arc::new(Db::new().await);
    for _ in 0..ROUNDS {
        let org = db.org().await;
        let (id, version) = (org.id(), org.version());
        let renames: Vec<_> = (0..3)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.service
                        .rename(
                            &db.admin,
                            id,
                            OrgName::parse(&format!("Name {i}")).unwrap(),
                            Some(version),
                        )
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for rename in renames {
            match rename.await.unwrap() {
                Ok(renamed) => {
                    won += 1;
                    assert_eq!(renamed.version(), org.version() + 1);
                }
                Err(OrgError::VersionMismatch { expected, actual }) => {
                    assert_eq!((expected, actual), (org.version(), org.version() + 1));
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(won, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_logins_create_one_user() {
    let db = Arc::new(Db::new().await);
    for _ in 0..ROUNDS {
        let subject = unique_name("login");
        let logins: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                let subject = subject.clone();
                tokio::spawn(async move {
                    db.store
                        .provision(&UserProfile {
                            id: UserId::from_uuid(Uuid::now_v7()),
                            subject,
                            email: None,
                            display_name: None,
                            given_name: None,
                            family_name: None,
                        })
                        .await
                })
            })
            .collect();
        let mut ids = Vec::new();
        for login in logins {
            ids.push(login.await.unwrap().unwrap().id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "every caller got the same user");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_point_lookup_agrees_with_the_listing_under_concurrent_changes() {
    let db = Arc::new(Db::new().await);
    let org = db.org().await.id();
    let users: Vec<_> = {
        let mut users = Vec::new();
        for _ in 0..6 {
            users.push(db.user().await);
        }
        users
    };
    let adds: Vec<_> = users
        .iter()
        .map(|u| {
            let db = db.clone();
            let id = u.user_id();
            tokio::spawn(async move {
                db.service
                    .add_member(&db.admin, org, id, OrgRole::Member)
                    .await
            })
        })
        .collect();
    for add in adds {
        add.await.unwrap().unwrap();
    }
    for user in &users {
        assert_eq!(
            db.store.role_of(org, user.user_id()).await.unwrap(),
            Some(orgman_domain::Access::of_role(OrgRole::Member))
        );
    }
}

/// Verification is not what these races are about: DNS is never asked.
struct NoDns;

#[async_trait::async_trait]
impl orgman_domain::ports::TxtResolver for NoDns {
    async fn txt(&self, _: &str) -> Result<Vec<String>, String> {
        Err("not asked in this test".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_logins_of_an_auto_join_domain_fill_the_member_limit_exactly() {
    use orgman_domain::time::OffsetDateTime;
    use orgman_domain::{
        Actor, AutoJoin, DomainName, DomainPolicy, DomainService, OrgDomain, Provisioner,
    };
    const LOGINS: usize = 12;
    let db = Db::new().await;
    let org = db.org().await; // the admin is its one OWNER
    db.service
        .set_member_limit(&db.admin, org.id(), Some(5))
        .await
        .unwrap();
    let domain = format!("{}.example", unique_name("join"));
    let mut uow = db.store.begin().await.unwrap();
    uow.insert_domain(&OrgDomain {
        organization_id: org.id(),
        name: DomainName::parse(&domain).unwrap(),
        challenge: "orgman-verification=x".into(),
        created_at: OffsetDateTime::now_utc(),
        verified_at: Some(OffsetDateTime::now_utc()),
        policy: DomainPolicy {
            auto_join: true,
            sso_required: false,
        },
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();

    let store = Arc::new(db.store.clone());
    let domains = Arc::new(DomainService::new(
        Arc::new(support::service(&db.store)),
        store.clone(),
        Arc::new(NoDns),
    ));
    let provisioner = Provisioner::new(store.clone()).with_auto_join(domains);
    let logins = (0..LOGINS).map(|n| {
        let provisioner = provisioner.clone();
        let domain = domain.clone();
        tokio::spawn(async move {
            let actor = Actor::user(UserId::from_uuid(Uuid::now_v7()));
            let profile = UserProfile::from_claims(
                actor.user_id(),
                &unique_name("login"),
                Some(&format!("user{n}@{domain}")),
                None,
                None,
            )
            .unwrap();
            provisioner.provision(&actor, profile, true).await.unwrap()
        })
    });
    let mut outcomes = Vec::with_capacity(LOGINS);
    for login in logins.collect::<Vec<_>>() {
        outcomes.push(login.await.unwrap());
    }
    let joined = outcomes
        .iter()
        .filter(|o| matches!(o.auto_join, Some(AutoJoin::Joined(_))))
        .count();
    let skipped = outcomes
        .iter()
        .filter(|o| matches!(o.auto_join, Some(AutoJoin::Skipped { .. })))
        .count();
    assert_eq!((joined, skipped), (4, LOGINS - 4));
    let mut members = 0;
    let mut page = orgman_domain::PageRequest::new(None, 100);
    loop {
        let found = db.store.members(org.id(), page).await.unwrap();
        members += found.items.len();
        match found.next {
            Some(next) => page = orgman_domain::PageRequest::new(Some(next), 100),
            None => break,
        }
    }
    assert_eq!(members, 5);
    for outcome in &outcomes {
        assert!(db.store.user(outcome.user_id).await.unwrap().is_some());
    }
}

/// The mirror queue across workers: four taking at once never hold
/// one organization twice, and a mark made while one is held survives its
/// finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_takers_never_share_an_organization_and_a_late_mark_is_kept() {
    use orgman_domain::ports::{MirrorMark, MirrorQueue};
    use std::time::Duration;
    let marks = |orgs: &[orgman_domain::OrganizationId], members: bool| -> Vec<MirrorMark> {
        orgs.iter()
            .map(|&organization| MirrorMark {
                organization,
                members,
            })
            .collect()
    };
    let db = Arc::new(Db::new().await);
    let orgs: Vec<_> = (0..12)
        .map(|_| orgman_domain::OrganizationId::from_uuid(Uuid::now_v7()))
        .collect();
    // One statement may name an organization twice; members win.
    let mut first = marks(&orgs, false);
    first.extend(marks(&orgs[..1], true));
    db.store.mark(&first).await.unwrap();
    db.store.mark(&marks(&orgs[..3], false)).await.unwrap();
    assert_eq!(db.store.marked().await.unwrap(), 12);
    let takers: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut taken = Vec::new();
                while let Some(t) = db.store.take(Duration::from_secs(60)).await.unwrap() {
                    taken.push(t);
                }
                taken
            })
        })
        .collect();
    let mut taken = Vec::new();
    for taker in takers {
        taken.extend(taker.await.unwrap());
    }
    let mut ids: Vec<_> = taken.iter().map(|t| t.organization).collect();
    ids.sort();
    let mut expected = orgs.clone();
    expected.sort();
    assert_eq!(ids, expected, "each taken exactly once");

    let first = *taken.iter().find(|t| t.organization == orgs[0]).unwrap();
    assert_eq!((first.marks, first.members), (2, true));
    assert!(
        taken
            .iter()
            .filter(|t| t.organization != orgs[0])
            .all(|t| !t.members)
    );
    db.store.mark(&marks(&orgs[..1], false)).await.unwrap();
    for t in &taken {
        db.store.finish(*t).await.unwrap();
    }
    assert_eq!(db.store.marked().await.unwrap(), 1, "the late mark is kept");
    let again = db
        .store
        .take(Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.organization, again.marks), (orgs[0], 3));
    assert_eq!(db.store.take(Duration::from_secs(60)).await.unwrap(), None);
    // Given back for an hour: nobody takes it; given back at once: taken.
    db.store
        .release(again, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(db.store.take(Duration::from_secs(60)).await.unwrap(), None);
    db.store.release(again, Duration::ZERO).await.unwrap();
    let retried = db.store.take(Duration::from_secs(60)).await.unwrap();
    assert_eq!(retried, Some(again));
    db.store.finish(again).await.unwrap();
    assert_eq!(db.store.marked().await.unwrap(), 0);
}
