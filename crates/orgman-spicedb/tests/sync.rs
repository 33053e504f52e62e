//! SpiceDB kept in step with PostgreSQL: after every operation, after an
//! outage, and after reconciliation.

use std::sync::Arc;
use std::time::Duration;

use orgman_domain::ports::{Authorizer, MembershipQueries, Outbox, OutboxSink};
use orgman_domain::{
    Actor, AuthzError, LifecycleAction, OrgError, OrgName, OrgRole, OrganizationId,
    OrganizationService, OutboxRelay, PageRequest, Permission, ServicePorts, ServiceSettings, Slug,
    UserId,
};
use orgman_postgres::{PgSettings, PgStore, migrate};
use orgman_spicedb::{DesiredMembership, SpiceDbAuthorizer, SpiceDbSettings, reconcile};
use orgman_testkit::{Stack, TcpProxy, unique_name};

struct Setup {
    store: Arc<PgStore>,
    authz: Arc<SpiceDbAuthorizer>,
    service: OrganizationService,
    admin: Actor,
    _proxy: Option<TcpProxy>,
}

impl Setup {
    /// A new organization created by the platform admin.
    async fn new_org(&self) -> OrganizationId {
        self.service
            .create(
                &self.admin,
                OrgName::parse("Org").unwrap(),
                Slug::parse(&unique_name("o")).unwrap(),
            )
            .await
            .unwrap()
            .id()
    }
}

fn settings(endpoint: &str) -> SpiceDbSettings {
    settings_with(endpoint, &[])
}

/// Settings for the SpiceDB at `endpoint` (`http://` or `https://`), with
/// more variables.
fn settings_with(endpoint: &str, more: &[(&str, &str)]) -> SpiceDbSettings {
    let (host, port) = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .rsplit_once(':')
        .unwrap();
    SpiceDbSettings::from_env(|name| match name {
        "FLOWX_LIB_CASCLIENT_SPICEDB_HOST" => Some(host.to_owned()),
        "FLOWX_LIB_CASCLIENT_SPICEDB_PORT" => Some(port.to_owned()),
        "FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN" => Some(Stack::get().spicedb_token.clone()),
        _ => more
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned()),
    })
    .unwrap()
    .unwrap()
}

async fn setup(proxied: bool) -> (Setup, Option<TcpProxy>) {
    let stack = Stack::get();
    let url = stack.fresh_database().await;
    migrate::run_pending(&url).await.unwrap();
    let store = Arc::new(PgStore::connect(&PgSettings::from_url(&url).unwrap()).unwrap());
    let target = stack
        .spicedb_endpoint
        .trim_start_matches("http://")
        .to_owned();
    let proxy = if proxied {
        Some(TcpProxy::start(&target).await)
    } else {
        None
    };
    let endpoint = proxy.as_ref().map_or(stack.spicedb_endpoint.clone(), |p| {
        format!("http://{}", p.address())
    });
    let authz = Arc::new(SpiceDbAuthorizer::connect(settings(&endpoint)).unwrap());
    authz.ensure_schema().await.unwrap();
    let service = OrganizationService::new(
        ServicePorts {
            authorizer: authz.clone(),
            ..ServicePorts::over_storage(store.clone())
        },
        ServiceSettings::default(),
    );
    let admin = Actor::platform_admin(user(&store).await);
    (
        Setup {
            store,
            authz,
            service,
            admin,
            _proxy: None,
        },
        proxy,
    )
}

async fn user(store: &PgStore) -> UserId {
    orgman_testkit::new_user(store).await
}

/// An event made outside the service (to corrupt SpiceDB on purpose).
fn event(org: OrganizationId, kind: orgman_domain::EventKind) -> orgman_domain::DomainEvent {
    orgman_domain::DomainEvent {
        id: orgman_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: time::OffsetDateTime::now_utc(),
        organization_id: org,
        actor: None,
        actor_kind: orgman_domain::ActorKind::User,
        request_id: None,
        schema_version: 1,
        kind,
    }
}

