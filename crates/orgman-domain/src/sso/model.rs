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
        let (text, host) = parse_url(raw, allow_http_loopback, false)
            .map_err(|reason| ValidationError::IssuerUrlInvalid { reason })?;
        Ok(Self { text, host })
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

/// The URL rule of issuers and metadata URLs: `https://` (or `http://` to
/// a loopback host when allowed), at most 500 characters, no credentials,
/// no fragment, a query only when `allow_query`. Answers the text (without
/// a trailing `/` when there is no query) and the host.
fn parse_url(
    raw: &str,
    allow_http_loopback: bool,
    allow_query: bool,
) -> Result<(String, String), &'static str> {
    let trimmed = raw.trim();
    let text = if allow_query && trimmed.contains('?') {
        trimmed
    } else {
        trimmed.trim_end_matches('/')
    };
    if text.len() > 500 {
        return Err("must be at most 500 characters");
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces");
    }
    // The WHATWG parser reads `\` as `/`: refused, so that the text
    // shown and stored reads as the URL that is called.
    if text.contains('\\') {
        return Err("must not contain backslashes");
    }
    let Ok(url) = url::Url::parse(text) else {
        return Err("must be an absolute URL");
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let plain = url.username().is_empty()
        && url.password().is_none()
        && (allow_query || (url.query().is_none() && !text.ends_with('?')))
        && url.fragment().is_none()
        && !text.contains('#');
    if host.is_empty() || !plain {
        return Err(if allow_query {
            "must be scheme://host[:port][/path][?query] without credentials or fragment"
        } else {
            "must be scheme://host[:port][/path] without credentials, query or fragment"
        });
    }
    match url.scheme() {
        "https" => Ok((text.to_owned(), host)),
        "http" if allow_http_loopback && is_loopback(&url) => Ok((text.to_owned(), host)),
        "http" => Err("must use https (http only for loopback in development)"),
        _ => Err("must use https"),
    }
}

/// Where a SAML identity provider publishes its metadata: the issuer rule
/// ([`IssuerUrl`]), with a query allowed (some providers name the
/// application in it).
#[derive(Clone, PartialEq, Eq)]
pub struct MetadataUrl {
    text: String,
    host: String,
}

impl MetadataUrl {
    /// Checks the rule.
    ///
    /// # Errors
    /// [`ValidationError::UrlInvalid`] for `metadataUrl`.
    pub fn parse(raw: &str, allow_http_loopback: bool) -> Result<Self, ValidationError> {
        let (text, host) = parse_url(raw, allow_http_loopback, true).map_err(|reason| {
            ValidationError::UrlInvalid {
                field: "metadataUrl",
                reason,
            }
        })?;
        Ok(Self { text, host })
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

impl fmt::Debug for MetadataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MetadataUrl({:?})", self.text)
    }
}

impl fmt::Display for MetadataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
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

/// The protocol an SSO configuration speaks with its identity provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum SsoProtocol {
    /// OpenID Connect: an issuer, a client id and a secret.
    #[default]
    Oidc,
    /// SAML 2.0: the identity provider's metadata.
    Saml,
}

impl SsoProtocol {
    /// `oidc` or `saml`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Saml => "saml",
        }
    }

    /// Reads `oidc` or `saml`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "oidc" => Some(Self::Oidc),
            "saml" => Some(Self::Saml),
            _ => None,
        }
    }
}

/// How an SSO configuration reaches its identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SsoConnection {
    /// OpenID Connect.
    Oidc(OidcConnection),
    /// SAML 2.0.
    Saml(SamlConnection),
}

/// An OpenID Connect provider, with the client orgman's broker is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcConnection {
    /// The provider's issuer.
    pub issuer_url: IssuerUrl,
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret, encrypted by the [`SecretCipher`](crate::ports::SecretCipher).
    pub client_secret_enc: String,
}

/// A SAML 2.0 identity provider, as its metadata described it when it was
/// last read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlConnection {
    /// Where the metadata is re-read on a schedule; `None` when it was
    /// pasted (it changes only when pasted again).
    pub metadata_url: Option<MetadataUrl>,
    /// What the metadata says.
    pub idp: SamlIdp,
    /// The assertion attributes that carry the profile.
    pub attributes: SamlAttributes,
    /// The fingerprints of the certificates whose expiry was announced
    /// (`organization.sso.certificate-expiring`), so that each is announced
    /// once.
    pub announced: Vec<String>,
}

/// A SAML identity provider's metadata, read and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlIdp {
    /// Its entity id (its responses' `Issuer`).
    pub entity_id: String,
    /// Where browsers go to log in.
    pub sso_url: String,
    /// Whether the request goes there by HTTP-POST (else HTTP-Redirect).
    pub post_binding: bool,
    /// Its signing certificates; assertions signed by any of them are
    /// accepted, and by no other.
    pub certificates: Vec<SigningCertificate>,
    /// The NameID format asked for.
    pub name_id_format: String,
    /// Whether it wants requests signed.
    pub wants_signed_requests: bool,
    /// The attribute names it says it sends (may be empty).
    pub offered_attributes: Vec<String>,
    /// Where logouts are sent, if it offers single logout.
    pub slo_url: Option<String>,
}

/// A signing certificate of a SAML identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningCertificate {
    /// DER, base64.
    pub base64: String,
    /// SHA-256 of the DER, lowercase hex.
    pub sha256: String,
    /// Its subject.
    pub subject: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// Where a certificate stands on its way to expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertificateState {
    /// Valid beyond the warning period.
    Valid,
    /// Expires within the warning period.
    Expiring,
    /// Expired.
    Expired,
}

