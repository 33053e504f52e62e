//! The service's configuration, read once from the environment with the
//! reference service's variable names (see `docs/configuration.md`).

use std::fmt;
use std::time::Duration;

use orgman_domain::{CreationPolicy, MemberMirroring};
use orgman_kafka::KafkaSettings;
use orgman_postgres::PgSettings;
use std::sync::Arc;

use orgman_keycloak::KeycloakSettings;
use orgman_redis::RedisSettings;
use orgman_secrets::AesGcmCipher;
use orgman_spicedb::SpiceDbSettings;

/// Everything the service needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (`SERVER_ADDRESS`, default `0.0.0.0`).
    pub address: String,
    /// Port to listen on (`SERVER_PORT`, default 8080; 0 picks a free one).
    pub port: u16,
    /// The reference service's Spring profiles (`SPRING_PROFILES_ACTIVE`):
    /// acknowledged in a log line at start-up; orgman has no profiles,
    /// every setting is a variable of its own.
    pub spring_profiles: Option<String>,
    /// Refuse to start with a plaintext or unverified connection to a
    /// PostgreSQL, Redis, Kafka or SpiceDB on another host
    /// (`ORGMAN_REQUIRE_SECURE_TRANSPORT`; default on when
    /// `SPRING_PROFILES_ACTIVE` names `production` or `prod`, else off).
    pub require_secure_transport: bool,
    /// HTTP worker threads (`ORGMAN_HTTP_WORKERS`; default one per two
    /// CPUs, at least one). A database connection is driven by the worker
    /// that opened it, so a query on a connection of another worker wakes
    /// that worker's thread: fewer workers, fewer such wakeups.
    pub http_workers: Option<usize>,
    /// PostgreSQL (`DATABASE_URL`, or `SPRING_DATASOURCE_URL` in JDBC form
    /// with `SPRING_DATASOURCE_USERNAME` / `SPRING_DATASOURCE_PASSWORD`).
    pub database: PgSettings,
    /// Apply pending migrations at start-up (`SPRING_LIQUIBASE_ENABLED`,
    /// default true, as the reference service does).
    pub migrate_on_start: bool,
    /// Token verification.
    pub auth: AuthConfig,
    /// Upload limits.
    pub multipart: MultipartLimits,
    /// Member import by CSV.
    pub import: ImportLimits,
    /// Who may create organizations (`ORGMAN_ORGANIZATION_CREATION`:
    /// `platform-admins` (default) or `any-user`).
    pub creation: CreationPolicy,
    /// Name servers asked to verify domains (`ORGMAN_DNS_NAMESERVERS`:
    /// `ip` or `ip:port`, comma-separated; empty for the system's).
    pub dns_nameservers: Vec<std::net::SocketAddr>,
    /// How long an invitation can be accepted
    /// (`ORGMAN_INVITATION_TTL_HOURS`, default 168, one week).
    pub invitation_ttl: Duration,
    /// How often a replica writes when API keys were last used, each key
    /// at most once per interval (`ORGMAN_API_KEYS_LAST_USED_SECONDS`,
    /// default 60).
    pub api_key_last_used: Duration,
    /// Webhook delivery.
    pub webhooks: WebhookConfig,
    /// How directory people's accounts are made.
    pub directory: DirectoryConfig,
    /// Where invited people accept (`ORGMAN_INVITATION_ACCEPT_URL`, with
    /// `{token}` where the token goes, e.g.
    /// `https://app.example.com/join?token={token}`); without it, answers
    /// carry the token only.
    pub invitation_accept_url: Option<String>,
    /// The member limit new organizations start with
    /// (`ORGMAN_DEFAULT_MAX_MEMBERS`; unset or empty for none).
    pub default_max_members: Option<u32>,
    /// Days between a deletion request and the purge
    /// (`ORGMAN_DELETION_GRACE_DAYS`, default 30).
    pub deletion_grace_days: u16,
    /// Logging.
    pub logging: LoggingConfig,
    /// The broker and events topic (`SPRING_KAFKA_BOOTSTRAP_SERVERS`,
    /// `KAFKA_TOPIC_*`, `KAFKA_MESSAGE_MAX_BYTES`, ...).
    pub kafka: KafkaSettings,
    /// Run the outbox relays (Kafka, SpiceDB) in this process
    /// (`ORGMAN_OUTBOX_RELAY_ENABLED`, default true).
    pub relay_enabled: bool,
    /// Events a relay claims, delivers and settles at once
    /// (`ORGMAN_OUTBOX_BATCH_SIZE`, default 2000; produce requests are cut
    /// at `KAFKA_MESSAGE_MAX_BYTES` whatever the batch).
    pub outbox_batch: u32,
    /// How long settled events stay in the outbox before they are deleted
    /// (`ORGMAN_OUTBOX_RETENTION_HOURS`, default 168; 0 keeps them).
    pub outbox_retention: Option<Duration>,
    /// SpiceDB, when authorization goes through it
    /// (`ORGMAN_AUTHORIZER=spicedb`, the default when
    /// `FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN` is set); `None` for the
    /// PostgreSQL-only authorizer (`ORGMAN_AUTHORIZER=database`).
    pub spicedb: Option<SpiceDbSettings>,
    /// The Redis cache (`SPRING_REDIS_*`), unless `ORGMAN_CACHE_ENABLED=false`.
    pub redis: Option<RedisSettings>,
    /// SSO configurations.
    pub sso: SsoSettings,
    /// Erasure of people (GDPR Article 17).
    pub erasure: ErasureSettings,
    /// The organization console at `/console`.
    pub console: ConsoleSettings,
    /// Keycloak's Admin API as the service account, for user registration;
    /// `None` without `..._MAINIDENTITY_CLIENTSECRET`.
    pub keycloak: Option<KeycloakSettings>,
    /// Dependencies whose failure makes the service not ready
    /// (`ORGMAN_HEALTH_REQUIRED`, comma-separated; default `database`; names:
    /// database, redis, kafka, spicedb, identityProvider).
    pub health_required: std::collections::BTreeSet<String>,
    /// Who sees the components of `/actuator/health`
    /// (`MANAGEMENT_ENDPOINT_HEALTH_SHOW_DETAILS`: `never`,
    /// `when-authorized` (default: platform administrators) or `always`).
    pub health_details: HealthDetails,
    /// How long a dependency's health probe answers every caller before it
    /// is asked again (`ORGMAN_HEALTH_PROBE_INTERVAL_MS`, default 1000):
    /// health may be called at any rate, each dependency is pinged at most
    /// once per interval.
    pub health_probe_interval: Duration,
    /// How long the outbox backlog figures of `/actuator/metrics` are kept
    /// before PostgreSQL is asked again
    /// (`ORGMAN_METRICS_BACKLOG_REFRESH_MS`, default 5000), whatever the
    /// scrape rate.
    pub metrics_backlog_refresh: Duration,
    /// Platform components to watch (`ORGMAN_PLATFORM_COMPONENTS`,
    /// `name=url,name=url`).
    pub platform_components: Vec<PlatformComponent>,
    /// How often to probe them (`ORGMAN_PLATFORM_COMPONENTS_INTERVAL_SECONDS`, 30).
    pub platform_components_interval: Duration,
    /// How often to purge organizations whose grace period ended
    /// (`ORGMAN_PURGE_INTERVAL_SECONDS`, default 3600; 0 disables).
    pub purge_interval: Option<Duration>,
}

