use std::sync::Arc;

use async_trait::async_trait;

use crate::error::AuthzError;
use crate::event::DomainEvent;
use crate::id::OrganizationId;
use crate::membership::{Permission, permits};
use crate::ports::{MembershipCache, MembershipQueries};
use crate::role::Actor;
use crate::service::cached_role;

/// Decides whether an actor holds a permission in an organization, and keeps
/// its own relationship data in step with committed domain events.
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Whether `actor` holds `permission` in `organization`. Implementations
    /// must reflect every change whose events were already passed to
    /// [`Authorizer::apply`] (read-your-writes).
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
        if actor.is_platform_admin() {
            return Ok(true);
        }
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
