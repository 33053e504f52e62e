//! What the adapter tests that meet Keycloak's Admin API share: orgman's
//! client as the stack's service account, a provider for the stack's
//! `customer` realm, and a raw Admin API call.

use orgman_domain::{BrokeredProvider, ClientSecret, IssuerUrl, SsoConfigId};
use orgman_keycloak::{KeycloakClient, KeycloakSettings};
use orgman_testkit::{Stack, http};
use reqwest::Method;
use serde_json::Value;

/// `method` of `/admin/realms/{realm}{path}` with `token`: the status and
/// the JSON body (`Null` when there is none).
#[allow(dead_code, reason = "not every test binary calls the Admin API itself")]
pub(crate) async fn call(
    token: &str,
    realm: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!(
        "{}/admin/realms/{realm}{path}",
        Stack::get().keycloak_base()
    );
    let mut request = http().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("Keycloak reachable");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// orgman's Keycloak client as the stack's service account; loopback
/// issuers allowed when `allow_private`.
pub(crate) fn client(allow_private: bool) -> KeycloakClient {
    let stack = Stack::get();
    let settings = KeycloakSettings::from_env(|name| match name {
        "SECURITY_OAUTH2_BASE_SERVER_URL" => Some(stack.keycloak_base().to_owned()),
        "SECURITY_OAUTH2_SA_REALM" => Some("dev".into()),
        "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTID" => {
            Some(stack.service_account_id.clone())
        }
        "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET" => {
            Some(stack.service_account_secret.clone())
        }
        _ => None,
    })
    .unwrap();
    KeycloakClient::new(settings, http().clone()).with_private_issuers(allow_private)
}

/// A provider under a fresh `orgman-*` alias whose issuer is `issuer`,
/// with the `customer` realm's `dev-broker` client.
#[allow(dead_code, reason = "not every test binary writes providers")]
pub(crate) fn provider(issuer: &str) -> BrokeredProvider {
    BrokeredProvider {
        alias: BrokeredProvider::alias_of(SsoConfigId::from_uuid(uuid::Uuid::now_v7())),
        display_name: "Customer login".into(),
        connection: orgman_domain::BrokeredConnection::Oidc {
            issuer_url: IssuerUrl::parse(issuer, true).unwrap(),
            client_id: "dev-broker".into(),
            client_secret: ClientSecret::new("customer-broker-secret".into()),
        },
        enabled: true,
        organization: None,
        login_domain: None,
        email_domains: None,
    }
}
