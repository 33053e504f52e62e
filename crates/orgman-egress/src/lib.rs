//! Outbound HTTP to addresses users name (an SSO issuer, a webhook
//! endpoint), guarded against server-side request forgery: one rule of
//! which addresses may be reached ([`AddressRule`], [`is_public`]), a
//! resolution that applies it ([`resolve`]), and a client pinned to the
//! address checked that follows no redirect ([`pinned_client`]). The SSO
//! connection test and webhook delivery ([`HttpWebhooks`]) share them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

mod webhooks;

pub use webhooks::{HttpWebhooks, signature};

/// Which addresses a user-named URL may resolve to: [`is_public`] in
/// production. It is a parameter so that tests can change what counts
/// as public (on a test machine nothing does) and watch the check react.
#[derive(Clone)]
pub struct AddressRule {
    /// Plain `http` is accepted (development only).
    pub allow_http: bool,
    /// Whether an address may be reached.
    pub reachable: std::sync::Arc<dyn Fn(IpAddr) -> bool + Send + Sync>,
}

impl AddressRule {
    /// Public addresses over `https`, or with `allow_private` (development)
    /// any address and `http` too.
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_http: allow_private,
            reachable: if allow_private {
                std::sync::Arc::new(|_| true)
            } else {
                std::sync::Arc::new(is_public)
            },
        }
    }

    /// Whether every address may be reached (and there is at least one).
    pub fn admits_all(&self, addresses: &[SocketAddr]) -> bool {
        !addresses.is_empty() && addresses.iter().all(|a| (self.reachable)(a.ip()))
    }
}

impl std::fmt::Debug for AddressRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressRule")
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

/// Whether an address may be reached from the server on a user's behalf.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                // Benchmarking (198.18.0.0/15) and reserved (240.0.0.0/4).
                || (a == 198 && (b & 0xfe) == 18)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let first = segments[0];
            // NAT64 (64:ff9b::/96 well-known, 64:ff9b:1::/48 local-use)
            // reaches IPv4 addresses: judge the address it embeds.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // Deprecated site-local (fec0::/10).
                || (first & 0xffc0) == 0xfec0
                // 6to4 (2002::/16) reaches whichever IPv4 address it embeds,
                // through relays nobody here controls.
                || first == 0x2002
                || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1))
        }
    }
}

/// How long a host name may take to resolve.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a URL's host may not be called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The rule refuses it (for people).
    Refused(String),
    /// The name did not resolve now (for people).
    Unresolved(String),
}

/// Resolves `host` (once, within [`RESOLVE_TIMEOUT`]) and checks every
/// address against `rule`; returns the addresses, the first of which a
/// [`pinned_client`] should connect to.
///
/// # Errors
/// [`Refusal::Unresolved`] when the name does not resolve,
/// [`Refusal::Refused`] when an address is not reachable under the rule.
pub async fn resolve(
    host: &str,
    port: u16,
    rule: &AddressRule,
) -> Result<Vec<SocketAddr>, Refusal> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> =
        tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("no answer in time")))
            .map_err(|e| Refusal::Unresolved(format!("cannot resolve {host}: {e}")))?
            .collect();
    if addresses.is_empty() {
        return Err(Refusal::Unresolved(format!("{host} has no address")));
    }
    if !rule.admits_all(&addresses) {
        return Err(Refusal::Refused(format!(
            "{host} resolves to a private, loopback or link-local address"
        )));
    }
    Ok(addresses)
}

/// A client that reaches `host` only at `address` (never through a proxy
/// from the environment), follows no redirect, and gives up after
/// `timeout`.
///
/// # Errors
/// The client library's, when it cannot be built.
pub fn pinned_client(
    host: &str,
    address: SocketAddr,
    timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve(host.trim_start_matches('[').trim_end_matches(']'), address)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .build()
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn only_public_addresses_are_reachable() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            // NAT64 of 10.0.0.5 and of loopback; the local-use prefix.
            "64:ff9b::a00:5",
            "64:ff9b::7f00:1",
            "64:ff9b:1::808:808",
            // Benchmarking, reserved, site-local and 6to4.
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "255.255.255.254",
            "fec0::1",
            "feff::1",
            "2002:a00:1::1",
            "2002:808:808::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2001:4860::8888",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
