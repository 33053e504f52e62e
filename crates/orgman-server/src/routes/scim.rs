//! SCIM 2.0 (RFC 7643, RFC 7644) per organization, at
//! `/scim/v2/organizations/{organizationId}`: discovery, Users and Groups.
//! A directory calls with an organization API key holding
//! `scim:provision`, and acts as a `scimClient` of that key. The protocol
//! (schemas, filters, PATCH dialects) is `orgman_scim`'s; the use cases
//! are `DirectoryService`'s. These routes answer SCIM's own bodies and
//! media type, not problem details, and are described in docs/scim.md
//! rather than in the OpenAPI document.

use std::collections::{BTreeSet, HashMap};

use actix_web::http::{StatusCode, header};
use actix_web::web::{self, Bytes, Data, Query};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use orgman_domain::time::format_description::well_known::Rfc3339;
use orgman_domain::{
    Actor, DirectoryFilter, DirectoryGroup, DirectoryGroupDraft, DirectoryGroupId, DirectoryUser,
    DirectoryUserDraft, DirectoryUserId, Email, KeySecret, OrgError, OrganizationId, Window,
    directory_text,
};
use orgman_scim::document::{self, Document};
use orgman_scim::filter::{CompareOp, Filter};
use orgman_scim::schema::{self, GROUP, USER};
use orgman_scim::{ScimError, ScimType};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::state::AppState;

/// Largest request body, in bytes.
const MAX_BODY: usize = 1024 * 1024;

/// The SCIM routes.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/scim/v2/organizations/{organizationId}")
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .service(
                web::resource("/ServiceProviderConfig")
                    .route(web::get().to(service_provider_config))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/ResourceTypes")
                    .route(web::get().to(resource_types))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/ResourceTypes/{name}")
                    .route(web::get().to(resource_type))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/Schemas")
                    .route(web::get().to(schemas))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/Schemas/{id}")
                    .route(web::get().to(one_schema))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource(["/.search", "/Users/.search", "/Groups/.search", "/Bulk"])
                    .to(not_implemented),
            )
            .service(
                web::resource("/Users")
                    .route(web::get().to(list_users))
                    .route(web::post().to(create_user))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/Users/{id}")
                    .route(web::get().to(get_user))
                    .route(web::put().to(replace_user))
                    .route(web::patch().to(patch_user))
                    .route(web::delete().to(delete_user))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/Groups")
                    .route(web::get().to(list_groups))
                    .route(web::post().to(create_group))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/Groups/{id}")
                    .route(web::get().to(get_group))
                    .route(web::put().to(replace_group))
                    .route(web::patch().to(patch_group))
                    .route(web::delete().to(delete_group))
                    .default_service(web::to(not_allowed)),
            )
            .default_service(web::to(not_found)),
    );
}

/// A SCIM error as an HTTP response.
#[derive(Debug)]
pub(crate) struct Scim(ScimError);

impl std::fmt::Display for Scim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for Scim {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(orgman_scim::MEDIA_TYPE);
        match self.0.status {
            401 => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"orgman-scim\""));
            }
            503 => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.body(self.0.body().to_string())
    }
}

impl From<ScimError> for Scim {
    fn from(error: ScimError) -> Self {
        Scim(error)
    }
}

impl From<OrgError> for Scim {
    fn from(error: OrgError) -> Self {
        let detail = error.to_string();
        let status = |code: u16| ScimError::status(code, detail.clone());
        Scim(match error {
            OrgError::NotFound => ScimError::status(404, "organization not found"),
            OrgError::DirectoryUserNotFound | OrgError::DirectoryGroupNotFound => status(404),
            OrgError::Forbidden { .. } | OrgError::OwnerRequired | OrgError::ReadOnly { .. } => {
                status(403)
            }
            OrgError::DirectoryConflict(_) => ScimError {
                status: 409,
                scim_type: Some(ScimType::Uniqueness),
                detail,
            },
            OrgError::DirectoryInvalid(_) | OrgError::Invalid(_) => {
                ScimError::bad_request(ScimType::InvalidValue, detail)
            }
            OrgError::VersionMismatch { .. } => status(412),
            OrgError::LastOwner | OrgError::MemberLimitReached { .. } => status(409),
            OrgError::ApiKeyRejected { .. } => status(401),
            OrgError::Unavailable(reason) => {
                tracing::warn!(%reason, "dependency unavailable");
                ScimError::status(503, "a dependency is unavailable; retry later")
            }
            other => {
                tracing::error!(error = %other, "SCIM request failed");
                ScimError::status(500, "internal error")
            }
        })
    }
}

