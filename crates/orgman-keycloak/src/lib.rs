//! Keycloak adapter for orgman: implements the domain's
//! [`IdentityProvider`] port with Keycloak's Admin REST API
//! (`/admin/realms/{realm}/users`), authenticated as the service account
//! (client credentials, exchanged with `openidconnect`).
//!
//! - The service account's token is cached until shortly before it expires
//!   and renewed once when the Admin API answers 401.
//! - Keycloak's 409 becomes [`IdentityError::Conflict`]; 400 becomes
//!   [`IdentityError::Rejected`]; an unreachable or failing Keycloak becomes
//!   [`IdentityError::Unavailable`].
//! - Settings use the reference's names
//!   (`SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_*`,
//!   `SPRING_SECURITY_OAUTH2_CLIENT_PROVIDER_MAINAUTHPROVIDER_TOKEN_URI`).
//! - It is also the domain's [`LoginBroker`]: SSO configurations become
//!   OpenID Connect identity providers of the realm
//!   (`/admin/realms/{realm}/identity-provider/instances`), with endpoints
//!   orgman discovered and checked ([`provider_endpoints`]) before Keycloak
//!   ever calls them.
//! - [`OidcDiscovery`] is the domain's `IssuerDiscovery`: the SSO
//!   connection test's discovery of an issuer, guarded against server-side
//!   request forgery.

mod discovery;
mod organizations;
mod saml;

pub use discovery::{AddressRule, OidcDiscovery, ProviderEndpoints, is_public, provider_endpoints};
pub use saml::{SamlMetadata, SamlServiceProvider};

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openidconnect::core::{CoreClient, CoreErrorResponseType, CoreJsonWebKeySet};
use openidconnect::{
    AuthType, ClientId as OidcClientId, ClientSecret as OidcClientSecret, EndpointNotSet,
    EndpointSet, HttpClientError, IssuerUrl, OAuth2TokenResponse, RequestTokenError,
    StandardErrorResponse, TokenUrl,
};
use orgman_domain::ports::{IdentityProvider, LoginBroker};
use orgman_domain::{
    BrokeredConnection, BrokeredProvider, ClientSecret, Email, IdentityError, IdentityUser,
    NewIdentity,
};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

/// How to reach Keycloak as the service account.
#[derive(Clone)]
pub struct KeycloakSettings {
    /// `SECURITY_OAUTH2_BASE_SERVER_URL`.
    pub base_url: String,
    /// The realm users are created in (`SECURITY_OAUTH2_REALM`, default
    /// `SECURITY_OAUTH2_SA_REALM`).
    pub realm: String,
    /// `SPRING_SECURITY_OAUTH2_CLIENT_PROVIDER_MAINAUTHPROVIDER_TOKEN_URI`,
    /// default `<base>/realms/<SA realm>/protocol/openid-connect/token`.
    pub token_uri: String,
    /// `SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTID`,
    /// default `flowx-organization-manager-sa`.
    pub client_id: String,
    /// `..._CLIENTSECRET`. Secret.
    pub client_secret: ClientSecret,
    /// The first-login flow of the providers orgman writes
    /// (`ORGMAN_SSO_FIRST_LOGIN_FLOW`, default [`FIRST_LOGIN_FLOW`]): it
    /// must refuse addresses outside a provider's `orgman.emailDomains`
    /// (docs/identity.md, "Who a provider may log in").
    pub first_login_flow: String,
    /// Keycloak's URL as browsers reach it (`ORGMAN_SSO_BROKER_PUBLIC_URL`,
    /// default the base URL): SAML identity providers post their
    /// assertions there, and the service provider's entity id is built
    /// from it.
    pub public_url: String,
}

/// The flow of `deploy/local/keycloak/realm-dev.json` that admits only
/// addresses of the organization's verified domains (orgman's Keycloak
/// extension, then Keycloak's own account creation or linking).
pub const FIRST_LOGIN_FLOW: &str = "orgman first broker login";

