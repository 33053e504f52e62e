//! [`SharedReads`]: the hot point reads on a few connections that every
//! caller shares.
//!
//! A pooled connection serves one caller at a time, so under load each
//! read is its own round trip: one write, one wake-up of a PostgreSQL
//! backend, one answer. A tokio-postgres client takes concurrent queries
//! and pipelines them: the queries of callers that arrive together leave
//! in one write, and the backend reads them in one go, several times as
//! many per second as one query per round trip (figures in
//! `docs/performance.md`).
//!
//! Only single-statement reads outside a transaction go here (an
//! organization with a user's role or with an API key, a role, a user by
//! id, a page of a user's organizations); everything
//! else stays on the pool. A connection that died is replaced by the next
//! caller; until then callers get [`StoreError::Unavailable`], as from the
//! pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use orgman_domain::StoreError;
use tokio_postgres::{Client, Row, Statement};

use crate::error::{from_pool, from_query, no_answer, not_connected, unreadable_column};
use crate::rows::{OrganizationRow, UserRow};
use crate::tls::Connector;

/// Every permission a membership's custom and platform roles grant (`NULL`
/// for none): one probe of each holding table's primary key. Read only for
/// a membership whose `holds_roles` is set (migration 000025): a statement
/// with these subqueries costs PostgreSQL about half as much again to
/// start as the plain lookup, whether they find anything or not.
const GRANTED: &str = "\
    SELECT array_agg(DISTINCT p) FROM ( \
       SELECT r.permissions FROM member_custom_roles mr \
       JOIN custom_roles r ON r.org_id = mr.org_id AND r.role_key = mr.role_key \
       WHERE mr.org_id = $1 AND mr.user_id = $2 \
       UNION ALL \
       SELECT r.permissions FROM member_platform_roles mr \
       JOIN platform_roles r ON r.role_key = mr.role_key \
       WHERE mr.org_id = $1 AND mr.user_id = $2) held \
    CROSS JOIN LATERAL unnest(held.permissions) p";

/// The organization by id, left-joined to one user's membership.
const ORGANIZATION_WITH_ROLE: &str = "\
    SELECT o.id, o.name, o.slug, o.status, o.purge_after, o.version, o.created_at, \
           o.updated_at, o.max_members, o.metadata, o.private_metadata, m.role, \
           o.sso_required_domains, o.sso_login_configs, m.holds_roles \
    FROM organizations o \
    LEFT JOIN organization_members m ON m.org_id = o.id AND m.user_id = $2 \
    WHERE o.id = $1";

/// The organization by id, left-joined to one of its API keys. The role
/// column is empty, so that the organization's columns read as in the
/// statement above.
const ORGANIZATION_WITH_KEY: &str = "\
    SELECT o.id, o.name, o.slug, o.status, o.purge_after, o.version, o.created_at, \
           o.updated_at, o.max_members, o.metadata, o.private_metadata, NULL::varchar, \
           o.sso_required_domains, o.sso_login_configs, \
           k.digest, k.permissions, k.expires_at, k.revoked_at IS NOT NULL \
    FROM organizations o \
    LEFT JOIN api_keys k ON k.org_id = o.id AND k.id = $2 \
    WHERE o.id = $1";

/// What authenticating an API key reads of it.
pub(crate) struct StoredCredential {
    pub(crate) digest: String,
    pub(crate) permissions: Vec<String>,
    pub(crate) expires_at: Option<time::OffsetDateTime>,
    pub(crate) revoked: bool,
}

/// One user's role in one organization, and whether they hold other roles.
const ROLE_OF: &str = "\
    SELECT m.role, m.holds_roles FROM organization_members m \
    WHERE m.org_id = $1 AND m.user_id = $2";

/// The first page of a user's organizations (not deleted), with roles.
const ORGANIZATIONS_OF: &str = "\
    SELECT o.id, o.name, o.slug, o.status, o.purge_after, o.version, o.created_at, \
           o.updated_at, o.max_members, o.metadata, o.private_metadata, m.role, \
           o.sso_required_domains, o.sso_login_configs \
    FROM organization_members m JOIN organizations o ON o.id = m.org_id \
    WHERE m.user_id = $1 AND o.status <> 'DELETED' \
    ORDER BY m.org_id LIMIT $2";

