//! SSO configurations as values: the issuer rule, the stored record, and
//! what a caller asks to change.

use std::fmt;

use time::OffsetDateTime;

use crate::errors::port::ValidationError;
use crate::users::model::ClientSecret;
use crate::values::id::{OrganizationId, SsoConfigId};

/// An identity provider's issuer: `https://` (or `http://` to a loopback
/// host, for development, when allowed), at most 500 characters. Parsed as
/// HTTP clients parse URLs (WHATWG, the `url` crate), so the host checked
/// here is the host a client would call.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuerUrl {
    text: String,
    host: String,
}

impl IssuerUrl {
    /// Checks the rule.
    ///
    /// # Errors
    /// [`ValidationError::IssuerUrlInvalid`].
    pub fn parse(raw: &str, allow_http_loopback: bool) -> Result<Self, ValidationError> {
        let text = raw.trim().trim_end_matches('/');
        let invalid = |reason| Err(ValidationError::IssuerUrlInvalid { reason });
        if text.len() > 500 {
            return invalid("must be at most 500 characters");
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("must not contain spaces");
        }
        // The WHATWG parser reads `\` as `/`: refused, so that the text
        // shown and stored reads as the URL that is called.
        if text.contains('\\') {
            return invalid("must not contain backslashes");
        }
        let Ok(url) = url::Url::parse(text) else {
            return invalid("must be an absolute URL");
        };
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let plain = url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
            && !text.ends_with('?')
            && !text.contains('#');
        if host.is_empty() || !plain {
            return invalid(
                "must be scheme://host[:port][/path] without credentials, query or fragment",
            );
        }
        let issuer = Self {
            text: text.to_owned(),
            host,
        };
        match url.scheme() {
            "https" => Ok(issuer),
            "http" if allow_http_loopback && is_loopback(&url) => Ok(issuer),
            "http" => invalid("must use https (http only for loopback in development)"),
            _ => invalid("must use https"),
        }
    }

    /// Restores a stored value without re-checking the scheme rule.
    pub fn from_stored(stored: String) -> Self {
        let host = url::Url::parse(&stored)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Self { text: stored, host }
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host (without port or brackets), as an HTTP client reads it.
    pub fn host(&self) -> &str {
        &self.host
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

impl fmt::Debug for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssuerUrl({:?})", self.text)
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
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

    /// The alias of its identity provider at the login broker.
    pub fn broker_alias(&self) -> String {
        BrokeredProvider::alias_of(self.id)
    }
}

/// An SSO configuration as the login broker receives it: with its secret
/// in the clear, decrypted for the one call that hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokeredProvider {
    /// The provider's alias at the broker, derived from the configuration's
    /// id ([`BrokeredProvider::alias_of`]): stable across renames.
    pub alias: String,
    /// What the login page shows (the configuration's name).
    pub display_name: String,
    /// The provider's issuer.
    pub issuer_url: IssuerUrl,
    /// The OAuth client id at the provider.
    pub client_id: String,
    /// The client secret (redacted when printed).
    pub client_secret: ClientSecret,
    /// Whether logins may use it.
    pub enabled: bool,
    /// The organization it belongs to; `None` for an installation-wide one.
    pub organization: Option<OrganizationId>,
    /// The `ssoRequired` domain whose users the broker sends straight to
    /// this provider (see [`MirroredOrganization::login_redirect`]); only
    /// where the organization is mirrored.
    pub login_domain: Option<String>,
    /// The e-mail domains whose addresses a first login through the
    /// provider may create, or link to, an account for: the organization's
    /// verified domains (none verified: nobody), so that an organization's
    /// provider never takes over an address it has not proved to control.
    /// `None` for an installation-wide provider, which may log in anyone.
    pub email_domains: Option<Vec<String>>,
}

impl BrokeredProvider {
    /// What every alias orgman manages at the broker starts with; the
    /// broker's other providers are never touched.
    pub const ALIAS_PREFIX: &'static str = "orgman-";

    /// The alias of a configuration's provider.
    pub fn alias_of(id: SsoConfigId) -> String {
        format!("{}{id}", Self::ALIAS_PREFIX)
    }

