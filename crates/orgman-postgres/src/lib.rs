//! PostgreSQL adapter for orgman: implements the domain's storage ports
//! ([`OrganizationRepository`](orgman_domain::ports::OrganizationRepository),
//! [`MembershipQueries`](orgman_domain::ports::MembershipQueries),
//! [`UserRepository`](orgman_domain::ports::UserRepository)) with diesel and
//! diesel-async over a deadpool connection pool, without libpq.
//!
//! - A unit of work is one database transaction on one pooled connection.
//!   Domain events go to the `outbox` and `audit_events` tables in that same
//!   transaction. A unit of work dropped uncommitted closes its connection,
//!   so PostgreSQL rolls back at once and releases its locks.
//! - Changes to an organization or its members lock the organization's row
//!   (`SELECT ... FOR UPDATE`), so concurrent changes of one organization run
//!   one after the other and the last-owner rule cannot be raced.
//! - An unreachable or restarting database gives
//!   [`StoreError::Unavailable`](orgman_domain::StoreError::Unavailable);
//!   the pool replaces broken connections by itself once it is back.
//! - The [`Outbox`](orgman_domain::ports::Outbox) port reads committed
//!   events back per sink, one claimer per sink across replicas.
//! - [`migrate`] applies the embedded migrations of `migrations/`.

mod connection;
mod directory;
mod error;
mod keys;
mod member_directory;
mod member_roles;
pub mod migrate;
mod outbox;
mod people;
mod prepared;
mod queue;
mod reads;
mod roles;
mod rows;
mod schema;
mod settings;
mod shared;
mod sso;
mod store;
mod tls;
mod unit_of_work;
mod webhooks;

pub use settings::{PgSettings, SettingsError};
pub use store::{PgStore, PoolStatus};
pub use tls::{PgTls, SslMode};
