//! [`MemoryCache`]: the membership cache in a map, with generations and
//! fences as the Redis adapter keeps them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use orgman_domain::ports::{CacheKey, Lease, Lookup, MembershipCache};
use orgman_domain::{Access, OrgRole, Organization, OrganizationId, Permission, UserId};

#[derive(Clone, Debug)]
enum Value {
    Role(Option<Access>),
    // Boxed: an organization (its metadata maps) is far larger than a role.
    Organization(Box<Organization>),
}

/// A user's organization list with the generations it was stored under.
#[derive(Clone, Debug)]
struct UserList {
    user_generation: u64,
    organization_generations: Vec<u64>,
    items: Vec<(Organization, OrgRole)>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Where every generation comes from: each invalidation takes a value
    /// never used before.
    counter: u64,
    /// Per organization: set from the counter by every invalidation
    /// touching it. [`OrganizationId::PLATFORM`]'s applies to every
    /// organization: an entry lives under the larger of the two.
    generations: HashMap<OrganizationId, u64>,
    /// Per user: bumped when the user's memberships change.
    user_generations: HashMap<UserId, u64>,
    /// Bumped by every invalidation: a list stored with an older epoch
    /// might hold data read before the change.
    epoch: u64,
    /// Values with the generation they were stored under.
    values: HashMap<CacheKey, (u64, Value)>,
    /// External authorizers' decisions, under their organization's
    /// generation.
    decisions: HashMap<(OrganizationId, UserId, Permission), (u64, bool)>,
    lists: HashMap<UserId, UserList>,
}

/// A cache in a hash map, without expiry, with the leases of the
/// [`MembershipCache`] contract. It counts hits and misses so tests can tell
/// whether a read was served from it.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn organization_of(key: &CacheKey) -> Option<OrganizationId> {
    match key {
        CacheKey::Role(org, _) | CacheKey::Organization(org) => Some(*org),
        CacheKey::UserOrganizations(_) => None,
    }
}

impl Entries {
    /// The generation an organization's entries live under: its own or the
    /// platform's, whichever moved last.
    fn generation(&self, organization: OrganizationId) -> u64 {
        let own = self.generations.get(&organization).copied().unwrap_or(0);
        let platform = self
            .generations
            .get(&OrganizationId::PLATFORM)
            .copied()
            .unwrap_or(0);
        own.max(platform)
    }
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Reads that missed so far.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Whether an entry is cached and current.
    pub fn contains(&self, key: CacheKey) -> bool {
        let entries = self.entries();
        let current = organization_of(&key).map_or(0, |o| entries.generation(o));
        entries
            .values
            .get(&key)
            .is_some_and(|(generation, _)| *generation == current)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: CacheKey) -> Lookup<Value> {
        let entries = self.entries();
        let current = organization_of(&key).map_or(0, |o| entries.generation(o));
        match entries.values.get(&key) {
            Some((generation, value)) if *generation == current => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(value.clone())
            }
            _ => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss(Lease(current))
            }
        }
    }

    fn put(&self, lease: Lease, key: CacheKey, value: Value) {
        self.entries().values.insert(key, (lease.0, value));
    }
}

#[async_trait]
impl MembershipCache for MemoryCache {
    async fn role(&self, organization: OrganizationId, user: UserId) -> Lookup<Option<Access>> {
        match self.get(CacheKey::Role(organization, user)) {
            Lookup::Hit(Value::Role(role)) => Lookup::Hit(role),
            Lookup::Hit(Value::Organization(_)) => Lookup::Miss(Lease(u64::MAX)),
            Lookup::Miss(lease) => Lookup::Miss(lease),
        }
    }

    async fn store_role(
        &self,
        lease: Lease,
        organization: OrganizationId,
        user: UserId,
        role: Option<Access>,
    ) {
        self.put(lease, CacheKey::Role(organization, user), Value::Role(role));
    }

    async fn organization(&self, id: OrganizationId) -> Lookup<Organization> {
        match self.get(CacheKey::Organization(id)) {
            Lookup::Hit(Value::Organization(org)) => Lookup::Hit(*org),
            Lookup::Hit(Value::Role(_)) => Lookup::Miss(Lease(u64::MAX)),
            Lookup::Miss(lease) => Lookup::Miss(lease),
        }
    }

    async fn store_organization(&self, lease: Lease, organization: &Organization) {
        self.put(
            lease,
            CacheKey::Organization(organization.id()),
            Value::Organization(Box::new(organization.clone())),
        );
    }

    async fn decision(
        &self,
        organization: OrganizationId,
        user: UserId,
        permission: Permission,
    ) -> Lookup<bool> {
        let entries = self.entries();
        let current = entries.generation(organization);
        match entries.decisions.get(&(organization, user, permission)) {
            Some((generation, allowed)) if *generation == current => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(*allowed)
            }
            _ => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss(Lease(current))
            }
        }
    }

    async fn store_decision(
        &self,
        lease: Lease,
        organization: OrganizationId,
        user: UserId,
        permission: Permission,
        allowed: bool,
    ) {
        self.entries()
            .decisions
            .insert((organization, user, permission), (lease.0, allowed));
    }

    async fn user_organizations(&self, user: UserId) -> Lookup<Vec<(Organization, OrgRole)>> {
        let entries = self.entries();
        let user_generation = entries.user_generations.get(&user).copied().unwrap_or(0);
        let current = entries.lists.get(&user).filter(|list| {
            list.user_generation == user_generation
                && list
                    .items
                    .iter()
                    .zip(&list.organization_generations)
                    .all(|((org, _), generation)| entries.generation(org.id()) == *generation)
        });
        let counter = if current.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match current {
            Some(list) => Lookup::Hit(list.items.clone()),
            None => Lookup::Miss(Lease(entries.epoch)),
        }
    }

    async fn store_user_organizations(
        &self,
        lease: Lease,
        user: UserId,
        page: &[(Organization, OrgRole)],
    ) {
        let mut entries = self.entries();
        if lease.0 != entries.epoch {
            return;
        }
        let list = UserList {
            user_generation: entries.user_generations.get(&user).copied().unwrap_or(0),
            organization_generations: page
                .iter()
                .map(|(org, _)| entries.generation(org.id()))
                .collect(),
            items: page.to_vec(),
        };
        entries.lists.insert(user, list);
    }

    async fn invalidate(&self, keys: &[CacheKey]) {
        let mut entries = self.entries();
        entries.epoch += 1;
        for key in keys {
            if let Some(org) = organization_of(key) {
                entries.counter += 1;
                let next = entries.counter;
                entries.generations.insert(org, next);
            }
            if let CacheKey::UserOrganizations(user) = key {
                *entries.user_generations.entry(*user).or_default() += 1;
            }
            entries.values.remove(key);
        }
    }
}