/// What SpiceDB should hold for an organization, from PostgreSQL.
async fn expected(s: &Setup, org: OrganizationId) -> Vec<String> {
    let mut rels = vec![format!("organization:{org}#platform@platform:main")];
    for m in s
        .store
        .members(org, PageRequest::new(None, 500))
        .await
        .unwrap()
        .items
    {
        let relation = match m.role {
            OrgRole::Owner => "owner",
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        };
        rels.push(format!("organization:{org}#{relation}@user:{}", m.user_id));
    }
    rels.sort();
    rels
}

#[tokio::test]
async fn the_schema_is_written_once_and_parses() {
    let (s, _) = setup(false).await;
    // Written (or already there) by setup; unchanged now.
    assert!(!s.authz.ensure_schema().await.unwrap());
    assert!(
        orgman_spicedb::SCHEMA
            .lines()
            .filter(|l| l.contains("permission"))
            .count()
            >= 6
    );
}

#[tokio::test]
async fn relationships_follow_every_operation() {
    let (s, _) = setup(false).await;
    let org = s.new_org().await;
    assert_eq!(
        s.authz.relationships(Some(org)).await.unwrap(),
        expected(&s, org).await
    );
    let ann = user(&s.store).await;
    let bob = user(&s.store).await;
    s.service
        .add_member(&s.admin, org, ann, OrgRole::Admin)
        .await
        .unwrap();
    assert_eq!(
        s.authz.relationships(Some(org)).await.unwrap(),
        expected(&s, org).await
    );
    let ann_actor = Actor::user(ann);
    s.service
        .add_member(&ann_actor, org, bob, OrgRole::Member)
        .await
        .unwrap();
    assert_eq!(
        s.authz.relationships(Some(org)).await.unwrap(),
        expected(&s, org).await
    );
    s.service
        .change_role(&s.admin, org, bob, OrgRole::Owner)
        .await
        .unwrap();
    assert_eq!(
        s.authz.relationships(Some(org)).await.unwrap(),
        expected(&s, org).await
    );
    s.service.remove_member(&ann_actor, org, ann).await.unwrap();
    assert_eq!(
        s.authz.relationships(Some(org)).await.unwrap(),
        expected(&s, org).await
    );
    // Deletion removes everything.
    s.service
        .transition(&s.admin, org, LifecycleAction::RequestDeletion)
        .await
        .unwrap();
    assert_eq!(
        s.authz.relationships(Some(org)).await.unwrap(),
        expected(&s, org).await
    );
}

#[tokio::test]
async fn a_removed_member_loses_access_at_once() {
    let (s, _) = setup(false).await;
    let org = s.new_org().await;
    let ann = user(&s.store).await;
    let ann_actor = Actor::user(ann);
    s.service
        .add_member(&s.admin, org, ann, OrgRole::Admin)
        .await
        .unwrap();
    assert!(
        s.authz
            .check(&ann_actor, org, Permission::MembersManage)
            .await
            .unwrap()
    );
    assert!(
        !s.authz
            .check(&ann_actor, org, Permission::OrganizationDelete)
            .await
            .unwrap()
    );
    assert!(s.service.get(&ann_actor, org).await.is_ok());
    s.service.remove_member(&s.admin, org, ann).await.unwrap();
    assert!(
        !s.authz
            .check(&ann_actor, org, Permission::OrganizationRead)
            .await
            .unwrap()
    );
    assert_eq!(
        s.service.get(&ann_actor, org).await,
        Err(OrgError::NotFound)
    );
}

