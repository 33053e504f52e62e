//! A person's rights over their data: access (GDPR Article 15), what
//! orgman keeps about them; erasure (Article 17): who may ask, the account
//! at the identity provider, then everything orgman keeps about them.

use std::sync::Arc;

use crate::errors::port::IdentityError;
use crate::errors::use_case::OrgError;
use crate::events::event::DomainEvent;
use crate::invitations::model::Invitation;
use crate::members::actor::Actor;
use crate::members::role::OrgRole;
use crate::organizations::model::Organization;
use crate::organizations::service::{ErasureReport, OrganizationService};
use crate::ports::{
    AuditFilter, AuditTrail, IdentityProvider, InvitationQueries, Pseudonyms, UserRepository,
};
use crate::users::model::User;
use crate::values::actor::ActorKind;
use crate::values::id::EventId;
use crate::values::id::UserId;
use crate::values::page::PageRequest;

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

/// What orgman keeps about a person (GDPR Article 15).
#[derive(Clone, Debug, PartialEq)]
pub struct PersonalData {
    /// Their user: ids, address, names, dates.
    pub user: User,
    /// The organizations they belong to, with their built-in role.
    pub memberships: Vec<(Organization, OrgRole)>,
    /// The invitations addressed to them, in every state.
    pub invitations: Vec<Invitation>,
    /// The audit entries about them (made by them or naming them), newest
    /// first, at most [`PersonalData::MAX_AUDIT`].
    pub audit: Vec<DomainEvent>,
    /// More audit entries exist than [`PersonalData::MAX_AUDIT`].
    pub audit_truncated: bool,
}

impl PersonalData {
    /// The most audit entries an access request returns at once.
    pub const MAX_AUDIT: usize = 10_000;
}

/// The stores a person's data is read from.
#[derive(Clone)]
pub struct PersonStores {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Invitations.
    pub invitations: Arc<dyn InvitationQueries>,
    /// The audit trail.
    pub trail: Arc<dyn AuditTrail>,
}

impl std::fmt::Debug for PersonStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonStores").finish_non_exhaustive()
    }
}

impl PersonStores {
    /// All three from one storage adapter.
    pub fn over<S>(storage: Arc<S>) -> Self
    where
        S: UserRepository + InvitationQueries + AuditTrail + 'static,
    {
        Self {
            users: storage.clone(),
            invitations: storage.clone(),
            trail: storage,
        }
    }
}

/// Access to and erasure of a person's data, on their own request or a
/// platform administrator's.
pub struct Erasure {
    organizations: Arc<OrganizationService>,
    users: Arc<dyn UserRepository>,
    invitations: Arc<dyn InvitationQueries>,
    trail: Arc<dyn AuditTrail>,
    identity: Option<Arc<dyn IdentityProvider>>,
    account: AccountErasure,
    pseudonyms: Arc<dyn Pseudonyms>,
}

/// A person acts on their own data; a platform administrator on anyone's;
/// API keys and SCIM clients never.
fn may_ask(actor: &Actor, user: UserId) -> Result<(), OrgError> {
    let person = actor.reference().kind == ActorKind::User;
    if person && (actor.is_platform_admin() || actor.user_id() == user) {
        Ok(())
    } else {
        Err(OrgError::PlatformAdminRequired)
    }
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
        stores: PersonStores,
        identity: Option<Arc<dyn IdentityProvider>>,
        account: AccountErasure,
        pseudonyms: Arc<dyn Pseudonyms>,
    ) -> Self {
        Self {
            organizations,
            users: stores.users,
            invitations: stores.invitations,
            trail: stores.trail,
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
        may_ask(actor, user)?;
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
            .erase_person(Some(actor), user, stored.email.as_ref(), &*self.pseudonyms)
            .await
    }

    /// Erases a person whose account the identity provider no longer has
    /// (found by [`crate::AccountCheck`] after its grace period): orgman
    /// acts itself (the events carry no actor), and the account is not
    /// touched, since it is gone. The OWNER rule holds as for a request.
    ///
    /// # Errors
    /// [`OrgError::SoleOwner`] (nothing changed), [`OrgError::UserNotFound`],
    /// [`OrgError::Unavailable`].
    pub async fn erase_deleted_account(&self, user: UserId) -> Result<ErasureReport, OrgError> {
        let stored = self.users.user(user).await?.ok_or(OrgError::UserNotFound)?;
        if stored.erased_at.is_some() {
            return Ok(ErasureReport {
                already_erased: true,
                ..ErasureReport::default()
            });
        }
        self.organizations
            .erase_person(None, user, stored.email.as_ref(), &*self.pseudonyms)
            .await
    }

    /// Everything orgman keeps about `user` (GDPR Article 15), for the
    /// person themselves or a platform administrator.
    ///
    /// # Errors
    /// [`OrgError::PlatformAdminRequired`], [`OrgError::UserNotFound`],
    /// [`OrgError::Unavailable`].
    pub async fn personal_data(
        &self,
        actor: &Actor,
        user: UserId,
    ) -> Result<PersonalData, OrgError> {
        may_ask(actor, user)?;
        let stored = self.users.user(user).await?.ok_or(OrgError::UserNotFound)?;
        let memberships = self.organizations.organizations_of_user(user).await?;
        let invitations = match &stored.email {
            Some(email) => self.invitations.invitations_to(email).await?,
            None => Vec::new(),
        };
        let filter = AuditFilter {
            subject: Some(user.as_uuid()),
            ..AuditFilter::default()
        };
        let mut audit = Vec::new();
        let mut after: Option<EventId> = None;
        let audit_truncated = loop {
            let page = self
                .trail
                .audit_events(
                    &filter,
                    PageRequest::new(after, PageRequest::<EventId>::MAX_LIMIT),
                )
                .await?;
            audit.extend(page.items);
            if audit.len() > PersonalData::MAX_AUDIT {
                audit.truncate(PersonalData::MAX_AUDIT);
                break true;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break false,
            }
        };
        Ok(PersonalData {
            user: stored,
            memberships,
            invitations,
            audit,
            audit_truncated,
        })
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
