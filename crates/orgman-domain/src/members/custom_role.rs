//! Roles an organization defines for itself, the catalog of permissions
//! they grant from, and the roles a membership holds.

use std::collections::BTreeSet;
use std::fmt;

use time::OffsetDateTime;

use crate::errors::port::ValidationError;
use crate::members::permission::{Permission, PermissionName, PermissionSet};
use crate::members::role::OrgRole;
use crate::values::id::OrganizationId;

/// A permission in the catalog: orgman's own (built in, fixed) or one that
/// another service of the platform registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogPermission {
    /// Its name.
    pub name: PermissionName,
    /// What it allows, for people choosing it.
    pub description: String,
    /// Whether it is one of orgman's own ([`Permission`]): those cannot be
    /// changed or deleted.
    pub built_in: bool,
}

impl CatalogPermission {
    /// Longest description.
    pub const MAX_DESCRIPTION: usize = 500;

    /// orgman's own permissions, as the catalog lists them.
    pub fn built_in() -> Vec<CatalogPermission> {
        Permission::GRANTABLE
            .into_iter()
            .map(|permission| CatalogPermission {
                name: permission.into(),
                description: permission.description().to_owned(),
                built_in: true,
            })
            .collect()
    }

    /// A registered permission; the description is checked (at most
    /// [`CatalogPermission::MAX_DESCRIPTION`] characters, no control
    /// characters).
    ///
    /// # Errors
    /// [`ValidationError::TextInvalid`] for the description.
    pub fn registered(
        name: PermissionName,
        description: &str,
    ) -> Result<CatalogPermission, ValidationError> {
        Ok(CatalogPermission {
            name,
            description: text("description", description, Self::MAX_DESCRIPTION, true)?,
            built_in: false,
        })
    }
}

/// The key of a custom role: 1–63 characters of `[a-z0-9_-]`, starting
/// with a letter or digit. `owner`, `admin` and `member` name the built-in
/// roles and are not custom keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct RoleKey(String);

impl RoleKey {
    /// Longest key.
    pub const MAX: usize = 63;

    /// Validates a key.
    ///
    /// ```
    /// use orgman_domain::RoleKey;
    ///
    /// assert!(RoleKey::parse("billing-viewer").is_ok());
    /// assert!(RoleKey::parse("Billing").is_err());
    /// assert!(RoleKey::parse("admin").is_err());
    /// ```
    ///
    /// # Errors
    /// [`ValidationError::RoleKeyInvalid`].
    pub fn parse(text: &str) -> Result<RoleKey, ValidationError> {
        let well_formed = !text.is_empty()
            && text.len() <= Self::MAX
            && text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        let built_in = text.parse::<OrgRole>().is_ok();
        if well_formed && !built_in {
            Ok(RoleKey(text.to_owned()))
        } else {
            Err(ValidationError::RoleKeyInvalid {
                value: text.chars().take(70).collect(),
            })
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RoleKey {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        RoleKey::parse(&value)
    }
}

impl From<RoleKey> for String {
    fn from(key: RoleKey) -> Self {
        key.0
    }
}

/// A role an organization defined for itself, or a platform role: one a
/// platform administrator defined for every organization to use (WorkOS's
/// "environment roles").
///
/// Keys of platform roles and of an organization's own roles share one
/// namespace in each organization, so a member's role keys always name one
/// role each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRole {
    /// The organization it belongs to; [`OrganizationId::PLATFORM`] for a
    /// platform role.
    pub organization_id: OrganizationId,
    /// Its key, unique in the organization and among platform roles.
    pub key: RoleKey,
    /// What people call it.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// What it grants: names from the catalog.
    pub permissions: BTreeSet<PermissionName>,
    /// When it was defined.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

impl CustomRole {
    /// Longest name.
    pub const MAX_NAME: usize = 100;
    /// Most permissions one role grants.
    pub const MAX_PERMISSIONS: usize = 100;

    /// Whether a platform administrator defined it for every organization.
    pub fn is_platform(&self) -> bool {
        self.organization_id.is_platform()
    }

    /// orgman's own permissions among the ones it grants.
    pub fn own_permissions(&self) -> PermissionSet {
        PermissionSet::from_names(&self.permissions)
    }
}

/// What a role definition is given: its name, description and permissions,
/// checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDraft {
    /// What people call it (1–100 characters).
    pub name: String,
    /// What it is for (at most 500 characters).
    pub description: String,
    /// What it grants.
    pub permissions: BTreeSet<PermissionName>,
}

impl RoleDraft {
    /// Checks a draft's texts and the number of its permissions.
    ///
    /// # Errors
    /// [`ValidationError::TextInvalid`] for `name` or `description`, or for
    /// `permissions` when there are more than
    /// [`CustomRole::MAX_PERMISSIONS`].
    pub fn new(
        name: &str,
        description: &str,
        permissions: BTreeSet<PermissionName>,
    ) -> Result<RoleDraft, ValidationError> {
        if permissions.len() > CustomRole::MAX_PERMISSIONS {
            return Err(ValidationError::TextInvalid {
                field: "permissions",
                max: CustomRole::MAX_PERMISSIONS,
            });
        }
        Ok(RoleDraft {
            name: text("name", name, CustomRole::MAX_NAME, false)?,
            description: text(
                "description",
                description,
                CatalogPermission::MAX_DESCRIPTION,
                true,
            )?,
            permissions,
        })
    }
}

fn text(
    field: &'static str,
    value: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<String, ValidationError> {
    let value = value.trim();
    let fits = value.chars().count() <= max && (may_be_empty || !value.is_empty());
    if fits && !value.chars().any(char::is_control) {
        Ok(value.to_owned())
    } else {
        Err(ValidationError::TextInvalid { field, max })
    }
}

/// A role as a request names it: a built-in role (`OWNER`, `ADMIN`,
/// `MEMBER`, any case) or a custom role's key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleRef {
    /// A built-in role.
    BuiltIn(OrgRole),
    /// A custom role of the organization.
    Custom(RoleKey),
}

impl RoleRef {
    /// Reads one role name.
    ///
    /// # Errors
    /// [`ValidationError::UnknownRole`] when it is neither a built-in role
    /// nor a well-formed key.
    pub fn parse(text: &str) -> Result<RoleRef, ValidationError> {
        let text = text.trim();
        if let Ok(role) = text.parse::<OrgRole>() {
            return Ok(RoleRef::BuiltIn(role));
        }
        RoleKey::parse(text)
            .map(RoleRef::Custom)
            .map_err(|_| ValidationError::UnknownRole {
                value: text.chars().take(32).collect(),
            })
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleRef::BuiltIn(role) => f.write_str(role.as_str()),
            RoleRef::Custom(key) => f.write_str(key.as_str()),
        }
    }
}

