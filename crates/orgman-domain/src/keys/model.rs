//! An API key: a secret of the organization's own systems, fixed to one
//! organization and to the permissions it was created with.
//!
//! The secret reads `orgman_<token><key id><organization id>`: a token of
//! 256 random bits (43 URL-safe characters), then both ids as 32 hex digits
//! each, so the service finds the key, and the organization whose cache
//! generation it lives under, without a search. Storage keeps only the
//! token's digest.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::errors::port::ValidationError;
use crate::invitations::model::TokenDigest;
use crate::members::permission::PermissionSet;
use crate::organizations::model::Organization;
use crate::values::actor::ActorRef;
use crate::values::id::{ApiKeyId, OrganizationId};

/// A key's name, as people tell keys apart: 1 to 100 characters, trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct KeyName(String);

impl KeyName {
    /// Longest name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// A name, trimmed.
    ///
    /// # Errors
    /// [`ValidationError::TextInvalid`] for an empty or too long name, or
    /// one with control characters.
    pub fn parse(text: &str) -> Result<KeyName, ValidationError> {
        let trimmed = text.trim();
        if trimmed.is_empty()
            || trimmed.chars().count() > Self::MAX_CHARS
            || trimmed.chars().any(char::is_control)
        {
            return Err(ValidationError::TextInvalid {
                field: "name",
                max: Self::MAX_CHARS,
            });
        }
        Ok(KeyName(trimmed.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyName {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        KeyName::parse(&value)
    }
}

impl From<KeyName> for String {
    fn from(name: KeyName) -> String {
        name.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organization's API key as storage keeps it (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// Its id (also the actor id of what it does).
    pub id: ApiKeyId,
    /// The only organization it acts in.
    pub organization: OrganizationId,
    /// What people call it.
    pub name: KeyName,
    /// The secret's first characters (`orgman_` and 8 of the token), to
    /// recognise it in a list or a leak report.
    pub prefix: String,
    /// What it may do: fixed at creation (see [`ApiKeyService`](crate::ApiKeyService)).
    pub permissions: PermissionSet,
    /// Who created it.
    pub created_by: ActorRef,
    /// When.
    pub created_at: OffsetDateTime,
    /// When it stops working, if ever (a rotation's overlap sets it).
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last used, to within the service's coalescing interval.
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// The key it replaced, for a key made by a rotation.
    pub rotated_from: Option<ApiKeyId>,
}

impl ApiKey {
    /// Whether it authenticates requests at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }

    /// What authenticating with it needs, as the cache keeps it.
    pub fn credential(&self, digest: TokenDigest) -> KeyCredential {
        KeyCredential {
            digest,
            permissions: self.permissions,
            expires_at: self.expires_at,
            revoked: self.revoked_at.is_some(),
        }
    }
}

/// What authenticating a key needs: its digest, its permissions and
/// whether it still works. Cached under the organization's generation, so
/// a revocation (which fences and invalidates the organization) retires it
/// on every replica at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCredential {
    /// The digest of the key's token.
    pub digest: TokenDigest,
    /// What it may do.
    pub permissions: PermissionSet,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// What an authenticated key may do: the actor of its requests
/// ([`Actor::api_key`](crate::Actor::api_key)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGrant {
    /// The key.
    pub key: ApiKeyId,
    /// Its organization: the only one it sees.
    pub organization: OrganizationId,
    /// Its permissions there.
    pub permissions: PermissionSet,
    /// The organization as it was read with the key's credential, in the
    /// same round trip, when it was: the request's use cases show it
    /// instead of reading it again.
    pub organization_read: Option<Arc<Organization>>,
}

/// A key's secret, handed out once. Its `Debug` shows only the prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret(Zeroizing<String>);

impl KeySecret {
    /// What every secret starts with.
    pub const PREFIX: &'static str = "orgman_";
    /// Longest token accepted (production tokens have 43 characters).
    const MAX_TOKEN: usize = 86;

    /// The secret of a new key, from a token of the
    /// [`SecretTokens`](crate::ports::SecretTokens) port.
    pub(crate) fn compose(token: &str, key: ApiKeyId, organization: OrganizationId) -> KeySecret {
        KeySecret(Zeroizing::new(format!(
            "{}{token}{}{}",
            Self::PREFIX,
            key.as_uuid().simple(),
            organization.as_uuid().simple()
        )))
    }

    /// Reads a presented secret: its token, key and organization. `None`
    /// for anything that is not shaped like one.
    pub fn parse(text: &str) -> Option<PresentedKey<'_>> {
        let rest = text.strip_prefix(Self::PREFIX)?;
        let split = rest
            .len()
            .checked_sub(64)
            .filter(|&n| n > 0 && n <= Self::MAX_TOKEN)?;
        if !rest.is_char_boundary(split) {
            return None;
        }
        let (token, ids) = rest.split_at(split);
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let (key, organization) = ids.split_at(32);
        let hex = |part: &str| {
            part.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                .then(|| Uuid::parse_str(part).ok())
                .flatten()
        };
        Some(PresentedKey {
            token,
            key: ApiKeyId::from_uuid(hex(key)?),
            organization: OrganizationId::from_uuid(hex(organization)?),
        })
    }

    /// Whether `text` is meant as a key (its prefix), shaped well or not.
    pub fn looks_like(text: &str) -> bool {
        text.starts_with(Self::PREFIX)
    }

    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its first characters (`orgman_` and up to 8 of the token), as
    /// listings show them.
    pub fn prefix(&self) -> String {
        self.0.chars().take(Self::PREFIX.len() + 8).collect()
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySecret({}…)", self.prefix())
    }
}

/// A presented key's parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    /// The random token, whose digest storage keeps.
    pub token: &'a str,
    /// The key it claims to be.
    pub key: ApiKeyId,
    /// The organization it claims to act in.
    pub organization: OrganizationId,
}

/// A new key with its secret, which is not kept anywhere.
#[derive(Clone, Debug)]
pub struct IssuedKey {
    /// The key.
    pub key: ApiKey,
    /// Its secret: shown to the caller once.
    pub secret: KeySecret,
}

/// Whether two digests are equal, in time independent of where they differ.
pub(crate) fn same_digest(a: &TokenDigest, b: &TokenDigest) -> bool {
    a.0.len() == b.0.len()
        && a.0
            .bytes()
            .zip(b.0.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_carries_its_key_and_organization_and_nothing_else_parses() {
        let token = "A".repeat(43);
        let key = ApiKeyId::from_uuid(Uuid::from_u128(0xfeed_0007));
        let org = OrganizationId::from_uuid(Uuid::from_u128(0xbeef_0009));
        let secret = KeySecret::compose(&token, key, org);
        let presented = KeySecret::parse(secret.expose()).unwrap();
        assert_eq!(presented.token, token);
        assert_eq!((presented.key, presented.organization), (key, org));
        assert_eq!(secret.prefix(), "orgman_AAAAAAAA");
        assert!(!format!("{secret:?}").contains(&token));
        let text = secret.expose();
        assert!(KeySecret::parse(&text[..70]).is_none(), "too short");
        let long = KeySecret::compose(&"A".repeat(87), key, org);
        assert!(KeySecret::parse(long.expose()).is_none(), "too long");
        assert!(KeySecret::parse(&text.replacen('A', "é", 1)).is_none());
        assert!(KeySecret::parse(&text.replace("orgman_", "orgmen_")).is_none());
        let upper = format!("{}{}", &text[..60], text[60..].to_uppercase());
        assert!(KeySecret::parse(&upper).is_none(), "ids are lowercase hex");
    }

    #[test]
    fn digests_compare_whole() {
        let a = TokenDigest("ab".repeat(32));
        assert!(same_digest(&a, &a.clone()));
        assert!(!same_digest(&a, &TokenDigest("ab".repeat(31) + "ac")));
        assert!(!same_digest(&a, &TokenDigest("ab".into())));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(KeyName::parse("  ci  ").unwrap().as_str(), "ci");
        assert!(KeyName::parse(" ").is_err());
        assert!(KeyName::parse(&"x".repeat(101)).is_err());
        assert!(KeyName::parse("a\nb").is_err());
    }

    #[test]
    fn a_key_works_until_revoked_or_expired() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        let mut key = ApiKey {
            id: ApiKeyId::from_uuid(Uuid::from_u128(1)),
            organization: OrganizationId::from_uuid(Uuid::from_u128(2)),
            name: KeyName::parse("ci").unwrap(),
            prefix: "orgman_AAAAAAAA".into(),
            permissions: PermissionSet::EMPTY,
            created_by: ActorRef::user(crate::UserId::from_uuid(Uuid::from_u128(3))),
            created_at: now,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            rotated_from: None,
        };
        assert!(key.is_live(now));
        key.expires_at = Some(now + time::Duration::seconds(1));
        assert!(key.is_live(now));
        assert!(!key.is_live(now + time::Duration::seconds(1)));
        key.expires_at = None;
        key.revoked_at = Some(now);
        assert!(!key.is_live(now));
    }
}
