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
//! **Invalidation**: every organization has a generation
//! (`orgman:v2:gen:<org>`), a value of a shared counter that is never used
//! twice, and so has the platform (the nil UUID's), whose bump holds for
//! every organization: an organization's entries live under the larger of
//! the two. An entry holds the generation it was read in
//! (`<generation>|<value>`) and is served only while that is current, so
//! invalidating orphans every entry of the organization for every replica
//! at once (they expire by TTL). A reader stores what it read with the
//! generation it saw at its miss (the lease), so a read that raced a
//! change can never be served after the change's invalidation, even when
//! it overwrote a newer entry. A lookup reads the generations and the
//! entries with one `MGET`; only a missing generation takes a script that
//! gives it a fresh value. Keys carry a version (`v2`) so a new value
//! format never meets an old one.
//!
//! **Revocation is never late**: before committing a change that takes
//! access away (a member removed, a role changed, a purge), the domain
//! fences the organization: its generation becomes `fenced` for as long as
//! entries live, so no replica reads or stores its entries until the
//! invalidation after the commit gives it a new generation. If Redis fails
//! for the writer after its commit, the fence stays until it expires, and by
//! then every entry from before the change has expired too. If the fence
//! itself cannot be set, the change is not made (503).
//!
//! **Degradation**: every Redis call has a short timeout; an error or a
//! timeout is a miss (reads go to PostgreSQL), is counted, and is logged at
//! most once per 10 seconds. Caching resumes by itself when Redis answers
//! again. If an invalidation cannot be written, this process bypasses the
//! cache for that organization until it can. Changes that add access or
//! rename stay possible while Redis is down (other replicas may show the
//! old name or deny a new member for at most the TTL); changes that revoke
//! access need Redis for their fence.
//!
//! Redis Sentinel and Cluster are not supported (one endpoint, optionally
//! TLS with `rediss://`).

mod cache;
mod settings;

pub use cache::{CacheStats, RedisCache};
pub use settings::{RedisMode, RedisSettings};
