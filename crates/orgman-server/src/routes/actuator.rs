//! The actuator endpoints (`/actuator/health`, its liveness and readiness
//! probes, `/actuator/metrics`, `/actuator/info`) and the platform
//! component report.

use actix_web::web::{Data, Json};
use actix_web::{HttpResponse, get};

use crate::config::HealthDetails;
use crate::extract::Authenticated;
use crate::operability::components::ComponentStatus;
use crate::operability::health::{Health, Scope, check};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use orgman_domain::PlatformView;

fn respond(health: &Health) -> HttpResponse {
    let mut response = if health.status == "UP" {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response.json(health)
}

/// Every dependency's state; 503 when a required one is down.
#[get("/actuator/health")]
pub(crate) async fn overall(
    state: Data<AppState>,
    caller: Option<crate::extract::Authenticated>,
) -> HttpResponse {
    let health = check(&state.dependencies, Scope::Every).await;
    state.metrics.record_health(&health);
    let show = match state.config.health_details {
        HealthDetails::Always => true,
        HealthDetails::Never => false,
        HealthDetails::WhenAuthorized => {
            caller.is_some_and(|c| PlatformView::HealthDetails.authorize(&c.actor).is_ok())
        }
    };
    if show {
        respond(&health)
    } else {
        let mut response = if health.status == "UP" {
            HttpResponse::Ok()
        } else {
            HttpResponse::ServiceUnavailable()
        };
        response.json(serde_json::json!({"status": health.status}))
    }
}

/// The process runs (Kubernetes liveness): never depends on other services.
#[get("/actuator/health/liveness")]
pub(crate) async fn liveness() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "UP"}))
}

/// The service can serve (Kubernetes readiness): the required dependencies
/// answer.
#[get("/actuator/health/readiness")]
pub(crate) async fn readiness(state: Data<AppState>) -> HttpResponse {
    let required = check(&state.dependencies, Scope::Required).await;
    state.metrics.record_health(&required);
    respond(&required)
}

/// Prometheus text exposition.
#[get("/actuator/metrics")]
pub(crate) async fn metrics(state: Data<AppState>) -> HttpResponse {
    state.metrics.refresh(&state.dependencies.figures).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.encode())
}

/// Version, git commit and build time.
#[get("/actuator/info")]
pub(crate) async fn info() -> HttpResponse {
    let built: i64 = env!("ORGMAN_BUILD_UNIX_TIME").parse().unwrap_or(0);
    let time = time::OffsetDateTime::from_unix_timestamp(built)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    HttpResponse::Ok().json(serde_json::json!({
        "app": {"name": "orgman", "description": "Organization Manager"},
        "build": {
            "version": env!("CARGO_PKG_VERSION"),
            "commit": env!("ORGMAN_GIT_COMMIT"),
            "time": time,
        }
    }))
}

/// The platform's components and their last seen state (platform
/// administrators).
#[utoipa::path(
    tag = "platform",
    responses((status = 200, body = Vec<ComponentStatus>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/platform/components")]
pub(crate) async fn platform_components(
    auth: Authenticated,
    state: Data<AppState>,
) -> Result<Json<Vec<ComponentStatus>>, ApiError> {
    PlatformView::Components.authorize(&auth.actor)?;
    Ok(Json(state.components.snapshot().await))
}
