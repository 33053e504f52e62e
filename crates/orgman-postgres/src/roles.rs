//! The permission catalog, custom roles, platform roles and the roles
//! members hold. Reads go through the `scoped_roles` and
//! `member_scoped_roles` views, where a platform role's scope is the nil
//! UUID ([`OrganizationId::PLATFORM`]); writes go to the table of the
//! role's scope.

use std::collections::BTreeSet;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{RoleQueries, RoleWrites};
use orgman_domain::{
    CatalogPermission, CustomRole, OrganizationId, PermissionName, RoleKey, StoreError, UserId,
};
use uuid::Uuid;

use crate::error::from_diesel;
use crate::rows::{RoleRow, roles};
use crate::schema::{
    custom_roles, member_custom_roles, member_platform_roles, permissions, platform_roles,
    scoped_roles,
};
use crate::store::PgStore;
use crate::unit_of_work::PgUnitOfWork;

/// The advisory lock key of catalog changes ("orgman catalog").
const CATALOG_LOCK: i64 = 0x6f72_676d_6361_7431;

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = permissions, check_for_backend(diesel::pg::Pg))]
struct PermissionRow {
    name: String,
    description: String,
}

impl PermissionRow {
    fn into_domain(self) -> Result<CatalogPermission, StoreError> {
        Ok(CatalogPermission {
            name: PermissionName::parse(&self.name)
                .map_err(|e| StoreError::Other(format!("stored permission: {e}")))?,
            description: self.description,
            built_in: false,
        })
    }
}

