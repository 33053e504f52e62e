//! The permission catalog, the organizations' custom roles, and the roles
//! members hold: the use cases, with the no-escalation rule.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::errors::port::StoreError;
use crate::errors::use_case::OrgError;
use crate::events::event::EventKind;
use crate::members::actor::Actor;
use crate::members::custom_role::{
    CatalogPermission, CustomRole, MemberRoles, RoleDraft, RoleKey, effective_permissions,
};
use crate::members::permission::{Permission, PermissionName};
use crate::members::rules::{MemberChange, Membership, check_member_change};
use crate::organizations::service::{
    OrganizationService, Standing, access_in, check_grants_in, write_member_change,
};
use crate::ports::{RoleQueries, UnitOfWork};
use crate::values::id::{OrganizationId, UserId};

/// A change to a custom role: each field given replaces the stored one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolePatch {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new set of permissions.
    pub permissions: Option<BTreeSet<PermissionName>>,
}

/// One question of the check API: does `user` (the caller when `None`)
/// hold `permission` in `organization`?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionCheck {
    /// The organization.
    pub organization: OrganizationId,
    /// A catalog name.
    pub permission: PermissionName,
    /// Whom to ask about; the caller when `None`.
    pub user: Option<UserId>,
}

/// Whose permissions a caller of the check API may ask about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckScope {
    /// Only their own.
    Own,
    /// Anyone's: a platform service with the grant to ask (the HTTP edge
    /// names it), or a platform administrator.
    AnyUser,
}

/// Why a check answered "no".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The user is not a member of the organization (or it does not exist).
    NotAMember,
    /// The user is a member, and none of their roles grants it.
    NotHeld,
    /// The catalog does not list the permission.
    UnknownPermission,
    /// The caller may not ask about other users.
    NotPermittedToAsk,
}

impl Denial {
    /// The stable reason code of the check API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Denial::NotAMember => "not-a-member",
            Denial::NotHeld => "not-held",
            Denial::UnknownPermission => "unknown-permission",
            Denial::NotPermittedToAsk => "not-permitted-to-ask",
        }
    }
}

/// The catalog and role use cases.
///
/// | rule | refused with |
/// |---|---|
/// | Everyone signed in reads the catalog; platform administrators register and delete permissions. orgman's own are fixed. | [`OrgError::PlatformAdminRequired`], [`OrgError::PermissionBuiltIn`] |
/// | A permission roles still grant is deleted only when forced, and is then taken from them (an `organization.role.updated` each). | [`OrgError::PermissionInUse`] |
/// | Members read the organization's roles; holders of `roles:manage` define, edit and delete them, in an ACTIVE organization. | [`OrgError::Forbidden`], [`OrgError::ReadOnly`] |
/// | A role grants only permissions of the catalog. | [`OrgError::UnknownPermission`] |
/// | Nobody grants a permission they do not hold: not to a role they define or edit, not to a member through a role. | [`OrgError::PermissionNotHeld`] |
/// | A role members hold is deleted only with a replacement role, which its holders get instead. | [`OrgError::RoleInUse`] |
/// | Platform administrators define, edit and delete platform roles (the scope [`OrganizationId::PLATFORM`]); every organization's members may hold them, and everyone signed in reads them. An organization cannot edit them. | [`OrgError::PlatformAdminRequired`], [`OrgError::RoleOfPlatform`] |
/// | A key names one role in each organization: an organization cannot take a platform role's key, nor a platform role a key an organization uses. | [`OrgError::RoleExists`] |
/// | Holders of `members:manage` set a member's roles; the OWNER rules and the last-owner rule of the built-in role hold as for a role change. | [`OrgError::Forbidden`], [`OrgError::OwnerRequired`], [`OrgError::LastOwner`] |
pub struct RoleService {
    organizations: Arc<OrganizationService>,
    roles: Arc<dyn RoleQueries>,
}

impl fmt::Debug for RoleService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoleService")
    }
}

impl RoleService {
    /// Most custom roles one organization defines.
    pub const MAX_PER_ORGANIZATION: u64 = 50;

