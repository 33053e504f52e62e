//! Authorization: the port an external authorizer (SpiceDB) implements, and
//! the domain's own [`RoleAuthorizer`], which decides from the caller's role.

use std::sync::Arc;

use async_trait::async_trait;

use super::cache::{MembershipCache, cached_role};
use super::outbox::{Outbox, OutboxSink};
use super::store::MembershipQueries;
use crate::errors::port::AuthzError;
use crate::events::event::DomainEvent;
use crate::members::actor::Actor;
use crate::members::permission::Permission;
use crate::members::rules::permits;
use crate::values::id::OrganizationId;

/// Decides whether an actor holds a permission in an organization, and keeps
/// its own relationship data in step with committed domain events.
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Whether `actor` holds `permission` in `organization`. Implementations
    /// must reflect every change whose events were already passed to
    /// [`Authorizer::apply`] (read-your-writes).
    ///
    /// The use cases never ask about platform administrators: they may do
    /// everything, which the domain decides once, before asking
    /// ([`permits`]). An authorizer answers for the organization's
    /// relationships only.
    ///
    /// # Errors
    /// [`AuthzError::Unavailable`] when the decision cannot be made; callers
    /// fail closed.
    async fn check(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        permission: Permission,
    ) -> Result<bool, AuthzError>;

    /// As [`Authorizer::check`], at a freshness the caller chooses:
    /// [`Freshness::Recent`] lets an authorizer answer from a snapshot a few
    /// seconds old, which the caller may ask for only when it knows nothing
    /// changed for the organization in that time. The default ignores the
    /// choice and answers as [`Authorizer::check`].
    ///
    /// # Errors
    /// As [`Authorizer::check`].
    async fn check_at(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        permission: Permission,
        freshness: Freshness,
    ) -> Result<bool, AuthzError> {
        let _ = freshness;
        self.check(actor, organization, permission).await
    }

    /// Applies a committed event to the authorizer's relationship data.
    /// Must be idempotent: an event may be applied more than once.
    ///
    /// # Errors
    /// [`AuthzError::Unavailable`]: the caller retries later.
    async fn apply(&self, event: &DomainEvent) -> Result<(), AuthzError>;

    /// Applies committed events in order, stopping at the first failure.
    /// The default applies them one by one; authorizers with a batch write
    /// should override it (a bulk import hands over thousands at once).
    ///
    /// # Errors
    /// As [`Authorizer::apply`].
    async fn apply_all(&self, events: &[DomainEvent]) -> Result<(), AuthzError> {
        for event in events {
            self.apply(event).await?;
        }
        Ok(())
    }

    /// Whether decisions are exactly [`permits`] over the stored roles (as
    /// [`RoleAuthorizer`]'s are): the domain may then decide from the role
    /// it reads anyway, with no separate check. External authorizers answer
    /// `false` (the default), and their decisions are cached instead.
    fn decides_from_roles(&self) -> bool {
        false
    }
}

/// How fresh an external authorizer's answer must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Every write made so far, on any replica, is seen (SpiceDB's
    /// `fully_consistent`).
    Latest,
    /// A snapshot at most a few seconds old will do (SpiceDB's
    /// `minimize_latency`: its quantized revision, whose cache the checks
    /// share).
    Recent,
}

/// The domain's own authorizer: the rules of [`permits`] over the stored
/// membership roles. For installations without an external authorization
/// service; it keeps no data of its own, so [`Authorizer::apply`] does
/// nothing.
pub struct RoleAuthorizer {
    members: Arc<dyn MembershipQueries>,
    cache: Arc<dyn MembershipCache>,
}

impl RoleAuthorizer {
    /// An authorizer reading roles through the cache, then storage.
    pub fn new(members: Arc<dyn MembershipQueries>, cache: Arc<dyn MembershipCache>) -> Self {
        Self { members, cache }
    }
}

impl std::fmt::Debug for RoleAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoleAuthorizer")
    }
}

#[async_trait]
impl Authorizer for RoleAuthorizer {
    async fn check(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        permission: Permission,
    ) -> Result<bool, AuthzError> {
        let role = cached_role(&*self.cache, &*self.members, organization, actor.user_id())
            .await
            .map_err(|error| match error {
                crate::StoreError::Unavailable(reason) => AuthzError::Unavailable(reason),
                other => AuthzError::Other(other.to_string()),
            })?;
        Ok(permits(actor, role, permission))
    }

