//! What orgman's Keycloak service account may and may not do in the stack's
//! `dev` realm, asked of the real Keycloak with the account's own token:
//! the escalations it must not reach, and its grants read back (as
//! Keycloak's own administrator) and compared with the table in
//! docs/identity.md, so that a grant nobody documented fails the suite.

use std::collections::BTreeSet;

mod common;

use orgman_domain::ports::LoginBroker;
use orgman_testkit::{BOB, DAN, Stack, customer_issuer};
use reqwest::Method;
use serde_json::{Value, json};

/// The docs/identity.md heading whose table lists the account's grants.
const GRANTS_HEADING: &str = "### What the service account holds";

/// `method path` of the `dev` realm's Admin API with `token`.
async fn call(token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    common::call(token, "dev", method, path, body).await
}

/// GET `path` as Keycloak's own administrator; panics unless 200.
async fn read(path: &str) -> Value {
    let master = Stack::get().keycloak_master_token().await;
    let (status, body) = call(&master, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn id_of_user(username: &str) -> String {
    let found = read(&format!("/users?username={username}&exact=true")).await;
    found[0]["id"].as_str().expect("the user exists").to_owned()
}

fn service_account_username() -> String {
    format!("service-account-{}", Stack::get().service_account_id)
}

#[tokio::test]
async fn the_service_account_cannot_give_anyone_a_realm_role_or_an_admin_role() {
    let token = Stack::get().service_account_token().await;
    let bob = id_of_user(BOB.username).await;
    let admin_role = read("/roles/ADMIN").await;
    let mapping = format!("/users/{bob}/role-mappings/realm");
    let (status, _) = call(&token, Method::POST, &mapping, Some(json!([admin_role]))).await;
    if status < 300 {
        // Undone before failing, so that the shared realm's Bob stays a user.
        let master = Stack::get().keycloak_master_token().await;
        call(&master, Method::DELETE, &mapping, Some(json!([admin_role]))).await;
    }
    assert_eq!(status, 403, "mapping the platform administrators' role");

    let realm_management = read("/clients?clientId=realm-management").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let realm_admin = read(&format!("/clients/{realm_management}/roles/realm-admin")).await;
    let mapping = format!("/users/{bob}/role-mappings/clients/{realm_management}");
    let (status, _) = call(&token, Method::POST, &mapping, Some(json!([realm_admin]))).await;
    if status < 300 {
        let master = Stack::get().keycloak_master_token().await;
        call(
            &master,
            Method::DELETE,
            &mapping,
            Some(json!([realm_admin])),
        )
        .await;
    }
    assert_eq!(status, 403, "mapping realm-admin");

    let roles = read(&format!("/users/{bob}/role-mappings")).await;
    let realm: Vec<&str> = roles["realmMappings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(!realm.contains(&"ADMIN"), "{roles}");
    assert!(roles["clientMappings"].get("realm-management").is_none());
}

#[tokio::test]
async fn the_service_account_cannot_read_or_add_signing_keys_nor_change_the_realm() {
    let token = Stack::get().service_account_token().await;
    let (status, _) = call(
        &token,
        Method::GET,
        "/components?type=org.keycloak.keys.KeyProvider",
        None,
    )
    .await;
    assert_eq!(status, 403, "reading the realm's key providers");

    let realm_id = read("").await["id"].as_str().unwrap().to_owned();
    let name = orgman_testkit::unique_name("planted-key");
    let (status, _) = call(
        &token,
        Method::POST,
        "/components",
        Some(json!({
            "name": name,
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": {"priority": ["1000"], "enabled": ["true"], "active": ["true"]},
        })),
    )
    .await;
    assert_eq!(status, 403, "adding a signing key");
    let keys = read("/components?type=org.keycloak.keys.KeyProvider").await;
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .all(|k| k["name"].as_str() != Some(name.as_str())),
        "no key was planted"
    );

    let before = read("").await;
    let (status, _) = call(
        &token,
        Method::PUT,
        "",
        Some(json!({"bruteForceProtected": false, "accessTokenLifespan": 86_400})),
    )
    .await;
    assert_eq!(status, 403, "changing the realm's settings");
    let after = read("").await;
    assert_eq!(after["bruteForceProtected"], before["bruteForceProtected"]);
    assert_eq!(after["accessTokenLifespan"], before["accessTokenLifespan"]);
}

/// `manage-identity-providers` has no narrower replacement, and Keycloak
/// stores any mapper on a provider its holder may manage. The stack's
/// Keycloak is built without the mappers that grant roles, groups or
/// session notes: whatever such a mapper says, a login through the provider
/// gets no role from it.
#[tokio::test]
async fn a_role_granting_mapper_on_a_provider_grants_nothing() {
    let stack = Stack::get();
    let broker = common::client(true);
    let provider = common::provider(&customer_issuer());
    broker.put_provider(&provider).await.unwrap();
    let alias = provider.alias.as_str();

    let token = stack.service_account_token().await;
    for (name, mapper, config) in [
        (
            "grant-admin",
            "oidc-hardcoded-role-idp-mapper",
            json!({"syncMode": "FORCE", "role": "ADMIN"}),
        ),
        (
            "grant-realm-admin",
            "oidc-hardcoded-role-idp-mapper",
            json!({"syncMode": "FORCE", "role": "realm-management.realm-admin"}),
        ),
    ] {
        // Keycloak may answer 201: it checks neither the mapper's type
        // nor the role against what the caller may grant.
        let (status, body) = call(
            &token,
            Method::POST,
            &format!("/identity-provider/instances/{alias}/mappers"),
            Some(json!({
                "name": name,
                "identityProviderAlias": alias,
                "identityProviderMapper": mapper,
                "config": config,
            })),
        )
        .await;
        assert!(
            matches!(status, 201 | 400 | 403),
            "adding {name}: {status} {body}"
        );
    }

    // Keycloak finds no mapper of that type and fails the login (a 500 at
    // the broker endpoint, "Failed to make identity provider oauth
    // callback"): the provider stops working instead of granting.
    orgman_testkit::forget_dev_user(DAN.email).await;
    let refused = orgman_testkit::login_through(alias, DAN).await;
    if refused.is_ok() {
        // Undone before failing: Dan's account holds what the mapper gave.
        orgman_testkit::forget_dev_user(DAN.email).await;
        broker.remove_provider(alias).await.unwrap();
    }
    assert!(
        refused.is_err(),
        "a login with a role-granting mapper completed"
    );
    let accounts = read(&format!("/users?email={}&exact=true", DAN.email)).await;
    for account in accounts.as_array().unwrap() {
        let held = read(&format!(
            "/users/{}/role-mappings",
            account["id"].as_str().unwrap()
        ))
        .await;
        assert!(
            held["clientMappings"].get("realm-management").is_none(),
            "{held}"
        );
        assert!(
            !held["realmMappings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "ADMIN"),
            "{held}"
        );
    }

    orgman_testkit::forget_dev_user(DAN.email).await;
    broker.remove_provider(alias).await.unwrap();
}

/// Every grant the account holds in the realm, named as the table names
/// them: `realm: <role>`, `<client>: <role>` for roles mapped to the
/// account directly, and `<ResourceType>: <scope>` for each scope of an
/// admin permission (v2) whose policies name the account.
async fn held_grants() -> BTreeSet<String> {
    let account = id_of_user(&service_account_username()).await;
    let mut grants = BTreeSet::new();
    let roles = read(&format!("/users/{account}/role-mappings")).await;
    for role in roles["realmMappings"].as_array().into_iter().flatten() {
        grants.insert(format!("realm: {}", role["name"].as_str().unwrap()));
    }
    if let Some(clients) = roles["clientMappings"].as_object() {
        for (client, mapping) in clients {
            for role in mapping["mappings"].as_array().into_iter().flatten() {
                grants.insert(format!("{client}: {}", role["name"].as_str().unwrap()));
            }
        }
    }

    let permissions_client = read("/clients?clientId=admin-permissions").await;
    let Some(client) = permissions_client[0]["id"].as_str() else {
        return grants;
    };
    let client_of_account = read(&format!(
        "/clients?clientId={}",
        Stack::get().service_account_id
    ))
    .await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = format!("/clients/{client}/authz/resource-server");
    let permissions = read(&format!("{server}/permission?max=1000")).await;
    for permission in permissions.as_array().unwrap() {
        let id = permission["id"].as_str().unwrap();
        let policies = read(&format!("{server}/policy/{id}/associatedPolicies")).await;
        let mut names_account = false;
        for policy in policies.as_array().unwrap() {
            let (kind, policy_id) = (
                policy["type"].as_str().unwrap(),
                policy["id"].as_str().unwrap(),
            );
            let named = match kind {
                "user" => &read(&format!("{server}/policy/user/{policy_id}")).await["users"],
                "client" => &read(&format!("{server}/policy/client/{policy_id}")).await["clients"],
                other => panic!("a permission with a {other} policy: teach this test to read it"),
            };
            names_account |= named
                .as_array()
                .unwrap()
                .iter()
                .any(|id| *id == account.as_str() || *id == client_of_account.as_str());
        }
        if !names_account {
            continue;
        }
        let resource_type = permission["resourceType"].as_str().unwrap();
        let scopes = read(&format!("{server}/policy/{id}/scopes")).await;
        for scope in scopes.as_array().unwrap() {
            grants.insert(format!(
                "{resource_type}: {}",
                scope["name"].as_str().unwrap()
            ));
        }
    }
    grants
}

/// The first column of the grants table in docs/identity.md.
fn documented_grants() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/identity.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split(GRANTS_HEADING)
        .nth(1)
        .unwrap_or_else(|| panic!("docs/identity.md has no {GRANTS_HEADING:?}"));
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            row.split('|')
                .nth(1)
                .unwrap()
                .trim()
                .trim_matches('`')
                .to_owned()
        })
        .collect()
}

/// The grants the Helm chart prints after an install are the table's (the
/// realm's default roles named for any realm).
#[test]
fn the_charts_notes_list_the_tables_grants() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/helm/organization-manager/templates/NOTES.txt"
    );
    let notes = std::fs::read_to_string(path).unwrap();
    let listed: BTreeSet<String> = notes
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|l| l.split("  ").next().unwrap().trim().to_owned())
        .collect();
    let documented: BTreeSet<String> = documented_grants()
        .into_iter()
        .map(|grant| grant.replace("default-roles-dev", "default-roles-<realm>"))
        .collect();
    assert_eq!(listed, documented);
}

#[tokio::test]
async fn every_grant_of_the_service_account_is_in_the_table_and_nothing_more() {
    let held = held_grants().await;
    let documented = documented_grants();
    let undocumented: Vec<&String> = held.difference(&documented).collect();
    let missing: Vec<&String> = documented.difference(&held).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "held but not in docs/identity.md: {undocumented:?}; in the table but not held: {missing:?}"
    );
    // What the table must never hold again.
    for gone in [
        "realm-management: manage-realm",
        "realm-management: manage-users",
        "realm-management: realm-admin",
    ] {
        assert!(!held.contains(gone), "{gone}");
    }
}
