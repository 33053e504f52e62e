//! The membership cache in front of storage: roles, organizations and
//! external decisions under per-organization generations, with the fence a
//! revoking change sets before it commits.

use async_trait::async_trait;

use super::store::MembershipQueries;
use crate::errors::port::StoreError;
use crate::keys::model::KeyCredential;
use crate::members::custom_role::{Access, MemberGrants};
use crate::members::permission::Permission;
use crate::members::role::OrgRole;
use crate::organizations::model::Organization;
use crate::values::id::{ApiKeyId, OrganizationId, UserId};

/// A cache of hot reads in front of storage.
///
/// A cache never fails from the domain's point of view: an adapter whose
/// backend is down answers every read as a miss and drops writes, logging and
/// counting the errors itself.
///
/// **Leases.** A miss returns a [`Lease`]; the caller reads storage and
/// stores the result with that lease. An invalidation of the organization
/// between the miss and the store makes the lease stale, and the adapter must
/// then not serve the stored value. So a reader that read storage just
/// before a change committed can never put the old answer back after the
/// change's invalidation: revocation is never late because of a race.
///
/// After a committed change the domain calls [`MembershipCache::invalidate`]
/// with every key the change affects. An adapter that cannot invalidate (its
/// backend is down) must bound how long a stale entry can be served, and
/// document the bound.
#[async_trait]
pub trait MembershipCache: Send + Sync {
    /// A cached role: `Hit(None)` is a cached "not a member".
    async fn role(&self, organization: OrganizationId, user: UserId) -> Lookup<Option<Access>>;

    /// Caches the result of a role lookup made after a miss with `lease`.
    async fn store_role(
        &self,
        lease: Lease,
        organization: OrganizationId,
        user: UserId,
        role: Option<Access>,
    );

    /// A cached organization.
    async fn organization(&self, id: OrganizationId) -> Lookup<Organization>;