type Answer = Result<HttpResponse, Scim>;

async fn not_found() -> Answer {
    Err(ScimError::status(404, "no such SCIM endpoint").into())
}

async fn not_allowed() -> Answer {
    Err(ScimError::status(405, "method not allowed on this endpoint").into())
}

async fn not_implemented() -> Answer {
    Err(ScimError::status(501, "orgman supports neither /.search nor /Bulk").into())
}

/// The organization of the path (a malformed id names none: 404).
fn organization(req: &HttpRequest) -> Result<OrganizationId, Scim> {
    req.match_info()
        .get("organizationId")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ScimError::status(404, "organization not found").into())
}

/// The base URL of the organization's SCIM endpoint, as the client reached it.
fn base(req: &HttpRequest, organization: OrganizationId) -> String {
    let info = req.connection_info();
    format!(
        "{}://{}/scim/v2/organizations/{organization}",
        info.scheme(),
        info.host()
    )
}

/// The directory calling: an API key of the organization, as a SCIM client.
async fn directory(req: &HttpRequest, state: &AppState) -> Result<Actor, Scim> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => "",
    };
    if !KeySecret::looks_like(token) {
        return Err(ScimError::status(
            401,
            "send an organization API key holding scim:provision as a Bearer token",
        )
        .into());
    }
    let grant = crate::extract::key_grant(state, token).await?;
    Ok(crate::extract::in_request(req, Actor::scim_client(grant)))
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(orgman_scim::MEDIA_TYPE)
        .body(body.to_string())
}

async fn service_provider_config(req: HttpRequest) -> Answer {
    let base = base(&req, organization(&req)?);
    Ok(json_response(
        StatusCode::OK,
        &schema::service_provider_config(&base, DOCUMENTATION),
    ))
}

/// Where the SCIM endpoint's documentation is.
const DOCUMENTATION: &str = "https://github.com/orgman/orgman/blob/main/docs/scim.md";

async fn resource_types(req: HttpRequest) -> Answer {
    let base = base(&req, organization(&req)?);
    let types: Vec<Value> = schema::ALL
        .iter()
        .map(|s| s.resource_type_json(&base))
        .collect();
    let total = types.len() as u64;
    Ok(json_response(
        StatusCode::OK,
        &schema::list_response(types, total, 1),
    ))
}

async fn resource_type(req: HttpRequest) -> Answer {
    let base = base(&req, organization(&req)?);
    let name = req.match_info().get("name").unwrap_or_default();
    schema::ALL
        .iter()
        .find(|s| s.name == name)
        .map(|s| json_response(StatusCode::OK, &s.resource_type_json(&base)))
        .ok_or_else(|| ScimError::status(404, "no such resource type").into())
}

async fn schemas(req: HttpRequest) -> Answer {
    let base = base(&req, organization(&req)?);
    let all: Vec<Value> = schema::ALL.iter().map(|s| s.to_json(&base)).collect();
    let total = all.len() as u64;
    Ok(json_response(
        StatusCode::OK,
        &schema::list_response(all, total, 1),
    ))
}

async fn one_schema(req: HttpRequest) -> Answer {
    let base = base(&req, organization(&req)?);
    let id = req.match_info().get("id").unwrap_or_default();
    schema::ALL
        .iter()
        .find(|s| s.id == id)
        .map(|s| json_response(StatusCode::OK, &s.to_json(&base)))
        .ok_or_else(|| ScimError::status(404, "no such schema").into())
}

/// `W/"<version>"`.
fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The version `If-Match` names (`None` when absent or `*`).
fn if_match(req: &HttpRequest) -> Result<Option<u64>, Scim> {
    super::if_match_version(req)
        .map_err(|()| ScimError::status(412, "If-Match names no version of this resource").into())
}

fn timestamp(at: orgman_domain::time::OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// A resource: its schema, id, the document's attributes, and `meta`.
fn resource(
    kind: &str,
    schema_id: &str,
    id: Uuid,
    attributes: &Value,
    extra: Map<String, Value>,
    meta: Meta<'_>,
) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([schema_id]));
    out.insert("id".into(), Value::String(id.to_string()));
    if let Value::Object(fields) = attributes {
        out.extend(fields.clone());
    }
    out.extend(extra);
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind,
            "created": timestamp(meta.created),
            "lastModified": timestamp(meta.modified),
            "location": meta.location,
            "version": etag(meta.version),
        }),
    );
    Value::Object(out)
}

