use async_trait::async_trait;

use crate::error::IdentityError;
use crate::name::Email;
use crate::user::{IdentityUser, NewIdentity};

/// The identity provider (Keycloak or another OIDC provider with an admin
/// API) where users log in.
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// Creates a user and returns it with the provider's id (its subject).
    ///
    /// # Errors
    /// [`IdentityError::Conflict`] when the username or e-mail exists,
    /// [`IdentityError::Rejected`] for a request the provider refuses,
    /// [`IdentityError::Unavailable`] when it cannot be reached.
    async fn register(&self, user: &NewIdentity) -> Result<IdentityUser, IdentityError>;

    /// The user with exactly this e-mail address, if any.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`] when the provider cannot be reached.
    async fn find_by_email(&self, email: &Email) -> Result<Option<IdentityUser>, IdentityError>;

    /// Disables a user so it can no longer log in (used to compensate a
    /// registration that could not be completed locally).
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`] when the provider cannot be reached.
    async fn disable(&self, subject: &str) -> Result<(), IdentityError>;
}
