//! Delivery: the outbox's webhook sink records one delivery per event and
//! subscribed endpoint ([`WebhookFanout`]); the [`WebhookDispatcher`]
//! attempts them per endpoint, in order, with backoff.
//!
//! **Order.** An endpoint's deliveries are attempted in the order they
//! were recorded, which is the outbox's order: a delivery waits while an
//! older one of its endpoint is retried. One that exhausts its retry
//! period is marked failed (it can be sent again by hand) and the next one
//! goes.
//!
//! **Isolation.** Each endpoint is claimed on its own, under a lease, so a
//! slow endpoint holds only its own deliveries; the outbox's sink settles
//! as soon as the deliveries are recorded, so nothing an endpoint does
//! holds outbox rows or the other sinks.
//!
//! **Disabling.** After [`DispatchSettings::disable_after`] failed attempts
//! in a row an endpoint is disabled, with an event; its pending deliveries
//! wait until someone enables it.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::errors::use_case::OrgError;
use crate::events::event::DomainEvent;
use crate::ports::{
    CommitSignal, DeliveryError, DeliveryOutcome, DueDelivery, DueEndpoint, EventEncoder,
    EventSink, NewDelivery, WebhookQueue, WebhookRequest,
};
use crate::values::id::{DeliveryId, OrganizationId};
use crate::webhooks::model::{DeliveryAttempt, DeliveryState};
use crate::webhooks::service::WebhookService;

/// How deliveries are retried, and when an endpoint is given up on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchSettings {
    /// How long a delivery is retried, from its recording.
    pub retry_for: Duration,
    /// The wait after the first failed attempt; it doubles after each
    /// further one.
    pub backoff_base: Duration,
    /// The longest wait between two attempts.
    pub backoff_max: Duration,
    /// Failed attempts in a row after which the endpoint is disabled.
    pub disable_after: u32,
    /// How long a claim holds an endpoint against other replicas.
    pub lease: Duration,
    /// Deliveries taken per endpoint and claim.
    pub per_endpoint: u32,
}

impl Default for DispatchSettings {
    /// Three days of retries, waits from 5 seconds doubling up to 6 hours
    /// (with jitter), disabled after 24 failures in a row (about the three
    /// days of one delivery's retries), a lease of 5 minutes and 20
    /// deliveries per claim.
    fn default() -> Self {
        Self {
            retry_for: Duration::from_secs(3 * 24 * 3600),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(6 * 3600),
            disable_after: 24,
            lease: Duration::from_secs(300),
            per_endpoint: 20,
        }
    }
}

impl DispatchSettings {
    /// The wait before attempt `attempts + 1`, after `attempts` failed
    /// ones: the base doubled per earlier failure, at most the maximum,
    /// then a random part of up to a quarter taken off (`random` is any
    /// random number), so that endpoints failing together do not retry
    /// together.
    pub fn backoff(&self, attempts: u32, random: u128) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        let full = self
            .backoff_base
            .saturating_mul(1u32 << doublings)
            .min(self.backoff_max);
        let quarter = full.as_millis() / 4;
        let jitter = if quarter == 0 { 0 } else { random % quarter };
        full.saturating_sub(Duration::from_millis(jitter as u64))
    }
}

/// What one endpoint's dispatch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Deliveries the endpoint took.
    pub delivered: u32,
    /// Attempts that failed.
    pub failed_attempts: u32,
    /// Deliveries given up on.
    pub given_up: u32,
    /// Whether the endpoint was disabled.
    pub disabled: bool,
}

/// Attempts due deliveries, one endpoint at a time per claim.
pub struct WebhookDispatcher {
    webhooks: Arc<WebhookService>,
    settings: DispatchSettings,
}

impl fmt::Debug for WebhookDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookDispatcher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl WebhookDispatcher {
    /// A dispatcher over the use cases' queue and transport.
    pub fn new(webhooks: Arc<WebhookService>, settings: DispatchSettings) -> Self {
        Self { webhooks, settings }
    }

