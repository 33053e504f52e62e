//! Organizations' directories (SCIM people and groups, and the mapping of
//! groups to roles): the writes of a unit of work, and reads. Every list
//! is an index's lookup of one organization (`directory_users_*`,
//! `directory_groups_*`).

use async_trait::async_trait;
use diesel::sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orgman_domain::ports::{DirectoryAccountQueue, DirectoryQueries, DirectoryWrites};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::{
    ActorRef, DirectoryFilter, DirectoryGroup, DirectoryGroupId, DirectoryPage, DirectoryUser,
    DirectoryUserId, Email, GroupMatch, GroupRole, OrganizationId, RoleRef, StoreError, UserId,
    Window,
};
use uuid::Uuid;

use crate::error::from_diesel;
use crate::store::PgStore;
use crate::unit_of_work::PgUnitOfWork;

const USER_COLUMNS: &str = "organization_id, id, user_id, user_name, external_id, active, \
     email, email_trusted, display_name, attributes::text AS attributes, version, created_by, \
     created_by_kind, created_at, updated_at";

const GROUP_COLUMNS: &str = "g.organization_id, g.id, g.display_name, g.external_id, \
     g.attributes::text AS attributes, g.version, g.created_at, g.updated_at";

#[derive(diesel::QueryableByName)]
struct UserRow {
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    user_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    user_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Bool)]
    active: bool,
    #[diesel(sql_type = Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = Bool)]
    email_trusted: bool,
    #[diesel(sql_type = Nullable<Text>)]
    display_name: Option<String>,
    #[diesel(sql_type = Text)]
    attributes: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = SqlUuid)]
    created_by: Uuid,
    #[diesel(sql_type = Text)]
    created_by_kind: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: OffsetDateTime,
    #[diesel(sql_type = Timestamptz)]
    updated_at: OffsetDateTime,
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored directory resource is invalid: {error}"))
}

impl UserRow {
    fn into_domain(self) -> Result<DirectoryUser, StoreError> {
        Ok(DirectoryUser {
            id: DirectoryUserId::from_uuid(self.id),
            organization_id: OrganizationId::from_uuid(self.organization_id),
            user_id: self.user_id.map(UserId::from_uuid),
            user_name: self.user_name,
            external_id: self.external_id,
            active: self.active,
            email: self
                .email
                .map(|e| Email::parse(&e))
                .transpose()
                .map_err(corrupt)?,
            email_trusted: self.email_trusted,
            display_name: self.display_name,
            attributes: serde_json::from_str(&self.attributes).map_err(corrupt)?,
            version: u64::try_from(self.version).unwrap_or(0),
            created_by: ActorRef {
                kind: self.created_by_kind.parse().map_err(corrupt)?,
                id: self.created_by,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(diesel::QueryableByName)]
struct GroupRow {
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    display_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Text)]
    attributes: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = Timestamptz)]
    created_at: OffsetDateTime,
    #[diesel(sql_type = Timestamptz)]
    updated_at: OffsetDateTime,
}