/// The roles one membership holds: exactly one built-in role, which the
/// last-owner and OWNER-only rules are about, and any number of the
/// organization's custom roles, which add permissions to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemberRoles {
    /// The built-in role (MEMBER when a request names none).
    pub role: OrgRole,
    /// The custom roles, by key.
    pub custom: BTreeSet<RoleKey>,
}

impl MemberRoles {
    /// Most custom roles one member holds.
    pub const MAX_CUSTOM: usize = 20;

    /// Only a built-in role.
    pub fn built_in(role: OrgRole) -> MemberRoles {
        MemberRoles {
            role,
            custom: BTreeSet::new(),
        }
    }

    /// The roles a request names: at most one built-in role (MEMBER when
    /// none is named) and custom keys, each once.
    ///
    /// ```
    /// use orgman_domain::{MemberRoles, OrgRole, RoleRef};
    ///
    /// let refs = ["ADMIN", "billing-viewer"].map(|r| RoleRef::parse(r).unwrap());
    /// let roles = MemberRoles::from_refs(&refs).unwrap();
    /// assert_eq!(roles.role, OrgRole::Admin);
    /// assert_eq!(roles.names(), ["ADMIN", "billing-viewer"]);
    /// assert_eq!(MemberRoles::from_refs(&[]).unwrap().role, OrgRole::Member);
    /// ```
    ///
    /// # Errors
    /// [`ValidationError::UnknownRole`] when two built-in roles are named
    /// or there are more than [`MemberRoles::MAX_CUSTOM`] custom roles.
    pub fn from_refs(refs: &[RoleRef]) -> Result<MemberRoles, ValidationError> {
        let mut built_in = None;
        let mut custom = BTreeSet::new();
        for role in refs {
            match role {
                RoleRef::BuiltIn(role) if built_in.is_some_and(|held| held != *role) => {
                    return Err(ValidationError::UnknownRole {
                        value: format!("{role}: a member holds one of OWNER, ADMIN and MEMBER"),
                    });
                }
                RoleRef::BuiltIn(role) => built_in = Some(*role),
                RoleRef::Custom(key) => {
                    custom.insert(key.clone());
                }
            }
        }
        if custom.len() > Self::MAX_CUSTOM {
            return Err(ValidationError::UnknownRole {
                value: format!("at most {} custom roles", Self::MAX_CUSTOM),
            });
        }
        Ok(MemberRoles {
            role: built_in.unwrap_or(OrgRole::Member),
            custom,
        })
    }