impl CertificateState {
    /// Every state, for closed metric labels.
    pub const ALL: [Self; 3] = [Self::Valid, Self::Expiring, Self::Expired];

    /// `valid`, `expiring` or `expired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
        }
    }
}

impl SigningCertificate {
    /// Its state at `now`, warning `warning` ahead of expiry.
    pub fn state(&self, now: OffsetDateTime, warning: time::Duration) -> CertificateState {
        if self.not_after <= now {
            CertificateState::Expired
        } else if self.not_after <= now + warning {
            CertificateState::Expiring
        } else {
            CertificateState::Valid
        }
    }
}

/// The assertion attributes orgman's broker reads the profile from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlAttributes {
    /// The e-mail address (also read from an e-mail NameID).
    pub email: String,
    /// The first name.
    pub first_name: String,
    /// The last name.
    pub last_name: String,
}

impl SamlAttributes {
    /// Well-known names of each attribute (plain, the claims of Microsoft's
    /// providers, and LDAP's OIDs), the first of each kind being the
    /// default when the metadata offers none of them.
    pub const KNOWN: [(&'static str, &'static [&'static str]); 3] = [
        (
            "email",
            &[
                "email",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                "urn:oid:0.9.2342.19200300.100.1.3",
                "mail",
            ],
        ),
        (
            "firstName",
            &[
                "firstName",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
                "urn:oid:2.5.4.42",
                "givenName",
            ],
        ),
        (
            "lastName",
            &[
                "lastName",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
                "urn:oid:2.5.4.4",
                "sn",
            ],
        ),
    ];

    /// The attributes to read, given what the metadata `offered`: for each,
    /// the first well-known name it offers, else the plain name.
    pub fn from_offered(offered: &[String]) -> Self {
        let pick = |names: &[&str]| {
            names
                .iter()
                .find(|name| offered.iter().any(|o| o == *name))
                .unwrap_or(&names[0])
                .to_string()
        };
        Self {
            email: pick(Self::KNOWN[0].1),
            first_name: pick(Self::KNOWN[1].1),
            last_name: pick(Self::KNOWN[2].1),
        }
    }
}

/// Where a SAML configuration's metadata comes from, as a caller gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataSource {
    /// Fetched from a URL (and re-read on a schedule).
    Url(MetadataUrl),
    /// Pasted.
    Xml(String),
}

impl MetadataSource {
    /// The URL, when the metadata is read from one (and re-read later).
    pub fn url(&self) -> Option<&MetadataUrl> {
        match self {
            Self::Url(url) => Some(url),
            Self::Xml(_) => None,
        }
    }
}

/// A stored SSO configuration. An OpenID Connect secret is only ever held
/// encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoConfig {
    /// Id.
    pub id: SsoConfigId,
    /// The owning organization; `None` for an installation-wide one.
    pub organization: Option<OrganizationId>,
    /// Display name.
    pub name: String,
    /// How it reaches its identity provider.
    pub connection: SsoConnection,
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
    /// Its protocol.
    pub fn protocol(&self) -> SsoProtocol {
        match self.connection {
            SsoConnection::Oidc(_) => SsoProtocol::Oidc,
            SsoConnection::Saml(_) => SsoProtocol::Saml,
        }
    }

    /// The OpenID Connect side, if it speaks OpenID Connect.
    pub fn oidc(&self) -> Option<&OidcConnection> {
        match &self.connection {
            SsoConnection::Oidc(oidc) => Some(oidc),
            SsoConnection::Saml(_) => None,
        }
    }

    /// The SAML side, if it speaks SAML.
    pub fn saml(&self) -> Option<&SamlConnection> {
        match &self.connection {
            SsoConnection::Saml(saml) => Some(saml),
            SsoConnection::Oidc(_) => None,
        }
    }

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
    /// How the broker reaches the provider.
    pub connection: BrokeredConnection,
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

/// How the login broker reaches an identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokeredConnection {
    /// OpenID Connect, with the secret in the clear.
    Oidc {
        /// The provider's issuer.
        issuer_url: IssuerUrl,
        /// The OAuth client id at the provider.
        client_id: String,
        /// The client secret (redacted when printed).
        client_secret: ClientSecret,
    },
    /// SAML 2.0, as orgman read the metadata: the broker is handed explicit
    /// endpoints and certificates, never a metadata URL to fetch.
    Saml {
        /// The identity provider.
        idp: SamlIdp,
        /// The attributes carrying the profile.
        attributes: SamlAttributes,
    },
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
    /// The protocol (OpenID Connect unless given); fixed once created.
    pub protocol: Option<SsoProtocol>,
    /// SAML: the identity provider's metadata.
    pub metadata: Option<MetadataSource>,
    /// SAML: the attributes carrying the profile (each unset one keeps its
    /// value, or is picked from the metadata's offer).
    pub attributes: SamlAttributeDraft,
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

/// SAML attribute names a caller sets; unset ones keep their value.
#[derive(Clone, Debug, Default)]
pub struct SamlAttributeDraft {
    /// The e-mail attribute.
    pub email: Option<String>,
    /// The first name attribute.
    pub first_name: Option<String>,
    /// The last name attribute.
    pub last_name: Option<String>,
}

impl SamlAttributeDraft {
    /// Whether any is set.
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.first_name.is_none() && self.last_name.is_none()
    }
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