/// A later page: the same after an organization id.
const ORGANIZATIONS_OF_AFTER: &str = "\
    SELECT o.id, o.name, o.slug, o.status, o.purge_after, o.version, o.created_at, \
           o.updated_at, o.max_members, o.metadata, o.private_metadata, m.role, \
           o.sso_required_domains, o.sso_login_configs \
    FROM organization_members m JOIN organizations o ON o.id = m.org_id \
    WHERE m.user_id = $1 AND o.status <> 'DELETED' AND m.org_id > $3 \
    ORDER BY m.org_id LIMIT $2";

/// A user by id.
const USER: &str = "SELECT id, subject, email, display_name, created_at, updated_at, \
     given_name, family_name, erased_at FROM users WHERE id = $1";

/// A few shared connections, taken in turn.
pub(crate) struct SharedReads {
    url: String,
    connector: Connector,
    timeout: Duration,
    slots: Box<[Slot]>,
    next: AtomicUsize,
}

/// One shared connection, replaced when it dies.
#[derive(Default)]
struct Slot {
    current: RwLock<Option<Arc<Prepared>>>,
    /// Held while (re)connecting, so that one caller connects and the
    /// others wait for its connection.
    connecting: tokio::sync::Mutex<()>,
}

/// A client with its prepared statements.
struct Prepared {
    client: Client,
    organization_with_role: Statement,
    organization_with_key: Statement,
    role_of: Statement,
    granted: Statement,
    user: Statement,
    organizations_of: Statement,
    organizations_of_after: Statement,
}