    /// [`MembershipCache::role`] and [`MembershipCache::organization`] of
    /// one organization together; adapters answer it in one round trip
    /// where they can (both entries live under the organization's
    /// generation).
    async fn role_and_organization(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> (Lookup<Option<Access>>, Lookup<Organization>) {
        (
            self.role(organization, user).await,
            self.organization(organization).await,
        )
    }

    /// An external authorizer's cached decision. It lives under the
    /// organization's generation like a role, so every committed change of
    /// the organization (the invalidation that follows it) retires it.
    /// Caches that keep no decisions answer a miss whose lease stores
    /// nothing.
    async fn decision(
        &self,
        organization: OrganizationId,
        user: UserId,
        permission: Permission,
    ) -> Lookup<bool> {
        let _ = (organization, user, permission);
        Lookup::Miss(Lease(u64::MAX))
    }

    /// Caches a decision made after a miss with `lease`.
    async fn store_decision(
        &self,
        lease: Lease,
        organization: OrganizationId,
        user: UserId,
        permission: Permission,
        allowed: bool,
    ) {
        let _ = (lease, organization, user, permission, allowed);
    }

    /// [`MembershipCache::decision`] and [`MembershipCache::organization`]
    /// together, in one round trip where the adapter can.
    async fn decision_and_organization(
        &self,
        organization: OrganizationId,
        user: UserId,
        permission: Permission,
    ) -> (Lookup<bool>, Lookup<Organization>) {
        (
            self.decision(organization, user, permission).await,
            self.organization(organization).await,
        )
    }

    /// Caches an organization read after a miss with `lease`.
    async fn store_organization(&self, lease: Lease, organization: &Organization);

    /// An API key's cached credential (`Hit(None)`: the organization has
    /// no such key). It lives under the organization's generation, so the
    /// fence and invalidation of a revocation retire it on every replica.
    /// The default caches none.
    async fn api_key(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Lookup<Option<KeyCredential>> {
        let _ = (organization, key);
        Lookup::Miss(Lease(u64::MAX))
    }

    /// Caches a credential read after a miss with `lease`.
    async fn store_api_key(
        &self,
        lease: Lease,
        organization: OrganizationId,
        key: ApiKeyId,
        credential: Option<&KeyCredential>,
    ) {
        let _ = (lease, organization, key, credential);
    }

    /// [`MembershipCache::api_key`] and [`MembershipCache::organization`]
    /// together, in one round trip where the adapter can: what a request
    /// with a key needs.
    async fn api_key_and_organization(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> (Lookup<Option<KeyCredential>>, Lookup<Organization>) {
        (
            self.api_key(organization, key).await,
            self.organization(organization).await,
        )
    }

    /// Cached [`MemberGrants`] of several users in several organizations,
    /// in order, in one round trip where the adapter can: the check API's
    /// batch. The default caches none.
    async fn grants_many(
        &self,
        members: &[(OrganizationId, UserId)],
    ) -> Vec<Lookup<Option<MemberGrants>>> {
        members
            .iter()
            .map(|_| Lookup::Miss(Lease(u64::MAX)))
            .collect()
    }

    /// Caches what a grants lookup read after a miss with `lease`.
    async fn store_grants(
        &self,
        lease: Lease,
        organization: OrganizationId,
        user: UserId,
        grants: Option<&MemberGrants>,
    ) {
        let _ = (lease, organization, user, grants);
    }

    /// The cached first page (default size) of a user's organizations.
    /// Adapters must treat the entry as stale when the user's memberships
    /// or any listed organization changed since it was stored.
    async fn user_organizations(&self, user: UserId) -> Lookup<Vec<(Organization, OrgRole)>>;

    /// Caches a user's first page of organizations read after a miss with
    /// `lease`.
    async fn store_user_organizations(
        &self,
        lease: Lease,
        user: UserId,
        page: &[(Organization, OrgRole)],
    );

    /// Forgets the given entries.
    async fn invalidate(&self, keys: &[CacheKey]);

    /// Called before committing a change that revokes access (a member
    /// removed or given another role, an organization purged): from now
    /// until the [`MembershipCache::invalidate`] that follows the commit,
    /// no reader anywhere may be answered from, or store, entries of these
    /// organizations. A cache shared between processes must make the fence
    /// itself shared and expiring (no later than its entries), so that if
    /// the writer cannot invalidate after its commit, readers elsewhere
    /// still never see an entry older than the change. `false` when the
    /// fence could not be set; the change is then not made.
    ///
    /// The default does nothing and answers `true`: right for caches that
    /// live in one process, where invalidation cannot fail.
    async fn fence(&self, organizations: &[OrganizationId]) -> bool {
        let _ = organizations;
        true
    }
}

/// The answer of a cache read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    /// The cached value.
    Hit(T),
    /// Not cached; store the value read from storage with this lease.
    Miss(Lease),
}

/// Permission to store a value read after a miss; see [`MembershipCache`].
/// Opaque to the domain (an adapter's generation counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lease(pub u64);

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
    async fn role(&self, _: OrganizationId, _: UserId) -> Lookup<Option<Access>> {
        Lookup::Miss(Lease(0))
    }
    async fn store_role(&self, _: Lease, _: OrganizationId, _: UserId, _: Option<Access>) {}
    async fn organization(&self, _: OrganizationId) -> Lookup<Organization> {
        Lookup::Miss(Lease(0))
    }
    async fn store_organization(&self, _: Lease, _: &Organization) {}
    async fn user_organizations(&self, _: UserId) -> Lookup<Vec<(Organization, OrgRole)>> {
        Lookup::Miss(Lease(0))
    }
    async fn store_user_organizations(&self, _: Lease, _: UserId, _: &[(Organization, OrgRole)]) {}
    async fn invalidate(&self, _: &[CacheKey]) {}
}

/// A role lookup through the cache, falling back to storage and filling the
/// cache on a miss.
pub(crate) async fn cached_role(
    cache: &dyn MembershipCache,
    members: &dyn MembershipQueries,
    organization: OrganizationId,
    user: UserId,
) -> Result<Option<Access>, StoreError> {
    match cache.role(organization, user).await {
        Lookup::Hit(role) => Ok(role),
        Lookup::Miss(lease) => {
            let role = members.role_of(organization, user).await?;
            cache.store_role(lease, organization, user, role).await;
            Ok(role)
        }
    }
}
