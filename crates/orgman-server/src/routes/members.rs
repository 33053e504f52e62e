//! Members: listing, adding, changing roles, removing, bulk CSV import.

use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post};
use futures_util::TryStreamExt;
use orgman_domain::{OrgRole, OrganizationId, Permission, UserId};
use uuid::Uuid;

use super::page;
use crate::dto::{
    AddMember, ChangeRole, ImportReport, ImportRow, MemberPage, MemberView, PageQuery,
};
use crate::extract::Authenticated;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Most rows one import may hold.
const MAX_IMPORT_ROWS: usize = 10_000;

fn role(text: Option<&str>) -> Result<OrgRole, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(OrgRole::Member),
        Some(text) => Ok(text.parse()?),
    }
}

/// The organization's members (members and platform administrators).
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = MemberPage), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/members")]
pub(crate) async fn list_members(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    query: Query<PageQuery>,
) -> Result<Json<MemberPage>, ApiError> {
    let found = state
        .service
        .members(&auth.actor, OrganizationId::from_uuid(*id), page(&query))
        .await?;
    Ok(Json(MemberPage {
        items: found.items.iter().map(MemberView::from).collect(),
        next_cursor: found.next.map(|u| u.as_uuid()),
    }))
}

/// Adds a user (OWNER and ADMIN of the organization, platform
/// administrators; only OWNERs add OWNERs).
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path)),
    request_body = AddMember,
    responses(
        (status = 201, body = MemberView, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/members")]
pub(crate) async fn add_member(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: Json<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let role = role(body.role.as_deref())?;
    let membership = state
        .service
        .add_member(
            &auth.actor,
            OrganizationId::from_uuid(*id),
            UserId::from_uuid(body.user_id),
            role,
        )
        .await?;
    let location = format!("/api/v1/organizations/{}/members/{}", *id, body.user_id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(MemberView::from(&membership)))
}

/// Changes a member's role.
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path), ("userId" = Uuid, Path)),
    request_body = ChangeRole,
    responses(
        (status = 200, body = MemberView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/organizations/{id}/members/{userId}")]
pub(crate) async fn change_role(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    body: Json<ChangeRole>,
) -> Result<Json<MemberView>, ApiError> {
    let (org, user) = *path;
    let role = role(Some(&body.role))?;
    let membership = state
        .service
        .change_role(
            &auth.actor,
            OrganizationId::from_uuid(org),
            UserId::from_uuid(user),
            role,
        )
        .await?;
    Ok(Json(MemberView::from(&membership)))
}

/// Removes a member (members may remove themselves; the last OWNER stays).
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path), ("userId" = Uuid, Path)),
    responses(
        (status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{id}/members/{userId}")]
pub(crate) async fn remove_member(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (org, user) = *path;
    state
        .service
        .remove_member(
            &auth.actor,
            OrganizationId::from_uuid(org),
            UserId::from_uuid(user),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Adds members from a CSV file (multipart field `file`, columns `userId`
/// and optional `role`), reporting each row. Rows are independent: a failed
/// row does not undo the others.
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path)),
    request_body(content_type = "multipart/form-data", description = "field `file`: CSV with header `userId,role`"),
    responses(
        (status = 200, body = ImportReport), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/members/import")]
pub(crate) async fn import_members(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    req: HttpRequest,
    payload: Multipart,
) -> Result<Json<ImportReport>, ApiError> {
    let limits = state.config.multipart;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limits.max_request_size) {
        return Err(too_large("request-too-large", limits.max_request_size));
    }
    let organization = OrganizationId::from_uuid(*id);
    // Refuse the whole upload up front rather than row by row.
    state
        .service
        .ensure_permission(&auth.actor, organization, Permission::ManageMembers)
        .await?;

    let csv = read_csv_field(payload, limits.max_file_size, limits.max_request_size).await?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv.as_slice());
    let headers = reader
        .headers()
        .map_err(|e| {
            ApiError::bad_request("invalid-csv", format!("cannot read the CSV header: {e}"))
        })?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let user_column = column("userId").ok_or_else(|| {
        ApiError::bad_request("invalid-csv", "the CSV header must have a userId column")
    })?;
    let role_column = column("role");

    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        if index >= MAX_IMPORT_ROWS {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-many-rows",
                "Payload too large",
                format!("an import holds at most {MAX_IMPORT_ROWS} rows"),
            ));
        }
        let line = index as u64 + 2;
        let failed = |user_id, code, detail: String| ImportRow {
            line,
            user_id,
            status: "failed",
            code: Some(code),
            detail: Some(detail),
        };
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                rows.push(failed(None, "invalid-csv", e.to_string()));
                continue;
            }
        };
        let Some(user_id) = record
            .get(user_column)
            .and_then(|u| Uuid::parse_str(u).ok())
        else {
            rows.push(failed(
                None,
                "invalid-user-id",
                "userId must be a UUID".into(),
            ));
            continue;
        };
        let role = match role(role_column.and_then(|c| record.get(c))) {
            Ok(role) => role,
            Err(error) => {
                rows.push(failed(
                    Some(user_id),
                    error.code(),
                    "role must be OWNER, ADMIN or MEMBER".into(),
                ));
                continue;
            }
        };
        match state
            .service
            .add_member(&auth.actor, organization, UserId::from_uuid(user_id), role)
            .await
        {
            Ok(_) => rows.push(ImportRow {
                line,
                user_id: Some(user_id),
                status: "added",
                code: None,
                detail: None,
            }),
            Err(error @ orgman_domain::OrgError::Unavailable(_)) => return Err(error.into()),
            Err(error) => {
                let detail = error.to_string();
                rows.push(failed(Some(user_id), ApiError::from(error).code(), detail));
            }
        }
    }
    let added = rows.iter().filter(|r| r.status == "added").count() as u64;
    Ok(Json(ImportReport {
        added,
        failed: rows.len() as u64 - added,
        rows,
    }))
}

