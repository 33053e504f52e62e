//! [`FakeCipher`]: a stand-in for the secret cipher that does not encrypt.

use orgman_domain::ports::SecretCipher;
use orgman_domain::{CipherError, ClientSecret};

/// A stand-in [`SecretCipher`] for tests. **It does not encrypt**: it hex-
/// encodes the secret next to the context it is bound to, so tests can check
/// that callers pass the right context and handle the errors. Use the real
/// AES-GCM adapter anywhere a secret matters.
#[derive(Clone, Debug)]
pub struct FakeCipher {
    key_id: String,
}

impl FakeCipher {
    /// A cipher whose "active key" is `key_id`.
    pub fn new(key_id: &str) -> Self {
        Self {
            key_id: key_id.to_owned(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl SecretCipher for FakeCipher {
    fn encrypt(&self, secret: &ClientSecret, context: &[u8]) -> Result<String, CipherError> {
        Ok(format!(
            "fake:{}:{}:{}",
            self.key_id,
            hex(context),
            hex(secret.expose().as_bytes())
        ))
    }

    fn decrypt(&self, stored: &str, context: &[u8]) -> Result<ClientSecret, CipherError> {
        let mut parts = stored.split(':');
        let (Some("fake"), Some(key_id), Some(bound), Some(body), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(CipherError::Malformed(
                "expected fake:<key>:<context>:<body>",
            ));
        };
        if key_id != self.key_id {
            return Err(CipherError::UnknownKey {
                key_id: key_id.to_owned(),
            });
        }
        if bound != hex(context) {
            return Err(CipherError::Authentication);
        }
        let bytes = unhex(body).ok_or(CipherError::Malformed("body is not hex"))?;
        String::from_utf8(bytes)
            .map(ClientSecret::new)
            .map_err(|_| CipherError::Malformed("body is not UTF-8"))
    }

    fn needs_rotation(&self, stored: &str) -> bool {
        stored.split(':').nth(1) != Some(self.key_id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_binding_is_enforced() {
        let cipher = FakeCipher::new("k1");
        let stored = cipher
            .encrypt(&ClientSecret::new("s3cret".into()), b"row-1")
            .unwrap();
        assert_eq!(
            cipher.decrypt(&stored, b"row-1").unwrap().expose(),
            "s3cret"
        );
        assert_eq!(
            cipher.decrypt(&stored, b"row-2"),
            Err(CipherError::Authentication)
        );
        assert!(matches!(
            FakeCipher::new("k2").decrypt(&stored, b"row-1"),
            Err(CipherError::UnknownKey { .. })
        ));
        assert!(FakeCipher::new("k2").needs_rotation(&stored));
        assert!(!cipher.needs_rotation(&stored));
    }
}
