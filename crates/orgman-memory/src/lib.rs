//! In-memory implementations of every port of `orgman-domain`.
//!
//! They keep the ports' contracts (units of work that commit atomically or
//! not at all, conflicts on duplicate slugs and memberships, idempotent user
//! provisioning), so the domain's tests and teams embedding the domain can
//! run the real use cases without any infrastructure. They are not meant for
//! production: nothing is persisted, and [`FakeCipher`] does not encrypt.
//!
//! ```
//! use orgman_domain::{Actor, OrgName, Slug, UserId};
//! use orgman_memory::{InMemory, block_on};
//!
//! let memory = InMemory::new();
//! let admin = Actor::platform_admin(UserId::from_uuid(memory.ids.next()));
//! memory.store.add_user(admin.user_id(), "admin");
//! let service = memory.service();
//! let org = block_on(service.create(
//!     &admin,
//!     OrgName::parse("Acme").unwrap(),
//!     Slug::parse("acme").unwrap(),
//! ))
//! .unwrap();
//! assert_eq!(org.slug().as_str(), "acme");
//! assert_eq!(memory.store.committed_events().len(), 2); // created + owner added
//! //! ```

mod cache;
mod cipher;
mod executor;
mod identity;
mod outbox;
mod outbox_state;
mod queue;
mod store;
mod system;

use std::sync::Arc;

use orgman_domain::ports::RoleAuthorizer;
use orgman_domain::{OrganizationService, ServicePorts, ServiceSettings};

pub use cache::MemoryCache;
pub use cipher::FakeCipher;
pub use executor::block_on;
pub use identity::{
    MemoryBrokerOrganizations, MemoryIdentityProvider, MemoryLoginBroker, MemorySamlMetadata,
};
pub use outbox::RecordingSink;
pub use store::MemoryStore;
pub use system::{ManualClock, MemoryTxt, PredictableTokens, RecordingWebhooks, SequentialIds};

/// Every in-memory port, wired together.
#[derive(Debug, Clone)]
pub struct InMemory {
    /// Storage for organizations, memberships, users and the outbox.
    pub store: Arc<MemoryStore>,
    /// The cache.
    pub cache: Arc<MemoryCache>,
    /// A clock that only moves when told to.
    pub clock: Arc<ManualClock>,
    /// Predictable ids.
    pub ids: Arc<SequentialIds>,
}

impl InMemory {
    /// Fresh, empty ports; the clock starts at 2026-01-01T00:00Z.
    pub fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            cache: Arc::new(MemoryCache::new()),
            clock: Arc::new(ManualClock::default()),
            ids: Arc::new(SequentialIds::default()),
        }
    }

    /// The ports for an [`OrganizationService`], with the domain's
    /// [`RoleAuthorizer`].
    pub fn ports(&self) -> ServicePorts {
        ServicePorts {
            organizations: self.store.clone(),
            members: self.store.clone(),
            authorizer: Arc::new(RoleAuthorizer::new(self.store.clone(), self.cache.clone())),
            cache: self.cache.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            commit_signal: Arc::new(orgman_domain::ports::NoSignal),
        }
    }

    /// A service with default settings over these ports.
    pub fn service(&self) -> OrganizationService {
        OrganizationService::new(self.ports(), ServiceSettings::default())
    }
}

impl Default for InMemory {
    fn default() -> Self {
        Self::new()
    }
}
