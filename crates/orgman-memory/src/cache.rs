use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use orgman_domain::ports::{CacheKey, MembershipCache};
use orgman_domain::{OrgRole, Organization, OrganizationId, UserId};

#[derive(Clone, Debug)]
enum Entry {
    Role(Option<OrgRole>),
    Organization(Organization),
}

/// A cache in a hash map, without expiry; it counts hits and misses so tests
/// can tell whether a read was served from it.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<CacheKey, Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
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

    /// Whether an entry is cached.
    pub fn contains(&self, key: CacheKey) -> bool {
        self.entries().contains_key(&key)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: CacheKey) -> Option<Entry> {
        let entry = self.entries().get(&key).cloned();
        let counter = if entry.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        entry
    }
}

#[async_trait]
impl MembershipCache for MemoryCache {
    async fn role(&self, organization: OrganizationId, user: UserId) -> Option<Option<OrgRole>> {
        match self.get(CacheKey::Role(organization, user))? {
            Entry::Role(role) => Some(role),
            Entry::Organization(_) => None,
        }
    }

    async fn store_role(&self, organization: OrganizationId, user: UserId, role: Option<OrgRole>) {
        self.entries()
            .insert(CacheKey::Role(organization, user), Entry::Role(role));
    }

    async fn organization(&self, id: OrganizationId) -> Option<Organization> {
        match self.get(CacheKey::Organization(id))? {
            Entry::Organization(organization) => Some(organization),
            Entry::Role(_) => None,
        }
    }

    async fn store_organization(&self, organization: &Organization) {
        self.entries().insert(
            CacheKey::Organization(organization.id()),
            Entry::Organization(organization.clone()),
        );
    }

    async fn invalidate(&self, keys: &[CacheKey]) {
        let mut entries = self.entries();
        for key in keys {
            entries.remove(key);
        }
    }
}
