//! Where an organization is in its life, and the actions that move it.

use std::fmt;
use std::str::FromStr;

use crate::errors::port::ValidationError;

/// Where an organization is in its life.
///
/// ```text
///            suspend              request_deletion
///   ACTIVE ───────────▶ SUSPENDED   ACTIVE ─────────▶ PENDING_DELETION ──purge──▶ DELETED
///   ACTIVE ◀─────────── SUSPENDED   ACTIVE ◀───────── PENDING_DELETION
///            reactivate                     restore
/// ```
///
/// A suspended organization is read-only: members keep read access, nobody
/// but a platform administrator changes anything, and only by reactivating
/// it. An organization pending deletion is read-only as well until it is
/// restored or, once its grace period has passed, purged. DELETED is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum OrgStatus {
    /// Normal operation.
    Active,
    /// Read-only until a platform administrator reactivates it.
    Suspended,
    /// Read-only, waiting for its grace period to end; can be restored.
    PendingDeletion,
    /// Gone. Kept as a tombstone; no transition leaves it.
    Deleted,
}

impl OrgStatus {
    /// The stored and wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrgStatus::Active => "ACTIVE",
            OrgStatus::Suspended => "SUSPENDED",
            OrgStatus::PendingDeletion => "PENDING_DELETION",
            OrgStatus::Deleted => "DELETED",
        }
    }

    /// Whether the organization accepts changes to its name and members.
    pub const fn is_writable(self) -> bool {
        matches!(self, OrgStatus::Active)
    }

    /// The status an action leads to from this one, if that edge exists.
    pub const fn after(self, action: LifecycleAction) -> Option<OrgStatus> {
        use LifecycleAction as A;
        use OrgStatus as S;
        match (self, action) {
            (S::Active, A::Suspend) => Some(S::Suspended),
            (S::Suspended, A::Reactivate) => Some(S::Active),
            (S::Active, A::RequestDeletion) => Some(S::PendingDeletion),
            (S::PendingDeletion, A::Restore) => Some(S::Active),
            (S::PendingDeletion, A::Purge) => Some(S::Deleted),
            _ => None,
        }
    }
}

impl FromStr for OrgStatus {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            OrgStatus::Active,
            OrgStatus::Suspended,
            OrgStatus::PendingDeletion,
            OrgStatus::Deleted,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| ValidationError::UnknownStatus {
            value: s.chars().take(32).collect(),
        })
    }
}

impl fmt::Display for OrgStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle action on an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LifecycleAction {
    /// ACTIVE → SUSPENDED.
    Suspend,
    /// SUSPENDED → ACTIVE.
    Reactivate,
    /// ACTIVE → PENDING_DELETION.
    RequestDeletion,
    /// PENDING_DELETION → ACTIVE.
    Restore,
    /// PENDING_DELETION → DELETED, once the grace period is over.
    Purge,
}

impl LifecycleAction {
    /// The action's name in the API (`suspend`, `reactivate`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            LifecycleAction::Suspend => "suspend",
            LifecycleAction::Reactivate => "reactivate",
            LifecycleAction::RequestDeletion => "request-deletion",
            LifecycleAction::Restore => "restore",
            LifecycleAction::Purge => "purge",
        }
    }
}

impl fmt::Display for LifecycleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
