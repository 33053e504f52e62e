//! What the adapter tests that write identity providers share: orgman's
//! client as the stack's service account, and a provider for the stack's
//! `customer` realm.

use orgman_domain::{BrokeredProvider, ClientSecret, IssuerUrl, SsoConfigId};
use orgman_keycloak::{KeycloakClient, KeycloakSettings};
use orgman_testkit::{Stack, http};

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
pub(crate) fn provider(issuer: &str) -> BrokeredProvider {
    BrokeredProvider {
        alias: BrokeredProvider::alias_of(SsoConfigId::from_uuid(uuid::Uuid::now_v7())),
        display_name: "Customer login".into(),
        issuer_url: IssuerUrl::parse(issuer, true).unwrap(),
        client_id: "dev-broker".into(),
        client_secret: ClientSecret::new("customer-broker-secret".into()),
        enabled: true,
        organization: None,
        login_domain: None,
    }
}
