//! SpiceDB adapter for orgman, over the authzed v1 gRPC API
//! (`spicedb-grpc-tonic`).
//!
//! - [`SpiceDbAuthorizer`] implements the domain's
//!   [`Authorizer`](orgman_domain::ports::Authorizer): checks ask SpiceDB
//!   and fail closed (an error, never "allowed") when it cannot answer;
//!   `apply` writes the relationships an event implies.
//! - It is also an [`EventSink`](orgman_domain::ports::EventSink), so the
//!   outbox relay replays every committed event into SpiceDB: PostgreSQL and
//!   SpiceDB cannot drift apart for good, even after a crash or an outage.
//! - Checks are fully consistent, so a change written through any replica
//!   is seen at once; the domain caches decisions (see
//!   `MembershipCache::decision`) so that this cost falls on misses only.
//! - [`reconcile`] recomputes the relationships from the memberships and
//!   repairs differences ([`reconcile_from`] reads them from storage).
//! - A SpiceDB that comes back without orgman's schema (a new cluster, a
//!   reset datastore) is noticed on the first check or write; checks then
//!   fail closed until [`SpiceDbAuthorizer::restore`] has written the schema
//!   and every relationship again.
//! - The schema (`deploy/spicedb/schema.zed`, embedded as [`SCHEMA`]) is
//!   written at start-up when it differs, merged into what SpiceDB holds: a
//!   SpiceDB shared with the platform's other services keeps their
//!   definitions and caveats, and a definition both declare (`user`) keeps
//!   their relations and permissions beside orgman's (orgman's win when both
//!   name the same one).

mod authorizer;
mod custom_roles;
mod reconcile;
mod schema;
mod settings;

pub use authorizer::{SpiceDbAuthorizer, SpiceDbError};
pub use reconcile::{
    DesiredMembership, MembershipSource, ReconcileReport, reconcile, reconcile_from,
};
pub use settings::SpiceDbSettings;

/// The authorization schema.
pub const SCHEMA: &str = include_str!("../../../deploy/spicedb/schema.zed");
