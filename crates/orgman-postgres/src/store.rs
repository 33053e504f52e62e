//! [`PgStore`]: the storage ports over a connection pool.

use async_trait::async_trait;
use deadpool::Runtime;
use diesel::prelude::*;
use diesel_async::pooled_connection::RecyclingMethod;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager};
use orgman_domain::ports::{MembershipQueries, OrganizationRepository, UnitOfWork, UserRepository};
use orgman_domain::{
    Access, MemberCursor, MemberEntry, MemberGrants, MemberQuery, Membership, OrgRole, OrgStatus,
    Organization, OrganizationId, Page, PageRequest, PermissionName, PermissionSet, SearchPrefix,
    StoreError, User, UserId, UserProfile,
};

use crate::connection::{Connection, Tm};
use crate::error::{from_diesel, from_pool};
use crate::rows::{MemberRow, OrganizationRow, UserRow};
use crate::schema::{organization_members, organizations, users};
use crate::settings::PgSettings;
use crate::unit_of_work::{OutboxWrites, PgUnitOfWork};

/// Storage in PostgreSQL. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
    /// The hot point reads, pipelined on shared connections; `None` sends
    /// them through the pool.
    pub(crate) shared: Option<std::sync::Arc<crate::shared::SharedReads>>,
    /// Which sinks events are written pending for.
    pub(crate) writes: OutboxWrites,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("size", &status.size)
            .field("available", &status.available)
            .finish()
    }
}

