//! What an actor may be allowed to do in one organization: orgman's own
//! permissions, and the names of every permission in the catalog.

use std::fmt;
use std::str::FromStr;

use crate::errors::port::ValidationError;
use crate::members::role::OrgRole;

/// One of orgman's own permissions: what its endpoints check.
///
/// Each has a catalog name ([`Permission::name`], `resource:action`) under
/// which roles grant it, and a name in the SpiceDB schema
/// ([`Permission::as_str`]), so both authorizers answer the same question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Read the organization (`organization:read`): the permission of
    /// seeing it at all.
    OrganizationRead,
    /// Rename the organization and change its metadata
    /// (`organization:update`).
    OrganizationUpdate,
    /// Request deletion of the organization, or restore it
    /// (`organization:delete`).
    OrganizationDelete,
    /// Read the member list (`members:read`).
    MembersRead,
    /// Add, remove and change the roles of members (`members:manage`;
    /// OWNER grants need more: see [`check_member_change`](crate::check_member_change)).
    MembersManage,
    /// Invite people and revoke invitations (`invitations:manage`).
    InvitationsManage,
    /// Claim, verify and configure the organization's domains
    /// (`domains:manage`).
    DomainsManage,
    /// Manage the organization's SSO configurations (`sso:manage`).
    SsoManage,
    /// Define and edit the organization's own roles (`roles:manage`).
    RolesManage,
    /// Read the organization's audit trail (`audit:read`).
    AuditRead,
    /// Suspend or reactivate the organization; purge it after its grace
    /// period. Platform administrators only: no role grants it.
    Suspend,
    /// Create, list, rotate and revoke the organization's API keys
    /// (`api-keys:manage`). After [`Permission::Suspend`] so that the bits
    /// of the permissions before it never change.
    ApiKeysManage,
    /// Register, change and delete the organization's webhook endpoints,
    /// and read and retry their deliveries (`webhooks:manage`).
    WebhooksManage,
    /// Provision the organization's people and groups from its directory
    /// over SCIM (`scim:provision`); an API key holding it is the
    /// directory's credential.
    ScimProvision,
}

impl Permission {
    /// Every permission a role can grant, in catalog order
    /// ([`Permission::Suspend`] is not among them).
    pub const GRANTABLE: [Permission; 13] = [
        Permission::OrganizationRead,
        Permission::OrganizationUpdate,
        Permission::OrganizationDelete,
        Permission::MembersRead,
        Permission::MembersManage,
        Permission::InvitationsManage,
        Permission::DomainsManage,
        Permission::SsoManage,
        Permission::RolesManage,
        Permission::AuditRead,
        Permission::ApiKeysManage,
        Permission::WebhooksManage,
        Permission::ScimProvision,
    ];

