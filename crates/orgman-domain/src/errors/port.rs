//! Typed errors. Each variant says what is wrong; the HTTP edge maps each
//! one to a stable problem code and status.

/// An input value broke a rule. Returned by the value types' constructors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// An organization name is empty after trimming.
    #[error("name must not be empty")]
    NameEmpty,
    /// An organization name is too long.
    #[error("name must be at most {max} characters, got {actual}")]
    NameTooLong {
        /// The limit.
        max: usize,
        /// The length found, in characters.
        actual: usize,
    },
    /// An organization name contains a control character.
    #[error("name must not contain control characters")]
    NameControlCharacter,
    /// A slug is empty.
    #[error("slug must not be empty")]
    SlugEmpty,
    /// A slug is too long.
    #[error("slug must be at most {max} characters, got {actual}")]
    SlugTooLong {
        /// The limit.
        max: usize,
        /// The length found.
        actual: usize,
    },
    /// A slug contains a character outside `[a-z0-9-]`.
    #[error("slug must match ^[a-z0-9-]+$; {character:?} is not allowed")]
    SlugInvalidCharacter {
        /// The first character that is not allowed.
        character: char,
    },
    /// An e-mail address is malformed.
    #[error("email address is not valid")]
    EmailInvalid,
    /// A domain name is malformed.
    #[error("domain must be a DNS name of at least two labels of a-z, 0-9 and -")]
    DomainInvalid,
    /// A text is not a UUID.
    #[error("{field} must be a UUID")]
    InvalidId {
        /// Which field (in the API's camelCase).
        field: &'static str,
    },
    /// A role name is unknown.
    #[error("unknown role {value:?}; expected OWNER, ADMIN or MEMBER")]
    UnknownRole {
        /// The value given (truncated).
        value: String,
    },
    /// A lifecycle status name is unknown.
    #[error("unknown organization status {value:?}")]
    UnknownStatus {
        /// The value given (truncated).
        value: String,
    },
    /// An SSO issuer URL is not acceptable.
    #[error("issuerUrl {reason}")]
    IssuerUrlInvalid {
        /// What is wrong.
        reason: &'static str,
    },
    /// A text field is empty, too long or contains control characters.
    #[error("{field} must be 1-{max} characters without control characters")]
    TextInvalid {
        /// The field (camelCase).
        field: &'static str,
        /// Its largest length.
        max: usize,
    },
    /// An SSO configuration's issuer or client id changes without a new
    /// client secret: the stored secret belongs to the old pair and is never
    /// sent to another issuer.
    #[error("clientSecret is required when issuerUrl or clientId changes")]
    SecretRequired,
    /// A URL field (other than `issuerUrl`) is not acceptable.
    #[error("{field} {reason}")]
    UrlInvalid {
        /// The field (camelCase).
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A field of one SSO protocol was sent for a configuration of the
    /// other.
    #[error("{field} does not apply to {protocol} configurations")]
    FieldNotForProtocol {
        /// The field (camelCase).
        field: &'static str,
        /// The configuration's protocol (`oidc`, `saml`).
        protocol: &'static str,
    },
    /// A field the configuration's protocol needs is missing.
    #[error("{field} is required")]
    Required {
        /// The field (camelCase).
        field: &'static str,
    },
    /// An SSO configuration's protocol cannot change.
    #[error("protocol cannot change; create another configuration")]
    ProtocolFixed,
    /// A SAML configuration needs its identity provider's metadata, as
    /// exactly one of `metadataUrl` and `metadataXml`.
    #[error("a SAML configuration needs exactly one of metadataUrl and metadataXml")]
    MetadataSourceRequired,
    /// SAML metadata was read and refused.
    #[error("{field}: {reason}")]
    SamlMetadataInvalid {
        /// `metadataUrl` or `metadataXml`.
        field: &'static str,
        /// What is wrong, for people.
        reason: String,
    },
    /// Organization metadata is not an object, or too large.
    #[error("{field} {reason}")]
    MetadataInvalid {
        /// `metadata` or `privateMetadata`.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A permission name is not `resource:action` in the catalog's
    /// alphabet.
    #[error(
        "permission {value:?} must be resource:action, each part 1-40 characters of a-z, 0-9, _ and -, starting with a letter"
    )]
    PermissionNameInvalid {
        /// The value given (truncated).
        value: String,
    },
    /// A custom role key is malformed or names a built-in role.
    #[error(
        "role key {value:?} must be 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit, and not owner, admin or member"
    )]
    RoleKeyInvalid {
        /// The value given (truncated).
        value: String,
    },
    /// Stored data contradicts the domain's invariants.
    #[error("inconsistent stored record: {reason}")]
    InconsistentRecord {
        /// What is inconsistent.
        reason: &'static str,
    },
}

