//! Storage of the permission catalog, the organizations' custom roles, the
//! platform roles, and the roles members hold.
//!
//! Platform roles are custom roles of [`OrganizationId::PLATFORM`]. Reads
//! that resolve what a member of an organization may hold
//! ([`RoleQueries::custom_roles`], [`RoleQueries::member_custom_roles`],
//! [`RoleWrites::custom_roles_of`]) see the organization's roles and the
//! platform's together; the others see exactly one scope.

use std::collections::BTreeSet;

use async_trait::async_trait;

use crate::errors::port::StoreError;
use crate::members::custom_role::{CatalogPermission, CustomRole, RoleKey};
use crate::members::permission::PermissionName;
use crate::values::id::{OrganizationId, UserId};

/// Reads of the catalog and of custom roles, outside a unit of work.
#[async_trait]
pub trait RoleQueries: Send + Sync {
    /// The catalog's registered permissions (orgman's own are not stored:
    /// [`CatalogPermission::built_in`]), by name.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn registered_permissions(&self) -> Result<Vec<CatalogPermission>, StoreError>;

    /// The organization's custom roles and the platform roles, by key
    /// (only the platform roles for [`OrganizationId::PLATFORM`]).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn custom_roles(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<CustomRole>, StoreError>;

    /// The custom roles a member holds, platform roles included (none for
    /// a non-member), by key.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn member_custom_roles(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<CustomRole>, StoreError>;
}

/// Catalog and custom-role changes inside a unit of work. A change to an
/// organization's roles runs under the organization's lock
/// ([`crate::ports::OrganizationWrites::lock_organization`]) and the
/// catalog's shared lock; a change to the catalog or to a platform role
/// takes [`RoleWrites::lock_catalog`] exclusively first.
#[async_trait]
pub trait RoleWrites: Send {
    /// Serializes changes to the catalog (`exclusive`) with each other and
    /// with role changes that check their permissions against it (shared),
    /// until the unit of work ends.
    async fn lock_catalog(&mut self, exclusive: bool) -> Result<(), StoreError>;

    /// The registered permission of that name.
    async fn registered_permission(
        &mut self,
        name: &PermissionName,
    ) -> Result<Option<CatalogPermission>, StoreError>;

    /// Which of `names` the catalog does not list among registered
    /// permissions (orgman's own are checked by the domain).
    async fn unregistered(
        &mut self,
        names: &BTreeSet<PermissionName>,
    ) -> Result<BTreeSet<PermissionName>, StoreError>;

    /// Registers a permission or changes its description.
    async fn upsert_permission(&mut self, permission: &CatalogPermission)
    -> Result<(), StoreError>;

    /// Deletes a registered permission; `false` when there was none.
    async fn delete_permission(&mut self, name: &PermissionName) -> Result<bool, StoreError>;

    /// Every custom role, in any organization or of the platform, that
    /// grants `name`.
    async fn roles_granting(
        &mut self,
        name: &PermissionName,
    ) -> Result<Vec<CustomRole>, StoreError>;

    /// One custom role of exactly that scope (the organization's own, or a
    /// platform role for [`OrganizationId::PLATFORM`]).
    async fn custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Option<CustomRole>, StoreError>;

    /// The roles of those keys an organization's member may hold: the
    /// organization's own and the platform's (unknown keys are left out).
    async fn custom_roles_of(
        &mut self,
        organization: OrganizationId,
        keys: &BTreeSet<RoleKey>,
    ) -> Result<Vec<CustomRole>, StoreError>;

    /// How many custom roles the scope defines.
    async fn count_custom_roles(&mut self, organization: OrganizationId)
    -> Result<u64, StoreError>;

    /// How many organizations define a role of that key themselves.
    async fn count_roles_with_key(&mut self, key: &RoleKey) -> Result<u64, StoreError>;

    /// Stores a new custom role in its scope ([`crate::Conflict::Other`]
    /// when the key is taken there).
    async fn insert_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError>;

    /// Stores a custom role's new name, description and permissions.
    async fn update_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError>;

    /// Deletes a custom role of that scope nobody holds any more.
    async fn delete_custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<(), StoreError>;

    /// The members holding the custom role of that scope, by organization
    /// and user id: for a platform role, in every organization.
    async fn role_holders(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Vec<(OrganizationId, UserId)>, StoreError>;

    /// Sets the custom roles a member holds, platform roles included (the
    /// membership and the roles exist).
    async fn set_member_custom_roles(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        roles: &BTreeSet<RoleKey>,
    ) -> Result<(), StoreError>;
}