/// The provider configuration key that lists, separated by spaces, the
/// e-mail domains a provider may log in (its organization's verified
/// domains); read by orgman's Keycloak extension. Absent when there are
/// none, as Keycloak drops empty values.
pub const EMAIL_DOMAINS_KEY: &str = "orgman.emailDomains";

/// The provider configuration key (`"true"`) that makes orgman's Keycloak
/// extension admit only the addresses of [`EMAIL_DOMAINS_KEY`].
pub const EMAIL_DOMAINS_ONLY_KEY: &str = "orgman.emailDomainsOnly";

impl fmt::Debug for KeycloakSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakSettings")
            .field("base_url", &self.base_url)
            .field("realm", &self.realm)
            .field("token_uri", &self.token_uri)
            .field("client_id", &self.client_id)
            .field("first_login_flow", &self.first_login_flow)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl KeycloakSettings {
    /// Reads the settings through `get`; `None` without a client secret
    /// (registration not configured).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let env = orgman_settings::Env::new(get);
        let var = |name: &str| env.text(name);
        let secret = var("SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET")?;
        let base_url = var("SECURITY_OAUTH2_BASE_SERVER_URL")?
            .trim_end_matches('/')
            .to_owned();
        let sa_realm = var("SECURITY_OAUTH2_SA_REALM")
            .or_else(|| var("SECURITY_OAUTH2_REALM"))
            .unwrap_or_else(|| "flowx".into());
        Some(Self {
            token_uri: var("SPRING_SECURITY_OAUTH2_CLIENT_PROVIDER_MAINAUTHPROVIDER_TOKEN_URI")
                .unwrap_or_else(|| {
                    format!("{base_url}/realms/{sa_realm}/protocol/openid-connect/token")
                }),
            realm: var("SECURITY_OAUTH2_REALM").unwrap_or_else(|| sa_realm.clone()),
            client_id: var("SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTID")
                .unwrap_or_else(|| "flowx-organization-manager-sa".into()),
            client_secret: ClientSecret::new(secret),
            first_login_flow: var("ORGMAN_SSO_FIRST_LOGIN_FLOW")
                .unwrap_or_else(|| FIRST_LOGIN_FLOW.into()),
            public_url: var("ORGMAN_SSO_BROKER_PUBLIC_URL")
                .map_or_else(|| base_url.clone(), |u| u.trim_end_matches('/').to_owned()),
            base_url,
        })
    }
}

/// A [`CoreClient`] with only its token endpoint set.
type ServiceAccountClient = CoreClient<
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
>;

type TokenRequestError = RequestTokenError<
    HttpClientError<reqwest::Error>,
    StandardErrorResponse<CoreErrorResponseType>,
>;

struct CachedToken {
    value: String,
    renew_after: Instant,
}

/// The Keycloak Admin REST API client.
pub struct KeycloakClient {
    settings: KeycloakSettings,
    addresses: discovery::AddressRule,
    /// Link providers to mirrored organizations when writing them (set
    /// once the mirror is known to be available).
    mirror_links: AtomicBool,
    /// The least time between two calls of the organization mirror.
    mirror_pace: Option<Duration>,
    mirror: organizations::MirrorState,
    http: reqwest::Client,
    token: Mutex<Option<CachedToken>>,
    token_requests: AtomicU64,
    admin_requests: AtomicU64,
}

impl fmt::Debug for KeycloakClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct UserRepresentation {
    id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

impl KeycloakClient {
    /// `POST`s `representation` to the collection `url` and answers the id
    /// of what was created (`what`, for the error).
    async fn admin_create(
        &self,
        url: &str,
        representation: &serde_json::Value,
        what: &str,
    ) -> Result<String, IdentityError> {
        let created = self
            .admin(|token| self.http.post(url).bearer_auth(token).json(representation))
            .await?;
        created_id(&created, what)
    }
}

/// The id of what a `POST` created: the last segment of its `Location`.
fn created_id(response: &Response, what: &str) -> Result<String, IdentityError> {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|location| location.rsplit('/').next())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            IdentityError::Other(format!(
                "{what} created, but no Location header with its id"
            ))
        })
}

