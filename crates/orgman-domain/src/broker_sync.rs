//! SSO configurations copied to the login broker: the outbox's
//! login-broker sink, and the reconciliation that repairs drift.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::IdentityError;
use crate::event::{DomainEvent, EventKind};
use crate::id::{OrganizationId, SsoConfigId};
use crate::org_error::OrgError;
use crate::ports::{DeliveryError, EventSink, LoginBroker, SecretCipher, SsoConfigRepository};
use crate::sso_config::{BrokeredProvider, SsoConfig};

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
        "organization.deleted",
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
        }
    }

    fn brokered(&self, config: &SsoConfig) -> Result<BrokeredProvider, String> {
        let client_secret = self
            .cipher
            .decrypt(&config.client_secret_enc, &config.cipher_context())
            .map_err(|e| format!("the client secret cannot be decrypted: {e}"))?;
        Ok(BrokeredProvider {
            alias: config.broker_alias(),
            display_name: config.name.clone(),
            issuer_url: config.issuer_url.clone(),
            client_id: config.client_id.clone(),
            client_secret,
            enabled: config.enabled,
            organization: config.organization,
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
                let provider = self.brokered(&config).map_err(DeliveryError::Permanent)?;
                self.broker.put_provider(&provider).await
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
            let outcome = match self.brokered(&config) {
                Ok(provider) => self
                    .broker
                    .put_provider(&provider)
                    .await
                    .map_err(|e| e.to_string()),
                Err(reason) => Err(reason),
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
            | EventKind::SsoConfigDeleted { config_id } => self.sync(*config_id).await,
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

fn delivery_error(error: IdentityError) -> DeliveryError {
    match error {
        IdentityError::Unavailable(reason) => DeliveryError::Retryable(reason),
        other => DeliveryError::Permanent(other.to_string()),
    }
}

#[async_trait]
impl EventSink for ProviderSync {
    async fn deliver(&self, events: &[DomainEvent]) -> Vec<Result<(), DeliveryError>> {
        let mut blocked: HashSet<OrganizationId> = HashSet::new();
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            if blocked.contains(&event.organization_id) {
                outcomes.push(Err(DeliveryError::Retryable(
                    "held back behind an earlier failure".into(),
                )));
                continue;
            }
            let outcome = self.deliver_one(event).await;
            if matches!(outcome, Err(DeliveryError::Retryable(_))) {
                blocked.insert(event.organization_id);
            }
            outcomes.push(outcome);
        }
        outcomes
    }
}
