//! Organizations' directories (SCIM people and groups) in memory.

use async_trait::async_trait;
use orgman_domain::ports::{DirectoryAccountQueue, DirectoryQueries, DirectoryWrites};
use orgman_domain::{
    Conflict, DirectoryFilter, DirectoryGroup, DirectoryGroupId, DirectoryPage, DirectoryUser,
    DirectoryUserId, Email, GroupRole, OrganizationId, StoreError, UserId, Window,
};

use super::{MemoryStore, MemoryUnitOfWork, State};

fn user_matches(user: &DirectoryUser, filter: &DirectoryFilter) -> bool {
    match filter {
        DirectoryFilter::All => true,
        DirectoryFilter::UserName(name) => user.user_name.to_lowercase() == name.to_lowercase(),
        DirectoryFilter::ExternalId(id) => user.external_id.as_deref() == Some(id.as_str()),
        DirectoryFilter::Email(email) => user
            .email
            .as_ref()
            .is_some_and(|e| e.as_str() == email.to_lowercase()),
        DirectoryFilter::DisplayName(name) => user
            .display_name
            .as_ref()
            .is_some_and(|d| d.to_lowercase() == name.to_lowercase()),
    }
}

fn group_matches(group: &DirectoryGroup, filter: &DirectoryFilter) -> bool {
    match filter {
        DirectoryFilter::All => true,
        DirectoryFilter::ExternalId(id) => group.external_id.as_deref() == Some(id.as_str()),
        DirectoryFilter::DisplayName(name) => {
            group.display_name.to_lowercase() == name.to_lowercase()
        }
        DirectoryFilter::UserName(_) | DirectoryFilter::Email(_) => false,
    }
}

