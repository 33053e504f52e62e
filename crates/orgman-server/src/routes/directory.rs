//! The organization's mapping of its directory's groups to roles: which
//! SCIM groups give which role (the SCIM endpoint itself is `scim.rs`).

use actix_web::get;
use actix_web::put;
use actix_web::web::{Data, Json, Path};
use orgman_domain::{DirectoryGroupId, GroupMatch, GroupRole, OrganizationId, RoleRef};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// One mapping: the groups it names, by `group` (a display name,
/// compared case-insensitively) or by `groupId`, and the role their
/// members hold.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum GroupRoleView {
    /// Groups of a display name.
    ByName(GroupRoleByName),
    /// The group of an id.
    ById(GroupRoleById),
}

/// A mapping of the groups of a display name.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GroupRoleByName {
    /// A group's display name.
    #[schema(min_length = 1, max_length = 255)]
    group: String,
    /// `ADMIN`, `MEMBER` or a custom role's key (never `OWNER`).
    #[schema(min_length = 1, max_length = 64)]
    role: String,
}

/// A mapping of one group, by its SCIM id.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GroupRoleById {
    /// A group's SCIM id.
    group_id: Uuid,
    /// `ADMIN`, `MEMBER` or a custom role's key (never `OWNER`).
    #[schema(min_length = 1, max_length = 64)]
    role: String,
}

/// The organization's mappings, in order.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GroupRoles {
    /// At most 100.
    #[schema(max_items = 100)]
    mappings: Vec<GroupRoleView>,
}

fn view(mapping: &GroupRole) -> GroupRoleView {
    let role = mapping.role.to_string();
    match &mapping.group {
        GroupMatch::Id(id) => GroupRoleView::ById(GroupRoleById {
            group_id: id.as_uuid(),
            role,
        }),
        GroupMatch::Name(name) => GroupRoleView::ByName(GroupRoleByName {
            group: name.clone(),
            role,
        }),
    }
}

fn mapping(view: GroupRoleView) -> Result<GroupRole, ApiError> {
    let (group, role) = match view {
        GroupRoleView::ByName(by) => (GroupMatch::Name(by.group), by.role),
        GroupRoleView::ById(by) => (
            GroupMatch::Id(DirectoryGroupId::from_uuid(by.group_id)),
            by.role,
        ),
    };
    Ok(GroupRole {
        group,
        role: RoleRef::parse(&role)?,
    })
}

fn answer(mappings: &[GroupRole]) -> Json<GroupRoles> {
    Json(GroupRoles {
        mappings: mappings.iter().map(view).collect(),
    })
}

/// Which directory groups give which roles (`members:read`).
#[utoipa::path(
    operation_id = "get_directory_group_roles",
    tag = "directory",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = GroupRoles), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/directory/group-roles")]
pub(crate) async fn get_group_roles(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
) -> Result<Json<GroupRoles>, ApiError> {
    let mappings = state
        .directory
        .group_roles(&auth.actor, OrganizationId::from_uuid(*id))
        .await?;
    Ok(answer(&mappings))
}

/// Replaces which directory groups give which roles (`members:manage`, and
/// every role mapped one the caller could grant). Every directory person's
/// roles follow at once.
#[utoipa::path(
    operation_id = "set_directory_group_roles",
    tag = "directory",
    params(("id" = Uuid, Path)),
    request_body = GroupRoles,
    responses(
        (status = 200, body = GroupRoles), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/organizations/{id}/directory/group-roles")]
pub(crate) async fn set_group_roles(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<GroupRoles>,
) -> Result<Json<GroupRoles>, ApiError> {
    let mappings = body
        .into_inner()
        .mappings
        .into_iter()
        .map(mapping)
        .collect::<Result<Vec<_>, _>>()?;
    let set = state
        .directory
        .set_group_roles(&auth.actor, OrganizationId::from_uuid(*id), mappings)
        .await?;
    Ok(answer(&set))
}
