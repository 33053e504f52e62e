//! The composition root: builds adapters and the service from the
//! configuration, and serves the API.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use crate::operability::components::ComponentMonitor;
use crate::operability::metrics::Metrics;
use crate::routes::actuator;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpMessage, HttpResponse, HttpServer, web};
use anyhow::Context;
use orgman_domain::RequestId;
use orgman_postgres::migrate;
use tracing::Instrument;
use utoipa_swagger_ui::SwaggerUi;

use crate::background::spawn_purger;
use crate::config::Config;
use crate::openapi::{OPENAPI_DOCUMENT, OPENAPI_PATH};
use crate::problem::{ApiError, ProblemCode};
use crate::provisioning::Provisioning;
use crate::state::AppState;
use crate::wiring::{Adapters, Delivery, UseCases};

/// The request id header, read (when a UUID) and always answered.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

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
        for note in config.database.notes() {
            tracing::info!(%note, "SPRING_DATASOURCE_URL");
        }
        if config.migrate_on_start {
            migrate_on_start(&config).await?;
        }
        if let Some(profiles) = &config.spring_profiles {
            tracing::info!(
                %profiles,
                "SPRING_PROFILES_ACTIVE acknowledged: orgman has no profiles; every setting is a variable of its own (docs/configuration.md)"
            );
        }
        let metrics = Arc::new(Metrics::new(config.metrics_backlog_refresh));
        let adapters = Adapters::connect(&config)?;
        tracing::info!(
            issuer = %config.auth.issuer(),
            audience = config.auth.audience.as_deref().unwrap_or("(not checked)"),
            admin_role = %config.auth.admin_role,
            "bearer tokens: access tokens of this issuer whose aud includes the audience are accepted"
        );
        let mut background = Vec::new();
        let delivery = Delivery::start(&config, &adapters, &metrics, &mut background).await;
        let use_cases = UseCases::build(&config, &adapters, &delivery)?;
        let components = Arc::new(ComponentMonitor::default());
        let key_usage = Arc::new(crate::key_usage::KeyUsage::new(config.api_key_last_used));
        background.push(key_usage.clone().spawn(use_cases.api_keys.clone()));
        background.extend(spawn_watchers(
            &config,
            &adapters,
            &use_cases,
            &metrics,
            &components,
        ));

        let listener = TcpListener::bind((config.address.as_str(), config.port))
            .with_context(|| format!("binding {}:{}", config.address, config.port))?;
        let port = listener.local_addr()?.port();
        let dependencies = adapters.dependencies(
            delivery.relays,
            config.health_required.clone(),
            config.health_probe_interval,
        );
        let state = web::Data::new(AppState {
            service: use_cases.organizations,
            sso: use_cases.sso,
            audit: use_cases.audit,
            invitations: use_cases.invitations,
            api_keys: use_cases.api_keys.clone(),
            webhooks: use_cases.webhooks.clone(),
            directory: use_cases.directory.clone(),
            key_usage: key_usage.clone(),
            domains: use_cases.domains,
            roles: use_cases.roles,
            registration: use_cases.registration,
            erasure: use_cases.erasure,
            users: adapters.store,
            verifier: adapters.verifier,
            provisioning: Provisioning::new(use_cases.provisioner),
            dependencies,
            metrics,
            components,
            discovery_limiter: crate::rate_limit::RateLimiter::per_minute(
                config.sso.discovery_rate_per_minute,
            ),
            trusted_proxies: crate::rate_limit::TrustedProxies::new(
                config.sso.trusted_proxies.clone(),
            ),
            config: Arc::new(config),
        });
        let workers = state.config.http_workers;
        let server = http_server(state, listener, workers)?;
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

async fn migrate_on_start(config: &Config) -> anyhow::Result<()> {
    let applied = migrate::run_pending_with(&config.database)
        .await
        .with_context(|| format!("migrating {}", config.database.redacted_url()))?;
    tracing::info!(
        applied = applied.len(),
        "database migrations: update has been successful"
    );
    Ok(())
}

