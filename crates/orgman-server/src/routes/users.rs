//! The caller's own user.

use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, delete, get, post};
use orgman_domain::{
    BlankRole, ClientSecret, Email, Enrolled, NewIdentity, OrgRole, OrganizationId, Placement, User,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dto::IssuedInvitationView;
use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem, ProblemCode};
use crate::state::AppState;

/// The caller, as provisioned from their token on first use.
#[utoipa::path(
    tag = "users",
    responses((status = 200, body = Me), (status = 401, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/users/me")]
pub(crate) async fn me(auth: Authenticated, state: Data<AppState>) -> Result<Json<Me>, ApiError> {
    let user = state
        .users
        .user(auth.actor.user_id())
        .await
        .map_err(orgman_domain::OrgError::from)?
        .ok_or_else(|| ApiError::internal("provisioned user missing"))?;
    Ok(Json(Me::new(&user, auth.actor.system_role())))
}

/// Body of `POST /api/v1/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RegisterUser {
    /// E-mail address, also the username.
    #[schema(format = Email, max_length = 254)]
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    /// Initial password (write-only); without it the identity provider's own
    /// flows let the user set one.
    password: Option<String>,
    /// Place the user in this organization...
    organization_id: Option<Uuid>,
    /// ...with this role (default `MEMBER`).
    #[schema(pattern = "^(OWNER|ADMIN|MEMBER)$")]
    role: Option<String>,
}

/// Registers a user at the identity provider and locally. Platform
/// administrators get the user (201, or 409 `user-exists`). An
/// organization's OWNER or ADMIN registering into their organization gets
/// an invitation for the address (202), the same whether or not it already
/// had an account; a new account is set up by its owner at first login
/// (verified address, own password: a password given here is temporary).
#[utoipa::path(
    tag = "users",
    request_body = RegisterUser,
    responses(
        (status = 201, body = Me, description = "registered (platform administrators)"),
        (status = 202, body = IssuedInvitationView, description = "invited (organization administrators), whether or not the address had an account"),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/users")]
pub(crate) async fn register(
    auth: Authenticated,
    state: Data<AppState>,
    body: JsonObject<RegisterUser>,
) -> Result<HttpResponse, ApiError> {
    let registration = state.registration.as_ref().ok_or_else(|| {
        tracing::error!(
            "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET is not set"
        );
        ApiError::unavailable(
            ProblemCode::NotConfigured,
            "user registration is not configured on the server",
        )
    })?;
    let body = body.into_inner();
    let user = NewIdentity {
        email: Email::parse(&body.email)?,
        first_name: body.first_name.filter(|n| !n.trim().is_empty()),
        last_name: body.last_name.filter(|n| !n.trim().is_empty()),
        password: body.password.map(ClientSecret::new),
        set_up_by_user: false,
    };
    let placement = match (body.organization_id, body.role) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                ProblemCode::RoleWithoutOrganization,
                "role needs organizationId",
            ));
        }
        (Some(org), role) => Some(Placement {
            organization: OrganizationId::from_uuid(org),
            role: OrgRole::from_field(role.as_deref(), BlankRole::Refused)?,
        }),
    };
    // Organization administrators get the same answer whether or not the
    // address has an account: an invitation (see `UserService::enroll`).
    match registration
        .enroll(&auth.actor, user, placement, &state.invitations)
        .await?
    {
        Enrolled::Invited(issued) => Ok(HttpResponse::Accepted()
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .json(crate::dto::issued(&state, &issued))),
        Enrolled::Registered(created) => Ok(HttpResponse::Created().json(Me::registered(&created))),
    }
}

/// The caller, as the service knows them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Me {
    /// Local user id.
    pub(crate) id: Uuid,
    /// The identity provider's subject.
    pub(crate) subject: String,
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
    /// `ADMIN` (platform administrator) or `USER`.
    pub(crate) system_role: &'static str,
}

impl Me {
    /// Builds the view.
    /// A user just registered: registration never makes a platform
    /// administrator.
    pub(crate) fn registered(user: &User) -> Self {
        Self::new(user, orgman_domain::SystemRole::default())
    }

    /// The view of `user`, whose platform role is `role`.
    pub(crate) fn new(user: &User, role: orgman_domain::SystemRole) -> Self {
        Self {
            id: user.id.as_uuid(),
            subject: user.subject.clone(),
            email: user.email.as_ref().map(|e| e.to_string()),
            display_name: user.display_name.clone(),
            system_role: role.as_str(),
        }
    }
}

/// What an erasure changed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErasureView {
    /// The erased user.
    user_id: Uuid,
    /// The organizations the person left (each got an
    /// `organization.member.removed` and a `user.erased`).
    organizations: Vec<Uuid>,
    /// Invitations to the person's address, deleted.
    invitations: u64,
    /// Audit entries whose address was replaced by its pseudonym.
    audit_entries: u64,
    /// Outbox rows whose address was replaced.
    outbox_rows: u64,
    /// Webhook deliveries whose body was rewritten.
    webhook_deliveries: u64,
    /// The person had been erased before: only the account step ran
    /// again.
    already_erased: bool,
}

