//! The pooled connection type every part of the adapter works with.

use deadpool::managed::Object;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection, AsyncPgConnection};

/// The pool's connection manager.
pub(crate) type Manager = AsyncDieselConnectionManager<AsyncPgConnection>;
/// A connection borrowed from the pool.
pub(crate) type Connection = Object<Manager>;
/// Explicit transactions on a pooled connection.
pub(crate) type Tm = <AsyncPgConnection as AsyncConnection>::TransactionManager;
