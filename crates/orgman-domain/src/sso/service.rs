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
    Clock, DomainQueries, IdGenerator, IssuerDiscovery, SamlMetadataReader, SecretCipher,
    SsoConfigRepository,
};
use crate::sso::model::SsoScope;
use crate::sso::model::{BrokeredProvider, HomeRealm};
use crate::sso::model::{
    OidcConnection, SamlAttributeDraft, SamlAttributes, SamlConnection, SsoConnection, SsoDraft,
    SsoProtocol,
};
use crate::sso::model::{SsoConfig, cipher_context, text};
use crate::sso::saml::{self, ConnectionReport, SamlRefreshReport, TestStep};
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
    saml: Option<SamlSupport>,
}

/// What SAML configurations need ([`SsoService::with_saml`]).
struct SamlSupport {
    reader: Arc<dyn SamlMetadataReader>,
    warning: time::Duration,
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
            saml: None,
        }
    }

    /// The same use cases, able to take SAML configurations: metadata is
    /// fetched and read by `reader`, and certificates that expire within
    /// `warning` are announced (`organization.sso.certificate-expiring`)
    /// and shown as expiring. Without it, SAML configurations are refused
    /// with [`OrgError::NotConfigured`].
    #[must_use]
    pub fn with_saml(
        mut self,
        reader: Arc<dyn SamlMetadataReader>,
        warning: std::time::Duration,
    ) -> Self {
        self.saml = Some(SamlSupport {
            reader,
            warning: time::Duration::try_from(warning).unwrap_or(time::Duration::days(30)),
        });
        self
    }

    /// How long before expiry a certificate counts as expiring.
    pub fn certificate_warning(&self) -> time::Duration {
        self.saml
            .as_ref()
            .map_or(time::Duration::days(30), |s| s.warning)
    }

    fn saml_support(&self) -> Result<&SamlSupport, OrgError> {
        self.saml
            .as_ref()
            .ok_or(OrgError::NotConfigured("SAML configurations"))
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

    /// Tests a configuration (whoever may read it): for OpenID Connect,
    /// asks its issuer's discovery whether it answers as that issuer; for
    /// SAML, fetches and reads the metadata and checks its certificates,
    /// each step reported.
    ///
    /// # Errors
    /// As [`SsoService::get`], [`OrgError::IssuerNotAllowed`],
    /// [`OrgError::NotConfigured`] without a discovery port (or SAML
    /// support, for a SAML configuration).
    pub async fn test_connection(
        &self,
        actor: &Actor,
        scope: SsoScope,
        id: SsoConfigId,
    ) -> Result<ConnectionReport, OrgError> {
        let config = self.get(actor, scope, id).await?;
        match &config.connection {
            SsoConnection::Oidc(oidc) => {
                let discovery = self
                    .discovery
                    .as_ref()
                    .ok_or(OrgError::NotConfigured("SSO connection tests"))?;
                let probe = discovery.discover(&oidc.issuer_url).await?;
                let step = TestStep {
                    name: "discovery",
                    ok: probe.reachable,
                    detail: probe.detail,
                };
                Ok(ConnectionReport::of(vec![step], probe.reported_issuer))
            }
            SsoConnection::Saml(_) => {
                let support = self.saml_support()?;
                Ok(saml::test(
                    support.reader.as_ref(),
                    &config,
                    self.clock.now(),
                    support.warning,
                )
                .await)
            }
        }
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

    /// Creates a configuration. A SAML one reads its identity provider's
    /// metadata first (fetched from `metadataUrl`, or pasted), and announces
    /// at once any certificate already within the warning period.
    ///
    /// # Errors
    /// Authorization errors, [`OrgError::ReadOnly`] when the organization
    /// is not ACTIVE, [`OrgError::SsoConfigLimitReached`] past
    /// [`SsoService::MAX_PER_SCOPE`] (checked before the insert, not under a
    /// lock: two racing creates may pass it by one), field errors as
    /// [`OrgError::Invalid`] (metadata that cannot be read or used among
    /// them), [`OrgError::IssuerNotAllowed`] for a metadata URL the server
    /// may not reach, [`OrgError::NotConfigured`].
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
        let name = text(
            "name",
            draft.name.as_deref().ok_or_else(|| missing("name"))?,
            100,
        )?;
        let protocol = draft.protocol.unwrap_or_default();
        let connection = match protocol {
            SsoProtocol::Oidc => self.new_oidc(id, scope, draft.clone())?,
            SsoProtocol::Saml => self.new_saml(&draft, now).await?,
        };
        let mut config = SsoConfig {
            id,
            organization: scope,
            name,
            connection,
            enabled: draft.enabled.unwrap_or(true),
            auto_provision: draft.auto_provision.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        let warnings = saml::announcements(&mut config, now, self.certificate_warning());
        let mut events = self.events(actor, &config, |config| {
            let (protocol, issuer_url, client_id, idp_entity_id) = described(config);
            EventKind::SsoConfigCreated {
                config_id: config.id,
                name: config.name.clone(),
                protocol,
                issuer_url,
                client_id,
                idp_entity_id,
                enabled: config.enabled,
            }
        });
        events.extend(self.announced(actor, &config, warnings));
        self.repository.insert(&config, &events).await?;
        self.organizations.invalidate(&events).await;
        Ok(config)
    }

    fn new_oidc(
        &self,
        id: SsoConfigId,
        scope: SsoScope,
        draft: SsoDraft,
    ) -> Result<SsoConnection, OrgError> {
        refuse_saml_fields(&draft)?;
        let secret = draft.client_secret.ok_or_else(|| missing("clientSecret"))?;
        Ok(SsoConnection::Oidc(OidcConnection {
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
        }))
    }

    async fn new_saml(
        &self,
        draft: &SsoDraft,
        now: time::OffsetDateTime,
    ) -> Result<SsoConnection, OrgError> {
        refuse_oidc_fields(draft)?;
        let support = self.saml_support()?;
        let source = draft
            .metadata
            .as_ref()
            .ok_or(ValidationError::MetadataSourceRequired)?;
        let idp = saml::read_source(support.reader.as_ref(), source, now).await?;
        let attributes = attributes(
            &draft.attributes,
            SamlAttributes::from_offered(&idp.offered_attributes),
        )?;
        Ok(SsoConnection::Saml(SamlConnection {
            metadata_url: source.url().cloned(),
            idp,
            attributes,
            announced: Vec::new(),
        }))
    }

    /// The events of certificate announcements (an organization's
    /// configurations only).
    fn announced(
        &self,
        actor: &Actor,
        config: &SsoConfig,
        kinds: Vec<EventKind>,
    ) -> Vec<DomainEvent> {
        let Some(org) = config.organization else {
            return Vec::new();
        };
        kinds
            .into_iter()
            .map(|kind| self.organizations.event(org, Some(actor), kind))
            .collect()
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

    /// A SAML configuration, for its public service provider metadata (no
    /// caller to authorize: what it publishes holds no secret). Not found
    /// for OpenID Connect configurations, and for those of an organization
    /// that is not ACTIVE.
    ///
    /// # Errors
    /// [`OrgError::SsoConfigNotFound`], [`OrgError::Unavailable`].
    pub async fn saml_config(&self, id: SsoConfigId) -> Result<SsoConfig, OrgError> {
        let config = self
            .repository
            .get(id)
            .await?
            .filter(|c| c.saml().is_some())
            .ok_or(OrgError::SsoConfigNotFound)?;
        if let Some(org) = config.organization {
            let active = self
                .organizations
                .ports()
                .organizations
                .organization(org)
                .await?
                .is_some_and(|o| o.status() == OrgStatus::Active);
            if !active {
                return Err(OrgError::SsoConfigNotFound);
            }
        }
        Ok(config)
    }

    /// Changes a configuration. For OpenID Connect, a new secret replaces
    /// the old one, and a new issuer or client needs one. For SAML, new
    /// metadata (a URL, or pasted) is read and checked as on creation. The
    /// protocol never changes.
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
        if draft.protocol.is_some_and(|p| p != config.protocol()) {
            return Err(ValidationError::ProtocolFixed.into());
        }
        if let Some(name) = &draft.name {
            config.name = text("name", name, 100)?;
        }
        let now = self.clock.now();
        let secret_replaced = draft.client_secret.is_some();
        match &mut config.connection {
            SsoConnection::Oidc(oidc) => {
                refuse_saml_fields(&draft)?;
                self.change_oidc(oidc, id, scope, &draft)?;
            }
            SsoConnection::Saml(connection) => {
                refuse_oidc_fields(&draft)?;
                if let Some(source) = &draft.metadata {
                    let support = self.saml_support()?;
                    connection.idp =
                        saml::read_source(support.reader.as_ref(), source, now).await?;
                    connection.metadata_url = source.url().cloned();
                }
                connection.attributes =
                    attributes(&draft.attributes, connection.attributes.clone())?;
            }
        }
        config.enabled = draft.enabled.unwrap_or(config.enabled);
        config.auto_provision = draft.auto_provision.unwrap_or(config.auto_provision);
        config.updated_at = now;
        let warnings = saml::announcements(&mut config, now, self.certificate_warning());
        let mut events = self.events(actor, &config, |config| {
            let (protocol, issuer_url, client_id, idp_entity_id) = described(config);
            EventKind::SsoConfigUpdated {
                config_id: config.id,
                name: config.name.clone(),
                protocol,
                issuer_url,
                client_id,
                idp_entity_id,
                enabled: config.enabled,
                secret_replaced,
            }
        });
        events.extend(self.announced(actor, &config, warnings));
        self.repository.update(&config, &events).await?;
        self.organizations.invalidate(&events).await;
        Ok(config)
    }

    fn change_oidc(
        &self,
        oidc: &mut OidcConnection,
        id: SsoConfigId,
        scope: SsoScope,
        draft: &SsoDraft,
    ) -> Result<(), OrgError> {
        let moves = draft
            .issuer_url
            .as_ref()
            .is_some_and(|url| *url != oidc.issuer_url)
            || draft
                .client_id
                .as_deref()
                .is_some_and(|client| client != oidc.client_id);
        if moves && draft.client_secret.is_none() {
            return Err(ValidationError::SecretRequired.into());
        }
        if let Some(url) = &draft.issuer_url {
            oidc.issuer_url = url.clone();
        }
        if let Some(client_id) = &draft.client_id {
            oidc.client_id = text("clientId", client_id, 255)?;
        }
        if let Some(secret) = &draft.client_secret {
            oidc.client_secret_enc = self.seal(secret, id, scope)?;
        }
        Ok(())
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
    /// A SAML configuration has no secret: [`OrgError::Invalid`].
    pub fn client_secret(&self, config: &SsoConfig) -> Result<ClientSecret, OrgError> {
        let oidc = config.oidc().ok_or(ValidationError::FieldNotForProtocol {
            field: "clientSecret",
            protocol: "saml",
        })?;
        self.cipher()?
            .decrypt(&oidc.client_secret_enc, &config.cipher_context())
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
            let Some(oidc) = config.oidc() else { continue };
            report.examined += 1;
            if !cipher.needs_rotation(&oidc.client_secret_enc) {
                continue;
            }
            let context = config.cipher_context();
            let plain = match cipher.decrypt(&oidc.client_secret_enc, &context) {
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
                .replace_secret(config.id, &oidc.client_secret_enc, &sealed)
                .await?
            {
                report.rotated += 1;
            }
        }
        Ok(report)
    }

    /// The scheduled round over SAML configurations (no caller to
    /// authorize; any replica may run it, at any interval):
    ///
    /// - metadata with a URL is fetched and read again; when it changed, it
    ///   replaces the stored copy with an
    ///   `organization.sso-config.metadata-refreshed` event, which rolls it
    ///   into the login broker. Metadata that cannot be read now, or that
    ///   no longer passes the checks, leaves the stored copy in use and is
    ///   reported;
    /// - each certificate within the warning period (or past it) is
    ///   announced once (`organization.sso.certificate-expiring`).
    ///
    /// A change is written only if nobody changed the configuration
    /// meanwhile, so replicas running it together announce each
    /// certificate once.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`] when the configurations cannot be read;
    /// [`OrgError::NotConfigured`] without SAML support.
    pub async fn refresh_saml(&self) -> Result<SamlRefreshReport, OrgError> {
        let support = self.saml_support()?;
        let mut report = SamlRefreshReport::default();
        let mut counts = std::collections::HashMap::new();
        for config in self.repository.all().await? {
            if config.saml().is_none() {
                continue;
            }
            report.examined += 1;
            let next = self.refreshed(support, &config, &mut report).await;
            let now = self.clock.now();
            for certificate in next
                .0
                .saml()
                .map(|s| s.idp.certificates.as_slice())
                .unwrap_or_default()
            {
                *counts
                    .entry(certificate.state(now, support.warning))
                    .or_insert(0) += 1;
            }
            self.store_refreshed(&config, next).await?;
        }
        report.certificates = crate::CertificateState::ALL
            .iter()
            .map(|state| (*state, counts.get(state).copied().unwrap_or(0)))
            .collect();
        Ok(report)
    }

    /// `config` after one refresh: its metadata read again (from a URL),
    /// its announcements made; with the events of the changes.
    async fn refreshed(
        &self,
        support: &SamlSupport,
        config: &SsoConfig,
        report: &mut SamlRefreshReport,
    ) -> (SsoConfig, Vec<EventKind>) {
        let now = self.clock.now();
        let mut next = config.clone();
        let mut kinds = Vec::new();
        let current = config.saml().map(|s| (s.metadata_url.clone(), &s.idp));
        if let Some((Some(url), idp)) = current {
            let source = crate::MetadataSource::Url(url);
            match saml::read_source(support.reader.as_ref(), &source, now).await {
                Ok(read) if read != *idp => {
                    kinds.push(EventKind::SsoMetadataRefreshed {
                        config_id: config.id,
                        idp_entity_id: read.entity_id.clone(),
                        certificates: read.certificates.iter().map(|c| c.sha256.clone()).collect(),
                    });
                    if let SsoConnection::Saml(saml) = &mut next.connection {
                        saml.idp = read;
                    }
                    report.changed += 1;
                }
                Ok(_) => {}
                Err(error) => report.failed.push((config.id, error.to_string())),
            }
        }
        let warnings = saml::announcements(&mut next, now, support.warning);
        report.announced += warnings.len();
        kinds.extend(warnings);
        (next, kinds)
    }

    /// Writes a refreshed configuration with its events, unless nothing
    /// changed or someone changed it meanwhile.
    async fn store_refreshed(
        &self,
        config: &SsoConfig,
        (mut next, kinds): (SsoConfig, Vec<EventKind>),
    ) -> Result<(), OrgError> {
        if next == *config {
            return Ok(());
        }
        next.updated_at = self.clock.now();
        let events: Vec<DomainEvent> = next
            .organization
            .map(|org| {
                kinds
                    .into_iter()
                    .map(|kind| self.organizations.event(org, None, kind))
                    .collect()
            })
            .unwrap_or_default();
        if self
            .repository
            .update_unless_changed(&next, config.updated_at, &events)
            .await?
        {
            self.organizations.invalidate(&events).await;
        }
        Ok(())
    }
}

fn missing(field: &'static str) -> OrgError {
    OrgError::Invalid(ValidationError::Required { field })
}

/// What events say of a configuration's connection: its protocol, and the
/// issuer and client (OpenID Connect) or the entity id (SAML).
fn described(config: &SsoConfig) -> (SsoProtocol, Option<String>, Option<String>, Option<String>) {
    match &config.connection {
        SsoConnection::Oidc(oidc) => (
            SsoProtocol::Oidc,
            Some(oidc.issuer_url.as_str().to_owned()),
            Some(oidc.client_id.clone()),
            None,
        ),
        SsoConnection::Saml(saml) => (
            SsoProtocol::Saml,
            None,
            None,
            Some(saml.idp.entity_id.clone()),
        ),
    }
}

fn refuse_saml_fields(draft: &SsoDraft) -> Result<(), ValidationError> {
    let field = match &draft.metadata {
        Some(source) => Some(saml::field_of(source)),
        None if !draft.attributes.is_empty() => Some("attributes"),
        None => None,
    };
    match field {
        Some(field) => Err(ValidationError::FieldNotForProtocol {
            field,
            protocol: "oidc",
        }),
        None => Ok(()),
    }
}

fn refuse_oidc_fields(draft: &SsoDraft) -> Result<(), ValidationError> {
    let field = if draft.issuer_url.is_some() {
        Some("issuerUrl")
    } else if draft.client_id.is_some() {
        Some("clientId")
    } else if draft.client_secret.is_some() {
        Some("clientSecret")
    } else {
        None
    };
    match field {
        Some(field) => Err(ValidationError::FieldNotForProtocol {
            field,
            protocol: "saml",
        }),
        None => Ok(()),
    }
}

/// The attribute names `draft` sets over `current`, each checked.
fn attributes(
    draft: &SamlAttributeDraft,
    current: SamlAttributes,
) -> Result<SamlAttributes, ValidationError> {
    let pick = |field: &'static str, value: &Option<String>, current: String| match value {
        Some(value) => text(field, value, 255),
        None => Ok(current),
    };
    Ok(SamlAttributes {
        email: pick("attributes.email", &draft.email, current.email)?,
        first_name: pick(
            "attributes.firstName",
            &draft.first_name,
            current.first_name,
        )?,
        last_name: pick("attributes.lastName", &draft.last_name, current.last_name)?,
    })
}
