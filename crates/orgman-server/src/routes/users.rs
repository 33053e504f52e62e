//! The caller's own user.

use actix_web::get;
use actix_web::web::{Data, Json};

use crate::dto::Me;
use crate::extract::Authenticated;
use crate::problem::{ApiError, Problem};
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
    Ok(Json(Me::new(&user, auth.actor.is_platform_admin())))
}