/// Spring's `management.endpoint.health.show-details`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthDetails {
    /// Only the overall status.
    Never,
    /// Components for a platform administrator's token.
    #[default]
    WhenAuthorized,
    /// Components for everyone.
    Always,
}

/// The organization console served at `/console`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Serve it (`ORGMAN_CONSOLE_ENABLED`, default true).
    pub enabled: bool,
    /// The public OpenID Connect client it logs in with
    /// (`ORGMAN_CONSOLE_CLIENT_ID`, default `orgman-console`).
    pub client_id: String,
    /// The issuer as browsers reach it (`ORGMAN_CONSOLE_ISSUER_URL`,
    /// default the issuer tokens are verified against).
    pub issuer: String,
}

impl ConsoleSettings {
    /// The issuer's origin (`https://login.example.com`), the one other
    /// place the page may connect to.
    pub fn issuer_origin(&self) -> String {
        url::Url::parse(&self.issuer)
            .map_or_else(|_| String::new(), |url| url.origin().ascii_serialization())
    }
}

/// `ORGMAN_CONSOLE_*`.
fn console(get: &Lookup<'_>, auth: &AuthConfig) -> Result<ConsoleSettings, ConfigError> {
    let env = Env::new(get);
    let issuer = env
        .text("ORGMAN_CONSOLE_ISSUER_URL")
        .unwrap_or_else(|| auth.issuer());
    let parsed = url::Url::parse(&issuer).map_err(|error| {
        ConfigError::new("ORGMAN_CONSOLE_ISSUER_URL", format!("not a URL: {error}"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            "ORGMAN_CONSOLE_ISSUER_URL",
            "must be an http or https URL",
        ));
    }
    Ok(ConsoleSettings {
        enabled: env.flag("ORGMAN_CONSOLE_ENABLED", true)?,
        client_id: env.text_or("ORGMAN_CONSOLE_CLIENT_ID", "orgman-console"),
        issuer: issuer.trim_end_matches('/').to_owned(),
    })
}

/// Erasure of people.
#[derive(Clone, Debug)]
pub struct ErasureSettings {
    /// What happens to an erased person's account at Keycloak
    /// (`ORGMAN_ERASURE_ACCOUNT`: `delete`, the default, `disable` or
    /// `keep`).
    pub account: orgman_domain::AccountErasure,
    /// The key of the pseudonyms that replace erased addresses
    /// (`ORGMAN_ERASURE_KEY`, `ORGMAN_ERASURE_KEY_ID`; without them, derived
    /// from the active SSO encryption key); `None` when neither is set, and
    /// erasure answers 503.
    pub pseudonyms: Option<Arc<orgman_secrets::HmacPseudonyms>>,
    /// How often the account check looks up the next page of users at
    /// Keycloak (`ORGMAN_ERASURE_CHECK_SECONDS`, default 60; 0 turns it
    /// off). It runs only when tokens come from the realm the service
    /// account manages.
    pub check_interval: Option<Duration>,
    /// Users looked up per round (`ORGMAN_ERASURE_CHECK_BATCH`, default
    /// 100).
    pub check_batch: usize,
    /// How long an account must stay missing before its user is erased
    /// (`ORGMAN_ERASURE_GRACE_SECONDS`, default 604800: seven days).
    pub grace: Duration,
    /// Above this share of missing accounts in a page, nobody is marked
    /// (`ORGMAN_ERASURE_CHECK_MAX_MISSING_PERCENT`, default 50).
    pub most_missing_percent: u8,
}

/// SSO configuration handling.
#[derive(Clone, Debug)]
pub struct SsoSettings {
    /// The secret cipher (`ORGMAN_SSO_ENCRYPTION_KEYS`,
    /// `ORGMAN_SSO_ENCRYPTION_ACTIVE_KEY`); `None` when no key is set.
    pub cipher: Option<Arc<AesGcmCipher>>,
    /// Accept `http://` issuers on loopback hosts
    /// (`ORGMAN_SSO_ALLOW_HTTP_LOOPBACK`, default false; development only).
    pub allow_http_loopback: bool,
    /// Let the connection test reach private, loopback and link-local
    /// addresses, and the login broker call them
    /// (`ORGMAN_SSO_ALLOW_PRIVATE_ISSUERS`, default false).
    pub allow_private_issuers: bool,
    /// Copy SSO configurations to Keycloak as identity providers
    /// (`ORGMAN_SSO_BROKER_SYNC`, default true; takes effect when the
    /// Keycloak service account and an encryption key are configured).
    pub broker_sync: bool,
    /// How often every replica reconciles Keycloak's identity providers
    /// with the configurations (`ORGMAN_SSO_BROKER_RECONCILE_SECONDS`,
    /// default 600; 0 turns it off).
    pub broker_reconcile_interval: Option<Duration>,
    /// How often SAML metadata is read again from its URL, and
    /// certificates checked for expiry (`ORGMAN_SSO_SAML_REFRESH_SECONDS`,
    /// default 3600; 0 turns it off).
    pub saml_refresh_interval: Option<Duration>,
    /// How long before expiry a SAML certificate is announced and shown as
    /// expiring (`ORGMAN_SSO_CERTIFICATE_WARNING_DAYS`, default 30).
    pub certificate_warning: Duration,
    /// Mirror organizations and memberships in Keycloak's Organizations
    /// (`ORGMAN_KEYCLOAK_ORGANIZATIONS`: `auto`, the default, mirrors when
    /// the realm has Organizations and the service account may manage
    /// them; `true`; `false`).
    pub organization_mirror: MirrorMode,
    /// Whose members the mirror copies (`ORGMAN_KEYCLOAK_MEMBERS`:
    /// `linked`, the default, for organizations with an SSO configuration;
    /// `all`; `none`).
    pub member_mirroring: MemberMirroring,
    /// How long a replica holds an organization it copies to Keycloak,
    /// and so how long an organization waits after a failed copy
    /// (`ORGMAN_KEYCLOAK_MIRROR_LEASE_SECONDS`, default 300).
    pub mirror_lease: Duration,
    /// How often an idle replica looks for organizations to copy that
    /// other replicas marked (`ORGMAN_KEYCLOAK_MIRROR_POLL_MS`, default
    /// 1000; its own marks wake it at once).
    pub mirror_poll: Duration,
    /// How long the relays of the copies to Keycloak wait after a commit
    /// wakes them, so that a moment's commits share one round
    /// (`ORGMAN_KEYCLOAK_RELAY_GATHER_MS`, default 200).
    pub mirror_gather: Duration,
    /// The mirror worker's first pause after a failed copy, doubled after
    /// each further one up to 64 times
    /// (`ORGMAN_KEYCLOAK_MIRROR_BACKOFF_MS`, default 1000).
    pub mirror_backoff: Duration,
    /// Most calls per second the mirror makes to Keycloak
    /// (`ORGMAN_KEYCLOAK_MIRROR_CALLS_PER_SECOND`, default 50; 0: no limit).
    pub mirror_calls_per_second: u32,
    /// Home-realm discovery requests per minute and client address
    /// (`ORGMAN_SSO_DISCOVERY_RATE_PER_MINUTE`, default 60; 0: no limit).
    pub discovery_rate_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` names the client for the rate limit
    /// (`ORGMAN_TRUSTED_PROXIES`: addresses and CIDR blocks,
    /// comma-separated; default none, so the peer is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Whether organizations are mirrored in Keycloak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorMode {
    /// When the realm has Organizations and the service account may
    /// manage them (asked at the first event, again every five minutes).
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// How bearer tokens are verified.
#[derive(Clone)]
pub struct AuthConfig {
    /// `SECURITY_TYPE`; only `jwt-public-key` is supported.
    pub security_type: String,
    /// The identity provider's base URL (`SECURITY_OAUTH2_BASE_SERVER_URL`),
    /// e.g. `https://keycloak.example.com/auth`.
    pub base_server_url: String,
    /// The realm whose tokens are accepted (`SECURITY_OAUTH2_REALM`, default
    /// `SECURITY_OAUTH2_SA_REALM`, else `flowx`).
    pub realm: String,
    /// Required `aud` value (`SECURITY_OAUTH2_AUDIENCE`, default
    /// `organization-manager`; set it empty to skip the audience check).
    pub audience: Option<String>,
    /// Realm role that makes a platform administrator
    /// (`SECURITY_PLATFORM_ADMIN_ROLE`, default `ADMIN`).
    pub admin_role: String,
    /// Realm role that lets a caller ask the check API about other users
    /// (`SECURITY_AUTHZ_CHECK_ROLE`, default `orgman-authz-check`).
    pub authz_check_role: String,
    /// Token claim holding the request's organization id
    /// (`SECURITY_ORGANIZATION_CLAIM`, default `org_id`).
    pub organization_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Shortest time between two key-set refreshes caused by unknown key ids
    /// (`SECURITY_JWKS_MIN_REFRESH_SECONDS`, default 10).
    pub jwks_min_refresh: Duration,
    /// Clients whose tokens are accepted, by their `azp` claim
    /// (`SECURITY_OAUTH2_AUTHORIZED_PARTIES`, comma-separated; empty, the
    /// default, accepts any client of the realm).
    pub authorized_parties: Vec<String>,
    /// How many verified tokens are remembered until they expire
    /// (`SECURITY_TOKEN_CACHE_SIZE`, default 10000; 0 verifies every
    /// request's token in full).
    pub token_cache_size: usize,
}

impl AuthConfig {
    /// The issuer: `<base>/realms/<realm>` (Keycloak's layout).
    pub fn issuer(&self) -> String {
        format!(
            "{}/realms/{}",
            self.base_server_url.trim_end_matches('/'),
            self.realm
        )
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("security_type", &self.security_type)
            .field("issuer", &self.issuer())
            .field("audience", &self.audience)
            .field("admin_role", &self.admin_role)
            .field("authz_check_role", &self.authz_check_role)
            .field("organization_claim", &self.organization_claim)
            .finish_non_exhaustive()
    }
}

/// Upload size limits (`MULTIPART_MAX_FILE_SIZE`, `MULTIPART_MAX_REQUEST_SIZE`,
/// Spring's size syntax: `50MB`, `512KB`, `1048576`).
#[derive(Clone, Copy, Debug)]
pub struct MultipartLimits {
    /// Largest file part, in bytes.
    pub max_file_size: usize,
    /// Largest whole request, in bytes.
    pub max_request_size: usize,
}

/// Member import settings.
#[derive(Clone, Copy, Debug)]
pub struct ImportLimits {
    /// Most data rows in one file (`ORGMAN_IMPORT_MAX_ROWS`, default
    /// 1,000,000); a longer file is refused when its next row is read.
    pub max_rows: u64,
    /// Rows applied in one transaction (`ORGMAN_IMPORT_CHUNK_SIZE`, default
    /// 5000, 1–10,000): memory and lock time are bounded by it.
    pub chunk_size: usize,
    /// Failed rows listed in the report (`ORGMAN_IMPORT_MAX_REPORTED_FAILURES`,
    /// default 1000); all are counted.
    pub max_reported_failures: usize,
}

/// Log output.
#[derive(Clone, Debug)]
pub struct LoggingConfig {
    /// Level for dependencies (`LOGGING_LEVEL_ROOT`, default INFO).
    pub root: String,
    /// Level for orgman's own crates (`LOGGING_LEVEL_APP`, default INFO).
    pub app: String,
    /// JSON lines (`LOGGING_FORMAT=json`, default) or readable text (`text`).
    pub json: bool,
}

use orgman_settings::Env;
/// A setting is missing or unusable: the variable and what is wrong, as
/// every adapter's settings report it.
pub use orgman_settings::SettingsError as ConfigError;

/// How the configuration reads a variable: the environment in production,
/// a map in tests.
type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// `SERVER_PORT`.
fn port(get: &Lookup<'_>) -> Result<u16, ConfigError> {
    let port = Env::new(get).number("SERVER_PORT", 8080_u64)?;
    u16::try_from(port)
        .map_err(|_| ConfigError::new("SERVER_PORT", format!("{port} is not a port")))
}

/// Whether `SPRING_PROFILES_ACTIVE` names a production profile.
fn production_profile(get: &Lookup<'_>) -> bool {
    Env::new(get)
        .text("SPRING_PROFILES_ACTIVE")
        .is_some_and(|profiles| {
            profiles.split(',').any(|p| {
                matches!(
                    p.trim().to_ascii_lowercase().as_str(),
                    "production" | "prod"
                )
            })
        })
}

/// `ORGMAN_HTTP_WORKERS`: 1-256, or unset for the default.
fn http_workers(get: &Lookup<'_>) -> Result<Option<usize>, ConfigError> {
    if get("ORGMAN_HTTP_WORKERS").is_none() {
        return Ok(None);
    }
    usize::try_from(Env::new(get).number("ORGMAN_HTTP_WORKERS", 1_u64)?)
        .ok()
        .filter(|n| (1..=256).contains(n))
        .map(Some)
        .ok_or(ConfigError::new("ORGMAN_HTTP_WORKERS", "must be 1-256"))
}

/// A size like `50MB` (default 50 MB).
fn size(get: &Lookup<'_>, name: &'static str) -> Result<usize, ConfigError> {
    let text = Env::new(get).text_or(name, "50MB");
    parse_size(&text)
        .ok_or_else(|| ConfigError::new(name, format!("{text:?} is not a size like 50MB")))
}

/// `SECURITY_*`: how tokens are verified and who is a platform
/// administrator.
fn auth(get: &Lookup<'_>) -> Result<AuthConfig, ConfigError> {
    let env = Env::new(get);
    let security_type = env.text_or("SECURITY_TYPE", "jwt-public-key");
    if security_type != "jwt-public-key" {
        return Err(ConfigError::new(
            "SECURITY_TYPE",
            format!("{security_type:?} is not supported; use jwt-public-key"),
        ));
    }
    Ok(AuthConfig {
        security_type,
        base_server_url: env
            .text("SECURITY_OAUTH2_BASE_SERVER_URL")
            .ok_or(ConfigError::new(
                "SECURITY_OAUTH2_BASE_SERVER_URL",
                "must be set",
            ))?,
        realm: env
            .text("SECURITY_OAUTH2_REALM")
            .or(env.text("SECURITY_OAUTH2_SA_REALM"))
            .unwrap_or_else(|| "flowx".into()),
        audience: match get("SECURITY_OAUTH2_AUDIENCE") {
            Some(value) if value.trim().is_empty() => None,
            Some(value) => Some(value.trim().to_owned()),
            None => Some("organization-manager".into()),
        },
        admin_role: env.text_or("SECURITY_PLATFORM_ADMIN_ROLE", "ADMIN"),
        authz_check_role: env.text_or("SECURITY_AUTHZ_CHECK_ROLE", "orgman-authz-check"),
        organization_claim: env.text_or("SECURITY_ORGANIZATION_CLAIM", "org_id"),
        leeway: Duration::from_secs(env.number("SECURITY_JWT_LEEWAY_SECONDS", 30)?),
        jwks_min_refresh: Duration::from_secs(env.number("SECURITY_JWKS_MIN_REFRESH_SECONDS", 10)?),
        authorized_parties: env
            .text("SECURITY_OAUTH2_AUTHORIZED_PARTIES")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        token_cache_size: usize::try_from(env.number("SECURITY_TOKEN_CACHE_SIZE", 10_000_u64)?)
            .unwrap_or(usize::MAX),
    })
}

/// `ORGMAN_ORGANIZATION_CREATION`.
fn creation(get: &Lookup<'_>) -> Result<CreationPolicy, ConfigError> {
    match Env::new(get)
        .text_or("ORGMAN_ORGANIZATION_CREATION", "platform-admins")
        .as_str()
    {
        "platform-admins" => Ok(CreationPolicy::PlatformAdminsOnly),
        "any-user" => Ok(CreationPolicy::AnyUser),
        other => Err(ConfigError::new(
            "ORGMAN_ORGANIZATION_CREATION",
            format!("{other:?}: expected platform-admins or any-user"),
        )),
    }
}

/// `ORGMAN_IMPORT_*`.
fn import_limits(get: &Lookup<'_>) -> Result<ImportLimits, ConfigError> {
    let env = Env::new(get);
    Ok(ImportLimits {
        max_rows: env.number("ORGMAN_IMPORT_MAX_ROWS", 1_000_000_u64)?.max(1),
        chunk_size: usize::try_from(
            env.number("ORGMAN_IMPORT_CHUNK_SIZE", 5000_u64)?
                .clamp(1, 10_000),
        )
        .unwrap_or(1000),
        max_reported_failures: usize::try_from(
            env.number("ORGMAN_IMPORT_MAX_REPORTED_FAILURES", 1000_u64)?,
        )
        .unwrap_or(usize::MAX),
    })
}

/// `ORGMAN_API_KEYS_LAST_USED_SECONDS` (1-3600, default 60).
fn api_key_last_used(get: &Lookup<'_>) -> Result<Duration, ConfigError> {
    let seconds = Env::new(get).number("ORGMAN_API_KEYS_LAST_USED_SECONDS", 60_u64)?;
    Ok(Duration::from_secs(seconds.clamp(1, 3600)))
}

/// How the accounts of directory people are made at the identity
/// provider, off the request path.
#[derive(Clone, Copy, Debug)]
pub struct DirectoryConfig {
    /// How often a replica looks for people waiting for an account
    /// (`ORGMAN_DIRECTORY_ACCOUNTS_POLL_MS`, default 1000).
    pub poll: Duration,
    /// How long after a failure a person's account is tried again
    /// (`ORGMAN_DIRECTORY_ACCOUNTS_RETRY_SECONDS`, default 30).
    pub retry: Duration,
}

fn directory(get: &Lookup<'_>) -> Result<DirectoryConfig, ConfigError> {
    let env = Env::new(get);
    Ok(DirectoryConfig {
        poll: Duration::from_millis(
            env.number("ORGMAN_DIRECTORY_ACCOUNTS_POLL_MS", 1000_u64)?
                .clamp(10, 60_000),
        ),
        retry: Duration::from_millis(
            env.number("ORGMAN_DIRECTORY_ACCOUNTS_RETRY_SECONDS", 30_u64)?
                .clamp(1, 86_400)
                .saturating_mul(1000),
        ),
    })
}

/// How webhooks are delivered.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// `ORGMAN_WEBHOOKS_ALLOW_HTTP_LOOPBACK` (default false): plain `http`
    /// to loopback addresses is allowed, for development and tests. Without
    /// it, only `https` to public addresses.
    pub allow_http_loopback: bool,
    /// How long one attempt may take (`ORGMAN_WEBHOOKS_TIMEOUT_MS`, default
    /// 10000).
    pub timeout: Duration,
    /// Endpoints attempted at once per replica
    /// (`ORGMAN_WEBHOOKS_CONCURRENCY`, default 16).
    pub concurrency: u32,
    /// How often a replica looks for deliveries that came due without a
    /// commit waking it (`ORGMAN_WEBHOOKS_POLL_MS`, default 1000).
    pub poll: Duration,
    /// The default overlap of a secret rotation
    /// (`ORGMAN_WEBHOOKS_SECRET_OVERLAP_SECONDS`, default 86400, one day).
    pub rotation_overlap: time::Duration,
    /// How long delivered and failed deliveries are kept, for the
    /// deliveries listing (`ORGMAN_WEBHOOKS_RETENTION_DAYS`, default 30).
    pub retention: Duration,
    /// Retries and disabling: `ORGMAN_WEBHOOKS_RETRY_FOR_SECONDS` (259200,
    /// three days), `ORGMAN_WEBHOOKS_BACKOFF_BASE_MS` (5000, doubled per
    /// failure), `ORGMAN_WEBHOOKS_BACKOFF_MAX_SECONDS` (21600),
    /// `ORGMAN_WEBHOOKS_DISABLE_AFTER_FAILURES` (24 in a row),
    /// `ORGMAN_WEBHOOKS_LEASE_SECONDS` (300).
    pub dispatch: orgman_domain::DispatchSettings,
}