    /// The use cases over `roles` and the organizations' service.
    pub fn new(organizations: Arc<OrganizationService>, roles: Arc<dyn RoleQueries>) -> Self {
        Self {
            organizations,
            roles,
        }
    }

    /// The whole catalog: orgman's own permissions, then the registered
    /// ones by name.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn catalog(&self) -> Result<Vec<CatalogPermission>, OrgError> {
        let mut catalog = CatalogPermission::built_in();
        catalog.extend(self.roles.registered_permissions().await?);
        Ok(catalog)
    }

    /// Registers a permission, or changes its description; `true` when it
    /// is new. Platform administrators only.
    ///
    /// # Errors
    /// [`OrgError::PlatformAdminRequired`], [`OrgError::PermissionBuiltIn`],
    /// [`OrgError::Unavailable`].
    pub async fn register_permission(
        &self,
        actor: &Actor,
        permission: CatalogPermission,
    ) -> Result<bool, OrgError> {
        platform_admin(actor)?;
        refuse_built_in(&permission.name)?;
        let mut uow = self.organizations.ports().organizations.begin().await?;
        uow.lock_catalog(true).await?;
        let existing = uow.registered_permission(&permission.name).await?;
        if existing.as_ref() == Some(&permission) {
            return Ok(false);
        }
        uow.upsert_permission(&permission).await?;
        uow.commit().await?;
        Ok(existing.is_none())
    }

    /// Deletes a registered permission. With `force`, the roles that grant
    /// it lose it first. Platform administrators only.
    ///
    /// # Errors
    /// [`OrgError::PlatformAdminRequired`], [`OrgError::PermissionBuiltIn`],
    /// [`OrgError::PermissionNotFound`], [`OrgError::PermissionInUse`],
    /// [`OrgError::Unavailable`].
    pub async fn delete_permission(
        &self,
        actor: &Actor,
        name: &PermissionName,
        force: bool,
    ) -> Result<(), OrgError> {
        platform_admin(actor)?;
        refuse_built_in(name)?;
        let service = &*self.organizations;
        let mut uow = service.ports().organizations.begin().await?;
        uow.lock_catalog(true).await?;
        if uow.registered_permission(name).await?.is_none() {
            return Err(OrgError::PermissionNotFound);
        }
        let granting = uow.roles_granting(name).await?;
        if !granting.is_empty() && !force {
            return Err(OrgError::PermissionInUse {
                roles: granting.len() as u64,
            });
        }
        let now = service.ports().clock.now();
        let mut events = Vec::with_capacity(granting.len());
        for mut role in granting {
            role.permissions.remove(name);
            role.updated_at = now;
            uow.update_custom_role(&role).await?;
            events.push(service.event(
                role.organization_id,
                Some(actor),
                updated(&role, vec![name.clone()]),
            ));
        }
        uow.delete_permission(name).await?;
        service.record(uow, &events).await
    }

    /// The organization's custom roles and the platform roles, for its
    /// members; the platform roles alone, for everyone, with
    /// [`OrganizationId::PLATFORM`].
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Unavailable`].
    pub async fn list(
        &self,
        actor: &Actor,
        organization: OrganizationId,
    ) -> Result<Vec<CustomRole>, OrgError> {
        if organization.is_platform() {
            return Ok(self.roles.custom_roles(organization).await?);
        }
        self.organizations
            .ensure_permission(actor, organization, Permission::OrganizationRead)
            .await?;
        Ok(self.roles.custom_roles(organization).await?)
    }

    /// One custom role, for the organization's members.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::RoleNotFound`],
    /// [`OrgError::Unavailable`].
    pub async fn get(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<CustomRole, OrgError> {
        self.list(actor, organization)
            .await?
            .into_iter()
            .find(|role| role.key == *key)
            .ok_or(OrgError::RoleNotFound)
    }

    /// Defines a custom role; a platform role with
    /// [`OrganizationId::PLATFORM`].
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::PlatformAdminRequired`],
    /// [`OrgError::ReadOnly`], [`OrgError::RoleExists`],
    /// [`OrgError::RoleLimitReached`], [`OrgError::UnknownPermission`],
    /// [`OrgError::PermissionNotHeld`], [`OrgError::Unavailable`].
    pub async fn create(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        key: RoleKey,
        draft: RoleDraft,
    ) -> Result<CustomRole, OrgError> {
        let service = &*self.organizations;
        let mut uow = self.begin_role_change(actor, organization).await?;
        if uow.count_custom_roles(organization).await? >= Self::MAX_PER_ORGANIZATION {
            return Err(OrgError::RoleLimitReached {
                max: Self::MAX_PER_ORGANIZATION,
            });
        }
        key_free(&mut *uow, organization, &key).await?;
        check_catalog(&mut *uow, &draft.permissions).await?;
        check_grants_in(&mut *uow, actor, organization, &draft.permissions).await?;
        let now = service.ports().clock.now();
        let role = CustomRole {
            organization_id: organization,
            key,
            name: draft.name,
            description: draft.description,
            permissions: draft.permissions,
            created_at: now,
            updated_at: now,
        };
        uow.insert_custom_role(&role)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => OrgError::RoleExists,
                other => other.into(),
            })?;
        let events = [service.event(
            organization,
            Some(actor),
            EventKind::RoleCreated {
                key: role.key.clone(),
                name: role.name.clone(),
                permissions: role.permissions.iter().cloned().collect(),
            },
        )];
        service.record(uow, &events).await?;
        Ok(role)
    }

    /// Changes a custom role. Permissions it gains must be held by the
    /// actor; permissions it loses are taken from its holders at once.
    ///
    /// # Errors
    /// As [`RoleService::create`], and [`OrgError::RoleNotFound`].
    pub async fn update(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        key: &RoleKey,
        patch: RolePatch,
    ) -> Result<CustomRole, OrgError> {
        let service = &*self.organizations;
        let mut uow = self.begin_role_change(actor, organization).await?;
        let current = own_role(&mut *uow, organization, key).await?;
        let draft = RoleDraft::new(
            patch.name.as_deref().unwrap_or(&current.name),
            patch.description.as_deref().unwrap_or(&current.description),
            patch
                .permissions
                .unwrap_or_else(|| current.permissions.clone()),
        )?;
        let gained: BTreeSet<_> = draft
            .permissions
            .difference(&current.permissions)
            .cloned()
            .collect();
        check_catalog(&mut *uow, &gained).await?;
        check_grants_in(&mut *uow, actor, organization, &gained).await?;
        let revoked: Vec<_> = current
            .permissions
            .difference(&draft.permissions)
            .cloned()
            .collect();
        let role = CustomRole {
            name: draft.name,
            description: draft.description,
            permissions: draft.permissions,
            updated_at: service.ports().clock.now(),
            ..current.clone()
        };
        if (&role.name, &role.description, &role.permissions)
            == (&current.name, &current.description, &current.permissions)
        {
            return Ok(current);
        }
        uow.update_custom_role(&role).await?;
        let events = [service.event(organization, Some(actor), updated(&role, revoked))];
        service.record(uow, &events).await?;
        Ok(role)
    }

    /// Deletes a custom role. Members holding it get `replacement` instead
    /// (which the actor must be able to grant); without one, a role that
    /// members hold is not deleted.
    ///
    /// # Errors
    /// As [`RoleService::update`], and [`OrgError::RoleInUse`];
    /// [`OrgError::UnknownRoleKey`] for a replacement the organization
    /// does not define.
    pub async fn delete(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        key: &RoleKey,
        replacement: Option<RoleKey>,
    ) -> Result<(), OrgError> {
        let service = &*self.organizations;
        let mut uow = self.begin_role_change(actor, organization).await?;
        own_role(&mut *uow, organization, key).await?;
        let holders = uow.role_holders(organization, key).await?;
        let replacement = replacement.filter(|_| !holders.is_empty());
        if holders.is_empty() {
            // Nothing to hand over.
        } else if let Some(replacement) = &replacement {
            let instead = replacement_role(&mut *uow, organization, key, replacement).await?;
            check_grants_in(&mut *uow, actor, organization, &instead.permissions).await?;
        } else {
            return Err(OrgError::RoleInUse {
                members: holders.len() as u64,
            });
        }
        let mut events = Vec::with_capacity(holders.len() + 1);
        for (holder_organization, user) in holders {
            let Some(membership) = uow.membership(holder_organization, user).await? else {
                continue;
            };
            let previous = membership.custom_roles.clone();
            let mut now_held = previous.clone();
            now_held.remove(key);
            now_held.extend(replacement.clone());
            uow.set_member_custom_roles(holder_organization, user, &now_held)
                .await?;
            events.push(service.event(
                holder_organization,
                Some(actor),
                roles_changed(user, &now_held, &previous),
            ));
        }
        uow.delete_custom_role(organization, key).await?;
        events.push(service.event(
            organization,
            Some(actor),
            EventKind::RoleDeleted {
                key: key.clone(),
                replacement,
            },
        ));
        service.record(uow, &events).await
    }

    /// Adds a member with roles: as [`OrganizationService::add_member`],
    /// with custom roles besides, in one unit of work. The actor must be
    /// able to grant every permission the roles grant.
    ///
    /// # Errors
    /// As [`OrganizationService::add_member`], and
    /// [`OrgError::UnknownRoleKey`], [`OrgError::PermissionNotHeld`].
    pub async fn add_member(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        user: UserId,
        roles: MemberRoles,
    ) -> Result<Membership, OrgError> {
        let service = &*self.organizations;
        if roles.custom.is_empty() {
            return service
                .add_member(actor, organization, user, roles.role)
                .await;
        }
        service
            .ensure_changeable(actor, organization, Permission::MembersManage)
            .await?;
        let (mut uow, locked) = service.begin_locked(organization).await?;
        locked.ensure_writable()?;
        if uow.membership(organization, user).await?.is_some() {
            return Err(OrgError::AlreadyMember);
        }
        let change = MemberChange {
            target: user,
            from: None,
            to: Some(roles.role),
        };
        let standing = Standing::of_actor(&mut *uow, organization, actor).await?;
        check_member_change(actor, standing.access, change, 0)?;
        let given = self
            .known_custom_roles(&mut *uow, organization, &roles)
            .await?;
        standing.check_grants(actor, &effective_permissions(roles.role, &given))?;
        let now = service.ports().clock.now();
        let (added, kind) =
            write_member_change(&mut *uow, &locked, user, None, Some(roles.role), now).await?;
        uow.set_member_custom_roles(organization, user, &roles.custom)
            .await?;
        let events = [
            service.event(organization, Some(actor), kind),
            service.event(
                organization,
                Some(actor),
                roles_changed(user, &roles.custom, &BTreeSet::new()),
            ),
        ];
        service.record(uow, &events).await?;
        let membership = added.ok_or_else(|| OrgError::Internal("membership missing".into()))?;
        Ok(Membership {
            custom_roles: roles.custom,
            ..membership
        })
    }

    /// The custom roles `roles` names, each defined by the organization.
    async fn known_custom_roles(
        &self,
        uow: &mut dyn UnitOfWork,
        organization: OrganizationId,
        roles: &MemberRoles,
    ) -> Result<Vec<CustomRole>, OrgError> {
        if roles.custom.is_empty() {
            return Ok(Vec::new());
        }
        // Platform roles change under the catalog's exclusive lock, without
        // the organizations' locks: this waits for such a change to end.
        uow.lock_catalog(false).await?;
        let given = uow.custom_roles_of(organization, &roles.custom).await?;
        match roles
            .custom
            .iter()
            .find(|key| !given.iter().any(|role| role.key == **key))
        {
            Some(unknown) => Err(OrgError::UnknownRoleKey {
                key: unknown.to_string(),
            }),
            None => Ok(given),
        }
    }

    /// Sets a member's roles: the built-in role (under the OWNER and
    /// last-owner rules) and the custom ones. Roles given must be ones the
    /// actor could grant; setting what the member holds already changes
    /// nothing.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::ReadOnly`], [`OrgError::MemberNotFound`],
    /// [`OrgError::OwnerRequired`], [`OrgError::LastOwner`],
    /// [`OrgError::UnknownRoleKey`], [`OrgError::PermissionNotHeld`],
    /// [`OrgError::Unavailable`].
    pub async fn set_member_roles(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        user: UserId,
        roles: MemberRoles,
    ) -> Result<Membership, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::MembersManage)
            .await?;
        let (mut uow, locked) = service.begin_locked(organization).await?;
        locked.ensure_writable()?;
        let current = uow
            .membership(organization, user)
            .await?
            .ok_or(OrgError::MemberNotFound)?;
        self.check_roles_given(&mut *uow, actor, &current, &roles)
            .await?;
        let (membership, events) = self
            .write_member_roles(&mut *uow, actor, &current, &roles)
            .await?;
        if events.is_empty() {
            return Ok(current);
        }
        service.record(uow, &events).await?;
        Ok(membership)
    }

    /// Whether the actor may give `current`'s member `roles`: the OWNER
    /// and last-owner rules for a new built-in role, known custom roles,
    /// and no permission the actor does not hold among those gained.
    async fn check_roles_given(
        &self,
        uow: &mut dyn UnitOfWork,
        actor: &Actor,
        current: &Membership,
        roles: &MemberRoles,
    ) -> Result<(), OrgError> {
        let organization = current.organization_id;
        let mut gained = BTreeSet::new();
        if current.role != roles.role {
            let owner_count = if current.role == crate::OrgRole::Owner {
                uow.count_owners(organization).await?
            } else {
                0
            };
            let change = MemberChange {
                target: current.user_id,
                from: Some(current.role),
                to: Some(roles.role),
            };
            let actor_access = access_in(uow, organization, actor.user_id()).await?;
            check_member_change(actor, actor_access, change, owner_count)?;
            gained = effective_permissions(roles.role, []);
        }
        let given = self.known_custom_roles(uow, organization, roles).await?;
        let new_roles = given
            .iter()
            .filter(|role| !current.custom_roles.contains(&role.key));
        gained.extend(new_roles.flat_map(|role| role.permissions.iter().cloned()));
        check_grants_in(uow, actor, organization, &gained).await
    }

    /// Writes a member's new roles: the membership now, and the events of
    /// what changed.
    async fn write_member_roles(
        &self,
        uow: &mut dyn UnitOfWork,
        actor: &Actor,
        current: &Membership,
        roles: &MemberRoles,
    ) -> Result<(Membership, Vec<crate::DomainEvent>), OrgError> {
        let service = &*self.organizations;
        let (organization, user) = (current.organization_id, current.user_id);
        let mut events = Vec::new();
        let mut membership = current.clone();
        if current.role != roles.role {
            membership.role = roles.role;
            membership.updated_at = service.ports().clock.now();
            uow.update_membership(&membership).await?;
            events.push(service.event(
                organization,
                Some(actor),
                EventKind::MemberRoleChanged {
                    user_id: user,
                    from: current.role,
                    to: roles.role,
                },
            ));
        }
        if current.custom_roles != roles.custom {
            uow.set_member_custom_roles(organization, user, &roles.custom)
                .await?;
            events.push(service.event(
                organization,
                Some(actor),
                roles_changed(user, &roles.custom, &current.custom_roles),
            ));
            membership.custom_roles.clone_from(&roles.custom);
        }
        Ok((membership, events))
    }

    /// Every permission a member holds, by name: for the member, and for
    /// those who may read the member list.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::MemberNotFound`], [`OrgError::Unavailable`].
    pub async fn member_permissions(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<BTreeSet<PermissionName>, OrgError> {
        let service = &*self.organizations;
        let permission = if user == actor.user_id() {
            Permission::OrganizationRead
        } else {
            Permission::MembersRead
        };
        service
            .ensure_permission(actor, organization, permission)
            .await?;
        let role = service
            .role_of(organization, user)
            .await?
            .ok_or(OrgError::MemberNotFound)?;
        if role == crate::OrgRole::Owner {
            // OWNERs hold every permission of the catalog.
            return Ok(self.catalog().await?.into_iter().map(|c| c.name).collect());
        }
        let custom = self.roles.member_custom_roles(organization, user).await?;
        Ok(effective_permissions(role, &custom))
    }

    /// Answers permission checks, in order: whether each user holds each
    /// permission in each organization. Platform administrators asking
    /// about themselves hold everything. What each distinct member holds is
    /// read from the cache in one round trip, and only what it misses from
    /// storage; the catalog is read only to tell an OWNER's permission of
    /// another service, or why a check is refused.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`]; a check that cannot be answered for
    /// other reasons is a [`Denial`] of its own.
    pub async fn check(
        &self,
        actor: &Actor,
        scope: CheckScope,
        checks: &[PermissionCheck],
    ) -> Result<Vec<Result<(), Denial>>, OrgError> {
        let subject = |check: &PermissionCheck| check.user.unwrap_or(actor.user_id());
        let mut members: Vec<(OrganizationId, UserId)> = Vec::new();
        for check in checks {
            let key = (check.organization, subject(check));
            if !members.contains(&key) {
                members.push(key);
            }
        }
        let grants = self.grants_of(&members).await?;
        let mut catalog = None;
        let mut answers = Vec::with_capacity(checks.len());
        for check in checks {
            let user = subject(check);
            let own = user == actor.user_id();
            if !own && scope == CheckScope::Own && !actor.is_platform_admin() {
                answers.push(Err(Denial::NotPermittedToAsk));
                continue;
            }
            if own && actor.is_platform_admin() {
                answers.push(Ok(()));
                continue;
            }
            let index = members
                .iter()
                .position(|m| *m == (check.organization, user))
                .unwrap_or_default();
            let Some(held) = &grants[index] else {
                answers.push(Err(Denial::NotAMember));
                continue;
            };
            let holds = held.holds(&check.permission);
            if holds == Some(true) {
                answers.push(Ok(()));
                continue;
            }
            if check.permission.own().is_some() {
                answers.push(Err(Denial::NotHeld));
                continue;
            }
            // Another service's permission that no role grants (or an
            // OWNER's, who holds what the catalog lists): the catalog
            // decides, read once per request.
            if catalog.is_none() {
                catalog = Some(self.roles.registered_permissions().await?);
            }
            let listed = catalog.iter().flatten().any(|p| p.name == check.permission);
            answers.push(match (listed, holds) {
                (false, _) => Err(Denial::UnknownPermission),
                (true, None) => Ok(()),
                (true, _) => Err(Denial::NotHeld),
            });
        }
        Ok(answers)
    }

    /// What each member holds, in order: from the cache in one round trip,
    /// then what it missed from storage (and cached).
    async fn grants_of(
        &self,
        members: &[(OrganizationId, UserId)],
    ) -> Result<Vec<Option<crate::MemberGrants>>, OrgError> {
        let ports = self.organizations.ports();
        let lookups = ports.cache.grants_many(members).await;
        let mut found = Vec::with_capacity(members.len());
        for (&(organization, user), lookup) in members.iter().zip(lookups) {
            found.push(match lookup {
                crate::ports::Lookup::Hit(grants) => grants,
                crate::ports::Lookup::Miss(lease) => {
                    let grants = ports.members.grants_of(organization, user).await?;
                    ports
                        .cache
                        .store_grants(lease, organization, user, grants.as_ref())
                        .await;
                    grants
                }
            });
        }
        Ok(found)
    }

    /// A unit of work for a change of the organization's roles: the actor
    /// holds `roles:manage`, the organization is locked and ACTIVE, and
    /// the catalog cannot change meanwhile. For the platform's roles: the
    /// actor is a platform administrator and the catalog is locked
    /// exclusively.
    async fn begin_role_change(
        &self,
        actor: &Actor,
        organization: OrganizationId,
    ) -> Result<Box<dyn UnitOfWork>, OrgError> {
        let service = &*self.organizations;
        if organization.is_platform() {
            platform_admin(actor)?;
            let mut uow = service.ports().organizations.begin().await?;
            uow.lock_catalog(true).await?;
            return Ok(uow);
        }
        service
            .ensure_changeable(actor, organization, Permission::RolesManage)
            .await?;
        let (mut uow, locked) = service.begin_locked(organization).await?;
        locked.ensure_writable()?;
        uow.lock_catalog(false).await?;
        Ok(uow)
    }
}

