//! Invitations: inviting an address into an organization, and accepting.

use actix_web::http::header;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, post};
use orgman_domain::{BlankRole, Email, InvitationId, OrgRole, OrganizationId, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page;
use crate::dto::{InvitationView, IssuedInvitationView, MemberView, PageQuery, issued};
use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem, ProblemCode};
use crate::state::AppState;

/// Body of `POST /api/v1/organizations/{id}/invitations`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewInvitation {
    /// The address to invite; only a user whose verified address this is
    /// can accept.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// The role accepting grants: `OWNER`, `ADMIN` or `MEMBER` (default).
    #[schema(pattern = "^(OWNER|ADMIN|MEMBER)$")]
    role: Option<String>,
}

/// Body of `POST /api/v1/invitations/accept`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AcceptInvitation {
    /// The token from the invitation.
    #[schema(min_length = 1, max_length = 512)]
    token: String,
}

/// A page of invitations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvitationPage {
    /// The invitations.
    items: Vec<InvitationView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<Uuid>,
}

/// Invites an address to join with a role (OWNER and ADMIN; only OWNERs
/// invite OWNERs). Answers the invitation with its token, once.
#[utoipa::path(
    operation_id = "invite_member",
    tag = "invitations",
    params(("id" = Uuid, Path)),
    request_body = NewInvitation,
    responses(
        (status = 201, body = IssuedInvitationView, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/invitations")]
pub(crate) async fn invite(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<NewInvitation>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email)?;
    let role = OrgRole::from_field(body.role.as_deref(), BlankRole::Refused)?;
    let created = state
        .invitations
        .invite(&auth.actor, OrganizationId::from_uuid(*id), email, role)
        .await?;
    let location = format!(
        "/api/v1/organizations/{}/invitations/{}",
        *id, created.invitation.id
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued(&state, &created)))
}

/// The organization's invitations, every state (OWNER and ADMIN).
#[utoipa::path(
    operation_id = "list_invitations",
    tag = "invitations",
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = InvitationPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/invitations")]
pub(crate) async fn list(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    query: Query<PageQuery>,
) -> Result<Json<InvitationPage>, ApiError> {
    let request: PageRequest<InvitationId> = page(&query)?;
    let found = state
        .invitations
        .list(&auth.actor, OrganizationId::from_uuid(*id), request)
        .await?;
    Ok(Json(InvitationPage {
        items: found.items.iter().map(InvitationView::new).collect(),
        next_cursor: found.next.map(|i| i.as_uuid()),
    }))
}

/// Revokes an invitation; its token stops working (OWNER and ADMIN).
#[utoipa::path(
    operation_id = "revoke_invitation",
    tag = "invitations",
    params(("id" = Uuid, Path), ("invitationId" = Uuid, Path)),
    responses(
        (status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{id}/invitations/{invitationId}")]
pub(crate) async fn revoke(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (org, invitation) = *path;
    state
        .invitations
        .revoke(
            &auth.actor,
            OrganizationId::from_uuid(org),
            InvitationId::from_uuid(invitation),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sends an invitation again: a new token and expiry; the old token stops
/// working (OWNER and ADMIN).
#[utoipa::path(
    operation_id = "resend_invitation",
    tag = "invitations",
    params(("id" = Uuid, Path), ("invitationId" = Uuid, Path)),
    responses(
        (status = 200, body = IssuedInvitationView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 410, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/invitations/{invitationId}/resend")]
pub(crate) async fn resend(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (org, invitation) = *path;
    let sent = state
        .invitations
        .resend(
            &auth.actor,
            OrganizationId::from_uuid(org),
            InvitationId::from_uuid(invitation),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued(&state, &sent)))
}

/// Accepts an invitation: the caller, whose token must carry the invited
/// address as a verified e-mail (`email_verified`), becomes a member.
/// Single use.
#[utoipa::path(
    operation_id = "accept_invitation",
    tag = "invitations",
    request_body = AcceptInvitation,
    responses(
        (status = 200, body = MemberView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 410, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/invitations/accept")]
pub(crate) async fn accept(
    auth: Authenticated,
    state: Data<AppState>,
    body: JsonObject<AcceptInvitation>,
) -> Result<Json<MemberView>, ApiError> {
    if body.token.is_empty() || body.token.len() > 512 {
        return Err(ApiError::bad_request(
            ProblemCode::InvalidInvitationToken,
            "token must be 1-512 characters",
        ));
    }
    let verified = auth
        .claims
        .email
        .as_deref()
        .filter(|_| auth.claims.email_verified == Some(true))
        .and_then(|email| Email::parse(email).ok());
    let membership = state
        .invitations
        .accept(&auth.actor, &body.token, verified.as_ref())
        .await?;
    Ok(Json(MemberView::from(&membership)))
}
