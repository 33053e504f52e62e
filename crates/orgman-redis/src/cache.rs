//! [`RedisCache`].

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};
use orgman_domain::ports::{CacheKey, Lease, Lookup, MembershipCache};
use orgman_domain::{
    OrgName, OrgRole, OrgStatus, Organization, OrganizationId, OrganizationRecord, Slug, UserId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::settings::RedisSettings;

/// Reads the generation and the entry stored under it, in one round trip.
const LOOKUP: &str = r"
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', KEYS[2] .. generation)}
";

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Reads answered from Redis.
    pub hits: AtomicU64,
    /// Reads that went to storage.
    pub misses: AtomicU64,
    /// Redis calls that failed or timed out.
    pub errors: AtomicU64,
    /// Organizations invalidated.
    pub invalidations: AtomicU64,
}

/// The stored form of an organization (versioned by the key prefix).
#[derive(Serialize, Deserialize)]
struct StoredOrganization {
    id: OrganizationId,
    name: String,
    slug: String,
    status: String,
    #[serde(with = "time::serde::rfc3339::option")]
    purge_after: Option<OffsetDateTime>,
    version: u64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl StoredOrganization {
    fn from_domain(org: &Organization) -> Self {
        Self {
            id: org.id(),
            name: org.name().to_string(),
            slug: org.slug().to_string(),
            status: org.status().as_str().to_owned(),
            purge_after: org.purge_after(),
            version: org.version(),
            created_at: org.created_at(),
            updated_at: org.updated_at(),
        }
    }

    fn into_domain(self) -> Option<Organization> {
        Organization::from_record(OrganizationRecord {
            id: self.id,
            name: OrgName::parse(&self.name).ok()?,
            slug: Slug::parse(&self.slug).ok()?,
            status: self.status.parse::<OrgStatus>().ok()?,
            purge_after: self.purge_after,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
        .ok()
    }
}

/// The cache in Redis. Never fails: see the crate documentation.
pub struct RedisCache {
    pool: Pool,
    settings: RedisSettings,
    stats: CacheStats,
    /// Organizations whose invalidation could not be written; this process
    /// bypasses the cache for them until it can.
    dirty: Mutex<HashSet<OrganizationId>>,
    last_warning: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache over a new pool (connections are opened lazily).
    ///
    /// # Errors
    /// A message when the settings cannot make a pool.
    pub fn connect(settings: RedisSettings) -> Result<Self, String> {
        let mut config = deadpool_redis::Config::from_url(settings.url());
        config.pool = Some(PoolConfig {
            max_size: 16,
            timeouts: Timeouts {
                wait: Some(settings.timeout),
                create: Some(settings.timeout * 2),
                recycle: Some(settings.timeout),
            },
            ..PoolConfig::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| format!("cannot build the Redis pool: {e}"))?;
        Ok(Self {
            pool,
            settings,
            stats: CacheStats::default(),
            dirty: Mutex::new(HashSet::new()),
            last_warning: Mutex::new(None),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Whether Redis answers a PING (for health checks).
    ///
    /// # Errors
    /// A message describing the failure.
    pub async fn ping(&self) -> Result<(), String> {
        self.call(async |conn| redis::cmd("PING").query_async::<String>(conn).await)
            .await
            .map(drop)
            .ok_or_else(|| "redis did not answer".to_owned())
    }

    /// Runs one Redis call with a timeout; `None` (counted, logged at a
    /// limited rate) when it fails.
    async fn call<T, F>(&self, work: F) -> Option<T>
    where
        F: AsyncFnOnce(&mut deadpool_redis::Connection) -> redis::RedisResult<T>,
    {
        let attempt = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            work(&mut conn).await.map_err(|e| e.to_string())
        };
        let outcome = match tokio::time::timeout(self.settings.timeout * 2, attempt).await {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(error)) => error,
            Err(_) => "timed out".to_owned(),
        };
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(error = %outcome, "redis unavailable; reading from the database");
        }
        None
    }

    fn generation_key(&self, org: OrganizationId) -> String {
        format!("{}:v1:gen:{org}", self.settings.prefix)
    }

    fn role_key(&self, org: OrganizationId, user: UserId) -> String {
        format!("{}:v1:role:{org}:{user}:", self.settings.prefix)
    }

    fn organization_key(&self, org: OrganizationId) -> String {
        format!("{}:v1:org:{org}:", self.settings.prefix)
    }

    fn is_dirty(&self, org: OrganizationId) -> bool {
        self.dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&org)
    }

    /// Retries invalidations that could not be written earlier.
    async fn flush_dirty(&self) {
        let pending: Vec<OrganizationId> = self
            .dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        if pending.is_empty() {
            return;
        }
        if self.bump(&pending).await {
            let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
            for org in pending {
                dirty.remove(&org);
            }
        }
    }

    async fn bump(&self, orgs: &[OrganizationId]) -> bool {
        let keys: Vec<String> = orgs.iter().map(|o| self.generation_key(*o)).collect();
        self.call(async |conn| {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.incr(key, 1).ignore();
            }
            pipe.query_async::<()>(conn).await
        })
        .await
        .is_some()
    }

    async fn get(&self, org: OrganizationId, key: String) -> Lookup<String> {
        self.flush_dirty().await;
        if self.is_dirty(org) {
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss(Lease(u64::MAX));
        }
        let generation = self.generation_key(org);
        let found: Option<(String, Option<String>)> = self
            .call(async |conn| {
                redis::cmd("EVAL")
                    .arg(LOOKUP)
                    .arg(2)
                    .arg(&generation)
                    .arg(&key)
                    .query_async(conn)
                    .await
            })
            .await;
        match found {
            Some((_, Some(value))) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(value)
            }
            Some((generation, None)) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss(Lease(generation.parse().unwrap_or(0)))
            }
            None => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                // Redis is down: a lease nothing will be stored under.
                Lookup::Miss(Lease(u64::MAX))
            }
        }
    }

    async fn put(&self, lease: Lease, key: String, value: String) {
        if lease.0 == u64::MAX {
            return;
        }
        let key = format!("{key}{}", lease.0);
        let ttl = self.settings.ttl.as_secs();
        let _: Option<()> = self
            .call(async |conn| conn.set_ex(&key, &value, ttl).await)
            .await;
    }
}