    /// The name used in the authorization schema (and as a metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::OrganizationRead => "view",
            Permission::OrganizationUpdate => "manage_organization",
            Permission::OrganizationDelete => "delete",
            Permission::MembersRead => "read_members",
            Permission::MembersManage => "manage_members",
            Permission::InvitationsManage => "manage_invitations",
            Permission::DomainsManage => "manage_domains",
            Permission::SsoManage => "manage_sso",
            Permission::RolesManage => "manage_roles",
            Permission::AuditRead => "read_audit",
            Permission::Suspend => "suspend",
            Permission::ApiKeysManage => "manage_api_keys",
            Permission::WebhooksManage => "manage_webhooks",
            Permission::ScimProvision => "provision_scim",
        }
    }

    /// The catalog name, `resource:action`.
    pub const fn name(self) -> &'static str {
        match self {
            Permission::OrganizationRead => "organization:read",
            Permission::OrganizationUpdate => "organization:update",
            Permission::OrganizationDelete => "organization:delete",
            Permission::MembersRead => "members:read",
            Permission::MembersManage => "members:manage",
            Permission::InvitationsManage => "invitations:manage",
            Permission::DomainsManage => "domains:manage",
            Permission::SsoManage => "sso:manage",
            Permission::RolesManage => "roles:manage",
            Permission::AuditRead => "audit:read",
            Permission::Suspend => "organization:suspend",
            Permission::ApiKeysManage => "api-keys:manage",
            Permission::WebhooksManage => "webhooks:manage",
            Permission::ScimProvision => "scim:provision",
        }
    }

    /// What the permission allows, for the catalog.
    pub const fn description(self) -> &'static str {
        match self {
            Permission::OrganizationRead => "See the organization.",
            Permission::OrganizationUpdate => "Rename the organization and change its metadata.",
            Permission::OrganizationDelete => "Request the organization's deletion or restore it.",
            Permission::MembersRead => "List the organization's members.",
            Permission::MembersManage => "Add and remove members and change their roles.",
            Permission::InvitationsManage => "Invite people and revoke invitations.",
            Permission::DomainsManage => "Claim, verify and configure domains.",
            Permission::SsoManage => "Configure single sign-on.",
            Permission::RolesManage => "Define and edit the organization's roles.",
            Permission::AuditRead => "Read the audit trail.",
            Permission::Suspend => "Suspend, reactivate and purge (platform administrators).",
            Permission::ApiKeysManage => "Create, rotate and revoke the organization's API keys.",
            Permission::WebhooksManage => {
                "Register and change webhook endpoints; read and retry their deliveries."
            }
            Permission::ScimProvision => {
                "Provision people and groups from the organization's directory (SCIM)."
            }
        }
    }

    /// orgman's permission of that catalog name, if it is one.
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::GRANTABLE
            .into_iter()
            .find(|permission| permission.name() == name)
    }

    /// Whether a built-in `role` grants this permission (platform
    /// administrators hold every permission regardless).
    ///
    /// | permission | OWNER | ADMIN | MEMBER |
    /// |---|---|---|---|
    /// | `organization:read`, `members:read` | yes | yes | yes |
    /// | `organization:update`, `members:manage`, `invitations:manage`, `domains:manage`, `sso:manage`, `roles:manage`, `audit:read`, `api-keys:manage`, `webhooks:manage`, `scim:provision` | yes | yes | no |
    /// | `organization:delete` | yes | no | no |
    pub const fn granted_to(self, role: OrgRole) -> bool {
        match self {
            Permission::OrganizationRead | Permission::MembersRead => true,
            Permission::OrganizationUpdate
            | Permission::MembersManage
            | Permission::InvitationsManage
            | Permission::DomainsManage
            | Permission::SsoManage
            | Permission::RolesManage
            | Permission::AuditRead
            | Permission::ApiKeysManage
            | Permission::WebhooksManage
            | Permission::ScimProvision => role.administers(),
            Permission::OrganizationDelete => matches!(role, OrgRole::Owner),
            Permission::Suspend => false,
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of orgman's own permissions: what a member's roles grant of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u16);

impl PermissionSet {
    /// No permission.
    pub const EMPTY: PermissionSet = PermissionSet(0);

    /// What a built-in role grants.
    pub fn of_role(role: OrgRole) -> PermissionSet {
        Permission::GRANTABLE
            .into_iter()
            .filter(|permission| permission.granted_to(role))
            .collect()
    }

    /// orgman's permissions among catalog names (others are ignored).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a PermissionName>) -> PermissionSet {
        names.into_iter().filter_map(PermissionName::own).collect()
    }

    /// Whether the set holds `permission`.
    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Both sets together.
    #[must_use]
    pub const fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set as bits, for adapters that store it compactly.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// A set from [`PermissionSet::bits`]; bits that name no grantable
    /// permission are dropped.
    pub fn from_bits(bits: u16) -> PermissionSet {
        Permission::GRANTABLE
            .into_iter()
            .filter(|permission| bits & permission.bit() != 0)
            .collect()
    }

    /// The permissions in the set, in catalog order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::GRANTABLE
            .into_iter()
            .filter(move |permission| self.contains(*permission))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        PermissionSet(iter.into_iter().fold(0, |bits, p| bits | p.bit()))
    }
}

