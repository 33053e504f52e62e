//! SSO configurations as values: the issuer rule, the stored record, and
//! what a caller asks to change.

use std::fmt;

use time::OffsetDateTime;

use crate::error::ValidationError;
use crate::id::{OrganizationId, SsoConfigId};
use crate::user::ClientSecret;

/// An identity provider's issuer: `https://` (or `http://` to a loopback
/// host, for development, when allowed), at most 500 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuerUrl(String);

impl IssuerUrl {
    /// Checks the rule.
    ///
    /// # Errors
    /// [`ValidationError::IssuerUrlInvalid`].
    pub fn parse(raw: &str, allow_http_loopback: bool) -> Result<Self, ValidationError> {
        let url = raw.trim().trim_end_matches('/');
        let invalid = |reason| Err(ValidationError::IssuerUrlInvalid { reason });
        if url.len() > 500 {
            return invalid("must be at most 500 characters");
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("must not contain spaces");
        }
        // A WHATWG parser (what HTTP clients use) reads `\` as `/`, so
        // `https://10.0.0.5\x.example` would name another host than the
        // one checked here.
        if url.contains('\\') {
            return invalid("must not contain backslashes");
        }
        let (scheme, rest) = match url.split_once("://") {
            Some(parts) => parts,
            None => return invalid("must be an absolute URL"),
        };
        let host = host_of(rest);
        if host.is_empty() || rest.contains('@') || rest.contains('#') || rest.contains('?') {
            return invalid(
                "must be scheme://host[:port][/path] without credentials, query or fragment",
            );
        }
        match scheme {
            "https" => Ok(Self(url.to_owned())),
            "http" if allow_http_loopback && is_loopback(host) => Ok(Self(url.to_owned())),
            "http" => invalid("must use https (http only for loopback in development)"),
            _ => invalid("must use https"),
        }
    }

    /// Restores a stored value without re-checking the scheme rule.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host (without port or brackets).
    pub fn host(&self) -> &str {
        host_of(self.0.split_once("://").map_or("", |(_, rest)| rest))
    }
}

fn host_of(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or("");
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

impl fmt::Debug for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssuerUrl({:?})", self.0)
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored SSO configuration. The secret is only ever held encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoConfig {
    /// Id.
    pub id: SsoConfigId,
    /// The owning organization; `None` for an installation-wide one.
    pub organization: Option<OrganizationId>,
    /// Display name.
    pub name: String,
    /// The provider's issuer.
    pub issuer_url: IssuerUrl,
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret, encrypted by the [`SecretCipher`](crate::ports::SecretCipher).
    pub client_secret_enc: String,
    /// Whether logins may use it.
    pub enabled: bool,
    /// Whether unknown users are created on first login.
    pub auto_provision: bool,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

impl SsoConfig {
    /// The associated data binding the ciphertext to this record.
    pub fn cipher_context(&self) -> Vec<u8> {
        cipher_context(self.id, self.organization)
    }
}

pub(crate) fn cipher_context(id: SsoConfigId, organization: Option<OrganizationId>) -> Vec<u8> {
    let scope = organization.map_or_else(|| "installation".to_owned(), |o| o.to_string());
    format!("sso-config:{id}|{scope}").into_bytes()
}

/// What a caller asks to create or change. Unset fields of an update keep
/// their value; the secret is write-only.
#[derive(Clone, Debug, Default)]
pub struct SsoDraft {
    /// Display name (1-100 characters).
    pub name: Option<String>,
    /// Issuer URL, already parsed.
    pub issuer_url: Option<IssuerUrl>,
    /// OAuth client id (1-255 characters).
    pub client_id: Option<String>,
    /// Client secret (1-256 characters).
    pub client_secret: Option<ClientSecret>,
    /// Enabled (default true).
    pub enabled: Option<bool>,
    /// Auto-provisioning (default true).
    pub auto_provision: Option<bool>,
}

pub(crate) fn text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > max || trimmed.chars().any(char::is_control) {
        return Err(ValidationError::TextInvalid { field, max });
    }
    Ok(trimmed.to_owned())
}

/// Where a configuration belongs: one organization, or the installation.
pub type SsoScope = Option<OrganizationId>;