fn role_text(role: Option<OrgRole>) -> &'static str {
    role.map_or("NONE", OrgRole::as_str)
}

#[async_trait]
impl MembershipCache for RedisCache {
    async fn role(&self, organization: OrganizationId, user: UserId) -> Lookup<Option<OrgRole>> {
        match self
            .get(organization, self.role_key(organization, user))
            .await
        {
            Lookup::Hit(text) if text == "NONE" => Lookup::Hit(None),
            Lookup::Hit(text) => match text.parse::<OrgRole>() {
                Ok(role) => Lookup::Hit(Some(role)),
                Err(_) => Lookup::Miss(Lease(u64::MAX)),
            },
            Lookup::Miss(lease) => Lookup::Miss(lease),
        }
    }

    async fn store_role(
        &self,
        lease: Lease,
        organization: OrganizationId,
        user: UserId,
        role: Option<OrgRole>,
    ) {
        self.put(
            lease,
            self.role_key(organization, user),
            role_text(role).to_owned(),
        )
        .await;
    }

    async fn organization(&self, id: OrganizationId) -> Lookup<Organization> {
        match self.get(id, self.organization_key(id)).await {
            Lookup::Hit(json) => match serde_json::from_str::<StoredOrganization>(&json)
                .ok()
                .and_then(StoredOrganization::into_domain)
            {
                Some(org) => Lookup::Hit(org),
                None => Lookup::Miss(Lease(u64::MAX)),
            },
            Lookup::Miss(lease) => Lookup::Miss(lease),
        }
    }

    async fn store_organization(&self, lease: Lease, organization: &Organization) {
        if let Ok(json) = serde_json::to_string(&StoredOrganization::from_domain(organization)) {
            self.put(lease, self.organization_key(organization.id()), json)
                .await;
        }
    }

    async fn invalidate(&self, keys: &[CacheKey]) {
        let mut orgs: Vec<OrganizationId> = keys
            .iter()
            .filter_map(|k| match k {
                CacheKey::Role(org, _) | CacheKey::Organization(org) => Some(*org),
                CacheKey::UserOrganizations(_) => None,
            })
            .collect();
        orgs.sort();
        orgs.dedup();
        if orgs.is_empty() {
            return;
        }
        self.stats
            .invalidations
            .fetch_add(orgs.len() as u64, Ordering::Relaxed);
        if !self.bump(&orgs).await {
            let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
            dirty.extend(orgs);
        }
    }
}