fn platform_admin(actor: &Actor) -> Result<(), OrgError> {
    if actor.is_platform_admin() {
        Ok(())
    } else {
        Err(OrgError::PlatformAdminRequired)
    }
}

fn refuse_built_in(name: &PermissionName) -> Result<(), OrgError> {
    if name.own().is_some() || name.as_str() == Permission::Suspend.name() {
        Err(OrgError::PermissionBuiltIn {
            permission: name.clone(),
        })
    } else {
        Ok(())
    }
}

/// A role of exactly that scope; a platform role asked for through an
/// organization is not the organization's to change.
async fn own_role(
    uow: &mut dyn UnitOfWork,
    organization: OrganizationId,
    key: &RoleKey,
) -> Result<CustomRole, OrgError> {
    if let Some(role) = uow.custom_role(organization, key).await? {
        return Ok(role);
    }
    let platform = OrganizationId::PLATFORM;
    if !organization.is_platform() && uow.custom_role(platform, key).await?.is_some() {
        return Err(OrgError::RoleOfPlatform);
    }
    Err(OrgError::RoleNotFound)
}

/// Refuses a key that already names a role members of the scope could
/// hold: for an organization, its own or a platform role's; for the
/// platform, a platform role's or any organization's.
async fn key_free(
    uow: &mut dyn UnitOfWork,
    organization: OrganizationId,
    key: &RoleKey,
) -> Result<(), OrgError> {
    let keys = BTreeSet::from([key.clone()]);
    let taken = if organization.is_platform() {
        uow.custom_role(organization, key).await?.is_some()
            || uow.count_roles_with_key(key).await? > 0
    } else {
        !uow.custom_roles_of(organization, &keys).await?.is_empty()
    };
    if taken {
        Err(OrgError::RoleExists)
    } else {
        Ok(())
    }
}

