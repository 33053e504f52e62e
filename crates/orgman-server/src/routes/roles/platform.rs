//! Platform roles: roles platform administrators define for every
//! organization to use (`/api/v1/roles`). Their bodies and views are the
//! organizations' roles' (the parent module).

use actix_web::http::header;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use orgman_domain::OrganizationId;

use super::{
    CreateRole, DeleteRoleQuery, RoleView, UpdateRole, create_in, delete_in, role_key, update_in,
};
use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

const PLATFORM: OrganizationId = OrganizationId::PLATFORM;

/// The platform roles every organization's members may hold (every
/// signed-in caller).
#[utoipa::path(
    operation_id = "list_platform_roles",
    tag = "roles",
    responses(
        (status = 200, body = Vec<RoleView>), (status = 401, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/roles")]
pub(crate) async fn list_platform_roles(
    auth: Authenticated,
    state: Data<AppState>,
) -> Result<Json<Vec<RoleView>>, ApiError> {
    let roles = state.roles.list(&auth.actor, PLATFORM).await?;
    Ok(Json(roles.into_iter().map(RoleView::from).collect()))
}

/// Defines a platform role (platform administrators). Its key must not be
/// one any organization uses for a role of its own (409 `role-exists`).
#[utoipa::path(
    operation_id = "create_platform_role",
    tag = "roles",
    request_body = CreateRole,
    responses(
        (status = 201, body = RoleView, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/roles")]
pub(crate) async fn create_platform_role(
    auth: Authenticated,
    state: Data<AppState>,
    body: JsonObject<CreateRole>,
) -> Result<HttpResponse, ApiError> {
    let role = create_in(&auth, &state, PLATFORM, body.into_inner()).await?;
    let location = format!("/api/v1/roles/{}", role.key());
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(role))
}

/// One platform role (every signed-in caller).
#[utoipa::path(
    operation_id = "get_platform_role",
    tag = "roles",
    params(("roleKey" = String, Path, pattern = "^(?!(owner|admin|member)$)[a-z0-9][a-z0-9_-]{0,62}$")),
    responses(
        (status = 200, body = RoleView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/roles/{roleKey}")]
pub(crate) async fn get_platform_role(
    auth: Authenticated,
    state: Data<AppState>,
    key: Path<String>,
) -> Result<Json<RoleView>, ApiError> {
    let role = state
        .roles
        .get(&auth.actor, PLATFORM, &role_key(&key)?)
        .await?;
    Ok(Json(RoleView::from(role)))
}

/// Changes a platform role (platform administrators): what it stops
/// granting is taken from its holders in every organization at once.
#[utoipa::path(
    operation_id = "update_platform_role",
    tag = "roles",
    params(("roleKey" = String, Path, pattern = "^(?!(owner|admin|member)$)[a-z0-9][a-z0-9_-]{0,62}$")),
    request_body = UpdateRole,
    responses(
        (status = 200, body = RoleView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/roles/{roleKey}")]
pub(crate) async fn update_platform_role(
    auth: Authenticated,
    state: Data<AppState>,
    key: Path<String>,
    body: JsonObject<UpdateRole>,
) -> Result<Json<RoleView>, ApiError> {
    let role = update_in(&auth, &state, PLATFORM, &key, body.into_inner()).await?;
    Ok(Json(role))
}

/// Deletes a platform role (platform administrators). Its holders, in
/// every organization, get `replacement` (another platform role) instead;
/// without one, 409 `role-in-use` while anyone holds it.
#[utoipa::path(
    operation_id = "delete_platform_role",
    tag = "roles",
    params(("roleKey" = String, Path, pattern = "^(?!(owner|admin|member)$)[a-z0-9][a-z0-9_-]{0,62}$"), DeleteRoleQuery),
    responses(
        (status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/roles/{roleKey}")]
pub(crate) async fn delete_platform_role(
    auth: Authenticated,
    state: Data<AppState>,
    key: Path<String>,
    query: Query<DeleteRoleQuery>,
) -> Result<HttpResponse, ApiError> {
    delete_in(&auth, &state, PLATFORM, &key, &query).await
}
