//! Erasing a person (GDPR Article 17): who may ask, the account at the
//! identity provider, then everything orgman keeps about them.

use std::sync::Arc;

use crate::errors::port::IdentityError;
use crate::errors::use_case::OrgError;
use crate::members::actor::Actor;
use crate::organizations::service::{ErasureReport, OrganizationService};
use crate::ports::{IdentityProvider, Pseudonyms, UserRepository};
use crate::values::actor::ActorKind;
use crate::values::id::UserId;

/// What happens to the person's account at the identity provider when
/// orgman erases them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccountErasure {
    /// The account is deleted (the default).
    #[default]
    Delete,
    /// The account is disabled: it can no longer log in, and the identity
    /// provider's operators decide what happens to it.
    Disable,
    /// The account is left alone (orgman does not own it).
    Keep,
}

impl AccountErasure {
    /// The setting's value: `delete`, `disable` or `keep`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "delete" => Some(Self::Delete),
            "disable" => Some(Self::Disable),
            "keep" => Some(Self::Keep),
            _ => None,
        }
    }
}

/// Erasure of a person, on their own request or a platform
/// administrator's.
pub struct Erasure {
    organizations: Arc<OrganizationService>,
    users: Arc<dyn UserRepository>,
    identity: Option<Arc<dyn IdentityProvider>>,
    account: AccountErasure,
    pseudonyms: Arc<dyn Pseudonyms>,
}

impl std::fmt::Debug for Erasure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Erasure")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Erasure {
    /// Erasure over the service's storage; `identity` is where accounts
    /// live (`None`: no identity provider to tell, as with
    /// [`AccountErasure::Keep`]).
    pub fn new(
        organizations: Arc<OrganizationService>,
        users: Arc<dyn UserRepository>,
        identity: Option<Arc<dyn IdentityProvider>>,
        account: AccountErasure,
        pseudonyms: Arc<dyn Pseudonyms>,
    ) -> Self {
        Self {
            organizations,
            users,
            identity,
            account,
            pseudonyms,
        }
    }

    /// Erases `user`: a platform administrator may erase anyone, a person
    /// themselves (never an API key or a SCIM client). Refused while the
    /// user is the only OWNER of an organization. The account at the
    /// identity provider goes first (deleted or disabled as
    /// [`AccountErasure`] says), so an unreachable provider changes
    /// nothing; then [`OrganizationService::erase_person`]. Erasing an
    /// erased user again only retries the account step.
    ///
    /// # Errors
    /// [`OrgError::Forbidden`], [`OrgError::UserNotFound`],
    /// [`OrgError::SoleOwner`], [`OrgError::Unavailable`] (the identity
    /// provider or storage), [`OrgError::IdentityRejected`].
    pub async fn erase(&self, actor: &Actor, user: UserId) -> Result<ErasureReport, OrgError> {
        let person = actor.reference().kind == ActorKind::User;
        if !(person && (actor.is_platform_admin() || actor.user_id() == user)) {
            return Err(OrgError::PlatformAdminRequired);
        }
        let stored = self.users.user(user).await?.ok_or(OrgError::UserNotFound)?;
        if stored.erased_at.is_none() {
            let sole = self.organizations.sole_ownerships(user).await?;
            if !sole.is_empty() {
                return Err(OrgError::SoleOwner {
                    organizations: sole,
                });
            }
        }
        self.erase_account(&stored.subject).await?;
        if stored.erased_at.is_some() {
            return Ok(ErasureReport {
                already_erased: true,
                ..ErasureReport::default()
            });
        }
        self.organizations
            .erase_person(actor, user, stored.email.as_ref(), &*self.pseudonyms)
            .await
    }

    async fn erase_account(&self, subject: &str) -> Result<(), OrgError> {
        let Some(identity) = &self.identity else {
            return Ok(());
        };
        let done = match self.account {
            AccountErasure::Delete => identity.delete(subject).await,
            AccountErasure::Disable => identity.disable(subject).await,
            AccountErasure::Keep => Ok(()),
        };
        match done {
            Ok(()) => Ok(()),
            Err(IdentityError::Unavailable(reason)) => Err(OrgError::Unavailable(format!(
                "the identity provider cannot be reached, nothing was erased: {reason}"
            ))),
            Err(other) => Err(OrgError::IdentityRejected(other.to_string())),
        }
    }
}