    /// Claims up to `endpoints` endpoints with deliveries due; the caller
    /// runs [`WebhookDispatcher::dispatch`] on each, concurrently.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn claim(&self, endpoints: u32) -> Result<Vec<DueEndpoint>, OrgError> {
        if endpoints == 0 {
            return Ok(Vec::new());
        }
        let now = self.webhooks.now();
        Ok(self
            .webhooks
            .queue()
            .claim_due(
                now,
                endpoints,
                self.settings.per_endpoint,
                self.settings.lease,
            )
            .await?)
    }

    /// Attempts a claimed endpoint's deliveries in order until one fails,
    /// records the outcomes and releases the claim; disables the endpoint
    /// after a run of failures.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`] when the outcomes cannot be recorded (the
    /// lease runs out and the deliveries are attempted again; receivers
    /// de-duplicate by `webhook-id`).
    pub async fn dispatch(&self, due: DueEndpoint) -> Result<DispatchReport, OrgError> {
        let mut report = DispatchReport::default();
        let mut failures = due.failures;
        let mut outcomes = Vec::with_capacity(due.deliveries.len());
        let mut last_error = String::new();
        for delivery in &due.deliveries {
            let now = self.webhooks.now();
            if delivery.due_at > now {
                break;
            }
            let attempt = self.attempt(&due, delivery, now).await;
            if attempt.succeeded() {
                failures = 0;
                report.delivered += 1;
                outcomes.push(settled(delivery.id, attempt, DeliveryState::Delivered));
                continue;
            }
            failures += 1;
            report.failed_attempts += 1;
            last_error = attempt.error.clone().unwrap_or_default();
            let expired = now >= delivery.window_start + self.settings.retry_for;
            if expired {
                report.given_up += 1;
                outcomes.push(settled(delivery.id, attempt, DeliveryState::Failed));
            } else {
                let wait = self
                    .settings
                    .backoff(delivery.attempts + 1, self.webhooks.random());
                outcomes.push(DeliveryOutcome {
                    delivery: delivery.id,
                    attempt,
                    state: DeliveryState::Pending,
                    retry_at: Some(now + wait),
                });
            }
            if !expired || failures >= self.settings.disable_after {
                break;
            }
        }
        self.webhooks
            .queue()
            .record(due.webhook, &outcomes, failures)
            .await?;
        if failures >= self.settings.disable_after {
            report.disabled = true;
            self.webhooks
                .disable(due.organization, due.webhook, failures, last_error)
                .await?;
        }
        Ok(report)
    }

    /// Deletes ended deliveries (delivered or failed) recorded more than
    /// `retention` ago, up to `limit` of them; returns how many.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn prune(&self, retention: Duration, limit: u32) -> Result<u64, OrgError> {
        let before = self.webhooks.now() - retention;
        Ok(self
            .webhooks
            .queue()
            .prune_deliveries(before, limit)
            .await?)
    }

    async fn attempt(
        &self,
        due: &DueEndpoint,
        delivery: &DueDelivery,
        now: OffsetDateTime,
    ) -> DeliveryAttempt {
        let secrets = match self.webhooks.open(due.webhook, &due.secrets, now) {
            Ok(secrets) => secrets,
            Err(error) => {
                return DeliveryAttempt {
                    at: now,
                    status: None,
                    error: Some(error.to_string()),
                    duration_ms: 0,
                };
            }
        };
        self.webhooks
            .transport()
            .send(WebhookRequest {
                url: &due.url,
                message_id: delivery.id,
                body: &delivery.body,
                secrets: &secrets,
                at: now,
            })
            .await
    }
}

fn settled(
    delivery: DeliveryId,
    attempt: DeliveryAttempt,
    state: DeliveryState,
) -> DeliveryOutcome {
    DeliveryOutcome {
        delivery,
        attempt,
        state,
        retry_at: None,
    }
}

