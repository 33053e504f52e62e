//! Bearer token verification: RS256 JWTs checked against the identity
//! provider's keys, found by OIDC discovery and cached. An unknown key id
//! triggers a refresh of the key set, at most once per
//! `jwks_min_refresh`; while the provider is down, tokens signed by cached
//! keys keep verifying.
//!
//! A token is verified once per process: its claims are kept, under the
//! SHA-256 of the whole token, until the token's `exp` (never longer), in a
//! bounded map that is emptied whenever the signing keys change. A clock
//! that passes `exp` makes the next request verify the token again, with the
//! configured leeway, as the first one did.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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
    /// Whether the identity provider verified `email` (Keycloak's
    /// `email_verified`); absent counts as not verified.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Login name.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Given name (OIDC's `given_name`).
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name (OIDC's `family_name`).
    #[serde(default)]
    pub family_name: Option<String>,
    /// Keycloak's token type: `Bearer` for access tokens, `ID` for ID
    /// tokens, `Refresh` for refresh tokens. Other providers may omit it.
    #[serde(default)]
    pub typ: Option<String>,
    /// The identity provider Keycloak brokered this login through (its
    /// alias; the `identity_provider` user-session note, put in the token
    /// by a session-note mapper). Absent for logins at the realm itself.
    #[serde(default)]
    pub identity_provider: Option<String>,
    /// The client the token was issued to (Keycloak's `azp`).
    #[serde(default)]
    pub azp: Option<String>,
    /// Expiry, seconds since the Unix epoch (required and checked).
    #[serde(default)]
    pub exp: u64,
    /// Realm roles.
    #[serde(default)]
    pub realm_access: RealmAccess,
    /// Everything else (the organization claim is configurable).
    #[serde(flatten)]
    pub other: HashMap<String, serde_json::Value>,
}

