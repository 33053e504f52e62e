//! Sealing secrets (SSO client secrets) for storage, bound to their record.

use crate::errors::port::CipherError;
use crate::users::model::ClientSecret;

/// Encrypts secrets (SSO client secrets) for storage.
///
/// `context` is associated data binding the ciphertext to its record (for
/// example the configuration id and organization id): a ciphertext copied to
/// another record fails to decrypt. The stored form is self-describing text
/// that names the key it was encrypted with.
pub trait SecretCipher: Send + Sync {
    /// Encrypts with the active key.
    ///
    /// # Errors
    /// [`CipherError`] when no key is active.
    fn encrypt(&self, secret: &ClientSecret, context: &[u8]) -> Result<String, CipherError>;

    /// Decrypts a stored value with the key it names.
    ///
    /// # Errors
    /// [`CipherError::UnknownKey`], [`CipherError::Authentication`] (wrong
    /// key, tampering, wrong record) or [`CipherError::Malformed`]; never
    /// garbage plain text.
    fn decrypt(&self, stored: &str, context: &[u8]) -> Result<ClientSecret, CipherError>;

    /// Whether a stored value was encrypted with a key other than the active
    /// one and should be re-encrypted.
    fn needs_rotation(&self, stored: &str) -> bool;
}
