//! The cache against the stack's Redis: hits and misses, revocation that is
//! never late (also across replicas and under concurrent reads), and
//! survival of a Redis outage.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use orgman_domain::ports::{
    CacheKey, Lease, Lookup, MembershipCache, MembershipQueries, RoleAuthorizer,
};
use orgman_domain::{
    Access, Actor, OrgError, OrgName, OrgRole, Organization, OrganizationId, OrganizationService,
    Permission, ServicePorts, ServiceSettings, Slug, UserId,
};
use orgman_postgres::{PgSettings, PgStore, migrate};
use orgman_redis::{RedisCache, RedisSettings};
use orgman_testkit::{Stack, TcpProxy, unique_name};

struct Replica {
    cache: Arc<RedisCache>,
    service: Arc<OrganizationService>,
}

fn replica(store: &Arc<PgStore>, redis_address: &str) -> Replica {
    let (host, port) = redis_address.rsplit_once(':').unwrap();
    replica_over(
        store,
        &[
            ("SPRING_REDIS_HOST", host.to_owned()),
            ("SPRING_REDIS_PORT", port.to_owned()),
        ],
    )
}

/// A replica whose cache is configured by these variables.
fn replica_over(store: &Arc<PgStore>, vars: &[(&str, String)]) -> Replica {
    let settings = RedisSettings::from_env(orgman_settings::lookup(vars)).unwrap();
    let cache = Arc::new(RedisCache::connect(settings).unwrap());
    let service = Arc::new(OrganizationService::new(
        ServicePorts {
            authorizer: Arc::new(RoleAuthorizer::new(store.clone(), cache.clone())),
            cache: cache.clone(),
            ..ServicePorts::over_storage(store.clone())
        },
        ServiceSettings::default(),
    ));
    Replica { cache, service }
}

async fn store() -> Arc<PgStore> {
    let url = Stack::get().fresh_database().await;
    migrate::run_pending(&url).await.unwrap();
    Arc::new(PgStore::connect(&PgSettings::from_url(&url).unwrap()).unwrap())
}

async fn user(store: &PgStore) -> UserId {
    orgman_testkit::new_user(store).await
}

