//! An organization's API keys: create (the secret is shown once), list,
//! read, rotate and revoke. Requests made with a key are authenticated in
//! `extract.rs`.

use actix_web::http::header;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, post};
use orgman_domain::time::{Duration, OffsetDateTime};
use orgman_domain::{
    ApiKey, ApiKeyId, IssuedKey, KeyDraft, KeyName, OrganizationId, PageRequest, Permission,
    PermissionSet,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page;
use crate::dto::PageQuery;
use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem, ProblemCode};
use crate::state::AppState;

/// Body of `POST /api/v1/organizations/{id}/api-keys`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewApiKey {
    /// What people call the key (1-100 characters).
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// orgman's permissions the key holds, by catalog name
    /// (`members:read`); each one the caller holds.
    permissions: Vec<String>,
    /// When the key stops working (RFC 3339), within three years; absent:
    /// never.
    #[serde(default, with = "orgman_domain::time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
}

/// Body of `POST /api/v1/organizations/{id}/api-keys/{keyId}/rotate`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RotateApiKey {
    /// How long the old secret keeps working, in seconds (at most three
    /// years); absent or 0: it is revoked at once.
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0)]
    overlap_seconds: Option<u32>,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyView {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    /// The secret's first characters, to recognise it.
    prefix: String,
    /// Catalog names of its permissions.
    permissions: Vec<String>,
    /// Who created it: a user's or a key's id.
    created_by: Uuid,
    /// `user` or `apiKey`.
    created_by_kind: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "orgman_domain::time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "orgman_domain::time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    /// When it was last used, to within `ORGMAN_API_KEYS_LAST_USED_SECONDS`.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "orgman_domain::time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "orgman_domain::time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
    /// The key this one replaced, for a key made by a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    rotated_from: Option<Uuid>,
}

impl ApiKeyView {
    fn new(key: &ApiKey) -> Self {
        ApiKeyView {
            id: key.id.as_uuid(),
            organization_id: key.organization.as_uuid(),
            name: key.name.to_string(),
            prefix: key.prefix.clone(),
            permissions: key
                .permissions
                .iter()
                .map(|p| p.name().to_owned())
                .collect(),
            created_by: key.created_by.id,
            created_by_kind: key.created_by.kind.as_str().to_owned(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
            rotated_from: key.rotated_from.map(|id| id.as_uuid()),
        }
    }
}

/// A new key with its secret: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssuedApiKeyView {
    #[serde(flatten)]
    key: ApiKeyView,
    /// The secret, `orgman_...`: send it as `Authorization: Bearer <secret>`.
    secret: String,
}

fn issued(created: &IssuedKey) -> IssuedApiKeyView {
    IssuedApiKeyView {
        key: ApiKeyView::new(&created.key),
        secret: created.secret.expose().to_owned(),
    }
}

/// A page of API keys.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyPage {
    items: Vec<ApiKeyView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<Uuid>,
}

/// orgman's permissions by catalog name; any other name is refused.
fn permissions(names: &[String]) -> Result<PermissionSet, ApiError> {
    names
        .iter()
        .map(|name| {
            Permission::from_name(name).ok_or_else(|| {
                ApiError::new(
                    actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                    ProblemCode::UnknownPermission,
                    "Unprocessable Entity",
                    format!("{name} is not one of orgman's permissions a key can hold"),
                )
            })
        })
        .collect()
}

/// Creates an API key (`api-keys:manage`) holding permissions the caller
/// holds. Answers its secret, once.
#[utoipa::path(
    operation_id = "create_api_key",
    tag = "api-keys",
    params(("id" = Uuid, Path)),
    request_body = NewApiKey,
    responses(
        (status = 201, body = IssuedApiKeyView, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/api-keys")]
pub(crate) async fn create(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<NewApiKey>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let draft = KeyDraft {
        name: KeyName::parse(&body.name)?,
        permissions: permissions(&body.permissions)?,
        expires_at: body.expires_at,
    };
    let created = state
        .api_keys
        .create(&auth.actor, OrganizationId::from_uuid(*id), draft)
        .await?;
    let location = format!("/api/v1/organizations/{}/api-keys/{}", *id, created.key.id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued(&created)))
}

/// The organization's API keys, revoked and expired ones included
/// (`api-keys:manage`).
#[utoipa::path(
    operation_id = "list_api_keys",
    tag = "api-keys",
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = ApiKeyPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/api-keys")]
pub(crate) async fn list(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    query: Query<PageQuery>,
) -> Result<Json<ApiKeyPage>, ApiError> {
    let request: PageRequest<ApiKeyId> = page(&query)?;
    let found = state
        .api_keys
        .list(&auth.actor, OrganizationId::from_uuid(*id), request)
        .await?;
    Ok(Json(ApiKeyPage {
        items: found.items.iter().map(ApiKeyView::new).collect(),
        next_cursor: found.next.map(|k| k.as_uuid()),
    }))
}

/// One API key (`api-keys:manage`).
#[utoipa::path(
    operation_id = "get_api_key",
    tag = "api-keys",
    params(("id" = Uuid, Path), ("keyId" = Uuid, Path)),
    responses(
        (status = 200, body = ApiKeyView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/api-keys/{keyId}")]
pub(crate) async fn get(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let (org, key) = *path;
    let found = state
        .api_keys
        .get(
            &auth.actor,
            OrganizationId::from_uuid(org),
            ApiKeyId::from_uuid(key),
        )
        .await?;
    Ok(Json(ApiKeyView::new(&found)))
}

/// Revokes an API key at once, on every replica (`api-keys:manage`).
/// Revoking a revoked key changes nothing.
#[utoipa::path(
    operation_id = "revoke_api_key",
    tag = "api-keys",
    params(("id" = Uuid, Path), ("keyId" = Uuid, Path)),
    responses(
        (status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{id}/api-keys/{keyId}")]
pub(crate) async fn revoke(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (org, key) = *path;
    state
        .api_keys
        .revoke(
            &auth.actor,
            OrganizationId::from_uuid(org),
            ApiKeyId::from_uuid(key),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotates an API key: a new key (and secret, shown once) with the same
/// name, permissions and expiry; the old secret keeps working for
/// `overlapSeconds`, or stops at once (`api-keys:manage`, holding the key's
/// permissions).
#[utoipa::path(
    operation_id = "rotate_api_key",
    tag = "api-keys",
    params(("id" = Uuid, Path), ("keyId" = Uuid, Path)),
    request_body = RotateApiKey,
    responses(
        (status = 201, body = IssuedApiKeyView, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/api-keys/{keyId}/rotate")]
pub(crate) async fn rotate(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    body: JsonObject<RotateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let (org, key) = *path;
    let overlap = body
        .overlap_seconds
        .map(|seconds| Duration::seconds(i64::from(seconds)));
    let created = state
        .api_keys
        .rotate(
            &auth.actor,
            OrganizationId::from_uuid(org),
            ApiKeyId::from_uuid(key),
            overlap,
        )
        .await?;
    let location = format!("/api/v1/organizations/{org}/api-keys/{}", created.key.id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued(&created)))
}