#[tokio::test]
async fn an_outage_fails_closed_and_the_relay_catches_up() {
    let (s, proxy) = setup(true).await;
    let proxy = proxy.unwrap();
    let org = s.new_org().await;
    let ann = user(&s.store).await;
    let ann_actor = Actor::user(ann);
    s.service
        .add_member(&s.admin, org, ann, OrgRole::Member)
        .await
        .unwrap();
    let relay = OutboxRelay::new(
        s.store.clone(),
        s.authz.clone(),
        OutboxSink::Authorizer,
        100,
    );
    relay.run_once().await.unwrap();

    proxy.cut();
    // A platform admin's change commits (it needs no check)...
    s.service.remove_member(&s.admin, org, ann).await.unwrap();
    assert_eq!(s.store.role_of(org, ann).await.unwrap(), None);
    // ...and checks fail closed: an error, never "allowed".
    assert!(matches!(
        s.authz
            .check(&ann_actor, org, Permission::OrganizationRead)
            .await,
        Err(AuthzError::Unavailable(_))
    ));
    assert!(matches!(
        s.service.get(&ann_actor, org).await,
        Err(OrgError::Unavailable(_))
    ));
    let outcome = relay.run_once().await.unwrap();
    assert_eq!(outcome.delivered, 0);

    proxy.restore();
    orgman_testkit::eventually("the relay catches up", Duration::from_secs(6), || async {
        relay.run_once().await.unwrap();
        s.store
            .backlog(OutboxSink::Authorizer)
            .await
            .unwrap()
            .pending
            == 0
    })
    .await;
    assert_eq!(
        s.authz.relationships(Some(org)).await.unwrap(),
        expected(&s, org).await
    );
    assert!(
        !s.authz
            .check(&ann_actor, org, Permission::OrganizationRead)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn reconcile_repairs_a_corrupted_relationship_set() {
    let (s, _) = setup(false).await;
    let org = s.new_org().await;
    let ann = user(&s.store).await;
    let intruder = user(&s.store).await;
    s.service
        .add_member(&s.admin, org, ann, OrgRole::Member)
        .await
        .unwrap();
    // Corrupt: drop ann's relationship, give an intruder ownership.
    s.authz
        .apply(&event(
            org,
            orgman_domain::EventKind::MemberRemoved {
                user_id: ann,
                role: OrgRole::Member,
            },
        ))
        .await
        .unwrap();
    s.authz
        .apply(&event(
            org,
            orgman_domain::EventKind::MemberAdded {
                user_id: intruder,
                role: OrgRole::Owner,
            },
        ))
        .await
        .unwrap();
    assert_ne!(
        s.authz.relationships(Some(org)).await.unwrap(),
        expected(&s, org).await
    );

    let desired: Vec<DesiredMembership> = s
        .store
        .members(org, PageRequest::new(None, 500))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| DesiredMembership {
            organization: m.organization_id,
            user: m.user_id,
            role: m.role,
            custom_roles: Vec::new(),
        })
        .collect();
    // SpiceDB is shared by parallel tests: repair this test's organization only.
    let orgs = vec![org];
    let all = desired;
    let report = reconcile(&s.authz, &orgs, &all, &[], Some(&orgs))
        .await
        .unwrap();
    assert_eq!(
        report.added,
        vec![format!("organization:{org}#member@user:{ann}")]
    );
    assert_eq!(
        report.removed,
        vec![format!("organization:{org}#owner@user:{intruder}")]
    );
    assert_eq!(
        s.authz.relationships(Some(org)).await.unwrap(),
        expected(&s, org).await
    );
    let again = reconcile(&s.authz, &orgs, &all, &[], Some(&orgs))
        .await
        .unwrap();
    assert_eq!(
        again,
        orgman_spicedb::ReconcileReport::default(),
        "nothing left to fix"
    );
}

/// A service replica as deployed with SpiceDB: its own SpiceDB client, the
/// shared Redis cache (decisions cached under organization generations).
fn spicedb_replica(store: &Arc<PgStore>) -> (OrganizationService, Arc<orgman_redis::RedisCache>) {
    let stack = Stack::get();
    let (host, port) = stack
        .redis_url
        .trim_start_matches("redis://")
        .rsplit_once(':')
        .unwrap();
    let cache = Arc::new(
        orgman_redis::RedisCache::connect(
            orgman_redis::RedisSettings::from_env(|name| match name {
                "SPRING_REDIS_HOST" => Some(host.to_owned()),
                "SPRING_REDIS_PORT" => Some(port.to_owned()),
                _ => None,
            })
            .unwrap(),
        )
        .unwrap(),
    );
    let authz = Arc::new(SpiceDbAuthorizer::connect(settings(&stack.spicedb_endpoint)).unwrap());
    let service = OrganizationService::new(
        ServicePorts {
            authorizer: authz,
            cache: cache.clone(),
            ..ServicePorts::over_storage(store.clone())
        },
        ServiceSettings::default(),
    );
    (service, cache)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_decisions_never_outlive_a_removal_on_any_replica() {
    use std::sync::atomic::Ordering;

    let (s, _) = setup(false).await;
    let (a, _) = spicedb_replica(&s.store);
    let (b, b_cache) = spicedb_replica(&s.store);
    let b = Arc::new(b);
    let org = a
        .create(
            &s.admin,
            OrgName::parse("Org").unwrap(),
            Slug::parse(&unique_name("o")).unwrap(),
        )
        .await
        .unwrap()
        .id();
    let member = Actor::user(user(&s.store).await);
    a.add_member(&s.admin, org, member.user_id(), OrgRole::Member)
        .await
        .unwrap();
    // Both replicas decide once, then answer from the cached decision.
    a.get(&member, org).await.unwrap();
    b.get(&member, org).await.unwrap();
    let hits = b_cache.stats().hits.load(Ordering::Relaxed);
    b.get(&member, org).await.unwrap();
    assert_eq!(
        b_cache.stats().hits.load(Ordering::Relaxed),
        hits + 2,
        "decision and organization from Redis"
    );

    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (b, member) = (b.clone(), member.clone());
            tokio::spawn(async move {
                for _ in 0..30 {
                    let _ = b.get(&member, org).await;
                }
            })
        })
        .collect();
    a.remove_member(&s.admin, org, member.user_id())
        .await
        .unwrap();
    // From the moment the removal returned, no replica lets the member in.
    for replica in [&a, &*b] {
        for _ in 0..20 {
            assert_eq!(replica.get(&member, org).await, Err(OrgError::NotFound));
        }
    }
    for reader in readers {
        reader.await.unwrap();
    }
    for replica in [&a, &*b] {
        assert_eq!(replica.get(&member, org).await, Err(OrgError::NotFound));
    }
}

