//! The audit trail: who changed what, when, through which request.

use actix_web::get;
use actix_web::web::{Data, Json, Path, Query};
use orgman_domain::{
    ActorFilter, ActorKind, DomainEvent, EventId, OrganizationId, Page, PageRequest,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::Authenticated;
use crate::problem::{ApiError, Problem, ProblemCode};
use crate::state::AppState;

/// Filters and page of an audit trail read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only events of this type, e.g. `organization.member.added`.
    #[serde(rename = "type")]
    #[param(rename = "type", max_length = 100)]
    event_type: Option<String>,
    /// Only changes made by this actor (a user's or an API key's id).
    actor: Option<Uuid>,
    /// Only changes made by actors of this kind: `user`, `apiKey` or
    /// `scimClient`.
    #[serde(rename = "actorKind")]
    #[param(rename = "actorKind", pattern = "^(user|apiKey|scimClient)$")]
    actor_kind: Option<String>,
    /// The `nextCursor` of the previous page.
    after: Option<Uuid>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// One audited change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditEventView {
    /// The event id (also the CloudEvent id on the broker).
    id: Uuid,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    occurred_at: time::OffsetDateTime,
    /// The organization changed.
    organization_id: Uuid,
    /// Who changed it; `null` for the service itself (a purge after the
    /// grace period).
    actor: Option<Uuid>,
    /// What kind of caller `actor` is: `user`, `apiKey` or `scimClient`.
    actor_kind: &'static str,
    /// The request that made the change, when there was one.
    request_id: Option<Uuid>,
    /// The event type, e.g. `organization.member.added`.
    #[serde(rename = "type")]
    event_type: &'static str,
    /// What changed: the event's `kind`, as in `docs/events.md`.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

/// A page of audited changes, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditPage {
    /// The changes.
    items: Vec<AuditEventView>,
    /// Pass as `after` for the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<Uuid>,
}

/// An [`AuditQuery`] as domain values.
struct AuditRead {
    event_type: Option<String>,
    by: ActorFilter,
    page: PageRequest<EventId>,
}

impl AuditQuery {
    fn parts(&self) -> Result<AuditRead, ApiError> {
        let event_type = self
            .event_type
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if event_type.as_ref().is_some_and(|t| t.len() > 100) {
            return Err(ApiError::bad_request(
                ProblemCode::InvalidQueryParameter,
                "type is at most 100 characters",
            ));
        }
        Ok(AuditRead {
            event_type,
            by: ActorFilter {
                id: self.actor,
                kind: self
                    .actor_kind
                    .as_deref()
                    .map(|kind| {
                        kind.parse::<ActorKind>().map_err(|_| {
                            ApiError::bad_request(
                                ProblemCode::InvalidQueryParameter,
                                "actorKind is one of user, apiKey, scimClient",
                            )
                        })
                    })
                    .transpose()?,
            },
            page: super::page_of(self.after.map(EventId::from_uuid), self.limit)?,
        })
    }
}

fn view(page: Page<DomainEvent, EventId>) -> AuditPage {
    AuditPage {
        items: page
            .items
            .into_iter()
            .map(|event| AuditEventView {
                id: event.id.as_uuid(),
                occurred_at: event.occurred_at,
                organization_id: event.organization_id.as_uuid(),
                actor: event.actor,
                actor_kind: event.actor_kind.as_str(),
                request_id: event.request_id.map(|r| r.as_uuid()),
                event_type: event.type_name(),
                data: serde_json::to_value(&event.kind).unwrap_or_default(),
            })
            .collect(),
        next_cursor: page.next.map(|id| id.as_uuid()),
    }
}

/// An organization's audit trail, newest first (OWNER and ADMIN, platform
/// administrators).
#[utoipa::path(
    tag = "audit",
    params(("id" = Uuid, Path), AuditQuery),
    responses(
        (status = 200, body = AuditPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/audit-events")]
pub(crate) async fn organization_events(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    query: Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let read = query.parts()?;
    let found = state
        .audit
        .organization_events(
            &auth.actor,
            OrganizationId::from_uuid(*id),
            read.event_type,
            read.by,
            read.page,
        )
        .await?;
    Ok(Json(view(found)))
}

/// Every organization's audit trail, newest first (platform administrators).
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/audit-events")]
pub(crate) async fn all_events(
    auth: Authenticated,
    state: Data<AppState>,
    query: Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let read = query.parts()?;
    let found = state
        .audit
        .all_events(&auth.actor, read.event_type, read.by, read.page)
        .await?;
    Ok(Json(view(found)))
}
