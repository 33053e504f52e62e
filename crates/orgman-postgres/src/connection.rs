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

/// A pool manager opening connections to `settings`' URL with
/// `connector` (its TLS configuration built once, by the caller).
pub(crate) fn manager(
    settings: &crate::PgSettings,
    connector: crate::tls::Connector,
    recycling: diesel_async::pooled_connection::RecyclingMethod<AsyncPgConnection>,
) -> Manager {
    let url = settings.url().to_owned();
    let mut config = diesel_async::pooled_connection::ManagerConfig::default();
    config.recycling_method = recycling;
    config.custom_setup = Box::new(move |_| {
        let url = url.clone();
        let connector = connector.clone();
        Box::pin(async move { connector.connect(&url).await })
    });
    Manager::new_with_config(settings.url(), config)
}