async fn erase(
    state: &AppState,
    auth: &Authenticated,
    user: Uuid,
) -> Result<Json<ErasureView>, ApiError> {
    let erasure = state.erasure.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            ProblemCode::NotConfigured,
            "erasure needs a pseudonym key: set ORGMAN_ERASURE_KEY or ORGMAN_SSO_ENCRYPTION_KEYS",
        )
    })?;
    let report = match erasure
        .erase(&auth.actor, orgman_domain::UserId::from_uuid(user))
        .await
    {
        // The user is the path's resource here: 404, not 422.
        Err(orgman_domain::OrgError::UserNotFound) => {
            return Err(ApiError::not_found(
                ProblemCode::UserNotFound,
                "no user with this id",
            ));
        }
        other => other?,
    };
    state
        .provisioning
        .forget(orgman_domain::UserId::from_uuid(user));
    Ok(Json(ErasureView {
        user_id: user,
        organizations: report.organizations.iter().map(|o| o.as_uuid()).collect(),
        invitations: report.invitations,
        audit_entries: report.pseudonymised.audit_entries,
        outbox_rows: report.pseudonymised.outbox_rows,
        webhook_deliveries: report.pseudonymised.webhook_deliveries,
        already_erased: report.already_erased,
    }))
}

/// Erases the caller (GDPR Article 17): their account at the identity
/// provider is deleted (or disabled, `ORGMAN_ERASURE_ACCOUNT`), every
/// membership removed, invitations to their address deleted, and their
/// address replaced by a keyed pseudonym in the audit trail, the outbox and
/// webhook deliveries; `user.erased` announces it. Refused with 409
/// `sole-owner`, naming the organizations, while the caller is the only
/// OWNER of one.
#[utoipa::path(
    tag = "users",
    responses(
        (status = 200, body = ErasureView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/users/me")]
pub(crate) async fn erase_me(
    auth: Authenticated,
    state: Data<AppState>,
) -> Result<Json<ErasureView>, ApiError> {
    let caller = auth.actor.user_id().as_uuid();
    erase(&state, &auth, caller).await
}

/// Erases a user, as `DELETE /users/me` does (platform administrators).
#[utoipa::path(
    tag = "users",
    params(("userId" = Uuid, Path)),
    responses(
        (status = 200, body = ErasureView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/users/{userId}")]
pub(crate) async fn erase_user(
    auth: Authenticated,
    state: Data<AppState>,
    user: Path<Uuid>,
) -> Result<Json<ErasureView>, ApiError> {
    erase(&state, &auth, *user).await
}

/// A membership in a person's data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PersonalMembership {
    organization_id: Uuid,
    name: String,
    slug: String,
    /// `OWNER`, `ADMIN` or `MEMBER`.
    role: String,
}

/// An invitation in a person's data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PersonalInvitation {
    id: Uuid,
    organization_id: Uuid,
    email: String,
    role: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: time::OffsetDateTime,
    /// `PENDING`, `ACCEPTED`, `REVOKED` or `EXPIRED`.
    state: String,
}

/// Everything orgman keeps about the caller (GDPR Article 15).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PersonalDataView {
    /// The caller's user.
    user: Me,
    /// Their organizations, with their role in each.
    memberships: Vec<PersonalMembership>,
    /// Invitations addressed to them, in every state.
    invitations: Vec<PersonalInvitation>,
    /// Audit entries made by them or naming them, newest first, as
    /// `GET /audit-events` shows entries (at most 10,000).
    #[schema(value_type = Vec<Object>)]
    audit: Vec<serde_json::Value>,
    /// More audit entries exist than are listed.
    audit_truncated: bool,
}

/// Everything orgman keeps about the caller, as JSON (GDPR Article 15):
/// their user, memberships, the invitations addressed to them, and the
/// audit entries they made or that name them.
#[utoipa::path(
    tag = "users",
    responses(
        (status = 200, body = PersonalDataView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/users/me/export")]
pub(crate) async fn export_me(
    auth: Authenticated,
    state: Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let erasure = state.erasure.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            ProblemCode::NotConfigured,
            "personal data needs a pseudonym key: set ORGMAN_ERASURE_KEY or ORGMAN_SSO_ENCRYPTION_KEYS",
        )
    })?;
    let data = erasure
        .personal_data(&auth.actor, auth.actor.user_id())
        .await?;
    let now = time::OffsetDateTime::now_utc();
    let view = PersonalDataView {
        user: Me::new(&data.user, auth.actor.system_role()),
        memberships: data
            .memberships
            .iter()
            .map(|(org, role)| PersonalMembership {
                organization_id: org.id().as_uuid(),
                name: org.name().as_str().to_owned(),
                slug: org.slug().as_str().to_owned(),
                role: role.as_str().to_owned(),
            })
            .collect(),
        invitations: data
            .invitations
            .iter()
            .map(|i| PersonalInvitation {
                id: i.id.as_uuid(),
                organization_id: i.organization_id.as_uuid(),
                email: i.email.as_str().to_owned(),
                role: i.role.as_str().to_owned(),
                created_at: i.created_at,
                expires_at: i.expires_at,
                state: i.status(now).as_str().to_owned(),
            })
            .collect(),
        audit: data
            .audit
            .iter()
            .map(|event| serde_json::to_value(event).unwrap_or_default())
            .collect(),
        audit_truncated: data.audit_truncated,
    };
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"my-data.json\"",
        ))
        .json(view))
}
