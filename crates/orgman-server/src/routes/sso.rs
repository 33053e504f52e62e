//! SSO configurations, per organization and installation-wide. The client
//! secret is write-only: accepted on create and update, never returned.

use actix_web::http::header;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post};
use orgman_domain::{
    ClientSecret, Email, IssuerUrl, OrganizationId, SsoConfig, SsoConfigId, SsoDraft, SsoScope,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem, ProblemCode};
use crate::state::AppState;

/// Body of a create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateSso {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: String,
    /// `https://` URL of the provider's issuer.
    #[schema(
        max_length = 500,
        pattern = "^https://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[0-9]{1,4})?(/[A-Za-z0-9._~-]*)*$"
    )]
    issuer_url: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    client_id: String,
    /// Write-only; never returned.
    #[schema(min_length = 1, max_length = 256, write_only)]
    client_secret: String,
    enabled: Option<bool>,
    auto_provision: Option<bool>,
}

/// Body of an update; absent fields keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateSso {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: Option<String>,
    #[schema(
        max_length = 500,
        pattern = "^https://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[0-9]{1,4})?(/[A-Za-z0-9._~-]*)*$"
    )]
    issuer_url: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    client_id: Option<String>,
    /// Write-only; replaces the stored secret.
    #[schema(min_length = 1, max_length = 256, write_only)]
    client_secret: Option<String>,
    enabled: Option<bool>,
    auto_provision: Option<bool>,
}

/// An SSO configuration (the client secret is never part of it).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SsoView {
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization_id: Option<Uuid>,
    name: String,
    issuer_url: String,
    client_id: String,
    enabled: bool,
    auto_provision: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
}

