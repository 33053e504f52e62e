//! The directory's use cases: a directory (its API key holding
//! `scim:provision`) provisions people and groups; people holding
//! `members:manage` map its groups to roles.
//!
//! | rule | refused with |
//! |---|---|
//! | A person's user name is unique in the organization (case-insensitive), and so is a group's name. | [`OrgError::DirectoryConflict`] |
//! | An address in one of the organization's verified domains is trusted: the orgman user with that address is linked (once per organization), or a new one keeps it. Any other address is stored with the resource only, never used to find or make an account. | [`OrgError::DirectoryConflict`] |
//! | An active person is a member; `active: false` removes the membership (access is revoked at once, as for a removal) and keeps the resource; `active: true` makes them a member again. | — |
//! | A person's roles come from their groups through the organization's mapping: ADMIN if a mapped group gives it, otherwise MEMBER, plus every mapped custom role. A group nothing maps gives nothing. | — |
//! | The directory never makes, removes or changes an OWNER's built-in role: an OWNER keeps it (custom roles still follow the groups), and suspending or deleting an OWNER is refused. | [`OrgError::OwnerRequired`] |
//! | A mapping names ADMIN, MEMBER or a known custom role, and the person setting it could grant that role. | [`OrgError::DirectoryInvalid`], [`OrgError::PermissionNotHeld`] |
//! | A change given a version is refused when the resource has another. | [`OrgError::VersionMismatch`] |

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::directory::model::{
    DirectoryFilter, DirectoryGroup, DirectoryGroupDraft, DirectoryPage, DirectoryUser,
    DirectoryUserDraft, GroupMatch, GroupRole, Window, directory_text, roles_of_groups,
};
use crate::domains::model::DomainName;
use crate::errors::port::IdentityError;
use crate::errors::port::StoreError;
use crate::errors::use_case::OrgError;
use crate::events::event::{DomainEvent, EventKind};
use crate::members::actor::Actor;
use crate::members::custom_role::{MemberRoles, RoleRef, effective_permissions};
use crate::members::permission::Permission;
use crate::members::role::OrgRole;
use crate::organizations::model::Organization;
use crate::organizations::service::{OrganizationService, Standing, write_member_change};
use crate::ports::{DirectoryAccountQueue, DirectoryQueries, IdentityProvider, UnitOfWork};
use crate::roles::service::roles_changed;
use crate::users::model::{NewIdentity, UserProfile};
use crate::values::actor::ActorRef;
use crate::values::id::{
    DirectoryGroupId, DirectoryUserId, EventId, OrganizationId, RequestId, UserId,
};
use crate::values::name::Email;

/// The directory use cases.
pub struct DirectoryService {
    organizations: Arc<OrganizationService>,
    queries: Arc<dyn DirectoryQueries>,
}

impl fmt::Debug for DirectoryService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirectoryService")
    }
}

/// A unit of work in progress: the organization locked, the events so far.
struct Change {
    uow: Box<dyn UnitOfWork>,
    organization: Organization,
    events: Vec<DomainEvent>,
    /// Who the change's events name.
    by: ActorRef,
    request_id: Option<RequestId>,
}

impl DirectoryService {
    /// The use cases.
    pub fn new(
        organizations: Arc<OrganizationService>,
        queries: Arc<dyn DirectoryQueries>,
    ) -> Self {
        Self {
            organizations,
            queries,
        }
    }

