//! Bearer token verification: RS256 JWTs checked against the identity
//! provider's keys, found by OIDC discovery and cached. An unknown key id
//! triggers a refresh of the key set, at most once per
//! `jwks_min_refresh`; while the provider is down, tokens signed by cached
//! keys keep verifying.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use crate::config::AuthConfig;

/// The claims orgman reads from an access token (Keycloak's shape).
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    /// The user (Keycloak's user id).
    pub sub: String,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Login name.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Keycloak's token type: `Bearer` for access tokens, `ID` for ID
    /// tokens, `Refresh` for refresh tokens. Other providers may omit it.
    #[serde(default)]
    pub typ: Option<String>,
    /// Realm roles.
    #[serde(default)]
    pub realm_access: RealmAccess,
    /// Everything else (the organization claim is configurable).
    #[serde(flatten)]
    pub other: HashMap<String, serde_json::Value>,
}

/// Keycloak's `realm_access` claim.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RealmAccess {
    /// Realm role names.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is malformed, expired, wrongly signed or not for us.
    #[error("{0}")]
    Invalid(String),
    /// The key set cannot be fetched and the token's key is not cached.
    #[error("identity provider unavailable: {0}")]
    ProviderUnavailable(String),
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    issuer: Option<String>,
    /// Why the last refresh failed, while the provider is unreachable.
    last_failure: Option<String>,
}

/// Verifies access tokens. Shared by all workers.
pub struct TokenVerifier {
    config: AuthConfig,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    last_refresh: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.config.issuer())
            .finish()
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl TokenVerifier {
    /// A verifier; keys are fetched on first use.
    pub fn new(config: AuthConfig, http: reqwest::Client) -> Arc<Self> {
        Arc::new(Self {
            config,
            http,
            cache: RwLock::new(KeyCache::default()),
            last_refresh: Mutex::new(None),
        })
    }

    /// Fetches discovery and the key set now (at start-up, to fail early and
    /// log it; a failure is not fatal: the next token retries).
    ///
    /// # Errors
    /// [`AuthError::ProviderUnavailable`].
    pub async fn warm_up(&self) -> Result<(), AuthError> {
        self.refresh(true).await
    }

    /// Whether the provider's discovery document answers (for health).
    ///
    /// # Errors
    /// [`AuthError::ProviderUnavailable`].
    pub async fn probe(&self) -> Result<(), AuthError> {
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer());
        self.http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map(drop)
            .map_err(|e| AuthError::ProviderUnavailable(e.to_string()))
    }

    /// Whether the key set has been loaded at least once (for health).
    pub async fn has_keys(&self) -> bool {
        !self.cache.read().await.keys.is_empty()
    }

    /// Verifies a token and returns its claims.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for any token that must be refused;
    /// [`AuthError::ProviderUnavailable`] when the key is unknown and the
    /// provider cannot be asked.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Invalid(format!("malformed token: {e}")))?;
        // Only RS256: refuses `none`, HS* signed with the public key, and
        // anything else.
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Invalid("token has no key id".into()))?;
        if !self.cache.read().await.keys.contains_key(&kid) {
            self.refresh(false).await?;
        }
        let cache = self.cache.read().await;
        let key = match cache.keys.get(&kid) {
            Some(key) => key,
            // The provider could not be asked: the key may well be new.
            None if cache.last_failure.is_some() => {
                return Err(AuthError::ProviderUnavailable(
                    cache.last_failure.clone().unwrap_or_default(),
                ));
            }
            None => return Err(AuthError::Invalid("token signed by an unknown key".into())),
        };
        let issuer = cache.issuer.clone().unwrap_or_else(|| self.config.issuer());
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        match &self.config.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss", "sub"]);
            }
        }
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::Invalid(format!("token refused: {e}")))?;
        // Only access tokens: an ID token of the same realm is signed by the
        // same key (and passes when the audience check is off).
        match &claims.typ {
            Some(typ) if !typ.eq_ignore_ascii_case("Bearer") => Err(AuthError::Invalid(format!(
                "a token of type {typ:?} is not an access token"
            ))),
            _ => Ok(claims),
        }
    }

    /// Reloads discovery and keys, unless done too recently (`force` skips
    /// the rate limit).
    async fn refresh(&self, force: bool) -> Result<(), AuthError> {
        let mut last = self.last_refresh.lock().await;
        if let Some(at) = *last {
            if !force && at.elapsed() < self.config.jwks_min_refresh {
                return Ok(());
            }
        }
        *last = Some(Instant::now());
        let result = self.fetch_keys().await;
        let mut cache = self.cache.write().await;
        match result {
            Ok((issuer, keys)) => {
                tracing::info!(%issuer, keys = keys.len(), "loaded the identity provider's signing keys");
                cache.keys = keys;
                cache.issuer = Some(issuer);
                cache.last_failure = None;
                Ok(())
            }
            Err(error) => {
                // Keep the keys we have: issued tokens keep verifying.
                cache.last_failure = Some(error.to_string());
                Err(error)
            }
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, AuthError> {
        let unavailable = |e: reqwest::Error| AuthError::ProviderUnavailable(e.to_string());
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }

    async fn fetch_keys(&self) -> Result<(String, HashMap<String, DecodingKey>), AuthError> {
        let discovery: Discovery = self
            .get_json(&format!(
                "{}/.well-known/openid-configuration",
                self.config.issuer()
            ))
            .await?;
        let jwks: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let keys: HashMap<String, DecodingKey> = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        Ok((discovery.issuer, keys))
    }
}