impl GroupRow {
    fn into_domain(self, members: Vec<Uuid>) -> Result<DirectoryGroup, StoreError> {
        Ok(DirectoryGroup {
            id: DirectoryGroupId::from_uuid(self.id),
            organization_id: OrganizationId::from_uuid(self.organization_id),
            display_name: self.display_name,
            external_id: self.external_id,
            members: members
                .into_iter()
                .map(DirectoryUserId::from_uuid)
                .collect(),
            attributes: serde_json::from_str(&self.attributes).map_err(corrupt)?,
            version: u64::try_from(self.version).unwrap_or(0),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(diesel::QueryableByName)]
struct Membership {
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
}

#[derive(diesel::QueryableByName)]
struct MappingRow {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    group_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    group_name: Option<String>,
    #[diesel(sql_type = Text)]
    role: String,
}

/// The condition a filter puts on a table's rows, its value `$2`.
fn condition(filter: &DirectoryFilter) -> (&'static str, &str) {
    match filter {
        DirectoryFilter::All => ("$2 = ''", ""),
        DirectoryFilter::UserName(v) => ("lower(user_name) = lower($2)", v),
        DirectoryFilter::ExternalId(v) => ("external_id = $2", v),
        DirectoryFilter::Email(v) => ("lower(email) = lower($2)", v),
        DirectoryFilter::DisplayName(v) => ("lower(display_name) = lower($2)", v),
    }
}

fn limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn users_page(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    filter: &DirectoryFilter,
    window: Window,
) -> Result<DirectoryPage<DirectoryUser>, StoreError> {
    let (condition, value) = condition(filter);
    let total: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM directory_users WHERE organization_id = $1 AND {condition}"
    ))
    .bind::<SqlUuid, _>(organization.as_uuid())
    .bind::<Text, _>(value)
    .get_result(conn)
    .await
    .map_err(from_diesel)?;
    let rows: Vec<UserRow> = diesel::sql_query(format!(
        "SELECT {USER_COLUMNS} FROM directory_users WHERE organization_id = $1 AND {condition} \
         ORDER BY id OFFSET $3 LIMIT $4"
    ))
    .bind::<SqlUuid, _>(organization.as_uuid())
    .bind::<Text, _>(value)
    .bind::<BigInt, _>(limit(window.offset))
    .bind::<BigInt, _>(limit(window.count))
    .load(conn)
    .await
    .map_err(from_diesel)?;
    Ok(DirectoryPage {
        total: u64::try_from(total.n).unwrap_or(0),
        items: rows
            .into_iter()
            .map(UserRow::into_domain)
            .collect::<Result<_, _>>()?,
    })
}

async fn one_user(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    id: DirectoryUserId,
    lock: &str,
) -> Result<Option<DirectoryUser>, StoreError> {
    let row: Option<UserRow> = diesel::sql_query(format!(
        "SELECT {USER_COLUMNS} FROM directory_users WHERE organization_id = $1 AND id = $2 {lock}"
    ))
    .bind::<SqlUuid, _>(organization.as_uuid())
    .bind::<SqlUuid, _>(id.as_uuid())
    .get_result(conn)
    .await
    .optional_row()?;
    row.map(UserRow::into_domain).transpose()
}

async fn groups_page(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    filter: &DirectoryFilter,
    window: Window,
    members: bool,
) -> Result<DirectoryPage<DirectoryGroup>, StoreError> {
    let (condition, value) = match filter {
        DirectoryFilter::UserName(_) | DirectoryFilter::Email(_) => ("FALSE AND $2 = ''", ""),
        other => condition(other),
    };
    let total: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM directory_groups WHERE organization_id = $1 AND {condition}"
    ))
    .bind::<SqlUuid, _>(organization.as_uuid())
    .bind::<Text, _>(value)
    .get_result(conn)
    .await
    .map_err(from_diesel)?;
    let rows: Vec<GroupRow> = diesel::sql_query(format!(
        "SELECT {GROUP_COLUMNS} FROM directory_groups g WHERE organization_id = $1 AND {condition} \
         ORDER BY id OFFSET $3 LIMIT $4"
    ))
    .bind::<SqlUuid, _>(organization.as_uuid())
    .bind::<Text, _>(value)
    .bind::<BigInt, _>(limit(window.offset))
    .bind::<BigInt, _>(limit(window.count))
    .load(conn)
    .await
    .map_err(from_diesel)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let ids = if members {
            members_of(conn, organization, DirectoryGroupId::from_uuid(row.id)).await?
        } else {
            Vec::new()
        };
        items.push(row.into_domain(ids)?);
    }
    Ok(DirectoryPage {
        total: u64::try_from(total.n).unwrap_or(0),
        items,
    })
}

