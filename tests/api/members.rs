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
    // A role given in a body must be one; a blank one is not MEMBER (only a
    // CSV row's blank role is). Input is checked before anything is looked
    // up: also for an organization that does not exist.
    let nowhere = "/api/v1/organizations/0b000000-0000-4000-8000-0000000000ee/members";
    for path in [members.as_str(), nowhere] {
        let refused = assert_problem(
            app.post(path, &admin, json!({"userId": ADMIN.id, "role": ""}))
                .await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], "role", "{refused}");
    }
    assert_problem(
        app.patch(
            &format!("{members}/{}", ADMIN.id),
            &admin,
            json!({"role": " "}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        app.delete(&format!("{members}/not-a-uuid"), &admin).await,
        400,
        "invalid-path-parameter",
    )
    .await;
}

#[tokio::test]
async fn a_member_limit_set_by_a_platform_admin_holds_for_additions_and_imports() {
    use reqwest::Method;
    let app = crate::helpers::TestApp::spawn().await;
    let org = app.org_owned_by("limited", orgman_testkit::ALICE).await;
    let alice = app.token(orgman_testkit::ALICE).await;
    let admin = app.token(orgman_testkit::ADMIN).await;
    let path = format!("/api/v1/organizations/{org}/member-limit");
    let put = |token: String, body: serde_json::Value| {
        app.request(Method::PUT, &path, Some(&token))
            .json(&body)
            .send()
    };

    // Unlimited by default, and an OWNER cannot change that.
    let view = crate::helpers::body(
        app.get(&format!("/api/v1/organizations/{org}"), &alice)
            .await,
    )
    .await;
    assert_eq!(view["maxMembers"], serde_json::Value::Null);
    crate::helpers::assert_problem(
        put(alice.clone(), serde_json::json!({"maxMembers": 2}))
            .await
            .unwrap(),
        403,
        "platform-admin-required",
    )
    .await;
    crate::helpers::assert_problem(
        put(admin.clone(), serde_json::json!({"maxMembers": -1}))
            .await
            .unwrap(),
        400,
        "malformed-body",
    )
    .await;
    crate::helpers::assert_problem(
        put(
            admin.clone(),
            serde_json::json!({"maxMembers": 2, "extra": 1}),
        )
        .await
        .unwrap(),
        400,
        "malformed-body",
    )
    .await;
    let limited = put(admin.clone(), serde_json::json!({"maxMembers": 2}))
        .await
        .unwrap();
    assert_eq!(limited.status(), 200);
    assert!(limited.headers().contains_key("etag"));
    assert_eq!(crate::helpers::body(limited).await["maxMembers"], 2);

    // Alice and one more; the third is refused.
    let users = app.bulk_users(3).await;
    let members_path = format!("/api/v1/organizations/{org}/members");
    let add =
        |user: uuid::Uuid| app.post(&members_path, &alice, serde_json::json!({"userId": user}));
    assert_eq!(add(users[0]).await.status(), 201);
    crate::helpers::assert_problem(add(users[1]).await, 409, "member-limit-reached").await;

    // An import reports the rows past the limit.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(
            format!("userId\n{}\n{}\n", users[0], users[2]).into_bytes(),
        )
        .file_name("m.csv")
        .mime_str("text/csv")
        .unwrap(),
    );
    let report = crate::helpers::body(
        app.request(
            Method::POST,
            &format!("/api/v1/organizations/{org}/members/import"),
            Some(&alice),
        )
        .multipart(form)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(report["unchanged"], 1, "{report}");
    assert_eq!(report["rows"][0]["code"], "member-limit-reached");

    // Lifted: room again.
    let lifted = put(admin.clone(), serde_json::json!({"maxMembers": null}))
        .await
        .unwrap();
    assert_eq!(
        crate::helpers::body(lifted).await["maxMembers"],
        serde_json::Value::Null
    );
    assert_eq!(add(users[1]).await.status(), 201);
}

