//! The local projection of identity-provider users.

use std::fmt;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::id::UserId;
use crate::name::Email;

/// A user known to the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Local id (equals the provider's id when that is a UUID).
    pub id: UserId,
    /// The identity provider's subject (the token's `sub`).
    pub subject: String,
    /// E-mail address, when the provider knows one.
    pub email: Option<Email>,
    /// Display name, when known.
    pub display_name: Option<String>,
    /// When the user was first seen or registered.
    pub created_at: OffsetDateTime,
    /// When the projection last changed.
    pub updated_at: OffsetDateTime,
}

/// What a verified token or a registration tells about a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserProfile {
    /// Local id to use if the user is new.
    pub id: UserId,
    /// The provider's subject.
    pub subject: String,
    /// E-mail address.
    pub email: Option<Email>,
    /// Display name.
    pub display_name: Option<String>,
}

/// A user to create at the identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIdentity {
    /// The user's e-mail address, also used as username.
    pub email: Email,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// An initial password, if the caller sets one (otherwise the provider's
    /// own flows, e.g. an e-mail, let the user choose one).
    pub password: Option<ClientSecret>,
}

/// A user as the identity provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityUser {
    /// The provider's id for the user (the tokens' `sub`).
    pub subject: String,
    /// E-mail address.
    pub email: Option<Email>,
    /// Whether the account may log in.
    pub enabled: bool,
}

/// A client secret in plain text. It is wiped from memory when dropped and
/// never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The plain text. Keep the borrow short.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let secret = ClientSecret::new("hunter2".into());
        assert_eq!(format!("{secret:?}"), "ClientSecret([REDACTED])");
        assert_eq!(secret.expose(), "hunter2");
    }
}
