//! Organizations' webhook endpoints and their delivery queue in memory.

use std::time::Duration;

use async_trait::async_trait;
use orgman_domain::ports::{
    DeliveryOutcome, DueDelivery, DueEndpoint, NewDelivery, Retry, Subscriber, WebhookQueries,
    WebhookQueue, WebhookWrites,
};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::{
    DeliveryId, DeliveryState, OrganizationId, Page, PageRequest, StoreError, WebhookDelivery,
    WebhookEndpoint, WebhookId,
};

use super::{MemoryStore, MemoryUnitOfWork, page_after};

/// A recorded delivery with what the queue keeps beside it.
#[derive(Clone, Debug)]
pub(super) struct Queued {
    delivery: WebhookDelivery,
    organization: OrganizationId,
    body: String,
    window_start: OffsetDateTime,
}

impl Queued {
    /// Its endpoint.
    pub(super) fn webhook(&self) -> WebhookId {
        self.delivery.webhook
    }
}

/// An endpoint's run of failures and lease.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Run {
    failures: u32,
    leased_until: Option<OffsetDateTime>,
}

#[async_trait]
impl WebhookQueries for MemoryStore {
    async fn webhook(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .webhooks
            .get(&webhook)
            .filter(|found| found.organization == organization)
            .cloned())
    }

    async fn webhooks(
        &self,
        organization: OrganizationId,
        page: PageRequest<WebhookId>,
    ) -> Result<Page<WebhookEndpoint, WebhookId>, StoreError> {
        self.available()?;
        let state = self.lock();
        Ok(page_after(
            state
                .webhooks
                .iter()
                .filter(|(_, endpoint)| endpoint.organization == organization)
                .map(|(id, endpoint)| (*id, endpoint.clone())),
            page,
        ))
    }

    async fn deliveries(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<WebhookDelivery, DeliveryId>, StoreError> {
        self.available()?;
        let state = self.lock();
        let fetched: Vec<WebhookDelivery> = state
            .deliveries
            .iter()
            .rev()
            .filter(|q| q.organization == organization && q.delivery.webhook == webhook)
            .filter(|q| page.after.is_none_or(|after| q.delivery.id < after))
            .take(page.limit() as usize + 1)
            .map(|q| q.delivery.clone())
            .collect();
        Ok(Page::from_overfetch(fetched, page.limit(), |d| d.id))
    }
}

#[async_trait]
impl WebhookWrites for MemoryUnitOfWork {
    async fn insert_webhook(&mut self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        self.working.webhooks.insert(endpoint.id, endpoint.clone());
        Ok(())
    }

    async fn lock_webhook(
        &mut self,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        Ok(self
            .working
            .webhooks
            .get(&webhook)
            .filter(|found| found.organization == organization)
            .cloned())
    }

    async fn update_webhook(&mut self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        let was_enabled = self
            .working
            .webhooks
            .insert(endpoint.id, endpoint.clone())
            .ok_or(StoreError::NotFound)?
            .enabled;
        if endpoint.enabled && !was_enabled {
            self.working.webhook_runs.remove(&endpoint.id);
            for queued in self.working.deliveries.iter_mut().filter(|q| {
                q.delivery.webhook == endpoint.id && q.delivery.state == DeliveryState::Pending
            }) {
                queued.delivery.next_attempt_at = Some(endpoint.updated_at);
            }
        }
        Ok(())
    }

    async fn delete_webhook(
        &mut self,
        organization: OrganizationId,
        webhook: WebhookId,
    ) -> Result<(), StoreError> {
        self.working
            .webhooks
            .retain(|id, endpoint| *id != webhook || endpoint.organization != organization);
        self.working
            .deliveries
            .retain(|q| q.delivery.webhook != webhook);
        self.working.webhook_runs.remove(&webhook);
        Ok(())
    }
}

