//! The check API: the platform's services ask whether a user holds a
//! permission in an organization.

use actix_web::post;
use actix_web::web::{Data, Json};
use orgman_domain::{OrganizationId, PermissionCheck, PermissionName, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, FieldError, Problem};
use crate::state::AppState;

/// Most checks in one request.
const MAX_CHECKS: usize = 100;

/// One check of `POST /api/v1/authz/check`. Its values are read one by
/// one: a value that is not what it should be fails this check alone, with
/// its reason, not the request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CheckEntry {
    /// The organization's id (a UUID; `invalid-organization-id` if not).
    #[schema(value_type = String)]
    organization_id: Text<Uuid>,
    /// A permission name, `resource:action` (`invalid-permission` if not).
    #[schema(value_type = String)]
    permission: Text<PermissionName>,
    /// Whom to ask about (a UUID; `invalid-user-id` if not); the caller
    /// when absent. Asking about others needs the realm role
    /// `orgman-authz-check` (or platform administration).
    #[schema(value_type = Option<String>)]
    user_id: Option<Text<Uuid>>,
}

/// A string value read into `T` as the body is parsed, without keeping
/// the text: `None` when it does not parse (a value that is not a string
/// fails the request, as any malformed body).
#[derive(Debug)]
pub(crate) struct Text<T>(Option<T>);

/// What a [`Text`] holds.
trait FromText: Sized {
    fn from_text(text: &str) -> Option<Self>;
}

impl FromText for Uuid {
    fn from_text(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok()
    }
}

impl FromText for PermissionName {
    fn from_text(text: &str) -> Option<Self> {
        PermissionName::parse(text).ok()
    }
}

impl<'de, T: FromText> Deserialize<'de> for Text<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);

        impl<T: FromText> serde::de::Visitor<'_> for Visitor<T> {
            type Value = Text<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Text<T>, E> {
                Ok(Text(T::from_text(text)))
            }
        }

        deserializer.deserialize_str(Visitor(std::marker::PhantomData))
    }
}

/// Body of `POST /api/v1/authz/check`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckRequest {
    /// 1-100 checks, answered in the same order.
    #[schema(min_items = 1, max_items = 100)]
    checks: Vec<CheckEntry>,
}

/// One answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckResult {
    /// Whether the user holds the permission there.
    allowed: bool,
    /// Why not: `not-a-member`, `not-held`, `unknown-permission`,
    /// `not-permitted-to-ask`, or `invalid-organization-id`,
    /// `invalid-permission`, `invalid-user-id` for a malformed entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// Answers of `POST /api/v1/authz/check`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckResponse {
    /// In the order of the checks.
    results: Vec<CheckResult>,
}

/// An entry read, or why it cannot be.
fn entry(entry: CheckEntry) -> Result<PermissionCheck, &'static str> {
    let organization = entry.organization_id.0.ok_or("invalid-organization-id")?;
    let permission = entry.permission.0.ok_or("invalid-permission")?;
    let user = match entry.user_id {
        Some(Text(None)) => return Err("invalid-user-id"),
        Some(Text(Some(user))) => Some(UserId::from_uuid(user)),
        None => None,
    };
    Ok(PermissionCheck {
        organization: OrganizationId::from_uuid(organization),
        permission,
        user,
    })
}

/// Whether users hold permissions in organizations: up to 100 checks,
/// answered in order. Without `userId` a check asks about the caller; with
/// it, the caller needs the realm role `orgman-authz-check`.
#[utoipa::path(
    operation_id = "check_permissions",
    tag = "authz",
    request_body = CheckRequest,
    responses(
        (status = 200, body = CheckResponse), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/authz/check")]
pub(crate) async fn check(
    auth: Authenticated,
    state: Data<AppState>,
    body: JsonObject<CheckRequest>,
) -> Result<Json<CheckResponse>, ApiError> {
    if body.checks.is_empty() || body.checks.len() > MAX_CHECKS {
        return Err(ApiError::validation(vec![FieldError {
            field: "checks".into(),
            message: format!("1-{MAX_CHECKS} checks"),
        }]));
    }
    // The valid checks go to the domain; each malformed one keeps its
    // place with its reason.
    let mut valid = Vec::with_capacity(body.checks.len());
    let reasons: Vec<Option<&'static str>> = body
        .into_inner()
        .checks
        .into_iter()
        .map(|checked| match entry(checked) {
            Ok(check) => {
                valid.push(check);
                None
            }
            Err(reason) => Some(reason),
        })
        .collect();
    let mut answers = state
        .roles
        .check(&auth.actor, auth.check_scope, &valid)
        .await?
        .into_iter();
    let results = reasons
        .into_iter()
        .map(|malformed| match malformed {
            Some(reason) => CheckResult {
                allowed: false,
                reason: Some(reason),
            },
            None => match answers.next() {
                Some(Ok(())) => CheckResult {
                    allowed: true,
                    reason: None,
                },
                Some(Err(denial)) => CheckResult {
                    allowed: false,
                    reason: Some(denial.as_str()),
                },
                None => CheckResult {
                    allowed: false,
                    reason: Some("not-held"),
                },
            },
        })
        .collect();
    Ok(Json(CheckResponse { results }))
}
