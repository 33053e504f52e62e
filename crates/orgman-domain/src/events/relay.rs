//! Moving committed events from the outbox to a sink, without losing one
//! and without reordering an organization's events.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::errors::port::StoreError;
use crate::ports::{DeliveryError, EventSink, Outbox, OutboxSink};
use crate::values::id::OrganizationId;

/// Counters a relay keeps, for metrics.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Events delivered.
    pub delivered: AtomicU64,
    /// Delivery attempts that failed and will be retried.
    pub failed: AtomicU64,
    /// Events given up on.
    pub dead_lettered: AtomicU64,
}

/// What one relay round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundOutcome {
    /// Events claimed.
    pub claimed: usize,
    /// Delivered.
    pub delivered: usize,
    /// Left for a retry.
    pub retried: usize,
    /// Dead-lettered.
    pub dead: usize,
}

/// Delivers the outbox to one sink. Call [`OutboxRelay::run_once`] in a loop
/// (the binary does, with a pause when idle and a backoff after failures).
///
/// Ordering: within a round, once an event of an organization fails, the
/// organization's later events in the round are not delivered, so a
/// consumer never sees an organization's events out of order. An event that
/// can never be delivered is dead-lettered and does not block the others.
pub struct OutboxRelay {
    outbox: Arc<dyn Outbox>,
    sink: Arc<dyn EventSink>,
    target: OutboxSink,
    batch: u32,
    stats: Arc<RelayStats>,
}

impl fmt::Debug for OutboxRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("target", &self.target)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl OutboxRelay {
    /// A relay of the outbox to `sink`, on behalf of `target`.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        sink: Arc<dyn EventSink>,
        target: OutboxSink,
        batch: u32,
    ) -> Self {
        Self {
            outbox,
            sink,
            target,
            batch: batch.max(1),
            stats: Arc::new(RelayStats::default()),
        }
    }

    /// The relay's counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        self.stats.clone()
    }

    /// The outbox this relay drains (for backlog figures).
    pub fn outbox(&self) -> &Arc<dyn Outbox> {
        &self.outbox
    }

    /// Which sink this relay serves.
    pub fn target(&self) -> OutboxSink {
        self.target
    }

    /// The most events a round claims.
    pub fn batch(&self) -> u32 {
        self.batch
    }

    /// Claims a batch, delivers it and settles it.
    ///
    /// # Errors
    /// [`StoreError`] when the outbox cannot be read or settled; nothing is
    /// lost (events stay pending).
    pub async fn run_once(&self) -> Result<RoundOutcome, StoreError> {
        let mut claim = self.outbox.claim(self.target, self.batch).await?;
        let pending = claim.take_events();
        if pending.is_empty() {
            claim.settle(&[], &[], &[]).await?;
            return Ok(RoundOutcome::default());
        }
        // The events move to the sink; their positions and organizations
        // stay here for the settlement.
        let (claimed, events): (Vec<(u64, OrganizationId)>, Vec<_>) = pending
            .into_iter()
            .map(|p| ((p.position, p.event.organization_id), p.event))
            .unzip();
        let outcomes = self.sink.deliver(&events).await;
        drop(events);
        let missing =
            std::iter::repeat_with(|| Err(DeliveryError::Retryable("sink gave no outcome".into())));
        let mut blocked: HashSet<OrganizationId> = HashSet::new();
        let mut delivered = Vec::new();
        let mut retry = Vec::new();
        let mut dead = Vec::new();
        for (&(position, org), outcome) in claimed.iter().zip(outcomes.into_iter().chain(missing)) {
            match outcome {
                // An organization's events after one of its failures stay
                // pending even if the sink reports them delivered, so the
                // outbox never records them as done out of order.
                _ if blocked.contains(&org) => {
                    retry.push((position, "held back behind an earlier failure".to_owned()));
                }
                Ok(()) => delivered.push(position),
                Err(DeliveryError::Permanent(reason)) => dead.push((position, reason)),
                Err(DeliveryError::Retryable(reason)) => {
                    blocked.insert(org);
                    retry.push((position, reason));
                }
            }
        }
        self.stats
            .delivered
            .fetch_add(delivered.len() as u64, Ordering::Relaxed);
        self.stats
            .failed
            .fetch_add(retry.len() as u64, Ordering::Relaxed);
        self.stats
            .dead_lettered
            .fetch_add(dead.len() as u64, Ordering::Relaxed);
        let outcome = RoundOutcome {
            claimed: claimed.len(),
            delivered: delivered.len(),
            retried: retry.len(),
            dead: dead.len(),
        };
        claim.settle(&delivered, &retry, &dead).await?;
        Ok(outcome)
    }
}
