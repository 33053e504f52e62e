//! The transactional outbox: committed events claimed per sink, delivered,
//! and settled, with the signal that wakes relays after a commit.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::errors::port::StoreError;
use crate::events::event::DomainEvent;

/// A consumer of committed events. Each sink keeps its own progress, so the
/// message broker and the authorization service each see every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxSink {
    /// Publication to the message broker.
    Broker,
    /// Relationship sync to the authorization service.
    Authorizer,
    /// SSO configurations copied to the login broker (Keycloak's identity
    /// providers).
    LoginBroker,
    /// Organizations and memberships mirrored at the login broker
    /// (Keycloak's Organizations).
    OrganizationMirror,
    /// Deliveries recorded for the organizations' webhook endpoints.
    Webhooks,
}

impl OutboxSink {
    /// A short name for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxSink::Broker => "broker",
            OutboxSink::Authorizer => "authorizer",
            OutboxSink::LoginBroker => "login-broker",
            OutboxSink::OrganizationMirror => "organization-mirror",
            OutboxSink::Webhooks => "webhooks",
        }
    }
}

/// A committed event waiting for a sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEvent {
    /// Position in the outbox; delivery follows it.
    pub position: u64,
    /// The event.
    pub event: DomainEvent,
    /// Earlier failed delivery attempts.
    pub attempts: u32,
}

/// How far a sink is behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Events not yet delivered (dead-lettered ones excluded).
    pub pending: u64,
    /// When the oldest of them was committed.
    pub oldest: Option<OffsetDateTime>,
    /// Events given up on.
    pub dead_lettered: u64,
}

/// An organization's authorization data as the outbox tells it
/// ([`Outbox::authorizer_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorizerState {
    /// Events in doubt: checks fail closed.
    pub in_doubt: bool,
    /// The data may have changed within the window asked about: checks
    /// must see the latest writes.
    pub changed_recently: bool,
}

/// The transactional outbox: events written with their change, read back
/// after commit.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Claims up to `limit` of the oldest events not yet delivered to
    /// `sink`, in outbox order. A claim excludes other claimers of the same
    /// sink (another replica gets an empty batch) until it is completed or
    /// dropped; dropping it leaves the events pending.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn claim(&self, sink: OutboxSink, limit: u32)
    -> Result<Box<dyn OutboxClaim>, StoreError>;

    /// How far `sink` is behind.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn backlog(&self, sink: OutboxSink) -> Result<Backlog, StoreError>;

    /// Whether `sink` has events of `organization` that it has not taken in
    /// and that are in doubt: dead-lettered, already failed at least once,
    /// or committed more than `grace` ago. An authorizer's decisions about
    /// such an organization may be out of date on any replica. For the
    /// authorizer sink, the platform's events
    /// ([`crate::OrganizationId::PLATFORM`]: platform roles) count for every
    /// organization.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn has_undelivered(
        &self,
        sink: OutboxSink,
        organization: crate::values::id::OrganizationId,
        grace: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// What the authorizer sink's progress says of `organization` (and the
    /// platform, whose events count for every organization): whether its
    /// events are in doubt (as [`Outbox::has_undelivered`] with `grace`),
    /// and whether its authorization data may have changed within `window`
    /// (an event committed in it, or taken in late in it after a failure).
    /// The default asks [`Outbox::has_undelivered`] and always answers
    /// "changed".
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn authorizer_state(
        &self,
        organization: crate::values::id::OrganizationId,
        grace: std::time::Duration,
        window: std::time::Duration,
    ) -> Result<AuthorizerState, StoreError> {
        let _ = window;
        Ok(AuthorizerState {
            in_doubt: self
                .has_undelivered(OutboxSink::Authorizer, organization, grace)
                .await?,
            changed_recently: true,
        })
    }

    /// Deletes up to `limit` events that every sink in `settled_by` has
    /// settled (delivered or dead-lettered) and that were committed before
    /// `before`; returns how many it deleted. The default deletes nothing,
    /// for outboxes bounded by other means (the in-memory one).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn prune(
        &self,
        settled_by: &[OutboxSink],
        before: time::OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let _ = (settled_by, before, limit);
        Ok(0)
    }
}

/// Told after a unit of work that appended events has committed, so the
/// relays can wake at once instead of at their next poll.
pub trait CommitSignal: Send + Sync {
    /// Events were committed.
    fn committed(&self);
}

/// A [`CommitSignal`] nobody listens to.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSignal;

impl CommitSignal for NoSignal {
    fn committed(&self) {}
}

/// Claimed events and their settlement.
#[async_trait]
pub trait OutboxClaim: Send {
    /// The claimed events, in outbox order.
    fn events(&self) -> &[PendingEvent];

    /// Moves the claimed events out of the claim, in outbox order; the
    /// claim can still be settled by their positions. The default copies
    /// them; a store that owns them hands them over without a copy.
    fn take_events(&mut self) -> Vec<PendingEvent> {
        self.events().to_vec()
    }

    /// Records the outcome and releases the claim: `delivered` positions are
    /// done, `retry` ones stay pending with an attempt counted and the
    /// reason kept, `dead` ones are given up on.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]: nothing is recorded and the events stay
    /// pending (delivered ones may be delivered again; consumers de-duplicate
    /// by event id).
    async fn settle(
        self: Box<Self>,
        delivered: &[u64],
        retry: &[(u64, String)],
        dead: &[(u64, String)],
    ) -> Result<(), StoreError>;
}

/// Why one event could not be delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying later (the target is down or slow).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Never deliverable as it is (too large, refused); dead-lettered.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Where a relay delivers events.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Delivers events in order and returns one outcome per event, in the
    /// same order. Delivery must be idempotent per event id. After a
    /// retryable failure of an event, a sink must not deliver the same
    /// organization's later events of this call (it reports them retryable),
    /// so that nobody sees an organization's events out of order.
    async fn deliver(&self, events: &[DomainEvent]) -> Vec<Result<(), DeliveryError>>;
}