fn unavailable(error: reqwest::Error) -> IdentityError {
    IdentityError::Unavailable(error.to_string())
}

impl KeycloakClient {
    /// A client (nothing is requested yet).
    pub fn new(settings: KeycloakSettings, http: reqwest::Client) -> Self {
        Self {
            settings,
            addresses: discovery::AddressRule::new(false),
            mirror_links: AtomicBool::new(false),
            mirror_pace: None,
            mirror: organizations::MirrorState::default(),
            http,
            token: Mutex::new(None),
            token_requests: AtomicU64::new(0),
            admin_requests: AtomicU64::new(0),
        }
    }

    /// The same client, brokering identity providers whose endpoints are
    /// on private, loopback or link-local addresses or use plain `http`
    /// (`ORGMAN_SSO_ALLOW_PRIVATE_ISSUERS`; development only).
    #[must_use]
    pub fn with_private_issuers(mut self, allow: bool) -> Self {
        self.addresses = discovery::AddressRule::new(allow);
        self
    }

    /// The same client, judging providers' endpoints by `rule` (tests
    /// change what counts as public through it).
    #[must_use]
    pub fn with_address_rule(mut self, rule: discovery::AddressRule) -> Self {
        self.addresses = rule;
        self
    }

    /// The same client, with the organization mirror's calls paced to at
    /// most `calls_per_second` (0: unpaced).
    #[must_use]
    pub fn with_mirror_pace(mut self, calls_per_second: u32) -> Self {
        self.mirror_pace =
            (calls_per_second > 0).then(|| Duration::from_secs(1) / calls_per_second);
        self
    }

    /// Whether providers it writes are linked to their organization's
    /// mirror (Keycloak's Organizations); on once the mirror runs.
    pub fn set_mirror_links(&self, on: bool) {
        self.mirror_links.store(on, Ordering::Relaxed);
    }