#[async_trait]
impl WebhookQueue for MemoryStore {
    async fn subscribers(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<Subscriber>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .webhooks
            .values()
            .filter(|e| e.enabled && organizations.contains(&e.organization))
            .map(|e| Subscriber {
                webhook: e.id,
                organization: e.organization,
                event_types: e.event_types.clone(),
            })
            .collect())
    }

    async fn enqueue(
        &self,
        deliveries: &[NewDelivery],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.available()?;
        // Queue writes wait for units of work, whose commit replaces the
        // whole state.
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        for new in deliveries {
            let known = state
                .deliveries
                .iter()
                .any(|q| q.delivery.webhook == new.webhook && q.delivery.event_id == new.event_id);
            if known || !state.webhooks.contains_key(&new.webhook) {
                continue;
            }
            state.deliveries.push(Queued {
                delivery: WebhookDelivery {
                    id: new.id,
                    webhook: new.webhook,
                    event_id: new.event_id,
                    event_type: new.event_type.to_owned(),
                    state: DeliveryState::Pending,
                    created_at: now,
                    next_attempt_at: Some(now),
                    attempts: Vec::new(),
                },
                organization: new.organization,
                body: new.body.clone(),
                window_start: now,
            });
        }
        Ok(())
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        endpoints: u32,
        per_endpoint: u32,
        lease: Duration,
    ) -> Result<Vec<DueEndpoint>, StoreError> {
        self.available()?;
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        let mut claimed = Vec::new();
        let enabled: Vec<WebhookEndpoint> = state
            .webhooks
            .values()
            .filter(|e| e.enabled)
            .cloned()
            .collect();
        for endpoint in enabled {
            if claimed.len() >= endpoints as usize {
                break;
            }
            let run = state
                .webhook_runs
                .get(&endpoint.id)
                .copied()
                .unwrap_or_default();
            if run.leased_until.is_some_and(|until| until > now) {
                continue;
            }
            let pending: Vec<DueDelivery> = state
                .deliveries
                .iter()
                .filter(|q| {
                    q.delivery.webhook == endpoint.id && q.delivery.state == DeliveryState::Pending
                })
                .take(per_endpoint as usize)
                .map(|q| DueDelivery {
                    id: q.delivery.id,
                    body: q.body.clone(),
                    attempts: q.delivery.attempts.len() as u32,
                    window_start: q.window_start,
                    due_at: q.delivery.next_attempt_at.unwrap_or(now),
                })
                .collect();
            if pending.first().is_none_or(|head| head.due_at > now) {
                continue;
            }
            state.webhook_runs.insert(
                endpoint.id,
                Run {
                    leased_until: Some(now + lease),
                    ..run
                },
            );
            claimed.push(DueEndpoint {
                webhook: endpoint.id,
                organization: endpoint.organization,
                url: endpoint.url,
                secrets: endpoint.secrets,
                failures: run.failures,
                deliveries: pending,
            });
        }
        Ok(claimed)
    }

    async fn record(
        &self,
        webhook: WebhookId,
        outcomes: &[DeliveryOutcome],
        failures: u32,
    ) -> Result<(), StoreError> {
        self.available()?;
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        for outcome in outcomes {
            if let Some(queued) = state
                .deliveries
                .iter_mut()
                .find(|q| q.delivery.id == outcome.delivery)
            {
                queued.delivery.attempts.push(outcome.attempt.clone());
                queued.delivery.state = outcome.state;
                queued.delivery.next_attempt_at = outcome.retry_at;
            }
        }
        state.webhook_runs.insert(
            webhook,
            Run {
                failures,
                leased_until: None,
            },
        );
        Ok(())
    }

    async fn retry(
        &self,
        organization: OrganizationId,
        webhook: WebhookId,
        delivery: DeliveryId,
        now: OffsetDateTime,
    ) -> Result<Option<Retry>, StoreError> {
        self.available()?;
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        let Some(queued) = state.deliveries.iter_mut().find(|q| {
            q.organization == organization
                && q.delivery.webhook == webhook
                && q.delivery.id == delivery
        }) else {
            return Ok(None);
        };
        if queued.delivery.state == DeliveryState::Pending {
            return Ok(Some(Retry::StillPending));
        }
        queued.delivery.state = DeliveryState::Pending;
        queued.delivery.next_attempt_at = Some(now);
        queued.window_start = now;
        Ok(Some(Retry::Retried(queued.delivery.clone())))
    }

    async fn prune_deliveries(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.available()?;
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        let mut left = limit;
        state.deliveries.retain(|q| {
            let ended = q.delivery.state != DeliveryState::Pending;
            if ended && q.delivery.created_at < before && left > 0 {
                left -= 1;
                false
            } else {
                true
            }
        });
        Ok(u64::from(limit - left))
    }
}
