//! The local projection of identity-provider users.

use std::fmt;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::errors::port::ValidationError;
use crate::values::id::UserId;
use crate::values::name::Email;

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

impl UserProfile {
    /// Longest display name kept, in characters (longer ones are cut).
    pub const MAX_DISPLAY_NAME_CHARS: usize = 200;
    /// Longest provider subject accepted, in bytes.
    pub const MAX_SUBJECT_BYTES: usize = 255;

    /// The profile a verified token's claims describe, as just-in-time
    /// provisioning stores it: an e-mail address that is not a valid one is
    /// left out, a display name (the `name` claim, else the login name) is
    /// cut to [`UserProfile::MAX_DISPLAY_NAME_CHARS`] characters, blank ones
    /// are left out.
    ///
    /// # Errors
    /// [`ValidationError::TextInvalid`] when the subject is empty or longer
    /// than [`UserProfile::MAX_SUBJECT_BYTES`] bytes: such a user cannot be
    /// stored.
    pub fn from_claims(
        id: UserId,
        subject: &str,
        email: Option<&str>,
        name: Option<&str>,
        login: Option<&str>,
    ) -> Result<Self, ValidationError> {
        if subject.is_empty() || subject.len() > Self::MAX_SUBJECT_BYTES {
            return Err(ValidationError::TextInvalid {
                field: "sub",
                max: Self::MAX_SUBJECT_BYTES,
            });
        }
        let display_name = [name, login]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|n| !n.is_empty())
            .map(|n| n.chars().take(Self::MAX_DISPLAY_NAME_CHARS).collect());
        Ok(Self {
            id,
            subject: subject.to_owned(),
            email: email.and_then(|e| Email::parse(e).ok()),
            display_name,
        })
    }
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
    /// The person finishes setting the account up at first login: verifies
    /// the address and chooses a password (the one given, if any, is only
    /// temporary). Set for accounts created by organization administrators.
    pub set_up_by_user: bool,
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