fn webhooks(get: &Lookup<'_>) -> Result<WebhookConfig, ConfigError> {
    let env = Env::new(get);
    let defaults = orgman_domain::DispatchSettings::default();
    let timeout = Duration::from_millis(
        env.number("ORGMAN_WEBHOOKS_TIMEOUT_MS", 10_000_u64)?
            .clamp(100, 60_000),
    );
    Ok(WebhookConfig {
        allow_http_loopback: env.flag("ORGMAN_WEBHOOKS_ALLOW_HTTP_LOOPBACK", false)?,
        timeout,
        concurrency: env
            .number("ORGMAN_WEBHOOKS_CONCURRENCY", 16_u32)?
            .clamp(1, 1024),
        poll: Duration::from_millis(
            env.number("ORGMAN_WEBHOOKS_POLL_MS", 1000_u64)?
                .clamp(10, 60_000),
        ),
        rotation_overlap: time::Duration::seconds(
            env.number("ORGMAN_WEBHOOKS_SECRET_OVERLAP_SECONDS", 86_400_i64)?
                .clamp(0, 30 * 86_400),
        ),
        retention: Duration::from_secs(
            env.number("ORGMAN_WEBHOOKS_RETENTION_DAYS", 30_u64)?
                .clamp(1, 3650)
                .saturating_mul(86_400),
        ),
        dispatch: orgman_domain::DispatchSettings {
            retry_for: Duration::from_secs(env.number(
                "ORGMAN_WEBHOOKS_RETRY_FOR_SECONDS",
                defaults.retry_for.as_secs(),
            )?),
            backoff_base: Duration::from_millis(
                env.number("ORGMAN_WEBHOOKS_BACKOFF_BASE_MS", 5000_u64)?
                    .max(1),
            ),
            backoff_max: Duration::from_secs(
                env.number(
                    "ORGMAN_WEBHOOKS_BACKOFF_MAX_SECONDS",
                    defaults.backoff_max.as_secs(),
                )?
                .max(1),
            ),
            disable_after: env
                .number(
                    "ORGMAN_WEBHOOKS_DISABLE_AFTER_FAILURES",
                    defaults.disable_after,
                )?
                .max(1),
            // A lease outlives the attempts of one claim.
            lease: Duration::from_secs(
                env.number("ORGMAN_WEBHOOKS_LEASE_SECONDS", defaults.lease.as_secs())?,
            )
            .max(timeout * (defaults.per_endpoint + 1)),
            per_endpoint: defaults.per_endpoint,
        },
    })
}

