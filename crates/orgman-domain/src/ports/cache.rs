use async_trait::async_trait;

use crate::id::{OrganizationId, UserId};
use crate::organization::Organization;
use crate::role::OrgRole;

/// A cache of hot reads in front of storage.
///
/// A cache never fails from the domain's point of view: an adapter whose
/// backend is down answers every read as a miss and drops writes, logging and
/// counting the errors itself. Correctness never depends on the cache: after
/// a committed change the domain calls [`MembershipCache::invalidate`] with
/// every key the change affects. An adapter that cannot invalidate must bound
/// the staleness it allows (a short TTL) and document the bound.
#[async_trait]
pub trait MembershipCache: Send + Sync {
    /// A cached role: `None` is a miss, `Some(None)` a cached "not a member".
    async fn role(&self, organization: OrganizationId, user: UserId) -> Option<Option<OrgRole>>;

    /// Caches the result of a role lookup (including "not a member").
    async fn store_role(&self, organization: OrganizationId, user: UserId, role: Option<OrgRole>);

    /// A cached organization.
    async fn organization(&self, id: OrganizationId) -> Option<Organization>;

    /// Caches an organization as read from storage.
    async fn store_organization(&self, organization: &Organization);

    /// Forgets the given entries.
    async fn invalidate(&self, keys: &[CacheKey]);
}

/// An entry of a [`MembershipCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheKey {
    /// A user's role in an organization.
    Role(OrganizationId, UserId),
    /// An organization by id.
    Organization(OrganizationId),
    /// The list of a user's organizations.
    UserOrganizations(UserId),
}

/// A cache that caches nothing; every read misses.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCache;

#[async_trait]
impl MembershipCache for NoCache {
    async fn role(&self, _: OrganizationId, _: UserId) -> Option<Option<OrgRole>> {
        None
    }
    async fn store_role(&self, _: OrganizationId, _: UserId, _: Option<OrgRole>) {}
    async fn organization(&self, _: OrganizationId) -> Option<Organization> {
        None
    }
    async fn store_organization(&self, _: &Organization) {}
    async fn invalidate(&self, _: &[CacheKey]) {}
}
