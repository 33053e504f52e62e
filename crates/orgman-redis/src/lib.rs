//! Redis cache for orgman: implements the domain's
//! [`MembershipCache`](orgman_domain::ports::MembershipCache) with
//! deadpool-redis.
//!
//! **What is cached**: a user's role in an organization (including "not a
//! member"), organizations by id, and a user's list of organizations (the
//! first page, when it is the whole list), each for
//! `ORGMAN_CACHE_TTL_SECONDS` (30 s by default). A list records the
//! generation of every organization in it and is served only while none
//! changed; it is stored only if nothing was invalidated since its miss
//! (a global epoch).
//!
//! **Invalidation**: every organization has a generation counter
//! (`orgman:v1:gen:<org>`); entries live under keys that include the
//! generation they were read in. Invalidating bumps the counter, which
//! orphans every entry of the organization for every replica at once (they
//! expire by TTL). A reader stores what it read under the generation it saw
//! at its miss (the lease), so a read that raced a change can never be
//! served after the change's invalidation. Keys carry a version (`v1`) so a
//! new value format never meets an old one.
//!
//! **Degradation**: every Redis call has a short timeout; an error or a
//! timeout is a miss (reads go to PostgreSQL), is counted, and is logged at
//! most once per 10 seconds. Caching resumes by itself when Redis answers
//! again. If an invalidation cannot be written, this process bypasses the
//! cache for that organization until it can; other replicas may serve the
//! old entry until its TTL ends: the documented bound of staleness is the
//! TTL, and only while Redis was unreachable for the invalidation but
//! reachable for the reads.
//!
//! Redis Sentinel and Cluster are not supported (one endpoint, optionally
//! TLS with `rediss://`).

mod cache;
mod settings;

pub use cache::{CacheStats, RedisCache};
pub use settings::RedisSettings;
