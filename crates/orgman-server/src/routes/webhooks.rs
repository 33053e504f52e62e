//! An organization's webhook endpoints: register (the signing secret is
//! shown once), list, read, change, delete, rotate the secret; and each
//! endpoint's deliveries, one of which can be sent again. Delivery itself
//! runs in the background (`background.rs`).

use actix_web::http::header;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use orgman_domain::time::{Duration, OffsetDateTime};
use orgman_domain::{
    DeliveryAttempt, DeliveryId, EventTypes, IssuedWebhook, OrganizationId, PageRequest,
    WebhookDelivery, WebhookDraft, WebhookEndpoint, WebhookId, WebhookPatch, WebhookUrl,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page;
use crate::dto::PageQuery;
use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Body of `POST /api/v1/organizations/{id}/webhooks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewWebhook {
    /// Where deliveries go: an `https` URL whose host resolves to public
    /// addresses only, without credentials or fragment.
    #[schema(max_length = 2048)]
    url: String,
    /// Event types delivered (`organization.member.added`, ...), or `["*"]`
    /// for all.
    #[schema(min_items = 1)]
    event_types: Vec<String>,
    /// Whether deliveries are made; default true.
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// Body of `PATCH /api/v1/organizations/{id}/webhooks/{webhookId}`: each
/// field given replaces the current one.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct WebhookChange {
    #[schema(max_length = 2048)]
    url: Option<String>,
    #[schema(min_items = 1)]
    event_types: Option<Vec<String>>,
    /// Enabling an endpoint the service disabled resumes its pending
    /// deliveries at once.
    enabled: Option<bool>,
}

/// Body of `POST .../webhooks/{webhookId}/rotate-secret`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RotateWebhookSecret {
    /// How long the old secret keeps signing beside the new one, in
    /// seconds (at most 30 days); absent: `ORGMAN_WEBHOOKS_SECRET_OVERLAP_SECONDS`.
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0, maximum = 2_592_000)]
    overlap_seconds: Option<u32>,
}

/// A webhook endpoint, without its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookView {
    id: Uuid,
    organization_id: Uuid,
    url: String,
    event_types: Vec<String>,
    enabled: bool,
    /// Why the service disabled it after a run of failures, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    created_by: Uuid,
    /// `user` or `apiKey`.
    created_by_kind: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "orgman_domain::time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "orgman_domain::time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    /// Until when the previous secret still signs beside the current one.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(
        with = "orgman_domain::time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    previous_secret_expires_at: Option<OffsetDateTime>,
}

impl WebhookView {
    fn new(endpoint: &WebhookEndpoint) -> Self {
        WebhookView {
            id: endpoint.id.as_uuid(),
            organization_id: endpoint.organization.as_uuid(),
            url: endpoint.url.to_string(),
            event_types: endpoint.event_types.names().to_vec(),
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason.clone(),
            created_by: endpoint.created_by.id,
            created_by_kind: endpoint.created_by.kind.as_str().to_owned(),
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
            previous_secret_expires_at: endpoint.previous_secret_until(OffsetDateTime::now_utc()),
        }
    }
}

/// An endpoint with its signing secret: the only time it is shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssuedWebhookView {
    #[serde(flatten)]
    webhook: WebhookView,
    /// The signing secret, `whsec_...` (Standard Webhooks).
    secret: String,
}

fn issued(made: &IssuedWebhook) -> IssuedWebhookView {
    IssuedWebhookView {
        webhook: WebhookView::new(&made.endpoint),
        secret: made.secret.expose().to_owned(),
    }
}

/// A page of webhook endpoints.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookPage {
    items: Vec<WebhookView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<Uuid>,
}

/// One attempt at a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttemptView {
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "orgman_domain::time::serde::rfc3339")]
    at: OffsetDateTime,
    /// The HTTP status the endpoint answered, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    duration_ms: u32,
}

impl AttemptView {
    fn new(attempt: &DeliveryAttempt) -> Self {
        AttemptView {
            at: attempt.at,
            status: attempt.status,
            error: attempt.error.clone(),
            duration_ms: attempt.duration_ms,
        }
    }
}

/// One event's delivery to the endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryView {
    /// Also the `webhook-id` header of every attempt.
    id: Uuid,
    event_id: Uuid,
    event_type: String,
    /// `pending`, `delivered` or `failed`.
    state: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "orgman_domain::time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(
        with = "orgman_domain::time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    next_attempt_at: Option<OffsetDateTime>,
    attempts: Vec<AttemptView>,
}

impl DeliveryView {
    fn new(delivery: &WebhookDelivery) -> Self {
        DeliveryView {
            id: delivery.id.as_uuid(),
            event_id: delivery.event_id.as_uuid(),
            event_type: delivery.event_type.clone(),
            state: delivery.state.as_str().to_owned(),
            created_at: delivery.created_at,
            next_attempt_at: delivery.next_attempt_at,
            attempts: delivery.attempts.iter().map(AttemptView::new).collect(),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryPage {
    items: Vec<DeliveryView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<Uuid>,
}

/// Registers a webhook endpoint (`webhooks:manage`). Answers its signing
/// secret, once.
#[utoipa::path(
    operation_id = "create_webhook",
    tag = "webhooks",
    params(("id" = Uuid, Path)),
    request_body = NewWebhook,
    responses(
        (status = 201, body = IssuedWebhookView, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/webhooks")]
pub(crate) async fn create(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<NewWebhook>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let draft = WebhookDraft {
        url: WebhookUrl::parse(&body.url)?,
        event_types: EventTypes::parse(&body.event_types)?,
        enabled: body.enabled,
    };
    let made = state
        .webhooks
        .create(&auth.actor, OrganizationId::from_uuid(*id), draft)
        .await?;
    let location = format!(
        "/api/v1/organizations/{}/webhooks/{}",
        *id, made.endpoint.id
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued(&made)))
}

/// The organization's webhook endpoints (`webhooks:manage`).
#[utoipa::path(
    operation_id = "list_webhooks",
    tag = "webhooks",
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = WebhookPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/webhooks")]
pub(crate) async fn list(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    query: Query<PageQuery>,
) -> Result<Json<WebhookPage>, ApiError> {
    let request: PageRequest<WebhookId> = page(&query)?;
    let found = state
        .webhooks
        .list(&auth.actor, OrganizationId::from_uuid(*id), request)
        .await?;
    Ok(Json(WebhookPage {
        items: found.items.iter().map(WebhookView::new).collect(),
        next_cursor: found.next.map(|w| w.as_uuid()),
    }))
}

/// One webhook endpoint (`webhooks:manage`).
#[utoipa::path(
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = Uuid, Path), ("webhookId" = Uuid, Path)),
    responses(
        (status = 200, body = WebhookView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/webhooks/{webhookId}")]
pub(crate) async fn get(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<Json<WebhookView>, ApiError> {
    let (org, webhook) = *path;
    let found = state
        .webhooks
        .get(
            &auth.actor,
            OrganizationId::from_uuid(org),
            WebhookId::from_uuid(webhook),
        )
        .await?;
    Ok(Json(WebhookView::new(&found)))
}

/// Changes a webhook endpoint (`webhooks:manage`).
#[utoipa::path(
    operation_id = "update_webhook",
    tag = "webhooks",
    params(("id" = Uuid, Path), ("webhookId" = Uuid, Path)),
    request_body = WebhookChange,
    responses(
        (status = 200, body = WebhookView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/organizations/{id}/webhooks/{webhookId}")]
pub(crate) async fn update(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    body: JsonObject<WebhookChange>,
) -> Result<Json<WebhookView>, ApiError> {
    let (org, webhook) = *path;
    let body = body.into_inner();
    let change = WebhookPatch {
        url: body.url.as_deref().map(WebhookUrl::parse).transpose()?,
        event_types: body
            .event_types
            .as_deref()
            .map(EventTypes::parse)
            .transpose()?,
        enabled: body.enabled,
    };
    let changed = state
        .webhooks
        .update(
            &auth.actor,
            OrganizationId::from_uuid(org),
            WebhookId::from_uuid(webhook),
            change,
        )
        .await?;
    Ok(Json(WebhookView::new(&changed)))
}

/// Deletes a webhook endpoint with its deliveries (`webhooks:manage`).
#[utoipa::path(
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("id" = Uuid, Path), ("webhookId" = Uuid, Path)),
    responses(
        (status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{id}/webhooks/{webhookId}")]
pub(crate) async fn remove(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (org, webhook) = *path;
    state
        .webhooks
        .delete(
            &auth.actor,
            OrganizationId::from_uuid(org),
            WebhookId::from_uuid(webhook),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces the endpoint's signing secret; the old one keeps signing
/// beside the new one for `overlapSeconds` (`webhooks:manage`). Answers the
/// new secret, once.
#[utoipa::path(
    operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    params(("id" = Uuid, Path), ("webhookId" = Uuid, Path)),
    request_body = RotateWebhookSecret,
    responses(
        (status = 200, body = IssuedWebhookView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/webhooks/{webhookId}/rotate-secret")]
pub(crate) async fn rotate_secret(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    body: JsonObject<RotateWebhookSecret>,
) -> Result<HttpResponse, ApiError> {
    let (org, webhook) = *path;
    let overlap = body
        .overlap_seconds
        .map_or(state.config.webhooks.rotation_overlap, |seconds| {
            Duration::seconds(i64::from(seconds))
        });
    let made = state
        .webhooks
        .rotate_secret(
            &auth.actor,
            OrganizationId::from_uuid(org),
            WebhookId::from_uuid(webhook),
            overlap,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued(&made)))
}

/// The endpoint's deliveries, newest first, each with its attempts
/// (`webhooks:manage`).
#[utoipa::path(
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    params(("id" = Uuid, Path), ("webhookId" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = DeliveryPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/webhooks/{webhookId}/deliveries")]
pub(crate) async fn deliveries(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    query: Query<PageQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let (org, webhook) = *path;
    let request: PageRequest<DeliveryId> = page(&query)?;
    let found = state
        .webhooks
        .deliveries(
            &auth.actor,
            OrganizationId::from_uuid(org),
            WebhookId::from_uuid(webhook),
            request,
        )
        .await?;
    Ok(Json(DeliveryPage {
        items: found.items.iter().map(DeliveryView::new).collect(),
        next_cursor: found.next.map(|d| d.as_uuid()),
    }))
}

/// Sends a delivered or failed delivery again, at once, with a new retry
/// period (`webhooks:manage`).
#[utoipa::path(
    operation_id = "retry_webhook_delivery",
    tag = "webhooks",
    params(("id" = Uuid, Path), ("webhookId" = Uuid, Path), ("deliveryId" = Uuid, Path)),
    responses(
        (status = 202, body = DeliveryView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/webhooks/{webhookId}/deliveries/{deliveryId}/retry")]
pub(crate) async fn retry(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (org, webhook, delivery) = *path;
    let retried = state
        .webhooks
        .retry(
            &auth.actor,
            OrganizationId::from_uuid(org),
            WebhookId::from_uuid(webhook),
            DeliveryId::from_uuid(delivery),
        )
        .await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::new(&retried)))
}
