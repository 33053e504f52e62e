//! Roles inside an organization and platform-wide roles.

use std::fmt;
use std::str::FromStr;

use crate::errors::port::ValidationError;

/// A member's role inside one organization.
///
/// Stored as text (`"OWNER"`, `"ADMIN"`, `"MEMBER"`), so a role added later
/// needs no schema migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum OrgRole {
    /// Full control, including granting and revoking OWNER and deletion.
    Owner,
    /// Delegated administration: manages members (except owners) and settings.
    Admin,
    /// Reads the organization and its members.
    Member,
}

impl OrgRole {
    /// Every role, strongest first.
    pub const ALL: [OrgRole; 3] = [OrgRole::Owner, OrgRole::Admin, OrgRole::Member];

    /// The stored and wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrgRole::Owner => "OWNER",
            OrgRole::Admin => "ADMIN",
            OrgRole::Member => "MEMBER",
        }
    }

    /// Whether this role administers the organization (OWNER or ADMIN).
    pub const fn administers(self) -> bool {
        matches!(self, OrgRole::Owner | OrgRole::Admin)
    }
}

/// What a role that is given but blank means where it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlankRole {
    /// Refused, as any other value that is not a role (JSON bodies: a
    /// client that sends the field means a role).
    Refused,
    /// MEMBER, as if the role were absent (a CSV row's empty role cell,
    /// documented as such).
    Member,
}

impl OrgRole {
    /// The role of an optional field: absent is MEMBER, blank is what
    /// `blank` says, anything else must name a role. Every place that reads
    /// a role from a request decides through this one function.
    ///
    /// ```
    /// use orgman_domain::{BlankRole, OrgRole};
    ///
    /// assert_eq!(OrgRole::from_field(None, BlankRole::Refused), Ok(OrgRole::Member));
    /// assert!(OrgRole::from_field(Some(" "), BlankRole::Refused).is_err());
    /// assert_eq!(OrgRole::from_field(Some(""), BlankRole::Member), Ok(OrgRole::Member));
    /// assert_eq!(OrgRole::from_field(Some("admin"), BlankRole::Refused), Ok(OrgRole::Admin));
    /// ```
    ///
    /// # Errors
    /// [`ValidationError::UnknownRole`] for a value that names no role.
    pub fn from_field(text: Option<&str>, blank: BlankRole) -> Result<OrgRole, ValidationError> {
        match text.map(str::trim) {
            None => Ok(OrgRole::Member),
            Some("") if blank == BlankRole::Member => Ok(OrgRole::Member),
            Some(text) => text.parse(),
        }
    }
}

impl FromStr for OrgRole {
    type Err = ValidationError;

    /// Accepts the stored form, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgRole::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ValidationError::UnknownRole {
                value: s.chars().take(32).collect(),
            })
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's platform-wide role, independent of any organization. The
/// default is [`SystemRole::User`]: nobody is an administrator unless the
/// identity provider says so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum SystemRole {
    /// Platform administrator: may do everything in every organization.
    Admin,
    /// Everybody else; rights come from organization memberships.
    #[default]
    User,
}

impl SystemRole {
    /// The role's name: `ADMIN` or `USER`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SystemRole::Admin => "ADMIN",
            SystemRole::User => "USER",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_text_round_trips_and_unknown_is_refused() {
        for role in OrgRole::ALL {
            assert_eq!(role.as_str().parse::<OrgRole>().unwrap(), role);
        }
        assert_eq!("admin".parse::<OrgRole>().unwrap(), OrgRole::Admin);
        assert_eq!(
            "GUEST".parse::<OrgRole>(),
            Err(ValidationError::UnknownRole {
                value: "GUEST".into()
            })
        );
    }
}