#[tokio::test]
async fn a_change_the_authorizer_missed_fails_closed_on_every_replica() {
    use orgman_domain::ports::SyncGuard;

    // Replica a reaches SpiceDB through a connection the test cuts;
    // replica b shares the database and reaches SpiceDB directly.
    let (a, proxy) = setup(true).await;
    let proxy = proxy.unwrap();
    let relay = OutboxRelay::new(
        a.store.clone(),
        a.authz.clone(),
        OutboxSink::Authorizer,
        100,
    );
    let org = a.new_org().await;
    let ann = user(&a.store).await;
    let ann_actor = Actor::user(ann);
    a.service
        .add_member(&a.admin, org, ann, OrgRole::Member)
        .await
        .unwrap();
    relay.run_once().await.unwrap();
    let direct =
        Arc::new(SpiceDbAuthorizer::connect(settings(&Stack::get().spicedb_endpoint)).unwrap());
    let b = OrganizationService::new(
        ServicePorts {
            authorizer: Arc::new(SyncGuard::new(
                direct.clone(),
                a.store.clone(),
                Duration::from_secs(5),
            )),
            ..ServicePorts::over_storage(a.store.clone())
        },
        ServiceSettings::default(),
    );
    assert!(b.get(&ann_actor, org).await.is_ok());

    // The removal commits, but SpiceDB never hears of it: not from a, not
    // from the relay.
    proxy.cut();
    a.service.remove_member(&a.admin, org, ann).await.unwrap();
    assert_eq!(relay.run_once().await.unwrap().retried, 1);
    assert!(
        direct
            .check(&ann_actor, org, Permission::OrganizationRead)
            .await
            .unwrap(),
        "SpiceDB itself is out of date"
    );
    // Replica b does not trust it: it fails closed.
    assert!(
        matches!(b.get(&ann_actor, org).await, Err(OrgError::Unavailable(_))),
        "a removed member must not get in through another replica"
    );

    // Once the relay has written the removal, b refuses for good reason.
    proxy.restore();
    let delivered = std::cell::Cell::new(0);
    orgman_testkit::eventually(
        "the relay writes the removal",
        Duration::from_secs(5),
        || async {
            delivered.set(delivered.get() + relay.run_once().await.unwrap().delivered);
            delivered.get() > 0
        },
    )
    .await;
    assert_eq!(delivered.get(), 1);
    assert_eq!(b.get(&ann_actor, org).await, Err(OrgError::NotFound));
}

