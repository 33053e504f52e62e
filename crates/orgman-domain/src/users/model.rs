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
    /// Given name, when the identity provider tells it.
    pub given_name: Option<String>,
    /// Family name, when the identity provider tells it.
    pub family_name: Option<String>,
    /// When the user was first seen or registered.
    pub created_at: OffsetDateTime,
    /// When the projection last changed.
    pub updated_at: OffsetDateTime,
    /// When the person was erased (GDPR Article 17): the row stays, with
    /// its ids and without address or names, so that the records which
    /// name the id stay countable and a token of the account provisions
    /// nothing again.
    pub erased_at: Option<OffsetDateTime>,
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
    /// Given name (the `given_name` claim).
    pub given_name: Option<String>,
    /// Family name (the `family_name` claim).
    pub family_name: Option<String>,
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
        Self::from_claims_named(id, subject, email, [name, login], [None, None])
    }

    /// [`UserProfile::from_claims`] with the token's `given_name` and
    /// `family_name` claims too (`names`: the given and family name), cut
    /// and left out as the display name is.
    ///
    /// # Errors
    /// As [`UserProfile::from_claims`].
    pub fn from_claims_named(
        id: UserId,
        subject: &str,
        email: Option<&str>,
        [name, login]: [Option<&str>; 2],
        [given, family]: [Option<&str>; 2],
    ) -> Result<Self, ValidationError> {
        if subject.is_empty() || subject.len() > Self::MAX_SUBJECT_BYTES {
            return Err(ValidationError::TextInvalid {
                field: "sub",
                max: Self::MAX_SUBJECT_BYTES,
            });
        }
        let kept = |n: &str| -> String { n.chars().take(Self::MAX_DISPLAY_NAME_CHARS).collect() };
        let display_name = [name, login]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|n| !n.is_empty())
            .map(kept);
        let one = |n: Option<&str>| n.map(str::trim).filter(|n| !n.is_empty()).map(kept);
        Ok(Self {
            id,
            subject: subject.to_owned(),
            email: email.and_then(|e| Email::parse(e).ok()),
            display_name,
            given_name: one(given),
            family_name: one(family),
        })
    }

    /// Whether a stored user differs from this profile in what a login
    /// keeps current (e-mail address and names).
    pub fn differs_from(&self, user: &User) -> bool {
        self.email != user.email
            || self.display_name != user.display_name
            || self.given_name != user.given_name
            || self.family_name != user.family_name
    }

    /// The words of this profile's names a member search matches.
    pub fn search_words(&self) -> Vec<String> {
        name_words(
            self.display_name.as_deref(),
            self.given_name.as_deref(),
            self.family_name.as_deref(),
        )
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

/// The words of a person's names a search matches: the display, given and
/// family names split at white space and hyphens, lower-cased, each cut to
/// 100 characters, without repeats, in the order found. Stores keep them
/// beside the user (at most 16).
pub fn name_words(
    display_name: Option<&str>,
    given_name: Option<&str>,
    family_name: Option<&str>,
) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let names = [display_name, given_name, family_name];
    for word in names
        .into_iter()
        .flatten()
        .flat_map(|name| name.split(|c: char| c.is_whitespace() || c == '-'))
        .filter(|word| !word.is_empty())
    {
        let word: String = word.to_lowercase().chars().take(100).collect();
        if !words.contains(&word) && words.len() < 16 {
            words.push(word);
        }
    }
    words
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