/// The tasks that watch rather than serve: the identity provider's keys
/// (loaded in the background; a token that arrives first has them fetched
/// on demand, or gets 503), the purger of organizations whose grace period
/// ended, and the monitor of the platform's other components.
fn spawn_watchers(
    config: &Config,
    adapters: &Adapters,
    use_cases: &UseCases,
    metrics: &Arc<Metrics>,
    components: &Arc<ComponentMonitor>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let warming = adapters.verifier.clone();
    let issuer = config.auth.issuer();
    tasks.push(tokio::spawn(async move {
        if let Err(error) = warming.warm_up().await {
            tracing::warn!(%error, %issuer, "identity provider keys not loaded yet");
        }
    }));
    if let Some(interval) = config.purge_interval {
        tasks.push(spawn_purger(
            use_cases.organizations.clone(),
            metrics.clone(),
            interval,
        ));
    }
    if config.relay_enabled {
        tasks.push(crate::webhooks::spawn_dispatcher(
            config,
            use_cases.webhooks.clone(),
            use_cases.webhook_wake.clone(),
            metrics.clone(),
        ));
    }
    if let (true, Some(keycloak)) = (config.relay_enabled, adapters.keycloak.clone()) {
        let accounts = orgman_domain::DirectoryAccounts {
            queue: adapters.store.clone(),
            identity: keycloak,
            batch: 50,
            lease: std::time::Duration::from_secs(60),
            retry: config.directory.retry,
        };
        tasks.push(crate::background::spawn_directory_accounts(
            use_cases.directory.clone(),
            accounts,
            config.directory.poll,
        ));
    }
    if let Some(check) = account_check(config, adapters, use_cases) {
        tasks.push(crate::background::spawn_account_check(
            check.0,
            metrics.clone(),
            check.1,
        ));
    }
    if let Some(every) = config.sso.saml_refresh_interval {
        tasks.push(crate::background::spawn_saml_refresh(
            use_cases.sso.clone(),
            metrics.clone(),
            every,
        ));
    }
    if !config.platform_components.is_empty() {
        tasks.push(components.spawn(
            config.platform_components.clone(),
            config.platform_components_interval,
            metrics.clone(),
        ));
    }
    tasks
}

/// The account check, when erasure is set up, Keycloak's Admin API is
/// configured and tokens come from the realm it manages (users of another
/// issuer would all look deleted), with its interval.
fn account_check(
    config: &Config,
    adapters: &Adapters,
    use_cases: &UseCases,
) -> Option<(orgman_domain::AccountCheck, std::time::Duration)> {
    let every = config.erasure.check_interval?;
    let (erasure, keycloak, settings) = (
        use_cases.erasure.clone()?,
        adapters.keycloak.clone()?,
        config.keycloak.as_ref()?,
    );
    let managed = format!("{}/realms/{}", settings.base_url, settings.realm);
    if managed != config.auth.issuer() {
        tracing::info!(
            %managed,
            issuer = %config.auth.issuer(),
            "account check off: tokens come from another realm than the one the service account manages"
        );
        return None;
    }
    let check = orgman_domain::AccountCheck::new(
        adapters.store.clone(),
        keycloak,
        erasure,
        std::sync::Arc::new(orgman_domain::ports::SystemClock),
        orgman_domain::AccountCheckSettings {
            batch: config.erasure.check_batch,
            grace: config.erasure.grace,
            most_missing: f64::from(config.erasure.most_missing_percent) / 100.0,
        },
    );
    Some((check, every))
}

/// The HTTP server over the application state: the documented API routes,
/// Swagger UI, the actuator, 405/404 answers for everything else, and the
/// request context middleware.
fn http_server(
    state: web::Data<AppState>,
    listener: TcpListener,
    workers: Option<usize>,
) -> std::io::Result<Server> {
    // The document is built once and shared by the workers as JSON bytes:
    // built per worker it held megabytes of schemas in each.
    let routes = std::sync::Arc::new(RouteMethods::from_document(OPENAPI_DOCUMENT)?);
    let document = web::Bytes::from_static(OPENAPI_DOCUMENT);
    let console = state.config.console.clone();
    let server = HttpServer::new(move || {
        let json_limit = 256 * 1024;
        let routes = routes.clone();
        let document = document.clone();
        let app = App::new()
            .app_data(state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(json_limit)
                    .error_handler(|error, _| json_error(error).into()),
            )
            .app_data(web::PathConfig::default().error_handler({
                let routes = routes.clone();
                move |error, req| {
                    // `PATCH /organizations/mine` reaches `PATCH
                    // /organizations/{id}`, but names another resource.
                    match routes.not_allowed(req.method(), req.path()) {
                        Some(response) => {
                            actix_web::error::InternalError::from_response(error, response).into()
                        }
                        None => ApiError::bad_request(
                            ProblemCode::InvalidPathParameter,
                            error.to_string(),
                        )
                        .into(),
                    }
                }
            }))
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                ApiError::bad_request(ProblemCode::InvalidQueryParameter, error.to_string()).into()
            }))
            .configure(crate::routes::configure_serving)
            .configure(crate::routes::scim::configure)
            .configure(crate::console::configure(console.clone()))
            .route(
                OPENAPI_PATH,
                web::get().to(move || {
                    let document = document.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(document)
                    }
                }),
            );
        app.service(
            SwaggerUi::new("/swagger-ui/{_:.*}")
                .config(utoipa_swagger_ui::Config::from(OPENAPI_PATH)),
        )
        .service(actuator::overall)
        .service(actuator::liveness)
        .service(actuator::readiness)
        .service(actuator::metrics)
        .service(actuator::info)
        .default_service(web::to(move |req: actix_web::HttpRequest| {
            let routes = routes.clone();
            async move {
                // A known path, another method: 405 with Allow.
                routes
                    .not_allowed(req.method(), req.path())
                    .unwrap_or_else(|| {
                        HttpResponse::from_error(ApiError::not_found(
                            ProblemCode::RouteNotFound,
                            "no such route",
                        ))
                    })
            }
        }))
        .wrap(from_fn(request_context))
    })
    .shutdown_timeout(30);
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let server = server.workers(workers.unwrap_or(cpus.div_ceil(2)));
    let server = server.listen(listener)?.run();
    Ok(server)
}

