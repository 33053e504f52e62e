//! The permission catalog, the organizations' custom roles, and the roles
//! members hold.

use std::collections::BTreeSet;

use actix_web::http::{StatusCode, header};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post, put};
use orgman_domain::{
    CatalogPermission, CustomRole, OrganizationId, PermissionName, RoleDraft, RoleKey, RolePatch,
    UserId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::dto::{MemberView, RoleText, member_roles, text_schema};
use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

pub(crate) mod platform;

/// A permission name of the catalog, `resource:action`.
#[derive(Debug, Deserialize)]
pub(crate) struct PermissionText(String);

impl utoipa::PartialSchema for PermissionText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        text_schema(
            "^[a-z][a-z0-9_-]{0,39}:[a-z][a-z0-9_-]{0,39}$",
            "A permission name of the catalog, `resource:action`.",
        )
    }
}

impl ToSchema for PermissionText {}

/// A permission of the catalog.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PermissionView {
    /// `resource:action`.
    #[schema(pattern = "^[a-z][a-z0-9_-]{0,39}:[a-z][a-z0-9_-]{0,39}$")]
    name: String,
    /// What it allows.
    description: String,
    /// One of orgman's own: fixed, neither changed nor deleted.
    built_in: bool,
}

impl From<CatalogPermission> for PermissionView {
    fn from(permission: CatalogPermission) -> Self {
        Self {
            name: permission.name.to_string(),
            description: permission.description,
            built_in: permission.built_in,
        }
    }
}

/// Body of `PUT /api/v1/permissions/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterPermission {
    /// What the permission allows (at most 500 characters, no control
    /// characters).
    #[serde(default)]
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    description: String,
}

/// Query of `DELETE /api/v1/permissions/{name}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeletePermissionQuery {
    /// Take the permission from the roles that grant it (an
    /// `organization.role.updated` event each) instead of answering 409
    /// `permission-in-use`.
    #[serde(default)]
    force: bool,
}

/// Where a role is defined.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RoleScope {
    /// The organization defined it for itself.
    Organization,
    /// A platform administrator defined it for every organization.
    Platform,
}

/// A custom role or a platform role.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoleView {
    /// The role's key, unique in the organization and among platform
    /// roles.
    key: String,
    /// Where it is defined: platform roles serve every organization, and
    /// only platform administrators change them (`/api/v1/roles`).
    scope: RoleScope,
    /// What people call it.
    name: String,
    /// What it is for.
    description: String,
    /// What it grants: permission names of the catalog.
    permissions: Vec<String>,
    /// When it was defined.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
}

impl RoleView {
    /// The role's key.
    fn key(&self) -> &str {
        &self.key
    }
}

impl From<CustomRole> for RoleView {
    fn from(role: CustomRole) -> Self {
        Self {
            key: role.key.to_string(),
            scope: if role.is_platform() {
                RoleScope::Platform
            } else {
                RoleScope::Organization
            },
            name: role.name,
            description: role.description,
            permissions: role.permissions.iter().map(ToString::to_string).collect(),
            created_at: role.created_at,
            updated_at: role.updated_at,
        }
    }
}

/// Body of `POST /api/v1/organizations/{id}/roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRole {
    /// 1-63 characters of a-z, 0-9, `_` and `-`; not `owner`, `admin` or
    /// `member`.
    #[schema(pattern = "^(?!(owner|admin|member)$)[a-z0-9][a-z0-9_-]{0,62}$")]
    key: String,
    /// What people call it (1-100 characters, no control characters).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: String,
    /// What it is for (at most 500 characters, no control characters).
    #[serde(default)]
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    description: String,
    /// What it grants: permission names of the catalog (at most 100).
    #[schema(max_items = 100)]
    permissions: Vec<PermissionText>,
}

/// Body of `PATCH /api/v1/organizations/{id}/roles/{roleKey}`: the fields
/// to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateRole {
    /// A new name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: Option<String>,
    /// A new description.
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    description: Option<String>,
    /// The permissions it grants from now on (all of them).
    #[schema(max_items = 100)]
    permissions: Option<Vec<PermissionText>>,
}

/// Query of `DELETE /api/v1/organizations/{id}/roles/{roleKey}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteRoleQuery {
    /// The role the deleted role's holders get instead (for a platform
    /// role, another platform role); required when members hold it (409
    /// `role-in-use` otherwise).
    #[param(pattern = "^(?!(owner|admin|member)$)[a-z0-9][a-z0-9_-]{0,62}$")]
    replacement: Option<String>,
}

/// Body of `PUT /api/v1/organizations/{id}/members/{userId}/roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetMemberRoles {
    /// The member's roles: at most one of `OWNER`, `ADMIN` and `MEMBER`
    /// (`MEMBER` when none is named) and the organization's custom role
    /// keys (at most 20).
    #[schema(max_items = 21)]
    roles: Vec<RoleText>,
}

/// Every permission a member holds.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberPermissions {
    /// Permission names, sorted.
    permissions: Vec<String>,
}

fn permission_name(text: &str) -> Result<PermissionName, ApiError> {
    Ok(PermissionName::parse(text)?)
}

