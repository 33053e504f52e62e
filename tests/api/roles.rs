//! Custom roles and the permission catalog over HTTP: an organization
//! defines "billing-viewer", gives it to a member, and orgman honours it;
//! nobody grants what they do not hold.

use orgman_testkit::{ADMIN, ALICE, BOB, CAROL};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, body};

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.request(Method::PUT, path, Some(token))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_organization_defines_a_role_gives_it_and_takes_its_permission_back() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let admin = app.token(ADMIN).await;
    let alice = app.token(ALICE).await;
    app.provision(BOB).await;
    let bob = app.token(BOB).await;
    let members = format!("/api/v1/organizations/{org}/members");
    let added = app.post(&members, &alice, json!({"userId": BOB.id})).await;
    assert_eq!(added.status(), 201);

    // The platform registers another service's permission; anyone reads
    // the catalog, only platform administrators change it.
    let invoices = "/api/v1/permissions/invoices:read";
    assert_problem(
        put(&app, invoices, &alice, json!({"description": "x"})).await,
        403,
        "platform-admin-required",
    )
    .await;
    let registered = put(
        &app,
        invoices,
        &admin,
        json!({"description": "Read invoices"}),
    )
    .await;
    assert_eq!(registered.status(), 201);
    let again = put(
        &app,
        invoices,
        &admin,
        json!({"description": "Read invoices"}),
    )
    .await;
    assert_eq!(again.status(), 200);
    assert_problem(
        put(
            &app,
            "/api/v1/permissions/members:manage",
            &admin,
            json!({}),
        )
        .await,
        409,
        "permission-built-in",
    )
    .await;
    let catalog = body(app.get("/api/v1/permissions", &bob).await).await;
    let names: Vec<&str> = catalog
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"invoices:read") && names.contains(&"roles:manage"),
        "{names:?}"
    );

    // Alice (OWNER) defines billing-viewer; Bob (MEMBER) cannot.
    let roles = format!("/api/v1/organizations/{org}/roles");
    let billing = json!({
        "key": "billing-viewer",
        "name": "Billing viewer",
        "permissions": ["organization:read", "invoices:read", "audit:read"],
    });
    assert_problem(
        app.post(&roles, &bob, billing.clone()).await,
        403,
        "permission-denied",
    )
    .await;
    let created = app.post(&roles, &alice, billing.clone()).await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["location"].to_str().unwrap(),
        format!("{roles}/billing-viewer")
    );
    assert_problem(app.post(&roles, &alice, billing).await, 409, "role-exists").await;
    // A member joins with a custom role in one call.
    app.provision(CAROL).await;
    let joined = app
        .post(
            &members,
            &alice,
            json!({"userId": CAROL.id, "roles": ["ADMIN", "billing-viewer"]}),
        )
        .await;
    assert_eq!(joined.status(), 201);
    let joined = body(joined).await;
    assert_eq!(joined["role"], "ADMIN");
    assert_eq!(joined["roles"], json!(["ADMIN", "billing-viewer"]));
    assert_problem(
        app.post(
            &members,
            &alice,
            json!({"userId": CAROL.id, "role": "ADMIN", "roles": ["ADMIN"]}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        app.post(
            &roles,
            &alice,
            json!({"key": "x", "name": "X", "permissions": ["nope:nope"]}),
        )
        .await,
        422,
        "unknown-permission",
    )
    .await;

    // Bob cannot read the audit trail as a MEMBER; with the role he can,
    // and the check API of his permissions says so.
    let audit = format!("/api/v1/organizations/{org}/audit-events");
    assert_problem(app.get(&audit, &bob).await, 403, "permission-denied").await;
    let given = put(
        &app,
        &format!("{members}/{}/roles", BOB.id),
        &alice,
        json!({"roles": ["billing-viewer"]}),
    )
    .await;
    assert_eq!(given.status(), 200);
    let view = body(given).await;
    assert_eq!(view["role"], "MEMBER");
    assert_eq!(view["roles"], json!(["MEMBER", "billing-viewer"]));
    assert_eq!(app.get(&audit, &bob).await.status(), 200);
    let held = body(
        app.get(&format!("{members}/{}/permissions", BOB.id), &bob)
            .await,
    )
    .await;
    assert!(
        held["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("invoices:read")),
        "{held}"
    );
    let listed = body(app.get(&members, &bob).await).await;
    let bob_listed = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userId"] == BOB.id)
        .cloned()
        .unwrap();
    assert_eq!(bob_listed["roles"], json!(["MEMBER", "billing-viewer"]));

    // Taking audit:read from the role takes it from Bob at once.
    let changed = app
        .patch(
            &format!("{roles}/billing-viewer"),
            &alice,
            json!({"permissions": ["organization:read", "invoices:read"]}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_problem(app.get(&audit, &bob).await, 403, "permission-denied").await;

    // The catalog keeps a permission roles use unless forced.
    assert_problem(app.delete(invoices, &admin).await, 409, "permission-in-use").await;
    assert_eq!(
        app.delete(&format!("{invoices}?force=true"), &admin)
            .await
            .status(),
        204
    );
    let role = body(app.get(&format!("{roles}/billing-viewer"), &bob).await).await;
    assert_eq!(role["permissions"], json!(["organization:read"]));

    // A held role goes only with a replacement.
    assert_problem(
        app.delete(&format!("{roles}/billing-viewer"), &alice).await,
        409,
        "role-in-use",
    )
    .await;
    let audited = format!("{audit}?limit=100");
    assert_audited(
        &app,
        &audited,
        &alice,
        &[
            "organization.role.created",
            "organization.member.roles-changed",
            "organization.role.updated",
        ],
    )
    .await;
}

/// Every one of `expected` is among the event types the audit trail at
/// `path` lists.
async fn assert_audited(app: &TestApp, path: &str, token: &str, expected: &[&str]) {
    let events = body(app.get(path, token).await).await;
    let types: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect();
    for expected in expected {
        assert!(types.contains(expected), "{expected} in {types:?}");
    }
}

#[tokio::test]
async fn an_admin_cannot_grant_a_permission_it_lacks() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let alice = app.token(ALICE).await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    let members = format!("/api/v1/organizations/{org}/members");
    for (user, role) in [(BOB, "ADMIN"), (CAROL, "MEMBER")] {
        let added = app
            .post(&members, &alice, json!({"userId": user.id, "role": role}))
            .await;
        assert_eq!(added.status(), 201);
    }
    let bob = app.token(BOB).await;
    let roles = format!("/api/v1/organizations/{org}/roles");
    // An ADMIN defines roles, but none holding organization:delete.
    let refused = assert_problem(
        app.post(
            &roles,
            &bob,
            json!({"key": "deleter", "name": "Deleter", "permissions": ["organization:delete"]}),
        )
        .await,
        403,
        "permission-not-held",
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("organization:delete")
    );
    let helper = json!({"key": "helper", "name": "Helper", "permissions": ["members:read"]});
    assert_eq!(app.post(&roles, &bob, helper).await.status(), 201);
    // Nor edit one to hold it, nor hand a member a role that does.
    assert_problem(
        app.patch(
            &format!("{roles}/helper"),
            &bob,
            json!({"permissions": ["organization:delete"]}),
        )
        .await,
        403,
        "permission-not-held",
    )
    .await;
    let deleter =
        json!({"key": "deleter", "name": "Deleter", "permissions": ["organization:delete"]});
    assert_eq!(app.post(&roles, &alice, deleter).await.status(), 201);
    assert_problem(
        put(
            &app,
            &format!("{members}/{}/roles", CAROL.id),
            &bob,
            json!({"roles": ["deleter"]}),
        )
        .await,
        403,
        "permission-not-held",
    )
    .await;
    // Bad role names are refused whole, and nothing changed.
    assert_problem(
        put(
            &app,
            &format!("{members}/{}/roles", CAROL.id),
            &bob,
            json!({"roles": ["OWNER", "ADMIN"]}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        put(
            &app,
            &format!("{members}/{}/roles", CAROL.id),
            &bob,
            json!({"roles": ["ghost"]}),
        )
        .await,
        422,
        "unknown-role",
    )
    .await;
    let carol = body(
        app.get(&format!("{members}/{}/permissions", CAROL.id), &bob)
            .await,
    )
    .await;
    assert_eq!(
        carol["permissions"],
        json!(["members:read", "organization:read"])
    );
}

#[tokio::test]
async fn the_check_api_answers_in_order_and_each_malformed_entry_alone() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let other = app.org_owned_by("other", BOB).await;
    let admin = app.token(ADMIN).await;
    let alice = app.token(ALICE).await;
    app.provision(CAROL).await;
    let members = format!("/api/v1/organizations/{org}/members");
    let added = app.post(&members, &alice, json!({"userId": BOB.id})).await;
    assert_eq!(added.status(), 201);
    let registered = put(&app, "/api/v1/permissions/invoices:read", &admin, json!({})).await;
    assert_eq!(registered.status(), 201);
    let roles = format!("/api/v1/organizations/{org}/roles");
    let billing = json!({"key": "billing-viewer", "name": "B", "permissions": ["invoices:read"]});
    assert_eq!(app.post(&roles, &alice, billing).await.status(), 201);
    let given = put(
        &app,
        &format!("{members}/{}/roles", BOB.id),
        &alice,
        json!({"roles": ["billing-viewer"]}),
    )
    .await;
    assert_eq!(given.status(), 200);

    // Bob asks about himself: no userId needed.
    let bob = app.token(BOB).await;
    let asked = app
        .post(
            "/api/v1/authz/check",
            &bob,
            json!({"checks": [
                {"organizationId": org, "permission": "invoices:read"},
                {"organizationId": org, "permission": "members:manage"},
                {"organizationId": other, "permission": "organization:delete"},
                {"organizationId": org, "permission": "payroll:read"},
                {"organizationId": "nope", "permission": "invoices:read"},
                {"organizationId": org, "permission": "Invoices"},
                {"organizationId": org, "permission": "invoices:read", "userId": ALICE.id},
                {"organizationId": org, "permission": "invoices:read", "userId": "7"},
            ]}),
        )
        .await;
    assert_eq!(asked.status(), 200);
    let results = body(asked).await["results"].clone();
    let answers: Vec<(bool, Option<&str>)> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["allowed"].as_bool().unwrap(), r["reason"].as_str()))
        .collect();
    assert_eq!(
        answers,
        [
            (true, None),
            (false, Some("not-held")),
            (true, None),
            (false, Some("unknown-permission")),
            (false, Some("invalid-organization-id")),
            (false, Some("invalid-permission")),
            (false, Some("not-permitted-to-ask")),
            (false, Some("invalid-user-id")),
        ]
    );

    // Carol holds the realm role orgman-authz-check: she asks about others,
    // members or not.
    let carol = app.token(CAROL).await;
    let asked = app
        .post(
            "/api/v1/authz/check",
            &carol,
            json!({"checks": [
                {"organizationId": org, "permission": "invoices:read", "userId": BOB.id},
                {"organizationId": org, "permission": "invoices:read", "userId": ALICE.id},
                {"organizationId": org, "permission": "invoices:read", "userId": CAROL.id},
                {"organizationId": org, "permission": "organization:delete", "userId": BOB.id},
            ]}),
        )
        .await;
    let results = body(asked).await["results"].clone();
    assert_eq!(
        results,
        json!([
            {"allowed": true},
            {"allowed": true},
            {"allowed": false, "reason": "not-a-member"},
            {"allowed": false, "reason": "not-held"},
        ])
    );

    // Taking the permission from the role is honoured by the next check.
    let changed = app
        .patch(
            &format!("{roles}/billing-viewer"),
            &alice,
            json!({"permissions": []}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let asked = app
        .post(
            "/api/v1/authz/check",
            &carol,
            json!({"checks": [{"organizationId": org, "permission": "invoices:read", "userId": BOB.id}]}),
        )
        .await;
    assert_eq!(
        body(asked).await["results"],
        json!([{"allowed": false, "reason": "not-held"}])
    );

    // An empty or oversized batch is refused whole.
    assert_problem(
        app.post("/api/v1/authz/check", &bob, json!({"checks": []}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"organizationId": org, "permission": "invoices:read"}))
        .collect();
    assert_problem(
        app.post("/api/v1/authz/check", &bob, json!({"checks": many}))
            .await,
        422,
        "validation-failed",
    )
    .await;
}

/// A platform role: platform administrators define it once, every
/// organization gives it, orgman and the check API honour it, and what it
/// stops granting is gone everywhere at once.
#[tokio::test]
async fn a_platform_role_serves_every_organization() {
    let app = TestApp::spawn().await;
    let acme = app.org_owned_by("acme", ALICE).await;
    let zeta = app.org_owned_by("zeta", CAROL).await;
    let admin = app.token(ADMIN).await;
    let alice = app.token(ALICE).await;
    let carol = app.token(CAROL).await;
    app.provision(BOB).await;
    let bob = app.token(BOB).await;
    for (org, owner) in [(&acme, &alice), (&zeta, &carol)] {
        let members = format!("/api/v1/organizations/{org}/members");
        let added = app.post(&members, owner, json!({"userId": BOB.id})).await;
        assert_eq!(added.status(), 201);
    }
    assert_eq!(
        put(&app, "/api/v1/permissions/invoices:read", &admin, json!({}))
            .await
            .status(),
        201
    );
    let auditor = json!({
        "key": "auditor",
        "name": "Auditor",
        "permissions": ["audit:read", "invoices:read"],
    });
    assert_problem(
        app.post("/api/v1/roles", &alice, auditor.clone()).await,
        403,
        "platform-admin-required",
    )
    .await;
    let created = app.post("/api/v1/roles", &admin, auditor.clone()).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/api/v1/roles/auditor");
    assert_eq!(body(created).await["scope"], "platform");
    // The key is taken in every organization now.
    let acme_roles = format!("/api/v1/organizations/{acme}/roles");
    assert_problem(
        app.post(&acme_roles, &alice, auditor).await,
        409,
        "role-exists",
    )
    .await;
    let listed = body(app.get(&acme_roles, &bob).await).await;
    assert_eq!(listed[0]["key"], "auditor");
    assert_eq!(listed[0]["scope"], "platform");
    assert_problem(
        app.patch(
            &format!("{acme_roles}/auditor"),
            &alice,
            json!({"name": "Mine"}),
        )
        .await,
        409,
        "role-of-platform",
    )
    .await;
    let nil = "00000000-0000-0000-0000-000000000000";
    assert_problem(
        app.get(&format!("/api/v1/organizations/{nil}/roles"), &alice)
            .await,
        404,
        "organization-not-found",
    )
    .await;

    // Both organizations give it to Bob: he reads both audit trails, and
    // the check API says so for the other service's permission.
    for (org, owner) in [(&acme, &alice), (&zeta, &carol)] {
        let given = put(
            &app,
            &format!("/api/v1/organizations/{org}/members/{}/roles", BOB.id),
            owner,
            json!({"roles": ["auditor"]}),
        )
        .await;
        assert_eq!(given.status(), 200);
    }
    let audit = |org: &str| format!("/api/v1/organizations/{org}/audit-events");
    let check = json!({"checks": [
        {"organizationId": acme, "permission": "invoices:read"},
        {"organizationId": zeta, "permission": "audit:read"},
    ]});
    for org in [&acme, &zeta] {
        assert_eq!(app.get(&audit(org), &bob).await.status(), 200);
    }
    let asked = body(app.post("/api/v1/authz/check", &bob, check.clone()).await).await;
    assert_eq!(
        asked["results"],
        json!([{"allowed": true}, {"allowed": true}])
    );

    // One change to the platform role takes audit:read everywhere at once.
    let changed = app
        .patch(
            "/api/v1/roles/auditor",
            &admin,
            json!({"permissions": ["invoices:read"]}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    for org in [&acme, &zeta] {
        assert_problem(app.get(&audit(org), &bob).await, 403, "permission-denied").await;
    }
    let asked = body(app.post("/api/v1/authz/check", &bob, check).await).await;
    assert_eq!(
        asked["results"],
        json!([{"allowed": true}, {"allowed": false, "reason": "not-held"}])
    );

    // Deleting it needs a replacement while anyone holds it.
    assert_problem(
        app.delete("/api/v1/roles/auditor", &admin).await,
        409,
        "role-in-use",
    )
    .await;
    let viewer = json!({"key": "viewer", "name": "Viewer", "permissions": ["audit:read"]});
    assert_eq!(
        app.post("/api/v1/roles", &admin, viewer).await.status(),
        201
    );
    let deleted = app
        .delete("/api/v1/roles/auditor?replacement=viewer", &admin)
        .await;
    assert_eq!(deleted.status(), 204);
    assert_problem(
        app.get("/api/v1/roles/auditor", &bob).await,
        404,
        "role-not-found",
    )
    .await;
    let bob_in_zeta = body(
        app.get(
            &format!(
                "/api/v1/organizations/{zeta}/members/{}/permissions",
                BOB.id
            ),
            &bob,
        )
        .await,
    )
    .await;
    assert!(
        bob_in_zeta["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("audit:read")),
        "{bob_in_zeta}"
    );
    assert_audited(
        &app,
        "/api/v1/audit-events?limit=100",
        &admin,
        &[
            "platform.role.created",
            "platform.role.updated",
            "platform.role.deleted",
        ],
    )
    .await;
}