/// Pool figures for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStatus {
    /// Largest number of connections.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections not in use.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl PgStore {
    /// A store over a new pool. Connections are opened lazily, so this
    /// succeeds while the database is down; calls then report
    /// [`StoreError::Unavailable`] until it is back.
    ///
    /// # Errors
    /// [`StoreError::Other`] when the pool cannot be built, or a TLS file
    /// the settings name cannot be read or used.
    pub fn connect(settings: &PgSettings) -> Result<Self, StoreError> {
        // Fast recycling: a pooled connection is checked for a broken
        // transaction and a closed socket (the connection task ends when
        // PostgreSQL goes away), not with a test query, which would cost
        // every request a second round trip.
        // A TLS file that cannot be read stops the start here, not at the
        // first connection. One connector serves the pool and the shared
        // connections.
        let connector = crate::tls::Connector::new(settings.tls())
            .map_err(|e| StoreError::Other(format!("database TLS settings: {e}")))?;
        let manager =
            crate::connection::manager(settings, connector.clone(), RecyclingMethod::Fast);
        let pool = Pool::builder(manager)
            .max_size(settings.max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(settings.timeout))
            .recycle_timeout(Some(settings.timeout))
            .build()
            .map_err(|e| StoreError::Other(format!("cannot build the connection pool: {e}")))?;
        let shared = if settings.shared_connections == 0 {
            None
        } else {
            Some(std::sync::Arc::new(crate::shared::SharedReads::new(
                settings.url().to_owned(),
                connector,
                settings.shared_connections,
                settings.timeout,
            )))
        };
        Ok(Self {
            pool,
            shared,
            writes: OutboxWrites::default(),
        })
    }

    /// For installations where nothing consumes the authorizer sink (the
    /// domain's own `RoleAuthorizer` decides): events are written already
    /// settled for it, so the outbox keeps no index entries waiting for a
    /// sync that never comes. Switching to an external authorizer later
    /// starts from a reconciliation (`spicedb reconcile`), not from the
    /// outbox.
    #[must_use]
    pub fn without_authorizer_sink(mut self) -> Self {
        self.writes.authorizer_settled = true;
        self
    }

    /// Events of these types are written pending for the login-broker sink
    /// (the domain's `ProviderSync::EVENT_TYPES`); without this call every
    /// event is written settled for it, as no broker sync runs.
    #[must_use]
    pub fn with_login_broker_sink(mut self, event_types: &[&str]) -> Self {
        self.writes.login_broker_types = event_types.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    /// Events of these types are written pending for the
    /// organization-mirror sink (the domain's
    /// `OrganizationMirror::EVENT_TYPES`); without this call every event is
    /// written settled for it.
    #[must_use]
    pub fn with_organization_mirror_sink(mut self, event_types: &[&str]) -> Self {
        self.writes.mirror_types = event_types.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    /// Events of these types (the domain's
    /// `OrganizationMirror::MEMBER_EVENT_TYPES`) are written settled for
    /// the organization-mirror sink when their organization has no SSO
    /// configuration (`MemberMirroring::Linked`: its members are not at
    /// the broker, so the mirror has nothing to do). An organization's SSO
    /// configuration is written under its row's lock, which membership
    /// changes share, so no change slips between the check and the first
    /// configuration's copy of the members.
    #[must_use]
    pub fn with_linked_member_mirroring(mut self, member_types: &[&str]) -> Self {
        self.writes.linked_member_types = member_types.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    /// Current pool figures.
    pub fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            idle: status.available,
            waiting: status.waiting,
        }
    }

    /// Checks that the database answers (for health checks).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    /// [`OrganizationRepository::organization_with_role`]'s statement on a
    /// pooled connection (without shared connections).
    async fn organization_with_role_pooled(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<(OrganizationRow, Option<String>, Option<Vec<String>>)>, StoreError> {
        let mut conn = self.connection().await?;
        let found: Option<(OrganizationRow, Option<String>)> = organizations::table
            .left_join(
                organization_members::table.on(organization_members::org_id
                    .eq(organizations::id)
                    .and(organization_members::user_id.eq(user.as_uuid()))),
            )
            .filter(organizations::id.eq(organization.as_uuid()))
            .select((
                OrganizationRow::as_select(),
                organization_members::role.nullable(),
            ))
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        let Some((row, role)) = found else {
            return Ok(None);
        };
        let granted = match role {
            Some(_) => granted_pooled(&mut conn, organization, user).await?,
            None => None,
        };
        Ok(Some((row, role, granted)))
    }

    /// A member's stored role and what their custom roles grant, by name
    /// (`None` when they grant nothing): one statement on the shared
    /// connections, two through the pool.
    async fn stored_role_of(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<(String, Option<Vec<String>>)>, StoreError> {
        if let Some(shared) = &self.shared {
            return shared.role_of(organization.as_uuid(), user.as_uuid()).await;
        }
        let mut conn = self.connection().await?;
        let role: Option<String> = organization_members::table
            .find((organization.as_uuid(), user.as_uuid()))
            .select(organization_members::role)
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        match role {
            Some(role) => Ok(Some((
                role,
                granted_pooled(&mut conn, organization, user).await?,
            ))),
            None => Ok(None),
        }
    }

    pub(crate) async fn connection(&self) -> Result<Connection, StoreError> {
        self.pool.get().await.map_err(from_pool)
    }

    /// A pooled connection with a transaction begun on it.
    pub(crate) async fn transaction(&self) -> Result<Connection, StoreError> {
        let mut conn = self.connection().await?;
        Tm::begin_transaction(&mut *conn)
            .await
            .map_err(from_diesel)?;
        Ok(conn)
    }
}

/// What a member's custom roles grant, by name (`None` for nothing): the
/// pooled path's second statement, for members only (the shared
/// connections answer it in the same statement as the role).
async fn granted_pooled(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    user: UserId,
) -> Result<Option<Vec<String>>, StoreError> {
    let held = crate::member_roles::roles_held(conn, organization, user).await?;
    let granted: Vec<Vec<String>> = held
        .into_iter()
        .map(|role| role.permissions.iter().map(ToString::to_string).collect())
        .collect();
    Ok((!granted.is_empty()).then(|| granted.into_iter().flatten().collect()))
}

/// A member's access from their stored role and what their custom roles
/// grant (names that are not orgman's own permissions are left out).
fn stored_access(role: &str, granted: Option<&[String]>) -> Result<Access, StoreError> {
    let names: Vec<PermissionName> = granted
        .unwrap_or_default()
        .iter()
        .filter_map(|name| PermissionName::parse(name).ok())
        .collect();
    Ok(Access {
        role: stored_role(role)?,
        granted: PermissionSet::from_names(&names),
    })
}

/// A role as stored.
fn stored_role(text: &str) -> Result<OrgRole, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Other(format!("stored role: {e}")))
}

/// Fetches `limit + 1` rows after the cursor and builds a page.
fn page<T, K: Copy>(rows: Vec<T>, request: &PageRequest<K>, key: impl Fn(&T) -> K) -> Page<T, K> {
    Page::from_overfetch(rows, request.limit(), key)
}