/// Maps JSON body errors: wrong content type 415, too large 413, anything
/// else (syntax, unknown fields, wrong types) 400.
fn json_error(error: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match error {
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemCode::UnsupportedMediaType,
            "Unsupported media type",
            "the body must be application/json",
        ),
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::BodyTooLarge,
            "Payload too large",
            format!("the body exceeds {limit} bytes"),
        ),
        E::Deserialize(error) => {
            ApiError::bad_request(ProblemCode::MalformedBody, error.to_string())
        }
        other => ApiError::bad_request(ProblemCode::MalformedBody, other.to_string()),
    }
}

/// The methods each documented path template serves, for 405 answers.
#[derive(Debug, Default)]
struct RouteMethods {
    routes: Vec<(Vec<String>, Vec<&'static str>)>,
}

impl RouteMethods {
    /// The templates and methods of an OpenAPI document's `paths`.
    fn from_document(json: &[u8]) -> std::io::Result<Self> {
        let document: serde_json::Value =
            serde_json::from_slice(json).map_err(std::io::Error::other)?;
        let paths = document["paths"].as_object().cloned().unwrap_or_default();
        let routes = paths
            .iter()
            .map(|(template, item)| {
                let methods = ["GET", "PUT", "POST", "DELETE", "PATCH"]
                    .into_iter()
                    .filter(|method| item.get(method.to_ascii_lowercase()).is_some())
                    .collect();
                (template.split('/').map(str::to_owned).collect(), methods)
            })
            .collect();
        Ok(Self { routes })
    }

    /// The methods served on `path` (`GET, POST`), if a template matches it.
    /// Only the most specific templates count: `/organizations/mine` is
    /// that path, not an `/organizations/{id}` whose id is `mine`.
    fn allowed(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut best = 0;
        let mut allowed: Vec<&str> = Vec::new();
        for (template, methods) in &self.routes {
            let matches = template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| {
                    (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                });
            if !matches {
                continue;
            }
            let literal = template.iter().filter(|t| !t.starts_with('{')).count();
            if literal > best {
                best = literal;
                allowed.clear();
            }
            if literal == best {
                allowed.extend(methods);
            }
        }
        allowed.sort_unstable();
        allowed.dedup();
        (!allowed.is_empty()).then(|| allowed.join(", "))
    }

    /// A 405 answer when `path` is served, but not with `method`.
    fn not_allowed(&self, method: &actix_web::http::Method, path: &str) -> Option<HttpResponse> {
        let allowed = self.allowed(path)?;
        if allowed.split(", ").any(|m| m == method.as_str()) {
            return None;
        }
        let mut response = HttpResponse::from_error(ApiError::new(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            ProblemCode::MethodNotAllowed,
            "Method not allowed",
            format!("{method} {path} is not served; allowed: {allowed}"),
        ));
        if let Ok(value) = HeaderValue::from_str(&allowed) {
            response
                .headers_mut()
                .insert(actix_web::http::header::ALLOW, value);
        }
        Some(response)
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
    let method = crate::operability::metrics::method_label(req.method());
    async move {
        let mut response = next.call(req).await?;
        if let Some(state) = response.request().app_data::<web::Data<AppState>>() {
            let route = response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".into());
            state.metrics.observe_request(
                method,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_methods_of_a_path_come_from_the_document() {
        let routes = RouteMethods::from_document(OPENAPI_DOCUMENT).unwrap();
        let id = "0a000000-0000-4000-8000-000000000001";
        assert_eq!(
            routes.allowed(&format!("/api/v1/organizations/{id}/members")),
            Some("GET, POST".to_owned())
        );
        assert_eq!(
            routes.allowed(&format!("/api/v1/organizations/{id}/domains/acme.example")),
            Some("DELETE, PATCH".to_owned())
        );
        // A literal segment wins over a parameter.
        assert_eq!(
            routes.allowed("/api/v1/organizations/mine"),
            Some("GET".to_owned())
        );
        assert_eq!(
            routes.allowed(&format!("/api/v1/organizations/{id}/members/import")),
            Some("POST".to_owned())
        );
        assert_eq!(routes.allowed("/api/v1/organizations//members"), None);
        assert_eq!(routes.allowed("/no/such/path"), None);
    }
}
