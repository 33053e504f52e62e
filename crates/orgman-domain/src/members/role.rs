//! Roles inside an organization, platform-wide roles, and who is acting.

use std::fmt;
use std::str::FromStr;

use crate::errors::port::ValidationError;
use crate::sso::sign_in::SignIn;
use crate::values::id::{RequestId, UserId};

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

/// The authenticated user on whose behalf a use case runs.
///
/// It is built by the caller (the HTTP edge builds it from a verified token)
/// and passed explicitly: the domain never reads ambient, thread-local state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    user_id: UserId,
    system_role: SystemRole,
    request_id: Option<RequestId>,
    sign_in: SignIn,
}

impl Actor {
    /// An actor with the given platform role.
    pub const fn new(user_id: UserId, system_role: SystemRole) -> Self {
        Self {
            user_id,
            system_role,
            request_id: None,
            sign_in: SignIn::EMPTY,
        }
    }

    /// The same actor, signed in as its token says (address and provider),
    /// which organizations with `ssoRequired` domains judge.
    #[must_use]
    pub fn signed_in(mut self, sign_in: SignIn) -> Self {
        self.sign_in = sign_in;
        self
    }

    /// How the actor signed in (nothing known: [`SignIn::default`]).
    pub const fn sign_in(&self) -> &SignIn {
        &self.sign_in
    }

    /// The same actor, acting within the given request.
    pub const fn in_request(mut self, request_id: RequestId) -> Self {
        self.request_id = Some(request_id);
        self
    }

    /// The request the actor acts within, if known.
    pub const fn request_id(&self) -> Option<RequestId> {
        self.request_id
    }

    /// An ordinary user.
    pub const fn user(user_id: UserId) -> Self {
        Self::new(user_id, SystemRole::User)
    }

    /// A platform administrator.
    pub const fn platform_admin(user_id: UserId) -> Self {
        Self::new(user_id, SystemRole::Admin)
    }

    /// The acting user.
    pub const fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The acting user's platform role.
    pub const fn system_role(&self) -> SystemRole {
        self.system_role
    }

    /// Whether the actor is a platform administrator.
    pub const fn is_platform_admin(&self) -> bool {
        matches!(self.system_role, SystemRole::Admin)
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
