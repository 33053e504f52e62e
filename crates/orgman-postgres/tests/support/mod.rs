//! A migrated fresh database per test, and a service over it.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use orgman_domain::ports::UserRepository;
use orgman_domain::uuid::Uuid;
use orgman_domain::{
    Actor, CreationPolicy, OrgName, Organization, OrganizationService, ServicePorts,
    ServiceSettings, Slug, UserId, UserProfile,
};
use orgman_postgres::{PgSettings, PgStore, migrate};
use orgman_testkit::{Stack, unique_name};

pub struct Db {
    pub url: String,
    pub store: PgStore,
    pub service: OrganizationService,
    pub admin: Actor,
}

impl Db {
    pub async fn new() -> Db {
        let url = Stack::get().fresh_database().await;
        migrate::run_pending(&url).await.expect("migrations apply");
        Self::over(url).await
    }

    /// A store and service over an existing, migrated database URL.
    pub async fn over(url: String) -> Db {
        let store = PgStore::connect(&PgSettings::from_url(&url).unwrap()).unwrap();
        let service = service(&store);
        let admin = Actor::platform_admin(UserId::from_uuid(Uuid::now_v7()));
        let db = Db {
            url,
            store,
            service,
            admin,
        };
        db.provision(db.admin.user_id()).await;
        db
    }

    pub async fn connection(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }

    pub async fn provision(&self, id: UserId) {
        self.store
            .provision(&UserProfile {
                id,
                subject: id.to_string(),
                email: None,
                display_name: None,
                given_name: None,
                family_name: None,
            })
            .await
            .unwrap();
    }

    pub async fn user(&self) -> Actor {
        let actor = Actor::user(UserId::from_uuid(Uuid::now_v7()));
        self.provision(actor.user_id()).await;
        actor
    }

    pub async fn org(&self) -> Organization {
        self.service
            .create(
                &self.admin,
                OrgName::parse("Test org").unwrap(),
                Slug::parse(&unique_name("org")).unwrap(),
            )
            .await
            .unwrap()
    }
}

pub fn service(store: &PgStore) -> OrganizationService {
    OrganizationService::new(
        ServicePorts::over_storage(Arc::new(store.clone())),
        ServiceSettings {
            creation: CreationPolicy::PlatformAdminsOnly,
            ..ServiceSettings::default()
        },
    )
}