fn permission_names(texts: &[PermissionText]) -> Result<BTreeSet<PermissionName>, ApiError> {
    texts.iter().map(|text| permission_name(&text.0)).collect()
}

fn role_key(text: &str) -> Result<RoleKey, ApiError> {
    Ok(RoleKey::parse(text)?)
}

/// An organization named in a path: never the platform's scope (the nil
/// UUID names no organization).
fn organization(id: Uuid) -> Result<OrganizationId, ApiError> {
    let id = OrganizationId::from_uuid(id);
    if id.is_platform() {
        return Err(orgman_domain::OrgError::NotFound.into());
    }
    Ok(id)
}

/// Defines a role in `scope`: its `Location` and view.
async fn create_in(
    auth: &Authenticated,
    state: &AppState,
    scope: OrganizationId,
    body: CreateRole,
) -> Result<RoleView, ApiError> {
    let key = role_key(&body.key)?;
    let draft = RoleDraft::new(
        &body.name,
        &body.description,
        permission_names(&body.permissions)?,
    )?;
    let role = state.roles.create(&auth.actor, scope, key, draft).await?;
    Ok(RoleView::from(role))
}

/// Changes a role of `scope`.
async fn update_in(
    auth: &Authenticated,
    state: &AppState,
    scope: OrganizationId,
    key: &str,
    body: UpdateRole,
) -> Result<RoleView, ApiError> {
    let patch = RolePatch {
        name: body.name,
        description: body.description,
        permissions: body
            .permissions
            .as_deref()
            .map(permission_names)
            .transpose()?,
    };
    let role = state
        .roles
        .update(&auth.actor, scope, &role_key(key)?, patch)
        .await?;
    Ok(RoleView::from(role))
}

