//! When API keys were last used, without a database write per request: a
//! use is noted in memory (a key seen within the interval is not noted
//! again), and a task writes what was noted once per interval, in one
//! statement. So each replica writes a key's `lastUsedAt` at most once per
//! interval (`ORGMAN_API_KEYS_LAST_USED_SECONDS`, default 60), and the
//! listing is that interval behind at most. Uses noted while the database
//! is down are kept for the next round.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orgman_domain::time::OffsetDateTime;
use orgman_domain::{ApiKeyId, ApiKeyService};
use tokio::task::JoinHandle;

/// The noted uses.
#[derive(Debug)]
pub(crate) struct KeyUsage {
    interval: Duration,
    state: Mutex<Noted>,
}

#[derive(Debug, Default)]
struct Noted {
    /// When each key was last noted (to skip it until the interval ends).
    seen: HashMap<ApiKeyId, Instant>,
    /// Uses not written yet.
    pending: HashMap<ApiKeyId, OffsetDateTime>,
}

impl KeyUsage {
    /// Uses coalesced per `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(Noted::default()),
        }
    }

    /// Notes that `key` was used now: a map lookup, and nothing more if the
    /// key was noted within the interval.
    pub(crate) fn note(&self, key: ApiKeyId) {
        let now = Instant::now();
        let mut noted = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = noted
            .seen
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < self.interval);
        if !fresh {
            noted.seen.insert(key, now);
            noted.pending.insert(key, OffsetDateTime::now_utc());
        }
    }

    /// The uses to write now, and forgets keys not seen for an interval.
    fn take(&self) -> Vec<(ApiKeyId, OffsetDateTime)> {
        let now = Instant::now();
        let mut noted = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let interval = self.interval;
        noted
            .seen
            .retain(|_, at| now.duration_since(*at) < interval);
        noted.pending.drain().collect()
    }

    /// Puts back uses that could not be written (a newer one wins).
    fn put_back(&self, used: Vec<(ApiKeyId, OffsetDateTime)>) {
        let mut noted = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (key, at) in used {
            noted.pending.entry(key).or_insert(at);
        }
    }

    /// Writes the noted uses every interval.
    pub(crate) fn spawn(self: Arc<Self>, keys: Arc<ApiKeyService>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let used = self.take();
                if let Err(error) = keys.record_use(&used).await {
                    tracing::warn!(%error, keys = used.len(), "cannot record API keys' last use now; will retry");
                    self.put_back(used);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_noted_once_per_interval_and_what_failed_is_kept() {
        let usage = KeyUsage::new(Duration::from_secs(3600));
        let (a, b) = (
            ApiKeyId::from_uuid(uuid::Uuid::from_u128(1)),
            ApiKeyId::from_uuid(uuid::Uuid::from_u128(2)),
        );
        for _ in 0..100 {
            usage.note(a);
        }
        usage.note(b);
        let mut taken = usage.take();
        taken.sort_by_key(|(key, _)| *key);
        assert_eq!(taken.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [a, b]);
        usage.note(a);
        assert!(usage.take().is_empty(), "within the interval: not again");
        usage.put_back(taken);
        assert_eq!(usage.take().len(), 2, "a failed write is retried");
        let short = KeyUsage::new(Duration::ZERO);
        short.note(a);
        short.note(a);
        assert_eq!(short.take().len(), 1, "one pending use per key");
    }
}
