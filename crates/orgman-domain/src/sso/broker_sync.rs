//! The login broker's copies of SSO configurations: its identity providers
//! (the outbox's login-broker sink), with a reconciliation that repairs
//! drift. The organizations' copies are in `sso::mirror`.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domains::model::OrgDomain;
use crate::errors::port::{IdentityError, StoreError};
use crate::errors::use_case::OrgError;
use crate::events::event::{DomainEvent, EventKind};
use crate::organizations::lifecycle::OrgStatus;
use crate::ports::{
    Clock, DeliveryError, DomainQueries, EventSink, IdGenerator, LoginBroker,
    OrganizationRepository, SecretCipher, SsoConfigRepository,
};
use crate::sso::model::{
    BrokeredConnection, BrokeredProvider, LoginRedirect, SsoConfig, SsoConnection,
};
use crate::values::id::{EventId, OrganizationId, SsoConfigId};

/// Keeps the login broker's identity providers equal to orgman's SSO
/// configurations: one provider per configuration, under
/// [`BrokeredProvider::alias_of`] its id, enabled when the configuration
/// is.
///
/// As an [`EventSink`] it takes the SSO configuration events from the
/// outbox and copies each configuration **as it is now** (read back from
/// storage, so a replay or a late event never restores an old state; a
/// configuration that is gone is removed). A broker that is down makes the
/// events wait in the outbox; nothing is lost. Installation-wide
/// configurations belong to no organization and have no events: the
/// reconciliation ([`ProviderSync::reconcile`]) copies them, and repairs
/// anything changed at the broker by hand.
pub struct ProviderSync {
    repository: Arc<dyn SsoConfigRepository>,
    cipher: Arc<dyn SecretCipher>,
    broker: Arc<dyn LoginBroker>,
    domains: Option<Arc<dyn DomainQueries>>,
    organizations: Option<Organizations>,
}

/// Where organizations' states are read and the event of a provider
/// switched off is written ([`ProviderSync::with_organizations`]).
struct Organizations {
    storage: Arc<dyn OrganizationRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl fmt::Debug for ProviderSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSync").finish_non_exhaustive()
    }
}

/// What a reconciliation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerReconcileReport {
    /// Configurations copied to the broker.
    pub copied: usize,
    /// Providers removed because no configuration has their alias any more.
    pub removed: usize,
    /// What could not be done (alias and reason); the rest was done.
    pub failed: Vec<(String, String)>,
}

