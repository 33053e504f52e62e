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

/// A pool manager opening connections with `settings` (TLS included).
///
/// # Errors
/// A message naming the TLS file that cannot be read or used.
pub(crate) fn manager(
    settings: &crate::PgSettings,
    recycling: diesel_async::pooled_connection::RecyclingMethod<AsyncPgConnection>,
) -> Result<Manager, String> {
    let url = settings.url().to_owned();
    let connector = crate::tls::Connector::new(settings.tls())?;
    let mut config = diesel_async::pooled_connection::ManagerConfig::default();
    config.recycling_method = recycling;
    config.custom_setup = Box::new(move |_| {
        let url = url.clone();
        let connector = connector.clone();
        Box::pin(async move { connector.connect(&url).await })
    });
    Ok(Manager::new_with_config(settings.url(), config))
}
