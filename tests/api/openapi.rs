//! The OpenAPI document covers every route, and every documented path is
//! served.

use std::collections::BTreeSet;

use reqwest::Method;

use crate::helpers::{TestApp, body};

/// Every route of the API. A route added without documentation (or
/// documentation without a route) fails this test.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/organizations"),
    ("post", "/api/v1/organizations"),
    ("get", "/api/v1/organizations/mine"),
    ("get", "/api/v1/organizations/current"),
    ("get", "/api/v1/organizations/{id}"),
    ("patch", "/api/v1/organizations/{id}"),
    ("put", "/api/v1/organizations/{id}/member-limit"),
    ("get", "/api/v1/organizations/{id}/audit-events"),
    ("get", "/api/v1/organizations/{id}/api-keys"),
    ("get", "/api/v1/organizations/{id}/api-keys/{keyId}"),
    ("post", "/api/v1/organizations/{id}/api-keys"),
    ("post", "/api/v1/organizations/{id}/api-keys/{keyId}/rotate"),
    ("post", "/api/v1/organizations/{id}/webhooks"),
    ("get", "/api/v1/organizations/{id}/webhooks"),
    ("get", "/api/v1/organizations/{id}/webhooks/{webhookId}"),
    ("patch", "/api/v1/organizations/{id}/webhooks/{webhookId}"),
    ("delete", "/api/v1/organizations/{id}/webhooks/{webhookId}"),
    (
        "post",
        "/api/v1/organizations/{id}/webhooks/{webhookId}/rotate-secret",
    ),
    (
        "get",
        "/api/v1/organizations/{id}/webhooks/{webhookId}/deliveries",
    ),
    (
        "post",
        "/api/v1/organizations/{id}/webhooks/{webhookId}/deliveries/{deliveryId}/retry",
    ),
    ("delete", "/api/v1/organizations/{id}/api-keys/{keyId}"),
    ("get", "/api/v1/audit-events"),
    ("post", "/api/v1/organizations/{id}/invitations"),
    ("get", "/api/v1/organizations/{id}/invitations"),
    (
        "delete",
        "/api/v1/organizations/{id}/invitations/{invitationId}",
    ),
    (
        "post",
        "/api/v1/organizations/{id}/invitations/{invitationId}/resend",
    ),
    ("post", "/api/v1/invitations/accept"),
    ("post", "/api/v1/organizations/{id}/domains"),
    ("get", "/api/v1/organizations/{id}/domains"),
    ("post", "/api/v1/organizations/{id}/domains/{domain}/verify"),
    ("patch", "/api/v1/organizations/{id}/domains/{domain}"),
    ("delete", "/api/v1/organizations/{id}/domains/{domain}"),
    ("post", "/api/v1/organizations/{id}/suspend"),
    ("post", "/api/v1/organizations/{id}/reactivate"),
    ("post", "/api/v1/organizations/{id}/request-deletion"),
    ("post", "/api/v1/organizations/{id}/restore"),
    ("post", "/api/v1/organizations/{id}/purge"),
    ("get", "/api/v1/organizations/{id}/members"),
    ("get", "/api/v1/organizations/{id}/members/export"),
    ("post", "/api/v1/organizations/{id}/members"),
    ("post", "/api/v1/organizations/{id}/members/import"),
    ("patch", "/api/v1/organizations/{id}/members/{userId}"),
    ("delete", "/api/v1/organizations/{id}/members/{userId}"),
    ("get", "/api/v1/users/me"),
    ("delete", "/api/v1/users/me"),
    ("get", "/api/v1/users/me/export"),
    ("delete", "/api/v1/users/{userId}"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/platform/components"),
    ("get", "/api/v1/organizations/{id}/sso-configs"),
    ("post", "/api/v1/organizations/{id}/sso-configs"),
    ("get", "/api/v1/organizations/{id}/sso-configs/{configId}"),
    ("patch", "/api/v1/organizations/{id}/sso-configs/{configId}"),
    (
        "delete",
        "/api/v1/organizations/{id}/sso-configs/{configId}",
    ),
    (
        "post",
        "/api/v1/organizations/{id}/sso-configs/{configId}/test",
    ),
    ("get", "/api/v1/sso-configs"),
    ("post", "/api/v1/sso-configs"),
    ("get", "/api/v1/sso-configs/{configId}"),
    ("patch", "/api/v1/sso-configs/{configId}"),
    ("delete", "/api/v1/sso-configs/{configId}"),
    ("post", "/api/v1/sso-configs/{configId}/test"),
    ("get", "/api/v1/permissions"),
    ("put", "/api/v1/permissions/{name}"),
    ("delete", "/api/v1/permissions/{name}"),
    ("get", "/api/v1/organizations/{id}/roles"),
    ("post", "/api/v1/organizations/{id}/roles"),
    ("get", "/api/v1/organizations/{id}/roles/{roleKey}"),
    ("patch", "/api/v1/organizations/{id}/roles/{roleKey}"),
    ("delete", "/api/v1/organizations/{id}/roles/{roleKey}"),
    ("put", "/api/v1/organizations/{id}/members/{userId}/roles"),
    ("get", "/api/v1/roles"),
    ("post", "/api/v1/roles"),
    ("get", "/api/v1/roles/{roleKey}"),
    ("patch", "/api/v1/roles/{roleKey}"),
    ("delete", "/api/v1/roles/{roleKey}"),
    (
        "get",
        "/api/v1/organizations/{id}/members/{userId}/permissions",
    ),
    ("post", "/api/v1/authz/check"),
    ("get", "/api/v1/organizations/{id}/directory/group-roles"),
    ("put", "/api/v1/organizations/{id}/directory/group-roles"),
];