    /// Token requests made so far (for metrics and tests).
    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::Relaxed)
    }

    /// Admin API requests made so far.
    pub fn admin_requests(&self) -> u64 {
        self.admin_requests.load(Ordering::Relaxed)
    }

    /// Puts a token in the cache as if it had been fetched, valid for
    /// `valid_for` (tests use it to present a stale or refused token).
    pub async fn prime_token(&self, value: &str, valid_for: Duration) {
        *self.token.lock().await = Some(CachedToken {
            value: value.to_owned(),
            renew_after: Instant::now() + valid_for,
        });
    }

    /// Fetches a service-account token now (for health checks).
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`].
    pub async fn ping(&self) -> Result<(), IdentityError> {
        self.token(true).await.map(drop)
    }

    async fn token(&self, renew: bool) -> Result<String, IdentityError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached
            .as_ref()
            .filter(|t| !renew && Instant::now() < t.renew_after)
        {
            return Ok(token.value.clone());
        }
        self.token_requests.fetch_add(1, Ordering::Relaxed);
        let token = self
            .oauth_client()?
            .exchange_client_credentials()
            .request_async(&self.http)
            .await
            .map_err(|error| self.token_error(error))?;
        let access_token = token.access_token().secret().clone();
        let lifetime = token.expires_in().unwrap_or(Duration::from_secs(60));
        // Renew a little before expiry: 30 s, or half the lifetime if shorter.
        let margin = Duration::from_secs(30).min(lifetime / 2);
        *cached = Some(CachedToken {
            value: access_token.clone(),
            renew_after: Instant::now() + lifetime - margin,
        });
        Ok(access_token)
    }

    /// The OAuth 2 client for the service account's client-credentials
    /// grant. Built per token request (a few times an hour), so a changed
    /// secret is never stuck in a long-lived client.
    fn oauth_client(&self) -> Result<ServiceAccountClient, IdentityError> {
        let invalid = |what: &str| {
            tracing::error!(token_uri = %self.settings.token_uri, "{what}");
            IdentityError::Unavailable(what.to_owned())
        };
        let token_url = TokenUrl::new(self.settings.token_uri.clone())
            .map_err(|_| invalid("the service account's token URI is not a valid URL"))?;
        // The issuer only matters for ID tokens, which this grant does not
        // return; Keycloak's is the token URI's realm.
        let issuer = self
            .settings
            .token_uri
            .strip_suffix("/protocol/openid-connect/token")
            .unwrap_or(&self.settings.token_uri);
        let issuer = IssuerUrl::new(issuer.to_owned())
            .map_err(|_| invalid("the service account's issuer is not a valid URL"))?;
        Ok(CoreClient::new(
            OidcClientId::new(self.settings.client_id.clone()),
            issuer,
            CoreJsonWebKeySet::new(Vec::new()),
        )
        .set_client_secret(OidcClientSecret::new(
            self.settings.client_secret.expose().to_owned(),
        ))
        .set_auth_type(AuthType::BasicAuth)
        .set_token_uri(token_url))
    }

    fn token_error(&self, error: TokenRequestError) -> IdentityError {
        match error {
            RequestTokenError::ServerResponse(response) => {
                let code = response.error().to_string();
                tracing::error!(error = %code, client_id = %self.settings.client_id, "the identity provider refused the service account's credentials");
                IdentityError::Unavailable(format!("service account token refused ({code})"))
            }
            RequestTokenError::Request(error) => {
                IdentityError::Unavailable(format!("token endpoint unreachable: {error}"))
            }
            RequestTokenError::Parse(_, body) => {
                tracing::error!(
                    bytes = body.len(),
                    "the token endpoint answered something that is not a token response"
                );
                IdentityError::Unavailable("token endpoint refused or answered garbage".into())
            }
            RequestTokenError::Other(reason) => IdentityError::Unavailable(reason),
        }
    }

    /// Replaces a provider Keycloak has, keeping the redirect settings it
    /// holds (they are set once the provider is linked); without them when
    /// Keycloak refuses them (a redirect domain its organization no longer
    /// has).
    async fn replace_provider(
        &self,
        url: &str,
        mut representation: serde_json::Value,
        existing: &serde_json::Value,
    ) -> Result<(), IdentityError> {
        let kept = keep_redirects(&mut representation, existing);
        let put = |representation: &serde_json::Value| {
            let body = representation.clone();
            async move {
                self.admin(|token| self.http.put(url).bearer_auth(token).json(&body))
                    .await
            }
        };
        match put(&representation).await {
            Err(IdentityError::Rejected(_)) if kept => {
                drop_redirects(&mut representation);
                put(&representation).await.map(drop)
            }
            other => other.map(drop),
        }
    }

    /// Sends an Admin API request; on 401 renews the token and tries once
    /// more.
    async fn admin(
        &self,
        build: impl Fn(&str) -> RequestBuilder,
    ) -> Result<Response, IdentityError> {
        self.admin_tolerating(build, None).await
    }

    /// An Admin API request whose every answer is the caller's to read
    /// (after one token renewal on 401); only transport failures are
    /// errors.
    async fn raw_admin(
        &self,
        build: impl Fn(&str) -> RequestBuilder,
    ) -> Result<Response, IdentityError> {
        let mut renew = false;
        loop {
            let token = self.token(renew).await?;
            self.admin_requests.fetch_add(1, Ordering::Relaxed);
            let response = build(&token).send().await.map_err(unavailable)?;
            if response.status() == StatusCode::UNAUTHORIZED && !renew {
                renew = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// [`KeycloakClient::admin`], answering `tolerated` (e.g. 404) as a
    /// response for the caller to read rather than an error.
    async fn admin_tolerating(
        &self,
        build: impl Fn(&str) -> RequestBuilder,
        tolerated: Option<StatusCode>,
    ) -> Result<Response, IdentityError> {
        let response = self.raw_admin(build).await?;
        {
            match response.status() {
                s if s.is_success() || Some(s) == tolerated => Ok(response),
                StatusCode::CONFLICT => Err(IdentityError::Conflict),
                StatusCode::BAD_REQUEST => {
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    let message = body["errorMessage"]
                        .as_str()
                        .or(body["error"].as_str())
                        .unwrap_or("invalid request");
                    Err(IdentityError::Rejected(message.chars().take(200).collect()))
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    let status = response.status();
                    tracing::error!(%status, "the identity provider refused the service account (check its grants: docs/identity.md)");
                    Err(IdentityError::Unavailable(format!(
                        "admin API refused the service account ({status})"
                    )))
                }
                s if s.is_server_error() => Err(IdentityError::Unavailable(format!(
                    "admin API answered {s}"
                ))),
                s => Err(IdentityError::Other(format!("admin API answered {s}"))),
            }
        }
    }

    fn providers_url(&self) -> String {
        format!(
            "{}/admin/realms/{}/identity-provider/instances",
            self.settings.base_url, self.settings.realm
        )
    }

    /// `Some(subject)` when Keycloak has no user with this id.
    async fn account_missing(&self, subject: String) -> Result<Option<String>, IdentityError> {
        let url = format!("{}/{subject}", self.users_url());
        let response = self
            .admin_tolerating(
                |token| self.http.get(&url).bearer_auth(token),
                Some(StatusCode::NOT_FOUND),
            )
            .await?;
        Ok((response.status() == StatusCode::NOT_FOUND).then_some(subject))
    }

    fn users_url(&self) -> String {
        format!(
            "{}/admin/realms/{}/users",
            self.settings.base_url, self.settings.realm
        )
    }
}

#[async_trait]
impl IdentityProvider for KeycloakClient {
    async fn register(&self, user: &NewIdentity) -> Result<IdentityUser, IdentityError> {
        let mut representation = json!({
            "username": user.email.as_str(),
            "email": user.email.as_str(),
            "enabled": true,
            "emailVerified": false,
        });
        if let Some(first) = &user.first_name {
            representation["firstName"] = json!(first);
        }
        if let Some(last) = &user.last_name {
            representation["lastName"] = json!(last);
        }
        if let Some(password) = &user.password {
            representation["credentials"] = json!([{
                "type": "password",
                "value": password.expose(),
                "temporary": user.set_up_by_user,
            }]);
        }
        if user.set_up_by_user {
            // Keycloak asks for both at the first login.
            representation["requiredActions"] = json!(["VERIFY_EMAIL", "UPDATE_PASSWORD"]);
        }
        let id = self
            .admin_create(&self.users_url(), &representation, "user")
            .await?;
        Ok(IdentityUser {
            subject: id,
            email: Some(user.email.clone()),
            enabled: true,
        })
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<IdentityUser>, IdentityError> {
        let url = self.users_url();
        let response = self
            .admin(|token| {
                self.http
                    .get(&url)
                    .bearer_auth(token)
                    .query(&[("email", email.as_str()), ("exact", "true")])
            })
            .await?;
        let found: Vec<UserRepresentation> = response.json().await.map_err(unavailable)?;
        Ok(found
            .into_iter()
            .find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email.as_str()))
            })
            .map(|u| IdentityUser {
                subject: u.id,
                email: u.email.and_then(|e| Email::parse(&e).ok()),
                enabled: u.enabled.unwrap_or(false),
            }))
    }

    async fn disable(&self, subject: &str) -> Result<(), IdentityError> {
        let url = format!("{}/{subject}", self.users_url());
        self.admin(|token| {
            self.http
                .put(&url)
                .bearer_auth(token)
                .json(&json!({"enabled": false}))
        })
        .await
        .map(drop)
    }

    async fn delete(&self, subject: &str) -> Result<(), IdentityError> {
        let url = format!("{}/{subject}", self.users_url());
        self.admin_tolerating(
            |token| self.http.delete(&url).bearer_auth(token),
            Some(StatusCode::NOT_FOUND),
        )
        .await
        .map(drop)
    }

    /// One `GET users/{id}` per subject, [`ACCOUNT_CHECKS_AT_ONCE`] at a
    /// time, after `GET users/count` shows the realm is there (a realm that
    /// is gone answers 404 for every user). Subjects that are not Keycloak
    /// ids (UUIDs) are another issuer's and never missing here.
    async fn missing_accounts(&self, subjects: &[String]) -> Result<Vec<String>, IdentityError> {
        use futures_util::{StreamExt, TryStreamExt};
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let count = format!("{}/count", self.users_url());
        self.admin(|token| self.http.get(&count).bearer_auth(token))
            .await
            .map_err(|error| match error {
                IdentityError::Other(reason) => {
                    IdentityError::Unavailable(format!("the realm cannot be read: {reason}"))
                }
                other => other,
            })?;
        let mut ours = Vec::with_capacity(subjects.len());
        for subject in subjects {
            if orgman_domain::uuid::Uuid::parse_str(subject).is_ok() {
                ours.push(subject.clone());
            }
        }
        let found: Vec<Option<String>> = futures_util::stream::iter(ours)
            .map(|subject| self.account_missing(subject))
            .buffer_unordered(ACCOUNT_CHECKS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }
}

/// How many accounts [`KeycloakClient`] looks up at once in an account
/// check.
const ACCOUNT_CHECKS_AT_ONCE: usize = 8;

/// Keycloak's identity provider for an SSO configuration: OpenID Connect,
/// the endpoints orgman discovered and checked, hidden from the login page
/// (login pages send users to it with `kc_idp_hint`), e-mail addresses
/// not trusted for linking existing accounts, PKCE on, the user profile
/// imported at the first login only, and that login through
/// `first_login_flow`, which admits only the addresses of
/// [`BrokeredProvider::email_domains`] (under [`EMAIL_DOMAINS_ONLY_KEY`]
/// and [`EMAIL_DOMAINS_KEY`]).
fn provider_representation(
    provider: &BrokeredProvider,
    client: (&orgman_domain::IssuerUrl, &str, &ClientSecret),
    endpoints: &ProviderEndpoints,
    first_login_flow: &str,
) -> serde_json::Value {
    let (issuer_url, client_id, client_secret) = client;
    let mut config = json!({
        "issuer": issuer_url.as_str(),
        "authorizationUrl": endpoints.authorization,
        "tokenUrl": endpoints.token,
        "jwksUrl": endpoints.jwks,
        "useJwksUrl": "true",
        "validateSignature": "true",
        "clientId": client_id,
        "clientSecret": client_secret.expose(),
        "clientAuthMethod": "client_secret_post",
        "defaultScope": "openid email profile",
        "pkceEnabled": "true",
        "pkceMethod": "S256",
        "syncMode": "IMPORT",
        "hideOnLoginPage": "true",
    });
    if let Some(userinfo) = &endpoints.userinfo {
        config["userInfoUrl"] = json!(userinfo);
    }
    if let Some(logout) = &endpoints.end_session {
        config["logoutUrl"] = json!(logout);
    }
    if let Some(domains) = &provider.email_domains {
        config[EMAIL_DOMAINS_ONLY_KEY] = json!("true");
        if !domains.is_empty() {
            config[EMAIL_DOMAINS_KEY] = json!(domains.join(" "));
        }
    }
    json!({
        "alias": provider.alias,
        "displayName": provider.display_name,
        "providerId": "oidc",
        "enabled": provider.enabled,
        "hideOnLogin": true,
        "trustEmail": false,
        "storeToken": false,
        "linkOnly": false,
        "firstBrokerLoginFlowAlias": first_login_flow,
        "config": config,
    })
}

impl KeycloakClient {
    /// What Keycloak is given for `provider`: for OpenID Connect, the
    /// endpoints orgman discovered and checked; for SAML, the endpoint and
    /// certificates orgman read from the metadata.
    async fn representation(
        &self,
        provider: &BrokeredProvider,
    ) -> Result<serde_json::Value, IdentityError> {
        match &provider.connection {
            BrokeredConnection::Oidc {
                issuer_url,
                client_id,
                client_secret,
            } => {
                let endpoints = provider_endpoints(issuer_url, &self.addresses).await?;
                Ok(provider_representation(
                    provider,
                    (issuer_url, client_id, client_secret),
                    &endpoints,
                    &self.settings.first_login_flow,
                ))
            }
            BrokeredConnection::Saml { idp, .. } => Ok(saml::representation(
                provider,
                idp,
                &self.saml_service_provider(&provider.alias),
                &self.settings.first_login_flow,
            )),
        }
    }

    /// The service provider Keycloak is for the SAML provider `alias`.
    pub fn saml_service_provider(&self, alias: &str) -> SamlServiceProvider {
        SamlServiceProvider::of(&self.settings.public_url, &self.settings.realm, alias)
    }

    /// Keeps a SAML provider's attribute mappers equal to its attributes:
    /// orgman's mappers (`orgman-*`) are written or replaced, others left
    /// alone. Nothing for OpenID Connect providers.
    async fn put_mappers(&self, provider: &BrokeredProvider) -> Result<(), IdentityError> {
        let BrokeredConnection::Saml { attributes, .. } = &provider.connection else {
            return Ok(());
        };
        let url = format!("{}/{}/mappers", self.providers_url(), provider.alias);
        let existing: Vec<serde_json::Value> = self
            .admin(|token| self.http.get(&url).bearer_auth(token))
            .await?
            .json()
            .await
            .map_err(unavailable)?;
        for mut wanted in saml::mappers(&provider.alias, attributes) {
            let name = wanted["name"].as_str().unwrap_or_default().to_owned();
            match existing.iter().find(|m| m["name"] == name.as_str()) {
                Some(current) if current["config"] == wanted["config"] => {}
                Some(current) => {
                    let id = current["id"].as_str().unwrap_or_default().to_owned();
                    wanted["id"] = json!(id);
                    let one = format!("{url}/{id}");
                    self.admin(|token| self.http.put(&one).bearer_auth(token).json(&wanted))
                        .await?;
                }
                None => {
                    self.admin(|token| self.http.post(&url).bearer_auth(token).json(&wanted))
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// With the organization mirror on, links an organization's provider
    /// to the organization's mirror (when that is at Keycloak already; the
    /// mirror links it otherwise).
    /// Links the provider and sets its redirect domain. What fails is
    /// logged, not reported: the provider itself was written, and the
    /// mirror links it and sets the redirect when it next writes the
    /// organization (Keycloak refuses a redirect domain its organization
    /// does not have yet).
    async fn link_to_organization(&self, provider: &BrokeredProvider) -> Result<(), IdentityError> {
        if let Some(organization) = provider.organization {
            if self.mirror_links.load(Ordering::Relaxed) {
                if let Err(error) = self.link_provider(organization, &provider.alias).await {
                    tracing::warn!(alias = %provider.alias, %error, "provider not linked to its organization yet");
                } else if let Err(error) = self
                    .set_redirect(&provider.alias, provider.login_domain.as_deref())
                    .await
                {
                    tracing::info!(alias = %provider.alias, %error, "provider's redirect domain left to the organization mirror");
                }
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct ProviderSummary {
    alias: String,
}

#[async_trait]
impl LoginBroker for KeycloakClient {
    async fn put_provider(&self, provider: &BrokeredProvider) -> Result<(), IdentityError> {
        if !provider.alias.starts_with(BrokeredProvider::ALIAS_PREFIX) {
            return Err(IdentityError::Rejected(format!(
                "{:?} is not an alias orgman manages",
                provider.alias
            )));
        }
        let representation = self.representation(provider).await?;
        let url = format!("{}/{}", self.providers_url(), provider.alias);
        let existing = self
            .admin_tolerating(
                |token| self.http.get(&url).bearer_auth(token),
                Some(StatusCode::NOT_FOUND),
            )
            .await?;
        if existing.status() != StatusCode::NOT_FOUND {
            let existing: serde_json::Value = existing.json().await.map_err(unavailable)?;
            self.replace_provider(&url, representation, &existing)
                .await?;
            self.put_mappers(provider).await?;
            return self.link_to_organization(provider).await;
        }
        let collection = self.providers_url();
        match self
            .admin(|token| {
                self.http
                    .post(&collection)
                    .bearer_auth(token)
                    .json(&representation)
            })
            .await
        {
            // Created meanwhile by another replica: the next event or the
            // reconciliation writes it again.
            Ok(_) | Err(IdentityError::Conflict) => {}
            Err(error) => return Err(error),
        }
        self.put_mappers(provider).await?;
        self.link_to_organization(provider).await
    }

    async fn disable_provider(&self, alias: &str) -> Result<bool, IdentityError> {
        let url = format!("{}/{alias}", self.providers_url());
        let existing = self
            .admin_tolerating(
                |token| self.http.get(&url).bearer_auth(token),
                Some(StatusCode::NOT_FOUND),
            )
            .await?;
        if existing.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        let mut representation: serde_json::Value = existing.json().await.map_err(unavailable)?;
        if representation["enabled"] == json!(false) {
            return Ok(false);
        }
        representation["enabled"] = json!(false);
        self.admin(|token| self.http.put(&url).bearer_auth(token).json(&representation))
            .await?;
        tracing::warn!(
            provider = alias,
            "identity provider switched off in Keycloak: its endpoints no longer pass the issuer rules"
        );
        Ok(true)
    }

    async fn remove_provider(&self, alias: &str) -> Result<(), IdentityError> {
        let url = format!("{}/{alias}", self.providers_url());
        self.admin_tolerating(
            |token| self.http.delete(&url).bearer_auth(token),
            Some(StatusCode::NOT_FOUND),
        )
        .await
        .map(drop)
    }

    async fn provider_aliases(&self) -> Result<Vec<String>, IdentityError> {
        const PAGE: usize = 200;
        let url = self.providers_url();
        let mut aliases = Vec::new();
        loop {
            let first = aliases.len().to_string();
            let response = self
                .admin(|token| {
                    self.http.get(&url).bearer_auth(token).query(&[
                        ("briefRepresentation", "true"),
                        ("search", BrokeredProvider::ALIAS_PREFIX),
                        ("first", first.as_str()),
                        ("max", &PAGE.to_string()),
                    ])
                })
                .await?;
            let page: Vec<ProviderSummary> = response.json().await.map_err(unavailable)?;
            let full = page.len() == PAGE;
            aliases.extend(page.into_iter().map(|p| p.alias));
            if !full {
                break;
            }
        }
        aliases.retain(|alias| alias.starts_with(BrokeredProvider::ALIAS_PREFIX));
        Ok(aliases)
    }
}

/// Copies the redirect settings `existing` holds into `representation`;
/// whether there were any.
fn keep_redirects(representation: &mut serde_json::Value, existing: &serde_json::Value) -> bool {
    let mut kept = false;
    for key in organizations::REDIRECT_KEYS {
        if let Some(value) = existing["config"].get(key) {
            representation["config"][key] = value.clone();
            kept = true;
        }
    }
    kept
}

/// Takes the redirect settings out of `representation`.
fn drop_redirects(representation: &mut serde_json::Value) {
    if let Some(config) = representation["config"].as_object_mut() {
        for key in organizations::REDIRECT_KEYS {
            config.remove(key);
        }
    }
}