    /// The configuration an alias names, if it is one of orgman's.
    pub fn config_of(alias: &str) -> Option<SsoConfigId> {
        alias.strip_prefix(Self::ALIAS_PREFIX)?.parse().ok()
    }
}

pub(crate) fn cipher_context(id: SsoConfigId, organization: Option<OrganizationId>) -> Vec<u8> {
    let scope = organization.map_or_else(|| "installation".to_owned(), |o| o.to_string());
    format!("sso-config:{id}|{scope}").into_bytes()
}

/// An organization as the login broker mirrors it (Keycloak's
/// Organizations): its members are mirrored separately, one by one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirroredOrganization {
    /// orgman's id; the broker keeps it as the organization's alias (so
    /// tokens' `organization` claim names orgman's ids).
    pub id: OrganizationId,
    /// The slug (unique, as the broker's names must be).
    pub slug: String,
    /// The display name.
    pub name: String,
    /// Whether members may log in to it (the organization is ACTIVE).
    pub enabled: bool,
    /// Its verified domains.
    pub domains: Vec<String>,
    /// The aliases of its identity providers
    /// ([`BrokeredProvider::alias_of`] its SSO configurations).
    pub identity_providers: Vec<String>,
    /// Where the broker sends users of an `ssoRequired` domain straight
    /// away, without asking for a password: the first such verified domain
    /// and the first enabled identity provider (oldest first, the one
    /// home-realm discovery names). `None` without either.
    pub login_redirect: Option<LoginRedirect>,
}

/// An `ssoRequired` domain whose users the login broker sends to an
/// identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRedirect {
    /// The verified domain.
    pub domain: String,
    /// The provider's alias.
    pub identity_provider: String,
}

/// Where a login page sends an address ([`SsoService::discover_home_realm`](crate::SsoService::discover_home_realm)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HomeRealm {
    /// The login broker's alias of the identity provider to use (for
    /// Keycloak, the `kc_idp_hint` parameter), when the address's domain is
    /// verified by an organization with an enabled SSO configuration.
    pub identity_provider: Option<String>,
    /// Whether the domain's organization requires its users to log in
    /// through SSO (no password logins).
    pub sso_required: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str, allow_http_loopback: bool) -> bool {
        IssuerUrl::parse(raw, allow_http_loopback).is_err()
    }

    #[test]
    fn issuers_are_https_urls_without_credentials_query_or_fragment() {
        let issuer = IssuerUrl::parse(" https://idp.example:8443/realms/acme/ ", false).unwrap();
        assert_eq!(issuer.as_str(), "https://idp.example:8443/realms/acme");
        assert_eq!(issuer.host(), "idp.example");
        assert_eq!(
            IssuerUrl::parse("https://[2001:db8::1]/x", false)
                .unwrap()
                .host(),
            "2001:db8::1"
        );
        for bad in [
            "idp.example",
            "ftp://idp.example",
            "http://idp.example",
            "https://user:pw@idp.example",
            "https://user@idp.example",
            "https://idp.example/?q=1",
            "https://idp.example/#f",
            "https://10.0.0.5\\x.example",
            "https://idp .example",
            "https://",
        ] {
            assert!(refused(bad, true), "{bad}");
        }
        assert!(refused(
            &format!("https://{}.example", "a".repeat(500)),
            false
        ));
    }

    #[test]
    fn plain_http_only_to_a_loopback_host_and_only_when_allowed() {
        for loopback in [
            "http://localhost:8080/realms/dev",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:9000",
        ] {
            assert!(IssuerUrl::parse(loopback, true).is_ok(), "{loopback}");
            assert!(refused(loopback, false), "{loopback}");
        }
        // Names that only look like loopback are not.
        for disguised in [
            "http://127.0.0.1.evil.example",
            "http://127.evil.example",
            "http://localhost.evil.example",
        ] {
            assert!(refused(disguised, true), "{disguised}");
        }
    }

    #[test]
    fn an_alias_names_its_configuration_and_nothing_else() {
        let id = SsoConfigId::from_uuid(uuid::Uuid::from_u128(7));
        let alias = BrokeredProvider::alias_of(id);
        assert_eq!(alias, "orgman-00000000-0000-0000-0000-000000000007");
        assert_eq!(BrokeredProvider::config_of(&alias), Some(id));
        for foreign in [
            "google",
            "orgman-",
            "orgman-nope",
            "x-orgman-00000000-0000-0000-0000-000000000007",
        ] {
            assert_eq!(BrokeredProvider::config_of(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn a_stored_issuer_keeps_its_text_and_finds_its_host() {
        let stored = IssuerUrl::from_stored("https://idp.example/realms/a".into());
        assert_eq!(stored.as_str(), "https://idp.example/realms/a");
        assert_eq!(stored.host(), "idp.example");
    }
}
