//! The identity provider's side: registering users, the login broker's
//! identity providers and organizations, and OpenID discovery of issuers.

use async_trait::async_trait;

use crate::errors::port::IdentityError;
use crate::sso::model::{BrokeredProvider, MirroredOrganization};
use crate::users::model::{IdentityUser, NewIdentity};
use crate::values::id::{OrganizationId, UserId};
use crate::values::name::Email;

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

    /// Deletes a user's account; an account that is already gone counts
    /// as deleted. The default refuses: a provider without deletion.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`] when the provider cannot be reached,
    /// [`IdentityError::Rejected`] when it refuses.
    async fn delete(&self, subject: &str) -> Result<(), IdentityError> {
        let _ = subject;
        Err(IdentityError::Rejected(
            "this identity provider does not delete accounts".into(),
        ))
    }

    /// Which of `subjects` have no account any more (deleted at the
    /// provider). A provider that cannot tell refuses (the default), and
    /// the account check stays off. An unreachable provider, or one whose
    /// realm itself is gone, is [`IdentityError::Unavailable`], never
    /// "every account is missing".
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`], [`IdentityError::Rejected`].
    async fn missing_accounts(&self, subjects: &[String]) -> Result<Vec<String>, IdentityError> {
        let _ = subjects;
        Err(IdentityError::Rejected(
            "this identity provider cannot tell deleted accounts".into(),
        ))
    }
}

/// The login broker (Keycloak): the realm that logs people in and brokers
/// organizations' own identity providers. orgman is the source of truth;
/// the broker holds a copy of each SSO configuration, written by the
/// outbox's login-broker sink and repaired by a reconciliation.
#[async_trait]
pub trait LoginBroker: Send + Sync {
    /// Creates the provider, or replaces what the broker holds under its
    /// alias. Idempotent. Implementations apply the issuer rules (no
    /// private or loopback addresses outside development) to every
    /// endpoint they hand to the broker, since the broker will call them.
    ///
    /// # Errors
    /// [`IdentityError::Rejected`] when the provider cannot be brokered as
    /// it is (an issuer refused, a document the broker refuses): retrying
    /// will not help; [`IdentityError::Unavailable`] when the broker or the
    /// issuer cannot be reached now.
    async fn put_provider(&self, provider: &BrokeredProvider) -> Result<(), IdentityError>;

    /// Switches the provider with this alias off, leaving the rest of it
    /// as it is; `true` when it was on. An absent provider is not an error
    /// (`false`). No endpoint is checked or called: this is what orgman
    /// does when a provider's endpoints stop passing the issuer rules.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`].
    async fn disable_provider(&self, alias: &str) -> Result<bool, IdentityError>;

    /// Removes the provider with this alias; an absent one is not an
    /// error.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`].
    async fn remove_provider(&self, alias: &str) -> Result<(), IdentityError>;

    /// The aliases of the providers orgman manages at the broker (those
    /// with [`BrokeredProvider::ALIAS_PREFIX`]); others are left alone.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`].
    async fn provider_aliases(&self) -> Result<Vec<String>, IdentityError>;
}

/// The login broker's own organizations (Keycloak's Organizations), kept
/// as a mirror of orgman's so that its tokens can name the user's
/// organizations. orgman's data wins; the broker's copy is derived.
#[async_trait]
pub trait BrokerOrganizations: Send + Sync {
    /// Creates the organization, or makes the broker's copy equal to it:
    /// name, state, domains, and which of orgman's identity providers are
    /// linked to it. Idempotent.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`]; [`IdentityError::Rejected`] for a
    /// copy the broker refuses (a domain another of its organizations has).
    async fn put_organization(
        &self,
        organization: &MirroredOrganization,
    ) -> Result<(), IdentityError>;

    /// Removes the organization; an absent one is not an error.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`].
    async fn remove_organization(&self, organization: OrganizationId) -> Result<(), IdentityError>;

    /// Makes the user a member; a member already, or a user the broker does
    /// not know (one from another identity provider), is not an error.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`]; [`IdentityError::Rejected`] when the
    /// organization is not at the broker.
    async fn add_member(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), IdentityError>;

    /// Removes the user from the organization; not a member is not an
    /// error.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`].
    async fn remove_member(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), IdentityError>;

    /// The organizations of orgman's the broker holds.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`].
    async fn organizations(&self) -> Result<Vec<OrganizationId>, IdentityError>;

    /// The members the broker holds for an organization (empty when it
    /// holds no such organization).
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`].
    async fn members(&self, organization: OrganizationId) -> Result<Vec<UserId>, IdentityError>;
}

/// What an issuer's OpenID Connect discovery said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerProbe {
    /// Whether the discovery document was found and names this issuer.
    pub reachable: bool,
    /// The issuer the document reports, if one was read.
    pub reported_issuer: Option<String>,
    /// What happened, for people.
    pub detail: String,
}

/// Outbound OpenID Connect discovery of an SSO configuration's issuer (the
/// connection test). Implementations must guard against server-side
/// request forgery: resolve the host once, refuse private, loopback and
/// link-local addresses (unless configured otherwise), connect to the
/// address checked, follow no redirect, take no proxy from the
/// environment, and read a bounded document.
#[async_trait]
pub trait IssuerDiscovery: Send + Sync {
    /// Fetches `<issuer>/.well-known/openid-configuration`. An issuer that
    /// cannot be reached is a probe with `reachable: false`, not an error.
    ///
    /// # Errors
    /// [`OrgError::IssuerNotAllowed`](crate::OrgError::IssuerNotAllowed)
    /// when the issuer may not be reached from the server at all.
    async fn discover(&self, issuer: &crate::IssuerUrl) -> Result<IssuerProbe, crate::OrgError>;
}

/// Why a SAML identity provider's metadata could not be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataProblem {
    /// The URL may not be reached from the server (a private, loopback or
    /// reserved address).
    #[error("{0}")]
    NotAllowed(String),
    /// The URL could not be read now.
    #[error("{0}")]
    Unreachable(String),
    /// The document was read and refused (says why).
    #[error("{0}")]
    Invalid(String),
}

/// Reads SAML identity providers' metadata. Fetching must follow
/// [`IssuerDiscovery`]'s guards against server-side request forgery;
/// reading must refuse document type declarations (so no entity is ever
/// expanded) and oversized documents, and check the single sign-on URL
/// under the issuer rules (`https`, unless loopback is allowed).
#[async_trait]
pub trait SamlMetadataReader: Send + Sync {
    /// Fetches the document at `url`.
    ///
    /// # Errors
    /// [`MetadataProblem::NotAllowed`], [`MetadataProblem::Unreachable`].
    async fn fetch(&self, url: &crate::MetadataUrl) -> Result<String, MetadataProblem>;

    /// Reads a document.
    ///
    /// # Errors
    /// [`MetadataProblem::Invalid`].
    fn read(&self, xml: &str) -> Result<crate::SamlIdp, MetadataProblem>;
}