#[tokio::test]
async fn an_import_reaches_spicedb_in_batches_and_the_relay_agrees() {
    let (s, _) = setup(false).await;
    let org = s.new_org().await;
    let mut users = Vec::new();
    for _ in 0..700 {
        users.push(user(&s.store).await);
    }
    let import = s.service.start_import(&s.admin, org).await.unwrap();
    for chunk in users.chunks(250) {
        let entries: Vec<_> = chunk
            .iter()
            .map(|&user| orgman_domain::ImportEntry::new(user, OrgRole::Member))
            .collect();
        let outcomes = import.apply(&entries).await.unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| *o == orgman_domain::ImportOutcome::Added)
        );
    }
    // Written inline, at once: every imported member is allowed in now.
    let relationships = s.authz.relationships(Some(org)).await.unwrap();
    assert_eq!(relationships.len(), 2 + users.len());
    for &user in &users {
        assert!(
            relationships.contains(&format!("organization:{org}#member@user:{user}")),
            "{user}"
        );
    }
    assert!(
        s.authz
            .check(&Actor::user(users[699]), org, Permission::OrganizationRead)
            .await
            .unwrap()
    );
    // The relay delivers the same events again (in runs of membership
    // events): idempotent, nothing changes, nothing is dead-lettered.
    let relay = OutboxRelay::new(
        s.store.clone(),
        s.authz.clone(),
        OutboxSink::Authorizer,
        1000,
    );
    relay.run_once().await.unwrap();
    let backlog = s.store.backlog(OutboxSink::Authorizer).await.unwrap();
    assert_eq!((backlog.pending, backlog.dead_lettered), (0, 0));
    assert_eq!(
        s.authz.relationships(Some(org)).await.unwrap(),
        relationships
    );
}

#[tokio::test]
async fn a_run_of_changes_to_one_member_lands_in_order() {
    use orgman_domain::EventKind;
    use orgman_domain::ports::EventSink;
    let (s, _) = setup(false).await;
    let org = s.new_org().await;
    let ann = user(&s.store).await;
    let bob = user(&s.store).await;
    let events = [
        event(
            org,
            EventKind::MemberAdded {
                user_id: ann,
                role: OrgRole::Member,
            },
        ),
        event(
            org,
            EventKind::MemberAdded {
                user_id: bob,
                role: OrgRole::Member,
            },
        ),
        event(
            org,
            EventKind::MemberRoleChanged {
                user_id: ann,
                from: OrgRole::Member,
                to: OrgRole::Admin,
            },
        ),
        event(
            org,
            EventKind::MemberRemoved {
                user_id: bob,
                role: OrgRole::Member,
            },
        ),
        event(
            org,
            EventKind::MemberAdded {
                user_id: bob,
                role: OrgRole::Owner,
            },
        ),
    ];
    let outcomes = s.authz.deliver(&events).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let relationships = s.authz.relationships(Some(org)).await.unwrap();
    assert!(relationships.contains(&format!("organization:{org}#admin@user:{ann}")));
    assert!(!relationships.contains(&format!("organization:{org}#member@user:{ann}")));
    assert!(relationships.contains(&format!("organization:{org}#owner@user:{bob}")));
    assert!(!relationships.contains(&format!("organization:{org}#member@user:{bob}")));
}

/// The stack's SpiceDB over TLS, trusting `ca_file`.
fn tls_settings(ca_file: &str) -> SpiceDbSettings {
    let endpoint =
        std::env::var("SPICEDB_TLS_ENDPOINT").expect("SPICEDB_TLS_ENDPOINT from the stack");
    settings_with(
        &endpoint,
        &[
            ("FLOWX_LIB_CASCLIENT_SPICEDB_TLS", "true"),
            ("ORGMAN_SPICEDB_CA_FILE", ca_file),
        ],
    )
}

