//! SSO (OpenID Connect) configurations, per organization or for the whole
//! installation, with the client secret encrypted at rest.

use std::fmt;
use std::sync::Arc;

use crate::domains::model::DomainName;
use crate::domains::service::{AutoJoin, join_new_user};
use crate::errors::port::ValidationError;
use crate::errors::use_case::OrgError;
use crate::events::event::{DomainEvent, EventKind};
use crate::members::actor::Actor;
use crate::members::permission::Permission;
use crate::organizations::lifecycle::OrgStatus;
use crate::organizations::service::OrganizationService;
use crate::ports::{
    Clock, DomainQueries, IdGenerator, IssuerDiscovery, IssuerProbe, SecretCipher,
    SsoConfigRepository,
};
use crate::sso::model::SsoDraft;
use crate::sso::model::SsoScope;
use crate::sso::model::{BrokeredProvider, HomeRealm};
use crate::sso::model::{SsoConfig, cipher_context, text};
use crate::users::model::ClientSecret;
use crate::users::model::UserProfile;
use crate::values::id::{OrganizationId, SsoConfigId};
use crate::values::name::Email;

/// The SSO use cases.
pub struct SsoService {
    organizations: Arc<OrganizationService>,
    repository: Arc<dyn SsoConfigRepository>,
    cipher: Option<Arc<dyn SecretCipher>>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    discovery: Option<Arc<dyn IssuerDiscovery>>,
    domains: Option<Arc<dyn DomainQueries>>,
}

impl fmt::Debug for SsoService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsoService")
            .field("encryption", &self.cipher.is_some())
            .finish_non_exhaustive()
    }
}

/// The outcome of a key rotation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Configurations examined.
    pub examined: usize,
    /// Re-encrypted with the active key.
    pub rotated: usize,
    /// Could not be decrypted (id and reason); left unchanged.
    pub failed: Vec<(SsoConfigId, String)>,
}

