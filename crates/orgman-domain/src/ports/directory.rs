//! Storage of an organization's directory: its people and groups (SCIM
//! resources) and the mapping of its groups to roles.

use async_trait::async_trait;

use crate::directory::model::{
    DirectoryFilter, DirectoryGroup, DirectoryPage, DirectoryUser, GroupRole, Window,
};
use crate::errors::port::StoreError;
use crate::values::id::{DirectoryGroupId, DirectoryUserId, OrganizationId, UserId};
use crate::values::name::Email;

/// Reads of an organization's directory, outside any unit of work.
#[async_trait]
pub trait DirectoryQueries: Send + Sync {
    /// One person.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn directory_user(
        &self,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<Option<DirectoryUser>, StoreError>;

    /// A window of the people `filter` matches, oldest first, with their
    /// total.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn directory_users(
        &self,
        organization: OrganizationId,
        filter: &DirectoryFilter,
        window: Window,
    ) -> Result<DirectoryPage<DirectoryUser>, StoreError>;

    /// One group, with its members.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn directory_group(
        &self,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<Option<DirectoryGroup>, StoreError>;

    /// A window of the groups `filter` matches, oldest first, with their
    /// total; with their members only when `members` is set.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn directory_groups(
        &self,
        organization: OrganizationId,
        filter: &DirectoryFilter,
        window: Window,
        members: bool,
    ) -> Result<DirectoryPage<DirectoryGroup>, StoreError>;

    /// The organization's mapping of groups to roles.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn group_roles(&self, organization: OrganizationId)
    -> Result<Vec<GroupRole>, StoreError>;
}

/// The directory's writes, in an organization's unit of work.
#[async_trait]
pub trait DirectoryWrites: Send {
    /// One person, locked until the unit of work ends.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn directory_user_locked(
        &mut self,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<Option<DirectoryUser>, StoreError>;

    /// The person of this user name (case-insensitive), if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn directory_user_named(
        &mut self,
        organization: OrganizationId,
        user_name: &str,
    ) -> Result<Option<DirectoryUserId>, StoreError>;

    /// The directory's person who is `user`, if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn directory_user_of(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<DirectoryUserId>, StoreError>;

    /// Inserts or replaces a person (by organization and id).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another holds the user name or the
    /// user; [`StoreError::Unavailable`].
    async fn save_directory_user(&mut self, user: &DirectoryUser) -> Result<(), StoreError>;

    /// Deletes a person and their places in groups.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete_directory_user(
        &mut self,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<(), StoreError>;

    /// The orgman user whose address is `email`, if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn user_with_email(&mut self, email: &Email) -> Result<Option<UserId>, StoreError>;

    /// The group, with its members, locked until the unit of work ends.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn directory_group_locked(
        &mut self,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<Option<DirectoryGroup>, StoreError>;

    /// The group of this name (case-insensitive), if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn directory_group_named(
        &mut self,
        organization: OrganizationId,
        name: &str,
    ) -> Result<Option<DirectoryGroupId>, StoreError>;

    /// Inserts or replaces a group's own fields (not its members).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another group holds the name;
    /// [`StoreError::Unavailable`].
    async fn save_directory_group(&mut self, group: &DirectoryGroup) -> Result<(), StoreError>;

    /// Adds and removes members of a group.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn change_group_members(
        &mut self,
        organization: OrganizationId,
        group: DirectoryGroupId,
        added: &[DirectoryUserId],
        removed: &[DirectoryUserId],
    ) -> Result<(), StoreError>;

    /// Deletes a group and its memberships.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete_directory_group(
        &mut self,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<(), StoreError>;

    /// Which of `ids` are people of the organization's directory.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn known_directory_users(
        &mut self,
        organization: OrganizationId,
        ids: &[DirectoryUserId],
    ) -> Result<Vec<DirectoryUserId>, StoreError>;

    /// The groups a person is in, by id and name.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn groups_of(
        &mut self,
        organization: OrganizationId,
        user: DirectoryUserId,
    ) -> Result<Vec<(DirectoryGroupId, String)>, StoreError>;

    /// The organization's mapping of groups to roles.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn group_roles_in(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<GroupRole>, StoreError>;

    /// Replaces the organization's mapping of groups to roles.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn set_group_roles(
        &mut self,
        organization: OrganizationId,
        mappings: &[GroupRole],
    ) -> Result<(), StoreError>;

    /// The directory's active people, by resource and user: those whose
    /// roles a mapping change recomputes.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn active_directory_users(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<(DirectoryUserId, UserId)>, StoreError>;
}

/// The directory's people whose account at the identity provider is still
/// to be made ([`DirectoryUser::user_id`] is `None`): written with the
/// person in the same unit of work, and worked off the request path by
/// [`DirectoryService::open_accounts`](crate::DirectoryService::open_accounts).
#[async_trait]
pub trait DirectoryAccountQueue: Send + Sync {
    /// Up to `limit` people whose account is due, by organization and id,
    /// each held for `lease` (another worker takes it after that, if it
    /// was neither made nor put back).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn due_accounts(
        &self,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<(OrganizationId, DirectoryUserId)>, StoreError>;

    /// The person's account is tried again after `after`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn retry_account(
        &self,
        organization: OrganizationId,
        id: DirectoryUserId,
        after: std::time::Duration,
    ) -> Result<(), StoreError>;
}
