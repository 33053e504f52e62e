//! Dependencies that go away and come back: the service fails closed while
//! it cannot decide, repairs what the dependency lost, and answers again
//! without a restart.

use std::time::Duration;

use orgman_testkit::{ADMIN, ALICE, BOB, CAROL, PrivateSpiceDb, eventually};
use serde_json::json;

use crate::helpers::{Overrides, TestApp};

fn with_spicedb(spicedb: &PrivateSpiceDb) -> Overrides {
    let mut overrides = Overrides::default();
    overrides.0.insert("ORGMAN_AUTHORIZER", "spicedb".into());
    overrides
        .0
        .insert("FLOWX_LIB_CASCLIENT_SPICEDB_HOST", "127.0.0.1".into());
    overrides.0.insert(
        "FLOWX_LIB_CASCLIENT_SPICEDB_PORT",
        spicedb.port().to_string(),
    );
    overrides
        .0
        .insert("FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN", spicedb.token().into());
    overrides
}

async fn restorations(app: &TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix("orgman_spicedb_restorations_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_spicedb_that_comes_back_empty_is_restored_and_nobody_gets_in_meanwhile() {
    // Durable, and its database wiped on purpose: what a memdb deployment
    // (or a datastore restored from nothing) meets after a restart.
    let mut spicedb = PrivateSpiceDb::durable().await;
    let app = TestApp::builder()
        .settings(with_spicedb(&spicedb))
        .spawn()
        .await;
    let org = app
        .org_owned_by(&orgman_testkit::unique_name("lost"), ALICE)
        .await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    let (admin, bob, carol) = (
        app.token(ADMIN).await,
        app.token(BOB).await,
        app.token(CAROL).await,
    );
    let path = format!("/api/v1/organizations/{org}");
    let added = app
        .post(
            &format!("{path}/members"),
            &admin,
            json!({"userId": BOB.id, "role": "MEMBER"}),
        )
        .await;
    assert_eq!(added.status(), 201);
    assert_eq!(app.get(&path, &bob).await.status(), 200);
    assert_eq!(app.get(&path, &carol).await.status(), 404);

    // SpiceDB loses everything; a change retires the cached decisions.
    spicedb.wipe().await;
    let renamed = app.patch(&path, &admin, json!({"name": "Renamed"})).await;
    assert_eq!(renamed.status(), 200);
    let first = app.get(&path, &bob).await.status().as_u16();
    assert!(matches!(first, 503 | 200), "{first}");
    let took = eventually(
        "the member is let in again",
        Duration::from_secs(30),
        || async {
            let carol_status = app.get(&path, &carol).await.status().as_u16();
            assert!(
                matches!(carol_status, 404 | 503),
                "a non-member got {carol_status}"
            );
            app.get(&path, &bob).await.status() == 200
        },
    )
    .await;
    assert!(took < Duration::from_secs(30));
    assert!(restorations(&app).await >= 1, "the restoration is counted");
    assert_eq!(app.get(&path, &carol).await.status(), 404);

    // A removal while SpiceDB is down, then SpiceDB returns empty: the
    // removed member never gets back in, and is refused once restored.
    spicedb.stop();
    let removed = app
        .delete(&format!("{path}/members/{}", BOB.id), &admin)
        .await;
    assert_eq!(removed.status(), 204);
    for _ in 0..5 {
        let status = app.get(&path, &bob).await.status().as_u16();
        assert!(matches!(status, 404 | 503), "removed member got {status}");
    }
    spicedb.wipe().await;
    eventually(
        "the removal is decided again",
        Duration::from_secs(30),
        || async {
            let status = app.get(&path, &bob).await.status().as_u16();
            assert!(matches!(status, 404 | 503), "removed member got {status}");
            status == 404
        },
    )
    .await;
    // The owner works throughout once restored.
    let alice = app.token(ALICE).await;
    eventually("the owner reads again", Duration::from_secs(30), || async {
        app.get(&path, &alice).await.status() == 200
    })
    .await;
}

/// A dependency the outage suite stops mid-stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dependency {
    Postgres,
    Redis,
    Kafka,
    SpiceDb,
    Keycloak,
}

/// Everything the service under test talks to, each replaceable or
/// cuttable by the test: its own Kafka and SpiceDB, proxies in front of the
/// stack's Redis and Keycloak, and (through `TestApp`) of its database.
struct World {
    app: std::sync::Arc<TestApp>,
    broker: orgman_testkit::PrivateBroker,
    spicedb: PrivateSpiceDb,
    redis: orgman_testkit::TcpProxy,
    keycloak: orgman_testkit::TcpProxy,
    topic: String,
}