fn window<T: Clone>(matching: Vec<&T>, window: Window) -> DirectoryPage<T> {
    DirectoryPage {
        total: matching.len() as u64,
        items: matching
            .into_iter()
            .skip(usize::try_from(window.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(window.count).unwrap_or(usize::MAX))
            .cloned()
            .collect(),
    }
}

/// Oldest first, as PostgreSQL answers (ids are time-ordered).
fn users_of(state: &State, organization: OrganizationId) -> impl Iterator<Item = &DirectoryUser> {
    state
        .directory_users
        .values()
        .filter(move |user| user.organization_id == organization)
}

fn groups_in(state: &State, organization: OrganizationId) -> impl Iterator<Item = &DirectoryGroup> {
    state
        .directory_groups
        .values()
        .filter(move |group| group.organization_id == organization)
}

#[async_trait]
impl DirectoryQueries for MemoryStore {
    async fn directory_user(
        &self,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<Option<DirectoryUser>, StoreError> {
        self.available()?;
        let state = self.lock();
        Ok(users_of(&state, organization).find(|u| u.id == id).cloned())
    }

    async fn directory_users(
        &self,
        organization: OrganizationId,
        filter: &DirectoryFilter,
        range: Window,
    ) -> Result<DirectoryPage<DirectoryUser>, StoreError> {
        self.available()?;
        let state = self.lock();
        let matching = users_of(&state, organization)
            .filter(|u| user_matches(u, filter))
            .collect();
        Ok(window(matching, range))
    }

    async fn directory_group(
        &self,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<Option<DirectoryGroup>, StoreError> {
        self.available()?;
        let state = self.lock();
        Ok(groups_in(&state, organization)
            .find(|g| g.id == id)
            .cloned())
    }

    async fn directory_groups(
        &self,
        organization: OrganizationId,
        filter: &DirectoryFilter,
        range: Window,
        members: bool,
    ) -> Result<DirectoryPage<DirectoryGroup>, StoreError> {
        self.available()?;
        let state = self.lock();
        let matching = groups_in(&state, organization)
            .filter(|g| group_matches(g, filter))
            .collect();
        let mut page = window(matching, range);
        if !members {
            page.items.iter_mut().for_each(|g| g.members.clear());
        }
        Ok(page)
    }

    async fn group_roles(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<GroupRole>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .group_roles
            .get(&organization)
            .cloned()
            .unwrap_or_default())
    }
}

#[async_trait]
impl DirectoryWrites for MemoryUnitOfWork {
    async fn directory_user_locked(
        &mut self,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<Option<DirectoryUser>, StoreError> {
        Ok(users_of(&self.working, organization)
            .find(|u| u.id == id)
            .cloned())
    }

    async fn directory_user_named(
        &mut self,
        organization: OrganizationId,
        user_name: &str,
    ) -> Result<Option<DirectoryUserId>, StoreError> {
        let wanted = DirectoryFilter::UserName(user_name.to_owned());
        Ok(users_of(&self.working, organization)
            .find(|u| user_matches(u, &wanted))
            .map(|u| u.id))
    }

    async fn directory_user_of(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<DirectoryUserId>, StoreError> {
        Ok(users_of(&self.working, organization)
            .find(|u| u.user_id == Some(user))
            .map(|u| u.id))
    }

    async fn save_directory_user(&mut self, user: &DirectoryUser) -> Result<(), StoreError> {
        let name = DirectoryFilter::UserName(user.user_name.clone());
        let taken = users_of(&self.working, user.organization_id).any(|other| {
            other.id != user.id && (user_matches(other, &name) || other.user_id == user.user_id)
        });
        if taken {
            return Err(StoreError::Conflict(Conflict::Other(
                "directory user".into(),
            )));
        }
        self.working.directory_users.insert(user.id, user.clone());
        Ok(())
    }

    async fn delete_directory_user(
        &mut self,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<(), StoreError> {
        self.working
            .directory_users
            .retain(|_, u| u.id != id || u.organization_id != organization);
        for group in self.working.directory_groups.values_mut() {
            if group.organization_id == organization {
                group.members.remove(&id);
            }
        }
        Ok(())
    }

    async fn user_with_email(&mut self, email: &Email) -> Result<Option<UserId>, StoreError> {
        Ok(self
            .working
            .users
            .values()
            .find(|u| u.email.as_ref() == Some(email))
            .map(|u| u.id))
    }

    async fn directory_group_locked(
        &mut self,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<Option<DirectoryGroup>, StoreError> {
        Ok(groups_in(&self.working, organization)
            .find(|g| g.id == id)
            .cloned())
    }

    async fn directory_group_named(
        &mut self,
        organization: OrganizationId,
        name: &str,
    ) -> Result<Option<DirectoryGroupId>, StoreError> {
        let wanted = DirectoryFilter::DisplayName(name.to_owned());
        Ok(groups_in(&self.working, organization)
            .find(|g| group_matches(g, &wanted))
            .map(|g| g.id))
    }

    async fn save_directory_group(&mut self, group: &DirectoryGroup) -> Result<(), StoreError> {
        let name = DirectoryFilter::DisplayName(group.display_name.clone());
        if groups_in(&self.working, group.organization_id)
            .any(|o| o.id != group.id && group_matches(o, &name))
        {
            return Err(StoreError::Conflict(Conflict::Other(
                "directory group".into(),
            )));
        }
        let members = self
            .working
            .directory_groups
            .get(&group.id)
            .map(|g| g.members.clone())
            .unwrap_or_default();
        let mut stored = group.clone();
        stored.members = members;
        self.working.directory_groups.insert(group.id, stored);
        Ok(())
    }

    async fn change_group_members(
        &mut self,
        organization: OrganizationId,
        group: DirectoryGroupId,
        added: &[DirectoryUserId],
        removed: &[DirectoryUserId],
    ) -> Result<(), StoreError> {
        let stored = self
            .working
            .directory_groups
            .get_mut(&group)
            .filter(|g| g.organization_id == organization)
            .ok_or(StoreError::NotFound)?;
        stored.members.extend(added.iter().copied());
        for id in removed {
            stored.members.remove(id);
        }
        Ok(())
    }

    async fn delete_directory_group(
        &mut self,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<(), StoreError> {
        self.working
            .directory_groups
            .retain(|_, g| g.id != id || g.organization_id != organization);
        Ok(())
    }

    async fn known_directory_users(
        &mut self,
        organization: OrganizationId,
        ids: &[DirectoryUserId],
    ) -> Result<Vec<DirectoryUserId>, StoreError> {
        Ok(ids
            .iter()
            .copied()
            .filter(|id| {
                self.working
                    .directory_users
                    .get(id)
                    .is_some_and(|u| u.organization_id == organization)
            })
            .collect())
    }

    async fn groups_of(
        &mut self,
        organization: OrganizationId,
        user: DirectoryUserId,
    ) -> Result<Vec<(DirectoryGroupId, String)>, StoreError> {
        Ok(groups_in(&self.working, organization)
            .filter(|g| g.members.contains(&user))
            .map(|g| (g.id, g.display_name.clone()))
            .collect())
    }

    async fn group_roles_in(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<GroupRole>, StoreError> {
        Ok(self
            .working
            .group_roles
            .get(&organization)
            .cloned()
            .unwrap_or_default())
    }

    async fn set_group_roles(
        &mut self,
        organization: OrganizationId,
        mappings: &[GroupRole],
    ) -> Result<(), StoreError> {
        self.working
            .group_roles
            .insert(organization, mappings.to_vec());
        Ok(())
    }

    async fn active_directory_users(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<(DirectoryUserId, UserId)>, StoreError> {
        Ok(users_of(&self.working, organization)
            .filter(|u| u.active)
            .filter_map(|u| Some((u.id, u.user_id?)))
            .collect())
    }
}

#[async_trait]
impl DirectoryAccountQueue for MemoryStore {
    async fn due_accounts(
        &self,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<(OrganizationId, DirectoryUserId)>, StoreError> {
        self.available()?;
        let now = std::time::Instant::now();
        let mut state = self.lock();
        let due: Vec<(OrganizationId, DirectoryUserId)> = state
            .directory_users
            .values()
            .filter(|u| u.user_id.is_none() && u.email_trusted)
            .filter(|u| {
                state
                    .account_holds
                    .get(&u.id)
                    .is_none_or(|until| *until <= now)
            })
            .take(limit)
            .map(|u| (u.organization_id, u.id))
            .collect();
        for (_, id) in &due {
            state.account_holds.insert(*id, now + lease);
        }
        Ok(due)
    }

    async fn retry_account(
        &self,
        _organization: OrganizationId,
        id: DirectoryUserId,
        after: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.available()?;
        self.lock()
            .account_holds
            .insert(id, std::time::Instant::now() + after);
        Ok(())
    }
}