struct Meta<'a> {
    created: orgman_domain::time::OffsetDateTime,
    modified: orgman_domain::time::OffsetDateTime,
    location: &'a str,
    version: u64,
}

fn user_json(base: &str, user: &DirectoryUser) -> Value {
    let location = format!("{base}/Users/{}", user.id);
    let meta = Meta {
        created: user.created_at,
        modified: user.updated_at,
        location: &location,
        version: user.version,
    };
    resource(
        "User",
        USER.id,
        user.id.as_uuid(),
        &user.attributes,
        Map::new(),
        meta,
    )
}

fn group_json(base: &str, group: &DirectoryGroup) -> Value {
    let location = format!("{base}/Groups/{}", group.id);
    let mut extra = Map::new();
    if !group.members.is_empty() {
        let members: Vec<Value> = group
            .members
            .iter()
            .map(|id| json!({"value": id.to_string(), "$ref": format!("{base}/Users/{id}")}))
            .collect();
        extra.insert("members".into(), Value::Array(members));
    }
    let meta = Meta {
        created: group.created_at,
        modified: group.updated_at,
        location: &location,
        version: group.version,
    };
    resource(
        "Group",
        GROUP.id,
        group.id.as_uuid(),
        &group.attributes,
        extra,
        meta,
    )
}

/// A single resource's answer, with its ETag and, if created, Location.
fn one(
    status: StatusCode,
    mut body: Value,
    version: u64,
    query: &HashMap<String, String>,
) -> HttpResponse {
    let location = body["meta"]["location"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    project(&mut body, query);
    let mut response = HttpResponse::build(status);
    response
        .content_type(orgman_scim::MEDIA_TYPE)
        .insert_header((header::ETAG, etag(version)));
    if status == StatusCode::CREATED {
        response.insert_header((header::LOCATION, location));
    }
    response.body(body.to_string())
}

fn project(body: &mut Value, query: &HashMap<String, String>) {
    document::project(
        body,
        query.get("attributes").map(String::as_str),
        query.get("excludedAttributes").map(String::as_str),
    );
}

/// Whether `If-None-Match` names the current version (a 304).
fn unchanged(req: &HttpRequest, version: u64) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag(version) || tag.trim() == format!("\"{version}\""))
        })
}

fn parse_body(body: &Bytes) -> Result<Value, Scim> {
    serde_json::from_slice(body).map_err(|e| {
        ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the body is not JSON: {e}"),
        )
        .into()
    })
}

/// The text of an optional attribute, bounded as the directory's are.
fn bounded(doc: &Document, name: &'static str) -> Result<Option<String>, Scim> {
    document::text(doc, name)
        .map(|text| directory_text(name, text))
        .transpose()
        .map_err(|e| ScimError::bad_request(ScimType::InvalidValue, e.to_string()).into())
}

