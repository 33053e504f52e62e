//! The webhook use cases: register, list, read, change, delete an
//! endpoint, rotate its secret, read its deliveries and send one again.
//!
//! Managing endpoints takes `webhooks:manage`. A new or changed URL must
//! pass the [`WebhookTransport`]'s address rule, which every delivery
//! checks again. Endpoints and their deliveries go with their
//! organization when it is purged.

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::errors::use_case::OrgError;
use crate::events::event::EventKind;
use crate::members::actor::Actor;
use crate::members::permission::Permission;
use crate::organizations::service::OrganizationService;
use crate::ports::{
    Retry, SecretCipher, SecretTokens, UnitOfWork, WebhookQueries, WebhookQueue, WebhookTransport,
};
use crate::values::id::{DeliveryId, OrganizationId, WebhookId};
use crate::values::page::{Page, PageRequest};
use crate::webhooks::model::{
    EventTypes, IssuedWebhook, SealedSecrets, SigningSecret, WebhookDelivery, WebhookEndpoint,
    WebhookUrl,
};

/// What a new endpoint is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDraft {
    /// Where deliveries go.
    pub url: WebhookUrl,
    /// Which events it receives.
    pub event_types: EventTypes,
    /// Whether deliveries are made from the start.
    pub enabled: bool,
}

/// A change to an endpoint: each field given replaces the current one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    /// A new URL.
    pub url: Option<WebhookUrl>,
    /// New event types.
    pub event_types: Option<EventTypes>,
    /// Enables or disables it. Enabling clears the reason the service gave
    /// for disabling it, and its pending deliveries are attempted at once.
    pub enabled: Option<bool>,
}

/// The webhook use cases.
pub struct WebhookService {
    organizations: Arc<OrganizationService>,
    queries: Arc<dyn WebhookQueries>,
    queue: Arc<dyn WebhookQueue>,
    transport: Arc<dyn WebhookTransport>,
    cipher: Option<Arc<dyn SecretCipher>>,
    tokens: Arc<dyn SecretTokens>,
}

impl fmt::Debug for WebhookService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookService")
    }
}

/// The storage, queue and outside world the webhook use cases need.
pub struct WebhookPorts {
    /// Endpoint and delivery reads.
    pub queries: Arc<dyn WebhookQueries>,
    /// The delivery queue.
    pub queue: Arc<dyn WebhookQueue>,
    /// Signed requests and the address rule.
    pub transport: Arc<dyn WebhookTransport>,
    /// Seals and opens signing secrets; without one, endpoints cannot be
    /// registered.
    pub cipher: Option<Arc<dyn SecretCipher>>,
    /// Random text for new secrets.
    pub tokens: Arc<dyn SecretTokens>,
}

impl fmt::Debug for WebhookPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookPorts")
    }
}

impl WebhookService {
    /// Longest a rotated secret may keep signing beside its successor.
    pub const MAX_OVERLAP: Duration = Duration::days(30);

    /// The use cases.
    pub fn new(organizations: Arc<OrganizationService>, ports: WebhookPorts) -> Self {
        Self {
            organizations,
            queries: ports.queries,
            queue: ports.queue,
            transport: ports.transport,
            cipher: ports.cipher,
            tokens: ports.tokens,
        }
    }

