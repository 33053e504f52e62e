//! The permission catalog, custom roles and the custom roles members hold.

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
use crate::schema::{custom_roles, member_custom_roles, permissions};
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
        let rows = custom_roles::table
            .filter(custom_roles::org_id.eq(organization.as_uuid()))
            .order(custom_roles::role_key)
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
        let rows = custom_roles::table
            .filter(custom_roles::permissions.contains(vec![name.as_str()]))
            .order((custom_roles::org_id, custom_roles::role_key))
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
        custom_roles::table
            .find((organization.as_uuid(), key.as_str()))
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
        let rows = custom_roles::table
            .filter(custom_roles::org_id.eq(organization.as_uuid()))
            .filter(custom_roles::role_key.eq_any(wanted))
            .order(custom_roles::role_key)
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
        let count: i64 = custom_roles::table
            .filter(custom_roles::org_id.eq(organization.as_uuid()))
            .count()
            .get_result(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn insert_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError> {
        diesel::insert_into(custom_roles::table)
            .values(RoleRow::from_domain(role))
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)
            .map(drop)
    }

    async fn update_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError> {
        let row = RoleRow::from_domain(role);
        let updated = diesel::update(custom_roles::table.find((row.org_id, &row.role_key)))
            .set((
                custom_roles::name.eq(&row.name),
                custom_roles::description.eq(&row.description),
                custom_roles::permissions.eq(&row.permissions),
                custom_roles::updated_at.eq(row.updated_at),
            ))
            .execute(self.conn()?)
            .await
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
        diesel::delete(custom_roles::table.find((organization.as_uuid(), key.as_str())))
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)
            .map(drop)
    }

    async fn role_holders(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Vec<UserId>, StoreError> {
        let users: Vec<Uuid> = member_custom_roles::table
            .filter(member_custom_roles::org_id.eq(organization.as_uuid()))
            .filter(member_custom_roles::role_key.eq(key.as_str()))
            .order(member_custom_roles::user_id)
            .select(member_custom_roles::user_id)
            .load(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(users.into_iter().map(UserId::from_uuid).collect())
    }

    async fn set_member_custom_roles(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        roles: &BTreeSet<RoleKey>,
    ) -> Result<(), StoreError> {
        let (org, member) = (organization.as_uuid(), user.as_uuid());
        let conn = self.conn()?;
        diesel::delete(
            member_custom_roles::table
                .filter(member_custom_roles::org_id.eq(org))
                .filter(member_custom_roles::user_id.eq(member)),
        )
        .execute(conn)
        .await
        .map_err(from_diesel)?;
        let rows: Vec<_> = roles
            .iter()
            .map(|key| {
                (
                    member_custom_roles::org_id.eq(org),
                    member_custom_roles::user_id.eq(member),
                    member_custom_roles::role_key.eq(key.as_str()),
                )
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        diesel::insert_into(member_custom_roles::table)
            .values(rows)
            .execute(conn)
            .await
            .map_err(from_diesel)
            .map(drop)
    }
}