/// The outbox's webhook sink: records a delivery for every event and
/// enabled endpoint of its organization that receives its type, then
/// wakes the dispatcher. It settles events as soon as their deliveries are
/// recorded.
pub struct WebhookFanout {
    queue: Arc<dyn WebhookQueue>,
    encoder: Arc<dyn EventEncoder>,
    ids: Arc<dyn crate::ports::IdGenerator>,
    clock: Arc<dyn crate::ports::Clock>,
    wake: Arc<dyn CommitSignal>,
}

impl fmt::Debug for WebhookFanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookFanout")
    }
}

impl WebhookFanout {
    /// The sink, with the system clock and UUIDv7 delivery ids; `wake` is
    /// told when deliveries were recorded.
    pub fn new(
        queue: Arc<dyn WebhookQueue>,
        encoder: Arc<dyn EventEncoder>,
        wake: Arc<dyn CommitSignal>,
    ) -> Self {
        Self {
            queue,
            encoder,
            ids: Arc::new(crate::ports::UuidV7Generator),
            clock: Arc::new(crate::ports::SystemClock),
            wake,
        }
    }

    /// The same, with another clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn crate::ports::Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn record(&self, events: &[DomainEvent]) -> Result<(), crate::StoreError> {
        let organizations: Vec<OrganizationId> = events
            .iter()
            .map(|event| event.organization_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let subscribers = self.queue.subscribers(&organizations).await?;
        if subscribers.is_empty() {
            return Ok(());
        }
        let mut deliveries = Vec::new();
        for event in events {
            let type_name = event.type_name();
            let mut body = None;
            for subscriber in subscribers.iter().filter(|s| {
                s.organization == event.organization_id && s.event_types.receives(type_name)
            }) {
                let body = body.get_or_insert_with(|| self.encoder.encode(event));
                deliveries.push(NewDelivery {
                    id: DeliveryId::from_uuid(self.ids.new_id()),
                    webhook: subscriber.webhook,
                    organization: event.organization_id,
                    event_id: event.id,
                    event_type: type_name,
                    body: body.clone(),
                });
            }
        }
        if deliveries.is_empty() {
            return Ok(());
        }
        self.queue.enqueue(&deliveries, self.clock.now()).await?;
        self.wake.committed();
        Ok(())
    }
}

#[async_trait]
impl EventSink for WebhookFanout {
    async fn deliver(&self, events: &[DomainEvent]) -> Vec<Result<(), DeliveryError>> {
        match self.record(events).await {
            Ok(()) => events.iter().map(|_| Ok(())).collect(),
            Err(error) => events
                .iter()
                .map(|_| Err(DeliveryError::Retryable(error.to_string())))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_jitter_only_shortens() {
        let settings = DispatchSettings {
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            ..DispatchSettings::default()
        };
        assert_eq!(settings.backoff(1, 0), Duration::from_secs(5));
        assert_eq!(settings.backoff(2, 0), Duration::from_secs(10));
        assert_eq!(settings.backoff(4, 0), Duration::from_secs(40));
        assert_eq!(settings.backoff(5, 0), Duration::from_secs(60));
        assert_eq!(settings.backoff(40, 0), Duration::from_secs(60));
        for random in [1, 7_777, u128::MAX] {
            let wait = settings.backoff(3, random);
            assert!(wait <= Duration::from_secs(20) && wait > Duration::from_secs(15));
        }
    }

    #[test]
    fn the_default_disables_about_when_a_delivery_gives_up() {
        let settings = DispatchSettings::default();
        let mut waited = Duration::ZERO;
        let mut attempts = 0;
        while waited < settings.retry_for {
            attempts += 1;
            waited += settings.backoff(attempts, 0);
        }
        assert!(
            attempts.abs_diff(settings.disable_after) <= 2,
            "{attempts} attempts in the retry period"
        );
    }
}
