//! Membership management over HTTP, with delegated administration.

use orgman_testkit::{ADMIN, ALICE, BOB, CAROL};
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, body};

#[tokio::test]
async fn owners_and_admins_manage_members_within_the_rules() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let members = format!("/api/v1/organizations/{org}/members");
    let alice = app.token(ALICE).await;
    app.provision(BOB).await;
    app.provision(CAROL).await;

    let added = app
        .post(&members, &alice, json!({"userId": BOB.id, "role": "ADMIN"}))
        .await;
    assert_eq!(added.status(), 201);
    assert_eq!(
        added.headers()["location"].to_str().unwrap(),
        format!("{members}/{}", BOB.id)
    );
    assert_eq!(body(added).await["role"], "ADMIN");
    assert_problem(
        app.post(&members, &alice, json!({"userId": BOB.id})).await,
        409,
        "already-member",
    )
    .await;

    // BOB, an ADMIN, adds CAROL (default role MEMBER) but may not grant OWNER.
    let bob = app.token(BOB).await;
    assert_problem(
        app.post(&members, &bob, json!({"userId": CAROL.id, "role": "OWNER"}))
            .await,
        403,
        "owner-required",
    )
    .await;
    let carol_added = body(app.post(&members, &bob, json!({"userId": CAROL.id})).await).await;
    assert_eq!(carol_added["role"], "MEMBER");

    // CAROL, a MEMBER, manages nobody.
    let carol = app.token(CAROL).await;
    assert_problem(
        app.patch(
            &format!("{members}/{}", BOB.id),
            &carol,
            json!({"role": "MEMBER"}),
        )
        .await,
        403,
        "permission-denied",
    )
    .await;

    let changed = app
        .patch(
            &format!("{members}/{}", CAROL.id),
            &bob,
            json!({"role": "ADMIN"}),
        )
        .await;
    assert_eq!(body(changed).await["role"], "ADMIN");
    assert_problem(
        app.patch(
            &format!("{members}/{}", CAROL.id),
            &bob,
            json!({"role": "SUPERUSER"}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;

    let list = body(app.get(&format!("{members}?limit=2"), &carol).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(list["nextCursor"].is_string());

    // The last OWNER stays; others go with 204.
    assert_problem(
        app.delete(&format!("{members}/{}", ALICE.id), &alice).await,
        409,
        "last-owner",
    )
    .await;
    assert_problem(
        app.patch(
            &format!("{members}/{}", ALICE.id),
            &alice,
            json!({"role": "MEMBER"}),
        )
        .await,
        409,
        "last-owner",
    )
    .await;
    assert_eq!(
        app.delete(&format!("{members}/{}", CAROL.id), &bob)
            .await
            .status(),
        204
    );
    assert_problem(
        app.delete(&format!("{members}/{}", CAROL.id), &bob).await,
        404,
        "member-not-found",
    )
    .await;
    // A member leaves on their own.
    assert_eq!(
        app.delete(&format!("{members}/{}", BOB.id), &bob)
            .await
            .status(),
        204
    );
    assert_problem(app.get(&members, &bob).await, 404, "organization-not-found").await;
}

#[tokio::test]
async fn unknown_users_and_bad_ids_are_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org("acme").await;
    let admin = app.token(ADMIN).await;
    let members = format!("/api/v1/organizations/{org}/members");
    assert_problem(
        app.post(
            &members,
            &admin,
            json!({"userId": "0b000000-0000-4000-8000-0000000000ff"}),
        )
        .await,
        422,
        "user-not-found",
    )
    .await;
    assert_problem(
        app.post(&members, &admin, json!({"userId": "bob"})).await,
        400,
        "malformed-body",
    )
    .await;
    assert_problem(
        app.delete(&format!("{members}/not-a-uuid"), &admin).await,
        400,
        "invalid-path-parameter",
    )
    .await;
}