/// The person's address: the primary one, else the work one, else the first.
fn primary_email(doc: &Document) -> Option<Email> {
    let emails = doc.get("emails")?.as_array()?;
    let pick = emails
        .iter()
        .find(|e| e["primary"] == Value::Bool(true))
        .or_else(|| {
            emails.iter().find(|e| {
                e["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("work"))
            })
        })
        .or_else(|| emails.first())?;
    Email::parse(pick["value"].as_str()?).ok()
}

fn user_draft(doc: Document) -> Result<DirectoryUserDraft, Scim> {
    document::check_required(&doc, &USER)?;
    let name = doc.get("name");
    let from_name = || {
        let part = |k: &str| name.and_then(|n| n[k].as_str()).unwrap_or_default();
        let joined = format!("{} {}", part("givenName"), part("familyName"));
        let formatted = part("formatted");
        [formatted, joined.trim()]
            .into_iter()
            .find(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let display_name = document::text(&doc, "displayName")
        .map(str::to_owned)
        .or_else(from_name)
        .map(|n| {
            n.trim()
                .chars()
                .take(orgman_domain::MAX_DIRECTORY_TEXT)
                .collect()
        });
    Ok(DirectoryUserDraft {
        user_name: document::text(&doc, "userName")
            .unwrap_or_default()
            .to_owned(),
        external_id: bounded(&doc, "externalId")?,
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        email: primary_email(&doc),
        display_name,
        attributes: Value::Object(doc),
    })
}

fn group_draft(mut doc: Document) -> Result<DirectoryGroupDraft, Scim> {
    document::check_required(&doc, &GROUP)?;
    let members = match doc.remove("members") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|member| {
                member["value"]
                    .as_str()
                    .and_then(|v| Uuid::parse_str(v).ok())
                    .map(DirectoryUserId::from_uuid)
                    .ok_or_else(|| {
                        Scim::from(ScimError::bad_request(
                            ScimType::InvalidValue,
                            "a member's `value` is the id of one of the organization's Users",
                        ))
                    })
            })
            .collect::<Result<BTreeSet<_>, _>>()?,
        _ => BTreeSet::new(),
    };
    Ok(DirectoryGroupDraft {
        display_name: document::text(&doc, "displayName")
            .unwrap_or_default()
            .to_owned(),
        external_id: bounded(&doc, "externalId")?,
        members,
        attributes: Value::Object(doc),
    })
}

/// The one indexed lookup a list filter may ask for.
fn list_filter(query: &HashMap<String, String>, users: bool) -> Result<DirectoryFilter, Scim> {
    let Some(text) = query.get("filter").filter(|f| !f.trim().is_empty()) else {
        return Ok(DirectoryFilter::All);
    };
    let unsupported = || {
        Scim::from(ScimError::bad_request(
            ScimType::InvalidFilter,
            "orgman filters on one `eq` of userName, externalId, emails.value (Users) or displayName",
        ))
    };
    let filter = Filter::parse(text)?;
    let (path, value) = match &filter {
        Filter::Compare(path, CompareOp::Eq, Value::String(value)) => (path.clone(), value.clone()),
        Filter::Value(attr, inner) if attr.is("emails") => match &**inner {
            Filter::Compare(path, CompareOp::Eq, Value::String(value)) if path.is("value") => {
                return Ok(DirectoryFilter::Email(value.clone()));
            }
            _ => return Err(unsupported()),
        },
        _ => return Err(unsupported()),
    };
    if path.is("externalId") {
        Ok(DirectoryFilter::ExternalId(value))
    } else if path.is("displayName") {
        Ok(DirectoryFilter::DisplayName(value))
    } else if users && path.is("userName") {
        Ok(DirectoryFilter::UserName(value))
    } else if users && (path.is("emails") || path.is_sub("emails", "value")) {
        Ok(DirectoryFilter::Email(value))
    } else {
        Err(unsupported())
    }
}

/// `startIndex` (1-based) and `count` as a window.
fn window(query: &HashMap<String, String>) -> (u64, Window) {
    let number = |name: &str| query.get(name).and_then(|v| v.trim().parse::<i64>().ok());
    let start = number("startIndex").unwrap_or(1).max(1).unsigned_abs();
    let count = number("count")
        .map_or(schema::MAX_RESULTS, |c| c.max(0).unsigned_abs())
        .min(schema::MAX_RESULTS);
    (
        start,
        Window {
            offset: start - 1,
            count,
        },
    )
}

fn list(
    mut items: Vec<Value>,
    total: u64,
    start: u64,
    query: &HashMap<String, String>,
) -> HttpResponse {
    items.iter_mut().for_each(|item| project(item, query));
    json_response(StatusCode::OK, &schema::list_response(items, total, start))
}

/// The resource id of the path (a malformed one names none: 404).
fn path_id<K: From<Uuid>>(req: &HttpRequest, kind: &str) -> Result<K, Scim> {
    req.match_info()
        .get("id")
        .and_then(|id| Uuid::parse_str(id).ok())
        .map(K::from)
        .ok_or_else(|| ScimError::status(404, format!("{kind} not found")).into())
}

fn user_id(req: &HttpRequest) -> Result<DirectoryUserId, Scim> {
    path_id(req, "User")
}

fn group_id(req: &HttpRequest) -> Result<DirectoryGroupId, Scim> {
    path_id(req, "Group")
}

async fn list_users(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let filter = list_filter(&query, true)?;
    let (start, range) = window(&query);
    let page = state
        .directory
        .users(&actor, organization, &filter, range)
        .await?;
    let base = base(&req, organization);
    let items = page.items.iter().map(|u| user_json(&base, u)).collect();
    Ok(list(items, page.total, start, &query))
}

async fn create_user(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let draft = user_draft(document::normalize(&parse_body(&body)?, &USER)?)?;
    let made = state
        .directory
        .create_user(&actor, organization, draft)
        .await?;
    let base = base(&req, organization);
    Ok(one(
        StatusCode::CREATED,
        user_json(&base, &made),
        made.version,
        &query,
    ))
}

async fn get_user(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let user = state
        .directory
        .user(&actor, organization, user_id(&req)?)
        .await?;
    if unchanged(&req, user.version) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag(user.version)))
            .finish());
    }
    let base = base(&req, organization);
    Ok(one(
        StatusCode::OK,
        user_json(&base, &user),
        user.version,
        &query,
    ))
}

