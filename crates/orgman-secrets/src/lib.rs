//! AES-256-GCM encryption of secrets at rest (SSO client secrets),
//! implementing the domain's [`SecretCipher`] port.
//!
//! Stored form (text, fits the `client_secret_enc` column):
//!
//! ```text
//! v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>
//! ```
//!
//! - a fresh random 96-bit nonce per encryption;
//! - the caller's context (configuration id and organization id) as
//!   associated data, so a value copied to another record fails to decrypt;
//! - the key id names the key, so several keys can be configured: the active
//!   one encrypts, the others only decrypt, which makes rotation possible
//!   without downtime (see `docs/security.md`).
//!
//! Keys and plain secrets are wiped from memory when dropped and never
//! printed.

use orgman_settings::{Env, SettingsError};
use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use orgman_domain::ports::SecretCipher;
use orgman_domain::{CipherError, ClientSecret};
use zeroize::Zeroizing;

mod pseudonyms;

pub use pseudonyms::HmacPseudonyms;

const FORMAT: &str = "v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why the key configuration is unusable (never contains key material).
#[derive(Debug, PartialEq, Eq)]
pub struct KeyConfigError(pub String);

impl fmt::Display for KeyConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyConfigError {}

/// AES-256-GCM with named keys.
pub struct AesGcmCipher {
    keys: HashMap<String, Zeroizing<[u8; 32]>>,
    active: String,
}

impl fmt::Debug for AesGcmCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("AesGcmCipher")
            .field("key_ids", &ids)
            .field("active", &self.active)
            .finish()
    }
}

fn valid_key_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl AesGcmCipher {
    /// A cipher over named 32-byte keys; `active` encrypts.
    ///
    /// # Errors
    /// [`KeyConfigError`] for a bad key id or a missing active key.
    pub fn new(keys: Vec<(String, [u8; 32])>, active: &str) -> Result<Self, KeyConfigError> {
        let mut map = HashMap::new();
        for (id, key) in keys {
            if !valid_key_id(&id) {
                return Err(KeyConfigError(format!(
                    "key id {id:?} must be 1-32 letters, digits, '-' or '_'"
                )));
            }
            if map.insert(id.clone(), Zeroizing::new(key)).is_some() {
                return Err(KeyConfigError(format!("key id {id:?} is configured twice")));
            }
        }
        if !map.contains_key(active) {
            return Err(KeyConfigError(format!(
                "the active key {active:?} is not among the configured keys"
            )));
        }
        Ok(Self {
            keys: map,
            active: active.to_owned(),
        })
    }

    /// Keys from `ORGMAN_SSO_ENCRYPTION_KEYS` (`id:base64key,id:base64key`,
    /// each key 32 random bytes, e.g. `openssl rand -base64 32`) and the
    /// active one from `ORGMAN_SSO_ENCRYPTION_ACTIVE_KEY` (default: the first
    /// listed). `None` when no key is configured.
    ///
    /// # Errors
    /// [`SettingsError`] naming the variable and the problem, never the key.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, SettingsError> {
        const KEYS: &str = "ORGMAN_SSO_ENCRYPTION_KEYS";
        const ACTIVE: &str = "ORGMAN_SSO_ENCRYPTION_ACTIVE_KEY";
        let env = Env::new(get);
        let Some(list) = env.text(KEYS) else {
            return Ok(None);
        };
        let list = Zeroizing::new(list);
        let mut keys = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, encoded) = entry
                .split_once(':')
                .ok_or_else(|| SettingsError::new(KEYS, "entries are id:base64key"))?;
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| SettingsError::new(KEYS, format!("key {id:?} is not base64")))?,
            );
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                SettingsError::new(
                    KEYS,
                    format!("key {id:?} must be 32 bytes, got {}", bytes.len()),
                )
            })?;
            keys.push((id.trim().to_owned(), key));
        }
        let active = env
            .text(ACTIVE)
            .or_else(|| keys.first().map(|(id, _)| id.clone()))
            .ok_or_else(|| SettingsError::new(KEYS, "lists no key"))?;
        Self::new(keys, &active)
            .map(Some)
            .map_err(|error| SettingsError::new(ACTIVE, error.0))
    }

    /// The active key id.
    pub fn active_key(&self) -> &str {
        &self.active
    }

    /// A 32-byte key for another purpose, derived from the active key
    /// (HMAC-SHA256 of `purpose` under it): one secret for operators to
    /// keep, separate keys in use.
    pub fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let active = &self.keys[&self.active];
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, active.as_slice());
        let tag = ring::hmac::sign(&key, purpose);
        let mut derived = [0_u8; 32];
        derived.copy_from_slice(tag.as_ref());
        derived
    }

    fn cipher(&self, key_id: &str) -> Result<Aes256Gcm, CipherError> {
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| CipherError::UnknownKey {
                key_id: key_id.to_owned(),
            })?;
        let key = Key::<Aes256Gcm>::try_from(key.as_slice())
            .map_err(|_| CipherError::Malformed("key length"))?;
        Ok(Aes256Gcm::new(&key))
    }
}

