//! Signing certificates as metadata carries them: base64 DER, read for
//! their validity and fingerprint (their signatures are Keycloak's to
//! check against assertions).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use x509_cert::der::Decode;

/// An X.509 certificate from metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The DER bytes, base64 without line breaks (as Keycloak takes them).
    pub base64: String,
    /// SHA-256 of the DER bytes, lowercase hex: how people and events name
    /// the certificate.
    pub sha256: String,
    /// The subject, as RFC 4514 text.
    pub subject: String,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
}

/// Why a certificate was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateError {
    /// The text is not base64.
    NotBase64,
    /// The bytes are not a DER X.509 certificate.
    NotX509(String),
}

impl std::fmt::Display for CertificateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotBase64 => f.write_str("a certificate is not base64"),
            Self::NotX509(why) => write!(f, "a certificate is not X.509 ({why})"),
        }
    }
}

impl std::error::Error for CertificateError {}

impl Certificate {
    /// Reads the text of an `X509Certificate` element (whitespace inside is
    /// allowed, as metadata wraps long lines).
    ///
    /// # Errors
    /// [`CertificateError`].
    pub fn from_base64(text: &str) -> Result<Self, CertificateError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let der = STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| CertificateError::NotBase64)?;
        let parsed = x509_cert::Certificate::from_der(&der)
            .map_err(|e| CertificateError::NotX509(e.to_string()))?;
        let validity = &parsed.tbs_certificate.validity;
        let seconds = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, &der);
        Ok(Self {
            base64: STANDARD.encode(&der),
            sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
            subject: parsed.tbs_certificate.subject.to_string(),
            not_before: seconds(validity.not_before),
            not_after: seconds(validity.not_after),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(
            Certificate::from_base64("not base64 !"),
            Err(CertificateError::NotBase64)
        );
        assert!(matches!(
            Certificate::from_base64("aGVsbG8="),
            Err(CertificateError::NotX509(_))
        ));
    }
}
