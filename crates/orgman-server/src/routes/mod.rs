//! The API's routes. Each handler turns its request into domain values,
//! calls one use case, and turns the result into a response.

pub(crate) mod actuator;
pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod authz;
pub(crate) mod directory;
pub(crate) mod domains;
pub(crate) mod invitations;
pub(crate) mod members;
pub(crate) mod organizations;
pub(crate) mod roles;
pub(crate) mod scim;
pub(crate) mod sso;
pub(crate) mod users;
pub(crate) mod webhooks;

use actix_web::HttpRequest;
use actix_web::http::header;
use orgman_domain::PageRequest;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::dto::PageQuery;
use crate::problem::{ApiError, ProblemCode};

/// A strong ETag for an organization version.
pub(crate) fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// The version named by `If-Match` (`None` when absent or `*`; `Err` when
/// it names none), weak or strong.
pub(crate) fn if_match_version(req: &HttpRequest) -> Result<Option<u64>, ()> {
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
        .map_err(drop)
}

/// The version named by `If-Match` (`None` when absent or `*`).
pub(crate) fn if_match(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    if_match_version(req).map_err(|()| {
        ApiError::bad_request(
            ProblemCode::InvalidIfMatch,
            "If-Match must be an ETag returned by this API",
        )
    })
}

/// The page a query asks for; a `limit` outside 1-500 is refused (400
/// `invalid-query-parameter`), not silently clamped.
pub(crate) fn page<K: From<uuid::Uuid>>(query: &PageQuery) -> Result<PageRequest<K>, ApiError> {
    page_of(query.after.map(K::from), query.limit)
}

/// A page starting after `after` of `limit` items (default 50, 1-500).
pub(crate) fn page_of<K>(after: Option<K>, limit: Option<u32>) -> Result<PageRequest<K>, ApiError> {
    let limit = limit.unwrap_or(PageRequest::<K>::DEFAULT_LIMIT);
    if !(1..=PageRequest::<K>::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            ProblemCode::InvalidQueryParameter,
            format!("limit must be 1-{}", PageRequest::<K>::MAX_LIMIT),
        ));
    }
    Ok(PageRequest::new(after, limit))
}

/// Every API route, once: `$config` is actix's or utoipa's service
/// configuration, which both register a service the same way.
macro_rules! every_route {
    ($config:expr) => {
        // The check API first: the platform's services call it the most,
        // its path is static, and actix tries routes in this order (each
        // dynamic one before it costs a regex match).
        $config
            .service(authz::check)
            .service(organizations::list_organizations)
            .service(organizations::create_organization)
            .service(organizations::my_organizations)
            .service(organizations::current_organization)
            .service(organizations::get_organization)
            .service(organizations::update_organization)
            .service(organizations::set_member_limit)
            .service(organizations::suspend)
            .service(organizations::reactivate)
            .service(organizations::request_deletion)
            .service(organizations::restore)
            .service(organizations::purge)
            .service(api_keys::create)
            .service(api_keys::list)
            .service(api_keys::get)
            .service(api_keys::revoke)
            .service(api_keys::rotate)
            .service(webhooks::create)
            .service(webhooks::list)
            .service(webhooks::get)
            .service(webhooks::update)
            .service(webhooks::remove)
            .service(webhooks::rotate_secret)
            .service(webhooks::deliveries)
            .service(webhooks::retry)
            .service(directory::get_group_roles)
            .service(directory::set_group_roles)
            .service(invitations::invite)
            .service(invitations::list)
            .service(invitations::revoke)
            .service(invitations::resend)
            .service(invitations::accept)
            .service(domains::claim)
            .service(domains::list)
            .service(domains::verify)
            .service(domains::set_policy)
            .service(domains::remove)
            .service(audit::organization_events)
            .service(audit::all_events)
            .service(members::list_members)
            .service(members::export_members)
            .service(members::add_member)
            .service(members::import_members)
            .service(members::change_role)
            .service(members::remove_member)
            .service(roles::set_member_roles)
            .service(roles::member_permissions)
            .service(roles::list_permissions)
            .service(roles::register_permission)
            .service(roles::delete_permission)
            .service(roles::list_roles)
            .service(roles::create_role)
            .service(roles::get_role)
            .service(roles::update_role)
            .service(roles::delete_role)
            .service(roles::platform::list_platform_roles)
            .service(roles::platform::create_platform_role)
            .service(roles::platform::get_platform_role)
            .service(roles::platform::update_platform_role)
            .service(roles::platform::delete_platform_role)
            .service(users::me)
            .service(users::export_me)
            .service(users::erase_me)
            .service(users::erase_user)
            .service(users::register)
            .service(sso::list_org)
            .service(sso::create_org)
            .service(sso::get_org)
            .service(sso::update_org)
            .service(sso::delete_org)
            .service(sso::test_org)
            .service(sso::list_installation)
            .service(sso::create_installation)
            .service(sso::get_installation)
            .service(sso::update_installation)
            .service(sso::delete_installation)
            .service(sso::test_installation)
            .service(sso::discover)
            .service(sso::saml_metadata)
            .service(actuator::platform_components)
    };
}

/// Every API route, documented for OpenAPI as it is registered (run once,
/// to build the document).
pub(crate) fn configure(config: &mut ServiceConfig<'_>) {
    every_route!(config);
}

/// Every API route, without documentation (each HTTP worker's routes: the
/// document is built once and shared).
pub(crate) fn configure_serving(config: &mut actix_web::web::ServiceConfig) {
    every_route!(config);
}