    /// One person of the directory (`scim:provision`).
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::DirectoryUserNotFound`], [`OrgError::Unavailable`].
    pub async fn user(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<DirectoryUser, OrgError> {
        self.read_access(actor, organization).await?;
        self.queries
            .directory_user(organization, id)
            .await?
            .ok_or(OrgError::DirectoryUserNotFound)
    }

    /// The people `filter` matches, a window of them (`scim:provision`).
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::Unavailable`].
    pub async fn users(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        filter: &DirectoryFilter,
        window: Window,
    ) -> Result<DirectoryPage<DirectoryUser>, OrgError> {
        self.read_access(actor, organization).await?;
        Ok(self
            .queries
            .directory_users(organization, filter, window)
            .await?)
    }

    /// One group, with its members (`scim:provision`).
    ///
    /// # Errors
    /// As [`DirectoryService::user`], with
    /// [`OrgError::DirectoryGroupNotFound`].
    pub async fn group(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: DirectoryGroupId,
    ) -> Result<DirectoryGroup, OrgError> {
        self.read_access(actor, organization).await?;
        self.queries
            .directory_group(organization, id)
            .await?
            .ok_or(OrgError::DirectoryGroupNotFound)
    }

    /// The groups `filter` matches, a window of them, with their members
    /// if `members` (`scim:provision`).
    ///
    /// # Errors
    /// As [`DirectoryService::users`].
    pub async fn groups(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        filter: &DirectoryFilter,
        window: Window,
        members: bool,
    ) -> Result<DirectoryPage<DirectoryGroup>, OrgError> {
        self.read_access(actor, organization).await?;
        Ok(self
            .queries
            .directory_groups(organization, filter, window, members)
            .await?)
    }

    /// The organization's mapping of directory groups to roles
    /// (`members:read`).
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::Unavailable`].
    pub async fn group_roles(
        &self,
        actor: &Actor,
        organization: OrganizationId,
    ) -> Result<Vec<GroupRole>, OrgError> {
        self.organizations
            .ensure_permission(actor, organization, Permission::MembersRead)
            .await?;
        Ok(self.queries.group_roles(organization).await?)
    }

    async fn read_access(
        &self,
        actor: &Actor,
        organization: OrganizationId,
    ) -> Result<(), OrgError> {
        self.organizations
            .ensure_permission(actor, organization, Permission::ScimProvision)
            .await
    }

    /// Starts a change of the directory of an ACTIVE organization
    /// (`permission`).
    async fn begin(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        permission: Permission,
    ) -> Result<Change, OrgError> {
        self.organizations
            .ensure_changeable(actor, organization, permission)
            .await?;
        let mut change = self.begin_as(organization, actor.reference()).await?;
        change.request_id = actor.request_id();
        Ok(change)
    }

    /// [`DirectoryService::begin`] for a change that only adds (a new
    /// person): the organization held in shared mode, so that a
    /// directory's parallel creates proceed side by side (their names and
    /// people stay unique by the store's constraints), unless it has a
    /// member limit, which only the exclusive lock keeps.
    async fn begin_adding(
        &self,
        actor: &Actor,
        organization: OrganizationId,
    ) -> Result<Change, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::ScimProvision)
            .await?;
        let mut uow = service.ports().organizations.begin().await?;
        let locked = uow
            .lock_organization_shared(organization)
            .await?
            .ok_or(OrgError::NotFound)?;
        if locked.max_members().is_some() {
            drop(uow);
            return self
                .begin(actor, organization, Permission::ScimProvision)
                .await;
        }
        locked.ensure_writable()?;
        Ok(Change {
            uow,
            organization: locked,
            events: Vec::new(),
            by: actor.reference(),
            request_id: actor.request_id(),
        })
    }

    /// Starts a change whose events name `by`, with no permission asked
    /// (the service's own work on a directory client's behalf).
    async fn begin_as(
        &self,
        organization: OrganizationId,
        by: ActorRef,
    ) -> Result<Change, OrgError> {
        let (uow, locked) = self.organizations.begin_locked(organization).await?;
        locked.ensure_writable()?;
        Ok(Change {
            uow,
            organization: locked,
            events: Vec::new(),
            by,
            request_id: None,
        })
    }

    async fn finish(&self, change: Change) -> Result<(), OrgError> {
        self.organizations
            .record(change.uow, &change.events)
            .await
            .map_err(committed_conflict)
    }

    fn event(&self, change: &mut Change, kind: EventKind) {
        let ports = self.organizations.ports();
        change.events.push(DomainEvent {
            id: EventId::from_uuid(ports.ids.new_id()),
            occurred_at: ports.clock.now(),
            organization_id: change.organization.id(),
            actor: Some(change.by.id),
            actor_kind: change.by.kind,
            request_id: change.request_id,
            schema_version: DomainEvent::SCHEMA_VERSION,
            kind,
        });
    }

    /// Provisions a person: links the orgman user of a trusted address or
    /// makes one, and, if active, makes them a member.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::ReadOnly`], [`OrgError::DirectoryConflict`],
    /// [`OrgError::Invalid`], [`OrgError::MemberLimitReached`],
    /// [`OrgError::Unavailable`].
    pub async fn create_user(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        draft: DirectoryUserDraft,
    ) -> Result<DirectoryUser, OrgError> {
        let user_name = directory_text("userName", &draft.user_name)?;
        let mut change = self.begin_adding(actor, organization).await?;
        if change
            .uow
            .directory_user_named(organization, &user_name)
            .await?
            .is_some()
        {
            return Err(taken("userName"));
        }
        let trusted = self.trusted(&mut change, draft.email.as_ref()).await?;
        let (user_id, linked) = self.person(&mut change, &draft, trusted).await?;
        let now = self.organizations.ports().clock.now();
        let user = DirectoryUser {
            id: DirectoryUserId::from_uuid(self.organizations.ports().ids.new_id()),
            organization_id: organization,
            user_id,
            user_name,
            external_id: draft.external_id,
            active: draft.active,
            email: draft.email,
            email_trusted: trusted,
            display_name: draft.display_name,
            attributes: draft.attributes,
            created_by: change.by,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        change
            .uow
            .save_directory_user(&user)
            .await
            .map_err(conflict)?;
        let kind = EventKind::DirectoryUserProvisioned {
            directory_user_id: user.id,
            user_id,
            active: user.active,
            linked,
        };
        self.event(&mut change, kind);
        if user.active {
            self.admit(&mut change, &user).await?;
        }
        self.finish(change).await?;
        Ok(user)
    }

    /// Whether `email` is in one of the organization's verified domains.
    async fn trusted(&self, change: &mut Change, email: Option<&Email>) -> Result<bool, OrgError> {
        let Some(name) = email.and_then(|e| DomainName::parse(e.domain()).ok()) else {
            return Ok(false);
        };
        let domain = change.uow.domain(change.organization.id(), &name).await?;
        Ok(domain.is_some_and(|d| d.verified_at.is_some()))
    }

    /// The orgman user a new directory person is: the one a trusted
    /// address names (linked); none yet for a trusted address nobody has
    /// (their account is made off the request, [`DirectoryService::open_accounts`]);
    /// else a user of the directory's only, who has no account to sign in
    /// with (an untrusted address never reaches the identity provider).
    async fn person(
        &self,
        change: &mut Change,
        draft: &DirectoryUserDraft,
        trusted: bool,
    ) -> Result<(Option<UserId>, bool), OrgError> {
        let organization = change.organization.id();
        let email = draft.email.as_ref().filter(|_| trusted);
        if let Some(email) = email {
            if let Some(existing) = change.uow.user_with_email(email).await? {
                if change
                    .uow
                    .directory_user_of(organization, existing)
                    .await?
                    .is_some()
                {
                    return Err(OrgError::DirectoryConflict(
                        "the directory already has a person with this address".into(),
                    ));
                }
                return Ok((Some(existing), true));
            }
            return Ok((None, false));
        }
        let id = UserId::from_uuid(self.organizations.ports().ids.new_id());
        // No account: the subject is a placeholder no token carries.
        let profile = UserProfile {
            id,
            subject: format!("directory:{id}"),
            email: None,
            display_name: draft.display_name.clone(),
            given_name: None,
            family_name: None,
        };
        change
            .uow
            .insert_user_if_new(&profile)
            .await
            .map_err(conflict)?;
        Ok((Some(id), false))
    }

    /// Makes an active directory person a member, with their groups' roles
    /// (a linked person who is a member already keeps their membership,
    /// then follows their groups).
    async fn admit(&self, change: &mut Change, user: &DirectoryUser) -> Result<(), OrgError> {
        let Some(user_id) = user.user_id else {
            // A member once their account is made.
            return Ok(());
        };
        let organization = change.organization.id();
        if change
            .uow
            .membership(organization, user_id)
            .await?
            .is_some()
        {
            return self.follow_groups(change, user.id, user_id).await;
        }
        let roles = self.roles_of(change, user.id).await?;
        let now = self.organizations.ports().clock.now();
        let (_, kind) = write_member_change(
            &mut *change.uow,
            &change.organization,
            user_id,
            None,
            Some(roles.role),
            now,
        )
        .await?;
        self.event(change, kind);
        if !roles.custom.is_empty() {
            change
                .uow
                .set_member_custom_roles(organization, user_id, &roles.custom)
                .await?;
            let kind = roles_changed(user_id, &roles.custom, &BTreeSet::new());
            self.event(change, kind);
        }
        Ok(())
    }

    /// The roles a directory person's groups give, custom roles the
    /// organization no longer has left out.
    async fn roles_of(
        &self,
        change: &mut Change,
        user: DirectoryUserId,
    ) -> Result<MemberRoles, OrgError> {
        let organization = change.organization.id();
        let mappings = change.uow.group_roles_in(organization).await?;
        if mappings.is_empty() {
            return Ok(MemberRoles::built_in(OrgRole::Member));
        }
        let groups = change.uow.groups_of(organization, user).await?;
        let mut roles = roles_of_groups(
            groups.iter().map(|(id, name)| (*id, name.as_str())),
            &mappings,
        );
        if !roles.custom.is_empty() {
            let known = change
                .uow
                .custom_roles_of(organization, &roles.custom)
                .await?;
            roles
                .custom
                .retain(|key| known.iter().any(|role| role.key == *key));
            while roles.custom.len() > MemberRoles::MAX_CUSTOM {
                roles.custom.pop_last();
            }
        }
        Ok(roles)
    }

    /// Brings a member's roles to what their groups give (an OWNER keeps
    /// the built-in role).
    async fn follow_groups(
        &self,
        change: &mut Change,
        id: DirectoryUserId,
        user: UserId,
    ) -> Result<(), OrgError> {
        let organization = change.organization.id();
        let Some(mut membership) = change.uow.membership(organization, user).await? else {
            return Ok(());
        };
        let mut roles = self.roles_of(change, id).await?;
        if membership.role == OrgRole::Owner {
            roles.role = OrgRole::Owner;
        }
        if membership.role != roles.role {
            let from = membership.role;
            membership.role = roles.role;
            membership.updated_at = self.organizations.ports().clock.now();
            change.uow.update_membership(&membership).await?;
            let kind = EventKind::MemberRoleChanged {
                user_id: user,
                from,
                to: roles.role,
            };
            self.event(change, kind);
        }
        if membership.custom_roles != roles.custom {
            change
                .uow
                .set_member_custom_roles(organization, user, &roles.custom)
                .await?;
            let kind = roles_changed(user, &roles.custom, &membership.custom_roles);
            self.event(change, kind);
        }
        Ok(())
    }

    /// Replaces what the directory says of a person; a change of `active`
    /// suspends or restores the membership.
    ///
    /// # Errors
    /// As [`DirectoryService::create_user`], and
    /// [`OrgError::DirectoryUserNotFound`], [`OrgError::VersionMismatch`],
    /// [`OrgError::OwnerRequired`] (suspending an OWNER),
    /// [`OrgError::LastOwner`].
    pub async fn replace_user(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: DirectoryUserId,
        draft: DirectoryUserDraft,
        expected: Option<u64>,
    ) -> Result<DirectoryUser, OrgError> {
        let replaced = self
            .update_user(actor, organization, id, expected, |_| {
                Ok::<_, std::convert::Infallible>(draft)
            })
            .await?;
        Ok(replaced.unwrap_or_else(|never| match never {}))
    }

    /// [`DirectoryService::replace_user`] with the new draft worked out
    /// from the person as they are, inside the unit of work that holds
    /// them (a PATCH): no other change comes between the read and the
    /// write. `change_with` may refuse with an error of its own, which is
    /// answered as it is (the outer result) and changes nothing.
    ///
    /// # Errors
    /// As [`DirectoryService::replace_user`].
    pub async fn update_user<E>(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: DirectoryUserId,
        expected: Option<u64>,
        change_with: impl FnOnce(&DirectoryUser) -> Result<DirectoryUserDraft, E> + Send,
    ) -> Result<Result<DirectoryUser, E>, OrgError> {
        let mut change = self
            .begin(actor, organization, Permission::ScimProvision)
            .await?;
        let current = locked_user(&mut change, id, expected).await?;
        let draft = match change_with(&current) {
            Ok(draft) => draft,
            Err(refused) => return Ok(Err(refused)),
        };
        let user_name = directory_text("userName", &draft.user_name)?;
        let renamed = user_name.to_lowercase() != current.user_name.to_lowercase();
        if renamed {
            if let Some(other) = change
                .uow
                .directory_user_named(organization, &user_name)
                .await?
            {
                if other != id {
                    return Err(taken("userName"));
                }
            }
        }
        // Trust matters until the person is a user: read again then, or
        // when the address changed.
        let trusted = if draft.email == current.email && current.user_id.is_some() {
            current.email_trusted
        } else {
            self.trusted(&mut change, draft.email.as_ref()).await?
        };
        // A person waiting for an account whose address is no longer
        // trusted gets none: a user of the directory's, at once.
        let user_id = match current.user_id {
            None if !trusted => self.person(&mut change, &draft, false).await?.0,
            known => known,
        };
        let user = DirectoryUser {
            user_id,
            user_name,
            external_id: draft.external_id,
            active: draft.active,
            email: draft.email,
            email_trusted: trusted,
            display_name: draft.display_name,
            attributes: draft.attributes,
            version: current.version + 1,
            updated_at: self.organizations.ports().clock.now(),
            ..current.clone()
        };
        let now_a_user = current.user_id.is_none() && user.user_id.is_some();
        if current.active && !user.active {
            self.suspend(&mut change, user.user_id).await?;
        } else if user.active && (!current.active || now_a_user) {
            self.admit(&mut change, &user).await?;
        }
        change
            .uow
            .save_directory_user(&user)
            .await
            .map_err(conflict)?;
        let kind = EventKind::DirectoryUserUpdated {
            directory_user_id: id,
            user_id: user.user_id,
            active: user.active,
        };
        self.event(&mut change, kind);
        self.finish(change).await?;
        Ok(Ok(user))
    }

    /// Takes a person's membership away (if they have one); an OWNER's is
    /// the organization's own to take.
    async fn suspend(&self, change: &mut Change, user: Option<UserId>) -> Result<(), OrgError> {
        let organization = change.organization.id();
        let Some(user) = user else {
            return Ok(());
        };
        let Some(membership) = change.uow.membership(organization, user).await? else {
            return Ok(());
        };
        if membership.role == OrgRole::Owner {
            return Err(OrgError::OwnerRequired);
        }
        let now = self.organizations.ports().clock.now();
        let (_, kind) = write_member_change(
            &mut *change.uow,
            &change.organization,
            user,
            Some(membership),
            None,
            now,
        )
        .await?;
        self.event(change, kind);
        Ok(())
    }

    /// Deletes a person: their membership and the resource.
    ///
    /// # Errors
    /// As [`DirectoryService::replace_user`].
    pub async fn delete_user(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: DirectoryUserId,
        expected: Option<u64>,
    ) -> Result<(), OrgError> {
        let mut change = self
            .begin(actor, organization, Permission::ScimProvision)
            .await?;
        let current = locked_user(&mut change, id, expected).await?;
        self.suspend(&mut change, current.user_id).await?;
        change.uow.delete_directory_user(organization, id).await?;
        let kind = EventKind::DirectoryUserDeprovisioned {
            directory_user_id: id,
            user_id: current.user_id,
        };
        self.event(&mut change, kind);
        self.finish(change).await
    }

    /// Creates a group with its members; members of a mapped group hold
    /// its role.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::ReadOnly`], [`OrgError::DirectoryConflict`],
    /// [`OrgError::DirectoryInvalid`] (an unknown member),
    /// [`OrgError::Invalid`], [`OrgError::Unavailable`].
    pub async fn create_group(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        draft: DirectoryGroupDraft,
    ) -> Result<DirectoryGroup, OrgError> {
        let display_name = directory_text("displayName", &draft.display_name)?;
        let mut change = self
            .begin(actor, organization, Permission::ScimProvision)
            .await?;
        if change
            .uow
            .directory_group_named(organization, &display_name)
            .await?
            .is_some()
        {
            return Err(taken("displayName"));
        }
        known_members(&mut change, &draft.members).await?;
        let now = self.organizations.ports().clock.now();
        let group = DirectoryGroup {
            id: DirectoryGroupId::from_uuid(self.organizations.ports().ids.new_id()),
            organization_id: organization,
            display_name,
            external_id: draft.external_id,
            members: draft.members,
            attributes: draft.attributes,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        change
            .uow
            .save_directory_group(&group)
            .await
            .map_err(conflict)?;
        let added: Vec<DirectoryUserId> = group.members.iter().copied().collect();
        change
            .uow
            .change_group_members(organization, group.id, &added, &[])
            .await?;
        let kind = EventKind::DirectoryGroupCreated {
            group_id: group.id,
            members: count(added.len()),
        };
        self.event(&mut change, kind);
        if self.mapped(&mut change, &group, None).await? {
            self.recompute(&mut change, &added).await?;
        }
        self.finish(change).await?;
        Ok(group)
    }

    /// Replaces a group's name and members; the roles of those whose
    /// groups now give something else change with it.
    ///
    /// # Errors
    /// As [`DirectoryService::create_group`], and
    /// [`OrgError::DirectoryGroupNotFound`], [`OrgError::VersionMismatch`].
    pub async fn replace_group(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: DirectoryGroupId,
        draft: DirectoryGroupDraft,
        expected: Option<u64>,
    ) -> Result<DirectoryGroup, OrgError> {
        let replaced = self
            .update_group(actor, organization, id, expected, |_| {
                Ok::<_, std::convert::Infallible>(draft)
            })
            .await?;
        Ok(replaced.unwrap_or_else(|never| match never {}))
    }

    /// [`DirectoryService::replace_group`] with the new draft worked out
    /// from the group as it is, inside the unit of work that holds it, as
    /// [`DirectoryService::update_user`] does for a person.
    ///
    /// # Errors
    /// As [`DirectoryService::replace_group`].
    pub async fn update_group<E>(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: DirectoryGroupId,
        expected: Option<u64>,
        change_with: impl FnOnce(&DirectoryGroup) -> Result<DirectoryGroupDraft, E> + Send,
    ) -> Result<Result<DirectoryGroup, E>, OrgError> {
        let mut change = self
            .begin(actor, organization, Permission::ScimProvision)
            .await?;
        let current = locked_group(&mut change, id, expected).await?;
        let draft = match change_with(&current) {
            Ok(draft) => draft,
            Err(refused) => return Ok(Err(refused)),
        };
        let display_name = directory_text("displayName", &draft.display_name)?;
        if let Some(other) = change
            .uow
            .directory_group_named(organization, &display_name)
            .await?
        {
            if other != id {
                return Err(taken("displayName"));
            }
        }
        known_members(&mut change, &draft.members).await?;
        let added: Vec<DirectoryUserId> = draft
            .members
            .difference(&current.members)
            .copied()
            .collect();
        let removed: Vec<DirectoryUserId> = current
            .members
            .difference(&draft.members)
            .copied()
            .collect();
        let group = DirectoryGroup {
            display_name,
            external_id: draft.external_id,
            members: draft.members,
            attributes: draft.attributes,
            version: current.version + 1,
            updated_at: self.organizations.ports().clock.now(),
            ..current.clone()
        };
        change
            .uow
            .save_directory_group(&group)
            .await
            .map_err(conflict)?;
        change
            .uow
            .change_group_members(organization, id, &added, &removed)
            .await?;
        let kind = EventKind::DirectoryGroupUpdated {
            group_id: id,
            members_added: count(added.len()),
            members_removed: count(removed.len()),
        };
        self.event(&mut change, kind);
        if self
            .mapped(&mut change, &group, Some(&current.display_name))
            .await?
        {
            let renamed = !group
                .display_name
                .eq_ignore_ascii_case(&current.display_name);
            let affected: Vec<DirectoryUserId> = if renamed {
                group.members.union(&current.members).copied().collect()
            } else {
                added.iter().chain(&removed).copied().collect()
            };
            self.recompute(&mut change, &affected).await?;
        }
        self.finish(change).await?;
        Ok(Ok(group))
    }

    /// Deletes a group; its members lose what it gave.
    ///
    /// # Errors
    /// As [`DirectoryService::replace_group`].
    pub async fn delete_group(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: DirectoryGroupId,
        expected: Option<u64>,
    ) -> Result<(), OrgError> {
        let mut change = self
            .begin(actor, organization, Permission::ScimProvision)
            .await?;
        let current = locked_group(&mut change, id, expected).await?;
        let mapped = self.mapped(&mut change, &current, None).await?;
        change.uow.delete_directory_group(organization, id).await?;
        self.event(
            &mut change,
            EventKind::DirectoryGroupDeleted { group_id: id },
        );
        if mapped {
            let members: Vec<DirectoryUserId> = current.members.iter().copied().collect();
            self.recompute(&mut change, &members).await?;
        }
        self.finish(change).await
    }

    /// Whether a mapping names the group (by its id, its name, or the
    /// name it had).
    async fn mapped(
        &self,
        change: &mut Change,
        group: &DirectoryGroup,
        old_name: Option<&str>,
    ) -> Result<bool, OrgError> {
        let mappings = change.uow.group_roles_in(change.organization.id()).await?;
        Ok(mappings.iter().any(|m| {
            m.group.matches(group.id, &group.display_name)
                || old_name.is_some_and(|name| m.group.matches(group.id, name))
        }))
    }

    /// Brings the roles of `people` (those active) to what their groups
    /// give.
    async fn recompute(
        &self,
        change: &mut Change,
        people: &[DirectoryUserId],
    ) -> Result<(), OrgError> {
        let organization = change.organization.id();
        for id in people {
            let Some(user) = change.uow.directory_user_locked(organization, *id).await? else {
                continue;
            };
            if let (true, Some(user_id)) = (user.active, user.user_id) {
                self.follow_groups(change, user.id, user_id).await?;
            }
        }
        Ok(())
    }

    /// Replaces the organization's mapping of directory groups to roles
    /// (`members:manage`); every active directory person's roles follow.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::ReadOnly`], [`OrgError::DirectoryInvalid`] (OWNER, an
    /// unknown role, too many mappings),
    /// [`OrgError::PermissionNotHeld`], [`OrgError::Unavailable`].
    pub async fn set_group_roles(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        mappings: Vec<GroupRole>,
    ) -> Result<Vec<GroupRole>, OrgError> {
        let mappings: Vec<GroupRole> = mappings
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if mappings.len() > GroupRole::MAX {
            return Err(OrgError::DirectoryInvalid(format!(
                "at most {} mappings",
                GroupRole::MAX
            )));
        }
        let mut change = self
            .begin(actor, organization, Permission::MembersManage)
            .await?;
        self.check_mapped_roles(&mut change, actor, &mappings)
            .await?;
        change.uow.set_group_roles(organization, &mappings).await?;
        let kind = EventKind::DirectoryGroupRolesChanged {
            mappings: count(mappings.len()),
        };
        self.event(&mut change, kind);
        let people = change.uow.active_directory_users(organization).await?;
        for (id, user) in people {
            self.follow_groups(&mut change, id, user).await?;
        }
        self.finish(change).await?;
        Ok(mappings)
    }

    /// A mapping gives ADMIN, MEMBER or a known custom role, each one the
    /// actor could grant.
    async fn check_mapped_roles(
        &self,
        change: &mut Change,
        actor: &Actor,
        mappings: &[GroupRole],
    ) -> Result<(), OrgError> {
        let organization = change.organization.id();
        let mut wanted = MemberRoles::built_in(OrgRole::Member);
        for mapping in mappings {
            match &mapping.role {
                RoleRef::BuiltIn(OrgRole::Owner) => {
                    return Err(OrgError::DirectoryInvalid(
                        "a directory group cannot make OWNERs".into(),
                    ));
                }
                RoleRef::BuiltIn(OrgRole::Admin) => wanted.role = OrgRole::Admin,
                RoleRef::BuiltIn(_) => {}
                RoleRef::Custom(key) => {
                    wanted.custom.insert(key.clone());
                }
            }
            if let GroupMatch::Name(name) = &mapping.group {
                directory_text("group", name)?;
            }
        }
        let known = change
            .uow
            .custom_roles_of(organization, &wanted.custom)
            .await?;
        if let Some(unknown) = wanted
            .custom
            .iter()
            .find(|k| !known.iter().any(|r| r.key == **k))
        {
            return Err(OrgError::DirectoryInvalid(format!("no role `{unknown}`")));
        }
        let standing = Standing::of_actor(&mut *change.uow, organization, actor).await?;
        standing.check_grants(actor, &effective_permissions(wanted.role, &known))
    }
}

/// Where and how [`DirectoryService::open_accounts`] makes accounts.
pub struct DirectoryAccounts {
    /// The people waiting for one.
    pub queue: Arc<dyn DirectoryAccountQueue>,
    /// The identity provider the accounts are made at.
    pub identity: Arc<dyn IdentityProvider>,
    /// Most people taken in one round.
    pub batch: usize,
    /// How long a worker holds the people it took.
    pub lease: std::time::Duration,
    /// How long after a failure a person's account is tried again.
    pub retry: std::time::Duration,
}

impl fmt::Debug for DirectoryAccounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectoryAccounts")
            .field("batch", &self.batch)
            .field("lease", &self.lease)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// What a round of [`DirectoryService::open_accounts`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountsReport {
    /// People given their account (and, if active, their membership).
    pub opened: usize,
    /// People whose account failed, to be tried again.
    pub failed: usize,
    /// The last failure, for the logs.
    pub last_failure: Option<String>,
}