async fn members_of(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    group: DirectoryGroupId,
) -> Result<Vec<Uuid>, StoreError> {
    let rows: Vec<Membership> = diesel::sql_query(
        "SELECT user_id FROM directory_group_members WHERE organization_id = $1 AND group_id = $2 \
         ORDER BY user_id",
    )
    .bind::<SqlUuid, _>(organization.as_uuid())
    .bind::<SqlUuid, _>(group.as_uuid())
    .load(conn)
    .await
    .map_err(from_diesel)?;
    Ok(rows.into_iter().map(|r| r.user_id).collect())
}

async fn one_group(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    id: DirectoryGroupId,
    lock: &str,
) -> Result<Option<DirectoryGroup>, StoreError> {
    let row: Option<GroupRow> = diesel::sql_query(format!(
        "SELECT {GROUP_COLUMNS} FROM directory_groups g WHERE organization_id = $1 AND id = $2 {lock}"
    ))
    .bind::<SqlUuid, _>(organization.as_uuid())
    .bind::<SqlUuid, _>(id.as_uuid())
    .get_result(conn)
    .await
    .optional_row()?;
    match row {
        Some(row) => {
            let members = members_of(conn, organization, id).await?;
            Ok(Some(row.into_domain(members)?))
        }
        None => Ok(None),
    }
}

async fn mappings(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
) -> Result<Vec<GroupRole>, StoreError> {
    let rows: Vec<MappingRow> = diesel::sql_query(
        "SELECT group_id, group_name, role FROM directory_group_roles WHERE organization_id = $1 \
         ORDER BY position",
    )
    .bind::<SqlUuid, _>(organization.as_uuid())
    .load(conn)
    .await
    .map_err(from_diesel)?;
    rows.into_iter()
        .map(|row| {
            let group = match (row.group_id, row.group_name) {
                (Some(id), _) => GroupMatch::Id(DirectoryGroupId::from_uuid(id)),
                (None, Some(name)) => GroupMatch::Name(name),
                (None, None) => return Err(corrupt("a mapping names no group")),
            };
            let role = RoleRef::parse(&row.role).map_err(corrupt)?;
            Ok(GroupRole { group, role })
        })
        .collect()
}

/// `.optional()` for `sql_query` results.
trait OptionalRow<T> {
    fn optional_row(self) -> Result<Option<T>, StoreError>;
}

impl<T> OptionalRow<T> for Result<T, diesel::result::Error> {
    fn optional_row(self) -> Result<Option<T>, StoreError> {
        match self {
            Ok(row) => Ok(Some(row)),
            Err(diesel::result::Error::NotFound) => Ok(None),
            Err(error) => Err(from_diesel(error)),
        }
    }
}

