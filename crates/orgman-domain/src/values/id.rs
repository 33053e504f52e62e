//! Identifiers. Each one wraps a UUID so that an organization id can never be
//! passed where a user id is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::errors::port::ValidationError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID (for instance one read from storage).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;

            /// Parses the hyphenated or simple text form of a UUID.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| ValidationError::InvalidId { field: $field })
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// Identifies an organization (a tenant).
    OrganizationId,
    "organizationId"
);
impl OrganizationId {
    /// The platform itself (the nil UUID), never an organization's id: the
    /// scope of platform roles, and the organization of their events. Its
    /// cache generation and fence apply to every organization.
    pub const PLATFORM: OrganizationId = OrganizationId(Uuid::nil());

    /// Whether this is [`OrganizationId::PLATFORM`].
    pub fn is_platform(self) -> bool {
        self == Self::PLATFORM
    }
}

uuid_id!(
    /// Identifies a user. It is the local id, which equals the identity
    /// provider's user id (the token's `sub`) for users registered through it.
    UserId,
    "userId"
);
uuid_id!(
    /// Identifies one domain event; consumers de-duplicate on it.
    EventId,
    "eventId"
);
uuid_id!(
    /// Identifies an SSO configuration.
    SsoConfigId,
    "configId"
);
uuid_id!(
    /// Identifies an invitation to join an organization.
    InvitationId,
    "invitationId"
);
uuid_id!(
    /// Identifies an organization's API key (it is also the id of the
    /// non-human actor the key acts as).
    ApiKeyId,
    "keyId"
);
uuid_id!(
    /// Identifies an organization's webhook endpoint.
    WebhookId,
    "webhookId"
);
uuid_id!(
    /// Identifies one delivery of one event to one webhook endpoint.
    DeliveryId,
    "deliveryId"
);
uuid_id!(
    /// Identifies a person as an organization's directory provisions them
    /// (a SCIM User resource).
    DirectoryUserId,
    "directoryUserId"
);
uuid_id!(
    /// Identifies a group of an organization's directory (a SCIM Group
    /// resource).
    DirectoryGroupId,
    "directoryGroupId"
);
uuid_id!(
    /// Identifies one API request, so logs, audit records and events of the
    /// same request can be tied together.
    RequestId,
    "requestId"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hyphenated_and_refuses_garbage() {
        let id: OrganizationId = "6f1e2a3b-0000-4000-8000-000000000001".parse().unwrap();
        assert_eq!(id.to_string(), "6f1e2a3b-0000-4000-8000-000000000001");
        assert_eq!(
            "not-a-uuid".parse::<UserId>(),
            Err(ValidationError::InvalidId { field: "userId" })
        );
    }
}
