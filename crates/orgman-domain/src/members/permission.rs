//! What an actor may be allowed to do in one organization.

use crate::members::role::OrgRole;

/// Something an actor may be allowed to do in one organization.
///
/// The same names are used by the SpiceDB schema's permissions, so both
/// authorizers answer the same question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read the organization and its member list.
    View,
    /// Add, remove and change the role of members (OWNER grants need more:
    /// see [`check_member_change`](crate::check_member_change)).
    ManageMembers,
    /// Rename the organization.
    ManageOrganization,
    /// Manage the organization's SSO configurations.
    ManageSso,
    /// Request deletion of the organization, or restore it.
    Delete,
    /// Suspend or reactivate the organization; purge it after its grace
    /// period. Platform administrators only.
    Suspend,
}

impl Permission {
    /// The name used in the authorization schema.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::View => "view",
            Permission::ManageMembers => "manage_members",
            Permission::ManageOrganization => "manage_organization",
            Permission::ManageSso => "manage_sso",
            Permission::Delete => "delete",
            Permission::Suspend => "suspend",
        }
    }

    /// Whether a member with `role` holds this permission (platform
    /// administrators hold every permission regardless).
    pub const fn granted_to(self, role: OrgRole) -> bool {
        match self {
            Permission::View => true,
            Permission::ManageMembers | Permission::ManageOrganization | Permission::ManageSso => {
                role.administers()
            }
            Permission::Delete => matches!(role, OrgRole::Owner),
            Permission::Suspend => false,
        }
    }
}