#[async_trait]
impl DirectoryQueries for PgStore {
    async fn directory_user(
        &self,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<Option<DirectoryUser>, StoreError> {
        one_user(&mut *self.connection().await?, organization, id, "").await
    }

    async fn directory_users(
        &self,
        organization: OrganizationId,
        filter: &DirectoryFilter,
        window: Window,
    ) -> Result<DirectoryPage<DirectoryUser>, StoreError> {
        users_page(&mut *self.connection().await?, organization, filter, window).await
    }

    async fn directory_group(
        &self,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<Option<DirectoryGroup>, StoreError> {
        one_group(&mut *self.connection().await?, organization, id, "").await
    }

    async fn directory_groups(
        &self,
        organization: OrganizationId,
        filter: &DirectoryFilter,
        window: Window,
        members: bool,
    ) -> Result<DirectoryPage<DirectoryGroup>, StoreError> {
        groups_page(
            &mut *self.connection().await?,
            organization,
            filter,
            window,
            members,
        )
        .await
    }

    async fn group_roles(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<GroupRole>, StoreError> {
        mappings(&mut *self.connection().await?, organization).await
    }
}

async fn find_id(
    conn: &mut AsyncPgConnection,
    sql: &str,
    organization: OrganizationId,
    value: &str,
) -> Result<Option<Uuid>, StoreError> {
    let row: Option<Id> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(organization.as_uuid())
        .bind::<Text, _>(value)
        .get_result(conn)
        .await
        .optional_row()?;
    Ok(row.map(|r| r.id))
}

#[async_trait]
impl DirectoryWrites for PgUnitOfWork {
    async fn directory_user_locked(
        &mut self,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<Option<DirectoryUser>, StoreError> {
        one_user(self.conn()?, organization, id, "FOR UPDATE").await
    }

    async fn directory_user_named(
        &mut self,
        organization: OrganizationId,
        user_name: &str,
    ) -> Result<Option<DirectoryUserId>, StoreError> {
        let sql = "SELECT id FROM directory_users WHERE organization_id = $1 \
                   AND lower(user_name) = lower($2)";
        Ok(find_id(self.conn()?, sql, organization, user_name)
            .await?
            .map(DirectoryUserId::from_uuid))
    }

    async fn directory_user_of(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<DirectoryUserId>, StoreError> {
        let sql =
            "SELECT id FROM directory_users WHERE organization_id = $1 AND user_id = $2::uuid";
        Ok(find_id(self.conn()?, sql, organization, &user.to_string())
            .await?
            .map(DirectoryUserId::from_uuid))
    }

    async fn save_directory_user(&mut self, user: &DirectoryUser) -> Result<(), StoreError> {
        diesel::sql_query(
            "INSERT INTO directory_users (organization_id, id, user_id, user_name, external_id, \
               active, email, email_trusted, display_name, attributes, version, created_at, updated_at, \
               created_by, created_by_kind, account_due_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, \
               CASE WHEN $3::uuid IS NULL AND $8 THEN $13 END) \
             ON CONFLICT (organization_id, id) DO UPDATE SET user_id = $3, user_name = $4, \
               external_id = $5, active = $6, email = $7, email_trusted = $8, display_name = $9, \
               attributes = $10::jsonb, version = $11, updated_at = $13, \
               account_due_at = CASE WHEN $3::uuid IS NULL AND $8 \
                 THEN coalesce(directory_users.account_due_at, $13) END",
        )
        .bind::<SqlUuid, _>(user.organization_id.as_uuid())
        .bind::<SqlUuid, _>(user.id.as_uuid())
        .bind::<Nullable<SqlUuid>, _>(user.user_id.map(|u| u.as_uuid()))
        .bind::<Text, _>(&user.user_name)
        .bind::<Nullable<Text>, _>(user.external_id.as_deref())
        .bind::<Bool, _>(user.active)
        .bind::<Nullable<Text>, _>(user.email.as_ref().map(Email::as_str))
        .bind::<Bool, _>(user.email_trusted)
        .bind::<Nullable<Text>, _>(user.display_name.as_deref())
        .bind::<Text, _>(user.attributes.to_string())
        .bind::<BigInt, _>(limit(user.version))
        .bind::<Timestamptz, _>(user.created_at)
        .bind::<Timestamptz, _>(user.updated_at)
        .bind::<SqlUuid, _>(user.created_by.id)
        .bind::<Text, _>(user.created_by.kind.as_str())
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn delete_directory_user(
        &mut self,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<(), StoreError> {
        diesel::sql_query("DELETE FROM directory_users WHERE organization_id = $1 AND id = $2")
            .bind::<SqlUuid, _>(organization.as_uuid())
            .bind::<SqlUuid, _>(id.as_uuid())
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    async fn user_with_email(&mut self, email: &Email) -> Result<Option<UserId>, StoreError> {
        let row: Option<Id> = diesel::sql_query("SELECT id FROM users WHERE email = $1")
            .bind::<Text, _>(email.as_str())
            .get_result(self.conn()?)
            .await
            .optional_row()?;
        Ok(row.map(|r| UserId::from_uuid(r.id)))
    }

    async fn directory_group_locked(
        &mut self,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<Option<DirectoryGroup>, StoreError> {
        one_group(self.conn()?, organization, id, "FOR UPDATE").await
    }

    async fn directory_group_named(
        &mut self,
        organization: OrganizationId,
        name: &str,
    ) -> Result<Option<DirectoryGroupId>, StoreError> {
        let sql = "SELECT id FROM directory_groups WHERE organization_id = $1 \
                   AND lower(display_name) = lower($2)";
        Ok(find_id(self.conn()?, sql, organization, name)
            .await?
            .map(DirectoryGroupId::from_uuid))
    }

    async fn save_directory_group(&mut self, group: &DirectoryGroup) -> Result<(), StoreError> {
        diesel::sql_query(
            "INSERT INTO directory_groups (organization_id, id, display_name, external_id, \
               attributes, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8) \
             ON CONFLICT (organization_id, id) DO UPDATE SET display_name = $3, external_id = $4, \
               attributes = $5::jsonb, version = $6, updated_at = $8",
        )
        .bind::<SqlUuid, _>(group.organization_id.as_uuid())
        .bind::<SqlUuid, _>(group.id.as_uuid())
        .bind::<Text, _>(&group.display_name)
        .bind::<Nullable<Text>, _>(group.external_id.as_deref())
        .bind::<Text, _>(group.attributes.to_string())
        .bind::<BigInt, _>(limit(group.version))
        .bind::<Timestamptz, _>(group.created_at)
        .bind::<Timestamptz, _>(group.updated_at)
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn change_group_members(
        &mut self,
        organization: OrganizationId,
        group: DirectoryGroupId,
        added: &[DirectoryUserId],
        removed: &[DirectoryUserId],
    ) -> Result<(), StoreError> {
        let ids = |list: &[DirectoryUserId]| list.iter().map(|id| id.as_uuid()).collect::<Vec<_>>();
        diesel::sql_query(
            "WITH gone AS (DELETE FROM directory_group_members WHERE organization_id = $1 \
               AND group_id = $2 AND user_id = ANY($4)) \
             INSERT INTO directory_group_members (organization_id, group_id, user_id) \
             SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING",
        )
        .bind::<SqlUuid, _>(organization.as_uuid())
        .bind::<SqlUuid, _>(group.as_uuid())
        .bind::<Array<SqlUuid>, _>(ids(added))
        .bind::<Array<SqlUuid>, _>(ids(removed))
        .execute(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn delete_directory_group(
        &mut self,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<(), StoreError> {
        diesel::sql_query("DELETE FROM directory_groups WHERE organization_id = $1 AND id = $2")
            .bind::<SqlUuid, _>(organization.as_uuid())
            .bind::<SqlUuid, _>(id.as_uuid())
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    async fn known_directory_users(
        &mut self,
        organization: OrganizationId,
        ids: &[DirectoryUserId],
    ) -> Result<Vec<DirectoryUserId>, StoreError> {
        let wanted: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
        let rows: Vec<Id> = diesel::sql_query(
            "SELECT id FROM directory_users WHERE organization_id = $1 AND id = ANY($2)",
        )
        .bind::<SqlUuid, _>(organization.as_uuid())
        .bind::<Array<SqlUuid>, _>(wanted)
        .load(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(rows
            .into_iter()
            .map(|r| DirectoryUserId::from_uuid(r.id))
            .collect())
    }

    async fn groups_of(
        &mut self,
        organization: OrganizationId,
        user: DirectoryUserId,
    ) -> Result<Vec<(DirectoryGroupId, String)>, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Named {
            #[diesel(sql_type = SqlUuid)]
            id: Uuid,
            #[diesel(sql_type = Text)]
            display_name: String,
        }
        let rows: Vec<Named> = diesel::sql_query(
            "SELECT g.id, g.display_name FROM directory_group_members m \
             JOIN directory_groups g ON g.organization_id = m.organization_id AND g.id = m.group_id \
             WHERE m.organization_id = $1 AND m.user_id = $2",
        )
        .bind::<SqlUuid, _>(organization.as_uuid())
        .bind::<SqlUuid, _>(user.as_uuid())
        .load(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(rows
            .into_iter()
            .map(|r| (DirectoryGroupId::from_uuid(r.id), r.display_name))
            .collect())
    }

    async fn group_roles_in(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<GroupRole>, StoreError> {
        mappings(self.conn()?, organization).await
    }

    async fn set_group_roles(
        &mut self,
        organization: OrganizationId,
        list: &[GroupRole],
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        diesel::sql_query("DELETE FROM directory_group_roles WHERE organization_id = $1")
            .bind::<SqlUuid, _>(organization.as_uuid())
            .execute(conn)
            .await
            .map_err(from_diesel)?;
        for (position, mapping) in list.iter().enumerate() {
            let (id, name) = match &mapping.group {
                GroupMatch::Id(id) => (Some(id.as_uuid()), None),
                GroupMatch::Name(name) => (None, Some(name.as_str())),
            };
            diesel::sql_query(
                "INSERT INTO directory_group_roles (organization_id, position, group_id, group_name, role) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind::<SqlUuid, _>(organization.as_uuid())
            .bind::<Int4, _>(i32::try_from(position).unwrap_or(i32::MAX))
            .bind::<Nullable<SqlUuid>, _>(id)
            .bind::<Nullable<Text>, _>(name)
            .bind::<Text, _>(mapping.role.to_string())
            .execute(&mut *conn)
            .await
            .map_err(from_diesel)?;
        }
        Ok(())
    }

    async fn active_directory_users(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<(DirectoryUserId, UserId)>, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Pair {
            #[diesel(sql_type = SqlUuid)]
            id: Uuid,
            #[diesel(sql_type = SqlUuid)]
            user_id: Uuid,
        }
        let rows: Vec<Pair> = diesel::sql_query(
            "SELECT id, user_id FROM directory_users WHERE organization_id = $1 AND active \
             AND user_id IS NOT NULL ORDER BY id",
        )
        .bind::<SqlUuid, _>(organization.as_uuid())
        .load(self.conn()?)
        .await
        .map_err(from_diesel)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    DirectoryUserId::from_uuid(r.id),
                    UserId::from_uuid(r.user_id),
                )
            })
            .collect())
    }
}

#[async_trait]
impl DirectoryAccountQueue for PgStore {
    async fn due_accounts(
        &self,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<(OrganizationId, DirectoryUserId)>, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Due {
            #[diesel(sql_type = SqlUuid)]
            organization_id: Uuid,
            #[diesel(sql_type = SqlUuid)]
            id: Uuid,
        }
        // Taken and held in one statement: replicas skip each other's.
        let rows: Vec<Due> = diesel::sql_query(
            "UPDATE directory_users d SET account_due_at = now() + make_interval(secs => $2) \
             FROM (SELECT organization_id, id FROM directory_users \
                   WHERE user_id IS NULL AND account_due_at <= now() \
                   ORDER BY account_due_at LIMIT $1 FOR UPDATE SKIP LOCKED) due \
             WHERE d.organization_id = due.organization_id AND d.id = due.id \
             RETURNING d.organization_id, d.id",
        )
        .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind::<diesel::sql_types::Double, _>(lease.as_secs_f64())
        .load(&mut *self.connection().await?)
        .await
        .map_err(from_diesel)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    OrganizationId::from_uuid(r.organization_id),
                    DirectoryUserId::from_uuid(r.id),
                )
            })
            .collect())
    }

    async fn retry_account(
        &self,
        organization: OrganizationId,
        id: DirectoryUserId,
        after: std::time::Duration,
    ) -> Result<(), StoreError> {
        diesel::sql_query(
            "UPDATE directory_users SET account_due_at = now() + make_interval(secs => $3) \
             WHERE organization_id = $1 AND id = $2 AND user_id IS NULL",
        )
        .bind::<SqlUuid, _>(organization.as_uuid())
        .bind::<SqlUuid, _>(id.as_uuid())
        .bind::<diesel::sql_types::Double, _>(after.as_secs_f64())
        .execute(&mut *self.connection().await?)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }
}
