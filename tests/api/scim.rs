//! SCIM 2.0 per organization over HTTP, with the shapes Okta and Microsoft
//! Entra ID send (`../shared/reference/scim-dialects.md`): a directory's
//! key provisions, suspends and deletes people and keeps groups that give
//! roles only through the organization's mapping; a suspended person is
//! refused at once on every replica; and scim2-tester's every check
//! passes against the endpoint.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use std::time::Duration;

use orgman_testkit::{ALICE, BOB, Stack, eventually};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Overrides, TestApp, body};

const SCIM: &str = "application/scim+json";

/// An API key of `org` holding `permissions`, made by ALICE (its owner).
async fn key(app: &TestApp, org: &str, permissions: &[&str]) -> String {
    let alice = app.token(ALICE).await;
    let created = app
        .post(
            &format!("/api/v1/organizations/{org}/api-keys"),
            &alice,
            json!({"name": "directory", "permissions": permissions}),
        )
        .await;
    assert_eq!(created.status(), 201);
    body(created).await["secret"].as_str().unwrap().to_owned()
}

/// One SCIM request; answers the status, the ETag and the body (`Null`
/// when empty).
async fn scim(
    app: &TestApp,
    method: Method,
    org: &str,
    path: &str,
    secret: &str,
    json_body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut request = app
        .request(
            method,
            &format!("/scim/v2/organizations/{org}{path}"),
            Some(secret),
        )
        .header("content-type", SCIM);
    if let Some(value) = json_body {
        request = request.body(value.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    if status != 204 && status != 304 {
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with(SCIM), "{path}: {kind}");
    }
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, etag, value)
}

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// The member's roles as the REST API lists them (`None`: not a member).
async fn member_role(app: &TestApp, org: &str, user: &str) -> Option<String> {
    let alice = app.token(ALICE).await;
    let listed = body(
        app.get(
            &format!("/api/v1/organizations/{org}/members?limit=500"),
            &alice,
        )
        .await,
    )
    .await;
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userId"] == user)
        .map(|m| m["role"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_directory_provisions_people_and_groups_in_okta_and_entra_dialects() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("scim-dialects", ALICE).await;
    let secret = key(&app, &org, &["scim:provision"]).await;
    let alice = app.token(ALICE).await;
    let mapped = app
        .request(
            Method::PUT,
            &format!("/api/v1/organizations/{org}/directory/group-roles"),
            Some(&alice),
        )
        .json(&json!({"mappings": [{"group": "engineering", "role": "ADMIN"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(mapped.status(), 200);

    // Entra looks the person up first, then creates them with its
    // enterprise extension (accepted and not kept).
    let (status, _, found) = scim(
        &app,
        Method::GET,
        &org,
        "/Users?filter=userName%20eq%20%22ada%40corp.example%22",
        &secret,
        None,
    )
    .await;
    assert_eq!((status, found["totalResults"].clone()), (200, json!(0)));
    let ada = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "ada@corp.example", "externalId": "00u-ada", "active": true,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@corp.example", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
    });
    let (status, etag, made) = scim(&app, Method::POST, &org, "/Users", &secret, Some(ada)).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(etag.as_deref(), Some("W/\"1\""));
    assert_eq!(
        (made["externalId"].clone(), made["active"].clone()),
        (json!("00u-ada"), json!(true))
    );
    assert!(
        made.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
            .is_none()
    );
    let id = made["id"].as_str().unwrap().to_owned();
    let (_, _, users) = scim(
        &app,
        Method::GET,
        &org,
        "/Users?filter=externalId%20eq%20%2200u-ada%22",
        &secret,
        None,
    )
    .await;
    assert_eq!(users["Resources"][0]["id"], id.as_str());
    let user_id = app
        .sql_value(&format!(
            "SELECT user_id::text AS v FROM directory_users WHERE id = '{id}'"
        ))
        .await;
    assert_eq!(
        member_role(&app, &org, &user_id).await.as_deref(),
        Some("MEMBER")
    );

    // The same user name, in another case: 409 uniqueness.
    let (status, _, conflict) = scim(
        &app,
        Method::POST,
        &org,
        "/Users",
        &secret,
        Some(json!({"userName": "ADA@corp.example"})),
    )
    .await;
    assert_eq!(
        (status, conflict["scimType"].clone()),
        (409, json!("uniqueness"))
    );

    // Entra suspends with a PascalCase op and a string boolean; the
    // resource stays and reads `active: false`; the membership is gone.
    let user = format!("/Users/{id}");
    let (status, _, off) = scim(
        &app,
        Method::PATCH,
        &org,
        &user,
        &secret,
        Some(patch(
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )),
    )
    .await;
    assert_eq!((status, off["active"].clone()), (200, json!(false)));
    assert_eq!(member_role(&app, &org, &user_id).await, None);
    // Okta restores without a path, with a real boolean.
    let (_, _, on) = scim(
        &app,
        Method::PATCH,
        &org,
        &user,
        &secret,
        Some(patch(json!([{"op": "replace", "value": {"active": true}}]))),
    )
    .await;
    assert_eq!(on["active"], json!(true));
    assert_eq!(
        member_role(&app, &org, &user_id).await.as_deref(),
        Some("MEMBER")
    );
    // Entra's value-filter path and its map without a path.
    let (_, _, moved) = scim(&app, Method::PATCH, &org, &user, &secret, Some(patch(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada.l@corp.example"},
        {"op": "Replace", "value": {"displayName": "Ada L.", "name.givenName": "Augusta"}},
    ])))).await;
    assert_eq!(
        moved["emails"],
        json!([{"value": "ada.l@corp.example", "type": "work", "primary": true}])
    );
    assert_eq!(
        (
            moved["displayName"].clone(),
            moved["name"]["givenName"].clone()
        ),
        (json!("Ada L."), json!("Augusta"))
    );

    // Okta's group push: a mapped group makes its members ADMINs; removing
    // them by a value array, or Entra's filter path, takes it back.
    let (status, _, group) = scim(
        &app,
        Method::POST,
        &org,
        "/Groups",
        &secret,
        Some(json!({"displayName": "Engineering", "members": [{"value": id, "display": "ada"}]})),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(
        member_role(&app, &org, &user_id).await.as_deref(),
        Some("ADMIN")
    );
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    scim(
        &app,
        Method::PATCH,
        &org,
        &group_path,
        &secret,
        Some(patch(
            json!([{"op": "remove", "path": "members", "value": [{"value": id}]}]),
        )),
    )
    .await;
    assert_eq!(
        member_role(&app, &org, &user_id).await.as_deref(),
        Some("MEMBER")
    );
    scim(
        &app,
        Method::PATCH,
        &org,
        &group_path,
        &secret,
        Some(patch(
            json!([{"op": "Add", "path": "members", "value": [{"value": id}]}]),
        )),
    )
    .await;
    assert_eq!(
        member_role(&app, &org, &user_id).await.as_deref(),
        Some("ADMIN")
    );
    let (_, _, renamed) = scim(
        &app,
        Method::PATCH,
        &org,
        &group_path,
        &secret,
        Some(patch(json!([
            {"op": "Remove", "path": format!("members[value eq \"{id}\"]")},
            {"op": "replace", "value": {"id": group["id"], "displayName": "Engineering EU"}},
        ]))),
    )
    .await;
    assert_eq!(renamed["displayName"], "Engineering EU");
    assert!(renamed.get("members").is_none());
    assert_eq!(
        member_role(&app, &org, &user_id).await.as_deref(),
        Some("MEMBER")
    );
    let (_, _, groups) = scim(
        &app,
        Method::GET,
        &org,
        "/Groups?filter=displayName%20eq%20%22engineering%20eu%22",
        &secret,
        None,
    )
    .await;
    assert_eq!(groups["totalResults"], json!(1));

    // Okta replaces with PUT; a stale If-Match is refused with 412.
    let (_, etag, _) = scim(&app, Method::GET, &org, &user, &secret, None).await;
    let stale = app
        .request(
            Method::PUT,
            &format!("/scim/v2/organizations/{org}{user}"),
            Some(&secret),
        )
        .header("if-match", "W/\"1\"")
        .json(&json!({"userName": "ada@corp.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let replaced = app
        .request(
            Method::PUT,
            &format!("/scim/v2/organizations/{org}{user}"),
            Some(&secret),
        )
        .header("if-match", etag.unwrap())
        .json(&json!({"userName": "ada@corp.example", "active": true, "displayName": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    assert!(
        body(replaced).await.get("emails").is_none(),
        "PUT replaces the whole resource"
    );

    // Paging, and filters orgman does not index.
    for n in 0..3 {
        scim(
            &app,
            Method::POST,
            &org,
            "/Users",
            &secret,
            Some(json!({"userName": format!("p{n}@corp.example")})),
        )
        .await;
    }
    let (_, _, page) = scim(
        &app,
        Method::GET,
        &org,
        "/Users?startIndex=2&count=2",
        &secret,
        None,
    )
    .await;
    assert_eq!(
        (
            page["totalResults"].clone(),
            page["itemsPerPage"].clone(),
            page["startIndex"].clone()
        ),
        (json!(4), json!(2), json!(2))
    );
    let (status, _, refused) = scim(
        &app,
        Method::GET,
        &org,
        "/Users?filter=title%20co%20%22x%22",
        &secret,
        None,
    )
    .await;
    assert_eq!(
        (status, refused["scimType"].clone()),
        (400, json!("invalidFilter"))
    );

    // DELETE ends the membership and the resource.
    let (status, _, _) = scim(&app, Method::DELETE, &org, &user, &secret, None).await;
    assert_eq!(status, 204);
    let (status, _, gone) = scim(&app, Method::GET, &org, &user, &secret, None).await;
    assert_eq!((status, gone["status"].clone()), (404, json!("404")));
    assert_eq!(member_role(&app, &org, &user_id).await, None);

    // Every change is the SCIM client's in the audit trail.
    let audit = body(
        app.get(
            &format!("/api/v1/organizations/{org}/audit-events?actorKind=scimClient&limit=500"),
            &alice,
        )
        .await,
    )
    .await;
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for kind in [
        "organization.directory.user-provisioned",
        "organization.member.removed",
        "organization.member.role-changed",
        "organization.directory.group-created",
    ] {
        assert!(types.contains(&kind), "{kind} in {types:?}");
    }
}

#[tokio::test]
async fn only_the_organizations_directory_key_provisions_there() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("scim-keys", ALICE).await;
    let other = app.org_owned_by("scim-other", ALICE).await;
    let reader = key(&app, &org, &["organization:read"]).await;
    let (status, _, refused) = scim(&app, Method::GET, &org, "/Users", &reader, None).await;
    assert_eq!(
        (status, refused["schemas"][0].clone()),
        (403, json!("urn:ietf:params:scim:api:messages:2.0:Error"))
    );
    let secret = key(&app, &org, &["scim:provision"]).await;
    let (status, _, _) = scim(&app, Method::GET, &other, "/Users", &secret, None).await;
    assert_eq!(status, 404);
    let alice = app.token(ALICE).await;
    let (status, _, _) = scim(&app, Method::GET, &org, "/Users", &alice, None).await;
    assert_eq!(
        status, 401,
        "a person's token is not a directory's credential"
    );
    let (status, _, _) = scim(
        &app,
        Method::POST,
        &org,
        "/ServiceProviderConfig",
        &secret,
        None,
    )
    .await;
    assert_eq!(status, 405);
    let (status, _, bad) = scim(
        &app,
        Method::POST,
        &org,
        "/Users",
        &secret,
        Some(json!({"userName": "x", "active": "perhaps"})),
    )
    .await;
    assert_eq!(
        (status, bad["scimType"].clone()),
        (400, json!("invalidValue"))
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM directory_users").await,
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn a_suspended_person_is_refused_at_once_on_every_replica() {
    // Two replicas: one database, one cache (the same key prefix).
    let prefix = orgman_testkit::unique_name("scim-replicas");
    let shared = |database: Option<String>| {
        let mut vars = HashMap::from([("ORGMAN_CACHE_KEY_PREFIX", prefix.clone())]);
        if let Some(url) = database {
            vars.insert("DATABASE_URL", url);
        }
        Overrides(vars)
    };
    let one = TestApp::builder().settings(shared(None)).spawn().await;
    let two = TestApp::builder()
        .settings(shared(Some(one.database_url.clone())))
        .spawn()
        .await;
    let org = one.org_owned_by("scim-replicas", ALICE).await;
    let domain = BOB.email.split_once('@').unwrap().1;
    one.sql(&format!(
        "INSERT INTO organization_domains (org_id, name, challenge, created_at, verified_at)
         VALUES ('{org}', '{domain}', 'x', now(), now())"
    ))
    .await;
    one.provision(BOB).await;
    let secret = key(&one, &org, &["scim:provision"]).await;
    let (status, _, made) = scim(
        &one,
        Method::POST,
        &org,
        "/Users",
        &secret,
        Some(json!({"userName": "bob", "emails": [{"value": BOB.email, "primary": true}]})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    // A verified domain's address links the person who already has it.
    let linked = one
        .sql_value(&format!(
            "SELECT user_id::text AS v FROM directory_users WHERE id = '{}'",
            made["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(linked, BOB.id);
    let bob = two.token(BOB).await;
    let path = format!("/api/v1/organizations/{org}");
    assert_eq!(
        two.get(&path, &bob).await.status(),
        200,
        "replica two has it cached now"
    );

    let (status, _, _) = scim(
        &one,
        Method::PATCH,
        &org,
        &format!("/Users/{}", made["id"].as_str().unwrap()),
        &secret,
        Some(patch(
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )),
    )
    .await;
    assert_eq!(status, 200);
    // No waiting: the fence and the invalidation precede the answer.
    assert_eq!(two.get(&path, &bob).await.status(), 404);
}

/// scim2-tester's folder of wheels: `ORGMAN_SCIM2_TESTER`, else where
/// `cargo xtask test` installs it.
fn scim2_tester() -> PathBuf {
    if let Some(path) = std::env::var_os("ORGMAN_SCIM2_TESTER") {
        return PathBuf::from(path);
    }
    let installed = std::env::var_os("ORGMAN_STACK_DIR")
        .map(|dir| PathBuf::from(dir).join("../tools/scim2-tester"));
    match installed {
        Some(path) if path.join(".installed").exists() => path,
        _ => panic!(
            "scim2-tester is not installed: run the suite with `cargo xtask test`, or set ORGMAN_SCIM2_TESTER"
        ),
    }
}

#[tokio::test]
async fn scim2_tester_passes_every_check_it_runs() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("scim-conformance", ALICE).await;
    let secret = key(&app, &org, &["scim:provision"]).await;
    let wheels = scim2_tester();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/api/scim_check.py");
    let base = format!("{}/scim/v2/organizations/{org}", app.address);
    let run = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(base)
            .arg(secret)
            .env("PYTHONPATH", wheels)
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    eprintln!("{out}");
    assert!(
        run.status.success(),
        "scim2-tester:\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.contains("0 did not pass"), "{out}");
}

#[tokio::test]
async fn a_trusted_address_nobody_has_gets_a_keycloak_account_off_the_request_then_the_membership()
{
    let app = TestApp::builder()
        .settings(Overrides(HashMap::from([(
            "ORGMAN_DIRECTORY_ACCOUNTS_POLL_MS",
            "50".to_owned(),
        )])))
        .spawn()
        .await;
    let org = app.org_owned_by("scim-accounts", ALICE).await;
    let domain = format!("{}.example", orgman_testkit::unique_name("dir"));
    app.sql(&format!(
        "INSERT INTO organization_domains (org_id, name, challenge, created_at, verified_at)
         VALUES ('{org}', '{domain}', 'x', now(), now())"
    ))
    .await;
    let secret = key(&app, &org, &["scim:provision"]).await;
    let email = format!("dee@{domain}");
    let (status, _, made) = scim(&app, Method::POST, &org, "/Users", &secret,
        Some(json!({"userName": email, "emails": [{"value": email, "primary": true}], "active": true}))).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();

    // The account is made by the worker, not the request; then the person
    // is that account's user and a member.
    eventually(
        "the account is made and linked",
        Duration::from_secs(20),
        || async {
            let linked = app.count(&format!(
            "SELECT count(*) AS n FROM directory_users WHERE id = '{id}' AND user_id IS NOT NULL"
        )).await;
            linked == 1
        },
    )
    .await;
    let user = app
        .sql_value(&format!(
            "SELECT user_id::text AS v FROM directory_users WHERE id = '{id}'"
        ))
        .await;
    let accounts = Stack::get()
        .keycloak_admin(&format!("users?email={email}&exact=true"))
        .await
        .unwrap();
    assert_eq!(
        accounts[0]["id"],
        user.as_str(),
        "the orgman user is the Keycloak account"
    );
    assert!(
        accounts[0]
            .get("credentials")
            .is_none_or(|c| c.as_array().is_none_or(Vec::is_empty))
    );
    assert_eq!(
        member_role(&app, &org, &user).await.as_deref(),
        Some("MEMBER")
    );
    orgman_testkit::forget_dev_user(&email).await;
}

#[tokio::test]
async fn a_first_sync_of_two_hundred_people_and_their_groups_gives_every_membership() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("scim-first-sync", ALICE).await;
    let secret = key(&app, &org, &["scim:provision"]).await;
    let alice = app.token(ALICE).await;
    let mapped = app
        .request(
            Method::PUT,
            &format!("/api/v1/organizations/{org}/directory/group-roles"),
            Some(&alice),
        )
        .json(&json!({"mappings": [{"group": "team-0", "role": "ADMIN"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(mapped.status(), 200);
    // Okta's order: every person, then each group and its members.
    let mut ids = Vec::new();
    for n in 0..200 {
        let (status, _, made) = scim(
            &app,
            Method::POST,
            &org,
            "/Users",
            &secret,
            Some(json!({"userName": format!("p{n}@sync.example"), "active": true})),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        ids.push(made["id"].as_str().unwrap().to_owned());
    }
    for (g, team) in ids.chunks(50).enumerate() {
        let (status, _, group) = scim(
            &app,
            Method::POST,
            &org,
            "/Groups",
            &secret,
            Some(json!({"displayName": format!("team-{g}")})),
        )
        .await;
        assert_eq!(status, 201);
        let members: Vec<Value> = team.iter().map(|id| json!({"value": id})).collect();
        let (status, _, _) = scim(
            &app,
            Method::PATCH,
            &org,
            &format!("/Groups/{}", group["id"].as_str().unwrap()),
            &secret,
            Some(patch(
                json!([{"op": "add", "path": "members", "value": members}]),
            )),
        )
        .await;
        assert_eq!(status, 200);
    }
    let of_org = format!("SELECT count(*) AS n FROM organization_members WHERE org_id = '{org}'");
    assert_eq!(
        app.count(&format!("{of_org} AND role = 'MEMBER'")).await,
        150
    );
    assert_eq!(
        app.count(&format!("{of_org} AND role = 'ADMIN'")).await,
        50,
        "team-0 is mapped"
    );
    // The directory pages through what it made.
    let (_, _, last) = scim(
        &app,
        Method::GET,
        &org,
        "/Users?startIndex=191&count=100",
        &secret,
        None,
    )
    .await;
    assert_eq!(
        (last["totalResults"].clone(), last["itemsPerPage"].clone()),
        (json!(200), json!(10))
    );
    let (_, _, groups) = scim(
        &app,
        Method::GET,
        &org,
        "/Groups?excludedAttributes=members",
        &secret,
        None,
    )
    .await;
    assert_eq!(groups["totalResults"], json!(4));
    assert!(groups["Resources"][0].get("members").is_none());
}
