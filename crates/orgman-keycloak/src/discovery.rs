//! [`OidcDiscovery`]: the domain's [`IssuerDiscovery`], the SSO connection
//! test's outbound OpenID Connect discovery, guarded against server-side
//! request forgery.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use orgman_domain::ports::{IssuerDiscovery, IssuerProbe};
use orgman_domain::{IdentityError, IssuerUrl, OrgError};

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

/// Which addresses an issuer's endpoints may resolve to: [`is_public`]
/// in production. It is a parameter so that tests can change what counts
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

    fn admits(&self, addresses: &[SocketAddr]) -> bool {
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

/// How long the issuer's name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// The largest discovery document read.
const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// OIDC discovery against the issuer, guarded against server-side request
/// forgery: the host is resolved once, every address must be public (unless
/// allowed), the request goes to that address, and redirects are not
/// followed.
async fn discover(issuer: &IssuerUrl, allow_private: bool) -> Result<IssuerProbe, OrgError> {
    let document = match fetch(issuer, &AddressRule::new(allow_private)).await? {
        Fetched::Document(document) => document,
        Fetched::Unreachable(detail) => {
            return Ok(IssuerProbe {
                reachable: false,
                reported_issuer: None,
                detail,
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

/// An issuer's endpoints as the login broker will use them, each checked
/// against the issuer rules ([`provider_endpoints`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderEndpoints {
    /// Where browsers are sent to log in.
    pub authorization: String,
    /// Where the broker exchanges codes (called by the broker).
    pub token: String,
    /// The provider's keys (called by the broker).
    pub jwks: String,
    /// User info (called by the broker), if offered.
    pub userinfo: Option<String>,
    /// Where browsers log out, if offered.
    pub end_session: Option<String>,
}

/// Discovers an issuer's endpoints for the login broker, which will call
/// them itself: the document is fetched with the guards of the connection
/// test, must name the configured issuer, and every endpoint must use
/// `https`; those the broker calls (token, keys, user info) must resolve
/// to public addresses only. With `allow_private` (development), `http`
/// and private addresses are accepted.
///
/// # Errors
/// [`IdentityError::Rejected`] for an issuer or endpoint the rules refuse,
/// or a document that is not an OpenID provider's;
/// [`IdentityError::Unavailable`] when the issuer cannot be reached now.
pub async fn provider_endpoints(
    issuer: &IssuerUrl,
    rule: &AddressRule,
) -> Result<ProviderEndpoints, IdentityError> {
    let document = match fetch(issuer, rule).await {
        Ok(Fetched::Document(document)) => document,
        Ok(Fetched::Unreachable(why)) => return Err(IdentityError::Unavailable(why)),
        Err(OrgError::IssuerNotAllowed(why)) => return Err(IdentityError::Rejected(why)),
        Err(other) => return Err(IdentityError::Unavailable(other.to_string())),
    };
    let reported = document["issuer"].as_str().unwrap_or_default();
    if reported.trim_end_matches('/') != issuer.as_str() {
        return Err(IdentityError::Rejected(format!(
            "the provider reports the issuer {reported:?}, not {issuer}"
        )));
    }
    let field = |name: &str| document[name].as_str().map(str::to_owned);
    let required = |name: &str| {
        field(name)
            .ok_or_else(|| IdentityError::Rejected(format!("the discovery document has no {name}")))
    };
    let endpoints = ProviderEndpoints {
        authorization: required("authorization_endpoint")?,
        token: required("token_endpoint")?,
        jwks: required("jwks_uri")?,
        userinfo: field("userinfo_endpoint"),
        end_session: field("end_session_endpoint"),
    };
    check_endpoint(&endpoints.authorization, false, rule).await?;
    for called in [
        Some(&endpoints.token),
        Some(&endpoints.jwks),
        endpoints.userinfo.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        check_endpoint(called, true, rule).await?;
    }
    if let Some(end_session) = &endpoints.end_session {
        check_endpoint(end_session, false, rule).await?;
    }
    Ok(endpoints)
}

/// One endpoint: `https` (unless `allow_private`), no credentials; when the
/// broker calls it (`called`), every address of its host public (unless
/// `allow_private`).
async fn check_endpoint(
    endpoint: &str,
    called: bool,
    rule: &AddressRule,
) -> Result<(), IdentityError> {
    let refused = |why: &str| IdentityError::Rejected(format!("endpoint {endpoint:?} {why}"));
    let url = url::Url::parse(endpoint).map_err(|_| refused("is not a URL"))?;
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() || !url.username().is_empty() || url.password().is_some() {
        return Err(refused("has no host or carries credentials"));
    }
    match url.scheme() {
        "https" => {}
        "http" if rule.allow_http => {}
        _ => return Err(refused("must use https")),
    }
    if !called {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> =
        tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("no answer in time")))
            .map_err(|e| IdentityError::Unavailable(format!("cannot resolve {host}: {e}")))?
            .collect();
    if !rule.admits(&addresses) {
        return Err(refused(
            "resolves to a private, loopback or link-local address",
        ));
    }
    Ok(())
}

/// What fetching a discovery document gave.
enum Fetched {
    /// The document, as JSON.
    Document(serde_json::Value),
    /// Why there is none (for people).
    Unreachable(String),
}

/// Fetches the issuer's discovery document with the guards of
/// [`discover`].
async fn fetch(issuer: &IssuerUrl, rule: &AddressRule) -> Result<Fetched, OrgError> {
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
            return Ok(Fetched::Unreachable(format!(
                "cannot resolve {host}: {error}"
            )));
        }
    };
    let Some(first) = addresses.first().copied() else {
        return Ok(Fetched::Unreachable(format!("{host} has no address")));
    };
    if !rule.admits(&addresses) {
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
            return Ok(Fetched::Unreachable(format!("discovery failed: {error}")));
        }
    };
    if !response.status().is_success() {
        return Ok(Fetched::Unreachable(format!(
            "discovery answered {}",
            response.status()
        )));
    }
    Ok(read_document(response).await)
}

/// The discovery document of a successful answer: at most
/// [`MAX_DISCOVERY_BYTES`] of JSON.
async fn read_document(mut response: reqwest::Response) -> Fetched {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_DISCOVERY_BYTES => {
                body.extend_from_slice(&chunk);
            }
            Ok(Some(_)) => {
                return Fetched::Unreachable(format!(
                    "the discovery document is larger than {} KiB",
                    MAX_DISCOVERY_BYTES / 1024
                ));
            }
            Ok(None) => break,
            Err(error) => return Fetched::Unreachable(format!("discovery failed: {error}")),
        }
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(document) => Fetched::Document(document),
        Err(_) => Fetched::Unreachable("discovery did not answer JSON".into()),
    }
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
