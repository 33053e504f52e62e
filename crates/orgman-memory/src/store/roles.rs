//! The catalog and custom roles in memory.

use std::collections::BTreeSet;

use async_trait::async_trait;
use orgman_domain::ports::{RoleQueries, RoleWrites};
use orgman_domain::{
    CatalogPermission, Conflict, CustomRole, OrganizationId, PermissionName, RoleKey, StoreError,
    UserId,
};

use super::{MemoryStore, MemoryUnitOfWork};

#[async_trait]
impl RoleQueries for MemoryStore {
    async fn registered_permissions(&self) -> Result<Vec<CatalogPermission>, StoreError> {
        self.available()?;
        Ok(self.lock().permissions.values().cloned().collect())
    }

    async fn custom_roles(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<CustomRole>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .roles
            .values()
            .filter(|role| role.organization_id == organization || role.is_platform())
            .cloned()
            .collect())
    }

    async fn member_custom_roles(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<CustomRole>, StoreError> {
        self.available()?;
        let state = self.lock();
        let Some(membership) = state.memberships.get(&(organization, user)) else {
            return Ok(Vec::new());
        };
        Ok(membership
            .custom_roles
            .iter()
            .filter_map(|key| resolve(&state.roles, organization, key).cloned())
            .collect())
    }
}

#[async_trait]
impl RoleWrites for MemoryUnitOfWork {
    async fn lock_catalog(&mut self, _exclusive: bool) -> Result<(), StoreError> {
        // Units of work run one at a time already.
        Ok(())
    }

    async fn registered_permission(
        &mut self,
        name: &PermissionName,
    ) -> Result<Option<CatalogPermission>, StoreError> {
        Ok(self.working.permissions.get(name).cloned())
    }

    async fn unregistered(
        &mut self,
        names: &BTreeSet<PermissionName>,
    ) -> Result<BTreeSet<PermissionName>, StoreError> {
        Ok(names
            .iter()
            .filter(|name| !self.working.permissions.contains_key(*name))
            .cloned()
            .collect())
    }

    async fn upsert_permission(
        &mut self,
        permission: &CatalogPermission,
    ) -> Result<(), StoreError> {
        self.working
            .permissions
            .insert(permission.name.clone(), permission.clone());
        Ok(())
    }

    async fn delete_permission(&mut self, name: &PermissionName) -> Result<bool, StoreError> {
        Ok(self.working.permissions.remove(name).is_some())
    }

    async fn roles_granting(
        &mut self,
        name: &PermissionName,
    ) -> Result<Vec<CustomRole>, StoreError> {
        Ok(self
            .working
            .roles
            .values()
            .filter(|role| role.permissions.contains(name))
            .cloned()
            .collect())
    }

    async fn custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Option<CustomRole>, StoreError> {
        Ok(self
            .working
            .roles
            .get(&(organization, key.clone()))
            .cloned())
    }

    async fn custom_roles_of(
        &mut self,
        organization: OrganizationId,
        keys: &BTreeSet<RoleKey>,
    ) -> Result<Vec<CustomRole>, StoreError> {
        Ok(keys
            .iter()
            .filter_map(|key| resolve(&self.working.roles, organization, key).cloned())
            .collect())
    }

    async fn count_custom_roles(
        &mut self,
        organization: OrganizationId,
    ) -> Result<u64, StoreError> {
        Ok(self
            .working
            .roles
            .keys()
            .filter(|(org, _)| *org == organization)
            .count() as u64)
    }

    async fn count_roles_with_key(&mut self, key: &RoleKey) -> Result<u64, StoreError> {
        Ok(self
            .working
            .roles
            .keys()
            .filter(|(org, k)| !org.is_platform() && k == key)
            .count() as u64)
    }

    async fn insert_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError> {
        let key = (role.organization_id, role.key.clone());
        if self.working.roles.contains_key(&key) {
            return Err(StoreError::Conflict(Conflict::Other(
                "custom role key".into(),
            )));
        }
        self.working.roles.insert(key, role.clone());
        Ok(())
    }

    async fn update_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError> {
        let stored = self
            .working
            .roles
            .get_mut(&(role.organization_id, role.key.clone()))
            .ok_or(StoreError::NotFound)?;
        *stored = role.clone();
        Ok(())
    }

    async fn delete_custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<(), StoreError> {
        let held = self.working.memberships.values().any(|m| {
            (organization.is_platform() || m.organization_id == organization)
                && m.custom_roles.contains(key)
        });
        if held {
            // PostgreSQL's foreign key refuses the same.
            return Err(StoreError::Conflict(Conflict::Other(
                "custom role held".into(),
            )));
        }
        self.working
            .roles
            .remove(&(organization, key.clone()))
            .map(drop)
            .ok_or(StoreError::NotFound)
    }

    async fn role_holders(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Vec<(OrganizationId, UserId)>, StoreError> {
        // A key names one role in each organization, so a platform role's
        // holders are every membership holding its key.
        Ok(self
            .working
            .memberships
            .values()
            .filter(|m| {
                (organization.is_platform() || m.organization_id == organization)
                    && m.custom_roles.contains(key)
            })
            .map(|m| (m.organization_id, m.user_id))
            .collect())
    }

    async fn set_member_custom_roles(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        roles: &BTreeSet<RoleKey>,
    ) -> Result<(), StoreError> {
        if let Some(missing) = roles
            .iter()
            .find(|key| resolve(&self.working.roles, organization, key).is_none())
        {
            return Err(StoreError::Other(format!("no custom role {missing}")));
        }
        let membership = self
            .working
            .memberships
            .get_mut(&(organization, user))
            .ok_or(StoreError::NotFound)?;
        membership.custom_roles = roles.clone();
        Ok(())
    }
}

/// The role a member of `organization` holds under `key`: the
/// organization's own, or a platform role.
pub(super) fn resolve<'a>(
    roles: &'a std::collections::BTreeMap<(OrganizationId, RoleKey), CustomRole>,
    organization: OrganizationId,
    key: &RoleKey,
) -> Option<&'a CustomRole> {
    roles
        .get(&(organization, key.clone()))
        .or_else(|| roles.get(&(OrganizationId::PLATFORM, key.clone())))
}
