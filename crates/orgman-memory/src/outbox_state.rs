//! The outbox's bookkeeping, shared by the store (which owns it) and the
//! outbox port's implementation (which reads and settles it): each sink's
//! progress over the committed events, and the claim held per sink.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::lock::Mutex as AsyncMutex;
use orgman_domain::ports::OutboxSink;

/// Per-sink progress over the store's committed events.
#[derive(Debug, Default)]
pub(crate) struct SinkProgress {
    pub(crate) delivered: BTreeSet<u64>,
    pub(crate) dead: BTreeMap<u64, String>,
    pub(crate) attempts: HashMap<u64, u32>,
    pub(crate) last_error: HashMap<u64, String>,
}

#[derive(Debug, Default)]
pub(crate) struct OutboxState {
    pub(crate) progress: Mutex<HashMap<OutboxSink, SinkProgress>>,
    pub(crate) claims: Mutex<HashMap<OutboxSink, Arc<AsyncMutex<()>>>>,
}
