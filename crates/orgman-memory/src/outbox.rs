//! The outbox port over the store's committed events, and
//! [`RecordingSink`], a sink that records what it is handed.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::lock::OwnedMutexGuard;
use orgman_domain::ports::{
    Backlog, DeliveryError, EventSink, Outbox, OutboxClaim, OutboxSink, PendingEvent,
};
use orgman_domain::{DomainEvent, StoreError};

use crate::MemoryStore;
use crate::outbox_state::OutboxState;

impl MemoryStore {
    /// The last delivery error recorded for an outbox position and sink.
    pub fn last_outbox_error(&self, sink: OutboxSink, position: u64) -> Option<String> {
        let progress = self
            .outbox_state()
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        progress.get(&sink)?.last_error.get(&position).cloned()
    }
}

#[async_trait]
impl Outbox for MemoryStore {
    async fn claim(
        &self,
        sink: OutboxSink,
        limit: u32,
    ) -> Result<Box<dyn OutboxClaim>, StoreError> {
        self.available()?;
        let state = self.outbox_state();
        let lock = state
            .claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(sink)
            .or_default()
            .clone();
        // Another claim of this sink is open: an empty batch, as a second
        // replica would get.
        let Some(guard) = lock.try_lock_owned() else {
            return Ok(Box::new(MemoryClaim {
                guard: None,
                events: Vec::new(),
                sink,
                store: self.handle(),
            }));
        };
        let events = {
            let progress = state.progress.lock().unwrap_or_else(|e| e.into_inner());
            let done = progress.get(&sink);
            self.committed_events()
                .into_iter()
                .enumerate()
                .map(|(i, event)| (i as u64 + 1, event))
                .filter(|(position, _)| {
                    done.is_none_or(|d| {
                        !d.delivered.contains(position) && !d.dead.contains_key(position)
                    })
                })
                .take(limit as usize)
                .map(|(position, event)| PendingEvent {
                    position,
                    attempts: done
                        .and_then(|d| d.attempts.get(&position).copied())
                        .unwrap_or(0),
                    event,
                })
                .collect()
        };
        Ok(Box::new(MemoryClaim {
            guard: Some(guard),
            events,
            sink,
            store: self.handle(),
        }))
    }

    async fn has_undelivered(
        &self,
        sink: OutboxSink,
        organization: orgman_domain::OrganizationId,
        grace: std::time::Duration,
    ) -> Result<bool, StoreError> {
        self.available()?;
        let progress = self
            .outbox_state()
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let done = progress.get(&sink);
        let now = orgman_domain::time::OffsetDateTime::now_utc();
        Ok(self
            .committed_events()
            .into_iter()
            .enumerate()
            .filter(|(_, event)| {
                event.organization_id == organization
                    || (sink == OutboxSink::Authorizer && event.organization_id.is_platform())
            })
            .any(|(i, event)| {
                let position = i as u64 + 1;
                let delivered = done.is_some_and(|d| d.delivered.contains(&position));
                let in_doubt = done.is_some_and(|d| {
                    d.dead.contains_key(&position)
                        || d.attempts.get(&position).is_some_and(|a| *a > 0)
                }) || now - event.occurred_at > grace;
                !delivered && in_doubt
            }))
    }

    async fn backlog(&self, sink: OutboxSink) -> Result<Backlog, StoreError> {
        self.available()?;
        let progress = self
            .outbox_state()
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let done = progress.get(&sink);
        let mut backlog = Backlog::default();
        for (i, event) in self.committed_events().into_iter().enumerate() {
            let position = i as u64 + 1;
            if done.is_some_and(|d| d.dead.contains_key(&position)) {
                backlog.dead_lettered += 1;
            } else if done.is_none_or(|d| !d.delivered.contains(&position)) {
                backlog.pending += 1;
                backlog.oldest = Some(
                    backlog
                        .oldest
                        .map_or(event.occurred_at, |o| o.min(event.occurred_at)),
                );
            }
        }
        Ok(backlog)
    }
}

struct MemoryClaim {
    guard: Option<OwnedMutexGuard<()>>,
    events: Vec<PendingEvent>,
    sink: OutboxSink,
    store: Arc<OutboxState>,
}

#[async_trait]
impl OutboxClaim for MemoryClaim {
    fn events(&self) -> &[PendingEvent] {
        &self.events
    }

    fn take_events(&mut self) -> Vec<PendingEvent> {
        std::mem::take(&mut self.events)
    }

    async fn settle(
        self: Box<Self>,
        delivered: &[u64],
        retry: &[(u64, String)],
        dead: &[(u64, String)],
    ) -> Result<(), StoreError> {
        let mut progress = self
            .store
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let sink = progress.entry(self.sink).or_default();
        sink.delivered.extend(delivered.iter().copied());
        for (position, reason) in retry {
            *sink.attempts.entry(*position).or_default() += 1;
            sink.last_error.insert(*position, reason.clone());
        }
        for (position, reason) in dead {
            sink.dead.insert(*position, reason.clone());
        }
        drop(self.guard);
        Ok(())
    }
}

/// A sink that records what it receives and fails on command, for relay
/// tests.
#[derive(Debug, Default)]
pub struct RecordingSink {
    received: Mutex<Vec<DomainEvent>>,
    failures: Mutex<VecDeque<Option<DeliveryError>>>,
    down: std::sync::atomic::AtomicBool,
}

impl RecordingSink {
    /// An empty sink that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything delivered so far, in order.
    pub fn received(&self) -> Vec<DomainEvent> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Scripts the outcomes of the next events (`None` = accept).
    pub fn script(&self, outcomes: impl IntoIterator<Item = Option<DeliveryError>>) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(outcomes);
    }

    /// While down, every event fails as retryable.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl EventSink for RecordingSink {
    async fn deliver(&self, events: &[DomainEvent]) -> Vec<Result<(), DeliveryError>> {
        let mut blocked = BTreeSet::new();
        let mut outcomes = Vec::new();
        for event in events {
            let scripted = if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                Some(DeliveryError::Retryable("sink is down".into()))
            } else {
                self.failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pop_front()
                    .flatten()
            };
            let outcome = if blocked.contains(&event.organization_id) {
                Err(DeliveryError::Retryable("held back".into()))
            } else {
                match scripted {
                    None => {
                        self.received
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(event.clone());
                        Ok(())
                    }
                    Some(error @ DeliveryError::Retryable(_)) => {
                        blocked.insert(event.organization_id);
                        Err(error)
                    }
                    Some(error) => Err(error),
                }
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}