    async fn apply(&self, _event: &DomainEvent) -> Result<(), AuthzError> {
        Ok(())
    }

    fn decides_from_roles(&self) -> bool {
        true
    }
}

/// An external authorizer that fails closed while an organization has
/// authorization events in doubt: dead-lettered, failed at least once, or
/// older than `grace` and still not taken in by the authorizer sink. The
/// answer comes from the outbox in storage, so every replica agrees, not
/// only the one whose write to the authorizer failed.
///
/// With a freshness window ([`SyncGuard::with_recent_reads`]), a check of
/// an organization whose authorization data has not changed within the
/// window (nothing of it or of the platform committed in it, nothing taken
/// in late in it) asks for [`Freshness::Recent`]; any other asks for
/// [`Freshness::Latest`]. The window must be longer than the oldest
/// snapshot the authorizer may answer from (for SpiceDB, its revision
/// quantization interval plus its allowed staleness), so that a recent
/// answer always includes every change the outbox holds.
pub struct SyncGuard {
    inner: Arc<dyn Authorizer>,
    outbox: Arc<dyn Outbox>,
    grace: std::time::Duration,
    window: Option<std::time::Duration>,
}

impl SyncGuard {
    /// Guards `inner` with the authorizer sink's progress in `outbox`.
    pub fn new(
        inner: Arc<dyn Authorizer>,
        outbox: Arc<dyn Outbox>,
        grace: std::time::Duration,
    ) -> Self {
        Self {
            inner,
            outbox,
            grace,
            window: None,
        }
    }

    /// Lets checks of organizations unchanged for `window` read a recent
    /// snapshot (see the type's documentation); `None` keeps every check at
    /// [`Freshness::Latest`].
    #[must_use]
    pub fn with_recent_reads(mut self, window: Option<std::time::Duration>) -> Self {
        self.window = window;
        self
    }
}

impl std::fmt::Debug for SyncGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncGuard")
            .field("grace", &self.grace)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl SyncGuard {
    /// What the outbox says of the organization: with a window, whether it
    /// changed within it too; without one, in doubt or not, and "changed"
    /// (every check is of the latest).
    async fn state(
        &self,
        organization: OrganizationId,
    ) -> Result<super::outbox::AuthorizerState, crate::StoreError> {
        match self.window {
            Some(window) => {
                self.outbox
                    .authorizer_state(organization, self.grace, window)
                    .await
            }
            None => Ok(super::outbox::AuthorizerState {
                in_doubt: self
                    .outbox
                    .has_undelivered(OutboxSink::Authorizer, organization, self.grace)
                    .await?,
                changed_recently: true,
            }),
        }
    }
}

#[async_trait]
impl Authorizer for SyncGuard {
    async fn check(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        permission: Permission,
    ) -> Result<bool, AuthzError> {
        // The outbox's state beside a decision, both at once: a check waits
        // for the slower of the two round trips, not their sum. A decision
        // is used only when nothing is in doubt, and a recent one only when
        // nothing changed within the window; otherwise a fresh one is asked.
        let first = if self.window.is_some() {
            Freshness::Recent
        } else {
            Freshness::Latest
        };
        let (state, decision) = futures_util::future::join(
            self.state(organization),
            self.inner.check_at(actor, organization, permission, first),
        )
        .await;
        let state = state.map_err(|error| AuthzError::Unavailable(error.to_string()))?;
        if state.in_doubt {
            return Err(AuthzError::Unavailable(
                "this organization's authorization data is being synchronized; retry shortly"
                    .into(),
            ));
        }
        if first == Freshness::Recent && state.changed_recently {
            self.inner
                .check_at(actor, organization, permission, Freshness::Latest)
                .await
        } else {
            decision
        }
    }

    async fn apply(&self, event: &DomainEvent) -> Result<(), AuthzError> {
        self.inner.apply(event).await
    }

    async fn apply_all(&self, events: &[DomainEvent]) -> Result<(), AuthzError> {
        self.inner.apply_all(events).await
    }

    fn decides_from_roles(&self) -> bool {
        self.inner.decides_from_roles()
    }
}
