//! SSO configurations, per organization and installation-wide. The client
//! secret is write-only: accepted on create and update, never returned.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, delete, get, patch, post};
use orgman_domain::{
    ClientSecret, IssuerUrl, OrganizationId, SsoConfig, SsoConfigId, SsoDraft, SsoScope,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::Authenticated;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Body of a create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateSso {
    name: String,
    /// `https://` URL of the provider's issuer.
    issuer_url: String,
    client_id: String,
    /// Write-only; never returned.
    client_secret: String,
    enabled: Option<bool>,
    auto_provision: Option<bool>,
}

/// Body of an update; absent fields keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateSso {
    name: Option<String>,
    issuer_url: Option<String>,
    client_id: Option<String>,
    /// Write-only; replaces the stored secret.
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
    let config = state
        .sso
        .get(&auth.actor, scope, SsoConfigId::from_uuid(id))
        .await?;
    Ok(Json(
        discover(&config.issuer_url, state.config.sso.allow_private_issuers).await?,
    ))
}

/// Whether an address may be reached from the server on a user's behalf.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let first = segments[0];
            // NAT64 (64:ff9b::/96 well-known, 64:ff9b:1::/48 local-use)
            // reaches IPv4 addresses: judge the address it embeds.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1))
        }
    }
}

/// The largest discovery document read.
const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// OIDC discovery against the issuer, guarded against server-side request
/// forgery: the host is resolved once, every address must be public (unless
/// allowed), the request goes to that address, and redirects are not
/// followed.
async fn discover(issuer: &IssuerUrl, allow_private: bool) -> Result<ConnectionTest, ApiError> {
    let host = issuer.host().to_owned();
    // The address is taken from the URL as the HTTP client parses it, and
    // must be the host the issuer rule checked.
    let parsed = url::Url::parse(issuer.as_str()).map_err(|e| {
        ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "issuer-not-allowed",
            "Issuer not allowed",
            format!("the issuer URL does not parse: {e}"),
        )
    })?;
    let parsed_host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if !parsed_host.eq_ignore_ascii_case(&host) || !parsed.username().is_empty() {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "issuer-not-allowed",
            "Issuer not allowed",
            "the issuer URL names its host ambiguously".to_owned(),
        ));
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let refused = |detail: String| {
        ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "issuer-not-allowed",
            "Issuer not allowed",
            detail,
        )
    };
    let addresses: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(found) => found.collect(),
        Err(error) => {
            return Ok(ConnectionTest {
                reachable: false,
                issuer: None,
                detail: format!("cannot resolve {host}: {error}"),
            });
        }
    };
    let Some(first) = addresses.first().copied() else {
        return Ok(ConnectionTest {
            reachable: false,
            issuer: None,
            detail: format!("{host} has no address"),
        });
    };
    if !allow_private && addresses.iter().any(|a| !is_public(a.ip())) {
        return Err(refused(format!(
            "{host} resolves to a private, loopback or link-local address"
        )));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Straight to the address checked above, never through a proxy
        // from the environment.
        .no_proxy()
        .resolve(&host, first)
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(ApiError::internal)?;
    let url = format!("{issuer}/.well-known/openid-configuration");
    let response = match client.get(&url).send().await {
        Ok(response) => response,
        Err(error) => {
            return Ok(ConnectionTest {
                reachable: false,
                issuer: None,
                detail: format!("discovery failed: {error}"),
            });
        }
    };
    if !response.status().is_success() {
        return Ok(ConnectionTest {
            reachable: false,
            issuer: None,
            detail: format!("discovery answered {}", response.status()),
        });
    }
    // At most 64 KiB of discovery document is read.
    let mut response = response;
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_DISCOVERY_BYTES => {
                body.extend_from_slice(&chunk);
            }
            Ok(Some(_)) => {
                return Ok(ConnectionTest {
                    reachable: false,
                    issuer: None,
                    detail: format!(
                        "the discovery document is larger than {} KiB",
                        MAX_DISCOVERY_BYTES / 1024
                    ),
                });
            }
            Ok(None) => break,
            Err(error) => {
                return Ok(ConnectionTest {
                    reachable: false,
                    issuer: None,
                    detail: format!("discovery failed: {error}"),
                });
            }
        }
    }
    let document: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(document) => document,
        Err(_) => {
            return Ok(ConnectionTest {
                reachable: false,
                issuer: None,
                detail: "discovery did not answer JSON".into(),
            });
        }
    };
    let reported = document["issuer"].as_str().map(str::to_owned);
    let matches = reported.as_deref().map(|r| r.trim_end_matches('/')) == Some(issuer.as_str());
    Ok(ConnectionTest {
        reachable: matches,
        detail: if matches {
            "discovery document found".into()
        } else {
            "the provider reports another issuer".into()
        },
        issuer: reported,
    })
}

