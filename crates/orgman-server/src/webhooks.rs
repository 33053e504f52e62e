//! Webhook delivery in the service: events become the CloudEvents the
//! broker gets ([`CloudEvents`]), and a loop per replica attempts due
//! deliveries, each endpoint in a task of its own, so that a slow endpoint
//! holds only its own ([`spawn_dispatcher`]).

use std::sync::Arc;

use orgman_domain::ports::{CommitSignal, EventEncoder};
use orgman_domain::{DomainEvent, WebhookDispatcher, WebhookService};
use orgman_kafka::TopicNaming;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::Config;
use crate::operability::metrics::Metrics;

/// Events as CloudEvents 1.0 in structured JSON mode: the document the
/// broker's records carry.
pub(crate) struct CloudEvents {
    naming: TopicNaming,
    source: String,
}

impl CloudEvents {
    pub(crate) fn new(naming: TopicNaming, source: String) -> Self {
        Self { naming, source }
    }
}

impl EventEncoder for CloudEvents {
    fn encode(&self, event: &DomainEvent) -> String {
        orgman_kafka::envelope_json(event, &self.naming, &self.source)
    }
}

/// Wakes the dispatcher: deliveries were recorded or made due.
#[derive(Default)]
pub(crate) struct DispatchWake(Notify);

impl DispatchWake {
    async fn notified(&self) {
        self.0.notified().await;
    }
}

impl CommitSignal for DispatchWake {
    fn committed(&self) {
        self.0.notify_one();
    }
}

/// How often a replica deletes ended deliveries past their retention.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes ended deliveries past `retention`, a batch at a time.
async fn prune(dispatcher: &WebhookDispatcher, retention: std::time::Duration) {
    loop {
        match dispatcher.prune(retention, 1000).await {
            Ok(1000) => continue,
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(%error, "old webhook deliveries not deleted now");
                break;
            }
        }
    }
}

/// Attempts due deliveries: claims up to `ORGMAN_WEBHOOKS_CONCURRENCY`
/// endpoints at a time and runs each endpoint's dispatch in a task of its
/// own; looks again when woken, when a task ends, or every poll interval.
pub(crate) fn spawn_dispatcher(
    config: &Config,
    webhooks: Arc<WebhookService>,
    wake: Arc<DispatchWake>,
    metrics: Arc<Metrics>,
) -> JoinHandle<()> {
    let dispatcher = Arc::new(WebhookDispatcher::new(webhooks, config.webhooks.dispatch));
    let (concurrency, poll) = (config.webhooks.concurrency, config.webhooks.poll);
    let retention = config.webhooks.retention;
    tokio::spawn(async move {
        let mut running = JoinSet::new();
        let mut pruning = tokio::time::interval(PRUNE_EVERY);
        loop {
            let free = concurrency.saturating_sub(u32::try_from(running.len()).unwrap_or(u32::MAX));
            match dispatcher.claim(free).await {
                Ok(due) => {
                    for endpoint in due {
                        let dispatcher = dispatcher.clone();
                        running.spawn(async move { dispatcher.dispatch(endpoint).await });
                    }
                }
                Err(error) => tracing::warn!(%error, "webhook deliveries cannot be claimed now"),
            }
            tokio::select! {
                Some(ended) = running.join_next(), if !running.is_empty() => match ended {
                    Ok(Ok(report)) => metrics.observe_webhook_dispatch(&report),
                    Ok(Err(error)) => tracing::warn!(%error, "webhook outcomes not recorded; the lease will run out"),
                    Err(error) => tracing::error!(%error, "a webhook dispatch failed"),
                },
                _ = pruning.tick() => prune(&dispatcher, retention).await,
                () = wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    })
}