impl World {
    async fn start() -> World {
        let stack = orgman_testkit::Stack::get();
        let broker = orgman_testkit::PrivateBroker::start();
        // Durable, as production runs it: a restart loses nothing.
        let spicedb = PrivateSpiceDb::durable().await;
        let redis =
            orgman_testkit::TcpProxy::start(stack.redis_url.trim_start_matches("redis://")).await;
        let keycloak = orgman_testkit::TcpProxy::start(
            stack
                .oidc_issuer
                .split("/realms/")
                .next()
                .unwrap()
                .trim_start_matches("http://"),
        )
        .await;
        let topic = orgman_testkit::unique_name("outage");
        let mut overrides = with_spicedb(&spicedb);
        overrides.0.insert("SPRING_REDIS_HOST", "127.0.0.1".into());
        overrides
            .0
            .insert("SPRING_REDIS_PORT", redis.port().to_string());
        overrides
            .0
            .insert("SPRING_KAFKA_BOOTSTRAP_SERVERS", broker.address());
        overrides
            .0
            .insert("KAFKA_TOPIC_ORGANIZATION_EVENTS_OUT", topic.clone());
        overrides.0.insert(
            "SECURITY_OAUTH2_BASE_SERVER_URL",
            format!("http://{}", keycloak.address()),
        );
        let app = std::sync::Arc::new(
            TestApp::builder()
                .settings(overrides)
                .database_behind_proxy()
                .spawn()
                .await,
        );
        World {
            app,
            broker,
            spicedb,
            redis,
            keycloak,
            topic,
        }
    }

    fn stop(&mut self, dependency: Dependency) {
        match dependency {
            Dependency::Postgres => self.app.db_proxy.as_ref().unwrap().cut(),
            Dependency::Redis => self.redis.cut(),
            Dependency::Kafka => self.broker.stop(),
            Dependency::SpiceDb => self.spicedb.stop(),
            Dependency::Keycloak => self.keycloak.cut(),
        }
    }

    fn start_again(&mut self, dependency: Dependency) {
        match dependency {
            Dependency::Postgres => self.app.db_proxy.as_ref().unwrap().restore(),
            Dependency::Redis => self.redis.restore(),
            // Its log kept: what it acknowledged survives.
            Dependency::Kafka => self.broker.restart(),
            // On its PostgreSQL datastore: back with everything it held.
            Dependency::SpiceDb => self.spicedb.restart(),
            Dependency::Keycloak => self.keycloak.restore(),
        }
    }

    /// Committed events still waiting for the broker.
    async fn pending_for_broker(&self) -> i64 {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = diesel_async::AsyncPgConnection::establish(&self.app.database_url)
            .await
            .unwrap();
        diesel::sql_query(
            "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL AND dead_at IS NULL",
        )
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
    }

    /// The ids of every committed event.
    async fn committed_event_ids(&self) -> std::collections::BTreeSet<String> {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            event_id: uuid::Uuid,
        }
        let mut conn = diesel_async::AsyncPgConnection::establish(&self.app.database_url)
            .await
            .unwrap();
        diesel::sql_query("SELECT event_id FROM outbox_events")
            .load::<Id>(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.event_id.to_string())
            .collect()
    }
}