impl SsoService {
    /// The use cases. Without a cipher (no key configured), reads work and
    /// writes that carry a secret answer [`OrgError::NotConfigured`].
    pub fn new(
        organizations: Arc<OrganizationService>,
        repository: Arc<dyn SsoConfigRepository>,
        cipher: Option<Arc<dyn SecretCipher>>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            organizations,
            repository,
            cipher,
            clock,
            ids,
            discovery: None,
            domains: None,
        }
    }

    /// The same use cases, able to answer home-realm discovery
    /// ([`SsoService::discover_home_realm`]) from verified domains.
    #[must_use]
    pub fn with_home_realm_discovery(mut self, domains: Arc<dyn DomainQueries>) -> Self {
        self.domains = Some(domains);
        self
    }

    /// Home-realm discovery, for a login page (no caller to authorize):
    /// the identity provider an address should log in through. It is the
    /// first enabled SSO configuration (oldest first) of the organization
    /// that verified the address's domain. Only verified domains count, so
    /// the answer says nothing about whether the address has an account,
    /// or about organizations beyond what their verified domains already
    /// make public.
    ///
    /// # Errors
    /// [`OrgError::NotConfigured`] without a domain port,
    /// [`OrgError::Unavailable`].
    pub async fn discover_home_realm(&self, email: &Email) -> Result<HomeRealm, OrgError> {
        let domains = self
            .domains
            .as_ref()
            .ok_or(OrgError::NotConfigured("home-realm discovery"))?;
        let Ok(name) = DomainName::parse(email.domain()) else {
            return Ok(HomeRealm::default());
        };
        let Some(domain) = domains.verified_domain(&name).await? else {
            return Ok(HomeRealm::default());
        };
        // A suspended organization (or one pending deletion) cannot be
        // signed into: its domains answer as unknown ones do.
        let active = self
            .organizations
            .ports()
            .organizations
            .organization(domain.organization_id)
            .await?
            .is_some_and(|org| org.status() == OrgStatus::Active);
        if !active {
            return Ok(HomeRealm::default());
        }
        let mut configs = self.repository.list(Some(domain.organization_id)).await?;
        configs.retain(|c| c.enabled);
        configs.sort_by_key(|c| (c.created_at, c.id.as_uuid()));
        Ok(HomeRealm {
            identity_provider: configs.first().map(SsoConfig::broker_alias),
            sso_required: domain.policy.sso_required,
        })
    }

    /// The first login of a user who came through an organization's
    /// identity provider (the login broker names it by `alias` in the
    /// token): when that configuration is enabled and has `autoProvision`,
    /// the user is created and joins its organization as a MEMBER, within
    /// its member limit and only while it is ACTIVE (else only the user is
    /// created). `None` when the alias is not an enabled, auto-provisioning
    /// configuration of an organization, or the address belongs to another
    /// user: the caller provisions as usual. A user who existed already is
    /// not joined again ([`AutoJoin::Existing`]).
    ///
    /// The user is stored with the token's address only when its domain is
    /// verified by the configuration's organization (home-realm discovery's
    /// domains, [`SsoService::with_home_realm_discovery`]; without them,
    /// never): an organization's provider vouches for no other address.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`]; nothing is written then.
    pub async fn provision_brokered(
        &self,
        actor: &Actor,
        profile: &UserProfile,
        alias: &str,
    ) -> Result<Option<AutoJoin>, OrgError> {
        let Some(id) = BrokeredProvider::config_of(alias) else {
            return Ok(None);
        };
        let Some(config) = self.repository.get(id).await? else {
            return Ok(None);
        };
        let Some(organization) = config
            .organization
            .filter(|_| config.enabled && config.auto_provision)
        else {
            return Ok(None);
        };
        let mut profile = profile.clone();
        if !self.verifies(organization, profile.email.as_ref()).await? {
            profile.email = None;
        }
        join_new_user(&self.organizations, actor, &profile, organization, None).await
    }

    /// Whether `organization` verified the domain of `email`.
    async fn verifies(
        &self,
        organization: OrganizationId,
        email: Option<&Email>,
    ) -> Result<bool, OrgError> {
        let (Some(domains), Some(email)) = (&self.domains, email) else {
            return Ok(false);
        };
        let Ok(name) = DomainName::parse(email.domain()) else {
            return Ok(false);
        };
        Ok(domains
            .verified_domain(&name)
            .await?
            .is_some_and(|d| d.organization_id == organization))
    }

    /// The same use cases, able to test configurations' issuers.
    #[must_use]
    pub fn with_discovery(mut self, discovery: Arc<dyn IssuerDiscovery>) -> Self {
        self.discovery = Some(discovery);
        self
    }

    /// Tests a configuration: asks its issuer's OpenID Connect discovery
    /// whether it answers as that issuer (whoever may read the
    /// configuration).
    ///
    /// # Errors
    /// As [`SsoService::get`], [`OrgError::IssuerNotAllowed`],
    /// [`OrgError::NotConfigured`] without a discovery port.
    pub async fn test_connection(
        &self,
        actor: &Actor,
        scope: SsoScope,
        id: SsoConfigId,
    ) -> Result<IssuerProbe, OrgError> {
        let config = self.get(actor, scope, id).await?;
        let discovery = self
            .discovery
            .as_ref()
            .ok_or(OrgError::NotConfigured("SSO connection tests"))?;
        discovery.discover(&config.issuer_url).await
    }

    /// Organization OWNER/ADMIN (`manage_sso`) for an organization's
    /// configurations; platform administrators for installation-wide ones.
    async fn authorize(&self, actor: &Actor, scope: SsoScope) -> Result<(), OrgError> {
        match scope {
            Some(org) => {
                self.organizations
                    .ensure_permission(actor, org, Permission::SsoManage)
                    .await
            }
            None if actor.is_platform_admin() => Ok(()),
            None => Err(OrgError::PlatformAdminRequired),
        }
    }

    /// [`SsoService::authorize`] for a change: the organization must also
    /// accept changes (be ACTIVE).
    async fn authorize_change(&self, actor: &Actor, scope: SsoScope) -> Result<(), OrgError> {
        match scope {
            Some(org) => {
                self.organizations
                    .ensure_changeable(actor, org, Permission::SsoManage)
                    .await
            }
            None => self.authorize(actor, scope).await,
        }
    }

    /// The event of a change to an organization's configuration; none for
    /// installation-wide configurations, which belong to no organization.
    fn events(
        &self,
        actor: &Actor,
        config: &SsoConfig,
        kind: impl FnOnce(&SsoConfig) -> EventKind,
    ) -> Vec<DomainEvent> {
        config
            .organization
            .map(|org| self.organizations.event(org, Some(actor), kind(config)))
            .into_iter()
            .collect()
    }

    fn cipher(&self) -> Result<&Arc<dyn SecretCipher>, OrgError> {
        self.cipher
            .as_ref()
            .ok_or(OrgError::NotConfigured("ORGMAN_SSO_ENCRYPTION_KEYS"))
    }

    fn seal(
        &self,
        secret: &ClientSecret,
        id: SsoConfigId,
        scope: SsoScope,
    ) -> Result<String, OrgError> {
        if secret.expose().is_empty() || secret.expose().chars().count() > 256 {
            return Err(ValidationError::TextInvalid {
                field: "clientSecret",
                max: 256,
            }
            .into());
        }
        self.cipher()?
            .encrypt(secret, &cipher_context(id, scope))
            .map_err(|e| OrgError::Internal(format!("cannot encrypt: {e}")))
    }

    /// Most configurations one organization (or the installation) holds.
    pub const MAX_PER_SCOPE: usize = 20;

    /// Creates a configuration.
    ///
    /// # Errors
    /// Authorization errors, [`OrgError::ReadOnly`] when the organization
    /// is not ACTIVE, [`OrgError::SsoConfigLimitReached`] past
    /// [`SsoService::MAX_PER_SCOPE`] (checked before the insert, not under a
    /// lock: two racing creates may pass it by one), field errors as
    /// [`OrgError::Invalid`], [`OrgError::NotConfigured`].
    pub async fn create(
        &self,
        actor: &Actor,
        scope: SsoScope,
        draft: SsoDraft,
    ) -> Result<SsoConfig, OrgError> {
        self.authorize_change(actor, scope).await?;
        if self.repository.list(scope).await?.len() >= Self::MAX_PER_SCOPE {
            return Err(OrgError::SsoConfigLimitReached {
                max: Self::MAX_PER_SCOPE,
            });
        }
        let id = SsoConfigId::from_uuid(self.ids.new_id());
        let now = self.clock.now();
        let missing = |field| OrgError::Invalid(ValidationError::TextInvalid { field, max: 0 });
        let secret = draft.client_secret.ok_or_else(|| missing("clientSecret"))?;
        let config = SsoConfig {
            id,
            organization: scope,
            name: text(
                "name",
                draft.name.as_deref().ok_or_else(|| missing("name"))?,
                100,
            )?,
            issuer_url: draft.issuer_url.ok_or_else(|| missing("issuerUrl"))?,
            client_id: text(
                "clientId",
                draft
                    .client_id
                    .as_deref()
                    .ok_or_else(|| missing("clientId"))?,
                255,
            )?,
            client_secret_enc: self.seal(&secret, id, scope)?,
            enabled: draft.enabled.unwrap_or(true),
            auto_provision: draft.auto_provision.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        let events = self.events(actor, &config, |config| EventKind::SsoConfigCreated {
            config_id: config.id,
            name: config.name.clone(),
            issuer_url: config.issuer_url.as_str().to_owned(),
            client_id: config.client_id.clone(),
            enabled: config.enabled,
        });
        self.repository.insert(&config, &events).await?;
        self.organizations.invalidate(&events).await;
        Ok(config)
    }

    /// The configurations of a scope.
    ///
    /// # Errors
    /// Authorization errors, [`OrgError::Unavailable`].
    pub async fn list(&self, actor: &Actor, scope: SsoScope) -> Result<Vec<SsoConfig>, OrgError> {
        self.authorize(actor, scope).await?;
        Ok(self.repository.list(scope).await?)
    }

    /// One configuration of a scope.
    ///
    /// # Errors
    /// Authorization errors, [`OrgError::SsoConfigNotFound`].
    pub async fn get(
        &self,
        actor: &Actor,
        scope: SsoScope,
        id: SsoConfigId,
    ) -> Result<SsoConfig, OrgError> {
        self.authorize(actor, scope).await?;
        self.repository
            .get(id)
            .await?
            .filter(|c| c.organization == scope)
            .ok_or(OrgError::SsoConfigNotFound)
    }

    /// Changes a configuration; a new secret replaces the old one.
    ///
    /// # Errors
    /// As [`SsoService::get`], plus field errors.
    pub async fn update(
        &self,
        actor: &Actor,
        scope: SsoScope,
        id: SsoConfigId,
        draft: SsoDraft,
    ) -> Result<SsoConfig, OrgError> {
        self.authorize_change(actor, scope).await?;
        let mut config = self.get(actor, scope, id).await?;
        let moves = draft
            .issuer_url
            .as_ref()
            .is_some_and(|url| *url != config.issuer_url)
            || draft
                .client_id
                .as_deref()
                .is_some_and(|client| client != config.client_id);
        if moves && draft.client_secret.is_none() {
            return Err(ValidationError::SecretRequired.into());
        }
        if let Some(name) = draft.name {
            config.name = text("name", &name, 100)?;
        }
        if let Some(url) = draft.issuer_url {
            config.issuer_url = url;
        }
        if let Some(client_id) = draft.client_id {
            config.client_id = text("clientId", &client_id, 255)?;
        }
        let secret_replaced = draft.client_secret.is_some();
        if let Some(secret) = draft.client_secret {
            config.client_secret_enc = self.seal(&secret, id, scope)?;
        }
        config.enabled = draft.enabled.unwrap_or(config.enabled);
        config.auto_provision = draft.auto_provision.unwrap_or(config.auto_provision);
        config.updated_at = self.clock.now();
        let events = self.events(actor, &config, |config| EventKind::SsoConfigUpdated {
            config_id: config.id,
            name: config.name.clone(),
            issuer_url: config.issuer_url.as_str().to_owned(),
            client_id: config.client_id.clone(),
            enabled: config.enabled,
            secret_replaced,
        });
        self.repository.update(&config, &events).await?;
        self.organizations.invalidate(&events).await;
        Ok(config)
    }

    /// Deletes a configuration.
    ///
    /// # Errors
    /// As [`SsoService::get`].
    pub async fn delete(
        &self,
        actor: &Actor,
        scope: SsoScope,
        id: SsoConfigId,
    ) -> Result<(), OrgError> {
        self.authorize_change(actor, scope).await?;
        let config = self.get(actor, scope, id).await?;
        let events = self.events(actor, &config, |config| EventKind::SsoConfigDeleted {
            config_id: config.id,
        });
        if self.repository.delete(id, &events).await? {
            self.organizations.invalidate(&events).await;
            Ok(())
        } else {
            Err(OrgError::SsoConfigNotFound)
        }
    }

    /// The plain client secret, for the login flow (never for the API).
    ///
    /// # Errors
    /// [`OrgError::Internal`] when the stored value cannot be decrypted
    /// (missing or wrong key, tampering): never garbage.
    pub fn client_secret(&self, config: &SsoConfig) -> Result<ClientSecret, OrgError> {
        self.cipher()?
            .decrypt(&config.client_secret_enc, &config.cipher_context())
            .map_err(|e| OrgError::Internal(format!("SSO configuration {}: {e}", config.id)))
    }

    /// Re-encrypts every secret not under the active key. Safe while the
    /// service runs: each row is replaced only if nobody changed it
    /// meanwhile (a concurrent update already wrote it with the active key).
    ///
    /// # Errors
    /// [`OrgError::Unavailable`], [`OrgError::NotConfigured`].
    pub async fn rotate(&self) -> Result<RotationReport, OrgError> {
        let cipher = self.cipher()?.clone();
        let mut report = RotationReport::default();
        for config in self.repository.all().await? {
            report.examined += 1;
            if !cipher.needs_rotation(&config.client_secret_enc) {
                continue;
            }
            let context = config.cipher_context();
            let plain = match cipher.decrypt(&config.client_secret_enc, &context) {
                Ok(plain) => plain,
                Err(error) => {
                    report.failed.push((config.id, error.to_string()));
                    continue;
                }
            };
            let sealed = cipher
                .encrypt(&plain, &context)
                .map_err(|e| OrgError::Internal(format!("cannot encrypt: {e}")))?;
            if self
                .repository
                .replace_secret(config.id, &config.client_secret_enc, &sealed)
                .await?
            {
                report.rotated += 1;
            }
        }
        Ok(report)
    }
}