#[tokio::test]
async fn tls_with_the_servers_authority_works_and_without_it_fails_closed() {
    let verified = SpiceDbAuthorizer::connect(tls_settings(&Stack::get().ca_file)).unwrap();
    verified.ping().await.unwrap();
    verified.ensure_schema().await.unwrap();
    let foreign =
        SpiceDbAuthorizer::connect(tls_settings("/etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(foreign.ping().await.is_err());
}

#[tokio::test]
async fn the_plain_and_the_tls_server_share_one_datastore() {
    let plain = SpiceDbAuthorizer::connect(settings(&Stack::get().spicedb_endpoint)).unwrap();
    plain.ensure_schema().await.unwrap();
    let tls = SpiceDbAuthorizer::connect(tls_settings(&Stack::get().ca_file)).unwrap();
    let org = OrganizationId::from_uuid(uuid::Uuid::new_v4());
    let ann = UserId::from_uuid(uuid::Uuid::new_v4());
    plain
        .apply(&event(
            org,
            orgman_domain::EventKind::MemberAdded {
                user_id: ann,
                role: OrgRole::Admin,
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        tls.relationships(Some(org)).await.unwrap(),
        [format!("organization:{org}#admin@user:{ann}")]
    );
    assert!(
        tls.check(&Actor::user(ann), org, Permission::MembersManage)
            .await
            .unwrap()
    );
}

/// Settings for a private SpiceDB.
fn private_settings(spicedb: &orgman_testkit::PrivateSpiceDb) -> SpiceDbSettings {
    let port = spicedb.port().to_string();
    SpiceDbSettings::from_env(|name| match name {
        "FLOWX_LIB_CASCLIENT_SPICEDB_HOST" => Some("127.0.0.1".to_owned()),
        "FLOWX_LIB_CASCLIENT_SPICEDB_PORT" => Some(port.clone()),
        "FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN" => Some(spicedb.token().to_owned()),
        _ => None,
    })
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn a_restart_on_postgres_keeps_every_relationship_and_a_wipe_loses_them() {
    let mut spicedb = orgman_testkit::PrivateSpiceDb::durable().await;
    let authz = SpiceDbAuthorizer::connect(private_settings(&spicedb)).unwrap();
    assert!(
        authz.ensure_schema().await.unwrap(),
        "a new datastore has no schema"
    );
    let org = OrganizationId::from_uuid(uuid::Uuid::new_v4());
    let (ann, bob) = (
        UserId::from_uuid(uuid::Uuid::new_v4()),
        UserId::from_uuid(uuid::Uuid::new_v4()),
    );
    for (user, role) in [(ann, OrgRole::Owner), (bob, OrgRole::Member)] {
        authz
            .apply(&event(
                org,
                orgman_domain::EventKind::MemberAdded {
                    user_id: user,
                    role,
                },
            ))
            .await
            .unwrap();
    }
    let before = authz.relationships(Some(org)).await.unwrap();
    assert_eq!(before.len(), 2);

    spicedb.restart();
    orgman_testkit::eventually(
        "SpiceDB answers after its restart",
        Duration::from_secs(15),
        || async { authz.relationships(Some(org)).await.is_ok() },
    )
    .await;
    assert_eq!(authz.relationships(Some(org)).await.unwrap(), before);
    assert!(!authz.ensure_schema().await.unwrap(), "the schema was kept");
    assert!(!authz.needs_restore());

    // Wiped: every check fails closed, and the loss is noticed.
    spicedb.wipe().await;
    orgman_testkit::eventually(
        "the wiped SpiceDB is noticed",
        Duration::from_secs(15),
        || async {
            let check = authz
                .check(&Actor::user(ann), org, Permission::MembersManage)
                .await;
            assert!(check.is_err(), "a wiped SpiceDB fails closed: {check:?}");
            authz.needs_restore()
        },
    )
    .await;
}

/// The twin of `a_removed_member_loses_access_at_once` for custom roles:
/// SpiceDB holds them as data, and at every step it answers as the
/// database authorizer does.
#[tokio::test]
async fn custom_roles_reach_spicedb_as_data_and_both_authorizers_agree() {
    use orgman_domain::ports::RoleAuthorizer;
    use orgman_domain::{MemberRoles, PermissionName, RoleDraft, RoleKey, RolePatch, RoleService};
    let (s, _) = setup(false).await;
    let org = s.new_org().await;
    let ann = user(&s.store).await;
    let ann_actor = Actor::user(ann);
    let service = Arc::new(OrganizationService::new(
        ServicePorts {
            authorizer: s.authz.clone(),
            ..ServicePorts::over_storage(s.store.clone())
        },
        ServiceSettings::default(),
    ));
    let roles = RoleService::new(service.clone(), s.store.clone());
    let database = RoleAuthorizer::new(s.store.clone(), Arc::new(orgman_domain::ports::NoCache));
    service
        .add_member(&s.admin, org, ann, OrgRole::Member)
        .await
        .unwrap();
    let key = RoleKey::parse("auditor").unwrap();
    let granted = [
        PermissionName::from(Permission::AuditRead),
        PermissionName::from(Permission::MembersManage),
    ];
    let draft = RoleDraft::new("Auditor", "", granted.clone().into()).unwrap();
    roles
        .create(&s.admin, org, key.clone(), draft)
        .await
        .unwrap();
    let mut held = MemberRoles::built_in(OrgRole::Member);
    held.custom.insert(key.clone());
    roles
        .set_member_roles(&s.admin, org, ann, held.clone())
        .await
        .unwrap();
    let id = format!("{org}/auditor");
    let stored = s.authz.relationships(Some(org)).await.unwrap();
    for relationship in [
        format!("organization:{org}#custom_role@role:{id}"),
        format!("role:{id}#grants@catalog_permission:audit/read"),
        format!("role:{id}#grants_read_audit@user:*"),
        format!("role:{id}#holder@user:{ann}"),
        format!(
            "role:{id}#platform_role@role:{}/auditor",
            OrganizationId::PLATFORM
        ),
    ] {
        assert!(
            stored.contains(&relationship),
            "{relationship} in {stored:?}"
        );
    }

    // Both authorizers, on every permission, at every step.
    let agree = |step: &'static str, expected: &'static [Permission]| {
        let (authz, database, actor) = (s.authz.clone(), &database, ann_actor.clone());
        async move {
            for permission in Permission::GRANTABLE {
                let spicedb = authz.check(&actor, org, permission).await.unwrap();
                let db = database.check(&actor, org, permission).await.unwrap();
                assert_eq!(spicedb, db, "{step}: {permission:?}");
                assert_eq!(
                    spicedb,
                    expected.contains(&permission),
                    "{step}: {permission:?}"
                );
            }
        }
    };
    use Permission::{AuditRead, MembersManage, MembersRead, OrganizationRead};
    agree(
        "held",
        &[OrganizationRead, MembersRead, MembersManage, AuditRead],
    )
    .await;
    let patch = RolePatch {
        permissions: Some([granted[1].clone()].into()),
        ..RolePatch::default()
    };
    roles.update(&s.admin, org, &key, patch).await.unwrap();
    agree(
        "audit:read taken from the role",
        &[OrganizationRead, MembersRead, MembersManage],
    )
    .await;
    roles
        .set_member_roles(&s.admin, org, ann, MemberRoles::built_in(OrgRole::Member))
        .await
        .unwrap();
    agree(
        "role taken from the member",
        &[OrganizationRead, MembersRead],
    )
    .await;

    // A platform role: its grants live once, on the platform's role
    // object, and a change to them holds in the organization at once.
    // (SpiceDB is shared between tests: the key is this test's own.)
    let platform = OrganizationId::PLATFORM;
    let platform_key = RoleKey::parse(&unique_name("pa")).unwrap();
    let draft = RoleDraft::new("Platform auditor", "", [granted[0].clone()].into()).unwrap();
    roles
        .create(&s.admin, platform, platform_key.clone(), draft)
        .await
        .unwrap();
    let mut platform_held = MemberRoles::built_in(OrgRole::Member);
    platform_held.custom.insert(platform_key.clone());
    roles
        .set_member_roles(&s.admin, org, ann, platform_held)
        .await
        .unwrap();
    agree(
        "platform role held",
        &[OrganizationRead, MembersRead, AuditRead],
    )
    .await;
    let patch = RolePatch {
        permissions: Some(std::collections::BTreeSet::new()),
        ..RolePatch::default()
    };
    roles
        .update(&s.admin, platform, &platform_key, patch)
        .await
        .unwrap();
    agree(
        "audit:read taken from the platform role",
        &[OrganizationRead, MembersRead],
    )
    .await;
    roles
        .set_member_roles(&s.admin, org, ann, held)
        .await
        .unwrap();
    service.remove_member(&s.admin, org, ann).await.unwrap();
    agree("removed", &[]).await;
    let stored = s.authz.relationships(Some(org)).await.unwrap();
    assert!(!stored.iter().any(|r| r.contains("#holder@")), "{stored:?}");
    // Back as a plain member: the old custom role does not come back.
    service
        .add_member(&s.admin, org, ann, OrgRole::Member)
        .await
        .unwrap();
    agree("back as a member", &[OrganizationRead, MembersRead]).await;
}

#[tokio::test]
async fn reconcile_rebuilds_custom_roles_from_the_database() {
    use orgman_domain::{MemberRoles, PermissionName, RoleDraft, RoleKey, RoleService};
    let (s, _) = setup(false).await;
    let org = s.new_org().await;
    let ann = user(&s.store).await;
    let service = Arc::new(OrganizationService::new(
        ServicePorts {
            authorizer: s.authz.clone(),
            ..ServicePorts::over_storage(s.store.clone())
        },
        ServiceSettings::default(),
    ));
    let roles = RoleService::new(service.clone(), s.store.clone());
    service
        .add_member(&s.admin, org, ann, OrgRole::Member)
        .await
        .unwrap();
    let key = RoleKey::parse("auditor").unwrap();
    let draft = RoleDraft::new(
        "Auditor",
        "",
        [PermissionName::from(Permission::AuditRead)].into(),
    )
    .unwrap();
    roles
        .create(&s.admin, org, key.clone(), draft)
        .await
        .unwrap();
    let mut held = MemberRoles::built_in(OrgRole::Member);
    held.custom.insert(key);
    roles
        .set_member_roles(&s.admin, org, ann, held)
        .await
        .unwrap();
    let before = s.authz.relationships(Some(org)).await.unwrap();

    // SpiceDB loses the organization's custom roles; reconciling this
    // organization from PostgreSQL brings exactly them back.
    let role_rows: Vec<_> = before
        .iter()
        .filter(|r| r.contains("role:"))
        .cloned()
        .collect();
    // The role's two grants (the catalog's, and audit:read's to its
    // holders), its holder, the organization's pointer at it and its
    // pointer at the platform role of its key.
    assert_eq!(role_rows.len(), 5, "{before:?}");
    s.authz
        .apply(&event(
            org,
            orgman_domain::EventKind::RoleDeleted {
                key: RoleKey::parse("auditor").unwrap(),
                replacement: None,
            },
        ))
        .await
        .unwrap();
    assert!(
        !s.authz
            .check(&Actor::user(ann), org, Permission::AuditRead)
            .await
            .unwrap()
    );
    let members: Vec<DesiredMembership> = s
        .store
        .members(org, PageRequest::new(None, 500))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| DesiredMembership {
            organization: m.organization_id,
            user: m.user_id,
            role: m.role,
            custom_roles: m.custom_roles.into_iter().collect(),
        })
        .collect();
    let defined = orgman_domain::ports::RoleQueries::custom_roles(&*s.store, org)
        .await
        .unwrap();
    let report = reconcile(&s.authz, &[org], &members, &defined, Some(&[org]))
        .await
        .unwrap();
    assert_eq!(report.added.len(), 5, "{report:?}");
    assert!(report.removed.is_empty(), "{report:?}");
    assert_eq!(s.authz.relationships(Some(org)).await.unwrap(), before);
    assert!(
        s.authz
            .check(&Actor::user(ann), org, Permission::AuditRead)
            .await
            .unwrap()
    );
}
