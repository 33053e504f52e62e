//! The database going away: calls report `Unavailable` (never a panic or a
//! hang), nothing half-written stays, and the pool recovers by itself.

mod support;

use std::time::Duration;

use orgman_domain::ports::OrganizationRepository;
use orgman_domain::{OrgError, OrgName, PageRequest, StoreError};
use orgman_postgres::{PgSettings, PgStore};
use orgman_testkit::TcpProxy;
use support::Db;

#[tokio::test]
async fn unreachable_database_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings =
        PgSettings::from_url(&format!("postgres://postgres:x@127.0.0.1:{port}/db")).unwrap();
    settings.timeout = Duration::from_secs(1);
    let store = PgStore::connect(&settings).unwrap();
    assert!(matches!(
        store.organizations(PageRequest::first()).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn connection_loss_is_unavailable_and_the_pool_recovers() {
    let direct = Db::new().await;
    let target = direct
        .url
        .rsplit_once('@')
        .unwrap()
        .1
        .split_once('/')
        .unwrap()
        .0
        .to_owned();
    let proxy = TcpProxy::start(&target).await;
    let url = direct.url.replace(&target, &proxy.address());
    let db = Db::over(url).await;
    let org = db.org().await;

    proxy.cut();
    let renamed = db
        .service
        .rename(
            &db.admin,
            org.id(),
            OrgName::parse("During outage").unwrap(),
            None,
        )
        .await;
    assert!(
        matches!(renamed, Err(OrgError::Unavailable(_))),
        "{renamed:?}"
    );
    assert!(matches!(
        db.store.ping().await,
        Err(StoreError::Unavailable(_))
    ));

    proxy.restore();
    // Broken pooled connections are replaced without any intervention.
    orgman_testkit::eventually(
        "the pool recovered after the database came back",
        Duration::from_secs(5),
        || async { db.store.ping().await.is_ok() },
    )
    .await;
    let stored = db.store.organization(org.id()).await.unwrap().unwrap();
    assert_eq!(
        stored.name().as_str(),
        "Test org",
        "the failed rename left nothing"
    );
    db.service
        .rename(
            &db.admin,
            org.id(),
            OrgName::parse("After outage").unwrap(),
            None,
        )
        .await
        .unwrap();
}