fn too_large(code: &'static str, limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        code,
        "Payload too large",
        format!("the limit is {limit} bytes"),
    )
}

/// Reads the `file` part (or the only file part), enforcing both limits
/// while streaming.
async fn read_csv_field(
    mut payload: Multipart,
    max_file: usize,
    max_request: usize,
) -> Result<Vec<u8>, ApiError> {
    let multipart_error = |e: actix_multipart::MultipartError| {
        ApiError::bad_request(
            "invalid-multipart",
            format!("cannot read the multipart body: {e}"),
        )
    };
    let mut total = 0usize;
    let mut file: Option<Vec<u8>> = None;
    while let Some(mut field) = payload.try_next().await.map_err(multipart_error)? {
        let is_file = field
            .content_disposition()
            .is_some_and(|d| d.get_filename().is_some())
            || field.name() == Some("file");
        if is_file {
            let acceptable = field.content_type().is_none_or(|mime| {
                matches!(
                    (mime.type_().as_str(), mime.subtype().as_str()),
                    ("text", "csv")
                        | ("text", "plain")
                        | ("application", "octet-stream")
                        | ("application", "vnd.ms-excel")
                )
            });
            if !acceptable {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-file-type",
                    "Unsupported media type",
                    "the file must be CSV (text/csv)",
                ));
            }
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
            total += chunk.len();
            if total > max_request {
                return Err(too_large("request-too-large", max_request));
            }
            if is_file && bytes.len() + chunk.len() > max_file {
                return Err(too_large("file-too-large", max_file));
            }
            if is_file {
                bytes.extend_from_slice(&chunk);
            }
        }
        if is_file && file.is_none() {
            file = Some(bytes);
        }
    }
    file.ok_or_else(|| {
        ApiError::bad_request("missing-file", "the multipart body must have a `file` part")
    })
}
