//! Problems for unknown routes, and 503 when the database is down.

use orgman_testkit::ADMIN;
use reqwest::Method;

use crate::helpers::{Overrides, TestApp, assert_problem};

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
    for (method, path, allow) in [
        (
            Method::DELETE,
            "/api/v1/organizations".to_owned(),
            "GET, POST",
        ),
        (
            Method::PUT,
            format!("/api/v1/organizations/{}", uuid::Uuid::nil()),
            "GET, PATCH",
        ),
        (Method::POST, "/api/v1/users/me".to_owned(), "GET"),
    ] {
        let response = app
            .request(method.clone(), &path, None)
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
    let app = TestApp::spawn_with(Overrides::default(), true).await;
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
