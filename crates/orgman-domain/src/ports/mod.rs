//! Ports: the traits the domain needs from the outside world. Adapters
//! (PostgreSQL, Redis, SpiceDB, Keycloak, ...) implement them; the domain and
//! its use cases only ever see these traits.
//!
//! Every trait is dyn-compatible (async methods through `async_trait`), so a
//! composition root holds adapters as `Arc<dyn Port>`.

mod authz;
mod cache;
mod cipher;
mod directory;
mod identity;
mod keys;
mod outbox;
mod people;
mod queue;
mod roles;
mod store;
mod system;
mod webhooks;

pub use authz::{Authorizer, Freshness, RoleAuthorizer, SyncGuard};
pub(crate) use cache::cached_role;
pub use cache::{CacheKey, Lease, Lookup, MembershipCache, NoCache};
pub use cipher::SecretCipher;
pub use directory::{DirectoryAccountQueue, DirectoryQueries, DirectoryWrites};
pub use identity::{
    BrokerOrganizations, IdentityProvider, IssuerDiscovery, IssuerProbe, LoginBroker,
    MetadataProblem, SamlMetadataReader,
};
pub use keys::{ApiKeyQueries, ApiKeyWrites};
pub use outbox::{
    AuthorizerState, Backlog, CommitSignal, DeliveryError, EventSink, NoSignal, Outbox,
    OutboxClaim, OutboxSink, PendingEvent,
};
pub use people::{AccountChecks, AccountRecord, PersonWrites, Pseudonymised, Pseudonyms};
pub use queue::{MirrorMark, MirrorQueue, QueuedOrganization};
pub use roles::{RoleQueries, RoleWrites};
pub use store::{
    AuditFilter, AuditTrail, DomainQueries, DomainWrites, Erased, InvitationQueries,
    InvitationWrites, MembershipQueries, MembershipWrites, OrganizationRepository,
    OrganizationWrites, SsoConfigRepository, TxtResolver, UnitOfWork, UserRepository,
};
pub use system::{Clock, IdGenerator, SecretTokens, SystemClock, UuidV7Generator};
pub use webhooks::{
    DeliveryOutcome, DueDelivery, DueEndpoint, EventEncoder, NewDelivery, Retry, Subscriber,
    UrlRefused, WebhookQueries, WebhookQueue, WebhookRequest, WebhookTransport, WebhookWrites,
};
