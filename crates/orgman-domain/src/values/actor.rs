//! Who acted, as events and the audit trail record it: a person, or one of
//! an organization's non-human callers (an API key today, a directory's
//! SCIM client later), each by kind and id.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::errors::port::ValidationError;

/// What kind of caller acted. The wire form is `user`, `apiKey` or
/// `scimClient`; a record without one was written by a user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub enum ActorKind {
    /// A person (the id is a [`UserId`](crate::UserId)).
    #[default]
    User,
    /// An organization's API key (the id is an [`ApiKeyId`](crate::ApiKeyId)).
    ApiKey,
    /// A directory provisioning the organization over SCIM.
    ScimClient,
}

impl ActorKind {
    /// Every kind, in wire order.
    pub const ALL: [ActorKind; 3] = [ActorKind::User, ActorKind::ApiKey, ActorKind::ScimClient];

    /// The wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "apiKey",
            ActorKind::ScimClient => "scimClient",
        }
    }

    /// Whether a person acted.
    pub const fn is_human(self) -> bool {
        matches!(self, ActorKind::User)
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActorKind {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or(ValidationError::InvalidId { field: "actorKind" })
    }
}

/// One actor, human or not: what an event's `actor` and `actorKind` and an
/// audit entry's actor hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActorRef {
    /// Its kind.
    pub kind: ActorKind,
    /// Its id, of the kind's id type.
    pub id: Uuid,
}

impl ActorRef {
    /// A person.
    pub const fn user(id: crate::UserId) -> ActorRef {
        ActorRef {
            kind: ActorKind::User,
            id: id.as_uuid(),
        }
    }

    /// An API key.
    pub const fn api_key(id: crate::ApiKeyId) -> ActorRef {
        ActorRef {
            kind: ActorKind::ApiKey,
            id: id.as_uuid(),
        }
    }

    /// A directory's SCIM client, by the API key it calls with.
    pub const fn scim_client(key: crate::ApiKeyId) -> ActorRef {
        ActorRef {
            kind: ActorKind::ScimClient,
            id: key.as_uuid(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_wire_form() {
        for kind in ActorKind::ALL {
            assert_eq!(kind.as_str().parse::<ActorKind>().unwrap(), kind);
        }
        assert!("robot".parse::<ActorKind>().is_err());
        assert!(ActorKind::User.is_human() && !ActorKind::ApiKey.is_human());
    }
}
