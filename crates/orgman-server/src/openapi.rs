//! The OpenAPI document: assembled from the routes' annotations
//! ([`openapi_document`]), checked in as `openapi.json` and served as it is
//! ([`OPENAPI_DOCUMENT`] at [`OPENAPI_PATH`]).

use actix_web::App;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orgman",
        description = "Organization Manager: organizations (tenants), their lifecycle, members and roles.\n\nErrors are `application/problem+json` with a stable `code`. Lists are keyset-paginated: pass a page's `nextCursor` as `after`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::problem::Problem, crate::problem::FieldError))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from the identity provider (Keycloak or any OIDC provider)"))
                    .build(),
            ),
        );
    }
}

/// Where the OpenAPI document is served.
pub(crate) const OPENAPI_PATH: &str = "/api-docs/openapi.json";

/// The OpenAPI document as served: generated from the routes' annotations
/// by [`openapi_document`] and checked in (`crates/orgman-server/openapi.json`;
/// a test fails when it is stale), so that no process spends megabytes
/// composing it at start-up and reviewers see every change to the contract.
pub(crate) const OPENAPI_DOCUMENT: &[u8] = include_bytes!("../openapi.json");

/// The OpenAPI document from the routes' annotations, as pretty JSON: the
/// routes document themselves while registering on an app that is then
/// dropped.
pub fn openapi_document() -> String {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    document_errors(&mut api);
    let mut document = serde_json::to_value(&api).unwrap_or_default();
    headers_are_never_null(&mut document);
    name_the_access_of_each_operation(&mut document);
    link_created_resources(&mut document);
    let mut json = serde_json::to_string_pretty(&document).unwrap_or_default();
    json.push('\n');
    json
}

/// The operations of a document's `paths`, with their path templates.
fn operations(document: &mut Value) -> impl Iterator<Item = (&String, &mut Value)> {
    document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.iter_mut())
        .flat_map(|(path, item)| {
            item.as_object_mut()
                .into_iter()
                .flat_map(|methods| methods.values_mut())
                .map(move |operation| (path, operation))
        })
}

/// What each operation checks: a catalog permission in the path's
/// organization (`x-orgman-permission`), or who may call it when no
/// organization's permission decides (`x-orgman-caller`). Every operation
/// is in exactly one of the lists (a test says so).
const OPERATION_PERMISSIONS: &[(&str, &str)] = &[
    ("current_organization", "organization:read"),
    ("get_organization", "organization:read"),
    ("list_roles", "organization:read"),
    ("get_role", "organization:read"),
    ("update_organization", "organization:update"),
    ("request_deletion", "organization:delete"),
    ("restore", "organization:delete"),
    ("list_members", "members:read"),
    ("export_members", "members:read"),
    ("member_permissions", "members:read"),
    ("add_member", "members:manage"),
    ("import_members", "members:manage"),
    ("change_role", "members:manage"),
    ("remove_member", "members:manage"),
    ("set_member_roles", "members:manage"),
    ("list_invitations", "invitations:manage"),
    ("invite_member", "invitations:manage"),
    ("revoke_invitation", "invitations:manage"),
    ("resend_invitation", "invitations:manage"),
    ("list_domains", "domains:manage"),
    ("claim_domain", "domains:manage"),
    ("verify_domain", "domains:manage"),
    ("set_domain_policy", "domains:manage"),
    ("remove_domain", "domains:manage"),
    ("list_organization_sso_configs", "sso:manage"),
    ("create_organization_sso_config", "sso:manage"),
    ("get_organization_sso_config", "sso:manage"),
    ("update_organization_sso_config", "sso:manage"),
    ("delete_organization_sso_config", "sso:manage"),
    ("test_organization_sso_config", "sso:manage"),
    ("create_role", "roles:manage"),
    ("update_role", "roles:manage"),
    ("delete_role", "roles:manage"),
    ("organization_events", "audit:read"),
    ("create_api_key", "api-keys:manage"),
    ("list_api_keys", "api-keys:manage"),
    ("get_api_key", "api-keys:manage"),
    ("revoke_api_key", "api-keys:manage"),
    ("rotate_api_key", "api-keys:manage"),
    ("create_webhook", "webhooks:manage"),
    ("list_webhooks", "webhooks:manage"),
    ("get_webhook", "webhooks:manage"),
    ("update_webhook", "webhooks:manage"),
    ("delete_webhook", "webhooks:manage"),
    ("rotate_webhook_secret", "webhooks:manage"),
    ("list_webhook_deliveries", "webhooks:manage"),
    ("retry_webhook_delivery", "webhooks:manage"),
    ("get_directory_group_roles", "members:read"),
    ("set_directory_group_roles", "members:manage"),
    // `members:manage` in the organization named, else platform
    // administrators.
    ("register", "members:manage"),
];

