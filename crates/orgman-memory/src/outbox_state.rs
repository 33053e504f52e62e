//! The outbox's bookkeeping, shared by the store (which owns it) and the
//! outbox port's implementation (which reads and settles it): each sink's
//! progress over the committed events, and the claim held per sink.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::lock::Mutex as AsyncMutex;
use std::time::Instant;

use orgman_domain::OrganizationId;
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
    /// The mirror queue's marks, by organization.
    pub(crate) marks: Mutex<BTreeMap<OrganizationId, Mark>>,
    /// Marks handed out so far: the order of the queue.
    pub(crate) marked: Mutex<u64>,
}

/// One organization's place in the mirror queue.
#[derive(Debug)]
pub(crate) struct Mark {
    /// Its position (the first time it was marked since it last left).
    pub(crate) order: u64,
    /// How many times it was marked.
    pub(crate) marks: u64,
    /// Whether a mark asked for its members.
    pub(crate) members: bool,
    /// Held by a worker until then.
    pub(crate) claimed_until: Option<Instant>,
}
