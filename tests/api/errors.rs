//! Problems for unknown routes, and 503 when the database is down.

use orgman_testkit::ADMIN;
use reqwest::Method;

use crate::helpers::{TestApp, assert_problem};

#[tokio::test]
async fn unknown_routes_are_problem_404s() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::GET, "/api/v1/nothing-here", None)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "route-not-found").await;
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    let org = uuid::Uuid::nil();
    for (method, path, allow, token) in [
        (
            Method::DELETE,
            "/api/v1/organizations".to_owned(),
            "GET, POST",
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/organizations/{org}"),
            "GET, PATCH",
            None,
        ),
        (
            Method::POST,
            "/api/v1/users/me".to_owned(),
            "DELETE, GET",
            None,
        ),
        // Paths that another operation's template also matches (`mine`
        // read as an `{id}`, `import` as a `{userId}`) are still their own
        // resource: the method is not allowed there, whatever the token.
        (
            Method::PATCH,
            "/api/v1/organizations/mine".to_owned(),
            "GET",
            Some(&admin),
        ),
        (
            Method::PATCH,
            "/api/v1/organizations/current".to_owned(),
            "GET",
            Some(&admin),
        ),
        (
            Method::PATCH,
            format!("/api/v1/organizations/{org}/members/import"),
            "POST",
            Some(&admin),
        ),
    ] {
        let response = app
            .request(method.clone(), &path, token.map(String::as_str))
            .json(&serde_json::json!({"role": "ADMIN"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["allow"].to_str().unwrap(),
            allow,
            "{method} {path}"
        );
        assert_problem(response, 405, "method-not-allowed").await;
    }
    // A malformed id on a path only a template matches stays a 400.
    let response = app
        .request(
            Method::PATCH,
            "/api/v1/organizations/not-an-id",
            Some(&admin),
        )
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid-path-parameter").await;
    // An unknown path stays a 404.
    let response = app
        .request(Method::DELETE, "/api/v1/organizations/a/b/c/d", None)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "route-not-found").await;
}

#[tokio::test]
async fn database_outage_gives_503_and_recovers() {
    let app = TestApp::builder().database_behind_proxy().spawn().await;
    let admin = app.token(ADMIN).await;
    assert_eq!(app.get("/api/v1/organizations", &admin).await.status(), 200);
    let proxy = app.db_proxy.as_ref().unwrap();

    proxy.cut();
    let response = app.get("/api/v1/organizations", &admin).await;
    assert_eq!(response.headers()["retry-after"], "5");
    let problem = assert_problem(response, 503, "dependency-unavailable").await;
    assert!(
        !problem["detail"].as_str().unwrap().contains("127.0.0.1"),
        "no internals leak"
    );

    proxy.restore();
    orgman_testkit::eventually(
        "requests succeed again once the database is back",
        std::time::Duration::from_secs(10),
        || async { app.get("/api/v1/organizations", &admin).await.status() == 200 },
    )
    .await;
}
