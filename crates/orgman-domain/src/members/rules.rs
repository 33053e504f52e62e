//! Memberships and the rules deciding who may do what.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use crate::errors::use_case::OrgError;
use crate::members::actor::Actor;
use crate::members::custom_role::{Access, RoleKey};
use crate::members::permission::{Permission, PermissionName};
use crate::members::role::OrgRole;
use crate::values::id::{OrganizationId, UserId};

/// A user's membership in an organization. A user appears at most once per
/// organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The organization.
    pub organization_id: OrganizationId,
    /// The member.
    pub user_id: UserId,
    /// The member's built-in role there.
    pub role: OrgRole,
    /// The organization's custom roles the member holds besides.
    pub custom_roles: BTreeSet<RoleKey>,
    /// When the user joined.
    pub created_at: OffsetDateTime,
    /// When the role last changed.
    pub updated_at: OffsetDateTime,
}

impl Membership {
    /// What the member may do, given what their custom roles grant of
    /// orgman's own permissions.
    pub fn access(&self, granted: crate::PermissionSet) -> Access {
        Access {
            role: self.role,
            granted,
        }
    }
}

/// The domain's own permission rule: platform administrators may do
/// everything; everyone else according to their roles in the organization
/// (`None`: not a member).
pub fn permits(actor: &Actor, access: Option<Access>, permission: Permission) -> bool {
    actor.is_platform_admin() || access.is_some_and(|access| access.holds(permission))
}

/// No escalation: an actor grants only permissions they hold, whether to a
/// role they define or edit, or to a member through a role assignment.
/// `held` is every permission the actor's roles grant in the organization
/// (by name). Platform administrators and the organization's OWNERs
/// (`actor_role`) hold every permission of the catalog, other services'
/// included: someone must be able to grant those first.
///
/// # Errors
/// [`OrgError::PermissionNotHeld`] naming the first permission granted but
/// not held.
pub fn check_grants<'a>(
    actor: &Actor,
    actor_role: Option<OrgRole>,
    held: &BTreeSet<PermissionName>,
    granted: impl IntoIterator<Item = &'a PermissionName>,
) -> Result<(), OrgError> {
    if actor.is_platform_admin() || actor_role == Some(OrgRole::Owner) {
        return Ok(());
    }
    match granted.into_iter().find(|name| !held.contains(*name)) {
        Some(missing) => Err(OrgError::PermissionNotHeld {
            permission: missing.clone(),
        }),
        None => Ok(()),
    }
}

/// A requested change to one membership: `from` is the target's current role
/// (`None` when adding), `to` the new one (`None` when removing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberChange {
    /// The member being changed.
    pub target: UserId,
    /// The target's role before the change.
    pub from: Option<OrgRole>,
    /// The target's role after the change.
    pub to: Option<OrgRole>,
}