async fn replace_user(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let id = user_id(&req)?;
    let expected = if_match(&req)?;
    let draft = user_draft(document::normalize(&parse_body(&body)?, &USER)?)?;
    let user = state
        .directory
        .replace_user(&actor, organization, id, draft, expected)
        .await?;
    let base = base(&req, organization);
    Ok(one(
        StatusCode::OK,
        user_json(&base, &user),
        user.version,
        &query,
    ))
}

async fn patch_user(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let id = user_id(&req)?;
    let expected = if_match(&req)?;
    let request = parse_body(&body)?;
    // The patch is applied to the person as the unit of work holds them.
    let patched = state
        .directory
        .update_user(&actor, organization, id, expected, |current| {
            let mut doc = match &current.attributes {
                Value::Object(doc) => doc.clone(),
                _ => Document::new(),
            };
            orgman_scim::patch::apply(&mut doc, &request, &USER)?;
            user_draft(doc)
        })
        .await??;
    let base = base(&req, organization);
    Ok(one(
        StatusCode::OK,
        user_json(&base, &patched),
        patched.version,
        &query,
    ))
}

async fn delete_user(req: HttpRequest, state: Data<AppState>) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let expected = if_match(&req)?;
    state
        .directory
        .delete_user(&actor, organization, user_id(&req)?, expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether a group list's answer leaves out members (they are read only
/// when asked for).
fn without_members(query: &HashMap<String, String>) -> bool {
    let named = |key: &str| {
        query.get(key).is_some_and(|list| {
            list.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("members"))
        })
    };
    named("excludedAttributes") || (query.contains_key("attributes") && !named("attributes"))
}

async fn list_groups(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let filter = list_filter(&query, false)?;
    let (start, range) = window(&query);
    let page = state
        .directory
        .groups(
            &actor,
            organization,
            &filter,
            range,
            !without_members(&query),
        )
        .await?;
    let base = base(&req, organization);
    let items = page.items.iter().map(|g| group_json(&base, g)).collect();
    Ok(list(items, page.total, start, &query))
}

async fn create_group(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let draft = group_draft(document::normalize(&parse_body(&body)?, &GROUP)?)?;
    let made = state
        .directory
        .create_group(&actor, organization, draft)
        .await?;
    let base = base(&req, organization);
    Ok(one(
        StatusCode::CREATED,
        group_json(&base, &made),
        made.version,
        &query,
    ))
}

async fn get_group(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let group = state
        .directory
        .group(&actor, organization, group_id(&req)?)
        .await?;
    if unchanged(&req, group.version) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag(group.version)))
            .finish());
    }
    let base = base(&req, organization);
    Ok(one(
        StatusCode::OK,
        group_json(&base, &group),
        group.version,
        &query,
    ))
}

async fn replace_group(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let id = group_id(&req)?;
    let expected = if_match(&req)?;
    let draft = group_draft(document::normalize(&parse_body(&body)?, &GROUP)?)?;
    let group = state
        .directory
        .replace_group(&actor, organization, id, draft, expected)
        .await?;
    let base = base(&req, organization);
    Ok(one(
        StatusCode::OK,
        group_json(&base, &group),
        group.version,
        &query,
    ))
}

async fn patch_group(
    req: HttpRequest,
    state: Data<AppState>,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let id = group_id(&req)?;
    let expected = if_match(&req)?;
    let request = parse_body(&body)?;
    let base = base(&req, organization);
    let patched = state
        .directory
        .update_group(&actor, organization, id, expected, |current| {
            let mut doc = match group_json(&base, current) {
                Value::Object(doc) => doc,
                _ => Document::new(),
            };
            for key in ["schemas", "id", "meta"] {
                doc.remove(key);
            }
            orgman_scim::patch::apply(&mut doc, &request, &GROUP)?;
            group_draft(doc)
        })
        .await??;
    Ok(one(
        StatusCode::OK,
        group_json(&base, &patched),
        patched.version,
        &query,
    ))
}

async fn delete_group(req: HttpRequest, state: Data<AppState>) -> Answer {
    let organization = organization(&req)?;
    let actor = directory(&req, &state).await?;
    let expected = if_match(&req)?;
    state
        .directory
        .delete_group(&actor, organization, group_id(&req)?, expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