impl DirectoryService {
    /// Makes the accounts of directory people with a trusted address whom
    /// orgman did not know: the identity provider's account of that
    /// address, else a new one without a password (the organization's
    /// provider links to it at the person's first login). The person is
    /// then that user and, if active, a member with their groups' roles;
    /// the events name the directory client that provisioned them. A
    /// failure (the provider down, the organization not ACTIVE) puts the
    /// person back for [`DirectoryAccounts::retry`].
    ///
    /// # Errors
    /// [`OrgError::Unavailable`] when the queue cannot be read.
    pub async fn open_accounts(
        &self,
        accounts: &DirectoryAccounts,
    ) -> Result<AccountsReport, OrgError> {
        let due = accounts
            .queue
            .due_accounts(accounts.batch, accounts.lease)
            .await?;
        let mut report = AccountsReport::default();
        for (organization, id) in due {
            match self.open_account(accounts, organization, id).await {
                Ok(true) => report.opened += 1,
                Ok(false) => {}
                Err(error) => {
                    report.failed += 1;
                    report.last_failure = Some(error.to_string());
                    accounts
                        .queue
                        .retry_account(organization, id, accounts.retry)
                        .await?;
                }
            }
        }
        Ok(report)
    }

    async fn open_account(
        &self,
        accounts: &DirectoryAccounts,
        organization: OrganizationId,
        id: DirectoryUserId,
    ) -> Result<bool, OrgError> {
        let Some(waiting) = self.queries.directory_user(organization, id).await? else {
            return Ok(false);
        };
        let Some(email) = waiting.email.clone().filter(|_| waiting.email_trusted) else {
            return Ok(false);
        };
        if waiting.user_id.is_some() {
            return Ok(false);
        }
        let subject = account_of(&*accounts.identity, &email).await?;
        let account = subject.parse::<UserId>().map_err(|_| {
            OrgError::Internal(format!("identity provider id {subject:?} is not a UUID"))
        })?;
        let mut change = self.begin_as(organization, waiting.created_by).await?;
        let Some(mut user) = change.uow.directory_user_locked(organization, id).await? else {
            return Ok(false);
        };
        if user.user_id.is_some() {
            return Ok(false);
        }
        if change
            .uow
            .directory_user_of(organization, account)
            .await?
            .is_some()
        {
            return Err(OrgError::DirectoryConflict(
                "the directory already has a person with this account".into(),
            ));
        }
        let profile = UserProfile {
            id: account,
            subject,
            email: Some(email),
            display_name: user.display_name.clone(),
            given_name: None,
            family_name: None,
        };
        change.uow.insert_user_if_new(&profile).await?;
        user.user_id = Some(account);
        user.version += 1;
        user.updated_at = self.organizations.ports().clock.now();
        change
            .uow
            .save_directory_user(&user)
            .await
            .map_err(conflict)?;
        let kind = EventKind::DirectoryUserUpdated {
            directory_user_id: id,
            user_id: user.user_id,
            active: user.active,
        };
        self.event(&mut change, kind);
        if user.active {
            self.admit(&mut change, &user).await?;
        }
        self.finish(change).await?;
        Ok(true)
    }
}

