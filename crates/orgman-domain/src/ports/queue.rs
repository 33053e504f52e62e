//! Per-organization work that is done off the outbox: an organization is
//! marked, a worker claims it for a while, does the work for the
//! organization **as it is now**, and settles it. Marking twice before the
//! work is done asks for the work once more, never twice in parallel.

use std::time::Duration;

use async_trait::async_trait;

use crate::errors::port::StoreError;
use crate::values::id::OrganizationId;

/// A marked organization, as a worker claimed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedOrganization {
    /// The organization.
    pub organization: OrganizationId,
    /// How many times it had been marked when it was claimed: settling
    /// leaves the mark in place when it was marked again since.
    pub marks: u64,
}

/// Organizations whose members wait to be mirrored at the login broker
/// (see `OrganizationMirror::sync_members`). The outbox's mirror sink only
/// marks them, so a large import settles its events at once and the
/// broker's pace never holds outbox rows.
#[async_trait]
pub trait MemberMirrorQueue: Send + Sync {
    /// Marks each organization (once, however often it is listed).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn mark(&self, organizations: &[OrganizationId]) -> Result<(), StoreError>;

    /// The longest-marked organization nobody holds, held for `lease`; a
    /// worker that neither settles nor returns within it loses the claim
    /// to the next worker (so the lease is also the wait after a failure).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn take(&self, lease: Duration) -> Result<Option<QueuedOrganization>, StoreError>;

    /// The work for `claimed` is done: its mark goes, unless it was marked
    /// again meanwhile, in which case it is free to claim at once.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn finish(&self, claimed: QueuedOrganization) -> Result<(), StoreError>;

    /// How many organizations are marked.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn marked(&self) -> Result<u64, StoreError>;
}