fn overfetch(request: &PageRequest<impl Copy>) -> i64 {
    i64::from(request.limit()) + 1
}

#[async_trait]
impl OrganizationRepository for PgStore {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError> {
        let mut conn = self.connection().await?;
        <AsyncPgConnection as AsyncConnection>::TransactionManager::begin_transaction(&mut *conn)
            .await
            .map_err(from_diesel)?;
        Ok(Box::new(PgUnitOfWork::new(conn, self.writes.clone())))
    }

    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>, StoreError> {
        let mut conn = self.connection().await?;
        organizations::table
            .find(id.as_uuid())
            .select(OrganizationRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(OrganizationRow::into_domain)
            .transpose()
    }

    async fn due_for_purge(
        &self,
        now: time::OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OrganizationId>, StoreError> {
        let mut conn = self.connection().await?;
        let ids: Vec<uuid::Uuid> = organizations::table
            .filter(organizations::status.eq(OrgStatus::PendingDeletion.as_str()))
            .filter(organizations::purge_after.le(now))
            .order(organizations::purge_after.asc())
            .limit(i64::from(limit))
            .select(organizations::id)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(ids.into_iter().map(OrganizationId::from_uuid).collect())
    }

    async fn organizations(
        &self,
        request: PageRequest<OrganizationId>,
    ) -> Result<Page<Organization, OrganizationId>, StoreError> {
        let mut conn = self.connection().await?;
        let mut query = organizations::table
            .select(OrganizationRow::as_select())
            .order(organizations::id.asc())
            .limit(overfetch(&request))
            .into_boxed();
        if let Some(after) = request.after {
            query = query.filter(organizations::id.gt(after.as_uuid()));
        }
        let rows = query.load(&mut conn).await.map_err(from_diesel)?;
        let items = rows
            .into_iter()
            .map(OrganizationRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, &request, Organization::id))
    }
}

#[async_trait]
impl MembershipQueries for PgStore {
    async fn role_of(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Access>, StoreError> {
        self.stored_role_of(organization, user)
            .await?
            .map(|(role, granted)| stored_access(&role, granted.as_deref()))
            .transpose()
    }

    async fn grants_of(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<MemberGrants>, StoreError> {
        let Some((role, granted)) = self.stored_role_of(organization, user).await? else {
            return Ok(None);
        };
        Ok(Some(MemberGrants {
            role: stored_role(&role)?,
            granted: granted
                .unwrap_or_default()
                .iter()
                .filter_map(|name| PermissionName::parse(name).ok())
                .collect(),
        }))
    }

    async fn organization_with_role(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<(Organization, Option<Access>)>, StoreError> {
        // One statement: the organization by primary key, left-joined to
        // the user's membership row (also a primary-key lookup).
        let found = match &self.shared {
            Some(shared) => {
                shared
                    .organization_with_role(organization.as_uuid(), user.as_uuid())
                    .await?
            }
            None => {
                self.organization_with_role_pooled(organization, user)
                    .await?
            }
        };
        let Some((row, role, granted)) = found else {
            return Ok(None);
        };
        let role = role
            .as_deref()
            .map(|role| stored_access(role, granted.as_deref()))
            .transpose()?;
        Ok(Some((row.into_domain()?, role)))
    }

    async fn members(
        &self,
        organization: OrganizationId,
        request: PageRequest<UserId>,
    ) -> Result<Page<Membership, UserId>, StoreError> {
        let mut conn = self.connection().await?;
        let mut query = organization_members::table
            .filter(organization_members::org_id.eq(organization.as_uuid()))
            .select(MemberRow::as_select())
            .order(organization_members::user_id.asc())
            .limit(overfetch(&request))
            .into_boxed();
        if let Some(after) = request.after {
            query = query.filter(organization_members::user_id.gt(after.as_uuid()));
        }
        let rows = query.load(&mut conn).await.map_err(from_diesel)?;
        let mut items = rows
            .into_iter()
            .map(MemberRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        crate::member_roles::fill_custom_roles(&mut conn, &mut items).await?;
        Ok(page(items, &request, |m| m.user_id))
    }

    async fn directory(
        &self,
        organization: OrganizationId,
        query: &MemberQuery,
    ) -> Result<Page<MemberEntry, MemberCursor>, StoreError> {
        let mut conn = self.connection().await?;
        crate::member_directory::directory(&mut conn, organization, query).await
    }

    async fn organizations_of_matching(
        &self,
        user: UserId,
        search: &SearchPrefix,
        request: PageRequest<OrganizationId>,
    ) -> Result<Page<(Organization, OrgRole), OrganizationId>, StoreError> {
        let mut conn = self.connection().await?;
        let rows = crate::member_directory::organizations_matching(
            &mut conn,
            user,
            search,
            request.after,
            overfetch(&request),
        )
        .await?;
        let items = rows
            .into_iter()
            .map(|(org, role)| Ok((org.into_domain()?, stored_role(&role)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(page(items, &request, |(org, _)| org.id()))
    }

    async fn organizations_of(
        &self,
        user: UserId,
        request: PageRequest<OrganizationId>,
    ) -> Result<Page<(Organization, OrgRole), OrganizationId>, StoreError> {
        let rows = match &self.shared {
            Some(shared) => {
                shared
                    .organizations_of(
                        user.as_uuid(),
                        overfetch(&request),
                        request.after.map(|a| a.as_uuid()),
                    )
                    .await?
            }
            None => self.organizations_of_pooled(user, &request).await?,
        };
        let items = rows
            .into_iter()
            .map(|(org, role)| Ok((org.into_domain()?, stored_role(&role)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(page(items, &request, |(org, _)| org.id()))
    }
}

impl PgStore {
    /// [`MembershipQueries::organizations_of`]' statements on a pooled
    /// connection (without shared connections).
    async fn organizations_of_pooled(
        &self,
        user: UserId,
        request: &PageRequest<OrganizationId>,
    ) -> Result<Vec<(OrganizationRow, String)>, StoreError> {
        let mut conn = self.connection().await?;
        // Two fixed statements rather than one boxed query: diesel prepares
        // and caches only queries whose shape is known at compile time, and
        // planning this join each time cost PostgreSQL more than running it.
        let mine = organization_members::table
            .inner_join(organizations::table)
            .filter(organization_members::user_id.eq(user.as_uuid()))
            .filter(organizations::status.ne(OrgStatus::Deleted.as_str()))
            .select((OrganizationRow::as_select(), organization_members::role));
        let rows: Vec<(OrganizationRow, String)> = match request.after {
            None => {
                mine.order(organization_members::org_id.asc())
                    .limit(overfetch(request))
                    .load(&mut conn)
                    .await
            }
            Some(after) => {
                mine.filter(organization_members::org_id.gt(after.as_uuid()))
                    .order(organization_members::org_id.asc())
                    .limit(overfetch(request))
                    .load(&mut conn)
                    .await
            }
        }
        .map_err(from_diesel)?;
        Ok(rows)
    }
}

#[async_trait]
impl UserRepository for PgStore {
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        if let Some(shared) = &self.shared {
            return shared
                .user(id.as_uuid())
                .await?
                .map(UserRow::into_domain)
                .transpose();
        }
        let mut conn = self.connection().await?;
        users::table
            .find(id.as_uuid())
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(UserRow::into_domain)
            .transpose()
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<User>, StoreError> {
        let mut conn = self.connection().await?;
        users::table
            .filter(users::subject.eq(subject))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(UserRow::into_domain)
            .transpose()
    }

    async fn provision(&self, profile: &UserProfile) -> Result<User, StoreError> {
        let mut conn = self.connection().await?;
        let row = UserRow::new(profile, time::OffsetDateTime::now_utc());
        // Concurrent first requests of one subject: one insert wins, the
        // others insert nothing and read the winner's row.
        let inserted = diesel::insert_into(users::table)
            .values((&row, users::search_words.eq(profile.search_words())))
            .on_conflict(users::subject)
            .do_nothing()
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        match inserted {
            Some(row) => row.into_domain(),
            None => users::table
                .filter(users::subject.eq(&profile.subject))
                .select(UserRow::as_select())
                .first(&mut conn)
                .await
                .map_err(from_diesel)?
                .into_domain(),
        }
    }

    async fn update_profile(
        &self,
        id: UserId,
        profile: &UserProfile,
    ) -> Result<Option<User>, StoreError> {
        let mut conn = self.connection().await?;
        crate::member_directory::update_profile(&mut conn, id, profile).await
    }
}
