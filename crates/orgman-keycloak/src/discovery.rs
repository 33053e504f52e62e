//! [`OidcDiscovery`]: the domain's [`IssuerDiscovery`], the SSO connection
//! test's outbound OpenID Connect discovery, guarded against server-side
//! request forgery.

use std::time::Duration;

use async_trait::async_trait;
use orgman_domain::ports::{IssuerDiscovery, IssuerProbe};
use orgman_domain::{IdentityError, IssuerUrl, OrgError};
pub use orgman_egress::{AddressRule, is_public};

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
    match orgman_egress::resolve(host, port, rule).await {
        Ok(_) => {}
        Err(orgman_egress::Refusal::Unresolved(why)) => {
            return Err(IdentityError::Unavailable(why));
        }
        Err(orgman_egress::Refusal::Refused(_)) => {
            return Err(refused(
                "resolves to a private, loopback or link-local address",
            ));
        }
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
    let first = match orgman_egress::resolve(&host, port, rule).await {
        Ok(addresses) => addresses[0],
        Err(orgman_egress::Refusal::Unresolved(why)) => return Ok(Fetched::Unreachable(why)),
        Err(orgman_egress::Refusal::Refused(why)) => return Err(OrgError::IssuerNotAllowed(why)),
    };
    let client = orgman_egress::pinned_client(&host, first, Duration::from_secs(5))
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
