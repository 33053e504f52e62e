//! A small per-client rate limit for the endpoints anyone may call.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `limit` requests per client address in each window of a
/// minute (fixed windows). Memory is bounded: past `MAX_CLIENTS` addresses,
/// expired windows are dropped, and if that frees nothing every window
/// starts again (the limit then errs on the side of answering).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    const MAX_CLIENTS: usize = 10_000;

    /// `limit` requests per minute and address; 0 means no limit.
    pub(crate) fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window: Duration::from_secs(60),
            clients: Mutex::default(),
        }
    }

    /// Counts a request of `client` at `now`; `Err` with the seconds until
    /// its window ends when it is over the limit.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Result<(), u32> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= Self::MAX_CLIENTS && !clients.contains_key(&client) {
            let window = self.window;
            clients.retain(|_, (start, _)| now.duration_since(*start) < window);
            if clients.len() >= Self::MAX_CLIENTS {
                clients.clear();
            }
        }
        let entry = clients.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(u32::try_from(left.as_secs()).unwrap_or(60).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn each_client_gets_its_limit_per_window() {
        let limiter = RateLimiter::per_minute(3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(address(1), start), Ok(()));
        }
        let refused = limiter.check(address(1), start + Duration::from_secs(20));
        assert_eq!(refused, Err(40));
        // Another client is not affected.
        assert_eq!(limiter.check(address(2), start), Ok(()));
        // A new window starts after a minute.
        assert_eq!(
            limiter.check(address(1), start + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn zero_is_no_limit() {
        let limiter = RateLimiter::per_minute(0);
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(limiter.check(address(1), now), Ok(()));
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = RateLimiter::per_minute(1);
        let now = Instant::now();
        for n in 0..(RateLimiter::MAX_CLIENTS as u32 + 10) {
            let ip = IpAddr::from(n.to_be_bytes());
            assert_eq!(limiter.check(ip, now), Ok(()));
        }
        assert!(limiter.clients.lock().unwrap().len() <= RateLimiter::MAX_CLIENTS);
    }
}