/// The subject of the identity provider's account of `email`: the one
/// that exists, else a new one without a password.
async fn account_of(identity: &dyn IdentityProvider, email: &Email) -> Result<String, OrgError> {
    if let Some(found) = identity.find_by_email(email).await? {
        return Ok(found.subject);
    }
    let new = NewIdentity {
        email: email.clone(),
        first_name: None,
        last_name: None,
        password: None,
        set_up_by_user: false,
    };
    match identity.register(&new).await {
        Ok(made) => Ok(made.subject),
        // Made meanwhile (by a login, or another worker): that one.
        Err(IdentityError::Conflict) => identity
            .find_by_email(email)
            .await?
            .map(|found| found.subject)
            .ok_or_else(|| OrgError::Unavailable("the account vanished while it was made".into())),
        Err(error) => Err(error.into()),
    }
}

/// The person `id`, locked, at the version the caller expects.
async fn locked_user(
    change: &mut Change,
    id: DirectoryUserId,
    expected: Option<u64>,
) -> Result<DirectoryUser, OrgError> {
    let user = change
        .uow
        .directory_user_locked(change.organization.id(), id)
        .await?
        .ok_or(OrgError::DirectoryUserNotFound)?;
    check_version(user.version, expected)?;
    Ok(user)
}

/// The group `id`, locked, at the version the caller expects.
async fn locked_group(
    change: &mut Change,
    id: DirectoryGroupId,
    expected: Option<u64>,
) -> Result<DirectoryGroup, OrgError> {
    let group = change
        .uow
        .directory_group_locked(change.organization.id(), id)
        .await?
        .ok_or(OrgError::DirectoryGroupNotFound)?;
    check_version(group.version, expected)?;
    Ok(group)
}