/// Routes anyone may call (no token): documented with an empty security
/// requirement.
const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/sso/discover"),
    ("get", "/api/v1/sso/saml/{configId}/metadata"),
];

#[tokio::test]
async fn the_document_lists_exactly_the_routes_and_each_is_served() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::GET, "/api-docs/openapi.json", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc = body(response).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .chain(PUBLIC_ROUTES)
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);
    for (method, path) in PUBLIC_ROUTES {
        assert_eq!(
            doc["paths"][path][method]["security"],
            serde_json::json!([{}]),
            "{method} {path} needs no token"
        );
        // Routed: without its parameter (or with one that is no id) it
        // answers 400, not 401 or 404.
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app.request(method, path, None).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
    }

    // Each documented route is really routed: without a token it answers the
    // authentication problem, never `route-not-found`.
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{id}", "00000000-0000-0000-0000-00000000d3fa")
            .replace("{userId}", "0a000000-0000-4000-8000-000000000001")
            .replace("{configId}", "0c000000-0000-4000-8000-000000000001");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app
            .request(method.clone(), &concrete, None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {concrete}");
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::GET, "/swagger-ui/", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    // The UI loads the document the service serves.
    let initializer = app
        .request(Method::GET, "/swagger-ui/swagger-initializer.js", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains("/api-docs/openapi.json"),
        "{initializer}"
    );
    let document = app
        .request(Method::GET, "/api-docs/openapi.json", None)
        .send()
        .await
        .unwrap();
    assert_eq!(document.headers()["content-type"], "application/json");
    assert_eq!(body(document).await["info"]["title"], "orgman");
}

#[tokio::test]
async fn every_error_answer_is_documented_as_problem_json() {
    let app = TestApp::spawn().await;
    let doc = body(
        app.request(Method::GET, "/api-docs/openapi.json", None)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.parse::<u16>().unwrap() < 400 {
                    continue;
                }
                let content = response["content"].as_object().unwrap();
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
                checked += 1;
            }
            let has = |status: &str| responses.contains_key(status);
            assert!(has("503"), "{method} {path} lacks 503");
            // An operation anyone may call has one empty requirement.
            let authenticated = operation["security"].as_array().is_some_and(|r| {
                r.iter()
                    .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            });
            if authenticated {
                assert!(has("401"), "{method} {path} lacks 401");
            } else {
                assert!(!has("401"), "{method} {path} needs no token");
            }
            let path_parameter = operation["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
            if path_parameter {
                assert!(has("400"), "{method} {path} lacks 400");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(has(status), "{method} {path} lacks {status}");
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} error answers seen");
}