impl ValidationError {
    /// The request field (camelCase) this error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::NameEmpty | Self::NameTooLong { .. } | Self::NameControlCharacter => Some("name"),
            Self::SlugEmpty | Self::SlugTooLong { .. } | Self::SlugInvalidCharacter { .. } => {
                Some("slug")
            }
            Self::EmailInvalid => Some("email"),
            Self::DomainInvalid => Some("domain"),
            Self::InvalidId { field } => Some(field),
            Self::UnknownRole { .. } => Some("role"),
            Self::IssuerUrlInvalid { .. } => Some("issuerUrl"),
            Self::TextInvalid { field, .. } => Some(field),
            Self::SecretRequired => Some("clientSecret"),
            Self::MetadataInvalid { field, .. } => Some(field),
            Self::UrlInvalid { field, .. }
            | Self::FieldNotForProtocol { field, .. }
            | Self::SamlMetadataInvalid { field, .. } => Some(field),
            Self::ProtocolFixed => Some("protocol"),
            Self::Required { field } => Some(field),
            Self::MetadataSourceRequired => Some("metadataUrl"),
            Self::PermissionNameInvalid { .. } => Some("permissions"),
            Self::RoleKeyInvalid { .. } => Some("key"),
            Self::UnknownStatus { .. } | Self::InconsistentRecord { .. } => None,
        }
    }
}

/// Why a storage port call failed. Adapters map their own errors into it
/// where they happen.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// A row changed since it was read (optimistic concurrency).
    #[error("version mismatch: expected {expected}, found {actual}")]
    VersionMismatch {
        /// The version the write expected.
        expected: u64,
        /// The version found.
        actual: u64,
    },
    /// A row the write refers to is missing.
    #[error("not found")]
    NotFound,
    /// The store cannot be reached or is restarting; nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("store error: {0}")]
    Other(String),
}

/// Which uniqueness rule a write broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// An organization with that slug exists.
    Slug,
    /// The user is already a member of the organization.
    Membership,
    /// A user with that subject or e-mail exists.
    User,
    /// Something else, described.
    Other(String),
}

/// Why an authorization port call failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthzError {
    /// The authorization service cannot be reached. Callers must fail
    /// closed: an unavailable authorizer never means "allowed".
    #[error("authorization service unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("authorization error: {0}")]
    Other(String),
}

/// Why an identity provider call failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// A user with that username or e-mail exists at the provider.
    #[error("user already exists at the identity provider")]
    Conflict,
    /// The provider refused the request as invalid.
    #[error("identity provider refused the request: {0}")]
    Rejected(String),
    /// The provider cannot be reached or answers with server errors.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("identity provider error: {0}")]
    Other(String),
}

/// Why a [`crate::ports::SecretCipher`] call failed. It never carries secret
/// material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The stored value names a key that is not configured.
    #[error("encryption key {key_id:?} is not configured")]
    UnknownKey {
        /// The key id found in the stored value.
        key_id: String,
    },
    /// Authentication failed: wrong key, tampered ciphertext, or a
    /// ciphertext that belongs to another record.
    #[error("ciphertext failed authentication (wrong key, tampered, or moved between records)")]
    Authentication,
    /// The stored value is not in the expected format.
    #[error("stored secret is malformed: {0}")]
    Malformed(&'static str),
}