fn check_version(actual: u64, expected: Option<u64>) -> Result<(), OrgError> {
    match expected {
        Some(expected) if expected != actual => Err(OrgError::VersionMismatch { expected, actual }),
        _ => Ok(()),
    }
}

/// Every member given is a person of the directory.
async fn known_members(
    change: &mut Change,
    members: &BTreeSet<DirectoryUserId>,
) -> Result<(), OrgError> {
    if members.is_empty() {
        return Ok(());
    }
    let wanted: Vec<DirectoryUserId> = members.iter().copied().collect();
    let known = change
        .uow
        .known_directory_users(change.organization.id(), &wanted)
        .await?;
    match wanted.iter().find(|id| !known.contains(id)) {
        Some(unknown) => Err(OrgError::DirectoryInvalid(format!(
            "no directory user `{unknown}`"
        ))),
        None => Ok(()),
    }
}

fn taken(attribute: &str) -> OrgError {
    OrgError::DirectoryConflict(format!("another resource has this `{attribute}`"))
}

/// A uniqueness rule broken at write time (a concurrent request won) is
/// the directory's conflict.
fn conflict(error: StoreError) -> OrgError {
    match error {
        StoreError::Conflict(_) => {
            OrgError::DirectoryConflict("a concurrent change holds this value".into())
        }
        other => other.into(),
    }
}

/// [`conflict`], for a commit's error.
fn committed_conflict(error: OrgError) -> OrgError {
    match error {
        OrgError::Internal(detail) if detail.starts_with("conflict") => {
            OrgError::DirectoryConflict("a concurrent change holds this value".into())
        }
        other => other,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