/// Who may call the operations no organization's permission decides.
const OPERATION_CALLERS: &[(&str, &str)] = &[
    ("discover_home_realm", "anyone"),
    ("get_saml_service_provider_metadata", "anyone"),
    ("me", "signed-in"),
    ("erase_me", "signed-in"),
    ("export_me", "signed-in"),
    ("erase_user", "platform-admin"),
    ("my_organizations", "signed-in"),
    ("accept_invitation", "signed-in"),
    ("list_permissions", "signed-in"),
    ("check_permissions", "signed-in"),
    (
        "create_organization",
        "platform-admin (any signed-in user when ORGMAN_ORGANIZATION_CREATION allows)",
    ),
    ("list_organizations", "platform-admin"),
    ("all_events", "platform-admin"),
    ("set_member_limit", "platform-admin"),
    ("suspend", "platform-admin"),
    ("reactivate", "platform-admin"),
    ("purge", "platform-admin"),
    ("register_permission", "platform-admin"),
    ("list_platform_roles", "signed-in"),
    ("get_platform_role", "signed-in"),
    ("create_platform_role", "platform-admin"),
    ("update_platform_role", "platform-admin"),
    ("delete_platform_role", "platform-admin"),
    ("delete_permission", "platform-admin"),
    ("platform_components", "platform-admin"),
    ("list_installation_sso_configs", "platform-admin"),
    ("create_installation_sso_config", "platform-admin"),
    ("get_installation_sso_config", "platform-admin"),
    ("update_installation_sso_config", "platform-admin"),
    ("delete_installation_sso_config", "platform-admin"),
    ("test_installation_sso_config", "platform-admin"),
];

/// Marks each operation with what it checks, from
/// [`OPERATION_PERMISSIONS`] and [`OPERATION_CALLERS`].
fn name_the_access_of_each_operation(document: &mut Value) {
    for (_, operation) in operations(document) {
        let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
            continue;
        };
        let find = |table: &[(&str, &'static str)]| {
            table.iter().find(|(op, _)| *op == id).map(|(_, v)| *v)
        };
        if let Some(permission) = find(OPERATION_PERMISSIONS) {
            operation["x-orgman-permission"] = Value::from(permission);
        } else if let Some(caller) = find(OPERATION_CALLERS) {
            operation["x-orgman-caller"] = Value::from(caller);
        }
    }
}

/// An optional header is absent or a string, never `null` (the annotations'
/// `Option<String>` says nullable, which would have clients send `null`).
fn headers_are_never_null(document: &mut Value) {
    for (_, operation) in operations(document) {
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            if parameter.get("in").and_then(Value::as_str) != Some("header") {
                continue;
            }
            let Some(schema) = parameter.get_mut("schema") else {
                continue;
            };
            let types: Vec<Value> = match schema.get("type").and_then(Value::as_array) {
                Some(types) => types.iter().filter(|t| *t != "null").cloned().collect(),
                None => continue,
            };
            if let [only] = types.as_slice() {
                schema["type"] = only.clone();
            }
        }
    }
}