#[async_trait]
impl RoleQueries for PgStore {
    async fn registered_permissions(&self) -> Result<Vec<CatalogPermission>, StoreError> {
        let mut conn = self.connection().await?;
        let rows: Vec<PermissionRow> = permissions::table
            .order(permissions::name)
            .select(PermissionRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        rows.into_iter().map(PermissionRow::into_domain).collect()
    }

    async fn custom_roles(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<CustomRole>, StoreError> {
        let mut conn = self.connection().await?;
        let scopes = [organization.as_uuid(), OrganizationId::PLATFORM.as_uuid()];
        let rows = scoped_roles::table
            .filter(scoped_roles::scope_id.eq_any(scopes))
            .order(scoped_roles::role_key)
            .select(RoleRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        roles(rows)
    }

    async fn member_custom_roles(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<CustomRole>, StoreError> {
        let mut conn = self.connection().await?;
        crate::member_roles::roles_held(&mut conn, organization, user).await
    }
}

#[async_trait]
impl RoleWrites for PgUnitOfWork {
    async fn lock_catalog(&mut self, exclusive: bool) -> Result<(), StoreError> {
        let statement = if exclusive {
            "SELECT pg_advisory_xact_lock($1)"
        } else {
            "SELECT pg_advisory_xact_lock_shared($1)"
        };
        diesel::sql_query(statement)
            .bind::<diesel::sql_types::BigInt, _>(CATALOG_LOCK)
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)
            .map(drop)
    }

    async fn registered_permission(
        &mut self,
        name: &PermissionName,
    ) -> Result<Option<CatalogPermission>, StoreError> {
        permissions::table
            .find(name.as_str())
            .select(PermissionRow::as_select())
            .first(self.conn()?)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(PermissionRow::into_domain)
            .transpose()
    }

    async fn unregistered(
        &mut self,
        names: &BTreeSet<PermissionName>,
    ) -> Result<BTreeSet<PermissionName>, StoreError> {
        let wanted: Vec<&str> = names.iter().map(PermissionName::as_str).collect();
        let found: Vec<String> = permissions::table
            .filter(permissions::name.eq_any(wanted))
            .select(permissions::name)
            .load(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(names
            .iter()
            .filter(|name| !found.iter().any(|f| f == name.as_str()))
            .cloned()
            .collect())
    }

    async fn upsert_permission(
        &mut self,
        permission: &CatalogPermission,
    ) -> Result<(), StoreError> {
        diesel::insert_into(permissions::table)
            .values((
                permissions::name.eq(permission.name.as_str()),
                permissions::description.eq(&permission.description),
            ))
            .on_conflict(permissions::name)
            .do_update()
            .set((
                permissions::description.eq(&permission.description),
                permissions::updated_at.eq(diesel::dsl::now),
            ))
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)
            .map(drop)
    }

    async fn delete_permission(&mut self, name: &PermissionName) -> Result<bool, StoreError> {
        let deleted = diesel::delete(permissions::table.find(name.as_str()))
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(deleted > 0)
    }

    async fn roles_granting(
        &mut self,
        name: &PermissionName,
    ) -> Result<Vec<CustomRole>, StoreError> {
        let rows = scoped_roles::table
            .filter(scoped_roles::permissions.contains(vec![name.as_str()]))
            .order((scoped_roles::scope_id, scoped_roles::role_key))
            .select(RoleRow::as_select())
            .load(self.conn()?)
            .await
            .map_err(from_diesel)?;
        roles(rows)
    }

    async fn custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Option<CustomRole>, StoreError> {
        scoped_roles::table
            .filter(scoped_roles::scope_id.eq(organization.as_uuid()))
            .filter(scoped_roles::role_key.eq(key.as_str()))
            .select(RoleRow::as_select())
            .first(self.conn()?)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(RoleRow::into_domain)
            .transpose()
    }

    async fn custom_roles_of(
        &mut self,
        organization: OrganizationId,
        keys: &BTreeSet<RoleKey>,
    ) -> Result<Vec<CustomRole>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<&str> = keys.iter().map(RoleKey::as_str).collect();
        let scopes = [organization.as_uuid(), OrganizationId::PLATFORM.as_uuid()];
        let rows = scoped_roles::table
            .filter(scoped_roles::scope_id.eq_any(scopes))
            .filter(scoped_roles::role_key.eq_any(wanted))
            .order(scoped_roles::role_key)
            .select(RoleRow::as_select())
            .load(self.conn()?)
            .await
            .map_err(from_diesel)?;
        roles(rows)
    }

    async fn count_custom_roles(
        &mut self,
        organization: OrganizationId,
    ) -> Result<u64, StoreError> {
        let count: i64 = scoped_roles::table
            .filter(scoped_roles::scope_id.eq(organization.as_uuid()))
            .count()
            .get_result(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn count_roles_with_key(&mut self, key: &RoleKey) -> Result<u64, StoreError> {
        let count: i64 = custom_roles::table
            .filter(custom_roles::role_key.eq(key.as_str()))
            .count()
            .get_result(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn insert_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError> {
        let row = RoleRow::from_domain(role);
        let conn = self.conn()?;
        let inserted = if role.is_platform() {
            diesel::insert_into(platform_roles::table)
                .values((
                    platform_roles::role_key.eq(&row.role_key),
                    platform_roles::name.eq(&row.name),
                    platform_roles::description.eq(&row.description),
                    platform_roles::permissions.eq(&row.permissions),
                    platform_roles::created_at.eq(row.created_at),
                    platform_roles::updated_at.eq(row.updated_at),
                ))
                .execute(conn)
                .await
        } else {
            diesel::insert_into(custom_roles::table)
                .values((
                    custom_roles::org_id.eq(row.scope_id),
                    custom_roles::role_key.eq(&row.role_key),
                    custom_roles::name.eq(&row.name),
                    custom_roles::description.eq(&row.description),
                    custom_roles::permissions.eq(&row.permissions),
                    custom_roles::created_at.eq(row.created_at),
                    custom_roles::updated_at.eq(row.updated_at),
                ))
                .execute(conn)
                .await
        };
        inserted.map_err(from_diesel).map(drop)
    }

    async fn update_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError> {
        let row = RoleRow::from_domain(role);
        let conn = self.conn()?;
        let updated = if role.is_platform() {
            diesel::update(platform_roles::table.find(&row.role_key))
                .set((
                    platform_roles::name.eq(&row.name),
                    platform_roles::description.eq(&row.description),
                    platform_roles::permissions.eq(&row.permissions),
                    platform_roles::updated_at.eq(row.updated_at),
                ))
                .execute(conn)
                .await
        } else {
            diesel::update(custom_roles::table.find((row.scope_id, &row.role_key)))
                .set((
                    custom_roles::name.eq(&row.name),
                    custom_roles::description.eq(&row.description),
                    custom_roles::permissions.eq(&row.permissions),
                    custom_roles::updated_at.eq(row.updated_at),
                ))
                .execute(conn)
                .await
        }
        .map_err(from_diesel)?;
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn delete_custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        if organization.is_platform() {
            diesel::delete(platform_roles::table.find(key.as_str()))
                .execute(conn)
                .await
        } else {
            diesel::delete(custom_roles::table.find((organization.as_uuid(), key.as_str())))
                .execute(conn)
                .await
        }
        .map_err(from_diesel)
        .map(drop)
    }

    async fn role_holders(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Vec<(OrganizationId, UserId)>, StoreError> {
        let conn = self.conn()?;
        let holders: Vec<(Uuid, Uuid)> = if organization.is_platform() {
            member_platform_roles::table
                .filter(member_platform_roles::role_key.eq(key.as_str()))
                .order((
                    member_platform_roles::org_id,
                    member_platform_roles::user_id,
                ))
                .select((
                    member_platform_roles::org_id,
                    member_platform_roles::user_id,
                ))
                .load(conn)
                .await
        } else {
            member_custom_roles::table
                .filter(member_custom_roles::org_id.eq(organization.as_uuid()))
                .filter(member_custom_roles::role_key.eq(key.as_str()))
                .order(member_custom_roles::user_id)
                .select((member_custom_roles::org_id, member_custom_roles::user_id))
                .load(conn)
                .await
        }
        .map_err(from_diesel)?;
        Ok(holders
            .into_iter()
            .map(|(org, user)| (OrganizationId::from_uuid(org), UserId::from_uuid(user)))
            .collect())
    }

    async fn set_member_custom_roles(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        roles: &BTreeSet<RoleKey>,
    ) -> Result<(), StoreError> {
        let (org, member) = (organization.as_uuid(), user.as_uuid());
        let keys: Vec<&str> = roles.iter().map(RoleKey::as_str).collect();
        let conn = self.conn()?;
        // Two statements each: forget what the member held, then file each
        // key under the scope that defines it (a key names one role in an
        // organization; the foreign keys refuse one nobody defines).
        diesel::sql_query(
            "WITH gone AS (DELETE FROM member_custom_roles WHERE org_id = $1 AND user_id = $2) \
             DELETE FROM member_platform_roles WHERE org_id = $1 AND user_id = $2",
        )
        .bind::<diesel::sql_types::Uuid, _>(org)
        .bind::<diesel::sql_types::Uuid, _>(member)
        .execute(conn)
        .await
        .map_err(from_diesel)?;
        if keys.is_empty() {
            return Ok(());
        }
        diesel::sql_query(
            "WITH keys AS (SELECT unnest($3::text[]) AS k), \
             platform AS (INSERT INTO member_platform_roles (org_id, user_id, role_key) \
                SELECT $1, $2, k FROM keys WHERE k IN (SELECT role_key FROM platform_roles)) \
             INSERT INTO member_custom_roles (org_id, user_id, role_key) \
             SELECT $1, $2, k FROM keys WHERE k NOT IN (SELECT role_key FROM platform_roles)",
        )
        .bind::<diesel::sql_types::Uuid, _>(org)
        .bind::<diesel::sql_types::Uuid, _>(member)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(keys)
        .execute(conn)
        .await
        .map_err(from_diesel)
        .map(drop)
    }
}