/// `ORGMAN_DNS_NAMESERVERS`: IP addresses, each with an optional port.
fn dns_nameservers(get: &Lookup<'_>) -> Result<Vec<std::net::SocketAddr>, ConfigError> {
    Env::new(get)
        .text("ORGMAN_DNS_NAMESERVERS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|server| {
            server
                .parse::<std::net::SocketAddr>()
                .or_else(|_| {
                    server
                        .parse::<std::net::IpAddr>()
                        .map(|ip| std::net::SocketAddr::new(ip, 53))
                })
                .map_err(|_| {
                    ConfigError::new(
                        "ORGMAN_DNS_NAMESERVERS",
                        format!("{server:?} is not an IP address (with an optional port)"),
                    )
                })
        })
        .collect()
}

/// `ORGMAN_INVITATION_ACCEPT_URL`: must hold `{token}`.
fn invitation_accept_url(get: &Lookup<'_>) -> Result<Option<String>, ConfigError> {
    match Env::new(get).text("ORGMAN_INVITATION_ACCEPT_URL") {
        Some(url) if !url.contains("{token}") => Err(ConfigError::new(
            "ORGMAN_INVITATION_ACCEPT_URL",
            "must contain {token}",
        )),
        url => Ok(url),
    }
}

/// `ORGMAN_DEFAULT_MAX_MEMBERS`.
fn default_max_members(get: &Lookup<'_>) -> Result<Option<u32>, ConfigError> {
    Env::new(get)
        .text("ORGMAN_DEFAULT_MAX_MEMBERS")
        .map(|text| {
            text.parse().map_err(|_| {
                ConfigError::new(
                    "ORGMAN_DEFAULT_MAX_MEMBERS",
                    format!("{text:?} is not a member count"),
                )
            })
        })
        .transpose()
}