impl SharedReads {
    /// `connections` shared connections (at least one), opened at first
    /// use.
    pub(crate) fn new(
        url: String,
        connector: Connector,
        connections: usize,
        timeout: Duration,
    ) -> Self {
        Self {
            url,
            connector,
            timeout,
            slots: (0..connections.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The organization, `user`'s role in it and what their custom roles
    /// grant, in one statement.
    pub(crate) async fn organization_with_role(
        &self,
        organization: uuid::Uuid,
        user: uuid::Uuid,
    ) -> Result<Option<(OrganizationRow, Option<String>, Option<Vec<String>>)>, StoreError> {
        let prepared = self.prepared().await?;
        let row = self
            .run(
                prepared
                    .client
                    .query_opt(&prepared.organization_with_role, &[&organization, &user]),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let granted = if get::<Option<bool>>(&row, 14)? == Some(true) {
            self.granted(&prepared, organization, user).await?
        } else {
            None
        };
        Ok(Some((organization_row(&row)?, get(&row, 11)?, granted)))
    }

    /// What the custom and platform roles of a membership that holds some
    /// grant: a second statement, on the same connection. It may see a
    /// change that committed after the first: for that moment, a reader
    /// then holds nothing that the member did not hold either just before
    /// or just after the change.
    async fn granted(
        &self,
        prepared: &Prepared,
        organization: uuid::Uuid,
        user: uuid::Uuid,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let row = self
            .run(
                prepared
                    .client
                    .query_one(&prepared.granted, &[&organization, &user]),
            )
            .await?;
        get(&row, 0)
    }

    /// The organization and, when it has the key, what authenticating the
    /// key needs, in one statement.
    pub(crate) async fn organization_with_key(
        &self,
        organization: uuid::Uuid,
        key: uuid::Uuid,
    ) -> Result<Option<(OrganizationRow, Option<StoredCredential>)>, StoreError> {
        let prepared = self.prepared().await?;
        let row = self
            .run(
                prepared
                    .client
                    .query_opt(&prepared.organization_with_key, &[&organization, &key]),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let credential = match get::<Option<String>>(&row, 14)? {
            Some(digest) => Some(StoredCredential {
                digest,
                permissions: get(&row, 15)?,
                expires_at: get(&row, 16)?,
                revoked: get(&row, 17)?,
            }),
            None => None,
        };
        Ok(Some((organization_row(&row)?, credential)))
    }

    /// Up to `limit` of `user`'s organizations (not deleted) with the
    /// stored role, by organization id, after `after` if given.
    pub(crate) async fn organizations_of(
        &self,
        user: uuid::Uuid,
        limit: i64,
        after: Option<uuid::Uuid>,
    ) -> Result<Vec<(OrganizationRow, String)>, StoreError> {
        let prepared = self.prepared().await?;
        let rows = match after {
            None => {
                self.run(
                    prepared
                        .client
                        .query(&prepared.organizations_of, &[&user, &limit]),
                )
                .await?
            }
            Some(after) => {
                self.run(
                    prepared
                        .client
                        .query(&prepared.organizations_of_after, &[&user, &limit, &after]),
                )
                .await?
            }
        };
        rows.iter()
            .map(|row| Ok((organization_row(row)?, get(row, 11)?)))
            .collect()
    }

    /// `user`'s role in the organization, as stored, and what their custom
    /// roles grant.
    pub(crate) async fn role_of(
        &self,
        organization: uuid::Uuid,
        user: uuid::Uuid,
    ) -> Result<Option<(String, Option<Vec<String>>)>, StoreError> {
        let prepared = self.prepared().await?;
        let row = self
            .run(
                prepared
                    .client
                    .query_opt(&prepared.role_of, &[&organization, &user]),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let granted = if get::<bool>(&row, 1)? {
            self.granted(&prepared, organization, user).await?
        } else {
            None
        };
        Ok(Some((get(&row, 0)?, granted)))
    }

    /// A user by id.
    pub(crate) async fn user(&self, id: uuid::Uuid) -> Result<Option<UserRow>, StoreError> {
        let prepared = self.prepared().await?;
        let row = self
            .run(prepared.client.query_opt(&prepared.user, &[&id]))
            .await?;
        row.map(|row| {
            Ok(UserRow {
                id: get(&row, 0)?,
                subject: get(&row, 1)?,
                email: get(&row, 2)?,
                display_name: get(&row, 3)?,
                created_at: get(&row, 4)?,
                updated_at: get(&row, 5)?,
                given_name: get(&row, 6)?,
                family_name: get(&row, 7)?,
                erased_at: get(&row, 8)?,
            })
        })
        .transpose()
    }

    /// A query, bounded by the connection timeout.
    async fn run<T>(
        &self,
        query: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, query).await {
            Ok(result) => result.map_err(from_query),
            Err(_) => Err(no_answer(self.timeout)),
        }
    }

    /// The next slot's live connection, connecting it if needed. A caller
    /// waits at most the connection timeout in all, queueing behind
    /// another caller's attempt included.
    async fn prepared(&self) -> Result<Arc<Prepared>, StoreError> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(live) = slot.live() {
            return Ok(live);
        }
        let connect = async {
            let _connecting = slot.connecting.lock().await;
            // Another caller may have connected it meanwhile.
            if let Some(live) = slot.live() {
                return Ok(live);
            }
            let prepared = Arc::new(self.open().await?);
            *slot.current.write().unwrap_or_else(|e| e.into_inner()) = Some(prepared.clone());
            Ok(prepared)
        };
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(not_connected(self.timeout)),
        }
    }

    async fn open(&self) -> Result<Prepared, StoreError> {
        let client = self
            .connector
            .connect_client(&self.url)
            .await
            .map_err(from_pool)?;
        let organization_with_role = client
            .prepare(ORGANIZATION_WITH_ROLE)
            .await
            .map_err(from_query)?;
        let organization_with_key = client
            .prepare(ORGANIZATION_WITH_KEY)
            .await
            .map_err(from_query)?;
        let role_of = client.prepare(ROLE_OF).await.map_err(from_query)?;
        let granted = client.prepare(GRANTED).await.map_err(from_query)?;
        let user = client.prepare(USER).await.map_err(from_query)?;
        let organizations_of = client.prepare(ORGANIZATIONS_OF).await.map_err(from_query)?;
        let organizations_of_after = client
            .prepare(ORGANIZATIONS_OF_AFTER)
            .await
            .map_err(from_query)?;
        Ok(Prepared {
            client,
            organization_with_role,
            organization_with_key,
            role_of,
            granted,
            user,
            organizations_of,
            organizations_of_after,
        })
    }
}

impl Slot {
    fn live(&self) -> Option<Arc<Prepared>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|prepared| !prepared.client.is_closed())
            .cloned()
    }
}

/// The organization in a row's first eleven columns, and its sign-in rule
/// in the thirteenth and fourteenth (the twelfth is a role).
fn organization_row(row: &Row) -> Result<OrganizationRow, StoreError> {
    Ok(OrganizationRow {
        id: get(row, 0)?,
        name: get(row, 1)?,
        slug: get(row, 2)?,
        status: get(row, 3)?,
        purge_after: get(row, 4)?,
        version: get(row, 5)?,
        created_at: get(row, 6)?,
        updated_at: get(row, 7)?,
        max_members: get(row, 8)?,
        metadata: get(row, 9)?,
        private_metadata: get(row, 10)?,
        sso_required_domains: get(row, 12)?,
        sso_login_configs: get(row, 13)?,
    })
}

/// A column of a row, or why it cannot be read.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    index: usize,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|e| unreadable_column(index, &e))
}
