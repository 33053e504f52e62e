//! Webhooks: the endpoints in storage, the per-endpoint queue of
//! deliveries the outbox feeds, the signed request that carries one, and
//! how an event becomes a request body.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::errors::port::StoreError;
use crate::events::event::DomainEvent;
use crate::values::id::{DeliveryId, EventId, OrganizationId, WebhookId};
use crate::values::page::{Page, PageRequest};
use crate::webhooks::model::{
    DeliveryAttempt, DeliveryState, EventTypes, SealedSecrets, SigningSecret, WebhookDelivery,
    WebhookEndpoint, WebhookUrl,
};

/// Reads of organizations' webhook endpoints and their deliveries.
#[async_trait]
pub trait WebhookQueries: Send + Sync {
    /// One endpoint of the organization (`None` for another one's).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn webhook(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// The organization's endpoints, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn webhooks(
        &self,
        organization: OrganizationId,
        page: PageRequest<WebhookId>,
    ) -> Result<Page<WebhookEndpoint, WebhookId>, StoreError>;

    /// An endpoint's deliveries, newest first, each with its attempts.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn deliveries(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<WebhookDelivery, DeliveryId>, StoreError>;
}

/// The webhook writes of a [`UnitOfWork`](super::UnitOfWork).
#[async_trait]
pub trait WebhookWrites: Send {
    /// Stores a new endpoint.
    async fn insert_webhook(&mut self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;

    /// One endpoint of the organization, locked until the unit of work
    /// ends.
    async fn lock_webhook(
        &mut self,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Stores an endpoint as it is now. Enabling it resets its run of
    /// failures and makes its pending deliveries due at once.
    async fn update_webhook(&mut self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;

    /// Deletes an endpoint and its deliveries.
    async fn delete_webhook(
        &mut self,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<(), StoreError>;
}

/// An enabled endpoint and the events it receives: what the outbox's
/// webhook sink fans events out to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscriber {
    /// The endpoint.
    pub webhook: WebhookId,
    /// Its organization.
    pub organization: OrganizationId,
    /// The events it receives.
    pub event_types: EventTypes,
}

/// A delivery to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// Its id.
    pub id: DeliveryId,
    /// The endpoint.
    pub webhook: WebhookId,
    /// The organization.
    pub organization: OrganizationId,
    /// The event.
    pub event_id: EventId,
    /// Its type name.
    pub event_type: &'static str,
    /// The request body, as the [`EventEncoder`] made it.
    pub body: String,
}

/// An endpoint with deliveries due, claimed for one replica until its
/// outcome is recorded or its lease ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueEndpoint {
    /// The endpoint.
    pub webhook: WebhookId,
    /// Its organization.
    pub organization: OrganizationId,
    /// Where deliveries go.
    pub url: WebhookUrl,
    /// Its secrets, sealed.
    pub secrets: SealedSecrets,
    /// Its failed attempts in a row so far.
    pub failures: u32,
    /// Its oldest pending deliveries, in order; the first is due.
    pub deliveries: Vec<DueDelivery>,
}

/// A pending delivery handed to the dispatcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueDelivery {
    /// Its id.
    pub id: DeliveryId,
    /// The request body.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When its retry period started (its recording, or a manual retry).
    pub window_start: OffsetDateTime,
    /// When its next attempt is due.
    pub due_at: OffsetDateTime,
}

/// What became of a delivery in one dispatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// The delivery.
    pub delivery: DeliveryId,
    /// The attempt made.
    pub attempt: DeliveryAttempt,
    /// Where it stands now.
    pub state: DeliveryState,
    /// When to try again, while pending.
    pub retry_at: Option<OffsetDateTime>,
}

/// The per-endpoint delivery queue: deliveries recorded off the outbox,
/// claimed per endpoint (one replica at a time), attempted in order.
#[async_trait]
pub trait WebhookQueue: Send + Sync {
    /// The enabled endpoints of these organizations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn subscribers(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<Subscriber>, StoreError>;

    /// Records deliveries at `now`, due at once, in the given order (which is the
    /// order attempts follow per endpoint). A delivery of an event already
    /// recorded for that endpoint is skipped, so recording again after a
    /// failure sends nothing twice.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]: nothing is recorded.
    async fn enqueue(
        &self,
        deliveries: &[NewDelivery],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Claims up to `endpoints` enabled endpoints whose oldest pending
    /// delivery is due at `now` and that no lease holds, each with up to
    /// `per_endpoint` of its oldest pending deliveries, leased for `lease`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        endpoints: u32,
        per_endpoint: u32,
        lease: Duration,
    ) -> Result<Vec<DueEndpoint>, StoreError>;

    /// Records a dispatch's outcomes and the endpoint's run of failures,
    /// and releases its lease.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]: nothing is recorded; the lease runs
    /// out and the deliveries are attempted again.
    async fn record(
        &self,
        webhook: WebhookId,
        outcomes: &[DeliveryOutcome],
        failures: u32,
    ) -> Result<(), StoreError>;

    /// Makes an ended delivery pending again, due at `now`, its retry
    /// period starting over; leaves a pending one as it is. `None` when the
    /// endpoint (of the organization) has no such delivery.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn retry(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
        delivery: DeliveryId,
        now: OffsetDateTime,
    ) -> Result<Option<Retry>, StoreError>;

    /// Deletes up to `limit` ended deliveries (delivered or failed), with
    /// their attempts, recorded before `before`; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn prune_deliveries(&self, before: OffsetDateTime, limit: u32)
    -> Result<u64, StoreError>;
}

/// What asking for a delivery to be sent again did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retry {
    /// It is pending again, as it now is.
    Retried(WebhookDelivery),
    /// It was still pending: nothing changed.
    StillPending,
}

/// One signed request to make.
#[derive(Debug)]
pub struct WebhookRequest<'a> {
    /// Where.
    pub url: &'a WebhookUrl,
    /// The `webhook-id` header: the delivery's id.
    pub message_id: DeliveryId,
    /// The body.
    pub body: &'a str,
    /// The secrets to sign with, each giving one signature: the current
    /// one, and during a rotation's overlap the previous one.
    pub secrets: &'a [SigningSecret],
    /// The `webhook-timestamp`: when this attempt is made.
    pub at: OffsetDateTime,
}

/// Why a URL may not be called.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlRefused(pub String);

/// Makes signed webhook requests, and decides which URLs may be called.
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    /// Whether the URL may be called: its scheme, and every address its
    /// host resolves to.
    ///
    /// # Errors
    /// [`UrlRefused`], saying why.
    async fn admit(&self, url: &WebhookUrl) -> Result<(), UrlRefused>;

    /// Makes one attempt, signed at `request.at`. Never fails: what went
    /// wrong is in the attempt.
    async fn send(&self, request: WebhookRequest<'_>) -> DeliveryAttempt;
}

/// How an event becomes a request body: the same document the message
/// broker gets.
pub trait EventEncoder: Send + Sync {
    /// The body for an event.
    fn encode(&self, event: &DomainEvent) -> String;
}