/// The key id of a stored value, if it is in the expected format.
pub fn key_id_of(stored: &str) -> Option<&str> {
    let mut parts = stored.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(FORMAT), Some(id), Some(_)) => Some(id),
        _ => None,
    }
}

impl SecretCipher for AesGcmCipher {
    fn encrypt(&self, secret: &ClientSecret, context: &[u8]) -> Result<String, CipherError> {
        let cipher = self.cipher(&self.active)?;
        let nonce = Nonce::generate();
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: context,
                },
            )
            .map_err(|_| CipherError::Malformed("encryption failed"))?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(nonce.as_slice());
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{FORMAT}:{}:{}",
            self.active,
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    fn decrypt(&self, stored: &str, context: &[u8]) -> Result<ClientSecret, CipherError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(FORMAT), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CipherError::Malformed("expected v1:<key id>:<data>"));
        };
        let cipher = self.cipher(key_id)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CipherError::Malformed("data is not base64url"))?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(CipherError::Malformed("data too short"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| CipherError::Malformed("nonce length"))?;
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: sealed,
                        aad: context,
                    },
                )
                .map_err(|_| CipherError::Authentication)?,
        );
        String::from_utf8(plain.to_vec())
            .map(ClientSecret::new)
            .map_err(|_| CipherError::Malformed("secret is not UTF-8"))
    }

    fn needs_rotation(&self, stored: &str) -> bool {
        key_id_of(stored) != Some(self.active.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(active: &str) -> AesGcmCipher {
        AesGcmCipher::new(vec![("k1".into(), [7; 32]), ("k2".into(), [9; 32])], active).unwrap()
    }

    fn secret(text: &str) -> ClientSecret {
        ClientSecret::new(text.into())
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let c = cipher("k1");
        let a = c.encrypt(&secret("s3cr3t"), b"cfg-1|org-1").unwrap();
        let b = c.encrypt(&secret("s3cr3t"), b"cfg-1|org-1").unwrap();
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(a.starts_with("v1:k1:"));
        assert!(!a.contains("s3cr3t"));
        assert_eq!(c.decrypt(&a, b"cfg-1|org-1").unwrap().expose(), "s3cr3t");
    }

    #[test]
    fn another_records_context_fails() {
        let c = cipher("k1");
        let stored = c.encrypt(&secret("s3cr3t"), b"cfg-1|org-1").unwrap();
        assert_eq!(
            c.decrypt(&stored, b"cfg-2|org-1"),
            Err(CipherError::Authentication)
        );
        assert_eq!(
            c.decrypt(&stored, b"cfg-1|org-2"),
            Err(CipherError::Authentication)
        );
    }

    #[test]
    fn tampering_fails_and_never_gives_garbage() {
        let c = cipher("k1");
        let stored = c.encrypt(&secret("s3cr3t"), b"ctx").unwrap();
        let (prefix, body) = stored.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 0x01;
            let tampered = format!("{prefix}:{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert_eq!(
                c.decrypt(&tampered, b"ctx"),
                Err(CipherError::Authentication),
                "byte {i}"
            );
            bytes[i] ^= 0x01;
        }
        assert!(matches!(
            c.decrypt("v1:k1:!!", b"ctx"),
            Err(CipherError::Malformed(_))
        ));
        assert!(matches!(
            c.decrypt("v1:k1:AAAA", b"ctx"),
            Err(CipherError::Malformed(_))
        ));
        assert!(matches!(
            c.decrypt("plaintext-secret", b"ctx"),
            Err(CipherError::Malformed(_))
        ));
    }

    #[test]
    fn keys_are_named_and_rotation_is_visible() {
        let old = cipher("k1");
        let stored = old.encrypt(&secret("s3cr3t"), b"ctx").unwrap();
        let new = cipher("k2");
        assert!(new.needs_rotation(&stored));
        assert_eq!(
            new.decrypt(&stored, b"ctx").unwrap().expose(),
            "s3cr3t",
            "old keys still decrypt"
        );
        let rotated = new
            .encrypt(&new.decrypt(&stored, b"ctx").unwrap(), b"ctx")
            .unwrap();
        assert!(!new.needs_rotation(&rotated));
        let only_new = AesGcmCipher::new(vec![("k2".into(), [9; 32])], "k2").unwrap();
        assert_eq!(
            only_new.decrypt(&stored, b"ctx"),
            Err(CipherError::UnknownKey {
                key_id: "k1".into()
            })
        );
        // A different key under the same id: authentication fails.
        let impostor = AesGcmCipher::new(vec![("k1".into(), [8; 32])], "k1").unwrap();
        assert_eq!(
            impostor.decrypt(&stored, b"ctx"),
            Err(CipherError::Authentication)
        );
    }

    #[test]
    fn configuration_from_the_environment() {
        let key = STANDARD.encode([3u8; 32]);
        let env = |pairs: Vec<(&'static str, String)>| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        let c = AesGcmCipher::from_env(env(vec![(
            "ORGMAN_SSO_ENCRYPTION_KEYS",
            format!("a:{key}, b:{key}"),
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(c.active_key(), "a");
        assert!(!format!("{c:?}").contains(&key), "keys never print");
        assert!(AesGcmCipher::from_env(env(vec![])).unwrap().is_none());
        let short =
            AesGcmCipher::from_env(env(vec![("ORGMAN_SSO_ENCRYPTION_KEYS", "a:AAAA".into())]))
                .unwrap_err();
        assert_eq!(short.name, "ORGMAN_SSO_ENCRYPTION_KEYS");
        assert!(short.reason.contains("32 bytes"));
        let missing = AesGcmCipher::from_env(env(vec![
            ("ORGMAN_SSO_ENCRYPTION_KEYS", format!("a:{key}")),
            ("ORGMAN_SSO_ENCRYPTION_ACTIVE_KEY", "z".into()),
        ]))
        .unwrap_err();
        assert_eq!(missing.name, "ORGMAN_SSO_ENCRYPTION_ACTIVE_KEY");
        assert!(missing.reason.contains("not among"));
    }
}

/// Invitation tokens: 256 bits from the operating system's random
/// generator as URL-safe base64 (43 characters), stored as their SHA-256
/// digest in hex, so a database dump yields no usable token.
#[derive(Debug)]
pub struct RandomTokens {
    random: ring::rand::SystemRandom,
}

impl RandomTokens {
    /// Tokens from the system's generator.
    pub fn new() -> Self {
        Self {
            random: ring::rand::SystemRandom::new(),
        }
    }
}

impl Default for RandomTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl orgman_domain::ports::SecretTokens for RandomTokens {
    fn issue(&self) -> (orgman_domain::InvitationToken, orgman_domain::TokenDigest) {
        use base64::Engine;
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        // The system generator does not fail on the platforms orgman runs
        // on; if it ever did, no token could be trusted, so stop here.
        #[allow(clippy::expect_used)]
        self.random
            .fill(&mut bytes)
            .expect("the operating system's random generator failed");
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let digest = self.digest(&token);
        (orgman_domain::InvitationToken::new(token), digest)
    }

    fn digest(&self, token: &str) -> orgman_domain::TokenDigest {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        orgman_domain::TokenDigest(
            digest
                .as_ref()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        )
    }
}

#[cfg(test)]
mod token_tests {
    use orgman_domain::ports::SecretTokens;

    use super::RandomTokens;

    #[test]
    fn tokens_are_long_unique_and_only_their_digest_is_kept() {
        let tokens = RandomTokens::new();
        let (a, a_digest) = tokens.issue();
        let (b, _) = tokens.issue();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert!(
            a.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(tokens.digest(a.expose()), a_digest);
        assert_eq!(a_digest.0.len(), 64);
        assert!(!a_digest.0.contains(a.expose()));
        // SHA-256 of "abc".
        assert_eq!(
            tokens.digest("abc").0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
