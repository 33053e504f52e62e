//! User registration through the identity provider, end to end.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use orgman_testkit::{ADMIN, ALICE, BOB, Stack, TcpProxy, http, unique_name};
use serde_json::json;

use crate::helpers::{Overrides, TestApp, assert_problem, body};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn local_users_with(app: &TestApp, email: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    diesel::sql_query("SELECT count(*) AS n FROM users WHERE email = $1")
        .bind::<Text, _>(email)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

async fn login(email: &str, password: &str) -> Option<String> {
    let response = http()
        .post(Stack::get().token_endpoint())
        .form(&[
            ("grant_type", "password"),
            ("client_id", Stack::get().test_client_id.as_str()),
            ("username", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    if !response.status().is_success() {
        return None;
    }
    let token: serde_json::Value = response.json().await.unwrap();
    token["access_token"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn an_admin_registers_a_user_who_logs_in_and_reads_their_organization() {
    let app = TestApp::spawn().await;
    let org = app.create_org("acme").await;
    let admin = app.token(ADMIN).await;
    let email = format!("{}@example.com", unique_name("new"));

    let created = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": email, "firstName": "Nia", "lastName": "New", "password": "nia-password", "organizationId": org}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let user = body(created).await;
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["displayName"], "Nia New");
    assert!(user.get("password").is_none());

    let token = login(&email, "nia-password")
        .await
        .expect("the new user logs in");
    let me = body(app.get("/api/v1/users/me", &token).await).await;
    assert_eq!(me["id"], user["id"]);
    let mine = body(app.get("/api/v1/organizations/mine", &token).await).await;
    assert_eq!(mine["items"][0]["id"], org.as_str());
    assert_eq!(mine["items"][0]["role"], "MEMBER");
    assert_eq!(local_users_with(&app, &email).await, 1);

    // The same address again.
    assert_problem(
        app.post("/api/v1/users", &admin, json!({"email": email}))
            .await,
        409,
        "user-exists",
    )
    .await;
    let problem = assert_problem(
        app.post("/api/v1/users", &admin, json!({"email": "not-an-email"}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "email");
    assert_problem(
        app.post(
            "/api/v1/users",
            &admin,
            json!({"email": "x@example.com", "role": "ADMIN"}),
        )
        .await,
        400,
        "role-without-organization",
    )
    .await;
}

#[tokio::test]
async fn organization_owners_register_into_their_organization_only() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let alice = app.token(ALICE).await;
    let email = |tag: &str| format!("{}-{tag}@example.com", unique_name("reg"));

    assert_problem(
        app.post("/api/v1/users", &alice, json!({"email": email("a")}))
            .await,
        403,
        "platform-admin-required",
    )
    .await;
    // An organization's OWNER invites rather than adds (see below).
    let created = app
        .post(
            "/api/v1/users",
            &alice,
            json!({"email": email("b"), "organizationId": org, "role": "ADMIN"}),
        )
        .await;
    assert_eq!(created.status(), 202);

    let other = app.org_owned_by("bobs", BOB).await;
    let refused = email("c");
    assert_problem(
        app.post(
            "/api/v1/users",
            &alice,
            json!({"email": refused, "organizationId": other}),
        )
        .await,
        404,
        "organization-not-found",
    )
    .await;
    assert_eq!(local_users_with(&app, &refused).await, 0);
}

#[tokio::test]
async fn provider_outage_registers_nothing_and_issued_tokens_keep_working() {
    let base = Stack::get()
        .oidc_issuer
        .split("/realms/")
        .next()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    let proxy = TcpProxy::start(&base).await;
    let mut overrides = Overrides::default();
    overrides.0.insert(
        "SECURITY_OAUTH2_BASE_SERVER_URL",
        format!("http://{}", proxy.address()),
    );
    overrides
        .0
        .insert("SECURITY_JWKS_MIN_REFRESH_SECONDS", "0".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let admin = app.token(ADMIN).await;
    assert_eq!(app.get("/api/v1/users/me", &admin).await.status(), 200);

    proxy.cut();
    // Keys loaded at start-up still verify issued tokens.
    assert_eq!(app.get("/api/v1/organizations", &admin).await.status(), 200);
    let email = format!("{}@example.com", unique_name("outage"));
    let problem = assert_problem(
        app.post("/api/v1/users", &admin, json!({"email": email}))
            .await,
        503,
        "dependency-unavailable",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("retry"));
    assert_eq!(
        local_users_with(&app, &email).await,
        0,
        "nothing half-created"
    );
    // A token signed by a key the service has never seen cannot be checked.
    let parts: Vec<&str> = admin.split('.').collect();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"rotated-key"}"#);
    let unknown = format!("{header}.{}.{}", parts[1], parts[2]);
    assert_problem(
        app.get("/api/v1/users/me", &unknown).await,
        503,
        "identity-provider-unavailable",
    )
    .await;
    proxy.restore();
}

#[tokio::test]
async fn an_organization_admin_invites_and_learns_nothing_about_existing_accounts() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let alice = app.token(ALICE).await;
    let fresh = format!("{}@example.com", unique_name("fresh"));
    let register = |email: String| {
        let app = &app;
        let alice = alice.clone();
        let org = org.clone();
        async move {
            app.post(
                "/api/v1/users",
                &alice,
                json!({"email": email, "password": "chosen-by-the-admin", "organizationId": org}),
            )
            .await
        }
    };
    let new_account = register(fresh.clone()).await;
    let existing_account = register(orgman_testkit::CAROL.email.to_owned()).await;
    assert_eq!(new_account.status(), 202);
    assert_eq!(existing_account.status(), 202, "no user-exists oracle");
    let (new_account, existing_account) = (body(new_account).await, body(existing_account).await);
    let keys = |v: &serde_json::Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&new_account), keys(&existing_account));
    assert_eq!(new_account["status"], "PENDING");
    assert!(new_account["token"].is_string());

    // Nobody joined: both must accept their invitation.
    let members = body(
        app.get(&format!("/api/v1/organizations/{org}/members"), &alice)
            .await,
    )
    .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    // The new account cannot be used with the password the admin chose:
    // its owner verifies the address and picks a password first.
    assert!(login(&fresh, "chosen-by-the-admin").await.is_none());
    // Nor is the address claimed locally: its owner appears at their own
    // first login (where a verified domain's autoJoin applies to them).
    assert_eq!(local_users_with(&app, &fresh).await, 0);
    // The existing account is untouched and joins by accepting.
    let carol = app.token(orgman_testkit::CAROL).await;
    let accepted = app
        .post(
            "/api/v1/invitations/accept",
            &carol,
            json!({"token": existing_account["token"]}),
        )
        .await;
    assert_eq!(accepted.status(), 200);
}

#[tokio::test]
async fn a_person_erases_themselves_and_leaves_no_readable_address() {
    let app = TestApp::spawn().await;
    let admin = app.token(ADMIN).await;
    let member_of = app.create_org(&unique_name("era")).await;
    let invited_to = app.create_org(&unique_name("erb")).await;
    let owned = app.create_org(&unique_name("erc")).await;
    let email = format!("{}@example.com", unique_name("gone"));
    let created = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": email, "firstName": "Gia", "lastName": "Gone", "password": "gia-password", "organizationId": member_of}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = body(created).await["id"].as_str().unwrap().to_owned();
    let invited = app
        .post(
            &format!("/api/v1/organizations/{invited_to}/invitations"),
            &admin,
            json!({"email": email}),
        )
        .await;
    assert_eq!(invited.status(), 201, "{}", invited.text().await.unwrap());
    // The only OWNER of `owned` once the administrator leaves it.
    let owners = format!("/api/v1/organizations/{owned}/members");
    let added = app
        .post(&owners, &admin, json!({"userId": id, "role": "OWNER"}))
        .await;
    assert_eq!(added.status(), 201);
    let admin_id = body(app.get("/api/v1/users/me", &admin).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.delete(&format!("{owners}/{admin_id}"), &admin)
            .await
            .status(),
        204
    );

    let token = login(&email, "gia-password")
        .await
        .expect("the user logs in");
    assert_eq!(app.get("/api/v1/users/me", &token).await.status(), 200);
    // Article 15: what orgman keeps about the person, as JSON.
    let mine = app.get("/api/v1/users/me/export", &token).await;
    assert_eq!(mine.status(), 200);
    let data = body(mine).await;
    assert_eq!(data["user"]["email"], email.as_str());
    let orgs: Vec<&str> = data["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["organizationId"].as_str().unwrap())
        .collect();
    assert!(
        orgs.contains(&member_of.as_str()) && orgs.contains(&owned.as_str()),
        "{data}"
    );
    assert_eq!(
        data["invitations"][0]["organizationId"],
        invited_to.as_str()
    );
    assert_eq!(data["invitations"][0]["state"], "PENDING");
    let audit = data["audit"].as_array().unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e["kind"]["type"] == "memberAdded" && e["organizationId"] == owned.as_str()),
        "{data}"
    );
    assert_eq!(data["auditTruncated"], false);

    let alice = app.token(ALICE).await;
    assert_problem(
        app.delete(&format!("/api/v1/users/{id}"), &alice).await,
        403,
        "platform-admin-required",
    )
    .await;
    let refused = app.delete("/api/v1/users/me", &token).await;
    assert_eq!(refused.status(), 409);
    let problem = body(refused).await;
    assert_eq!(problem["code"], "sole-owner");
    assert_eq!(problem["organizations"], json!([owned]));

    let back = app
        .post(
            &owners,
            &admin,
            json!({"userId": admin_id, "role": "OWNER"}),
        )
        .await;
    assert_eq!(back.status(), 201);
    let erased = app.delete("/api/v1/users/me", &token).await;
    assert_eq!(erased.status(), 200);
    let report = body(erased).await;
    assert_eq!(report["invitations"], 1, "{report}");
    let mut left: Vec<String> = report["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_owned())
        .collect();
    left.sort();
    let mut expected = vec![member_of.clone(), owned.clone()];
    expected.sort();
    assert_eq!(left, expected);

    // The account is gone at Keycloak, and its last token reaches nothing.
    assert!(login(&email, "gia-password").await.is_none());
    assert_problem(
        app.get("/api/v1/users/me", &token).await,
        403,
        "account-erased",
    )
    .await;
    // The audit trail keeps the invitation, under a pseudonym.
    let trail = body(
        app.get(
            &format!("/api/v1/organizations/{invited_to}/audit-events?type=organization.invitation.created"),
            &admin,
        )
        .await,
    )
    .await;
    let text = trail.to_string();
    assert!(!text.contains(&email), "{text}");
    assert!(text.contains("@erased.invalid"), "{text}");
    let again = body(app.delete(&format!("/api/v1/users/{id}"), &admin).await).await;
    assert_eq!(again["alreadyErased"], true);
    assert_problem(
        app.delete(&format!("/api/v1/users/{}", uuid::Uuid::now_v7()), &admin)
            .await,
        404,
        "user-not-found",
    )
    .await;
}

/// The stack realm's Admin API, as orgman's service account.
fn keycloak_admin() -> orgman_keycloak::KeycloakClient {
    let stack = Stack::get();
    let (base, realm) = stack.oidc_issuer.split_once("/realms/").unwrap();
    let settings = orgman_keycloak::KeycloakSettings::from_env(|name| match name {
        "SECURITY_OAUTH2_BASE_SERVER_URL" => Some(base.to_owned()),
        "SECURITY_OAUTH2_REALM" => Some(realm.to_owned()),
        "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTID" => {
            Some(stack.service_account_id.clone())
        }
        "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET" => {
            Some(stack.service_account_secret.clone())
        }
        _ => None,
    })
    .unwrap();
    orgman_keycloak::KeycloakClient::new(settings, http().clone())
}

#[tokio::test]
async fn a_user_deleted_in_keycloak_is_erased_by_orgman_after_the_grace_period() {
    use orgman_domain::ports::IdentityProvider;
    let app = TestApp::builder()
        .settings(Overrides(std::collections::HashMap::from([
            ("ORGMAN_ERASURE_CHECK_SECONDS", "1".to_owned()),
            ("ORGMAN_ERASURE_GRACE_SECONDS", "2".to_owned()),
        ])))
        .spawn()
        .await;
    let admin = app.token(ADMIN).await;
    let org = app.create_org(&unique_name("kcd")).await;
    let email = format!("{}@example.com", unique_name("deleted"));
    let created = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": email, "firstName": "Del", "lastName": "Eted", "password": "del-password", "organizationId": org}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = body(created).await["id"].as_str().unwrap().to_owned();
    let members = format!("/api/v1/organizations/{org}/members");
    let listed = |app: &TestApp, admin: String| {
        let members = members.clone();
        let id = id.clone();
        let app_url = app.address.clone();
        async move {
            let page: serde_json::Value = http()
                .get(format!("{app_url}{members}"))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["userId"] == id.as_str())
        }
    };
    assert!(listed(&app, admin.clone()).await);

    // Someone deletes the account in Keycloak's console.
    let subject = {
        let mut conn = AsyncPgConnection::establish(&app.database_url)
            .await
            .unwrap();
        #[derive(QueryableByName)]
        struct Subject {
            #[diesel(sql_type = Text)]
            subject: String,
        }
        diesel::sql_query(format!("SELECT subject FROM users WHERE id = '{id}'"))
            .get_result::<Subject>(&mut conn)
            .await
            .unwrap()
            .subject
    };
    keycloak_admin().delete(&subject).await.unwrap();

    orgman_testkit::eventually(
        "the member whose account is gone is erased",
        std::time::Duration::from_secs(30),
        || {
            let listed = listed(&app, admin.clone());
            async move { !listed.await }
        },
    )
    .await;
    assert_eq!(local_users_with(&app, &email).await, 0);
    let trail = body(
        app.get(
            &format!("/api/v1/organizations/{org}/audit-events?type=user.erased"),
            &admin,
        )
        .await,
    )
    .await;
    let entries = trail["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    assert!(entries[0]["actor"].is_null(), "orgman erased: {trail}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("orgman_account_checks_total{outcome=\"erased\"} 1"),
        "{metrics}"
    );
}
