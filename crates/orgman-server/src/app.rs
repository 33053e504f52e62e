//! The composition root: builds adapters and the service from the
//! configuration, and serves the API.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::operability::components::{self, ComponentMonitor};
use crate::operability::metered::MeteredAuthorizer;
use crate::operability::metrics::{self, Metrics};
use crate::operability::{Dependencies, health};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpMessage, HttpResponse, HttpServer, web};
use anyhow::Context;
use orgman_domain::ports::SecretCipher;
use orgman_domain::ports::{
    Authorizer, MembershipCache, NoCache, RoleAuthorizer, SystemClock, UuidV7Generator,
};
use orgman_domain::ports::{OutboxSink, SyncGuard};
use orgman_domain::{
    AuditService, InvitationService, OrganizationService, OutboxRelay, RequestId, ServicePorts,
    ServiceSettings, SsoService, UserService,
};
use orgman_kafka::KafkaPublisher;
use orgman_keycloak::KeycloakClient;
use orgman_postgres::{PgStore, migrate};
use orgman_redis::RedisCache;
use orgman_spicedb::SpiceDbAuthorizer;
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::TokenVerifier;
use crate::background::{
    Pacing, RelayWake, spawn_outbox_pruner, spawn_purger, spawn_relay, spawn_spicedb_keeper,
};
use crate::config::Config;
use crate::extract::Provisioning;
use crate::problem::ApiError;
use crate::routes::{audit, invitations, members, organizations, sso, users};
use crate::state::AppState;

/// The request id header, read (when a UUID) and always answered.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orgman",
        description = "Organization Manager: organizations (tenants), their lifecycle, members and roles.\n\nErrors are `application/problem+json` with a stable `code`. Lists are keyset-paginated: pass a page's `nextCursor` as `after`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::problem::Problem, crate::problem::FieldError))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from the identity provider (Keycloak or any OIDC provider)"))
                    .build(),
            ),
        );
    }
}