impl ProviderSync {
    /// The event types this sink acts on; storage may write every other
    /// event as already settled for it.
    pub const EVENT_TYPES: &'static [&'static str] = &[
        "organization.sso-config.created",
        "organization.sso-config.updated",
        "organization.sso-config.deleted",
        "organization.sso-config.metadata-refreshed",
        "organization.deleted",
        "organization.suspended",
        "organization.reactivated",
        "organization.deletion-requested",
        "organization.restored",
        "organization.domain.verified",
        "organization.domain.deleted",
    ];

    /// The sync of `repository`'s configurations to `broker`, decrypting
    /// secrets with `cipher` for the call that hands them over.
    pub fn new(
        repository: Arc<dyn SsoConfigRepository>,
        cipher: Arc<dyn SecretCipher>,
        broker: Arc<dyn LoginBroker>,
    ) -> Self {
        Self {
            repository,
            cipher,
            broker,
            domains: None,
            organizations: None,
        }
    }

    /// The same sync, reading organizations from `storage`: the providers
    /// of an organization that is not ACTIVE (suspended, or pending
    /// deletion) are copied switched off, and switched on again when it is
    /// reactivated or restored. Each provider switched off because its
    /// endpoints fail the issuer rules (see [`ProviderSync::sync`]) is
    /// recorded as an `organization.sso-config.provider-disabled` event in
    /// `storage`'s outbox. Without it, providers follow their
    /// configuration only, and a refusal leaves a log line only.
    #[must_use]
    pub fn with_organizations(
        mut self,
        storage: Arc<dyn OrganizationRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        self.organizations = Some(Organizations {
            storage,
            clock,
            ids,
        });
        self
    }

    /// Writes `provider`, or, when the broker's adapter refuses its
    /// endpoints, switches the copy the broker holds off (see
    /// [`ProviderSync::sync`]). Answers the refusal, so callers report it.
    async fn put_or_switch_off(
        &self,
        config: &SsoConfig,
        provider: &BrokeredProvider,
    ) -> Result<(), IdentityError> {
        // Also when the copy would be switched off anyway (an organization
        // suspended meanwhile): the refused write leaves the broker's old,
        // enabled copy in place otherwise.
        match self.broker.put_provider(provider).await {
            Err(IdentityError::Rejected(reason)) => {
                self.switch_off(config, &reason).await?;
                Err(IdentityError::Rejected(reason))
            }
            other => other,
        }
    }

    async fn switch_off(&self, config: &SsoConfig, reason: &str) -> Result<(), IdentityError> {
        let alias = config.broker_alias();
        if !self.broker.disable_provider(&alias).await? {
            return Ok(());
        }
        let (Some(organizations), Some(organization)) = (&self.organizations, config.organization)
        else {
            return Ok(());
        };
        let event = DomainEvent {
            id: EventId::from_uuid(organizations.ids.new_id()),
            occurred_at: organizations.clock.now(),
            organization_id: organization,
            actor: None,
            actor_kind: crate::ActorKind::User,
            request_id: None,
            schema_version: DomainEvent::SCHEMA_VERSION,
            kind: EventKind::SsoProviderDisabled {
                config_id: config.id,
                reason: reason.to_owned(),
            },
        };
        let unavailable = |e: StoreError| IdentityError::Unavailable(e.to_string());
        let mut unit = organizations.storage.begin().await.map_err(unavailable)?;
        unit.append_events(std::slice::from_ref(&event))
            .await
            .map_err(unavailable)?;
        unit.commit().await.map_err(unavailable)
    }

    /// The same sync, reading organizations' domains from `domains`: the
    /// broker learns which addresses an organization's provider may log in
    /// (its verified domains, [`BrokeredProvider::email_domains`]) and
    /// which `ssoRequired` domain's users to send straight to a provider
    /// ([`BrokeredProvider::login_domain`]). Without it, an organization's
    /// provider may log in no address at all.
    #[must_use]
    pub fn with_login_domains(mut self, domains: Arc<dyn DomainQueries>) -> Self {
        self.domains = Some(domains);
        self
    }

    /// The domains of `config`'s organization, read once for both the
    /// redirect and the addresses (`None` without domains to read, or for
    /// an installation-wide configuration).
    async fn organization_domains(
        &self,
        config: &SsoConfig,
    ) -> Result<Option<Vec<OrgDomain>>, StoreError> {
        match (&self.domains, config.organization) {
            (Some(domains), Some(organization)) => Ok(Some(domains.domains(organization).await?)),
            _ => Ok(None),
        }
    }

    async fn login_domain(
        &self,
        config: &SsoConfig,
        domains: Option<&[OrgDomain]>,
    ) -> Result<Option<String>, StoreError> {
        let (Some(domains), Some(organization)) = (domains, config.organization) else {
            return Ok(None);
        };
        if !config.enabled {
            return Ok(None);
        }
        let configs = self.repository.list(Some(organization)).await?;
        Ok(login_redirect(&configs, domains)
            .filter(|r| r.identity_provider == config.broker_alias())
            .map(|r| r.domain))
    }

    /// Whether the configuration's organization lets its members sign in
    /// (ACTIVE); installation-wide configurations always do.
    async fn organization_active(&self, config: &SsoConfig) -> Result<bool, StoreError> {
        let (Some(organizations), Some(organization)) = (&self.organizations, config.organization)
        else {
            return Ok(true);
        };
        Ok(organizations
            .storage
            .organization(organization)
            .await?
            .is_some_and(|org| org.status() == OrgStatus::Active))
    }

    async fn brokered(&self, config: &SsoConfig) -> Result<BrokeredProvider, DeliveryError> {
        let connection = match &config.connection {
            SsoConnection::Oidc(oidc) => BrokeredConnection::Oidc {
                issuer_url: oidc.issuer_url.clone(),
                client_id: oidc.client_id.clone(),
                client_secret: self
                    .cipher
                    .decrypt(&oidc.client_secret_enc, &config.cipher_context())
                    .map_err(|e| {
                        DeliveryError::Permanent(format!(
                            "the client secret cannot be decrypted: {e}"
                        ))
                    })?,
            },
            SsoConnection::Saml(saml) => BrokeredConnection::Saml {
                idp: saml.idp.clone(),
                attributes: saml.attributes.clone(),
            },
        };
        let retryable = |e: StoreError| DeliveryError::Retryable(e.to_string());
        let domains = self.organization_domains(config).await.map_err(retryable)?;
        let login_domain = self
            .login_domain(config, domains.as_deref())
            .await
            .map_err(retryable)?;
        let active = self.organization_active(config).await.map_err(retryable)?;
        let email_domains = email_domains(config, domains.as_deref());
        Ok(BrokeredProvider {
            alias: config.broker_alias(),
            display_name: config.name.clone(),
            connection,
            enabled: config.enabled && active,
            organization: config.organization,
            login_domain,
            email_domains,
        })
    }

    /// Copies one configuration as it is now, or removes its provider when
    /// it no longer exists.
    ///
    /// # Errors
    /// [`DeliveryError::Retryable`] while storage or the broker cannot be
    /// reached; [`DeliveryError::Permanent`] for a configuration the broker
    /// cannot take as it is (an issuer refused, a secret that cannot be
    /// decrypted), which only a change of the configuration can mend.
    pub async fn sync(&self, id: SsoConfigId) -> Result<(), DeliveryError> {
        let alias = BrokeredProvider::alias_of(id);
        let config = self
            .repository
            .get(id)
            .await
            .map_err(|e| DeliveryError::Retryable(e.to_string()))?;
        match config {
            None => self.broker.remove_provider(&alias).await,
            Some(config) => {
                let provider = self.brokered(&config).await?;
                self.put_or_switch_off(&config, &provider).await
            }
        }
        .map_err(delivery_error)
    }

    /// Removes the broker's providers whose configuration is gone (an
    /// organization's purge erases its configurations without an event
    /// each).
    async fn remove_orphans(&self, report: &mut BrokerReconcileReport) -> Result<(), OrgError> {
        let known: HashSet<SsoConfigId> =
            self.repository.all().await?.iter().map(|c| c.id).collect();
        let aliases = self.broker.provider_aliases().await?;
        for alias in aliases {
            if BrokeredProvider::config_of(&alias).is_some_and(|id| known.contains(&id)) {
                continue;
            }
            match self.broker.remove_provider(&alias).await {
                Ok(()) => report.removed += 1,
                Err(error) => report.failed.push((alias, error.to_string())),
            }
        }
        Ok(())
    }

    /// Makes the broker hold exactly orgman's configurations: copies every
    /// configuration and removes providers under orgman's alias prefix that
    /// no configuration has. The broker's own providers are left alone.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`] when storage or the broker's list cannot
    /// be read; failures of single providers are in the report.
    pub async fn reconcile(&self) -> Result<BrokerReconcileReport, OrgError> {
        let mut report = BrokerReconcileReport::default();
        for config in self.repository.all().await? {
            let outcome = match self.brokered(&config).await {
                Ok(provider) => self
                    .put_or_switch_off(&config, &provider)
                    .await
                    .map_err(|e| e.to_string()),
                Err(reason) => Err(reason.to_string()),
            };
            match outcome {
                Ok(()) => report.copied += 1,
                Err(reason) => report.failed.push((config.broker_alias(), reason)),
            }
        }
        self.remove_orphans(&mut report).await?;
        Ok(report)
    }

    async fn deliver_one(&self, event: &DomainEvent) -> Result<(), DeliveryError> {
        match &event.kind {
            EventKind::SsoConfigCreated { config_id, .. }
            | EventKind::SsoConfigUpdated { config_id, .. }
            | EventKind::SsoConfigDeleted { config_id }
            | EventKind::SsoMetadataRefreshed { config_id, .. } => self.sync(*config_id).await,
            EventKind::OrganizationSuspended
            | EventKind::OrganizationReactivated
            | EventKind::OrganizationDeletionRequested { .. }
            | EventKind::OrganizationRestored
            | EventKind::DomainVerified { .. }
            | EventKind::DomainDeleted { .. } => {
                let configs = self
                    .repository
                    .list(Some(event.organization_id))
                    .await
                    .map_err(|e| DeliveryError::Retryable(e.to_string()))?;
                // A provider the broker refuses does not keep the others of
                // the organization from following its state.
                for config in configs {
                    if let Err(DeliveryError::Retryable(reason)) = self.sync(config.id).await {
                        return Err(DeliveryError::Retryable(reason));
                    }
                }
                Ok(())
            }
            EventKind::OrganizationDeleted { .. } => {
                let mut report = BrokerReconcileReport::default();
                self.remove_orphans(&mut report)
                    .await
                    .map_err(|e| DeliveryError::Retryable(e.to_string()))?;
                match report.failed.first() {
                    Some((alias, reason)) => Err(DeliveryError::Retryable(format!(
                        "provider {alias} not removed: {reason}"
                    ))),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

/// Delivers events one at a time through `deliver`, as the [`EventSink`]
/// contract asks: after a retryable failure of an organization's event,
/// its later events are not tried and are reported retryable.
async fn deliver_in_order<'a, F, Fut>(
    events: &'a [DomainEvent],
    mut deliver: F,
) -> Vec<Result<(), DeliveryError>>
where
    F: FnMut(&'a DomainEvent) -> Fut,
    Fut: std::future::Future<Output = Result<(), DeliveryError>>,
{
    let mut blocked: HashSet<OrganizationId> = HashSet::new();
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        if blocked.contains(&event.organization_id) {
            outcomes.push(Err(DeliveryError::Retryable(
                "held back behind an earlier failure".into(),
            )));
            continue;
        }
        let outcome = deliver(event).await;
        if matches!(outcome, Err(DeliveryError::Retryable(_))) {
            blocked.insert(event.organization_id);
        }
        outcomes.push(outcome);
    }
    outcomes
}

/// The addresses `config`'s provider may log in: any for an
/// installation-wide configuration, those of its organization's verified
/// `domains` otherwise (none when they are not known).
fn email_domains(config: &SsoConfig, domains: Option<&[OrgDomain]>) -> Option<Vec<String>> {
    config.organization?;
    let mut verified: Vec<String> = domains
        .unwrap_or_default()
        .iter()
        .filter(|d| d.verified_at.is_some())
        .map(|d| d.name.as_str().to_owned())
        .collect();
    verified.sort();
    Some(verified)
}

/// Where the broker sends users of an `ssoRequired` domain: the first such
/// verified domain (by name), to the first enabled configuration (oldest
/// first, as home-realm discovery answers).
pub(crate) fn login_redirect(
    configs: &[SsoConfig],
    domains: &[OrgDomain],
) -> Option<LoginRedirect> {
    let config = configs
        .iter()
        .filter(|c| c.enabled)
        .min_by_key(|c| (c.created_at, c.id.as_uuid()))?;
    let domain = domains
        .iter()
        .filter(|d| d.verified_at.is_some() && d.policy.sso_required)
        .min_by(|a, b| a.name.as_str().cmp(b.name.as_str()))?;
    Some(LoginRedirect {
        domain: domain.name.as_str().to_owned(),
        identity_provider: config.broker_alias(),
    })
}

pub(crate) fn delivery_error(error: IdentityError) -> DeliveryError {
    match error {
        IdentityError::Unavailable(reason) => DeliveryError::Retryable(reason),
        other => DeliveryError::Permanent(other.to_string()),
    }
}

#[async_trait]
impl EventSink for ProviderSync {
    async fn deliver(&self, events: &[DomainEvent]) -> Vec<Result<(), DeliveryError>> {
        deliver_in_order(events, |event| self.deliver_one(event)).await
    }
}