/// The stack's Redis under a key prefix no other test uses.
fn private_prefix(name: &str) -> [(&'static str, String); 3] {
    let address = redis_address();
    let (host, port) = address.rsplit_once(':').unwrap();
    [
        ("SPRING_REDIS_HOST", host.to_owned()),
        ("SPRING_REDIS_PORT", port.to_owned()),
        ("ORGMAN_CACHE_KEY_PREFIX", unique_name(name)),
    ]
}

fn redis_address() -> String {
    Stack::get()
        .redis_url
        .trim_start_matches("redis://")
        .to_owned()
}

async fn org_with_member(r: &Replica, store: &PgStore) -> (Actor, OrganizationId, Actor) {
    let admin = Actor::platform_admin(user(store).await);
    let org = r
        .service
        .create(
            &admin,
            OrgName::parse("Org").unwrap(),
            Slug::parse(&unique_name("o")).unwrap(),
        )
        .await
        .unwrap()
        .id();
    let member = Actor::user(user(store).await);
    r.service
        .add_member(&admin, org, member.user_id(), OrgRole::Member)
        .await
        .unwrap();
    (admin, org, member)
}

#[tokio::test]
async fn reads_are_served_from_redis_after_the_first() {
    let store = store().await;
    let r = replica(&store, &redis_address());
    let (_, org, member) = org_with_member(&r, &store).await;
    r.service.get(&member, org).await.unwrap();
    let hits = r.cache.stats().hits.load(Ordering::Relaxed);
    let misses = r.cache.stats().misses.load(Ordering::Relaxed);
    assert!(misses >= 2, "role and organization missed first");
    for _ in 0..5 {
        r.service.get(&member, org).await.unwrap();
    }
    assert_eq!(
        r.cache.stats().hits.load(Ordering::Relaxed),
        hits + 10,
        "role + organization, 5 times"
    );
    assert_eq!(r.cache.stats().misses.load(Ordering::Relaxed), misses);
    assert_eq!(r.cache.stats().errors.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_store_racing_an_invalidation_is_never_served() {
    let store = store().await;
    // A prefix of its own: the platform's invalidation below retires every
    // entry under it.
    let r = replica_over(&store, &private_prefix("racing"));
    let org = OrganizationId::from_uuid(uuid::Uuid::now_v7());
    let user = UserId::from_uuid(uuid::Uuid::now_v7());
    let Lookup::Miss(lease) = r.cache.role(org, user).await else {
        panic!("cold")
    };
    r.cache.invalidate(&[CacheKey::Role(org, user)]).await;
    r.cache
        .store_role(lease, org, user, Some(Access::of_role(OrgRole::Owner)))
        .await;
    assert!(matches!(r.cache.role(org, user).await, Lookup::Miss(_)));
    // A store with a current lease is served.
    let Lookup::Miss(lease) = r.cache.role(org, user).await else {
        panic!("cold")
    };
    r.cache.store_role(lease, org, user, None).await;
    assert_eq!(r.cache.role(org, user).await, Lookup::Hit(None));
    // A late store with a lease from before the platform's invalidation
    // overwrites the current entry: it is not served, nor is anything
    // else until a store with a current lease.
    let Lookup::Miss(stale) = r.cache.role(OrganizationId::PLATFORM, user).await else {
        panic!("cold")
    };
    let Lookup::Hit(_) = r.cache.role(org, user).await else {
        panic!("cached")
    };
    r.cache
        .invalidate(&[CacheKey::Organization(OrganizationId::PLATFORM)])
        .await;
    let Lookup::Miss(fresh) = r.cache.role(org, user).await else {
        panic!("the platform's invalidation retires every organization's entries")
    };
    r.cache.store_role(fresh, org, user, None).await;
    r.cache
        .store_role(stale, org, user, Some(Access::of_role(OrgRole::Owner)))
        .await;
    assert!(matches!(r.cache.role(org, user).await, Lookup::Miss(_)));
}

/// One invalidation of more organizations than one `MSET` slice
/// of the bump script takes: every one of them misses afterwards, and an
/// organization left out keeps its entry.
#[tokio::test]
async fn one_invalidation_of_many_keys_renews_every_one_of_them() {
    let store = store().await;
    let r = replica(&store, &redis_address());
    let user = UserId::from_uuid(uuid::Uuid::now_v7());
    let orgs: Vec<OrganizationId> = (0..1_201)
        .map(|_| OrganizationId::from_uuid(uuid::Uuid::now_v7()))
        .collect();
    for &org in &orgs {
        let Lookup::Miss(lease) = r.cache.role(org, user).await else {
            panic!("cold")
        };
        r.cache
            .store_role(lease, org, user, Some(Access::of_role(OrgRole::Member)))
            .await;
    }
    let (kept, renewed) = orgs.split_last().unwrap();
    // 1,200 organizations: two full slices of 500 and a last one of 200.
    let keys: Vec<CacheKey> = renewed.iter().map(|&o| CacheKey::Role(o, user)).collect();
    r.cache.invalidate(&keys).await;
    for &org in renewed {
        assert!(
            matches!(r.cache.role(org, user).await, Lookup::Miss(_)),
            "an invalidated organization is served from the cache"
        );
    }
    assert_eq!(
        r.cache.role(*kept, user).await,
        Lookup::Hit(Some(Access::of_role(OrgRole::Member))),
        "an organization left out lost its entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_is_immediate_on_every_replica_under_concurrent_reads() {
    let store = store().await;
    let a = Arc::new(replica(&store, &redis_address()));
    let b = Arc::new(replica(&store, &redis_address()));
    let (admin, org, member) = org_with_member(&a, &store).await;
    // Both replicas have the member's access cached.
    a.service.get(&member, org).await.unwrap();
    b.service.get(&member, org).await.unwrap();

    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (b, member) = (b.clone(), member.clone());
            tokio::spawn(async move {
                for _ in 0..50 {
                    let _ = b.service.get(&member, org).await;
                }
            })
        })
        .collect();
    a.service
        .remove_member(&admin, org, member.user_id())
        .await
        .unwrap();
    // From the moment the removal returned, no replica lets the member in.
    for replica in [&a, &b] {
        for _ in 0..20 {
            assert_eq!(
                replica.service.get(&member, org).await,
                Err(OrgError::NotFound)
            );
        }
    }
    for reader in readers {
        reader.await.unwrap();
    }
    for replica in [&a, &b] {
        assert_eq!(
            replica.service.get(&member, org).await,
            Err(OrgError::NotFound)
        );
    }
}

/// How a custom role's grant is taken back in the twins below.
#[derive(Clone, Copy, Debug)]
enum TakeBack {
    /// The role loses the permission.
    PermissionFromRole,
    /// The member loses the role.
    RoleFromMember,
    /// The role is a platform role, and loses the permission: the
    /// platform's generation retires every organization's entries.
    PermissionFromPlatformRole,
}

async fn a_custom_grant_taken_back_is_honoured_at_once_on_every_replica(how: TakeBack) {
    use orgman_domain::{MemberRoles, PermissionName, RoleDraft, RoleKey, RolePatch, RoleService};
    let store = store().await;
    // A prefix of its own: a platform change retires every entry under it,
    // other tests' included.
    let vars = private_prefix("take-back");
    let a = Arc::new(replica_over(&store, &vars));
    let b = Arc::new(replica_over(&store, &vars));
    let (admin, org, member) = org_with_member(&a, &store).await;
    let roles = RoleService::new(a.service.clone(), store.clone());
    let key = RoleKey::parse("auditor").unwrap();
    let audit = PermissionName::from(Permission::AuditRead);
    let draft = RoleDraft::new("Auditor", "", [audit.clone()].into()).unwrap();
    let scope = match how {
        TakeBack::PermissionFromPlatformRole => OrganizationId::PLATFORM,
        TakeBack::PermissionFromRole | TakeBack::RoleFromMember => org,
    };
    roles
        .create(&admin, scope, key.clone(), draft)
        .await
        .unwrap();
    let mut given = MemberRoles::built_in(OrgRole::Member);
    given.custom.insert(key.clone());
    roles
        .set_member_roles(&admin, org, member.user_id(), given)
        .await
        .unwrap();
    // Both replicas have the member's access, the grant included, cached.
    for replica in [&a, &b] {
        for _ in 0..2 {
            replica
                .service
                .ensure_permission(&member, org, Permission::AuditRead)
                .await
                .unwrap();
        }
    }
    match how {
        TakeBack::PermissionFromRole | TakeBack::PermissionFromPlatformRole => {
            let patch = RolePatch {
                permissions: Some(std::collections::BTreeSet::new()),
                ..RolePatch::default()
            };
            roles.update(&admin, scope, &key, patch).await.unwrap();
        }
        TakeBack::RoleFromMember => {
            let plain = MemberRoles::built_in(OrgRole::Member);
            roles
                .set_member_roles(&admin, org, member.user_id(), plain)
                .await
                .unwrap();
        }
    }
    // From the moment the change returned, no replica honours the grant,
    // and the member keeps what MEMBER grants.
    for replica in [&a, &b] {
        for _ in 0..5 {
            assert_eq!(
                replica
                    .service
                    .ensure_permission(&member, org, Permission::AuditRead)
                    .await,
                Err(OrgError::Forbidden {
                    permission: Permission::AuditRead
                }),
                "{how:?}"
            );
        }
        replica.service.get(&member, org).await.unwrap();
    }
}

#[tokio::test]
async fn a_permission_taken_from_a_role_is_gone_at_once_on_every_replica() {
    a_custom_grant_taken_back_is_honoured_at_once_on_every_replica(TakeBack::PermissionFromRole)
        .await;
}

#[tokio::test]
async fn a_permission_taken_from_a_platform_role_is_gone_at_once_on_every_replica() {
    a_custom_grant_taken_back_is_honoured_at_once_on_every_replica(
        TakeBack::PermissionFromPlatformRole,
    )
    .await;
}

#[tokio::test]
async fn a_role_taken_from_a_member_is_gone_at_once_on_every_replica() {
    a_custom_grant_taken_back_is_honoured_at_once_on_every_replica(TakeBack::RoleFromMember).await;
}

/// The check API's batch: what members hold is read from Redis for
/// several organizations at once, and a permission taken from a role is
/// refused at once by another replica that had it cached.
#[tokio::test]
async fn checks_are_answered_from_redis_and_follow_a_revocation_on_every_replica() {
    use orgman_domain::{
        CatalogPermission, CheckScope, Denial, MemberRoles, PermissionCheck, PermissionName,
        RoleDraft, RoleKey, RolePatch, RoleService,
    };
    let store = store().await;
    let a = replica(&store, &redis_address());
    let b = replica(&store, &redis_address());
    let (admin, org, member) = org_with_member(&a, &store).await;
    let (_, other, _) = org_with_member(&a, &store).await;
    let roles_a = RoleService::new(a.service.clone(), store.clone());
    let roles_b = RoleService::new(b.service.clone(), store.clone());
    let invoices =
        PermissionName::parse(&format!("{}:read", unique_name("inv").replace('-', "_"))).unwrap();
    let listed = CatalogPermission::registered(invoices.clone(), "").unwrap();
    roles_a.register_permission(&admin, listed).await.unwrap();
    let key = RoleKey::parse("billing").unwrap();
    let draft = RoleDraft::new("Billing", "", [invoices.clone()].into()).unwrap();
    roles_a
        .create(&admin, org, key.clone(), draft)
        .await
        .unwrap();
    let mut held = MemberRoles::built_in(OrgRole::Member);
    held.custom.insert(key.clone());
    roles_a
        .set_member_roles(&admin, org, member.user_id(), held)
        .await
        .unwrap();
    let checks: Vec<PermissionCheck> = [
        (org, invoices.clone()),
        (org, Permission::MembersManage.into()),
        (other, invoices.clone()),
    ]
    .into_iter()
    .map(|(organization, permission)| PermissionCheck {
        organization,
        permission,
        user: None,
    })
    .collect();
    let expected = vec![Ok(()), Err(Denial::NotHeld), Err(Denial::NotAMember)];
    assert_eq!(
        roles_b
            .check(&member, CheckScope::Own, &checks)
            .await
            .unwrap(),
        expected
    );
    let hits = b.cache.stats().hits.load(Ordering::Relaxed);
    assert_eq!(
        roles_b
            .check(&member, CheckScope::Own, &checks)
            .await
            .unwrap(),
        expected
    );
    assert_eq!(
        b.cache.stats().hits.load(Ordering::Relaxed),
        hits + 2,
        "both members' grants came from Redis"
    );

    let patch = RolePatch {
        permissions: Some(std::collections::BTreeSet::new()),
        ..RolePatch::default()
    };
    roles_a.update(&admin, org, &key, patch).await.unwrap();
    assert_eq!(
        roles_b
            .check(&member, CheckScope::Own, &checks[..1])
            .await
            .unwrap(),
        vec![Err(Denial::NotHeld)]
    );
}

#[tokio::test]
async fn a_redis_outage_fails_no_request_and_caching_resumes() {
    let store = store().await;
    let proxy = TcpProxy::start(&redis_address()).await;
    let r = replica(&store, &proxy.address());
    let (admin, org, member) = org_with_member(&r, &store).await;
    r.service.get(&member, org).await.unwrap();

    proxy.cut();
    for _ in 0..5 {
        r.service
            .get(&member, org)
            .await
            .expect("served from the database");
    }
    assert!(r.cache.stats().errors.load(Ordering::Relaxed) > 0);
    // A change that revokes access needs its fence: refused, nothing
    // changed.
    assert!(matches!(
        r.service
            .change_role(&admin, org, member.user_id(), OrgRole::Admin)
            .await,
        Err(OrgError::Unavailable(_))
    ));
    assert_eq!(
        store.role_of(org, member.user_id()).await.unwrap(),
        Some(Access::of_role(OrgRole::Member))
    );
    // One that adds access is made; its invalidation cannot be written.
    let newcomer = user(&store).await;
    r.service
        .add_member(&admin, org, newcomer, OrgRole::Admin)
        .await
        .unwrap();

    proxy.restore();
    orgman_testkit::eventually(
        "caching resumes by itself",
        Duration::from_secs(5),
        || async {
            let before = r.cache.stats().hits.load(Ordering::Relaxed);
            r.service.get(&member, org).await.unwrap();
            r.service.get(&member, org).await.unwrap();
            r.cache.stats().hits.load(Ordering::Relaxed) > before
        },
    )
    .await;
    // The entry cached before the outage is not served: the pending
    // invalidation was written when Redis came back.
    assert_eq!(
        r.service.role_of(org, newcomer).await.unwrap(),
        Some(OrgRole::Admin)
    );
    r.service
        .change_role(&admin, org, member.user_id(), OrgRole::Admin)
        .await
        .unwrap();
}

/// The writer's cache, losing Redis just as it invalidates after a commit.
struct LosesRedisOnInvalidate {
    inner: Arc<RedisCache>,
    proxy: Arc<TcpProxy>,
}

#[async_trait::async_trait]
impl MembershipCache for LosesRedisOnInvalidate {
    async fn role(&self, o: OrganizationId, u: UserId) -> Lookup<Option<Access>> {
        self.inner.role(o, u).await
    }
    async fn store_role(&self, l: Lease, o: OrganizationId, u: UserId, r: Option<Access>) {
        self.inner.store_role(l, o, u, r).await;
    }
    async fn organization(&self, o: OrganizationId) -> Lookup<Organization> {
        self.inner.organization(o).await
    }
    async fn role_and_organization(
        &self,
        o: OrganizationId,
        u: UserId,
    ) -> (Lookup<Option<Access>>, Lookup<Organization>) {
        self.inner.role_and_organization(o, u).await
    }
    async fn decision(&self, o: OrganizationId, u: UserId, p: Permission) -> Lookup<bool> {
        self.inner.decision(o, u, p).await
    }
    async fn store_decision(&self, l: Lease, o: OrganizationId, u: UserId, p: Permission, a: bool) {
        self.inner.store_decision(l, o, u, p, a).await;
    }
    async fn decision_and_organization(
        &self,
        o: OrganizationId,
        u: UserId,
        p: Permission,
    ) -> (Lookup<bool>, Lookup<Organization>) {
        self.inner.decision_and_organization(o, u, p).await
    }
    async fn store_organization(&self, l: Lease, o: &Organization) {
        self.inner.store_organization(l, o).await;
    }
    async fn user_organizations(&self, u: UserId) -> Lookup<Vec<(Organization, OrgRole)>> {
        self.inner.user_organizations(u).await
    }
    async fn store_user_organizations(&self, l: Lease, u: UserId, p: &[(Organization, OrgRole)]) {
        self.inner.store_user_organizations(l, u, p).await;
    }
    async fn invalidate(&self, keys: &[CacheKey]) {
        self.proxy.cut();
        self.inner.invalidate(keys).await;
    }
    async fn fence(&self, organizations: &[OrganizationId]) -> bool {
        self.inner.fence(organizations).await
    }
}

/// A replica through `proxy`, and a writer sharing its cache whose
/// invalidations after a commit never reach Redis (the proxy is cut first).
fn losing_redis_on_invalidate(
    store: &Arc<PgStore>,
    proxy: &Arc<TcpProxy>,
) -> (Replica, Arc<OrganizationService>) {
    let plain = replica(store, &proxy.address());
    let writer_cache = Arc::new(LosesRedisOnInvalidate {
        inner: plain.cache.clone(),
        proxy: proxy.clone(),
    });
    let writer = Arc::new(OrganizationService::new(
        ServicePorts {
            authorizer: Arc::new(RoleAuthorizer::new(store.clone(), writer_cache.clone())),
            cache: writer_cache,
            ..ServicePorts::over_storage(store.clone())
        },
        ServiceSettings::default(),
    ));
    (plain, writer)
}

#[tokio::test]
async fn a_removal_whose_invalidation_fails_is_never_served_stale_by_another_replica() {
    let store = store().await;
    let proxy = Arc::new(TcpProxy::start(&redis_address()).await);
    let (plain, writer) = losing_redis_on_invalidate(&store, &proxy);
    let reader = replica(&store, &redis_address());
    let (admin, org, member) = org_with_member(&plain, &store).await;
    // The reader has the member's access cached.
    reader.service.get(&member, org).await.unwrap();
    let hits = reader.cache.stats().hits.load(Ordering::Relaxed);
    reader.service.get(&member, org).await.unwrap();
    assert!(reader.cache.stats().hits.load(Ordering::Relaxed) > hits);

    // Committed; the invalidation after it never reaches Redis.
    writer
        .remove_member(&admin, org, member.user_id())
        .await
        .unwrap();
    assert!(plain.cache.stats().errors.load(Ordering::Relaxed) > 0);
    for _ in 0..10 {
        assert_eq!(
            reader.service.get(&member, org).await,
            Err(OrgError::NotFound)
        );
    }
    // Nor does the reader cache anything for it meanwhile.
    let Lookup::Miss(lease) = reader.cache.role(org, member.user_id()).await else {
        panic!("a fenced organization has no entries")
    };
    reader
        .cache
        .store_role(
            lease,
            org,
            member.user_id(),
            Some(Access::of_role(OrgRole::Owner)),
        )
        .await;
    assert!(matches!(
        reader.cache.role(org, member.user_id()).await,
        Lookup::Miss(_)
    ));
    // Once the writer reaches Redis again, caching resumes for everyone.
    proxy.restore();
    orgman_testkit::eventually(
        "the fence is replaced by a new generation",
        Duration::from_secs(10),
        || async {
            let _ = plain.cache.role(org, member.user_id()).await;
            let _ = reader.service.get(&admin, org).await;
            matches!(reader.cache.organization(org).await, Lookup::Hit(_))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_organization_list_is_cached_and_follows_every_change() {
    use orgman_domain::PageRequest;
    let store = store().await;
    let a = replica(&store, &redis_address());
    let b = replica(&store, &redis_address());
    let (admin, org, member) = org_with_member(&a, &store).await;
    let first = a
        .service
        .list_mine(&member, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    let hits = b.cache.stats().hits.load(Ordering::Relaxed);
    assert_eq!(
        b.service
            .list_mine(&member, PageRequest::first())
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        b.cache.stats().hits.load(Ordering::Relaxed),
        hits + 1,
        "the other replica reads the cached list"
    );

    // A rename on one replica shows on the other at once.
    a.service
        .rename(&admin, org, OrgName::parse("Renamed").unwrap(), None)
        .await
        .unwrap();
    let listed = b
        .service
        .list_mine(&member, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(listed.items[0].0.name().as_str(), "Renamed");
    // A suspension too (the list shows the status).
    a.service
        .transition(&admin, org, orgman_domain::LifecycleAction::Suspend)
        .await
        .unwrap();
    let listed = b
        .service
        .list_mine(&member, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(
        listed.items[0].0.status(),
        orgman_domain::OrgStatus::Suspended
    );
    a.service
        .transition(&admin, org, orgman_domain::LifecycleAction::Reactivate)
        .await
        .unwrap();
    // Removal: the list empties on both replicas.
    a.service
        .remove_member(&admin, org, member.user_id())
        .await
        .unwrap();
    for replica in [&a, &b] {
        assert!(
            replica
                .service
                .list_mine(&member, PageRequest::first())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}

#[tokio::test]
async fn cached_organizations_keep_their_metadata_and_readers_get_only_what_they_may_see() {
    use orgman_domain::{Metadata, MetadataKind, OrganizationPatch};
    let store = store().await;
    let r = replica(&store, &redis_address());
    let (admin, org, member) = org_with_member(&r, &store).await;
    let patch = OrganizationPatch {
        metadata: Some(serde_json::json!({"plan": "gold"})),
        private_metadata: Some(serde_json::json!({"crm": 7})),
        ..OrganizationPatch::default()
    };
    r.service.update(&admin, org, &patch, None).await.unwrap();
    // The member's read fills the cache with the whole organization and
    // gets it redacted; the admin's read, from the cache, is whole.
    let seen = r.service.get(&member, org).await.unwrap();
    assert_eq!(seen.private_metadata(), None);
    assert!(matches!(r.cache.organization(org).await, Lookup::Hit(_)));
    let whole = r.service.get(&admin, org).await.unwrap();
    let private = Metadata::parse(MetadataKind::Private, serde_json::json!({"crm": 7})).unwrap();
    assert_eq!(whole.private_metadata(), Some(&private));
    assert_eq!(whole.metadata(), seen.metadata());

    // A redacted organization is never stored.
    r.cache.invalidate(&[CacheKey::Organization(org)]).await;
    let Lookup::Miss(lease) = r.cache.organization(org).await else {
        panic!("invalidated");
    };
    r.cache.store_organization(lease, &seen).await;
    assert!(matches!(r.cache.organization(org).await, Lookup::Miss(_)));
}

/// A replica whose cache reaches the stack's Redis over TLS, verified
/// against `ca_file`.
fn tls_replica(store: &Arc<PgStore>, ca_file: &str) -> Replica {
    let tls_url = std::env::var("REDIS_TLS_URL").expect("REDIS_TLS_URL from the stack");
    let (host, port) = tls_url
        .trim_start_matches("rediss://")
        .rsplit_once(':')
        .unwrap();
    replica_over(
        store,
        &[
            ("SPRING_REDIS_HOST", host.to_owned()),
            ("SPRING_REDIS_PORT", port.to_owned()),
            ("SPRING_REDIS_SSL", "true".to_owned()),
            ("ORGMAN_REDIS_CA_FILE", ca_file.to_owned()),
        ],
    )
}

#[tokio::test]
async fn the_cache_works_over_verified_tls_and_refuses_a_server_it_cannot_verify() {
    let store = store().await;
    let r = tls_replica(&store, &Stack::get().ca_file);
    r.cache.ping().await.unwrap();
    let (_, org, member) = org_with_member(&r, &store).await;
    r.service.get(&member, org).await.unwrap();
    let hits = r.cache.stats().hits.load(Ordering::Relaxed);
    r.service.get(&member, org).await.unwrap();
    assert_eq!(r.cache.stats().hits.load(Ordering::Relaxed), hits + 2);
    assert_eq!(r.cache.stats().errors.load(Ordering::Relaxed), 0);

    // Trusting only other authorities, the cache cannot connect: requests
    // are still answered (from storage), and the failures are counted.
    let foreign = tls_replica(&store, "/etc/ssl/certs/ca-certificates.crt");
    assert!(foreign.cache.ping().await.is_err());
    foreign.service.get(&member, org).await.unwrap();
    assert!(foreign.cache.stats().errors.load(Ordering::Relaxed) > 0);
    assert_eq!(foreign.cache.stats().hits.load(Ordering::Relaxed), 0);
}

/// Two replicas over one deployment: reads are cached, and a removal
/// refuses the member at once on both.
async fn cached_and_revoked_at_once(a: &Replica, b: &Replica, store: &PgStore) {
    let (admin, org, member) = org_with_member(a, store).await;
    a.service.get(&member, org).await.unwrap();
    b.service.get(&member, org).await.unwrap();
    let hits = b.cache.stats().hits.load(Ordering::Relaxed);
    b.service.get(&member, org).await.unwrap();
    assert_eq!(b.cache.stats().hits.load(Ordering::Relaxed), hits + 2);
    a.service
        .remove_member(&admin, org, member.user_id())
        .await
        .unwrap();
    for replica in [a, b] {
        assert_eq!(
            replica.service.get(&member, org).await,
            Err(OrgError::NotFound)
        );
    }
}

#[tokio::test]
async fn through_sentinel_the_cache_follows_a_failover() {
    let sentinels = orgman_testkit::RedisSentinels::start();
    let store = store().await;
    let vars = [
        (
            "SPRING_REDIS_SENTINEL_MASTER",
            orgman_testkit::RedisSentinels::MASTER.to_owned(),
        ),
        ("SPRING_REDIS_SENTINEL_NODES", sentinels.nodes()),
    ];
    let a = replica_over(&store, &vars);
    let b = replica_over(&store, &vars);
    cached_and_revoked_at_once(&a, &b, &store).await;
    let old_master = sentinels.master_port();

    // With no replica to take the fence, a revocation is refused rather
    // than risked: nothing changes, the caller can retry.
    let (admin, org, member) = org_with_member(&a, &store).await;
    sentinels.detach_replica();
    assert!(matches!(
        a.service.remove_member(&admin, org, member.user_id()).await,
        Err(OrgError::Unavailable(_))
    ));
    assert!(a.service.get(&member, org).await.is_ok());
    sentinels.reattach_replica();
    // The replica has just been resynchronized: its acknowledgement may
    // miss the fence's short wait (150 ms) on a busy machine, which refuses
    // the change as above; a refused attempt changed nothing, so the
    // caller retries until one goes through.
    let within = Duration::from_secs(10);
    orgman_testkit::eventually("a revocation once the replica is back", within, || async {
        match a.service.remove_member(&admin, org, member.user_id()).await {
            Ok(()) => true,
            Err(OrgError::Unavailable(_)) => false,
            Err(other) => panic!("the removal failed: {other:?}"),
        }
    })
    .await;
    assert_eq!(b.service.get(&member, org).await, Err(OrgError::NotFound));

    sentinels.fail_over();
    assert_ne!(sentinels.master_port(), old_master);
    // Revocations wait for their fence to reach a replica (a failover
    // must not lose it): once the old master is back as the new one's
    // replica, they go through again.
    sentinels.wait_for_replica();
    // The connections to the old master fail (counted, answered from
    // storage); the next ones are to the new master, where caching and
    // revocation go on.
    let (_, org, member) = org_with_member(&a, &store).await;
    let within = Duration::from_secs(20);
    orgman_testkit::eventually("the cache works on the new master", within, || async {
        let before = b.cache.stats().hits.load(Ordering::Relaxed);
        b.service.get(&member, org).await.unwrap();
        b.service.get(&member, org).await.unwrap();
        b.cache.stats().hits.load(Ordering::Relaxed) > before
    })
    .await;
    cached_and_revoked_at_once(&a, &b, &store).await;
    assert!(!sentinels.get("orgman:v2:counter").is_empty());
}

#[tokio::test]
async fn on_a_cluster_the_cache_lives_in_one_hash_slot() {
    let cluster = orgman_testkit::RedisCluster::start();
    let store = store().await;
    let vars = [("SPRING_REDIS_CLUSTER_NODES", cluster.nodes())];
    let a = replica_over(&store, &vars);
    let b = replica_over(&store, &vars);
    cached_and_revoked_at_once(&a, &b, &store).await;
    assert_eq!(a.cache.stats().errors.load(Ordering::Relaxed), 0);
    assert_eq!(b.cache.stats().errors.load(Ordering::Relaxed), 0);
    // Every key carries the `{orgman}` hash tag: one node holds them all,
    // which the cache's scripts need (an organization's generation and the
    // lease counter are read together).
    let per_node = cluster.keys_per_node();
    assert_eq!(
        per_node.iter().filter(|n| **n > 0).count(),
        1,
        "{per_node:?}"
    );
}

/// TXT answers the test sets: what a domain's verification looks up.
#[derive(Default)]
struct Published(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl orgman_domain::ports::TxtResolver for Published {
    async fn txt(&self, _name: &str) -> Result<Vec<String>, String> {
        Ok(self.0.lock().unwrap().clone())
    }
}

/// Making a domain `ssoRequired` tightens the organization's sign-in rule,
/// which the cache keeps with the organization: like a removal, it fences
/// the organization, so another replica never serves the rule from before
/// it, even when the writer's invalidation never reaches Redis.
#[tokio::test]
async fn an_sso_required_domain_is_never_served_stale_by_another_replica() {
    use orgman_domain::{DomainName, DomainPolicyChange, DomainService, SignIn};
    let store = store().await;
    let proxy = Arc::new(TcpProxy::start(&redis_address()).await);
    let (plain, writer) = losing_redis_on_invalidate(&store, &proxy);
    let reader = replica(&store, &redis_address());
    let (admin, org, member) = org_with_member(&plain, &store).await;
    let erin = member.signed_in(SignIn::from_claims(Some("erin@acme.example"), None));

    // acme.example verified, not yet `ssoRequired` (through a replica
    // whose Redis stays reachable).
    let published = Arc::new(Published::default());
    let plain_domains = DomainService::new(plain.service.clone(), store.clone(), published.clone());
    let acme = DomainName::parse("acme.example").unwrap();
    let claimed = plain_domains
        .claim(&admin, org, acme.clone())
        .await
        .unwrap();
    published.0.lock().unwrap().push(claimed.challenge.clone());
    plain_domains.verify(&admin, org, &acme).await.unwrap();
    // The reader lets Erin in, and has the organization cached.
    reader.service.get(&erin, org).await.unwrap();
    assert!(matches!(
        reader.cache.organization(org).await,
        Lookup::Hit(_)
    ));

    // Made `ssoRequired`; the invalidation after the commit never
    // reaches Redis.
    let writer_domains = DomainService::new(writer, store.clone(), published);
    writer_domains
        .set_policy(
            &admin,
            org,
            &acme,
            DomainPolicyChange {
                sso_required: Some(true),
                ..DomainPolicyChange::default()
            },
        )
        .await
        .unwrap();
    assert!(plain.cache.stats().errors.load(Ordering::Relaxed) > 0);
    for _ in 0..10 {
        assert_eq!(
            reader.service.get(&erin, org).await.map(drop),
            Err(OrgError::SsoRequired)
        );
    }
}
