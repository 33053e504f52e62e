//! [`OidcDiscovery`]: the domain's [`IssuerDiscovery`], the SSO connection
//! test's outbound OpenID Connect discovery, guarded against server-side
//! request forgery.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use orgman_domain::ports::{IssuerDiscovery, IssuerProbe};
use orgman_domain::{IssuerUrl, OrgError};

/// Discovery from the server: only public addresses unless
/// `allow_private` (development).
#[derive(Debug, Clone, Copy)]
pub struct OidcDiscovery {
    allow_private: bool,
}

impl OidcDiscovery {
    /// Discovery refusing private, loopback and link-local addresses unless
    /// `allow_private`.
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

#[async_trait]
impl IssuerDiscovery for OidcDiscovery {
    async fn discover(&self, issuer: &IssuerUrl) -> Result<IssuerProbe, OrgError> {
        discover(issuer, self.allow_private).await
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
                || (a == 100 && (64..128).contains(&b)))
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
                || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1))
        }
    }
}

/// How long the issuer's name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// The largest discovery document read.
const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// OIDC discovery against the issuer, guarded against server-side request
/// forgery: the host is resolved once, every address must be public (unless
/// allowed), the request goes to that address, and redirects are not
/// followed.
async fn discover(issuer: &IssuerUrl, allow_private: bool) -> Result<IssuerProbe, OrgError> {
    let host = issuer.host().to_owned();
    // The address is taken from the URL as the HTTP client parses it, and
    // must be the host the issuer rule checked.
    let parsed = url::Url::parse(issuer.as_str())
        .map_err(|e| OrgError::IssuerNotAllowed(format!("the issuer URL does not parse: {e}")))?;
    let parsed_host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if !parsed_host.eq_ignore_ascii_case(&host) || !parsed.username().is_empty() {
        return Err(OrgError::IssuerNotAllowed(
            "the issuer URL names its host ambiguously".to_owned(),
        ));
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let refused = |detail: String| OrgError::IssuerNotAllowed(detail);
    // The system resolver may wait far longer than a caller should.
    let lookup = tokio::time::timeout(
        RESOLVE_TIMEOUT,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .unwrap_or_else(|_| Err(std::io::Error::other("no answer in time")));
    let addresses: Vec<SocketAddr> = match lookup {
        Ok(found) => found.collect(),
        Err(error) => {
            return Ok(IssuerProbe {
                reachable: false,
                reported_issuer: None,
                detail: format!("cannot resolve {host}: {error}"),
            });
        }
    };
    let Some(first) = addresses.first().copied() else {
        return Ok(IssuerProbe {
            reachable: false,
            reported_issuer: None,
            detail: format!("{host} has no address"),
        });
    };
    if !allow_private && addresses.iter().any(|a| !is_public(a.ip())) {
        return Err(refused(format!(
            "{host} resolves to a private, loopback or link-local address"
        )));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Straight to the address checked above, never through a proxy
        // from the environment.
        .no_proxy()
        .resolve(&host, first)
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| OrgError::Internal(format!("cannot build the discovery client: {e}")))?;
    let url = format!("{issuer}/.well-known/openid-configuration");
    let response = match client.get(&url).send().await {
        Ok(response) => response,
        Err(error) => {
            return Ok(IssuerProbe {
                reachable: false,
                reported_issuer: None,
                detail: format!("discovery failed: {error}"),
            });
        }
    };
    if !response.status().is_success() {
        return Ok(IssuerProbe {
            reachable: false,
            reported_issuer: None,
            detail: format!("discovery answered {}", response.status()),
        });
    }
    // At most 64 KiB of discovery document is read.
    let mut response = response;
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_DISCOVERY_BYTES => {
                body.extend_from_slice(&chunk);
            }
            Ok(Some(_)) => {
                return Ok(IssuerProbe {
                    reachable: false,
                    reported_issuer: None,
                    detail: format!(
                        "the discovery document is larger than {} KiB",
                        MAX_DISCOVERY_BYTES / 1024
                    ),
                });
            }
            Ok(None) => break,
            Err(error) => {
                return Ok(IssuerProbe {
                    reachable: false,
                    reported_issuer: None,
                    detail: format!("discovery failed: {error}"),
                });
            }
        }
    }
    let document: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(document) => document,
        Err(_) => {
            return Ok(IssuerProbe {
                reachable: false,
                reported_issuer: None,
                detail: "discovery did not answer JSON".into(),
            });
        }
    };
    let reported = document["issuer"].as_str().map(str::to_owned);
    let matches = reported.as_deref().map(|r| r.trim_end_matches('/')) == Some(issuer.as_str());
    Ok(IssuerProbe {
        reachable: matches,
        detail: if matches {
            "discovery document found".into()
        } else {
            "the provider reports another issuer".into()
        },
        reported_issuer: reported,
    })
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
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