/// The property names of the schema `reference` names, its `allOf` parts
/// included.
fn fields_of(schemas: &Value, reference: &str) -> std::collections::BTreeSet<String> {
    let name = reference.rsplit('/').next().unwrap_or_default();
    let schema = &schemas[name];
    let mut fields: std::collections::BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        match part["$ref"].as_str() {
            Some(reference) => fields.extend(fields_of(schemas, reference)),
            None => fields.extend(
                part["properties"]
                    .as_object()
                    .into_iter()
                    .flat_map(|p| p.keys().cloned()),
            ),
        }
    }
    fields
}

/// OpenAPI links from every create (`POST` answering 201) to the operations
/// on what it created (`{path}/{param}...`), so that clients and stateful
/// tests can follow them: the new path parameter comes from the created
/// resource (its field of that name, else its `id`), the others from the
/// create's own path.
fn link_created_resources(document: &mut Value) {
    let mut targets: Vec<(String, String)> = Vec::new();
    for (path, operation) in operations(document) {
        if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
            targets.push((path.clone(), id.to_owned()));
        }
    }
    let schemas = document["components"]["schemas"].clone();
    for (path, operation) in operations(document) {
        let Some(created) = operation
            .pointer_mut("/responses/201")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let fields = created
            .get("content")
            .and_then(|c| c.pointer("/application~1json/schema/$ref"))
            .and_then(Value::as_str)
            .map(|r| fields_of(&schemas, r));
        let Some(fields) = fields else { continue };
        let mut links = serde_json::Map::new();
        for (target, operation_id) in &targets {
            let Some(rest) = target.strip_prefix(path.as_str()) else {
                continue;
            };
            let Some(param) = rest.strip_prefix("/{").and_then(|r| r.split('}').next()) else {
                continue;
            };
            // Every other parameter must come from the create's own path.
            let known = |name: &str| path.contains(&format!("{{{name}}}"));
            let others_known = target
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .all(|name| name == param || known(name));
            if !others_known {
                continue;
            }
            let field = if fields.contains(param) { param } else { "id" };
            if !fields.contains(field) {
                continue;
            }
            let mut parameters = serde_json::Map::new();
            for segment in target.split('/') {
                let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                    continue;
                };
                let value = if name == param {
                    format!("$response.body#/{field}")
                } else {
                    format!("$request.path.{name}")
                };
                parameters.insert(format!("path.{name}"), value.into());
            }
            links.insert(
                operation_id.clone(),
                serde_json::json!({ "operationId": operation_id, "parameters": parameters }),
            );
        }
        if !links.is_empty() {
            created.insert("links".to_owned(), Value::Object(links));
        }
    }
}

/// Makes the document say what error answers really are: every error is
/// `application/problem+json`; an operation with a path parameter can
/// answer 400 (a malformed id), one with a body 400, 413 and 415, a secured
/// one 401, and every API operation 503 (a dependency down). Applied to the document the routes built.
fn document_errors(api: &mut utoipa::openapi::OpenApi) {
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            errors_as_problems(operation);
            add_common_errors(operation);
        }
    }
}

/// The media type of every error answer.
const PROBLEM_JSON: &str = "application/problem+json";

