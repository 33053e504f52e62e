//! Verified domains: claim, prove with a DNS TXT record, list, give up.

use actix_web::http::header;
use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, delete, get, patch, post};
use orgman_domain::{DomainName, DomainPolicyChange, OrgDomain, OrganizationId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Body of `POST /api/v1/organizations/{id}/domains`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ClaimDomain {
    /// The domain, e.g. `example.com`.
    #[schema(
        max_length = 253,
        pattern = "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$"
    )]
    domain: String,
}

/// The DNS record that proves a claim.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChallengeRecord {
    /// Where to publish it.
    name: String,
    /// Always `TXT`.
    #[serde(rename = "type")]
    record_type: &'static str,
    /// What it must hold.
    value: String,
}

/// A claimed domain.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DomainView {
    /// The domain.
    domain: String,
    /// Whether the organization proved it controls it.
    verified: bool,
    /// When it was verified.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    verified_at: Option<OffsetDateTime>,
    /// When it was claimed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// The record to publish (kept after verification: removing it does
    /// not undo the verification).
    record: ChallengeRecord,
    /// Users whose verified e-mail address is in the domain join as
    /// MEMBERs at their first login.
    auto_join: bool,
    /// Users of the domain must log in through the organization's identity
    /// provider.
    sso_required: bool,
}

/// Body of `PATCH /api/v1/organizations/{id}/domains/{domain}`: the
/// policies to change; absent ones stay as they are. Turning one on needs
/// a verified domain.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DomainPolicyPatch {
    /// Users of the domain join as MEMBERs at their first login.
    auto_join: Option<bool>,
    /// Users of the domain must log in through SSO.
    sso_required: Option<bool>,
}

impl From<&OrgDomain> for DomainView {
    fn from(domain: &OrgDomain) -> Self {
        Self {
            domain: domain.name.to_string(),
            verified: domain.verified_at.is_some(),
            verified_at: domain.verified_at,
            created_at: domain.created_at,
            record: ChallengeRecord {
                name: domain.record_name(),
                record_type: "TXT",
                value: domain.challenge.clone(),
            },
            auto_join: domain.policy.auto_join,
            sso_required: domain.policy.sso_required,
        }
    }
}

fn domain_name(raw: &str) -> Result<DomainName, ApiError> {
    Ok(DomainName::parse(raw)?)
}

/// Claims a domain (OWNER and ADMIN); the answer names the TXT record that
/// proves it.
#[utoipa::path(
    operation_id = "claim_domain",
    tag = "domains",
    params(("id" = Uuid, Path)),
    request_body = ClaimDomain,
    responses(
        (status = 201, body = DomainView, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/domains")]
pub(crate) async fn claim(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<ClaimDomain>,
) -> Result<HttpResponse, ApiError> {
    let name = domain_name(&body.domain)?;
    let claimed = state
        .domains
        .claim(&auth.actor, OrganizationId::from_uuid(*id), name)
        .await?;
    let location = format!("/api/v1/organizations/{}/domains/{}", *id, claimed.name);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(DomainView::from(&claimed)))
}

/// The organization's domains (OWNER and ADMIN).
#[utoipa::path(
    operation_id = "list_domains",
    tag = "domains",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Vec<DomainView>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/domains")]
pub(crate) async fn list(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
) -> Result<Json<Vec<DomainView>>, ApiError> {
    let found = state
        .domains
        .list(&auth.actor, OrganizationId::from_uuid(*id))
        .await?;
    Ok(Json(found.iter().map(DomainView::from).collect()))
}

/// Looks the claim's TXT record up and marks the domain verified when it
/// holds the expected value (OWNER and ADMIN). 422 `domain-not-verified`
/// while it does not; 409 `domain-verified-elsewhere` when another
/// organization verified it first.
#[utoipa::path(
    operation_id = "verify_domain",
    tag = "domains",
    params(("id" = Uuid, Path), ("domain" = String, Path, max_length = 253, pattern = "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$")),
    responses(
        (status = 200, body = DomainView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/domains/{domain}/verify")]
pub(crate) async fn verify(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, String)>,
) -> Result<Json<DomainView>, ApiError> {
    let (org, domain) = path.into_inner();
    let verified = state
        .domains
        .verify(
            &auth.actor,
            OrganizationId::from_uuid(org),
            &domain_name(&domain)?,
        )
        .await?;
    Ok(Json(DomainView::from(&verified)))
}

/// Changes a domain's policies (OWNER and ADMIN). 409 `domain-unverified`
/// when turning one on for a domain not verified yet.
#[utoipa::path(
    operation_id = "set_domain_policy",
    tag = "domains",
    params(("id" = Uuid, Path), ("domain" = String, Path, max_length = 253, pattern = "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$")),
    request_body = DomainPolicyPatch,
    responses(
        (status = 200, body = DomainView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/organizations/{id}/domains/{domain}")]
pub(crate) async fn set_policy(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, String)>,
    body: JsonObject<DomainPolicyPatch>,
) -> Result<Json<DomainView>, ApiError> {
    let (org, domain) = path.into_inner();
    let change = DomainPolicyChange {
        auto_join: body.auto_join,
        sso_required: body.sso_required,
    };
    let changed = state
        .domains
        .set_policy(
            &auth.actor,
            OrganizationId::from_uuid(org),
            &domain_name(&domain)?,
            change,
        )
        .await?;
    Ok(Json(DomainView::from(&changed)))
}

/// Gives a domain up (OWNER and ADMIN).
#[utoipa::path(
    operation_id = "remove_domain",
    tag = "domains",
    params(("id" = Uuid, Path), ("domain" = String, Path, max_length = 253, pattern = "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$")),
    responses(
        (status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{id}/domains/{domain}")]
pub(crate) async fn remove(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org, domain) = path.into_inner();
    state
        .domains
        .delete(
            &auth.actor,
            OrganizationId::from_uuid(org),
            &domain_name(&domain)?,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