/// Hours, `0` for never.
fn hours_or_never(hours: u64) -> Option<Duration> {
    (hours > 0).then(|| Duration::from_secs(hours.saturating_mul(3600)))
}

/// Seconds, `0` for never.
fn seconds_or_never(seconds: u64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// `MANAGEMENT_ENDPOINT_HEALTH_SHOW_DETAILS`.
fn health_details(get: &Lookup<'_>) -> Result<HealthDetails, ConfigError> {
    match Env::new(get)
        .text("MANAGEMENT_ENDPOINT_HEALTH_SHOW_DETAILS")
        .map(|v| v.to_ascii_lowercase().replace('_', "-"))
        .as_deref()
    {
        None | Some("when-authorized") => Ok(HealthDetails::WhenAuthorized),
        Some("never") => Ok(HealthDetails::Never),
        Some("always") => Ok(HealthDetails::Always),
        Some(other) => Err(ConfigError::new(
            "MANAGEMENT_ENDPOINT_HEALTH_SHOW_DETAILS",
            format!("{other:?}: expected never, when-authorized or always"),
        )),
    }
}

/// `ORGMAN_HEALTH_REQUIRED`: the dependencies readiness needs.
fn health_required(get: &Lookup<'_>) -> Result<std::collections::BTreeSet<String>, ConfigError> {
    let names = Env::new(get).text_or("ORGMAN_HEALTH_REQUIRED", "database");
    let known = ["database", "redis", "kafka", "spicedb", "identityProvider"];
    let set: std::collections::BTreeSet<String> = names
        .split(',')
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    match set.iter().find(|n| !known.contains(&n.as_str())) {
        Some(bad) => Err(ConfigError::new(
            "ORGMAN_HEALTH_REQUIRED",
            format!("{bad:?} is not one of {known:?}"),
        )),
        None => Ok(set),
    }
}

/// `ORGMAN_PLATFORM_COMPONENTS`.
fn platform_components(get: &Lookup<'_>) -> Result<Vec<PlatformComponent>, ConfigError> {
    parse_components(&Env::new(get).text_or("ORGMAN_PLATFORM_COMPONENTS", ""))
        .map_err(|reason| ConfigError::new("ORGMAN_PLATFORM_COMPONENTS", reason))
}

/// `ORGMAN_ERASURE_*`.
fn erasure(get: &Lookup<'_>) -> Result<ErasureSettings, ConfigError> {
    let env = Env::new(get);
    Ok(ErasureSettings {
        account: match env.text("ORGMAN_ERASURE_ACCOUNT") {
            None => orgman_domain::AccountErasure::default(),
            Some(text) => orgman_domain::AccountErasure::parse(&text).ok_or_else(|| {
                ConfigError::new("ORGMAN_ERASURE_ACCOUNT", "must be delete, disable or keep")
            })?,
        },
        pseudonyms: orgman_secrets::HmacPseudonyms::from_env(
            get,
            AesGcmCipher::from_env(get)?.as_ref(),
        )?
        .map(Arc::new),
        check_interval: seconds_or_never(env.number("ORGMAN_ERASURE_CHECK_SECONDS", 60_u64)?),
        check_batch: env.number("ORGMAN_ERASURE_CHECK_BATCH", 100_usize)?.max(1),
        grace: Duration::from_secs(env.number("ORGMAN_ERASURE_GRACE_SECONDS", 604_800_u64)?),
        most_missing_percent: match env.number("ORGMAN_ERASURE_CHECK_MAX_MISSING_PERCENT", 50_u8)? {
            percent @ 0..=100 => percent,
            _ => {
                return Err(ConfigError::new(
                    "ORGMAN_ERASURE_CHECK_MAX_MISSING_PERCENT",
                    "must be between 0 and 100",
                ));
            }
        },
    })
}

/// `ORGMAN_SSO_*`, the Keycloak copies and home-realm discovery.
fn sso(get: &Lookup<'_>) -> Result<SsoSettings, ConfigError> {
    let env = Env::new(get);
    Ok(SsoSettings {
        cipher: AesGcmCipher::from_env(get)?.map(Arc::new),
        allow_http_loopback: env.flag("ORGMAN_SSO_ALLOW_HTTP_LOOPBACK", false)?,
        allow_private_issuers: env.flag("ORGMAN_SSO_ALLOW_PRIVATE_ISSUERS", false)?,
        broker_sync: env.flag("ORGMAN_SSO_BROKER_SYNC", true)?,
        broker_reconcile_interval: seconds_or_never(
            env.number("ORGMAN_SSO_BROKER_RECONCILE_SECONDS", 600_u64)?,
        ),
        saml_refresh_interval: seconds_or_never(
            env.number("ORGMAN_SSO_SAML_REFRESH_SECONDS", 3600_u64)?,
        ),
        certificate_warning: Duration::from_secs(
            env.number("ORGMAN_SSO_CERTIFICATE_WARNING_DAYS", 30_u64)?
                .saturating_mul(86_400),
        ),
        organization_mirror: match env.text("ORGMAN_KEYCLOAK_ORGANIZATIONS").as_deref() {
            None | Some("auto") => MirrorMode::Auto,
            Some("true") => MirrorMode::On,
            Some("false") => MirrorMode::Off,
            Some(_) => {
                return Err(ConfigError::new(
                    "ORGMAN_KEYCLOAK_ORGANIZATIONS",
                    "must be auto, true or false",
                ));
            }
        },
        member_mirroring: match env.text("ORGMAN_KEYCLOAK_MEMBERS") {
            None => MemberMirroring::default(),
            Some(text) => MemberMirroring::parse(&text).ok_or_else(|| {
                ConfigError::new("ORGMAN_KEYCLOAK_MEMBERS", "must be linked, all or none")
            })?,
        },
        mirror_lease: Duration::from_secs(
            env.number("ORGMAN_KEYCLOAK_MIRROR_LEASE_SECONDS", 300_u64)?
                .max(1),
        ),
        mirror_poll: Duration::from_millis(
            env.number("ORGMAN_KEYCLOAK_MIRROR_POLL_MS", 1000_u64)?
                .max(1),
        ),
        mirror_backoff: Duration::from_millis(
            env.number("ORGMAN_KEYCLOAK_MIRROR_BACKOFF_MS", 1000_u64)?
                .max(1),
        ),
        mirror_gather: Duration::from_millis(
            env.number("ORGMAN_KEYCLOAK_RELAY_GATHER_MS", 200_u64)?,
        ),
        mirror_calls_per_second: u32::try_from(
            env.number("ORGMAN_KEYCLOAK_MIRROR_CALLS_PER_SECOND", 50_u64)?,
        )
        .unwrap_or(u32::MAX),
        discovery_rate_per_minute: u32::try_from(
            env.number("ORGMAN_SSO_DISCOVERY_RATE_PER_MINUTE", 60_u64)?,
        )
        .unwrap_or(u32::MAX),
        trusted_proxies: crate::rate_limit::parse_networks(
            &env.text("ORGMAN_TRUSTED_PROXIES").unwrap_or_default(),
        )
        .map_err(|reason| ConfigError::new("ORGMAN_TRUSTED_PROXIES", reason))?,
    })
}

/// `ORGMAN_AUTHORIZER` and SpiceDB's settings: SpiceDB when configured,
/// unless the database is asked for.
fn spicedb(get: &Lookup<'_>) -> Result<Option<SpiceDbSettings>, ConfigError> {
    let settings = SpiceDbSettings::from_env(get)?;
    match Env::new(get).text("ORGMAN_AUTHORIZER").as_deref() {
        None | Some("spicedb") if settings.is_some() => Ok(settings),
        Some("spicedb") => Err(ConfigError::new(
            "FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN",
            "must be set",
        )),
        None | Some("database") => Ok(None),
        Some(other) => Err(ConfigError::new(
            "ORGMAN_AUTHORIZER",
            format!("{other:?}: expected spicedb or database"),
        )),
    }
}

impl Config {
    /// Whether organizations may be mirrored in Keycloak: the service
    /// account is configured and the mirror is not switched off.
    pub fn mirror_configured(&self) -> bool {
        self.keycloak.is_some() && self.sso.organization_mirror != MirrorMode::Off
    }

    /// Whether SSO configurations are copied to Keycloak: the sync is on
    /// and both the service account and an encryption key are configured.
    pub fn broker_sync_active(&self) -> bool {
        self.sso.broker_sync && self.keycloak.is_some() && self.sso.cipher.is_some()
    }

    /// Reads the configuration through `get` (the environment in
    /// production, a map in tests).
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable at fault.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get: &Lookup<'_> = &get;
        let env = Env::new(get);
        let number = |name: &'static str, default: u64| env.number(name, default);
        let flag = |name: &'static str, default: bool| env.flag(name, default);
        let auth = auth(get)?;
        let config = Config {
            address: env.text_or("SERVER_ADDRESS", "0.0.0.0"),
            port: port(get)?,
            spring_profiles: env.text("SPRING_PROFILES_ACTIVE"),
            require_secure_transport: flag(
                "ORGMAN_REQUIRE_SECURE_TRANSPORT",
                production_profile(get),
            )?,
            http_workers: http_workers(get)?,
            database: PgSettings::from_env(get)?,
            migrate_on_start: flag("SPRING_LIQUIBASE_ENABLED", true)?,
            console: console(get, &auth)?,
            auth,
            multipart: MultipartLimits {
                max_file_size: size(get, "MULTIPART_MAX_FILE_SIZE")?,
                max_request_size: size(get, "MULTIPART_MAX_REQUEST_SIZE")?,
            },
            import: import_limits(get)?,
            creation: creation(get)?,
            dns_nameservers: dns_nameservers(get)?,
            invitation_ttl: Duration::from_secs(
                number("ORGMAN_INVITATION_TTL_HOURS", 168)?
                    .clamp(1, 24 * 365)
                    .saturating_mul(3600),
            ),
            api_key_last_used: api_key_last_used(get)?,
            webhooks: webhooks(get)?,
            directory: directory(get)?,
            invitation_accept_url: invitation_accept_url(get)?,
            default_max_members: default_max_members(get)?,
            deletion_grace_days: u16::try_from(number("ORGMAN_DELETION_GRACE_DAYS", 30)?)
                .map_err(|_| ConfigError::new("ORGMAN_DELETION_GRACE_DAYS", "too large"))?,
            logging: LoggingConfig {
                root: env.text_or("LOGGING_LEVEL_ROOT", "INFO"),
                app: env.text_or("LOGGING_LEVEL_APP", "INFO"),
                json: env
                    .text_or("LOGGING_FORMAT", "json")
                    .eq_ignore_ascii_case("json"),
            },
            kafka: KafkaSettings::from_env(get)?,
            relay_enabled: flag("ORGMAN_OUTBOX_RELAY_ENABLED", true)?,
            outbox_batch: u32::try_from(number("ORGMAN_OUTBOX_BATCH_SIZE", 2000)?.clamp(1, 10_000))
                .unwrap_or(2000),
            outbox_retention: hours_or_never(number("ORGMAN_OUTBOX_RETENTION_HOURS", 168)?),
            keycloak: KeycloakSettings::from_env(get),
            health_details: health_details(get)?,
            health_probe_interval: Duration::from_millis(number(
                "ORGMAN_HEALTH_PROBE_INTERVAL_MS",
                1000,
            )?),
            metrics_backlog_refresh: Duration::from_millis(number(
                "ORGMAN_METRICS_BACKLOG_REFRESH_MS",
                5000,
            )?),
            health_required: health_required(get)?,
            platform_components: platform_components(get)?,
            purge_interval: seconds_or_never(number("ORGMAN_PURGE_INTERVAL_SECONDS", 3600)?),
            platform_components_interval: Duration::from_secs(
                number("ORGMAN_PLATFORM_COMPONENTS_INTERVAL_SECONDS", 30)?.max(1),
            ),
            erasure: erasure(get)?,
            sso: sso(get)?,
            redis: if flag("ORGMAN_CACHE_ENABLED", true)? {
                Some(RedisSettings::from_env(get)?)
            } else {
                None
            },
            spicedb: spicedb(get)?,
        };
        if config.require_secure_transport {
            config.check_secure_transport()?;
        }
        Ok(config)
    }

    /// Every dependency on another host is reached over verified TLS.
    fn check_secure_transport(&self) -> Result<(), ConfigError> {
        let mut transports = vec![self.database.transport(), self.kafka.transport()];
        transports.extend(self.redis.as_ref().map(RedisSettings::transport));
        transports.extend(self.spicedb.as_ref().map(SpiceDbSettings::transport));
        for transport in transports {
            transport.require_verified_tls()?;
        }
        Ok(())
    }
}