impl Claims {
    /// The claims a request made with an API key stands on: the key's id
    /// as subject, and nothing else (no address, no realm role).
    pub fn of_api_key(key: orgman_domain::ApiKeyId) -> Claims {
        Claims {
            sub: key.to_string(),
            email: None,
            email_verified: None,
            name: None,
            preferred_username: None,
            given_name: None,
            family_name: None,
            typ: None,
            identity_provider: None,
            azp: None,
            exp: 0,
            realm_access: RealmAccess::default(),
            other: HashMap::new(),
        }
    }
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

/// Tokens already verified, by the SHA-256 of the token.
struct VerifiedTokens {
    entries: StdMutex<HashMap<[u8; 32], Arc<Claims>>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// What the verified-token cache has done so far (for metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenCacheStats {
    /// Requests whose token was found, unexpired.
    pub hits: u64,
    /// Requests whose token had to be verified.
    pub misses: u64,
    /// Entries dropped to stay within capacity (expired ones excluded).
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn token_digest(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

impl VerifiedTokens {
    fn new(capacity: usize) -> Self {
        Self {
            entries: StdMutex::new(HashMap::new()),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<Claims>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The claims of a verified token still unexpired at `now` (Unix
    /// seconds).
    fn get(&self, key: &[u8; 32], now: u64) -> Option<Arc<Claims>> {
        let found = self
            .lock()
            .get(key)
            .filter(|claims| now < claims.exp)
            .cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers a verified token until its `exp`; expired entries make
    /// room first, then an eighth of the live ones if it must.
    fn insert(&self, key: [u8; 32], claims: Arc<Claims>, now: u64) {
        if self.capacity == 0 || now >= claims.exp {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, c| now < c.exp);
            if entries.len() >= self.capacity {
                // Still full of live tokens: drop an eighth, in the map's
                // (arbitrary) order.
                let drop: Vec<[u8; 32]> = entries
                    .keys()
                    .take((self.capacity / 8).max(1))
                    .copied()
                    .collect();
                for old in &drop {
                    entries.remove(old);
                }
                self.evictions
                    .fetch_add(drop.len() as u64, Ordering::Relaxed);
            }
        }
        entries.insert(key, claims);
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

/// Verifies access tokens. Shared by all workers.
pub struct TokenVerifier {
    config: AuthConfig,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    last_refresh: Mutex<Option<Instant>>,
    verified: VerifiedTokens,
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
        crate::jwt_crypto::install();
        Arc::new(Self {
            verified: VerifiedTokens::new(config.token_cache_size),
            config,
            http,
            cache: RwLock::new(KeyCache::default()),
            last_refresh: Mutex::new(None),
        })
    }

    /// What the verified-token cache has done so far.
    pub fn token_cache_stats(&self) -> TokenCacheStats {
        TokenCacheStats {
            hits: self.verified.hits.load(Ordering::Relaxed),
            misses: self.verified.misses.load(Ordering::Relaxed),
            evictions: self.verified.evictions.load(Ordering::Relaxed),
            entries: self.verified.lock().len() as u64,
        }
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
        self.discover().await.map(drop)
    }

    /// The provider's discovery document: the one place it is fetched.
    async fn discover(&self) -> Result<Discovery, AuthError> {
        self.get_json(&format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer()
        ))
        .await
    }

    /// Whether the key set has been loaded at least once (for health).
    pub async fn has_keys(&self) -> bool {
        !self.cache.read().await.keys.is_empty()
    }

    /// Verifies a token and returns its claims: from the verified-token
    /// cache when this process verified the same token before and it has
    /// not expired, else by checking it in full.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for any token that must be refused;
    /// [`AuthError::ProviderUnavailable`] when the key is unknown and the
    /// provider cannot be asked.
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, AuthError> {
        let digest = token_digest(token);
        if let Some(claims) = self.verified.get(&digest, unix_now()) {
            return Ok(claims);
        }
        let claims = Arc::new(self.verify_in_full(token).await?);
        self.verified.insert(digest, claims.clone(), unix_now());
        Ok(claims)
    }

    async fn verify_in_full(&self, token: &str) -> Result<Claims, AuthError> {
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
        if let Some(typ) = claims
            .typ
            .as_deref()
            .filter(|t| !t.eq_ignore_ascii_case("Bearer"))
        {
            return Err(AuthError::Invalid(format!(
                "a token of type {typ:?} is not an access token"
            )));
        }
        let parties = &self.config.authorized_parties;
        if !parties.is_empty() && !claims.azp.as_ref().is_some_and(|azp| parties.contains(azp)) {
            return Err(AuthError::Invalid(format!(
                "tokens of client {:?} are not accepted",
                claims.azp.as_deref().unwrap_or("(none)")
            )));
        }
        Ok(claims)
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
                let mut before: Vec<&String> = cache.keys.keys().collect();
                let mut after: Vec<&String> = keys.keys().collect();
                before.sort_unstable();
                after.sort_unstable();
                if before != after {
                    // A key was added or withdrawn: verify every token anew.
                    self.verified.clear();
                }
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
        let discovery = self.discover().await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, exp: u64) -> Arc<Claims> {
        Arc::new(
            serde_json::from_value(serde_json::json!({ "sub": sub, "exp": exp })).expect("claims"),
        )
    }

    #[test]
    fn verified_tokens_are_found_until_they_expire() {
        let cache = VerifiedTokens::new(10);
        let live = token_digest("live");
        let stale = token_digest("stale");
        cache.insert(live, claims("a", 1_060), 1_000);
        // A token at or past its exp is never stored, nor returned.
        cache.insert(stale, claims("b", 1_000), 1_000);
        assert_eq!(
            cache.get(&live, 1_059).map(|c| c.sub.clone()),
            Some("a".into())
        );
        assert!(cache.get(&live, 1_060).is_none(), "not at its exp");
        assert!(cache.get(&stale, 999).is_none());
        assert!(cache.get(&token_digest("other"), 1_000).is_none());
        assert_eq!(cache.hits.load(Ordering::Relaxed), 1);
        assert_eq!(cache.misses.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_cache_stays_within_its_capacity_and_counts_evictions() {
        let cache = VerifiedTokens::new(16);
        for n in 0..100 {
            cache.insert(token_digest(&n.to_string()), claims("u", 2_000), 1_000);
            assert!(cache.lock().len() <= 16);
        }
        assert!(cache.evictions.load(Ordering::Relaxed) >= 84);
        // The newest entry is always kept.
        assert!(cache.get(&token_digest("99"), 1_000).is_some());
    }

    #[test]
    fn expired_entries_make_room_before_live_ones_are_evicted() {
        let cache = VerifiedTokens::new(4);
        for n in 0..4 {
            cache.insert(token_digest(&n.to_string()), claims("u", 1_001), 1_000);
        }
        cache.insert(token_digest("new"), claims("u", 2_000), 1_001);
        assert_eq!(cache.lock().len(), 1);
        assert_eq!(cache.evictions.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_zero_capacity_remembers_nothing_and_clear_forgets_everything() {
        let off = VerifiedTokens::new(0);
        off.insert(token_digest("t"), claims("u", 2_000), 1_000);
        assert!(off.get(&token_digest("t"), 1_000).is_none());
        let on = VerifiedTokens::new(8);
        on.insert(token_digest("t"), claims("u", 2_000), 1_000);
        on.clear();
        assert!(on.get(&token_digest("t"), 1_000).is_none());
    }
}