/// A documented error answer: a problem with this description.
fn problem(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{Content, Ref, RefOr, Response};
    let mut response = Response::new(description);
    response.content.insert(
        PROBLEM_JSON.to_owned(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
    );
    RefOr::T(response)
}

/// Error answers an annotation gives as `application/json` are problems.
fn errors_as_problems(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::RefOr;
    for (status, response) in &mut operation.responses.responses {
        let is_error = status.parse::<u16>().is_ok_and(|code| code >= 400);
        let (true, RefOr::T(response)) = (is_error, response) else {
            continue;
        };
        if let Some(content) = response.content.shift_remove("application/json") {
            response.content.insert(PROBLEM_JSON.to_owned(), content);
        }
    }
}

/// The errors any operation of its kind can answer, where its annotation
/// does not list them: a body's (400, 413, 415), a path parameter's (400),
/// a missing token's (401), and a dependency's (503).
fn add_common_errors(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::path::ParameterIn;
    let has_path_parameter = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path)));
    // `security(())` (an empty requirement) marks an operation anyone may
    // call.
    let authenticated = operation.security.as_ref().is_some_and(|requirements| {
        requirements
            .iter()
            .any(|r| *r != utoipa::openapi::security::SecurityRequirement::default())
    });
    let mut common = Vec::new();
    if operation.request_body.is_some() {
        common.extend([
            ("400", "a malformed body"),
            ("413", "a body over the size limit"),
            ("415", "a body of another media type"),
        ]);
    }
    if has_path_parameter {
        common.push(("400", "a malformed path parameter"));
    }
    if authenticated {
        common.push(("401", "no valid token"));
    }
    common.push(("503", "a dependency is unavailable"));
    let responses = &mut operation.responses.responses;
    for (status, description) in common {
        responses
            .entry(status.into())
            .or_insert_with(|| problem(description));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_names_one_permission_of_the_catalog_or_its_callers() {
        let document: Value = serde_json::from_str(&openapi_document()).unwrap();
        let catalog: Vec<&str> = orgman_domain::Permission::GRANTABLE
            .iter()
            .map(|p| p.name())
            .collect();
        let mut seen = 0;
        for (path, operation) in operations(&mut document.clone()) {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            let permission = operation.get("x-orgman-permission").and_then(Value::as_str);
            let caller = operation.get("x-orgman-caller").and_then(Value::as_str);
            match (permission, caller) {
                (Some(permission), None) => {
                    assert!(catalog.contains(&permission), "{id}: {permission}");
                    assert!(
                        path.contains("{id}") || id == "current_organization" || id == "register",
                        "{id} names a permission but no organization"
                    );
                }
                (None, Some(_)) => {}
                other => panic!("{id} ({path}): {other:?}"),
            }
            seen += 1;
        }
        assert_eq!(
            seen,
            OPERATION_PERMISSIONS.len() + OPERATION_CALLERS.len(),
            "an entry names no operation"
        );
    }

    /// Regenerate with `ORGMAN_BLESS=1 cargo test -p orgman-server --lib openapi`.
    #[test]
    fn the_checked_in_openapi_document_is_current() {
        let current = openapi_document();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        if std::env::var_os("ORGMAN_BLESS").is_some() {
            std::fs::write(path, &current).unwrap();
            return;
        }
        assert!(
            current.as_bytes() == OPENAPI_DOCUMENT,
            "crates/orgman-server/openapi.json is stale: the routes' annotations changed. \
             Regenerate it with `ORGMAN_BLESS=1 cargo test -p orgman-server --lib openapi` \
             and review the difference."
        );
    }

    #[test]
    fn operations_have_unique_ids_and_creates_link_to_what_they_created() {
        let document: Value = serde_json::from_slice(OPENAPI_DOCUMENT).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id), "operationId {id} twice");
            }
        }
        let created =
            |path: &str| document["paths"][path]["post"]["responses"]["201"]["links"].clone();
        let organization = created("/api/v1/organizations");
        assert_eq!(
            organization["get_organization"]["parameters"],
            serde_json::json!({"path.id": "$response.body#/id"})
        );
        // Deeper paths need parameters the create does not know.
        assert!(organization.get("remove_member").is_none());
        let member = created("/api/v1/organizations/{id}/members");
        assert_eq!(
            member["remove_member"]["parameters"],
            serde_json::json!({
                "path.id": "$request.path.id",
                "path.userId": "$response.body#/userId",
            })
        );
        let domain = created("/api/v1/organizations/{id}/domains");
        assert_eq!(
            domain["verify_domain"]["parameters"]["path.domain"],
            "$response.body#/domain"
        );
        let invitation = created("/api/v1/organizations/{id}/invitations");
        assert_eq!(
            invitation["revoke_invitation"]["parameters"]["path.invitationId"],
            "$response.body#/id"
        );
        // Optional headers are absent or strings, never null.
        let if_match = &document["paths"]["/api/v1/organizations/{id}"]["patch"]["parameters"][1];
        assert_eq!(if_match["name"], "If-Match");
        assert_eq!(if_match["schema"]["type"], "string");
    }
}