/// A running (not yet awaited) server and the port it listens on.
#[allow(missing_debug_implementations)]
pub struct Application {
    port: u16,
    server: Server,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Builds everything from the configuration and binds the listener:
    /// migrations (when enabled), adapters, use cases, background work
    /// (outbox relays, platform component monitor), then HTTP.
    ///
    /// # Errors
    /// Unusable configuration, failed migrations, or a port already taken.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        // rustls needs one process-wide crypto provider before any client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if config.migrate_on_start {
            let applied = migrate::run_pending(config.database.url())
                .await
                .with_context(|| format!("migrating {}", config.database.redacted_url()))?;
            tracing::info!(
                applied = applied.len(),
                "database migrations: update has been successful"
            );
        }
        let metrics = Arc::new(Metrics::new());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;

        // Adapters.
        let store = PgStore::connect(&config.database).map_err(|e| anyhow::anyhow!("{e}"))?;
        // Without SpiceDB nothing consumes the authorizer sink.
        let store = Arc::new(if config.spicedb.is_some() {
            store
        } else {
            store.without_authorizer_sink()
        });
        tracing::info!(
            issuer = %config.auth.issuer(),
            audience = config.auth.audience.as_deref().unwrap_or("(not checked)"),
            admin_role = %config.auth.admin_role,
            "bearer tokens: access tokens of this issuer whose aud includes the audience are accepted"
        );
        let verifier = TokenVerifier::new(config.auth.clone(), http.clone());
        if let Err(error) = verifier.warm_up().await {
            // Not fatal: tokens are refused with 503 until keys can be loaded.
            tracing::warn!(%error, issuer = %config.auth.issuer(), "identity provider keys not loaded yet");
        }
        let redis = match &config.redis {
            Some(settings) => Some(Arc::new(
                RedisCache::connect(settings.clone()).map_err(anyhow::Error::msg)?,
            )),
            None => None,
        };
        let cache: Arc<dyn MembershipCache> = match &redis {
            Some(redis) => redis.clone(),
            None => Arc::new(NoCache),
        };
        let kafka = config
            .relay_enabled
            .then(|| Arc::new(KafkaPublisher::new(config.kafka.clone())));
        let spicedb = match &config.spicedb {
            Some(settings) => Some(Arc::new(
                SpiceDbAuthorizer::connect(settings.clone()).map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
            None => None,
        };
        let keycloak = match config.keycloak.clone() {
            // The token endpoint and the Admin API never redirect; not
            // following redirects keeps the service account's credentials
            // from being sent anywhere else.
            Some(settings) => Some(Arc::new(KeycloakClient::new(
                settings,
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .context("building the identity provider's HTTP client")?,
            ))),
            None => None,
        };

        let mut background = Vec::new();
        let mut relays = Vec::new();
        if let Some(kafka) = &kafka {
            // Creates the topic when missing, without holding up start-up:
            // until the broker answers, events wait in the outbox.
            let starting = kafka.clone();
            background.push(tokio::spawn(async move {
                match starting.ensure_ready().await {
                    Ok(()) => tracing::info!(topic = %starting.settings().topic, "kafka reachable; events topic ready"),
                    Err(error) => tracing::warn!(%error, "kafka not reachable yet; events wait in the outbox"),
                }
            }));
            relays.push(Arc::new(OutboxRelay::new(
                store.clone(),
                kafka.clone(),
                OutboxSink::Broker,
                config.outbox_batch,
            )));
        }
        let authorizer: Arc<dyn Authorizer> = match (&spicedb, &config.spicedb) {
            (Some(spicedb), Some(settings)) => {
                if settings.write_schema {
                    match spicedb.ensure_schema().await {
                        Ok(written) => {
                            tracing::info!(written, "SpiceDB client initialized; schema in place")
                        }
                        // Not fatal: checks fail closed until SpiceDB answers.
                        Err(error) => {
                            tracing::warn!(%error, "SpiceDB not reachable at start-up; checks fail closed until it is")
                        }
                    }
                }
                if config.relay_enabled {
                    relays.push(Arc::new(OutboxRelay::new(
                        store.clone(),
                        spicedb.clone(),
                        OutboxSink::Authorizer,
                        config.outbox_batch,
                    )));
                }
                background.push(spawn_spicedb_keeper(
                    spicedb.clone(),
                    store.clone(),
                    Duration::from_millis(500),
                    settings.reconcile_interval,
                ));
                // Every replica fails closed for an organization whose
                // authorization events are in doubt (from the outbox).
                let guarded = Arc::new(SyncGuard::new(
                    spicedb.clone(),
                    store.clone(),
                    Duration::from_secs(5),
                ));
                Arc::new(MeteredAuthorizer::new(guarded, metrics.clone(), "spicedb"))
            }
            _ => Arc::new(MeteredAuthorizer::new(
                Arc::new(RoleAuthorizer::new(store.clone(), cache.clone())),
                metrics.clone(),
                "database",
            )),
        };
        let wake = Arc::new(RelayWake::default());
        for relay in &relays {
            background.push(spawn_relay(
                relay.clone(),
                Pacing::default(),
                wake.register(),
            ));
        }
        if let Some(retention) = config.outbox_retention.filter(|_| config.relay_enabled) {
            background.push(spawn_outbox_pruner(
                store.clone(),
                relays.iter().map(|r| r.target()).collect(),
                retention,
                Duration::from_secs(300),
            ));
        }

        // Use cases.
        let service = Arc::new(OrganizationService::new(
            ServicePorts {
                organizations: store.clone(),
                members: store.clone(),
                authorizer,
                cache,
                clock: Arc::new(SystemClock),
                ids: Arc::new(UuidV7Generator),
                commit_signal: wake.clone(),
            },
            ServiceSettings {
                deletion_grace: time::Duration::days(i64::from(config.deletion_grace_days)),
                creation: config.creation,
                default_max_members: config.default_max_members,
            },
        ));
        let sso = SsoService::new(
            service.clone(),
            store.clone(),
            config
                .sso
                .cipher
                .clone()
                .map(|c| c as Arc<dyn SecretCipher>),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
        );
        if config.sso.cipher.is_none() {
            tracing::warn!(
                "ORGMAN_SSO_ENCRYPTION_KEYS is not set: SSO configurations cannot be created or changed"
            );
        }
        let registration = keycloak
            .clone()
            .map(|keycloak| UserService::new(service.clone(), store.clone(), keycloak));

        if let Some(interval) = config.purge_interval {
            background.push(spawn_purger(service.clone(), metrics.clone(), interval));
        }

        // Watching the platform's other components.
        let components = Arc::new(ComponentMonitor::default());
        if !config.platform_components.is_empty() {
            background.push(components.spawn(
                config.platform_components.clone(),
                config.platform_components_interval,
                metrics.clone(),
            ));
        }

        let listener = TcpListener::bind((config.address.as_str(), config.port))
            .with_context(|| format!("binding {}:{}", config.address, config.port))?;
        let port = listener.local_addr()?.port();
        let dependencies = Dependencies {
            store: store.clone(),
            redis,
            kafka,
            spicedb,
            keycloak,
            verifier: verifier.clone(),
            relays,
            required: config.health_required.clone(),
        };
        let audit = AuditService::new(service.clone(), store.clone());
        let invitations = InvitationService::new(
            service.clone(),
            store.clone(),
            Arc::new(orgman_secrets::RandomTokens::new()),
            time::Duration::try_from(config.invitation_ttl).unwrap_or(time::Duration::days(7)),
        );
        let state = web::Data::new(AppState {
            service,
            sso,
            audit,
            invitations,
            registration,
            users: store,
            verifier,
            provisioning: Provisioning::default(),
            dependencies,
            metrics,
            components,
            config: Arc::new(config),
        });
        let server = HttpServer::new(move || {
            let json_limit = 256 * 1024;
            let (app, api) = App::new()
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(json_limit)
                        .error_handler(|error, _| json_error(error).into()),
                )
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::bad_request("invalid-path-parameter", error.to_string()).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    ApiError::bad_request("invalid-query-parameter", error.to_string()).into()
                }))
                .service(organizations::list_organizations)
                .service(organizations::create_organization)
                .service(organizations::my_organizations)
                .service(organizations::current_organization)
                .service(organizations::get_organization)
                .service(organizations::update_organization)
                .service(organizations::set_member_limit)
                .service(organizations::suspend)
                .service(organizations::reactivate)
                .service(organizations::request_deletion)
                .service(organizations::restore)
                .service(organizations::purge)
                .service(invitations::invite)
                .service(invitations::list)
                .service(invitations::revoke)
                .service(invitations::resend)
                .service(invitations::accept)
                .service(audit::organization_events)
                .service(audit::all_events)
                .service(members::list_members)
                .service(members::add_member)
                .service(members::import_members)
                .service(members::change_role)
                .service(members::remove_member)
                .service(users::me)
                .service(users::register)
                .service(sso::list_org)
                .service(sso::create_org)
                .service(sso::get_org)
                .service(sso::update_org)
                .service(sso::delete_org)
                .service(sso::test_org)
                .service(sso::list_installation)
                .service(sso::create_installation)
                .service(sso::get_installation)
                .service(sso::update_installation)
                .service(sso::delete_installation)
                .service(sso::test_installation)
                .service(components::platform_components)
                .split_for_parts();
            let routes = std::sync::Arc::new(RouteMethods::from_openapi(&api));
            app.service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", api))
                .service(health::overall)
                .service(health::liveness)
                .service(health::readiness)
                .service(metrics::metrics)
                .service(metrics::info)
                .default_service(web::to(move |req: actix_web::HttpRequest| {
                    let routes = routes.clone();
                    async move {
                        match routes.allowed(req.path()) {
                            // A known path, another method: 405 with Allow.
                            Some(allowed) => {
                                let mut response = HttpResponse::from_error(ApiError::new(
                                    actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                                    "method-not-allowed",
                                    "Method not allowed",
                                    format!(
                                        "{} {} is not served; allowed: {allowed}",
                                        req.method(),
                                        req.path()
                                    ),
                                ));
                                if let Ok(value) = HeaderValue::from_str(&allowed) {
                                    response
                                        .headers_mut()
                                        .insert(actix_web::http::header::ALLOW, value);
                                }
                                response
                            }
                            None => HttpResponse::from_error(ApiError::not_found(
                                "route-not-found",
                                "no such route",
                            )),
                        }
                    }
                }))
                .wrap(from_fn(request_context))
        })
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            background,
        })
    }

    /// The port the server listens on (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then lets in-flight requests finish.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in &self.background {
            task.abort();
        }
        result
    }
}