/// Deletes a role of `scope`.
async fn delete_in(
    auth: &Authenticated,
    state: &AppState,
    scope: OrganizationId,
    key: &str,
    query: &DeleteRoleQuery,
) -> Result<HttpResponse, ApiError> {
    let replacement = query.replacement.as_deref().map(role_key).transpose()?;
    state
        .roles
        .delete(&auth.actor, scope, &role_key(key)?, replacement)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The whole permission catalog: orgman's own permissions, then those the
/// platform's services registered. Every signed-in caller may read it.
#[utoipa::path(
    operation_id = "list_permissions",
    tag = "roles",
    responses(
        (status = 200, body = Vec<PermissionView>), (status = 401, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/permissions")]
pub(crate) async fn list_permissions(
    _auth: Authenticated,
    state: Data<AppState>,
) -> Result<Json<Vec<PermissionView>>, ApiError> {
    let catalog = state.roles.catalog().await?;
    Ok(Json(
        catalog.into_iter().map(PermissionView::from).collect(),
    ))
}

/// Registers a permission of another service, or changes its description
/// (platform administrators). 201 when it is new.
#[utoipa::path(
    operation_id = "register_permission",
    tag = "roles",
    params(("name" = String, Path, pattern = "^[a-z][a-z0-9_-]{0,39}:[a-z][a-z0-9_-]{0,39}$")),
    request_body = RegisterPermission,
    responses(
        (status = 200, body = PermissionView), (status = 201, body = PermissionView),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/permissions/{name}")]
pub(crate) async fn register_permission(
    auth: Authenticated,
    state: Data<AppState>,
    name: Path<String>,
    body: JsonObject<RegisterPermission>,
) -> Result<HttpResponse, ApiError> {
    let permission = CatalogPermission::registered(permission_name(&name)?, &body.description)?;
    let created = state
        .roles
        .register_permission(&auth.actor, permission.clone())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(PermissionView::from(permission)))
}

/// Deletes a registered permission (platform administrators). 409
/// `permission-in-use` while roles grant it, unless `force=true`.
#[utoipa::path(
    operation_id = "delete_permission",
    tag = "roles",
    params(("name" = String, Path, pattern = "^[a-z][a-z0-9_-]{0,39}:[a-z][a-z0-9_-]{0,39}$"), DeletePermissionQuery),
    responses(
        (status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/permissions/{name}")]
pub(crate) async fn delete_permission(
    auth: Authenticated,
    state: Data<AppState>,
    name: Path<String>,
    query: Query<DeletePermissionQuery>,
) -> Result<HttpResponse, ApiError> {
    state
        .roles
        .delete_permission(&auth.actor, &permission_name(&name)?, query.force)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The organization's custom roles and the platform roles (its members).
#[utoipa::path(
    operation_id = "list_roles",
    tag = "roles",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Vec<RoleView>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/roles")]
pub(crate) async fn list_roles(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
) -> Result<Json<Vec<RoleView>>, ApiError> {
    let roles = state.roles.list(&auth.actor, organization(*id)?).await?;
    Ok(Json(roles.into_iter().map(RoleView::from).collect()))
}

/// Defines a custom role (`roles:manage`). Its permissions come from the
/// catalog, and the caller must hold each of them (403
/// `permission-not-held`).
#[utoipa::path(
    operation_id = "create_role",
    tag = "roles",
    params(("id" = Uuid, Path)),
    request_body = CreateRole,
    responses(
        (status = 201, body = RoleView, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/roles")]
pub(crate) async fn create_role(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<CreateRole>,
) -> Result<HttpResponse, ApiError> {
    let role = create_in(&auth, &state, organization(*id)?, body.into_inner()).await?;
    let location = format!("/api/v1/organizations/{}/roles/{}", *id, role.key());
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(role))
}

/// One of the organization's custom roles, or a platform role (the
/// organization's members).
#[utoipa::path(
    operation_id = "get_role",
    tag = "roles",
    params(("id" = Uuid, Path), ("roleKey" = String, Path, pattern = "^(?!(owner|admin|member)$)[a-z0-9][a-z0-9_-]{0,62}$")),
    responses(
        (status = 200, body = RoleView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/roles/{roleKey}")]
pub(crate) async fn get_role(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, String)>,
) -> Result<Json<RoleView>, ApiError> {
    let (id, key) = path.into_inner();
    let role = state
        .roles
        .get(&auth.actor, organization(id)?, &role_key(&key)?)
        .await?;
    Ok(Json(RoleView::from(role)))
}

/// Changes a custom role (`roles:manage`). Permissions it gains must be
/// held by the caller; permissions it loses are taken from its holders at
/// once. A platform role is 409 `role-of-platform`.
#[utoipa::path(
    operation_id = "update_role",
    tag = "roles",
    params(("id" = Uuid, Path), ("roleKey" = String, Path, pattern = "^(?!(owner|admin|member)$)[a-z0-9][a-z0-9_-]{0,62}$")),
    request_body = UpdateRole,
    responses(
        (status = 200, body = RoleView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/organizations/{id}/roles/{roleKey}")]
pub(crate) async fn update_role(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, String)>,
    body: JsonObject<UpdateRole>,
) -> Result<Json<RoleView>, ApiError> {
    let (id, key) = path.into_inner();
    let role = update_in(&auth, &state, organization(id)?, &key, body.into_inner()).await?;
    Ok(Json(role))
}

/// Deletes a custom role (`roles:manage`). Members holding it get
/// `replacement` instead; without one, 409 `role-in-use` while members
/// hold it. A platform role is 409 `role-of-platform`.
#[utoipa::path(
    operation_id = "delete_role",
    tag = "roles",
    params(("id" = Uuid, Path), ("roleKey" = String, Path, pattern = "^(?!(owner|admin|member)$)[a-z0-9][a-z0-9_-]{0,62}$"), DeleteRoleQuery),
    responses(
        (status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{id}/roles/{roleKey}")]
pub(crate) async fn delete_role(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, String)>,
    query: Query<DeleteRoleQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, key) = path.into_inner();
    delete_in(&auth, &state, organization(id)?, &key, &query).await
}

/// Sets a member's roles (`members:manage`): one built-in role and any
/// custom roles. The OWNER rules hold, and the caller must hold every
/// permission the new roles grant (403 `permission-not-held`).
#[utoipa::path(
    operation_id = "set_member_roles",
    tag = "members",
    params(("id" = Uuid, Path), ("userId" = Uuid, Path)),
    request_body = SetMemberRoles,
    responses(
        (status = 200, body = MemberView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/organizations/{id}/members/{userId}/roles")]
pub(crate) async fn set_member_roles(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    body: JsonObject<SetMemberRoles>,
) -> Result<Json<MemberView>, ApiError> {
    let (id, user) = path.into_inner();
    let roles = member_roles(&body.roles)?;
    let membership = state
        .roles
        .set_member_roles(
            &auth.actor,
            organization(id)?,
            UserId::from_uuid(user),
            roles,
        )
        .await?;
    Ok(Json(MemberView::from(&membership)))
}

/// Every permission a member holds, through all their roles (the member
/// themselves, and those who read the member list).
#[utoipa::path(
    operation_id = "member_permissions",
    tag = "members",
    params(("id" = Uuid, Path), ("userId" = Uuid, Path)),
    responses(
        (status = 200, body = MemberPermissions), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/members/{userId}/permissions")]
pub(crate) async fn member_permissions(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<Json<MemberPermissions>, ApiError> {
    let (id, user) = path.into_inner();
    let held = state
        .roles
        .member_permissions(&auth.actor, organization(id)?, UserId::from_uuid(user))
        .await?;
    Ok(Json(MemberPermissions {
        permissions: held.iter().map(ToString::to_string).collect(),
    }))
}

#[cfg(test)]
mod tests {
    /// A permission name's pattern: `resource:action`.
    const PERMISSION_PATTERN: &str = "^[a-z][a-z0-9_-]{0,39}:[a-z][a-z0-9_-]{0,39}$";

    #[test]
    fn the_documented_pattern_is_the_one_the_annotations_use() {
        // utoipa's attributes need literals; this keeps them in step.
        let source = include_str!("roles.rs");
        let literal = format!("pattern = \"{PERMISSION_PATTERN}\"");
        assert!(source.matches(&literal).count() >= 3);
    }
}