/// Checks the membership rules for one change, given the actor's own role and
/// the organization's current number of owners. The checks run in the order
/// of the table in the crate documentation.
///
/// # Errors
/// [`OrgError::Forbidden`] when the actor may not manage members,
/// [`OrgError::OwnerRequired`] when an OWNER role is granted or revoked by
/// someone who is not an OWNER, and [`OrgError::LastOwner`] when the change
/// would leave the organization without an OWNER.
pub fn check_member_change(
    actor: &Actor,
    actor_access: Option<Access>,
    change: MemberChange,
    owner_count: u64,
) -> Result<(), OrgError> {
    let actor_role = actor_access.map(|access| access.role);
    let leaving_self = change.target == actor.user_id() && change.to.is_none();
    if !leaving_self && !permits(actor, actor_access, Permission::MembersManage) {
        return Err(OrgError::Forbidden {
            permission: Permission::MembersManage,
        });
    }
    let touches_owner = change.from == Some(OrgRole::Owner) || change.to == Some(OrgRole::Owner);
    if touches_owner && !actor.is_platform_admin() && actor_role != Some(OrgRole::Owner) {
        return Err(OrgError::OwnerRequired);
    }
    let loses_owner = change.from == Some(OrgRole::Owner) && change.to != Some(OrgRole::Owner);
    if loses_owner && owner_count <= 1 {
        return Err(OrgError::LastOwner);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrgRole::{Admin, Member, Owner};
    use uuid::Uuid;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(Uuid::from_u128(n))
    }

    fn check(
        actor: &Actor,
        role: Option<OrgRole>,
        change: MemberChange,
        owner_count: u64,
    ) -> Result<(), OrgError> {
        check_member_change(actor, role.map(Access::of_role), change, owner_count)
    }

    fn change(target: u128, from: Option<OrgRole>, to: Option<OrgRole>) -> MemberChange {
        MemberChange {
            target: user(target),
            from,
            to,
        }
    }

    #[test]
    fn permission_matrix() {
        use Permission::*;
        let rows = [
            (OrganizationRead, [true, true, true]),
            (MembersRead, [true, true, true]),
            (OrganizationUpdate, [true, true, false]),
            (MembersManage, [true, true, false]),
            (InvitationsManage, [true, true, false]),
            (DomainsManage, [true, true, false]),
            (SsoManage, [true, true, false]),
            (RolesManage, [true, true, false]),
            (AuditRead, [true, true, false]),
            (OrganizationDelete, [true, false, false]),
            (Suspend, [false, false, false]),
        ];
        let actor = Actor::user(user(1));
        for (permission, expected) in rows {
            for (role, allowed) in OrgRole::ALL.into_iter().zip(expected) {
                assert_eq!(
                    permits(&actor, Some(Access::of_role(role)), permission),
                    allowed,
                    "{permission:?} {role:?}"
                );
            }
            assert!(
                !permits(&actor, None, permission),
                "non-member {permission:?}"
            );
            assert!(permits(&Actor::platform_admin(user(1)), None, permission));
        }
    }

    #[test]
    fn members_cannot_manage_members() {
        let actor = Actor::user(user(1));
        assert_eq!(
            check(&actor, Some(Member), change(2, None, Some(Member)), 1),
            Err(OrgError::Forbidden {
                permission: Permission::MembersManage
            })
        );
        assert_eq!(
            check(&actor, None, change(2, Some(Member), None), 1),
            Err(OrgError::Forbidden {
                permission: Permission::MembersManage
            })
        );
    }

    #[test]
    fn admins_manage_non_owners_but_never_touch_owner() {
        let actor = Actor::user(user(1));
        assert_eq!(
            check(&actor, Some(Admin), change(2, None, Some(Admin)), 1),
            Ok(())
        );
        assert_eq!(
            check(&actor, Some(Admin), change(2, Some(Admin), Some(Member)), 1),
            Ok(())
        );
        for c in [
            change(2, None, Some(Owner)),
            change(2, Some(Member), Some(Owner)),
            change(2, Some(Owner), Some(Member)),
            change(2, Some(Owner), None),
        ] {
            assert_eq!(
                check(&actor, Some(Admin), c, 2),
                Err(OrgError::OwnerRequired)
            );
        }
    }

    #[test]
    fn owners_and_platform_admins_grant_and_revoke_owner() {
        let owner = Actor::user(user(1));
        assert_eq!(
            check(&owner, Some(Owner), change(2, None, Some(Owner)), 1),
            Ok(())
        );
        assert_eq!(
            check(&owner, Some(Owner), change(2, Some(Owner), None), 2),
            Ok(())
        );
        let admin = Actor::platform_admin(user(9));
        assert_eq!(
            check(&admin, None, change(2, Some(Member), Some(Owner)), 1),
            Ok(())
        );
    }

    #[test]
    fn the_last_owner_stays() {
        let owner = Actor::user(user(1));
        let admin = Actor::platform_admin(user(9));
        for actor in [owner.clone(), admin] {
            let role = (actor == owner).then_some(Owner);
            assert_eq!(
                check(&actor, role, change(1, Some(Owner), None), 1),
                Err(OrgError::LastOwner)
            );
            assert_eq!(
                check(&actor, role, change(1, Some(Owner), Some(Admin)), 1),
                Err(OrgError::LastOwner)
            );
        }
    }

    #[test]
    fn anyone_may_leave_but_the_last_owner() {
        let member = Actor::user(user(3));
        assert_eq!(
            check(&member, Some(Member), change(3, Some(Member), None), 1),
            Ok(())
        );
        // Leaving does not allow changing one's own role.
        assert_eq!(
            check(
                &member,
                Some(Member),
                change(3, Some(Member), Some(Admin)),
                1
            ),
            Err(OrgError::Forbidden {
                permission: Permission::MembersManage
            })
        );
    }

    #[test]
    fn custom_grants_count_like_built_in_ones_but_never_make_an_owner() {
        let actor = Actor::user(user(1));
        let manager = Access {
            role: Member,
            granted: [Permission::MembersManage].into_iter().collect(),
        };
        assert!(permits(&actor, Some(manager), Permission::MembersManage));
        assert!(!permits(
            &actor,
            Some(manager),
            Permission::OrganizationDelete
        ));
        let add = change(2, None, Some(Admin));
        assert_eq!(check_member_change(&actor, Some(manager), add, 1), Ok(()));
        let promote = change(2, Some(Member), Some(Owner));
        assert_eq!(
            check_member_change(&actor, Some(manager), promote, 1),
            Err(OrgError::OwnerRequired)
        );
    }

    #[test]
    fn nobody_grants_what_they_do_not_hold() {
        let name = |n: &str| PermissionName::parse(n).unwrap();
        let held: BTreeSet<_> = [name("organization:read"), name("invoices:read")].into();
        let actor = Actor::user(user(1));
        let rows: [(&[&str], Option<&str>); 4] = [
            (&[], None),
            (&["invoices:read"], None),
            (&["organization:read", "invoices:read"], None),
            (&["invoices:read", "invoices:write"], Some("invoices:write")),
        ];
        for (granted, refused) in rows {
            let granted: Vec<_> = granted.iter().map(|n| name(n)).collect();
            let expected = refused.map_or(Ok(()), |n| {
                Err(OrgError::PermissionNotHeld {
                    permission: name(n),
                })
            });
            assert_eq!(
                check_grants(&actor, Some(Admin), &held, &granted),
                expected,
                "{granted:?}"
            );
            let admin = Actor::platform_admin(user(9));
            let empty = BTreeSet::new();
            assert_eq!(check_grants(&admin, None, &empty, &granted), Ok(()));
            assert_eq!(check_grants(&actor, Some(Owner), &empty, &granted), Ok(()));
        }
    }
}