#[tokio::test]
async fn the_member_directory_finds_members_by_name_or_address_and_exports_them() {
    let app = TestApp::spawn().await;
    let slug = format!("dir-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let org = app.org_owned_by(&slug, ALICE).await;
    let members = format!("/api/v1/organizations/{org}/members");
    let alice = app.token(ALICE).await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    for (user, role) in [(BOB, "ADMIN"), (CAROL, "MEMBER")] {
        let added = app
            .post(&members, &alice, json!({"userId": user.id, "role": role}))
            .await;
        assert_eq!(added.status(), 201);
    }

    // Names come from the tokens' claims (Keycloak's firstName/lastName).
    let found = body(app.get(&format!("{members}?search=BER"), &alice).await).await;
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{found}");
    assert_eq!(items[0]["userId"], BOB.id);
    assert_eq!(items[0]["email"], BOB.email);
    assert_eq!(items[0]["givenName"], "Bob");
    assert_eq!(items[0]["familyName"], "Berg");
    assert_eq!(items[0]["role"], "ADMIN");
    let by_address = body(app.get(&format!("{members}?search=carol%40"), &alice).await).await;
    assert_eq!(by_address["items"][0]["userId"], CAROL.id);
    let admins = body(app.get(&format!("{members}?role=ADMIN"), &alice).await).await;
    assert_eq!(admins["items"].as_array().unwrap().len(), 1);
    assert_eq!(admins["items"][0]["userId"], BOB.id);

    // Keyset pages: by join date without a search, by address with one.
    let mut seen = Vec::new();
    let mut path = format!("{members}?limit=1");
    loop {
        let page = body(app.get(&path, &alice).await).await;
        seen.push(page["items"][0]["userId"].as_str().unwrap().to_owned());
        match page["nextCursor"].as_str() {
            Some(next) => path = format!("{members}?limit=1&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, [ALICE.id, BOB.id, CAROL.id]);
    // A cursor names a member: in a search's order (by address) a
    // listing's cursor starts after that member's address.
    let after_alice = body(
        app.get(
            &format!(
                "{members}?search=b&after={}",
                found_cursor(&app, &members, &alice).await
            ),
            &alice,
        )
        .await,
    )
    .await;
    assert_eq!(after_alice["items"][0]["userId"], BOB.id, "{after_alice}");
    let after_bob_page = body(app.get(&format!("{members}?limit=2"), &alice).await).await;
    let after_bob = body(
        app.get(
            &format!(
                "{members}?search=b&after={}",
                after_bob_page["nextCursor"].as_str().unwrap()
            ),
            &alice,
        )
        .await,
    )
    .await;
    assert!(
        after_bob["items"].as_array().unwrap().is_empty(),
        "{after_bob}"
    );
    for bad in [
        format!("{members}?after=not-a-cursor"),
        format!("{members}?after=m.{}.1.f", BOB.id.replace('-', "")),
        format!("{members}?role=KING"),
        format!("{members}?search={}", "a".repeat(101)),
    ] {
        assert_problem(app.get(&bad, &alice).await, 400, "invalid-query-parameter").await;
    }

    // The export: CSV, a header and one line per member, by join date.
    let export = app.get(&format!("{members}/export"), &alice).await;
    assert_eq!(export.status(), 200);
    assert!(
        export.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = export.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "userId,email,displayName,givenName,familyName,role,roles,joinedAt,updatedAt"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[2].starts_with(&format!(
            "{},{},Bob Berg,Bob,Berg,ADMIN,ADMIN,",
            BOB.id, BOB.email
        )),
        "{text}"
    );
    let carol = app.token(CAROL).await;
    assert_eq!(
        app.get(&format!("{members}/export"), &carol).await.status(),
        200
    );
    let removed = app.delete(&format!("{members}/{}", CAROL.id), &alice).await;
    assert_eq!(removed.status(), 204);
    assert_problem(
        app.get(&format!("{members}/export"), &carol).await,
        404,
        "organization-not-found",
    )
    .await;
    let left = body(app.get(&format!("{members}?search=carol"), &alice).await).await;
    assert!(left["items"].as_array().unwrap().is_empty(), "{left}");

    // A user's organizations, searched by a word of the name or the slug.
    let mine = body(
        app.get(&format!("/api/v1/organizations/mine?search={slug}"), &alice)
            .await,
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["items"][0]["id"], org.as_str());
    let none = body(
        app.get("/api/v1/organizations/mine?search=zzzz", &alice)
            .await,
    )
    .await;
    assert!(none["items"].as_array().unwrap().is_empty());
}

/// A cursor of a listing without a search (join order).
async fn found_cursor(app: &TestApp, members: &str, token: &str) -> String {
    let page = body(app.get(&format!("{members}?limit=1"), token).await).await;
    page["nextCursor"].as_str().unwrap().to_owned()
}