// The handlers of both scopes share the bodies above.

/// The configurations of this scope.
#[utoipa::path(tag = "sso", responses((status = 200, body = Vec<SsoView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/organizations/{id}/sso-configs")]
pub(crate) async fn list_org(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
) -> Result<Json<Vec<SsoView>>, ApiError> {
    list(auth, state, Some(OrganizationId::from_uuid(*id))).await
}

/// Creates a configuration; the client secret is encrypted at rest.
#[utoipa::path(tag = "sso", request_body = CreateSso, responses((status = 201, body = SsoView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/organizations/{id}/sso-configs")]
pub(crate) async fn create_org(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: Json<CreateSso>,
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
#[utoipa::path(tag = "sso", responses((status = 200, body = SsoView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
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
#[utoipa::path(tag = "sso", request_body = UpdateSso, responses((status = 200, body = SsoView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[patch("/api/v1/organizations/{id}/sso-configs/{configId}")]
pub(crate) async fn update_org(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    body: Json<UpdateSso>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = {
        let (org, config) = path.into_inner();
        (Some(OrganizationId::from_uuid(org)), config)
    };
    change(auth, state, scope, config_id, body.into_inner()).await
}

/// Deletes a configuration.
#[utoipa::path(tag = "sso", responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
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
#[utoipa::path(tag = "sso", responses((status = 200, body = ConnectionTest), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
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
#[utoipa::path(tag = "sso", responses((status = 200, body = Vec<SsoView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/sso-configs")]
pub(crate) async fn list_installation(
    auth: Authenticated,
    state: Data<AppState>,
) -> Result<Json<Vec<SsoView>>, ApiError> {
    list(auth, state, None).await
}

/// Creates a configuration; the client secret is encrypted at rest.
#[utoipa::path(tag = "sso", request_body = CreateSso, responses((status = 201, body = SsoView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/sso-configs")]
pub(crate) async fn create_installation(
    auth: Authenticated,
    state: Data<AppState>,
    body: Json<CreateSso>,
) -> Result<HttpResponse, ApiError> {
    create(auth, state, None, body.into_inner()).await
}

/// One configuration.
#[utoipa::path(tag = "sso", responses((status = 200, body = SsoView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
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
#[utoipa::path(tag = "sso", request_body = UpdateSso, responses((status = 200, body = SsoView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[patch("/api/v1/sso-configs/{configId}")]
pub(crate) async fn update_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
    body: Json<UpdateSso>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    change(auth, state, scope, config_id, body.into_inner()).await
}

/// Deletes a configuration.
#[utoipa::path(tag = "sso", responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
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
#[utoipa::path(tag = "sso", responses((status = 200, body = ConnectionTest), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/sso-configs/{configId}/test")]
pub(crate) async fn test_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
) -> Result<Json<ConnectionTest>, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    test(auth, state, scope, config_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_reachable() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            // NAT64 of 10.0.0.5 and of loopback; the local-use prefix.
            "64:ff9b::a00:5",
            "64:ff9b::7f00:1",
            "64:ff9b:1::808:808",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
