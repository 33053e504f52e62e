//! Organizations: listing, creation, reads, rename, lifecycle actions.

use actix_web::http::header;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, put};
use orgman_domain::{
    LifecycleAction, OrgName, OrgRole, OrgStatus, Organization, OrganizationId, OrganizationPatch,
    SearchPrefix, Slug,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{etag, if_match, page};
use crate::dto::PageQuery;
use crate::extract::{Authenticated, JsonObject, OrgContext};
use crate::problem::{ApiError, FieldError, Problem, ProblemCode, precondition};
use crate::state::AppState;

fn with_etag(
    status: actix_web::http::StatusCode,
    org: &orgman_domain::Organization,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(org.version())))
        .json(OrganizationView::from(org))
}

/// Every organization (platform administrators), page by page.
#[utoipa::path(
    tag = "organizations",
    params(PageQuery),
    responses(
        (status = 200, body = OrganizationPage), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations")]
pub(crate) async fn list_organizations(
    auth: Authenticated,
    state: Data<AppState>,
    query: Query<PageQuery>,
) -> Result<Json<OrganizationPage>, ApiError> {
    let found = state.service.list_all(&auth.actor, page(&query)?).await?;
    Ok(Json(OrganizationPage {
        items: found.items.iter().map(OrganizationView::from).collect(),
        next_cursor: found.next.map(|id| id.as_uuid()),
    }))
}

/// Creates an organization; the caller becomes its OWNER.
#[utoipa::path(
    tag = "organizations",
    request_body = CreateOrganization,
    responses(
        (status = 201, body = OrganizationView, headers(("Location" = String), ("ETag" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations")]
pub(crate) async fn create_organization(
    auth: Authenticated,
    state: Data<AppState>,
    body: JsonObject<CreateOrganization>,
) -> Result<HttpResponse, ApiError> {
    let name = OrgName::parse(&body.name);
    let slug = Slug::parse(&body.slug);
    let (name, slug) = match (name, slug) {
        (Ok(name), Ok(slug)) => (name, slug),
        (name, slug) => {
            let errors = [name.err(), slug.err()]
                .into_iter()
                .flatten()
                .map(|e| FieldError {
                    field: e.field().unwrap_or("body").to_owned(),
                    message: e.to_string(),
                })
                .collect();
            return Err(ApiError::validation(errors));
        }
    };
    let org = state.service.create(&auth.actor, name, slug).await?;
    let mut response = with_etag(actix_web::http::StatusCode::CREATED, &org);
    if let Ok(location) =
        header::HeaderValue::from_str(&format!("/api/v1/organizations/{}", org.id()))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /organizations/mine`'s query: a page and an optional search.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MineQuery {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    after: Option<Uuid>,
    /// A case-insensitive prefix of the organization's slug or of any word
    /// of its name (at most 100 characters, no control characters).
    #[param(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    search: Option<String>,
}

/// The caller's organizations, with their role in each, by organization
/// id; `search` keeps those whose slug or a word of whose name starts
/// with it.
#[utoipa::path(
    tag = "organizations",
    params(MineQuery),
    responses(
        (status = 200, body = MyOrganizationPage), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/mine")]
pub(crate) async fn my_organizations(
    auth: Authenticated,
    state: Data<AppState>,
    query: Query<MineQuery>,
) -> Result<Json<MyOrganizationPage>, ApiError> {
    let page = super::page_of(query.after.map(OrganizationId::from_uuid), query.limit)?;
    let search = SearchPrefix::parse(query.search.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(ProblemCode::InvalidQueryParameter, e.to_string()))?;
    let found = match &search {
        Some(search) => {
            state
                .service
                .list_mine_matching(&auth.actor, search, page)
                .await?
        }
        None => state.service.list_mine(&auth.actor, page).await?,
    };
    Ok(Json(MyOrganizationPage {
        items: found
            .items
            .iter()
            .map(|(org, role)| MyOrganization::new(org, Some(*role)))
            .collect(),
        next_cursor: found.next.map(|id| id.as_uuid()),
    }))
}

/// The organization this request is in (`Fx-Organization-Id`, else the
/// token's organization claim), with the caller's role: what other services
/// ask orgman for every request.
#[utoipa::path(
    tag = "organizations",
    params(("Fx-Organization-Id" = Option<Uuid>, Header, description = "Overrides the token's organization claim")),
    responses(
        (status = 200, body = MyOrganization), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/current")]
pub(crate) async fn current_organization(
    context: OrgContext,
    state: Data<AppState>,
) -> Result<Json<MyOrganization>, ApiError> {
    let org = state
        .service
        .get(&context.auth.actor, context.organization)
        .await?;
    Ok(Json(MyOrganization::new(&org, context.role)))
}

/// One organization (members and platform administrators).
#[utoipa::path(
    tag = "organizations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = OrganizationView, headers(("ETag" = String))),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}")]
pub(crate) async fn get_organization(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let org = state
        .service
        .get(&auth.actor, OrganizationId::from_uuid(*id))
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &org))
}

/// Changes an organization's name and metadata (OWNER and ADMIN); absent
/// fields stay, metadata fields are JSON merge patches. Send the `ETag` you
/// read as `If-Match` to make sure nobody changed it meanwhile (412
/// otherwise).
#[utoipa::path(
    tag = "organizations",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"?[0-9]{1,18}"?)$"#)),
    request_body = UpdateOrganization,
    responses(
        (status = 200, body = OrganizationView, headers(("ETag" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/organizations/{id}")]
pub(crate) async fn update_organization(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    req: HttpRequest,
    body: JsonObject<UpdateOrganization>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req)?;
    let body = body.into_inner();
    let patch = OrganizationPatch {
        name: body.name.as_deref().map(OrgName::parse).transpose()?,
        metadata: body.metadata,
        private_metadata: body.private_metadata,
    };
    let org = state
        .service
        .update(
            &auth.actor,
            OrganizationId::from_uuid(*id),
            &patch,
            expected,
        )
        .await
        .map_err(|e| {
            if expected.is_some() {
                precondition(e)
            } else {
                e.into()
            }
        })?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &org))
}

/// Body of `PUT /api/v1/organizations/{id}/member-limit`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MemberLimit {
    /// The most members the organization may have; `null` (or absent)
    /// lifts the limit. Members beyond a lowered limit stay.
    #[schema(minimum = 0, maximum = 2147483647)]
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    max_members: Option<u32>,
}

/// Sets or lifts an organization's member limit (platform administrators).
/// While the organization is full, adding, importing and registering
/// members into it answer 409 `member-limit-reached`.
#[utoipa::path(
    tag = "organizations",
    params(("id" = Uuid, Path)),
    request_body = MemberLimit,
    responses(
        (status = 200, body = OrganizationView, headers(("ETag" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/organizations/{id}/member-limit")]
pub(crate) async fn set_member_limit(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<MemberLimit>,
) -> Result<HttpResponse, ApiError> {
    let max = body.max_members;
    if max.is_some_and(|max| i32::try_from(max).is_err()) {
        return Err(ApiError::bad_request(
            ProblemCode::InvalidMemberLimit,
            "maxMembers is at most 2147483647",
        ));
    }
    let org = state
        .service
        .set_member_limit(&auth.actor, OrganizationId::from_uuid(*id), max)
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &org))
}

async fn transition(
    auth: Authenticated,
    state: Data<AppState>,
    id: Uuid,
    action: LifecycleAction,
) -> Result<HttpResponse, ApiError> {
    let org = state
        .service
        .transition(&auth.actor, OrganizationId::from_uuid(id), action)
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &org))
}

macro_rules! lifecycle_route {
    ($name:ident, $path:literal, $action:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "lifecycle",
            params(("id" = Uuid, Path)),
            responses(
                (status = 200, body = OrganizationView),
                (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
                (status = 409, body = Problem), (status = 503, body = Problem),
            ),
            security(("bearer" = []))
        )]
        #[post($path)]
        pub(crate) async fn $name(
            auth: Authenticated,
            state: Data<AppState>,
            id: Path<Uuid>,
        ) -> Result<HttpResponse, ApiError> {
            transition(auth, state, *id, $action).await
        }
    };
}

lifecycle_route!(
    suspend,
    "/api/v1/organizations/{id}/suspend",
    LifecycleAction::Suspend,
    "ACTIVE → SUSPENDED (platform administrators). Members keep read access."
);
lifecycle_route!(
    reactivate,
    "/api/v1/organizations/{id}/reactivate",
    LifecycleAction::Reactivate,
    "SUSPENDED → ACTIVE (platform administrators)."
);
lifecycle_route!(
    request_deletion,
    "/api/v1/organizations/{id}/request-deletion",
    LifecycleAction::RequestDeletion,
    "ACTIVE → PENDING_DELETION (OWNER): starts the grace period."
);
lifecycle_route!(
    restore,
    "/api/v1/organizations/{id}/restore",
    LifecycleAction::Restore,
    "PENDING_DELETION → ACTIVE (OWNER), during the grace period."
);
lifecycle_route!(
    purge,
    "/api/v1/organizations/{id}/purge",
    LifecycleAction::Purge,
    "PENDING_DELETION → DELETED (platform administrators), once the grace period is over."
);

/// Body of `POST /api/v1/organizations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOrganization {
    /// Display name, 1-100 characters after trimming, no control characters.
    #[schema(
        example = "Acme Corporation",
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub(crate) name: String,
    /// Unique handle matching `^[a-z0-9-]+$`, at most 50 characters.
    #[schema(example = "acme", pattern = "^[a-z0-9-]+$", max_length = 50)]
    pub(crate) slug: String,
}

/// Body of `PATCH /api/v1/organizations/{id}`: absent fields stay as they
/// are; the metadata fields are JSON merge patches (RFC 7396: `null`
/// removes a member, objects merge, other values replace).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateOrganization {
    /// The new display name, 1-100 characters after trimming, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub(crate) name: Option<String>,
    /// Merge patch for `metadata` (readable by every member); the result
    /// must be an object of at most 8192 bytes of JSON. `null` empties it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub(crate) metadata: Option<Value>,
    /// Merge patch for `privateMetadata` (OWNERs and ADMINs), same rules.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub(crate) private_metadata: Option<Value>,
}

/// A field that is present, even as `null` (which a plain `Option` would
/// read as absent): `null` is a merge patch of its own.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrganizationView {
    /// Id.
    pub(crate) id: Uuid,
    /// Display name.
    pub(crate) name: String,
    /// Unique handle.
    pub(crate) slug: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_DELETION` or `DELETED`.
    pub(crate) status: String,
    /// While `PENDING_DELETION`: the earliest purge time.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub(crate) purge_after: Option<OffsetDateTime>,
    /// The most members it may have; `null` for no limit.
    pub(crate) max_members: Option<u32>,
    /// Data for the platform's services (a JSON object), readable by every
    /// member.
    #[schema(value_type = Object)]
    pub(crate) metadata: Value,
    /// Data for the platform's services (a JSON object), readable by OWNERs,
    /// ADMINs and platform administrators; absent for other readers and
    /// possibly when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) private_metadata: Option<Value>,
    /// Incremented by every change; also the `ETag`.
    pub(crate) version: u64,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub(crate) created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub(crate) updated_at: OffsetDateTime,
}

impl From<&Organization> for OrganizationView {
    fn from(org: &Organization) -> Self {
        Self {
            id: org.id().as_uuid(),
            name: org.name().to_string(),
            slug: org.slug().to_string(),
            status: status_text(org.status()),
            purge_after: org.purge_after(),
            max_members: org.max_members(),
            metadata: org.metadata().to_value(),
            private_metadata: org
                .private_metadata()
                .map(orgman_domain::Metadata::to_value),
            version: org.version(),
            created_at: org.created_at(),
            updated_at: org.updated_at(),
        }
    }
}

fn status_text(status: OrgStatus) -> String {
    status.as_str().to_owned()
}

/// An organization with the caller's role in it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MyOrganization {
    /// The organization.
    #[serde(flatten)]
    pub(crate) organization: OrganizationView,
    /// The caller's role (absent for a platform administrator who is not a
    /// member).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<String>,
}

impl MyOrganization {
    /// Builds the view.
    pub(crate) fn new(org: &Organization, role: Option<OrgRole>) -> Self {
        Self {
            organization: org.into(),
            role: role.map(|r| r.as_str().to_owned()),
        }
    }
}

/// A page of organizations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrganizationPage {
    /// The items.
    pub(crate) items: Vec<OrganizationView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<Uuid>,
}

/// A page of the caller's organizations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MyOrganizationPage {
    /// The items.
    pub(crate) items: Vec<MyOrganization>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<Uuid>,
}