    /// Registers an endpoint in an ACTIVE organization
    /// (`webhooks:manage`). The signing secret is in the answer and
    /// nowhere else.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::ReadOnly`], [`OrgError::WebhookUrlNotAllowed`],
    /// [`OrgError::NotConfigured`] (no encryption key),
    /// [`OrgError::Unavailable`].
    pub async fn create(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        draft: WebhookDraft,
    ) -> Result<IssuedWebhook, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::WebhooksManage)
            .await?;
        self.admit(&draft.url).await?;
        let now = service.ports().clock.now();
        let id = WebhookId::from_uuid(service.ports().ids.new_id());
        let secret = self.new_secret();
        let endpoint = WebhookEndpoint {
            id,
            organization,
            url: draft.url,
            event_types: draft.event_types,
            enabled: draft.enabled,
            disabled_reason: None,
            created_by: actor.reference(),
            created_at: now,
            updated_at: now,
            secrets: SealedSecrets {
                current: self.seal(id, &secret)?,
                previous: None,
            },
        };
        let mut uow = self.begin_change(organization).await?;
        uow.insert_webhook(&endpoint).await?;
        let kind = EventKind::WebhookCreated {
            webhook_id: id,
            event_types: endpoint.event_types.names().to_vec(),
            enabled: endpoint.enabled,
        };
        service
            .record(uow, &[service.event(organization, Some(actor), kind)])
            .await?;
        Ok(IssuedWebhook { endpoint, secret })
    }

    /// The organization's endpoints (`webhooks:manage`).
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::Unavailable`].
    pub async fn list(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        page: PageRequest<WebhookId>,
    ) -> Result<Page<WebhookEndpoint, WebhookId>, OrgError> {
        self.organizations
            .ensure_permission(actor, organization, Permission::WebhooksManage)
            .await?;
        Ok(self.queries.webhooks(organization, page).await?)
    }

    /// One endpoint (`webhooks:manage`).
    ///
    /// # Errors
    /// As [`WebhookService::list`], and [`OrgError::WebhookNotFound`].
    pub async fn get(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<WebhookEndpoint, OrgError> {
        self.organizations
            .ensure_permission(actor, organization, Permission::WebhooksManage)
            .await?;
        self.queries
            .webhook(organization, webhook)
            .await?
            .ok_or(OrgError::WebhookNotFound)
    }

    /// Changes an endpoint (`webhooks:manage`, ACTIVE organization). A
    /// change that changes nothing records no event.
    ///
    /// # Errors
    /// As [`WebhookService::create`], and [`OrgError::WebhookNotFound`].
    pub async fn update(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        webhook: WebhookId,
        patch: WebhookPatch,
    ) -> Result<WebhookEndpoint, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::WebhooksManage)
            .await?;
        if let Some(url) = &patch.url {
            self.admit(url).await?;
        }
        let mut uow = self.begin_change(organization).await?;
        let mut endpoint = uow
            .lock_webhook(organization, webhook)
            .await?
            .ok_or(OrgError::WebhookNotFound)?;
        let before = endpoint.clone();
        if let Some(url) = patch.url {
            endpoint.url = url;
        }
        if let Some(types) = patch.event_types {
            endpoint.event_types = types;
        }
        if let Some(enabled) = patch.enabled {
            endpoint.enabled = enabled;
            if enabled {
                endpoint.disabled_reason = None;
            }
        }
        if endpoint == before {
            return Ok(endpoint);
        }
        endpoint.updated_at = service.ports().clock.now();
        uow.update_webhook(&endpoint).await?;
        let kind = EventKind::WebhookUpdated {
            webhook_id: webhook,
            event_types: endpoint.event_types.names().to_vec(),
            enabled: endpoint.enabled,
            url_changed: endpoint.url != before.url,
        };
        service
            .record(uow, &[service.event(organization, Some(actor), kind)])
            .await?;
        Ok(endpoint)
    }

    /// Deletes an endpoint with its deliveries (`webhooks:manage`), in any
    /// status of the organization.
    ///
    /// # Errors
    /// As [`WebhookService::get`].
    pub async fn delete(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<(), OrgError> {
        let service = &*self.organizations;
        service
            .ensure_permission(actor, organization, Permission::WebhooksManage)
            .await?;
        let (mut uow, _) = service.begin_locked(organization).await?;
        uow.lock_webhook(organization, webhook)
            .await?
            .ok_or(OrgError::WebhookNotFound)?;
        uow.delete_webhook(organization, webhook).await?;
        let kind = EventKind::WebhookDeleted {
            webhook_id: webhook,
        };
        service
            .record(uow, &[service.event(organization, Some(actor), kind)])
            .await
    }

    /// Replaces an endpoint's signing secret (`webhooks:manage`). The old
    /// one keeps signing beside the new one for `overlap` (at most
    /// [`WebhookService::MAX_OVERLAP`]; none stops it at once), so that
    /// receivers can switch without losing a delivery.
    ///
    /// # Errors
    /// As [`WebhookService::create`], [`OrgError::WebhookNotFound`], and
    /// [`OrgError::WebhookInvalid`] for an overlap too long.
    pub async fn rotate_secret(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        webhook: WebhookId,
        overlap: Duration,
    ) -> Result<IssuedWebhook, OrgError> {
        if overlap > Self::MAX_OVERLAP {
            return Err(OrgError::WebhookInvalid(
                "overlapSeconds must be at most 30 days".into(),
            ));
        }
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::WebhooksManage)
            .await?;
        let mut uow = self.begin_change(organization).await?;
        let mut endpoint = uow
            .lock_webhook(organization, webhook)
            .await?
            .ok_or(OrgError::WebhookNotFound)?;
        let now = service.ports().clock.now();
        let secret = self.new_secret();
        let until = now + overlap.max(Duration::ZERO);
        let old = std::mem::replace(&mut endpoint.secrets.current, self.seal(webhook, &secret)?);
        endpoint.secrets.previous = Some((old, until));
        endpoint.updated_at = now;
        uow.update_webhook(&endpoint).await?;
        let kind = EventKind::WebhookSecretRotated {
            webhook_id: webhook,
            previous_valid_until: until,
        };
        service
            .record(uow, &[service.event(organization, Some(actor), kind)])
            .await?;
        Ok(IssuedWebhook { endpoint, secret })
    }

    /// An endpoint's deliveries, newest first, with their attempts
    /// (`webhooks:manage`).
    ///
    /// # Errors
    /// As [`WebhookService::get`].
    pub async fn deliveries(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        webhook: WebhookId,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<WebhookDelivery, DeliveryId>, OrgError> {
        self.get(actor, organization, webhook).await?;
        Ok(self.queries.deliveries(organization, webhook, page).await?)
    }

    /// Sends an ended delivery (delivered or failed) again: it becomes
    /// pending, due at once, with a new retry period (`webhooks:manage`).
    ///
    /// # Errors
    /// As [`WebhookService::get`], [`OrgError::DeliveryNotFound`], and
    /// [`OrgError::DeliveryPending`] for one still pending.
    pub async fn retry(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        webhook: WebhookId,
        delivery: DeliveryId,
    ) -> Result<WebhookDelivery, OrgError> {
        self.organizations
            .ensure_changeable(actor, organization, Permission::WebhooksManage)
            .await?;
        let now = self.organizations.ports().clock.now();
        match self
            .queue
            .retry(organization, webhook, delivery, now)
            .await?
        {
            None => Err(OrgError::DeliveryNotFound),
            Some(Retry::StillPending) => Err(OrgError::DeliveryPending),
            Some(Retry::Retried(found)) => {
                self.organizations.ports().commit_signal.committed();
                Ok(found)
            }
        }
    }

    /// Stops deliveries to an endpoint after a run of failed attempts, with
    /// an event; its pending deliveries wait until it is enabled again.
    /// Nothing happens to an endpoint already disabled or gone.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub(crate) async fn disable(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
        failures: u32,
        reason: String,
    ) -> Result<(), OrgError> {
        let service = &*self.organizations;
        let (mut uow, _) = service.begin_locked(organization).await?;
        let Some(mut endpoint) = uow.lock_webhook(organization, webhook).await? else {
            return Ok(());
        };
        if !endpoint.enabled {
            return Ok(());
        }
        endpoint.enabled = false;
        endpoint.disabled_reason = Some(reason.clone());
        endpoint.updated_at = service.ports().clock.now();
        uow.update_webhook(&endpoint).await?;
        let kind = EventKind::WebhookDisabled {
            webhook_id: webhook,
            failures,
            reason,
        };
        service
            .record(uow, &[service.event(organization, None, kind)])
            .await
    }

    /// The delivery queue.
    pub(crate) fn queue(&self) -> &dyn WebhookQueue {
        &*self.queue
    }

    /// The transport.
    pub(crate) fn transport(&self) -> &dyn WebhookTransport {
        &*self.transport
    }

    /// The clock.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.organizations.ports().clock.now()
    }

    /// Random bits, for jitter.
    pub(crate) fn random(&self) -> u128 {
        self.organizations.ports().ids.new_id().as_u128()
    }

    /// Opens an endpoint's secrets that sign at `now`: the current one,
    /// and the previous one during its overlap.
    pub(crate) fn open(
        &self,
        webhook: WebhookId,
        secrets: &SealedSecrets,
        now: OffsetDateTime,
    ) -> Result<Vec<SigningSecret>, OrgError> {
        let context = *webhook.as_uuid().as_bytes();
        let cipher = self
            .cipher
            .as_deref()
            .ok_or(OrgError::NotConfigured("an encryption key for secrets"))?;
        let open = |sealed: &str| {
            cipher
                .decrypt(sealed, &context)
                .map(SigningSecret::from_stored)
                .map_err(|e| OrgError::Internal(format!("a webhook secret cannot be opened: {e}")))
        };
        let mut opened = vec![open(&secrets.current)?];
        if let Some((previous, until)) = &secrets.previous
            && *until > now
        {
            opened.push(open(previous)?);
        }
        Ok(opened)
    }

    async fn admit(&self, url: &WebhookUrl) -> Result<(), OrgError> {
        self.transport
            .admit(url)
            .await
            .map_err(|refused| OrgError::WebhookUrlNotAllowed(refused.0))
    }

    fn new_secret(&self) -> SigningSecret {
        let (token, _) = self.tokens.issue();
        SigningSecret::from_random(token.expose())
    }

    fn seal(&self, webhook: WebhookId, secret: &SigningSecret) -> Result<String, OrgError> {
        self.cipher
            .as_deref()
            .ok_or(OrgError::NotConfigured("an encryption key for secrets"))?
            .encrypt(secret.as_client_secret(), webhook.as_uuid().as_bytes())
            .map_err(|_| OrgError::NotConfigured("an encryption key for secrets"))
    }

    /// A unit of work for a change of endpoints: the organization locked
    /// and ACTIVE.
    async fn begin_change(
        &self,
        organization: OrganizationId,
    ) -> Result<Box<dyn UnitOfWork>, OrgError> {
        let (uow, locked) = self.organizations.begin_locked(organization).await?;
        locked.ensure_writable()?;
        Ok(uow)
    }
}
