//! Per-organization work done off the outbox: an organization is marked, a
//! worker takes it for a while, does the work for the organization **as it
//! is now**, and finishes it. Marking again before the work is done asks
//! for the work once more, never twice in parallel; many marks while it
//! waits ask for it once.

use std::time::Duration;

use async_trait::async_trait;

use crate::errors::port::StoreError;
use crate::values::id::OrganizationId;

/// An organization to mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MirrorMark {
    /// The organization whose copy is stale.
    pub organization: OrganizationId,
    /// Whether its members' copy is stale too.
    pub members: bool,
}

/// A marked organization, as a worker took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedOrganization {
    /// The organization.
    pub organization: OrganizationId,
    /// Whether any of its marks asked for its members.
    pub members: bool,
    /// How many times it had been marked when it was taken: finishing
    /// leaves the mark in place when it was marked again since.
    pub marks: u64,
}

/// Organizations whose copy at the login broker is stale (see
/// `OrganizationMirror::sync_next`). The outbox's mirror sink only marks
/// them, with one write per batch of events, so neither a large import nor
/// a storm of renames keeps outbox rows waiting for the broker's pace.
#[async_trait]
pub trait MirrorQueue: Send + Sync {
    /// Marks each organization (once, however often it is listed; its
    /// members when any of its marks asks for them).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn mark(&self, marks: &[MirrorMark]) -> Result<(), StoreError>;

    /// The longest-marked organization nobody holds, held for `lease`; a
    /// worker that neither finishes nor returns within it loses it to the
    /// next worker (so the lease is also the wait after a failure).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn take(&self, lease: Duration) -> Result<Option<QueuedOrganization>, StoreError>;

    /// The work for `taken` is done: its mark goes, unless it was marked
    /// again meanwhile, in which case it is free to take at once.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn finish(&self, taken: QueuedOrganization) -> Result<(), StoreError>;

    /// Gives `taken` back undone, to be taken again after `after` (a
    /// failure's backoff; sooner than its lease).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn release(&self, taken: QueuedOrganization, after: Duration) -> Result<(), StoreError>;

    /// How many organizations are marked.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn marked(&self) -> Result<u64, StoreError>;
}