/// The name of a permission in the catalog: `resource:action`, each part
/// 1–40 characters of `[a-z0-9_-]` starting with a letter. orgman's own
/// permissions are in the catalog under their [`Permission::name`]; other
/// services of the platform register theirs (`projects:write`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct PermissionName(String);

impl PermissionName {
    /// Longest resource or action part.
    pub const MAX_PART: usize = 40;

    /// Validates a name.
    ///
    /// ```
    /// use orgman_domain::PermissionName;
    ///
    /// assert!(PermissionName::parse("invoices:read").is_ok());
    /// assert!(PermissionName::parse("Invoices:Read").is_err());
    /// assert!(PermissionName::parse("invoices").is_err());
    /// assert!(PermissionName::parse("a:b:c").is_err());
    /// ```
    ///
    /// # Errors
    /// [`ValidationError::PermissionNameInvalid`].
    pub fn parse(text: &str) -> Result<PermissionName, ValidationError> {
        let invalid = || ValidationError::PermissionNameInvalid {
            value: text.chars().take(90).collect(),
        };
        let (resource, action) = text.split_once(':').ok_or_else(invalid)?;
        if valid_part(resource) && valid_part(action) {
            Ok(PermissionName(text.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// orgman's own permission of this name, if it is one.
    pub fn own(&self) -> Option<Permission> {
        Permission::from_name(&self.0)
    }
}

fn valid_part(part: &str) -> bool {
    part.len() <= PermissionName::MAX_PART
        && part.starts_with(|c: char| c.is_ascii_lowercase())
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl From<Permission> for PermissionName {
    fn from(permission: Permission) -> Self {
        PermissionName(permission.name().to_owned())
    }
}

impl FromStr for PermissionName {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PermissionName::parse(s)
    }
}

impl TryFrom<String> for PermissionName {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        PermissionName::parse(&value)
    }
}

impl From<PermissionName> for String {
    fn from(name: PermissionName) -> Self {
        name.0
    }
}

impl fmt::Display for PermissionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_own_permission_has_a_valid_distinct_catalog_name() {
        let mut names = std::collections::HashSet::new();
        for permission in Permission::GRANTABLE {
            let name = PermissionName::parse(permission.name()).unwrap();
            assert_eq!(name.own(), Some(permission));
            assert!(names.insert(permission.name()));
            assert!(!permission.as_str().contains(':'), "{permission:?}");
        }
        // Suspend is no role's to grant.
        assert_eq!(Permission::from_name("organization:suspend"), None);
    }

    #[test]
    fn names_are_validated() {
        for good in ["a:b", "invoices:read", "projects-v2:write_all", "x9:y"] {
            assert!(PermissionName::parse(good).is_ok(), "{good}");
        }
        let long = format!("{}:read", "a".repeat(41));
        for bad in [
            "", ":", "a:", ":b", "A:b", "a:B", "1a:b", "a:b:c", "a b:c", "a:é", "a.b:c", &long,
        ] {
            assert!(PermissionName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sets_hold_what_roles_grant_and_round_trip_through_bits() {
        let member = PermissionSet::of_role(OrgRole::Member);
        assert_eq!(
            member.iter().collect::<Vec<_>>(),
            [Permission::OrganizationRead, Permission::MembersRead]
        );
        let owner = PermissionSet::of_role(OrgRole::Owner);
        assert_eq!(owner.iter().count(), Permission::GRANTABLE.len());
        assert!(!PermissionSet::of_role(OrgRole::Admin).contains(Permission::OrganizationDelete));
        assert_eq!(PermissionSet::from_bits(owner.bits()), owner);
        assert_eq!(PermissionSet::from_bits(u16::MAX), owner);
        let names = [
            PermissionName::parse("invoices:read").unwrap(),
            Permission::AuditRead.into(),
        ];
        assert_eq!(
            PermissionSet::from_names(&names).iter().collect::<Vec<_>>(),
            [Permission::AuditRead]
        );
    }
}