/// Maps JSON body errors: wrong content type 415, too large 413, anything
/// else (syntax, unknown fields, wrong types) 400.
fn json_error(error: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match error {
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "the body must be application/json",
        ),
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Payload too large",
            format!("the body exceeds {limit} bytes"),
        ),
        E::Deserialize(error) => ApiError::bad_request("malformed-body", error.to_string()),
        other => ApiError::bad_request("malformed-body", other.to_string()),
    }
}

/// The methods each documented path template serves, for 405 answers.
#[derive(Debug, Default)]
struct RouteMethods {
    routes: Vec<(Vec<String>, Vec<&'static str>)>,
}

impl RouteMethods {
    fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, served)| served.then_some(name))
                .collect();
                (template.split('/').map(str::to_owned).collect(), methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods served on `path` (`GET, POST`), if a template matches it.
    fn allowed(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut allowed: Vec<&str> = Vec::new();
        for (template, methods) in &self.routes {
            let matches = template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| {
                    (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                });
            if matches {
                allowed.extend(methods);
            }
        }
        allowed.sort_unstable();
        allowed.dedup();
        (!allowed.is_empty()).then(|| allowed.join(", "))
    }
}

/// Gives every request an id (the caller's `X-Request-Id` when it is a UUID),
/// a tracing span carrying it (so every log line of the request has it), the
/// response header, and one access log line.
async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<RequestId>().ok())
        .unwrap_or_else(|| RequestId::from_uuid(uuid::Uuid::now_v7()));
    req.extensions_mut().insert(request_id);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let method = req.method().to_string();
    async move {
        let mut response = next.call(req).await?;
        if let Some(state) = response.request().app_data::<web::Data<AppState>>() {
            let route = response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".into());
            state.metrics.observe_request(
                &method,
                &route,
                response.status().as_u16(),
                started.elapsed(),
            );
        }
        if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request finished"
        );
        Ok(response)
    }
    .instrument(span)
    .await
}
