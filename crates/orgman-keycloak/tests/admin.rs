//! The Admin REST API calls against the stack's provider (Keycloak's URL
//! layout and user representation; see docs/identity.md for what this
//! stand-in does and does not prove).

use std::time::Duration;

use orgman_domain::ports::IdentityProvider;
use orgman_domain::{ClientSecret, Email, IdentityError, NewIdentity};
use orgman_keycloak::{KeycloakClient, KeycloakSettings};
use orgman_testkit::{Stack, TcpProxy, http, unique_name};

fn settings(base: &str, secret: &str) -> KeycloakSettings {
    let stack = Stack::get();
    KeycloakSettings::from_env(|name| match name {
        "SECURITY_OAUTH2_BASE_SERVER_URL" => Some(base.to_owned()),
        "SECURITY_OAUTH2_SA_REALM" => Some("dev".into()),
        "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTID" => {
            Some(stack.service_account_id.clone())
        }
        "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET" => {
            Some(secret.to_owned())
        }
        _ => None,
    })
    .unwrap()
}

fn base() -> String {
    Stack::get()
        .oidc_issuer
        .split("/realms/")
        .next()
        .unwrap()
        .to_owned()
}

fn client() -> KeycloakClient {
    KeycloakClient::new(
        settings(&base(), &Stack::get().service_account_secret),
        http().clone(),
    )
}

fn person(email: &str, password: Option<&str>) -> NewIdentity {
    NewIdentity {
        email: Email::parse(email).unwrap(),
        first_name: Some("Erin".into()),
        last_name: Some("Example".into()),
        password: password.map(|p| ClientSecret::new(p.into())),
        set_up_by_user: false,
    }
}

#[tokio::test]
async fn register_find_disable_and_conflicts() {
    let keycloak = client();
    let email = format!("{}@example.com", unique_name("erin"));
    let created = keycloak
        .register(&person(&email, Some("erin-password")))
        .await
        .unwrap();
    assert!(
        uuid::Uuid::parse_str(&created.subject).is_ok(),
        "id from Location: {}",
        created.subject
    );
    let found = keycloak
        .find_by_email(&Email::parse(&email).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.subject, created.subject);
    assert!(found.enabled);
    assert_eq!(
        keycloak.register(&person(&email, None)).await,
        Err(IdentityError::Conflict)
    );

    // The new user logs in with the password set at registration...
    let login = |password: &'static str| {
        let email = email.clone();
        async move {
            http()
                .post(Stack::get().token_endpoint())
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", Stack::get().test_client_id.as_str()),
                    ("username", email.as_str()),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert!(login("erin-password").await.is_success());
    // ...until disabled.
    keycloak.disable(&created.subject).await.unwrap();
    assert!(
        !keycloak
            .find_by_email(&Email::parse(&email).unwrap())
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    assert_eq!(login("erin-password").await, 400);
    assert_eq!(
        keycloak
            .find_by_email(&Email::parse("nobody-here@example.com").unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn the_token_is_cached_renewed_before_expiry_and_once_on_401() {
    let keycloak = client();
    let email = |tag: &str| format!("{}-{tag}@example.com", unique_name("tok"));
    keycloak.register(&person(&email("a"), None)).await.unwrap();
    keycloak.register(&person(&email("b"), None)).await.unwrap();
    assert_eq!(keycloak.token_requests(), 1, "cached between calls");

    // An expired token is renewed before use.
    keycloak.prime_token("expired", Duration::ZERO).await;
    keycloak.register(&person(&email("c"), None)).await.unwrap();
    assert_eq!(keycloak.token_requests(), 2);

    // A token the provider refuses (401) is renewed once, then the call
    // goes through.
    keycloak
        .prime_token("refused-token", Duration::from_secs(3600))
        .await;
    let admin_before = keycloak.admin_requests();
    keycloak.register(&person(&email("d"), None)).await.unwrap();
    assert_eq!(keycloak.token_requests(), 3);
    assert_eq!(keycloak.admin_requests(), admin_before + 2);
}

#[tokio::test]
async fn outages_and_bad_credentials_are_unavailable() {
    let target = base().trim_start_matches("http://").to_owned();
    let proxy = TcpProxy::start(&target).await;
    let keycloak = KeycloakClient::new(
        settings(
            &format!("http://{}", proxy.address()),
            &Stack::get().service_account_secret,
        ),
        http().clone(),
    );
    proxy.cut();
    let email = format!("{}@example.com", unique_name("down"));
    assert!(matches!(
        keycloak.register(&person(&email, None)).await,
        Err(IdentityError::Unavailable(_))
    ));
    proxy.restore();
    let wrong = KeycloakClient::new(settings(&base(), "not-the-secret"), http().clone());
    let refused = wrong.register(&person(&email, None)).await;
    assert!(
        // The provider's OAuth error: Keycloak answers a wrong client
        // secret with `unauthorized_client`.
        matches!(&refused, Err(IdentityError::Unavailable(reason))
            if reason.contains("refused") && reason.contains("unauthorized_client")),
        "{refused:?}"
    );
    // Nothing was created by either attempt.
    assert_eq!(
        client()
            .find_by_email(&Email::parse(&email).unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn deleted_accounts_are_missing_and_a_realm_that_is_gone_is_an_outage() {
    let keycloak = client();
    let kept = keycloak
        .register(&person(
            &format!("{}@example.com", unique_name("kept")),
            None,
        ))
        .await
        .unwrap();
    let gone = keycloak
        .register(&person(
            &format!("{}@example.com", unique_name("gone")),
            None,
        ))
        .await
        .unwrap();
    let never = uuid::Uuid::new_v4().to_string();
    let subjects = vec![
        kept.subject.clone(),
        gone.subject.clone(),
        never.clone(),
        "another-issuers-subject".to_owned(),
    ];
    assert_eq!(
        keycloak.missing_accounts(&subjects).await.unwrap(),
        vec![never.clone()]
    );
    keycloak.delete(&gone.subject).await.unwrap();
    let mut missing = keycloak.missing_accounts(&subjects).await.unwrap();
    missing.sort();
    let mut expected = vec![gone.subject.clone(), never];
    expected.sort();
    assert_eq!(missing, expected);

    // Pointed at a realm that does not exist, every user would answer 404:
    // the check reports an outage instead of a realm of missing accounts.
    let stack = Stack::get();
    let lost = KeycloakClient::new(
        KeycloakSettings::from_env(|name| match name {
            "SECURITY_OAUTH2_BASE_SERVER_URL" => Some(base()),
            "SECURITY_OAUTH2_SA_REALM" => Some("dev".into()),
            "SECURITY_OAUTH2_REALM" => Some(unique_name("gone-realm")),
            "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTID" => {
                Some(stack.service_account_id.clone())
            }
            "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET" => {
                Some(stack.service_account_secret.clone())
            }
            _ => None,
        })
        .unwrap(),
        http().clone(),
    );
    assert!(matches!(
        lost.missing_accounts(&subjects).await,
        Err(IdentityError::Unavailable(_))
    ));
}