    /// Every role's name, the built-in one first.
    pub fn names(&self) -> Vec<String> {
        std::iter::once(self.role.as_str().to_owned())
            .chain(self.custom.iter().map(|key| key.as_str().to_owned()))
            .collect()
    }
}

/// What a member may do in an organization: their built-in role, and what
/// their custom roles add to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// The built-in role.
    pub role: OrgRole,
    /// orgman's own permissions their custom roles grant.
    pub granted: PermissionSet,
}

impl Access {
    /// The access of a built-in role alone.
    pub const fn of_role(role: OrgRole) -> Access {
        Access {
            role,
            granted: PermissionSet::EMPTY,
        }
    }

    /// Whether the member holds `permission`, by either.
    pub fn holds(self, permission: Permission) -> bool {
        permission.granted_to(self.role) || self.granted.contains(permission)
    }
}

/// What a member holds, by name: their built-in role, and every permission
/// their custom roles grant (orgman's own and other services'). What the
/// check API decides from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberGrants {
    /// The built-in role.
    pub role: OrgRole,
    /// Every permission the member's custom roles grant.
    pub granted: BTreeSet<PermissionName>,
}

impl MemberGrants {
    /// Whether the member holds `permission` through a role; `None` when
    /// only the catalog can tell (an OWNER holds every permission the
    /// catalog lists).
    pub fn holds(&self, permission: &PermissionName) -> Option<bool> {
        if self.granted.contains(permission) {
            return Some(true);
        }
        match permission.own() {
            Some(own) => Some(own.granted_to(self.role)),
            None if self.role == OrgRole::Owner => None,
            None => Some(false),
        }
    }
}

/// Every permission a member holds, by name: their built-in role's and
/// their custom roles'.
pub fn effective_permissions<'a>(
    role: OrgRole,
    custom: impl IntoIterator<Item = &'a CustomRole>,
) -> BTreeSet<PermissionName> {
    PermissionSet::of_role(role)
        .iter()
        .map(PermissionName::from)
        .chain(
            custom
                .into_iter()
                .flat_map(|r| r.permissions.iter().cloned()),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated_and_built_in_names_refused() {
        for good in ["billing-viewer", "a", "9lives", "x_y", &"a".repeat(63)] {
            assert!(RoleKey::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "_a",
            "Billing",
            "a b",
            "owner",
            "ADMIN",
            "member",
            &"a".repeat(64),
        ] {
            assert!(RoleKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn member_roles_hold_one_built_in_role() {
        let parse = |names: &[&str]| {
            let refs: Vec<_> = names.iter().map(|n| RoleRef::parse(n).unwrap()).collect();
            MemberRoles::from_refs(&refs)
        };
        assert_eq!(parse(&["x"]).unwrap().role, OrgRole::Member);
        assert_eq!(parse(&["owner", "OWNER"]).unwrap().role, OrgRole::Owner);
        assert!(parse(&["OWNER", "ADMIN"]).is_err());
        assert_eq!(
            parse(&["b", "a", "b"]).unwrap().names(),
            ["MEMBER", "a", "b"]
        );
        assert!(RoleRef::parse("Not A Role").is_err());
    }

    #[test]
    fn access_adds_custom_grants_to_the_built_in_role() {
        let access = Access {
            role: OrgRole::Member,
            granted: [Permission::AuditRead].into_iter().collect(),
        };
        assert!(access.holds(Permission::AuditRead));
        assert!(access.holds(Permission::OrganizationRead));
        assert!(!access.holds(Permission::MembersManage));
        assert!(!Access::of_role(OrgRole::Admin).holds(Permission::OrganizationDelete));
    }

    #[test]
    fn drafts_check_their_texts() {
        assert!(RoleDraft::new("Billing", "", BTreeSet::new()).is_ok());
        assert!(RoleDraft::new(" ", "", BTreeSet::new()).is_err());
        assert!(RoleDraft::new("a\u{7}", "", BTreeSet::new()).is_err());
        assert!(RoleDraft::new("a", &"d".repeat(501), BTreeSet::new()).is_err());
    }
}