/// The role holders of `key` get instead: another role of the scope (for
/// an organization's role, a platform role too).
async fn replacement_role(
    uow: &mut dyn UnitOfWork,
    organization: OrganizationId,
    key: &RoleKey,
    replacement: &RoleKey,
) -> Result<CustomRole, OrgError> {
    let keys = BTreeSet::from([replacement.clone()]);
    let found = if organization.is_platform() {
        uow.custom_role(organization, replacement).await?
    } else {
        uow.custom_roles_of(organization, &keys).await?.pop()
    };
    found
        .filter(|role| role.key != *key)
        .ok_or_else(|| OrgError::UnknownRoleKey {
            key: replacement.to_string(),
        })
}

/// Every permission must be orgman's own or registered.
async fn check_catalog(
    uow: &mut dyn UnitOfWork,
    names: &BTreeSet<PermissionName>,
) -> Result<(), OrgError> {
    let others: BTreeSet<_> = names
        .iter()
        .filter(|name| name.own().is_none())
        .cloned()
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    match uow.unregistered(&others).await?.into_iter().next() {
        Some(permission) => Err(OrgError::UnknownPermission { permission }),
        None => Ok(()),
    }
}

fn updated(role: &CustomRole, revoked: Vec<PermissionName>) -> EventKind {
    EventKind::RoleUpdated {
        key: role.key.clone(),
        name: role.name.clone(),
        permissions: role.permissions.iter().cloned().collect(),
        revoked,
    }
}

pub(crate) fn roles_changed(
    user: UserId,
    now: &BTreeSet<RoleKey>,
    before: &BTreeSet<RoleKey>,
) -> EventKind {
    EventKind::MemberRolesChanged {
        user_id: user,
        custom_roles: now.iter().cloned().collect(),
        previous_custom_roles: before.iter().cloned().collect(),
    }
}