/// Writes flow (organizations created, a member added to each) and a
/// stranger keeps knocking while `dependency` is stopped for four seconds
/// and started again, the service untouched. Then: it answers again within
/// a bounded time, every committed event is on the topic (read by Kafka's
/// Java client), at least once, and nobody got in who should not have.
async fn survives(dependency: Dependency) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let mut world = World::start().await;
    let app = world.app.clone();
    let org = app
        .org_owned_by(&orgman_testkit::unique_name("steady"), ALICE)
        .await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    let (admin, carol, alice) = (
        app.token(ADMIN).await,
        app.token(CAROL).await,
        app.token(ALICE).await,
    );
    let path = format!("/api/v1/organizations/{org}");
    assert_eq!(app.get(&path, &alice).await.status(), 200);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (app, stop, admin) = (app.clone(), stop.clone(), admin.clone());
        tokio::spawn(async move {
            let (mut committed, mut refused) = (0_u32, 0_u32);
            while !stop.load(Ordering::SeqCst) {
                let slug = orgman_testkit::unique_name("w");
                let created = app
                    .post(
                        "/api/v1/organizations",
                        &admin,
                        json!({"name": slug, "slug": slug}),
                    )
                    .await;
                if created.status() == 201 {
                    committed += 1;
                    let id = crate::helpers::body(created).await["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let added = app
                        .post(
                            &format!("/api/v1/organizations/{id}/members"),
                            &admin,
                            json!({"userId": BOB.id, "role": "MEMBER"}),
                        )
                        .await
                        .status()
                        .as_u16();
                    assert!(matches!(added, 201 | 503), "adding a member: {added}");
                } else {
                    let status = created.status().as_u16();
                    assert_eq!(status, 503, "only an outage may refuse a write");
                    refused += 1;
                }
                // Pacing: a steady stream of writes, not a flood.
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            (committed, refused)
        })
    };
    let stranger = {
        let (app, stop, path) = (app.clone(), stop.clone(), path.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let status = app.get(&path, &carol).await.status().as_u16();
                assert!(matches!(status, 404 | 503), "a stranger got {status}");
                // Pacing, as for the writer.
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };

    // The outage's shape is fixed time on purpose: writes flow for a
    // second, the dependency is away for four, and writes go on for one and
    // a half after it is back; what is checked afterwards is what happened
    // in those windows.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Stopping and starting a broker or SpiceDB blocks for seconds: off the
    // runtime, so the writer and the stranger keep knocking meanwhile.
    tokio::task::block_in_place(|| world.stop(dependency));
    tokio::time::sleep(Duration::from_secs(4)).await;
    tokio::task::block_in_place(|| world.start_again(dependency));
    // The window after it is back (see above).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let (committed, refused) = writer.await.unwrap();
    stranger.await.unwrap();
    assert!(committed > 0);
    // Only the database is needed to write: the broker's events wait in the
    // outbox, SpiceDB is written after commit, Redis is a cache, and tokens
    // verified before the identity provider went away stay valid.
    if dependency == Dependency::Postgres {
        assert!(
            refused > 0,
            "writes were refused while the database was away"
        );
    } else {
        assert_eq!(refused, 0, "{dependency:?} down must not refuse writes");
    }

    // Back without a restart, within a bounded time.
    eventually(
        &format!("{dependency:?}: the owner reads again"),
        Duration::from_secs(30),
        || async { app.get(&path, &alice).await.status() == 200 },
    )
    .await;
    let slug = orgman_testkit::unique_name("after");
    eventually(
        &format!("{dependency:?}: writes succeed again"),
        Duration::from_secs(30),
        || async {
            let slug = format!("{slug}-{}", orgman_testkit::unique_name("x"));
            app.post(
                "/api/v1/organizations",
                &admin,
                json!({"name": slug, "slug": slug}),
            )
            .await
            .status()
                == 201
        },
    )
    .await;

    // Every committed event reaches the topic, at least once.
    eventually(
        &format!("{dependency:?}: the outbox drains"),
        Duration::from_secs(60),
        || async { world.pending_for_broker().await == 0 },
    )
    .await;
    let committed_ids = world.committed_event_ids().await;
    let records = orgman_testkit::read_topic(
        &world.broker.address(),
        &world.topic,
        committed_ids.len() * 2,
        15_000,
    );
    let published: std::collections::BTreeMap<&str, usize> =
        records.iter().fold(Default::default(), |mut seen, r| {
            *seen.entry(r.headers["ce_id"].as_str()).or_default() += 1;
            seen
        });
    let lost: Vec<&String> = committed_ids
        .iter()
        .filter(|id| !published.contains_key(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{dependency:?}: committed but never published: {lost:?}"
    );
    assert!(
        published.keys().all(|id| committed_ids.contains(*id)),
        "{dependency:?}: published but never committed"
    );
    // A SpiceDB that restarts on its datastore lost nothing: nothing was
    // rebuilt.
    assert_eq!(
        restorations(&app).await,
        0,
        "{dependency:?}: SpiceDB was restored, so something was lost"
    );
    let repeated = published.values().filter(|n| **n > 1).count();
    eprintln!(
        "{dependency:?}: {} events committed, all published; {repeated} published more than once",
        committed_ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_of_postgres_mid_stream() {
    survives(Dependency::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_of_redis_mid_stream() {
    survives(Dependency::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_of_kafka_mid_stream() {
    survives(Dependency::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_of_spicedb_mid_stream() {
    survives(Dependency::SpiceDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_of_keycloak_mid_stream() {
    survives(Dependency::Keycloak).await;
}
