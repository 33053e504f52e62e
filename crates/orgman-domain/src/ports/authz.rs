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
pub struct SyncGuard {
    inner: Arc<dyn Authorizer>,
    outbox: Arc<dyn Outbox>,
    grace: std::time::Duration,
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
        }
    }
}

impl std::fmt::Debug for SyncGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncGuard")
            .field("grace", &self.grace)
            .finish_non_exhaustive()
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
        // Both at once: a check waits for the slower of the two round
        // trips, not their sum. A decision is used only when nothing is in
        // doubt.
        let (in_doubt, decision) = futures_util::future::join(
            self.outbox
                .has_undelivered(OutboxSink::Authorizer, organization, self.grace),
            self.inner.check(actor, organization, permission),
        )
        .await;
        if in_doubt.map_err(|error| AuthzError::Unavailable(error.to_string()))? {
            return Err(AuthzError::Unavailable(
                "this organization's authorization data is being synchronized; retry shortly"
                    .into(),
            ));
        }
        decision
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
