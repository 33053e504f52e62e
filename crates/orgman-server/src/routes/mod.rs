//! The API's routes. Each handler turns its request into domain values,
//! calls one use case, and turns the result into a response.

pub(crate) mod audit;
pub(crate) mod invitations;
pub(crate) mod members;
pub(crate) mod organizations;
pub(crate) mod sso;
pub(crate) mod users;

use actix_web::HttpRequest;
use actix_web::http::header;
use orgman_domain::PageRequest;

use crate::dto::PageQuery;
use crate::problem::ApiError;

/// A strong ETag for an organization version.
pub(crate) fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// The version named by `If-Match` (`None` when absent or `*`).
pub(crate) fn if_match(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::bad_request(
                "invalid-if-match",
                "If-Match must be an ETag returned by this API",
            )
        })
}

pub(crate) fn page<K: From<uuid::Uuid>>(query: &PageQuery) -> PageRequest<K> {
    PageRequest::new(
        query.after.map(K::from),
        query.limit.unwrap_or(PageRequest::<K>::DEFAULT_LIMIT),
    )
}
