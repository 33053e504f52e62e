//! Background work: the outbox relays, looping with a pause when idle and an
//! exponential backoff after failures (which also limits how often a
//! failure is logged), and the purger, running at a fixed interval.

use std::sync::Arc;
use std::time::Duration;

use orgman_domain::{OrganizationService, OutboxRelay};
use tokio::task::JoinHandle;

use crate::operability::metrics::Metrics;

/// How a relay loop paces itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacing {
    /// Pause when there was nothing to deliver.
    pub(crate) idle: Duration,
    /// First pause after a failure; doubled up to `max_backoff`.
    pub(crate) backoff: Duration,
    /// Longest pause after failures.
    pub(crate) max_backoff: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            idle: Duration::from_millis(250),
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Runs `relay` until the task is aborted.
pub(crate) fn spawn_relay(relay: Arc<OutboxRelay>, pacing: Pacing) -> JoinHandle<()> {
    tokio::spawn(async move {
        let sink = relay.target().as_str();
        let mut backoff = pacing.backoff;
        loop {
            let round = relay.run_once().await;
            tracing::debug!(sink, ?round, "outbox relay round");
            let pause = match round {
                Ok(outcome) if outcome.retried > 0 => {
                    tracing::warn!(
                        sink,
                        retried = outcome.retried,
                        next_try_ms = backoff.as_millis() as u64,
                        "outbox delivery failed; will retry"
                    );
                    backoff = (backoff * 2).min(pacing.max_backoff);
                    backoff / 2
                }
                Ok(outcome) if outcome.claimed > 0 => {
                    backoff = pacing.backoff;
                    Duration::ZERO
                }
                Ok(_) => {
                    backoff = pacing.backoff;
                    pacing.idle
                }
                Err(error) => {
                    tracing::warn!(sink, %error, "cannot read the outbox; will retry");
                    backoff = (backoff * 2).min(pacing.max_backoff);
                    backoff / 2
                }
            };
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    })
}

/// Purges organizations whose deletion grace period ended, every
/// `interval`, until the task is aborted.
pub(crate) fn spawn_purger(
    service: Arc<OrganizationService>,
    metrics: Arc<Metrics>,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let outcome = service.purge_due().await;
            metrics.observe_purge(outcome.as_ref().ok().copied());
            match outcome {
                Ok(0) => {}
                Ok(purged) => tracing::info!(
                    purged,
                    "purged organizations whose deletion grace period ended"
                ),
                Err(error) => tracing::warn!(%error, "cannot purge organizations now; will retry"),
            }
            tokio::time::sleep(interval).await;
        }
    })
}
