//! Storage of the permission catalog, the organizations' custom roles, and
//! the custom roles their members hold.

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

    /// The organization's custom roles, by key.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn custom_roles(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<CustomRole>, StoreError>;

    /// The custom roles a member holds (none for a non-member), by key.
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
/// ([`crate::ports::OrganizationWrites::lock_organization`]); a change to
/// the catalog takes [`RoleWrites::lock_catalog`] first.
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

    /// Every custom role, in any organization, that grants `name`.
    async fn roles_granting(
        &mut self,
        name: &PermissionName,
    ) -> Result<Vec<CustomRole>, StoreError>;

    /// One custom role of the organization.
    async fn custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Option<CustomRole>, StoreError>;

    /// The organization's custom roles of those keys (unknown keys are
    /// left out).
    async fn custom_roles_of(
        &mut self,
        organization: OrganizationId,
        keys: &BTreeSet<RoleKey>,
    ) -> Result<Vec<CustomRole>, StoreError>;

    /// How many custom roles the organization defines.
    async fn count_custom_roles(&mut self, organization: OrganizationId)
    -> Result<u64, StoreError>;

    /// Stores a new custom role ([`crate::Conflict::Other`] when the key is
    /// taken).
    async fn insert_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError>;

    /// Stores a custom role's new name, description and permissions.
    async fn update_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError>;

    /// Deletes a custom role nobody holds any more.
    async fn delete_custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<(), StoreError>;

    /// The members holding the custom role, by user id.
    async fn role_holders(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Vec<UserId>, StoreError>;

    /// Sets the custom roles a member holds (the membership exists).
    async fn set_member_custom_roles(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        roles: &BTreeSet<RoleKey>,
    ) -> Result<(), StoreError>;
}
