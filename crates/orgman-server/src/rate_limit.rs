//! A small per-client rate limit for the endpoints anyone may call, and
//! who the client is: the peer, or behind a trusted proxy the address the
//! proxy saw.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// Whom a request counts against: an IPv4 address, or an IPv6 /64 (one
/// host usually holds a whole /64, so single IPv6 addresses would let it
/// count as billions of clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of `address`; IPv4-mapped IPv6 addresses count as IPv4.
    pub(crate) fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed
/// (`ORGMAN_TRUSTED_PROXIES`). Without any, the peer is the client.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// The proxies in `networks`.
    pub(crate) fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client of a request from `peer` carrying `forwarded_for` (the
    /// `X-Forwarded-For` values, in header order). The header is read only
    /// when the peer is trusted, from the right: each trusted proxy
    /// appended the address it saw, so the first untrusted address is the
    /// client. An entry that is not an address ends the walk there.
    pub(crate) fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded_for.iter().flat_map(|value| value.split(','));
        for hop in hops.rev().map(str::trim) {
            let Ok(address) = hop.parse::<IpAddr>() else {
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

/// Parses a comma-separated list of addresses and CIDR blocks
/// (`ORGMAN_TRUSTED_PROXIES`).
pub(crate) fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{entry:?} is not an IP address or CIDR block"))
        })
        .collect()
}

/// At most `limit` requests per client in each window of a minute (fixed
/// windows). Memory is bounded: past `capacity` clients, the windows that
/// ended are dropped first, then those of clients under their limit (they
/// lose nothing but their count), and only then, oldest first, those of
/// clients over it, so fresh addresses cannot free a limited client.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    window: Duration,
    capacity: usize,
    clients: Mutex<HashMap<ClientKey, (Instant, u32)>>,
}

impl RateLimiter {
    const CAPACITY: usize = 10_000;

    /// `limit` requests per minute and client; 0 means no limit.
    pub(crate) fn per_minute(limit: u32) -> Self {
        Self::with_capacity(limit, Self::CAPACITY)
    }

    fn with_capacity(limit: u32, capacity: usize) -> Self {
        Self {
            limit,
            window: Duration::from_secs(60),
            capacity,
            clients: Mutex::default(),
        }
    }

    /// Counts a request of `client` at `now`; `Err` with the seconds until
    /// its window ends when it is over the limit.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Result<(), u32> {
        if self.limit == 0 {
            return Ok(());
        }
        let key = ClientKey::of(client);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= self.capacity && !clients.contains_key(&key) {
            self.evict(&mut clients, now);
        }
        let entry = clients.entry(key).or_insert((now, 0));
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

    /// Frees a tenth of the capacity (so that a stream of new clients pays
    /// for a sweep once per thousand of them, not at every request).
    fn evict(&self, clients: &mut HashMap<ClientKey, (Instant, u32)>, now: Instant) {
        let target = self.capacity - self.capacity.div_ceil(10);
        let window = self.window;
        clients.retain(|_, (start, _)| now.duration_since(*start) < window);
        if clients.len() <= target {
            return;
        }
        // Oldest first, within each class: under the limit, then over it.
        let mut order: Vec<(bool, Instant, ClientKey)> = clients
            .iter()
            .map(|(key, (start, count))| (*count >= self.limit, *start, *key))
            .collect();
        order.sort_unstable_by_key(|(limited, start, _)| (*limited, *start));
        let excess = clients.len() - target;
        for (_, _, key) in order.into_iter().take(excess) {
            clients.remove(&key);
        }
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
    fn a_limited_client_stays_limited_while_fresh_addresses_come_and_go() {
        let limiter = RateLimiter::per_minute(2);
        let start = Instant::now();
        let flooder = IpAddr::from([203, 0, 113, 7]);
        assert_eq!(limiter.check(flooder, start), Ok(()));
        assert_eq!(limiter.check(flooder, start), Ok(()));
        assert!(limiter.check(flooder, start).is_err());
        for n in 0..=(RateLimiter::CAPACITY as u32) {
            let fresh = IpAddr::from((0x0a00_0000 + n).to_be_bytes());
            let later = start + Duration::from_millis(u64::from(n));
            assert_eq!(limiter.check(fresh, later), Ok(()));
            assert!(limiter.clients.lock().unwrap().len() <= RateLimiter::CAPACITY);
        }
        let still = start + Duration::from_secs(30);
        assert_eq!(limiter.check(flooder, still), Err(30));
    }

    #[test]
    fn when_every_client_is_limited_the_oldest_windows_go_first() {
        let limiter = RateLimiter::with_capacity(1, 10);
        let start = Instant::now();
        for n in 0..10 {
            let at = start + Duration::from_secs(u64::from(n));
            assert_eq!(limiter.check(address(n), at), Ok(()));
        }
        let at = start + Duration::from_secs(10);
        assert_eq!(limiter.check(address(100), at), Ok(()));
        let clients = limiter.clients.lock().unwrap();
        assert!(clients.len() <= 10);
        assert!(!clients.contains_key(&ClientKey::of(address(0))));
        assert!(clients.contains_key(&ClientKey::of(address(9))));
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let limiter = RateLimiter::per_minute(2);
        let now = Instant::now();
        let host = |suffix: u16| IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, suffix]);
        assert_eq!(limiter.check(host(1), now), Ok(()));
        assert_eq!(limiter.check(host(2), now), Ok(()));
        assert!(limiter.check(host(3), now).is_err(), "same /64");
        let neighbour = IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]);
        assert_eq!(limiter.check(neighbour, now), Ok(()), "another /64");
        // IPv4-mapped addresses count as the IPv4 address.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(ClientKey::of(mapped), ClientKey::of(address(1)));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::new(parse_networks("10.0.0.0/8, 192.168.1.1").unwrap());
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        // A stranger's header is ignored.
        assert_eq!(proxies.client(stranger, &["203.0.113.5"]), stranger);
        // Behind a proxy, the rightmost untrusted hop is the client; what
        // the client itself wrote further left does not count.
        assert_eq!(
            proxies.client(proxy, &["1.1.1.1, 203.0.113.5", "192.168.1.1"]),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        // No header: the proxy itself.
        assert_eq!(proxies.client(proxy, &[]), proxy);
        // Garbage ends the walk at the last good hop.
        assert_eq!(proxies.client(proxy, &["203.0.113.5, garbage"]), proxy);
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(TrustedProxies::default().client(proxy, &["203.0.113.5"]) == proxy);
    }
}
