//! Memberships and the rules deciding who may do what.

use time::OffsetDateTime;

use crate::errors::use_case::OrgError;
use crate::members::permission::Permission;
use crate::members::role::{Actor, OrgRole};
use crate::values::id::{OrganizationId, UserId};

/// A user's membership in an organization. A user appears at most once per
/// organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The organization.
    pub organization_id: OrganizationId,
    /// The member.
    pub user_id: UserId,
    /// The member's role there.
    pub role: OrgRole,
    /// When the user joined.
    pub created_at: OffsetDateTime,
    /// When the role last changed.
    pub updated_at: OffsetDateTime,
}

/// The domain's own permission rule: platform administrators may do
/// everything; everyone else according to their role in the organization.
pub fn permits(actor: &Actor, role: Option<OrgRole>, permission: Permission) -> bool {
    actor.is_platform_admin() || role.is_some_and(|role| permission.granted_to(role))
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
    actor_role: Option<OrgRole>,
    change: MemberChange,
    owner_count: u64,
) -> Result<(), OrgError> {
    let leaving_self = change.target == actor.user_id() && change.to.is_none();
    if !leaving_self && !permits(actor, actor_role, Permission::ManageMembers) {
        return Err(OrgError::Forbidden {
            permission: Permission::ManageMembers,
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
            (View, [true, true, true]),
            (ManageMembers, [true, true, false]),
            (ManageOrganization, [true, true, false]),
            (ManageSso, [true, true, false]),
            (Delete, [true, false, false]),
            (Suspend, [false, false, false]),
        ];
        let actor = Actor::user(user(1));
        for (permission, expected) in rows {
            for (role, allowed) in OrgRole::ALL.into_iter().zip(expected) {
                assert_eq!(
                    permits(&actor, Some(role), permission),
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
            check_member_change(&actor, Some(Member), change(2, None, Some(Member)), 1),
            Err(OrgError::Forbidden {
                permission: Permission::ManageMembers
            })
        );
        assert_eq!(
            check_member_change(&actor, None, change(2, Some(Member), None), 1),
            Err(OrgError::Forbidden {
                permission: Permission::ManageMembers
            })
        );
    }

    #[test]
    fn admins_manage_non_owners_but_never_touch_owner() {
        let actor = Actor::user(user(1));
        assert_eq!(
            check_member_change(&actor, Some(Admin), change(2, None, Some(Admin)), 1),
            Ok(())
        );
        assert_eq!(
            check_member_change(&actor, Some(Admin), change(2, Some(Admin), Some(Member)), 1),
            Ok(())
        );
        for c in [
            change(2, None, Some(Owner)),
            change(2, Some(Member), Some(Owner)),
            change(2, Some(Owner), Some(Member)),
            change(2, Some(Owner), None),
        ] {
            assert_eq!(
                check_member_change(&actor, Some(Admin), c, 2),
                Err(OrgError::OwnerRequired)
            );
        }
    }

    #[test]
    fn owners_and_platform_admins_grant_and_revoke_owner() {
        let owner = Actor::user(user(1));
        assert_eq!(
            check_member_change(&owner, Some(Owner), change(2, None, Some(Owner)), 1),
            Ok(())
        );
        assert_eq!(
            check_member_change(&owner, Some(Owner), change(2, Some(Owner), None), 2),
            Ok(())
        );
        let admin = Actor::platform_admin(user(9));
        assert_eq!(
            check_member_change(&admin, None, change(2, Some(Member), Some(Owner)), 1),
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
                check_member_change(&actor, role, change(1, Some(Owner), None), 1),
                Err(OrgError::LastOwner)
            );
            assert_eq!(
                check_member_change(&actor, role, change(1, Some(Owner), Some(Admin)), 1),
                Err(OrgError::LastOwner)
            );
        }
    }

    #[test]
    fn anyone_may_leave_but_the_last_owner() {
        let member = Actor::user(user(3));
        assert_eq!(
            check_member_change(&member, Some(Member), change(3, Some(Member), None), 1),
            Ok(())
        );
        // Leaving does not allow changing one's own role.
        assert_eq!(
            check_member_change(
                &member,
                Some(Member),
                change(3, Some(Member), Some(Admin)),
                1
            ),
            Err(OrgError::Forbidden {
                permission: Permission::ManageMembers
            })
        );
    }
}
