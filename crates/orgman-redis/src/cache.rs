//! [`RedisCache`].

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Pool, Runtime};
use orgman_domain::ports::{CacheKey, Lease, Lookup, MembershipCache};
use orgman_domain::{
    Access, ApiKeyId, KeyCredential, MemberGrants, Metadata, OrgName, OrgRole, OrgStatus,
    Organization, OrganizationId, OrganizationRecord, Permission, PermissionName, PermissionSet,
    Slug, SsoLoginPolicy, TokenDigest, UserId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::settings::{RedisMode, RedisSettings};

/// Gives each generation key that has none (never set, or a fence that
/// expired) a fresh value from the counter (`ARGV[1]`), under which nothing
/// can have been stored, and answers every key's generation (or fence).
/// Lookups read generations and entries with one `MGET`; this runs only
/// when one was missing.
const INIT: &str = r"
local found = {}
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], redis.call('INCR', ARGV[1]), 'NX')
  found[i] = redis.call('GET', KEYS[i])
end
return found
";

/// The scripts, sent by their SHA-1 once Redis knows them (`EVALSHA`; the
/// script itself only after a `NOSCRIPT`).
fn init_script() -> &'static redis::Script {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(INIT))
}

/// Gives organizations and users a new generation: one value of the
/// counter (`KEYS[1]`), never used before by any of them, shared by all of
/// them (entries are compared key by key, so sharing it is safe), written
/// with `MSET` in slices; then moves the epoch (`KEYS[#KEYS]`). Replaces a
/// fence.
const BUMP: &str = r"
local generation = redis.call('INCR', KEYS[1])
local pairs = {}
for i = 2, #KEYS - 1 do
  pairs[#pairs + 1] = KEYS[i]
  pairs[#pairs + 1] = generation
  if #pairs >= 1000 then redis.call('MSET', unpack(pairs)); pairs = {} end
end
if #pairs > 0 then redis.call('MSET', unpack(pairs)) end
redis.call('INCR', KEYS[#KEYS])
return 1
";

/// The generation value of a fenced organization (see
/// `MembershipCache::fence`).
const FENCED: &str = "fenced";

/// Reads a user's list entry with the generation and epoch it needs.
const LOOKUP_LIST: &str = r"
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', KEYS[2] .. generation), redis.call('GET', KEYS[3]) or '0'}
";

/// Before storing a list: the user's generation and the listed
/// organizations' generations, unless anything was invalidated since the
/// miss (the epoch moved), in which case nothing.
const PREPARE_LIST: &str = r"
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return false end
local found = {redis.call('GET', KEYS[2]) or '0'}
for i = 3, #KEYS do
  local generation = redis.call('GET', KEYS[i]) or '0'
  if generation == 'fenced' then return false end
  found[#found + 1] = generation
end
return found
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
    #[serde(default)]
    max_members: Option<u32>,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    private_metadata: Metadata,
    /// Required: an entry written before the rule was kept (which would
    /// admit everyone) does not parse, and is read again from storage.
    sso_login: SsoLoginPolicy,
}

/// A user's organization list as stored, with the generations that make it
/// current.
#[derive(Serialize, Deserialize)]
struct StoredList {
    generations: Vec<String>,
    items: Vec<(StoredOrganization, String)>,
}

impl StoredOrganization {
    /// `None` for a redacted organization: the cache keeps whole ones only.
    fn from_domain(org: &Organization) -> Option<Self> {
        Some(Self {
            id: org.id(),
            name: org.name().to_string(),
            slug: org.slug().to_string(),
            status: org.status().as_str().to_owned(),
            purge_after: org.purge_after(),
            version: org.version(),
            created_at: org.created_at(),
            updated_at: org.updated_at(),
            max_members: org.max_members(),
            metadata: org.metadata().clone(),
            private_metadata: org.private_metadata()?.clone(),
            sso_login: org.sso_login().clone(),
        })
    }

    fn into_domain(self) -> Option<Organization> {
        Organization::from_record(OrganizationRecord {
            id: self.id,
            name: OrgName::parse(&self.name).ok()?,
            slug: Slug::parse(&self.slug).ok()?,
            status: self.status.parse::<OrgStatus>().ok()?,
            purge_after: self.purge_after,
            max_members: self.max_members,
            metadata: self.metadata,
            private_metadata: self.private_metadata,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
        .ok()
        .map(|org| org.with_sso_login(self.sso_login))
    }
}

/// The cache in Redis. Never fails: see the crate documentation.
pub struct RedisCache {
    pools: Pools,
    shared: Mutex<Option<Shared>>,
    /// `settings.key_prefix()`.
    prefix: String,
    settings: RedisSettings,
    stats: CacheStats,
    /// Invalidations that could not be written (organizations, users);
    /// this process bypasses the cache for them until they are written.
    dirty: Mutex<(HashSet<OrganizationId>, HashSet<UserId>)>,
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
        let pools = Pools::new(&settings)?;
        Ok(Self {
            pools,
            shared: Mutex::new(None),
            prefix: settings.key_prefix(),
            settings,
            stats: CacheStats::default(),
            dirty: Mutex::new((HashSet::new(), HashSet::new())),
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

    /// The shared multiplexed connection: taken from the pool once (the
    /// pool opens and checks it) and then used by every call, so a call is
    /// one round trip (a pool checkout would add a PING to each). A failed
    /// call drops it; the next call takes a new one from the pool.
    async fn connection(&self) -> Result<Shared, String> {
        if let Some(shared) = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(shared);
        }
        let taken = self.pools.take().await?;
        *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = Some(taken.clone());
        Ok(taken)
    }

    /// Runs one Redis call with a timeout; `None` (counted, logged at a
    /// limited rate) when it fails.
    async fn call<T, F>(&self, work: F) -> Option<T>
    where
        F: AsyncFnOnce(&mut Shared) -> redis::RedisResult<T>,
    {
        let attempt = async {
            let mut conn = self.connection().await?;
            work(&mut conn).await.map_err(|e| e.to_string())
        };
        let outcome = match tokio::time::timeout(self.settings.timeout * 2, attempt).await {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(error)) => error,
            Err(_) => "timed out".to_owned(),
        };
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(error = %outcome, "redis unavailable; reading from the database");
        }
        None
    }

    /// `<prefix>:v2:<kind>:<id>:<id>...` with `end` after: built without
    /// the formatting machinery, as every lookup builds several.
    fn key(&self, kind: &str, ids: &[orgman_domain::uuid::Uuid], end: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + 8 + ids.len() * 37);
        key.push_str(&self.prefix);
        key.push_str(":v2:");
        key.push_str(kind);
        for id in ids {
            key.push(':');
            key.push_str(
                id.hyphenated()
                    .encode_lower(&mut orgman_domain::uuid::Uuid::encode_buffer()),
            );
        }
        key.push_str(end);
        key
    }

    fn generation_key(&self, org: OrganizationId) -> String {
        self.key("gen", &[org.as_uuid()], "")
    }

    fn role_key(&self, org: OrganizationId, user: UserId) -> String {
        self.key("role", &[org.as_uuid(), user.as_uuid()], ":")
    }

    fn grants_key(&self, org: OrganizationId, user: UserId) -> String {
        self.key("grants", &[org.as_uuid(), user.as_uuid()], ":")
    }

    fn decision_key(&self, org: OrganizationId, user: UserId, permission: Permission) -> String {
        let mut key = self.key("decision", &[org.as_uuid(), user.as_uuid()], ":");
        key.push_str(permission.as_str());
        key.push(':');
        key
    }

    fn api_key_key(&self, org: OrganizationId, key: ApiKeyId) -> String {
        self.key("apikey", &[org.as_uuid(), key.as_uuid()], ":")
    }

    fn organization_key(&self, org: OrganizationId) -> String {
        self.key("org", &[org.as_uuid()], ":")
    }

    fn user_generation_key(&self, user: UserId) -> String {
        format!("{}:v2:ugen:{user}", self.prefix)
    }

    fn list_key(&self, user: UserId) -> String {
        format!("{}:v2:mine:{user}:", self.prefix)
    }

    fn counter_key(&self) -> String {
        format!("{}:v2:counter", self.prefix)
    }

    fn epoch_key(&self) -> String {
        format!("{}:v2:epoch", self.prefix)
    }

    /// Whether an invalidation of the organization (or of the platform,
    /// which holds for every organization) could not be written yet.
    fn is_dirty(&self, org: OrganizationId) -> bool {
        let dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        dirty.0.contains(&org) || dirty.0.contains(&OrganizationId::PLATFORM)
    }

    fn anything_dirty(&self) -> bool {
        let dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        !dirty.0.is_empty() || !dirty.1.is_empty()
    }

    /// Retries invalidations that could not be written earlier.
    async fn flush_dirty(&self) {
        let (orgs, users): (Vec<OrganizationId>, Vec<UserId>) = {
            let dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
            (
                dirty.0.iter().copied().collect(),
                dirty.1.iter().copied().collect(),
            )
        };
        if orgs.is_empty() && users.is_empty() {
            return;
        }
        if self.bump(&orgs, &users).await {
            let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
            for org in orgs {
                dirty.0.remove(&org);
            }
            for user in users {
                dirty.1.remove(&user);
            }
        }
    }

    /// With Sentinel, whether the writes so far reached a replica: Redis
    /// replicates asynchronously, and a fence or generation a failover
    /// loses would let the new master serve entries older than a
    /// revocation. Elsewhere always true: one server has nothing to fail
    /// over to, and in a Cluster `WAIT` (a command without keys) would not
    /// reach the node that holds the cache's slot (docs/configuration.md
    /// states what a Cluster failover can cost).
    async fn replicated(&self) -> bool {
        if !matches!(self.settings.mode, RedisMode::Sentinel { .. }) {
            return true;
        }
        let wait_ms = self.settings.timeout.as_millis().max(1);
        let acknowledged: Option<i64> = self
            .call(async |conn| {
                redis::cmd("WAIT")
                    .arg(1)
                    .arg(wait_ms as u64)
                    .query_async(conn)
                    .await
            })
            .await;
        acknowledged.is_some_and(|replicas| replicas >= 1)
    }

    /// Gives organizations and users new generations, and moves the epoch.
    async fn bump(&self, orgs: &[OrganizationId], users: &[UserId]) -> bool {
        let keys: Vec<String> = std::iter::once(self.counter_key())
            .chain(orgs.iter().map(|o| self.generation_key(*o)))
            .chain(users.iter().map(|u| self.user_generation_key(*u)))
            .chain(std::iter::once(self.epoch_key()))
            .collect();
        self.call(async |conn| {
            redis::cmd("EVAL")
                .arg(BUMP)
                .arg(keys.len())
                .arg(&keys)
                .query_async::<()>(conn)
                .await
        })
        .await
        .is_some()
            && self.replicated().await
    }

    async fn get(&self, org: OrganizationId, key: String) -> Lookup<String> {
        let [found] = self.get_many(org, [key]).await;
        found
    }

    /// Entries of one organization, read under its current generation in
    /// one round trip; every miss gets the same lease.
    async fn get_many<const N: usize>(
        &self,
        org: OrganizationId,
        keys: [String; N],
    ) -> [Lookup<String>; N] {
        let entries: Vec<(OrganizationId, String)> = keys.into_iter().map(|k| (org, k)).collect();
        let mut found = self.lookup(&entries).await.into_iter();
        std::array::from_fn(|_| found.next().unwrap_or(Lookup::Miss(Lease(u64::MAX))))
    }

    /// Entries of organizations, each read under its organization's
    /// current generation: the larger of the organization's and the
    /// platform's (every generation comes from one counter, so a bump of
    /// either gives a value no entry was stored under), none while either
    /// is fenced. Generations and entries come in one `MGET`; an entry
    /// holds the generation it was stored under (`<generation>|<value>`)
    /// and is served only when that is the current one. A miss's lease is
    /// the current generation (`u64::MAX`, under which nothing is stored,
    /// when there is none).
    async fn lookup(&self, entries: &[(OrganizationId, String)]) -> Vec<Lookup<String>> {
        let unusable = |count: usize| {
            self.stats.misses.fetch_add(count as u64, Ordering::Relaxed);
            (0..count).map(|_| Lookup::Miss(Lease(u64::MAX))).collect()
        };
        self.flush_dirty().await;
        let mut orgs: Vec<OrganizationId> = vec![OrganizationId::PLATFORM];
        for (org, _) in entries {
            if !orgs.contains(org) {
                orgs.push(*org);
            }
        }
        let generation_keys: Vec<String> =
            orgs.iter().map(|org| self.generation_key(*org)).collect();
        let keys: Vec<&str> = generation_keys
            .iter()
            .chain(entries.iter().map(|(_, key)| key))
            .map(String::as_str)
            .collect();
        let found: Option<Vec<Option<String>>> = self
            .call(async |conn| redis::cmd("MGET").arg(&keys).query_async(conn).await)
            .await;
        let Some(mut found) = found.filter(|f| f.len() == keys.len()) else {
            // Redis is down: leases nothing will be stored under.
            return unusable(entries.len());
        };
        let values = found.split_off(orgs.len());
        let Some(generations) = self.initialized(&generation_keys, found).await else {
            return unusable(entries.len());
        };
        // Each organization's current generation, once: `None` while it or
        // the platform is fenced, or its invalidation is not written yet.
        let platform = generations[0].parse::<u64>().ok();
        let current: Vec<Option<u64>> = orgs
            .iter()
            .zip(&generations)
            .map(|(org, own)| {
                let own = own.parse::<u64>().ok()?;
                (!self.is_dirty(*org)).then_some(own.max(platform?))
            })
            .collect();
        entries
            .iter()
            .zip(values)
            .map(|((org, _), value)| {
                let generation = orgs
                    .iter()
                    .position(|o| o == org)
                    .and_then(|at| current[at]);
                let stored = value.as_deref().and_then(|v| v.split_once('|'));
                match (generation, stored) {
                    (Some(now), Some((tag, value))) if tag.parse() == Ok(now) => {
                        self.stats.hits.fetch_add(1, Ordering::Relaxed);
                        Lookup::Hit(value.to_owned())
                    }
                    _ => {
                        self.stats.misses.fetch_add(1, Ordering::Relaxed);
                        Lookup::Miss(Lease(generation.unwrap_or(u64::MAX)))
                    }
                }
            })
            .collect()
    }

    /// The generations read at `keys`, with the missing ones given fresh
    /// values first ([`INIT`]); `None` when Redis cannot be asked.
    async fn initialized(&self, keys: &[String], read: Vec<Option<String>>) -> Option<Vec<String>> {
        if read.iter().all(Option::is_some) {
            return Some(read.into_iter().flatten().collect());
        }
        let counter = self.counter_key();
        let found: Vec<String> = self
            .call(async |conn| {
                let mut invocation = init_script().prepare_invoke();
                for key in keys {
                    invocation.key(key);
                }
                invocation.arg(&counter).invoke_async(conn).await
            })
            .await?;
        (found.len() == keys.len()).then_some(found)
    }

    /// Stores an entry with the lease (generation) it was read under.
    async fn put(&self, lease: Lease, key: String, value: String) {
        if lease.0 == u64::MAX {
            return;
        }
        let value = format!("{}|{value}", lease.0);
        let ttl = self.settings.ttl.as_secs();
        let _: Option<()> = self
            .call(async |conn| conn.set_ex(&key, &value, ttl).await)
            .await;
    }
}

/// `NONE`, or a built-in role and every permission custom roles grant:
/// `MEMBER invoices:read organization:read`.
fn grants_text(grants: Option<&MemberGrants>) -> String {
    match grants {
        None => "NONE".to_owned(),
        Some(grants) => std::iter::once(grants.role.as_str())
            .chain(grants.granted.iter().map(PermissionName::as_str))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn parse_grants(text: &str) -> Option<Option<MemberGrants>> {
    if text == "NONE" {
        return Some(None);
    }
    let mut words = text.split(' ');
    let role = words.next()?.parse::<OrgRole>().ok()?;
    let granted = words
        .map(|name| PermissionName::parse(name).ok())
        .collect::<Option<_>>()?;
    Some(Some(MemberGrants { role, granted }))
}

/// `NONE`, a built-in role (`ADMIN`), or a built-in role with what custom
/// roles grant besides, as bits (`MEMBER+512`).
fn role_text(role: Option<Access>) -> String {
    match role {
        None => "NONE".to_owned(),
        Some(access) if access.granted.is_empty() => access.role.as_str().to_owned(),
        Some(access) => format!("{}+{}", access.role.as_str(), access.granted.bits()),
    }
}

fn parse_access(text: &str) -> Option<Access> {
    let (role, bits) = text.split_once('+').unwrap_or((text, "0"));
    Some(Access {
        role: role.parse::<OrgRole>().ok()?,
        granted: PermissionSet::from_bits(bits.parse().ok()?),
    })
}

fn parse_role(found: Lookup<String>) -> Lookup<Option<Access>> {
    match found {
        Lookup::Hit(text) if text == "NONE" => Lookup::Hit(None),
        Lookup::Hit(text) => match parse_access(&text) {
            Some(access) => Lookup::Hit(Some(access)),
            None => Lookup::Miss(Lease(u64::MAX)),
        },
        Lookup::Miss(lease) => Lookup::Miss(lease),
    }
}

fn parse_organization(found: Lookup<String>) -> Lookup<Organization> {
    match found {
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

/// `NONE`, or `<digest>|<permission bits>|<expiry, unix seconds or ->|<0 or 1 revoked>`.
fn credential_text(credential: Option<&KeyCredential>) -> String {
    match credential {
        None => "NONE".to_owned(),
        Some(credential) => format!(
            "{}|{}|{}|{}",
            credential.digest.0,
            credential.permissions.bits(),
            credential.expires_at.map_or_else(
                || "-".to_owned(),
                |at| at.unix_timestamp_nanos().to_string()
            ),
            u8::from(credential.revoked),
        ),
    }
}

fn parse_credential(found: Lookup<String>) -> Lookup<Option<KeyCredential>> {
    let parse = |text: &str| -> Option<KeyCredential> {
        let mut parts = text.split('|');
        let digest = TokenDigest(parts.next()?.to_owned());
        let permissions = PermissionSet::from_bits(parts.next()?.parse().ok()?);
        let expires_at = match parts.next()? {
            "-" => None,
            nanos => Some(OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?),
        };
        let revoked = parts.next()? == "1";
        Some(KeyCredential {
            digest,
            permissions,
            expires_at,
            revoked,
        })
    };
    match found {
        Lookup::Hit(text) if text == "NONE" => Lookup::Hit(None),
        Lookup::Hit(text) => match parse(&text) {
            Some(credential) => Lookup::Hit(Some(credential)),
            None => Lookup::Miss(Lease(u64::MAX)),
        },
        Lookup::Miss(lease) => Lookup::Miss(lease),
    }
}

fn parse_decision(found: Lookup<String>) -> Lookup<bool> {
    match found {
        Lookup::Hit(text) if text == "1" => Lookup::Hit(true),
        Lookup::Hit(text) if text == "0" => Lookup::Hit(false),
        Lookup::Hit(_) => Lookup::Miss(Lease(u64::MAX)),
        Lookup::Miss(lease) => Lookup::Miss(lease),
    }
}

#[async_trait]
impl MembershipCache for RedisCache {
    async fn role(&self, organization: OrganizationId, user: UserId) -> Lookup<Option<Access>> {
        parse_role(
            self.get(organization, self.role_key(organization, user))
                .await,
        )
    }

    async fn store_role(
        &self,
        lease: Lease,
        organization: OrganizationId,
        user: UserId,
        role: Option<Access>,
    ) {
        self.put(lease, self.role_key(organization, user), role_text(role))
            .await;
    }

    async fn organization(&self, id: OrganizationId) -> Lookup<Organization> {
        parse_organization(self.get(id, self.organization_key(id)).await)
    }

    async fn api_key(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Lookup<Option<KeyCredential>> {
        parse_credential(
            self.get(organization, self.api_key_key(organization, key))
                .await,
        )
    }

    async fn store_api_key(
        &self,
        lease: Lease,
        organization: OrganizationId,
        key: ApiKeyId,
        credential: Option<&KeyCredential>,
    ) {
        self.put(
            lease,
            self.api_key_key(organization, key),
            credential_text(credential),
        )
        .await;
    }

    async fn api_key_and_organization(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> (Lookup<Option<KeyCredential>>, Lookup<Organization>) {
        let [credential, found] = self
            .get_many(
                organization,
                [
                    self.api_key_key(organization, key),
                    self.organization_key(organization),
                ],
            )
            .await;
        (parse_credential(credential), parse_organization(found))
    }

    async fn grants_many(
        &self,
        members: &[(OrganizationId, UserId)],
    ) -> Vec<Lookup<Option<MemberGrants>>> {
        let entries: Vec<(OrganizationId, String)> = members
            .iter()
            .map(|(org, user)| (*org, self.grants_key(*org, *user)))
            .collect();
        self.lookup(&entries)
            .await
            .into_iter()
            .map(|found| match found {
                Lookup::Hit(text) => match parse_grants(&text) {
                    Some(grants) => Lookup::Hit(grants),
                    None => Lookup::Miss(Lease(u64::MAX)),
                },
                Lookup::Miss(lease) => Lookup::Miss(lease),
            })
            .collect()
    }

    async fn store_grants(
        &self,
        lease: Lease,
        organization: OrganizationId,
        user: UserId,
        grants: Option<&MemberGrants>,
    ) {
        self.put(
            lease,
            self.grants_key(organization, user),
            grants_text(grants),
        )
        .await;
    }

    async fn role_and_organization(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> (Lookup<Option<Access>>, Lookup<Organization>) {
        let [role, found] = self
            .get_many(
                organization,
                [
                    self.role_key(organization, user),
                    self.organization_key(organization),
                ],
            )
            .await;
        (parse_role(role), parse_organization(found))
    }

    async fn decision(
        &self,
        organization: OrganizationId,
        user: UserId,
        permission: Permission,
    ) -> Lookup<bool> {
        parse_decision(
            self.get(
                organization,
                self.decision_key(organization, user, permission),
            )
            .await,
        )
    }

    async fn store_decision(
        &self,
        lease: Lease,
        organization: OrganizationId,
        user: UserId,
        permission: Permission,
        allowed: bool,
    ) {
        self.put(
            lease,
            self.decision_key(organization, user, permission),
            if allowed { "1" } else { "0" }.to_owned(),
        )
        .await;
    }

    async fn decision_and_organization(
        &self,
        organization: OrganizationId,
        user: UserId,
        permission: Permission,
    ) -> (Lookup<bool>, Lookup<Organization>) {
        let [decision, found] = self
            .get_many(
                organization,
                [
                    self.decision_key(organization, user, permission),
                    self.organization_key(organization),
                ],
            )
            .await;
        (parse_decision(decision), parse_organization(found))
    }

    async fn store_organization(&self, lease: Lease, organization: &Organization) {
        let Some(stored) = StoredOrganization::from_domain(organization) else {
            return;
        };
        if let Ok(json) = serde_json::to_string(&stored) {
            self.put(lease, self.organization_key(organization.id()), json)
                .await;
        }
    }

    async fn user_organizations(&self, user: UserId) -> Lookup<Vec<(Organization, OrgRole)>> {
        self.flush_dirty().await;
        let miss = |lease| {
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            Lookup::Miss(lease)
        };
        if self.anything_dirty() {
            return miss(Lease(u64::MAX));
        }
        let (user_key, list_key, epoch_key) = (
            self.user_generation_key(user),
            self.list_key(user),
            self.epoch_key(),
        );
        let found: Option<(String, Option<String>, String)> = self
            .call(async |conn| {
                redis::cmd("EVAL")
                    .arg(LOOKUP_LIST)
                    .arg(3)
                    .arg(&user_key)
                    .arg(&list_key)
                    .arg(&epoch_key)
                    .query_async(conn)
                    .await
            })
            .await;
        let Some((_, entry, epoch)) = found else {
            return miss(Lease(u64::MAX));
        };
        let lease = Lease(epoch.parse().unwrap_or(u64::MAX));
        let Some(stored) = entry.and_then(|json| serde_json::from_str::<StoredList>(&json).ok())
        else {
            return miss(lease);
        };
        // Current only if no listed organization changed since it was stored.
        let keys: Vec<String> = stored
            .items
            .iter()
            .map(|(org, _)| self.generation_key(org.id))
            .collect();
        let current: Vec<Option<String>> = if keys.is_empty() {
            Vec::new()
        } else {
            match self
                .call(async |conn| redis::cmd("MGET").arg(&keys).query_async(conn).await)
                .await
            {
                Some(current) => current,
                None => return miss(Lease(u64::MAX)),
            }
        };
        let unchanged = current
            .iter()
            .map(|g| g.clone().unwrap_or_else(|| "0".into()))
            .eq(stored.generations.iter().cloned());
        let items: Option<Vec<(Organization, OrgRole)>> = stored
            .items
            .into_iter()
            .map(|(org, role)| Some((org.into_domain()?, role.parse().ok()?)))
            .collect();
        match items {
            Some(items) if unchanged => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(items)
            }
            _ => miss(lease),
        }
    }

    async fn store_user_organizations(
        &self,
        lease: Lease,
        user: UserId,
        page: &[(Organization, OrgRole)],
    ) {
        if lease.0 == u64::MAX {
            return;
        }
        let mut keys = vec![self.epoch_key(), self.user_generation_key(user)];
        keys.extend(page.iter().map(|(org, _)| self.generation_key(org.id())));
        let prepared: Option<Option<Vec<String>>> = self
            .call(async |conn| {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(PREPARE_LIST)
                    .arg(keys.len())
                    .arg(&keys)
                    .arg(lease.0.to_string());
                cmd.query_async(conn).await
            })
            .await;
        let Some(Some(mut generations)) = prepared else {
            return;
        };
        if generations.is_empty() {
            return;
        }
        let user_generation = generations.remove(0);
        let Some(items) = page
            .iter()
            .map(|(org, role)| {
                StoredOrganization::from_domain(org).map(|org| (org, role.as_str().to_owned()))
            })
            .collect::<Option<Vec<_>>>()
        else {
            return;
        };
        let stored = StoredList { generations, items };
        if let Ok(json) = serde_json::to_string(&stored) {
            let key = format!("{}{user_generation}", self.list_key(user));
            let ttl = self.settings.ttl.as_secs();
            let _: Option<()> = self
                .call(async |conn| conn.set_ex(&key, &json, ttl).await)
                .await;
        }
    }

    async fn invalidate(&self, keys: &[CacheKey]) {
        let mut orgs: Vec<OrganizationId> = Vec::new();
        let mut users: Vec<UserId> = Vec::new();
        for key in keys {
            match key {
                CacheKey::Role(org, _) | CacheKey::Organization(org) => orgs.push(*org),
                CacheKey::UserOrganizations(user) => users.push(*user),
            }
        }
        orgs.sort();
        orgs.dedup();
        users.sort();
        users.dedup();
        if orgs.is_empty() && users.is_empty() {
            return;
        }
        self.stats
            .invalidations
            .fetch_add((orgs.len() + users.len()) as u64, Ordering::Relaxed);
        if !self.bump(&orgs, &users).await {
            let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
            dirty.0.extend(orgs);
            dirty.1.extend(users);
        }
    }

    /// Sets each organization's generation to the fence for as long as
    /// entries live: readers on every replica neither use nor store its
    /// entries until the invalidation after the commit replaces the fence,
    /// or, if that invalidation never comes, until the fence expires, when
    /// every entry from before it has expired too.
    async fn fence(&self, organizations: &[OrganizationId]) -> bool {
        if organizations.is_empty() {
            return true;
        }
        let keys: Vec<String> = organizations
            .iter()
            .map(|o| self.generation_key(*o))
            .collect();
        let ttl = self.settings.ttl.as_secs().max(1);
        self.call(async |conn| {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.set_ex(key, FENCED, ttl).ignore();
            }
            pipe.query_async::<()>(conn).await
        })
        .await
        .is_some()
            && self.replicated().await
    }
}

/// The connection pools of the three deployments.
enum Pools {
    Single(Pool),
    Sentinel(deadpool_redis::sentinel::Pool),
    Cluster(deadpool_redis::cluster::Pool),
}

impl Pools {
    fn new(settings: &RedisSettings) -> Result<Self, String> {
        let failed = |e: &dyn std::fmt::Display| format!("cannot build the Redis pool: {e}");
        match &settings.mode {
            RedisMode::Single => {
                // Built from redis' own connection info: it carries the TLS
                // roots, which deadpool's `Config` would drop.
                let info = match &settings.ca_file {
                    Some(ca) if settings.tls => {
                        let root_cert = std::fs::read(ca)
                            .map_err(|e| format!("ORGMAN_REDIS_CA_FILE {}: {e}", ca.display()))?;
                        let certificates = redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(root_cert),
                        };
                        redis::Client::build_with_tls(settings.url(), certificates)
                            .map(|client| client.get_connection_info().clone())
                    }
                    _ => redis::IntoConnectionInfo::into_connection_info(settings.url()),
                }
                .map_err(|e| format!("Redis settings: {e}"))?;
                let manager = deadpool_redis::Manager::new(info).map_err(|e| failed(&e))?;
                Pool::builder(manager)
                    .max_size(16)
                    .wait_timeout(Some(settings.timeout))
                    .create_timeout(Some(settings.timeout * 2))
                    .recycle_timeout(Some(settings.timeout))
                    .runtime(Runtime::Tokio1)
                    .build()
                    .map(Pools::Single)
                    .map_err(|e| failed(&e))
            }
            RedisMode::Sentinel {
                master,
                nodes,
                password,
            } => {
                Self::no_ca_file(settings)?;
                let urls: Vec<String> = nodes
                    .iter()
                    .map(|node| settings.url_with(node, None, password.as_deref()))
                    .collect();
                // How to reach the master the Sentinels name.
                let node_info = deadpool_redis::sentinel::SentinelNodeConnectionInfo {
                    tls_mode: settings
                        .tls
                        .then_some(deadpool_redis::sentinel::TlsMode::Secure),
                    redis_connection_info: Some(deadpool_redis::RedisConnectionInfo {
                        username: settings.username.clone(),
                        password: settings.password.clone(),
                        ..deadpool_redis::RedisConnectionInfo::default()
                    }),
                };
                let mut config = deadpool_redis::sentinel::Config::from_urls(
                    urls,
                    master.clone(),
                    deadpool_redis::sentinel::SentinelServerType::Master,
                )
                .with_node_connection_info(Some(node_info));
                config.pool = Some(pool_config(settings));
                config
                    .create_pool(Some(Runtime::Tokio1))
                    .map(Pools::Sentinel)
                    .map_err(|e| failed(&e))
            }
            RedisMode::Cluster { nodes } => {
                Self::no_ca_file(settings)?;
                let urls: Vec<String> = nodes.iter().map(|node| settings.node_url(node)).collect();
                let mut config = deadpool_redis::cluster::Config::from_urls(urls);
                config.pool = Some(pool_config(settings));
                config
                    .create_pool(Some(Runtime::Tokio1))
                    .map(Pools::Cluster)
                    .map_err(|e| failed(&e))
            }
        }
    }

    fn no_ca_file(settings: &RedisSettings) -> Result<(), String> {
        match &settings.ca_file {
            Some(_) => Err(
                "ORGMAN_REDIS_CA_FILE applies to a single server; Sentinel and Cluster connections over TLS trust the system's roots".to_owned(),
            ),
            None => Ok(()),
        }
    }

    /// A connection of its own, out of the pool (the pool opened and
    /// checked it).
    async fn take(&self) -> Result<Shared, String> {
        Ok(match self {
            Pools::Single(pool) => Shared::Single(deadpool_redis::Connection::take(
                pool.get().await.map_err(|e| e.to_string())?,
            )),
            Pools::Sentinel(pool) => Shared::Single(deadpool_redis::sentinel::Connection::take(
                pool.get().await.map_err(|e| e.to_string())?,
            )),
            Pools::Cluster(pool) => Shared::Cluster(deadpool_redis::cluster::Connection::take(
                pool.get().await.map_err(|e| e.to_string())?,
            )),
        })
    }
}

fn pool_config(settings: &RedisSettings) -> deadpool_redis::PoolConfig {
    deadpool_redis::PoolConfig {
        max_size: 16,
        timeouts: deadpool_redis::Timeouts {
            wait: Some(settings.timeout),
            create: Some(settings.timeout * 2),
            recycle: Some(settings.timeout),
        },
        ..deadpool_redis::PoolConfig::default()
    }
}

/// The connection every call shares: multiplexed to one server (the
/// Sentinels' current master included), or to a Cluster, which routes each
/// command by its keys' slot.
#[derive(Clone)]
enum Shared {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Shared {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Shared::Single(c) => c.req_packed_command(cmd),
            Shared::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Shared::Single(c) => c.req_packed_commands(cmd, offset, count),
            Shared::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Shared::Single(c) => c.get_db(),
            Shared::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_layout_every_replica_reads() {
        let settings = RedisSettings::from_env(|name| match name {
            "SPRING_REDIS_HOST" => Some("127.0.0.1".into()),
            "ORGMAN_CACHE_KEY_PREFIX" => Some("acme".into()),
            _ => None,
        })
        .unwrap();
        let cache = RedisCache::connect(settings).unwrap();
        let org: OrganizationId = "6f1e2a3b-0000-4000-8000-00000000000a".parse().unwrap();
        let user: UserId = "6f1e2a3b-0000-4000-8000-00000000000b".parse().unwrap();
        assert_eq!(cache.generation_key(org), format!("acme:v2:gen:{org}"));
        assert_eq!(
            cache.role_key(org, user),
            format!("acme:v2:role:{org}:{user}:")
        );
        assert_eq!(
            cache.grants_key(org, user),
            format!("acme:v2:grants:{org}:{user}:")
        );
        assert_eq!(cache.organization_key(org), format!("acme:v2:org:{org}:"));
        assert_eq!(
            cache.decision_key(org, user, Permission::MembersRead),
            format!("acme:v2:decision:{org}:{user}:read_members:")
        );
    }
}
