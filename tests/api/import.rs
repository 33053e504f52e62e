//! Bulk member import as multipart CSV.

use orgman_testkit::{ALICE, BOB, CAROL};
use reqwest::Method;
use reqwest::multipart::{Form, Part};

use crate::helpers::{Overrides, TestApp, assert_problem, body};

fn csv_form(content: &str, mime: &str) -> Form {
    Form::new().part(
        "file",
        Part::bytes(content.as_bytes().to_vec())
            .file_name("members.csv")
            .mime_str(mime)
            .unwrap(),
    )
}

#[tokio::test]
async fn import_reports_every_row() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    let alice = app.token(ALICE).await;
    let csv = format!(
        "userId,role\n{bob},ADMIN\n{carol},\nnot-a-uuid,MEMBER\n{bob},MEMBER\n0b000000-0000-4000-8000-0000000000ff,MEMBER\n{carol},KING\n",
        bob = BOB.id,
        carol = CAROL.id
    );
    let response = app
        .request(
            Method::POST,
            &format!("/api/v1/organizations/{org}/members/import"),
            Some(&alice),
        )
        .multipart(csv_form(&csv, "text/csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report = body(response).await;
    assert_eq!(report["added"], 2);
    assert_eq!(report["failed"], 4);
    let codes: Vec<_> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["code"].as_str().unwrap_or("added").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (2, "added".into()),
            (3, "added".into()),
            (4, "invalid-user-id".into()),
            (5, "already-member".into()),
            (6, "user-not-found".into()),
            (7, "validation-failed".into()),
        ]
    );
    let members = body(
        app.get(&format!("/api/v1/organizations/{org}/members"), &alice)
            .await,
    )
    .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn import_limits_types_and_permissions() {
    let mut overrides = Overrides::default();
    overrides.0.insert("MULTIPART_MAX_FILE_SIZE", "1KB".into());
    overrides
        .0
        .insert("MULTIPART_MAX_REQUEST_SIZE", "4KB".into());
    let app = TestApp::spawn_with(overrides, false).await;
    let org = app.org_owned_by("acme", ALICE).await;
    let alice = app.token(ALICE).await;
    let path = format!("/api/v1/organizations/{org}/members/import");

    let big = format!("userId,role\n{}", format!("{},MEMBER\n", BOB.id).repeat(40));
    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(csv_form(&big, "text/csv"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "file-too-large").await;

    let huge = "x".repeat(8 * 1024);
    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(csv_form(&huge, "text/csv"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "request-too-large").await;

    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(csv_form("userId\n", "image/png"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported-file-type").await;

    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(Form::new().text("note", "no file here"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "missing-file").await;

    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(csv_form("role\nMEMBER\n", "text/csv"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid-csv").await;

    // A MEMBER is refused before anything is read.
    app.provision(BOB).await;
    let added = app
        .post(
            &format!("/api/v1/organizations/{org}/members"),
            &alice,
            serde_json::json!({"userId": BOB.id}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let bob = app.token(BOB).await;
    let response = app
        .request(Method::POST, &path, Some(&bob))
        .multipart(csv_form(&format!("userId\n{}\n", CAROL.id), "text/csv"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "permission-denied").await;
}
