//! Where PostgreSQL errors become the domain's [`StoreError`].

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use std::time::Duration;

use orgman_domain::{Conflict, StoreError};

use crate::tls::explain;

/// Maps a query error. Constraint names come from `migrations/`.
pub(crate) fn from_diesel(error: DieselError) -> StoreError {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            StoreError::Conflict(match info.constraint_name() {
                Some("organizations_slug_key") => Conflict::Slug,
                Some("organization_members_pkey") => Conflict::Membership,
                Some(name) if name.starts_with("users_") => Conflict::User,
                other => Conflict::Other(other.unwrap_or("unique constraint").to_owned()),
            })
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            StoreError::NotFound
        }
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            info,
        ) => StoreError::Unavailable(info.message().to_owned()),
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
            StoreError::Unavailable(format!("transaction conflict, retry: {}", info.message()))
        }
        DieselError::DatabaseError(_, info) if is_connection_loss(info.message()) => {
            StoreError::Unavailable(info.message().to_owned())
        }
        DieselError::NotFound => StoreError::NotFound,
        other => StoreError::Other(other.to_string()),
    }
}

/// Messages PostgreSQL and the driver use when the server goes away
/// (shutdown, restart, network loss) rather than refusing a statement.
pub(crate) fn is_connection_loss(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "terminating connection",
        "shutting down",
        "connection closed",
        "connection reset",
        "broken pipe",
        "error communicating with the server",
        "unexpected eof",
        "the database system is starting up",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// Maps a pool checkout error: the database cannot be reached (or the pool is
/// exhausted for longer than its wait timeout).
pub(crate) fn from_pool<E: std::fmt::Display>(error: E) -> StoreError {
    StoreError::Unavailable(format!("database connection: {error}"))
}

/// Maps a failed query of the shared connections (tokio-postgres): the
/// connection's loss (or no answer) is [`StoreError::Unavailable`], a
/// refusal by the database is not.
pub(crate) fn from_query(error: tokio_postgres::Error) -> StoreError {
    let message = explain(&error);
    if error.is_closed() || error.as_db_error().is_none() || is_connection_loss(&message) {
        StoreError::Unavailable(message)
    } else {
        StoreError::Other(message)
    }
}

/// A column that cannot be read as the type asked for.
pub(crate) fn unreadable_column(index: usize, error: &tokio_postgres::Error) -> StoreError {
    StoreError::Other(format!("stored column {index}: {}", explain(error)))
}

/// A query the database did not answer in time.
pub(crate) fn no_answer(timeout: Duration) -> StoreError {
    StoreError::Unavailable(format!("the database did not answer within {timeout:?}"))
}

/// A connection not established in time.
pub(crate) fn not_connected(timeout: Duration) -> StoreError {
    StoreError::Unavailable(format!(
        "database connection: not established within {timeout:?}"
    ))
}