/// Parses Spring's data sizes: `50MB`, `512KB`, `1GB`, `100B`, `1048576`.
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim().to_ascii_uppercase();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: usize = digits.parse().ok()?;
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(factor)
}

/// One component to watch.
#[derive(Clone, PartialEq, Eq)]
pub struct PlatformComponent {
    /// Its name.
    pub name: String,
    /// Its health URL (may carry credentials: `Debug` redacts them).
    pub url: String,
}

impl fmt::Debug for PlatformComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformComponent")
            .field("name", &self.name)
            .field("url", &orgman_settings::redact_url(&self.url))
            .finish()
    }
}

/// Parses `ORGMAN_PLATFORM_COMPONENTS`: `name=url,name=url`.
///
/// # Errors
/// A message naming the bad entry.
pub fn parse_components(text: &str) -> Result<Vec<PlatformComponent>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, url) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not name=url"))?;
            let url = url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{name}: {url:?} is not an http(s) URL"));
            }
            Ok(PlatformComponent {
                name: name.trim().to_owned(),
                url: url.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_env(|name| map.get(name).cloned())
    }

    const BASE: &[(&str, &str)] = &[
        (
            "SPRING_DATASOURCE_URL",
            "jdbc:postgresql://postgresql:5432/organization_manager",
        ),
        ("SPRING_DATASOURCE_PASSWORD", "secret"),
        (
            "SECURITY_OAUTH2_BASE_SERVER_URL",
            "https://keycloak.example.com/auth/",
        ),
        ("SECURITY_OAUTH2_SA_REALM", "flowx"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs = BASE.to_vec();
        pairs.extend_from_slice(extra);
        config(&pairs)
    }

    #[test]
    fn a_trust_file_without_its_tls_switch_stops_the_start() {
        for (extra, named, switch) in [
            (
                vec![("ORGMAN_REDIS_CA_FILE", "/etc/redis/ca.pem")],
                "ORGMAN_REDIS_CA_FILE",
                "SPRING_REDIS_SSL",
            ),
            (
                vec![
                    ("FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN", "t"),
                    ("ORGMAN_SPICEDB_CA_FILE", "/etc/spicedb/ca.pem"),
                ],
                "ORGMAN_SPICEDB_CA_FILE",
                "FLOWX_LIB_CASCLIENT_SPICEDB_TLS",
            ),
            (
                vec![(
                    "SPRING_KAFKA_SSL_TRUST_STORE_LOCATION",
                    "file:/etc/kafka/ca.pem",
                )],
                "SPRING_KAFKA_SSL_TRUST_STORE_LOCATION",
                "SPRING_KAFKA_SECURITY_PROTOCOL",
            ),
            (
                vec![(
                    "SPRING_DATASOURCE_URL",
                    "jdbc:postgresql://postgresql:5432/orgman?sslrootcert=/etc/pg/ca.pem",
                )],
                "SPRING_DATASOURCE_URL",
                "sslmode",
            ),
        ] {
            let error = with(&extra).unwrap_err();
            assert_eq!(error.name, named, "{error}");
            assert!(error.reason.contains(switch), "{error}");
        }
        // With the switch on, the file is taken.
        let config = with(&[
            ("ORGMAN_REDIS_CA_FILE", "/etc/redis/ca.pem"),
            ("SPRING_REDIS_SSL", "true"),
        ])
        .unwrap();
        assert!(config.redis.unwrap().ca_file.is_some());
    }

    #[test]
    fn the_production_profile_refuses_weak_transport_to_other_hosts() {
        const PRODUCTION: (&str, &str) = ("SPRING_PROFILES_ACTIVE", "kubernetes,production");
        let refused = |extra: &[(&'static str, &'static str)]| {
            let mut extra = extra.to_vec();
            extra.push(PRODUCTION);
            with(&extra).unwrap_err()
        };
        // PostgreSQL without TLS, then with TLS but no verification.
        assert_eq!(refused(&[]).name, "SPRING_DATASOURCE_URL");
        const UNVERIFIED_DB: (&str, &str) = (
            "SPRING_DATASOURCE_URL",
            "jdbc:postgresql://postgresql:5432/orgman?sslmode=require",
        );
        assert!(
            refused(&[UNVERIFIED_DB])
                .reason
                .contains("without verifying")
        );
        const DB: (&str, &str) = (
            "SPRING_DATASOURCE_URL",
            "jdbc:postgresql://postgresql:5432/orgman?sslmode=verify-full",
        );
        // Redis's default host is remote.
        let redis = refused(&[DB]);
        assert_eq!(redis.name, "SPRING_REDIS_SSL", "{redis}");
        assert!(redis.reason.contains("redis-master"), "{redis}");
        const REDIS: (&str, &str) = ("SPRING_REDIS_SSL", "true");
        const KAFKA_HOST: (&str, &str) = ("SPRING_KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092");
        assert_eq!(
            refused(&[DB, REDIS, KAFKA_HOST]).name,
            "SPRING_KAFKA_SECURITY_PROTOCOL"
        );
        const KAFKA_TLS: (&str, &str) = ("SPRING_KAFKA_SECURITY_PROTOCOL", "SSL");
        const SPICEDB: (&str, &str) = ("FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN", "t");
        assert_eq!(
            refused(&[DB, REDIS, KAFKA_HOST, KAFKA_TLS, SPICEDB]).name,
            "FLOWX_LIB_CASCLIENT_SPICEDB_TLS"
        );
        let secure = [
            DB,
            REDIS,
            KAFKA_HOST,
            KAFKA_TLS,
            SPICEDB,
            ("FLOWX_LIB_CASCLIENT_SPICEDB_TLS", "true"),
            PRODUCTION,
        ];
        assert!(with(&secure).unwrap().require_secure_transport);
        // Everything on this machine needs no TLS.
        let local = [
            (
                "SPRING_DATASOURCE_URL",
                "jdbc:postgresql://127.0.0.1:5432/orgman",
            ),
            ("SPRING_REDIS_HOST", "localhost"),
            SPICEDB,
            ("FLOWX_LIB_CASCLIENT_SPICEDB_HOST", "::1"),
            PRODUCTION,
        ];
        assert!(with(&local).is_ok());
        // The operator may turn the rule off explicitly, or on without
        // the profile.
        assert!(with(&[PRODUCTION, ("ORGMAN_REQUIRE_SECURE_TRANSPORT", "false")]).is_ok());
        assert_eq!(
            with(&[("ORGMAN_REQUIRE_SECURE_TRANSPORT", "true")])
                .unwrap_err()
                .name,
            "SPRING_DATASOURCE_URL"
        );
        assert!(!with(&[]).unwrap().require_secure_transport);
    }

    #[test]
    fn the_printed_configuration_holds_no_secret() {
        let secrets = [
            "db-url-password",
            "db-query-password",
            "redis-password",
            "spicedb-token",
            "kafka-password",
            "sa-client-secret",
            "component-password",
            "component-token",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        ];
        let config = config(&[
            (
                "DATABASE_URL",
                "postgres://orgman:db-url-password@postgresql:5432/orgman?password=db-query-password",
            ),
            (
                "SECURITY_OAUTH2_BASE_SERVER_URL",
                "https://keycloak.example.com/auth/",
            ),
            ("SPRING_REDIS_PASSWORD", "redis-password"),
            ("FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN", "spicedb-token"),
            ("SPRING_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            (
                "SPRING_KAFKA_PROPERTIES_SASL_JAAS_CONFIG",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="orgman" password="kafka-password";"#,
            ),
            (
                "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET",
                "sa-client-secret",
            ),
            (
                "ORGMAN_PLATFORM_COMPONENTS",
                "engine=http://probe:component-password@engine:8080/actuator/health?access_token=component-token",
            ),
            (
                "ORGMAN_SSO_ENCRYPTION_KEYS",
                "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            ),
        ])
        .unwrap();
        let printed = format!("{config:#?}");
        for secret in secrets {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("engine:8080/actuator/health"), "{printed}");
    }

    #[test]
    fn http_workers_are_a_positive_count_or_the_default() {
        assert_eq!(config(BASE).unwrap().http_workers, None);
        let with = |value: &'static str| {
            let mut pairs = BASE.to_vec();
            pairs.push(("ORGMAN_HTTP_WORKERS", value));
            config(&pairs).map(|c| c.http_workers)
        };
        assert_eq!(with("3").unwrap(), Some(3));
        for bad in ["0", "-1", "many", "1000"] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reference_variables_and_defaults() {
        let config = config(BASE).unwrap();
        assert_eq!(config.port, 8080);
        assert!(config.migrate_on_start);
        assert_eq!(
            config.auth.issuer(),
            "https://keycloak.example.com/auth/realms/flowx"
        );
        assert_eq!(
            config.auth.audience.as_deref(),
            Some("organization-manager")
        );
        assert_eq!(config.multipart.max_file_size, 50 << 20);
        assert_eq!(config.creation, CreationPolicy::PlatformAdminsOnly);
        assert!(
            !format!("{config:?}").contains("secret"),
            "secrets never print"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let mut pairs = BASE.to_vec();
        pairs.push(("SERVER_PORT", "eighty"));
        assert!(
            config(&pairs)
                .unwrap_err()
                .to_string()
                .starts_with("SERVER_PORT")
        );
        let mut pairs = BASE.to_vec();
        pairs.push(("MULTIPART_MAX_FILE_SIZE", "lots"));
        assert!(
            config(&pairs)
                .unwrap_err()
                .to_string()
                .starts_with("MULTIPART_MAX_FILE_SIZE")
        );
        let mut pairs = BASE.to_vec();
        pairs.push(("SECURITY_TYPE", "oauth-magic"));
        assert!(config(&pairs).is_err());
        assert_eq!(
            config(&BASE[..2]).unwrap_err(),
            ConfigError::new("SECURITY_OAUTH2_BASE_SERVER_URL", "must be set")
        );
    }

    #[test]
    fn sizes_use_spring_syntax() {
        assert_eq!(parse_size("50MB"), Some(52_428_800));
        assert_eq!(parse_size("512kb"), Some(524_288));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1.5MB"), None);
        assert_eq!(parse_size("MB"), None);
    }
}

#[cfg(test)]
mod component_tests {
    use super::*;

    #[test]
    fn components_parse_from_name_url_pairs() {
        let parsed = parse_components(
            "engine=http://engine:8080/actuator/health, admin=https://admin/health",
        )
        .unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[1],
            PlatformComponent {
                name: "admin".into(),
                url: "https://admin/health".into()
            }
        );
        assert!(parse_components("engine").is_err());
        assert!(parse_components("engine=ftp://x").is_err());
        assert!(parse_components("").unwrap().is_empty());
    }
}