impl From<&SsoConfig> for SsoView {
    fn from(c: &SsoConfig) -> Self {
        Self {
            id: c.id.as_uuid(),
            organization_id: c.organization.map(|o| o.as_uuid()),
            name: c.name.clone(),
            issuer_url: c.issuer_url.to_string(),
            client_id: c.client_id.clone(),
            enabled: c.enabled,
            auto_provision: c.auto_provision,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The outcome of a connection test.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionTest {
    /// Whether discovery answered with this issuer.
    reachable: bool,
    /// The issuer the provider reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    /// What happened.
    detail: String,
}

fn issuer(state: &AppState, raw: &str) -> Result<IssuerUrl, ApiError> {
    Ok(IssuerUrl::parse(raw, state.config.sso.allow_http_loopback)?)
}

fn create_draft(state: &AppState, body: CreateSso) -> Result<SsoDraft, ApiError> {
    Ok(SsoDraft {
        name: Some(body.name),
        issuer_url: Some(issuer(state, &body.issuer_url)?),
        client_id: Some(body.client_id),
        client_secret: Some(ClientSecret::new(body.client_secret)),
        enabled: body.enabled,
        auto_provision: body.auto_provision,
    })
}

fn update_draft(state: &AppState, body: UpdateSso) -> Result<SsoDraft, ApiError> {
    Ok(SsoDraft {
        name: body.name,
        issuer_url: body.issuer_url.map(|u| issuer(state, &u)).transpose()?,
        client_id: body.client_id,
        client_secret: body.client_secret.map(ClientSecret::new),
        enabled: body.enabled,
        auto_provision: body.auto_provision,
    })
}

async fn create(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    body: CreateSso,
) -> Result<HttpResponse, ApiError> {
    let draft = create_draft(&state, body)?;
    let config = state.sso.create(&auth.actor, scope, draft).await?;
    let location = match scope {
        Some(org) => format!("/api/v1/organizations/{org}/sso-configs/{}", config.id),
        None => format!("/api/v1/sso-configs/{}", config.id),
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(SsoView::from(&config)))
}

async fn list(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
) -> Result<Json<Vec<SsoView>>, ApiError> {
    let configs = state.sso.list(&auth.actor, scope).await?;
    Ok(Json(configs.iter().map(SsoView::from).collect()))
}

async fn read(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    id: Uuid,
) -> Result<Json<SsoView>, ApiError> {
    let config = state
        .sso
        .get(&auth.actor, scope, SsoConfigId::from_uuid(id))
        .await?;
    Ok(Json(SsoView::from(&config)))
}

async fn change(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    id: Uuid,
    body: UpdateSso,
) -> Result<Json<SsoView>, ApiError> {
    let draft = update_draft(&state, body)?;
    let config = state
        .sso
        .update(&auth.actor, scope, SsoConfigId::from_uuid(id), draft)
        .await?;
    Ok(Json(SsoView::from(&config)))
}

async fn remove(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    id: Uuid,
) -> Result<HttpResponse, ApiError> {
    state
        .sso
        .delete(&auth.actor, scope, SsoConfigId::from_uuid(id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn test(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    id: Uuid,
) -> Result<Json<ConnectionTest>, ApiError> {
    let probe = state
        .sso
        .test_connection(&auth.actor, scope, SsoConfigId::from_uuid(id))
        .await?;
    Ok(Json(ConnectionTest {
        reachable: probe.reachable,
        issuer: probe.reported_issuer,
        detail: probe.detail,
    }))
}

// The handlers of both scopes share the bodies above.

/// The configurations of this scope.
#[utoipa::path(
    operation_id = "list_organization_sso_configs",tag = "sso", responses((status = 200, body = Vec<SsoView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/organizations/{id}/sso-configs")]
pub(crate) async fn list_org(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
) -> Result<Json<Vec<SsoView>>, ApiError> {
    list(auth, state, Some(OrganizationId::from_uuid(*id))).await
}

/// Creates a configuration; the client secret is encrypted at rest.
#[utoipa::path(
    operation_id = "create_organization_sso_config",tag = "sso", request_body = CreateSso, responses((status = 201, body = SsoView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/organizations/{id}/sso-configs")]
pub(crate) async fn create_org(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<CreateSso>,
) -> Result<HttpResponse, ApiError> {
    create(
        auth,
        state,
        Some(OrganizationId::from_uuid(*id)),
        body.into_inner(),
    )
    .await
}

/// One configuration.
#[utoipa::path(
    operation_id = "get_organization_sso_config",tag = "sso", responses((status = 200, body = SsoView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/organizations/{id}/sso-configs/{configId}")]
pub(crate) async fn get_org(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = {
        let (org, config) = path.into_inner();
        (Some(OrganizationId::from_uuid(org)), config)
    };
    read(auth, state, scope, config_id).await
}

/// Changes a configuration; a `clientSecret` replaces the stored one.
#[utoipa::path(
    operation_id = "update_organization_sso_config",tag = "sso", request_body = UpdateSso, responses((status = 200, body = SsoView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[patch("/api/v1/organizations/{id}/sso-configs/{configId}")]
pub(crate) async fn update_org(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    body: JsonObject<UpdateSso>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = {
        let (org, config) = path.into_inner();
        (Some(OrganizationId::from_uuid(org)), config)
    };
    change(auth, state, scope, config_id, body.into_inner()).await
}

/// Deletes a configuration.
#[utoipa::path(
    operation_id = "delete_organization_sso_config",tag = "sso", responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)), security(("bearer" = [])))]
#[delete("/api/v1/organizations/{id}/sso-configs/{configId}")]
pub(crate) async fn delete_org(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, config_id) = {
        let (org, config) = path.into_inner();
        (Some(OrganizationId::from_uuid(org)), config)
    };
    remove(auth, state, scope, config_id).await
}

/// Runs OIDC discovery against the issuer (no private addresses unless allowed).
#[utoipa::path(
    operation_id = "test_organization_sso_config",tag = "sso", responses((status = 200, body = ConnectionTest), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/organizations/{id}/sso-configs/{configId}/test")]
pub(crate) async fn test_org(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<Json<ConnectionTest>, ApiError> {
    let (scope, config_id) = {
        let (org, config) = path.into_inner();
        (Some(OrganizationId::from_uuid(org)), config)
    };
    test(auth, state, scope, config_id).await
}

/// The configurations of this scope.
#[utoipa::path(
    operation_id = "list_installation_sso_configs",tag = "sso", responses((status = 200, body = Vec<SsoView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/sso-configs")]
pub(crate) async fn list_installation(
    auth: Authenticated,
    state: Data<AppState>,
) -> Result<Json<Vec<SsoView>>, ApiError> {
    list(auth, state, None).await
}

/// Creates a configuration; the client secret is encrypted at rest.
#[utoipa::path(
    operation_id = "create_installation_sso_config",tag = "sso", request_body = CreateSso, responses((status = 201, body = SsoView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/sso-configs")]
pub(crate) async fn create_installation(
    auth: Authenticated,
    state: Data<AppState>,
    body: JsonObject<CreateSso>,
) -> Result<HttpResponse, ApiError> {
    create(auth, state, None, body.into_inner()).await
}

/// One configuration.
#[utoipa::path(
    operation_id = "get_installation_sso_config",tag = "sso", responses((status = 200, body = SsoView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/sso-configs/{configId}")]
pub(crate) async fn get_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    read(auth, state, scope, config_id).await
}

/// Changes a configuration; a `clientSecret` replaces the stored one.
#[utoipa::path(
    operation_id = "update_installation_sso_config",tag = "sso", request_body = UpdateSso, responses((status = 200, body = SsoView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[patch("/api/v1/sso-configs/{configId}")]
pub(crate) async fn update_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
    body: JsonObject<UpdateSso>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    change(auth, state, scope, config_id, body.into_inner()).await
}

/// Deletes a configuration.
#[utoipa::path(
    operation_id = "delete_installation_sso_config",tag = "sso", responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[delete("/api/v1/sso-configs/{configId}")]
pub(crate) async fn delete_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    remove(auth, state, scope, config_id).await
}

/// Runs OIDC discovery against the issuer (no private addresses unless allowed).
#[utoipa::path(
    operation_id = "test_installation_sso_config",tag = "sso", responses((status = 200, body = ConnectionTest), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/sso-configs/{configId}/test")]
pub(crate) async fn test_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
) -> Result<Json<ConnectionTest>, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    test(auth, state, scope, config_id).await
}

/// Which address to look up.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DiscoverQuery {
    /// The address a person typed on the login page.
    #[param(max_length = 254)]
    email: String,
}

/// Where a login page sends an address.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HomeRealmView {
    /// The identity provider to log in through: Keycloak's alias, to pass
    /// as `kc_idp_hint`; `null` for a login at the realm itself.
    identity_provider: Option<String>,
    /// Whether the address's organization requires SSO (no password
    /// login).
    sso_required: bool,
}

/// Home-realm discovery for login pages (no authentication): the identity
/// provider of the organization that verified the address's domain, when
/// it has an enabled SSO configuration. The answer depends on the domain
/// only, never on whether the address has an account. Limited per client
/// address (`ORGMAN_SSO_DISCOVERY_RATE_PER_MINUTE`; behind a proxy of
/// `ORGMAN_TRUSTED_PROXIES`, the address it forwards).
#[utoipa::path(
    operation_id = "discover_home_realm",
    tag = "sso",
    params(DiscoverQuery),
    responses(
        (status = 200, body = HomeRealmView), (status = 400, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem),
    ),
    security(())
)]
#[get("/api/v1/sso/discover")]
pub(crate) async fn discover(
    request: HttpRequest,
    state: Data<AppState>,
    query: Query<DiscoverQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(peer) = request.peer_addr() {
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect();
        let client = state.trusted_proxies.client(peer.ip(), &forwarded);
        state
            .discovery_limiter
            .check(client, std::time::Instant::now())
            .map_err(|retry_after| {
                ApiError::rate_limited("too many discovery requests from this address", retry_after)
            })?;
    }
    let email = Email::parse(&query.email).map_err(|error| {
        ApiError::bad_request(
            ProblemCode::InvalidQueryParameter,
            format!("email: {error}"),
        )
    })?;
    let realm = state.sso.discover_home_realm(&email).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(HomeRealmView {
            identity_provider: realm.identity_provider,
            sso_required: realm.sso_required,
        }))
}
