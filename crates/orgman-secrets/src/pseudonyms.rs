//! Keyed pseudonyms of e-mail addresses for erasure (HMAC-SHA256).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use orgman_domain::Email;
use orgman_domain::ports::Pseudonyms;
use orgman_settings::{Env, SettingsError};
use zeroize::Zeroizing;

use crate::AesGcmCipher;

/// What the derived key is for (see [`AesGcmCipher::derive`]).
const PURPOSE: &[u8] = b"orgman erasure pseudonyms v1";

/// Pseudonyms `<key id>-<96 bits of HMAC-SHA256 in hex>@erased.invalid`:
/// the key id tells which key made a pseudonym, so counts stay right
/// across a rotation (an address erased before and after one has two
/// pseudonyms, one per key).
pub struct HmacPseudonyms {
    id: String,
    key: ring::hmac::Key,
}

impl fmt::Debug for HmacPseudonyms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacPseudonyms")
            .field("key_id", &self.id)
            .finish_non_exhaustive()
    }
}

impl HmacPseudonyms {
    /// Pseudonyms under `key`, named `id` (1-32 letters, digits, `-`).
    ///
    /// # Errors
    /// The problem with `id`.
    pub fn new(id: &str, key: &[u8]) -> Result<Self, String> {
        if !(1..=32).contains(&id.len())
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!("key id {id:?} must be 1-32 letters, digits or '-'"));
        }
        Ok(Self {
            id: id.to_ascii_lowercase(),
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
        })
    }

    /// `ORGMAN_ERASURE_KEY` (32 random bytes in base64, e.g. `openssl rand
    /// -base64 32`) named by `ORGMAN_ERASURE_KEY_ID` (default `e1`); without
    /// it, a key derived from the active SSO encryption key, named
    /// `sso-<its id>`. `None` when neither is configured.
    ///
    /// # Errors
    /// [`SettingsError`] naming the variable, never the key.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        cipher: Option<&AesGcmCipher>,
    ) -> Result<Option<Self>, SettingsError> {
        const KEY: &str = "ORGMAN_ERASURE_KEY";
        const KEY_ID: &str = "ORGMAN_ERASURE_KEY_ID";
        let env = Env::new(get);
        if let Some(encoded) = env.text(KEY) {
            let encoded = Zeroizing::new(encoded);
            let key = Zeroizing::new(
                STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| SettingsError::new(KEY, "is not base64"))?,
            );
            if key.len() != 32 {
                return Err(SettingsError::new(
                    KEY,
                    format!("must be 32 bytes, got {}", key.len()),
                ));
            }
            let id = env.text_or(KEY_ID, "e1");
            return Self::new(&id, &key)
                .map(Some)
                .map_err(|problem| SettingsError::new(KEY_ID, problem));
        }
        let Some(cipher) = cipher else {
            return Ok(None);
        };
        let derived = Zeroizing::new(cipher.derive(PURPOSE));
        let id = format!("sso-{}", cipher.active_key().replace('_', "-"));
        Self::new(&id, derived.as_slice())
            .map(Some)
            .map_err(|problem| SettingsError::new("ORGMAN_SSO_ENCRYPTION_ACTIVE_KEY", problem))
    }
}

impl Pseudonyms for HmacPseudonyms {
    fn pseudonym(&self, email: &Email) -> Email {
        let tag = ring::hmac::sign(&self.key, email.as_str().as_bytes());
        let hex: String = tag.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Email::parse(&format!("{}-{hex}@erased.invalid", self.id))
            .expect("a key id and hex digits make a valid address")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_one_pseudonym_per_key_and_nothing_of_it_shows() {
        let one = HmacPseudonyms::new("e1", &[7; 32]).unwrap();
        let two = HmacPseudonyms::new("e2", &[8; 32]).unwrap();
        let ann = Email::parse("ann.smith@example.com").unwrap();
        let bob = Email::parse("bob@example.com").unwrap();
        let first = one.pseudonym(&ann);
        assert_eq!(first, one.pseudonym(&ann), "countable");
        assert_ne!(first, one.pseudonym(&bob));
        assert_ne!(first, two.pseudonym(&ann), "another key, another pseudonym");
        assert!(first.as_str().starts_with("e1-"), "{first:?}");
        assert!(first.as_str().ends_with("@erased.invalid"));
        assert!(!first.as_str().contains("ann") && !first.as_str().contains("example"));
    }

    #[test]
    fn the_key_comes_from_its_setting_or_from_the_sso_key() {
        let key = STANDARD.encode([9_u8; 32]);
        let set = HmacPseudonyms::from_env(
            |k| match k {
                "ORGMAN_ERASURE_KEY" => Some(key.clone()),
                _ => None,
            },
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(set.id, "e1");
        let short = HmacPseudonyms::from_env(
            |k| (k == "ORGMAN_ERASURE_KEY").then(|| STANDARD.encode([1_u8; 8])),
            None,
        );
        assert!(short.is_err());
        assert!(HmacPseudonyms::from_env(|_| None, None).unwrap().is_none());
        let cipher = AesGcmCipher::new(vec![("k_1".into(), [3; 32])], "k_1").unwrap();
        let derived = HmacPseudonyms::from_env(|_| None, Some(&cipher))
            .unwrap()
            .unwrap();
        assert_eq!(derived.id, "sso-k-1");
        let ann = Email::parse("ann@example.com").unwrap();
        assert_ne!(derived.pseudonym(&ann), set.pseudonym(&ann));
    }
}
