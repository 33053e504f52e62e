//! Raw statements prepared once per connection.
//!
//! diesel never caches a `sql_query` as a prepared statement (its text
//! could hold values), so PostgreSQL parses, analyses and plans it at every
//! call: for the outbox's append, a statement of four parts run by every
//! write, that was a fifth of PostgreSQL's CPU under a steady write load.
//! [`Prepared`] marks a raw statement whose text is one of a fixed few
//! (values only ever bound, never formatted in); diesel's statement cache
//! then keeps it per connection, keyed by its text.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// A raw statement whose SQL text never carries a value: cached by diesel
/// as a prepared statement, one per connection and text.
#[derive(Debug, Clone)]
pub(crate) struct Prepared<Q>(pub(crate) Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}
