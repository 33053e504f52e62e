//! A first login through an organization's provider never takes over an
//! account: against the stack's real Keycloak (the `dev` realm brokering,
//! the `customer` realm playing the providers), with a mail sink as the
//! `dev` realm's SMTP server, so that the link-by-mail branch really runs.
//!
//! One test, the scenarios in turn: they share the realm's SMTP setting.

mod common;

use orgman_domain::ports::LoginBroker;
use orgman_testkit::{MailSink, RealmUser, Stack, customer_issuer, unique_name};
use reqwest::Method;
use serde_json::{Value, json};

async fn admin(realm: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let token = Stack::get().keycloak_master_token().await;
    common::call(&token, realm, method, path, body).await
}

/// A person with a password in `realm`; leaked to give the testkit's
/// `'static` user.
async fn person(realm: &str, email: &str) -> RealmUser {
    let username: &'static str = Box::leak(unique_name("p").into_boxed_str());
    let email: &'static str = Box::leak(email.to_owned().into_boxed_str());
    let password: &'static str = Box::leak(format!("{username}-password").into_boxed_str());
    let (status, body) = admin(
        realm,
        Method::POST,
        "/users",
        Some(json!({
            "username": username,
            "email": email,
            "emailVerified": true,
            "firstName": "Pat",
            "lastName": "Example",
            "enabled": true,
            "credentials": [{"type": "password", "value": password, "temporary": false}],
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    RealmUser {
        id: "",
        username,
        password,
        email,
    }
}

/// The `dev` realm's accounts with `email`: id and the aliases of the
/// providers linked to each.
async fn dev_accounts(email: &str) -> Vec<(String, Vec<String>)> {
    let (_, found) = admin(
        "dev",
        Method::GET,
        &format!("/users?email={email}&exact=true"),
        None,
    )
    .await;
    let mut accounts = Vec::new();
    for user in found.as_array().unwrap() {
        let id = user["id"].as_str().unwrap().to_owned();
        let (_, links) = admin(
            "dev",
            Method::GET,
            &format!("/users/{id}/federated-identity"),
            None,
        )
        .await;
        let aliases = links
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["identityProvider"].as_str().unwrap().to_owned())
            .collect();
        accounts.push((id, aliases));
    }
    accounts
}

/// An organization's provider (the `customer` realm) that may log in the
/// addresses of `domains`.
async fn organizations_provider(domains: &[&str]) -> String {
    let mut provider = common::provider(&customer_issuer());
    provider.organization = Some(orgman_domain::OrganizationId::from_uuid(
        uuid::Uuid::now_v7(),
    ));
    provider.email_domains = Some(domains.iter().map(|d| (*d).to_owned()).collect());
    common::client(true).put_provider(&provider).await.unwrap();
    provider.alias
}

fn mails_to(sink: &MailSink, address: &str) -> usize {
    sink.received()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizations_provider_never_takes_over_an_account() {
    let sink = MailSink::start().await;
    let (status, body) = admin(
        "dev",
        Method::PUT,
        "",
        Some(json!({"smtpServer": {
            "host": "127.0.0.1",
            "port": sink.port().to_string(),
            "from": "keycloak@orgman.test",
        }})),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // The attacker's organization verified customer.example; its provider
    // is the customer realm, where the attacker makes accounts at will.
    let attacker = organizations_provider(&["customer.example"]).await;
    let victims = format!("{}.example", unique_name("victim"));
    let rightful = organizations_provider(&[victims.as_str()]).await;

    // 1. Linking: the victim has an account; the attacker's provider
    //    asserts the victim's address.
    let address = format!("{}@{victims}", unique_name("vic"));
    person("dev", &address).await;
    let impostor = person("customer", &address).await;
    let refused = orgman_testkit::login_through(&attacker, impostor).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|page| page.contains("only for addresses of the domains it has verified")),
        "{refused:?}"
    );
    assert_eq!(mails_to(&sink, &address), 0, "no link-confirmation mail");
    let accounts = dev_accounts(&address).await;
    assert_eq!(accounts.len(), 1);
    assert!(accounts[0].1.is_empty(), "nothing linked: {accounts:?}");

    // The branch the attacker was kept from is real: the provider of the
    // organization that verified the victim's domain reaches it, and the
    // account holder is asked by mail.
    let reached = orgman_testkit::login_through(&rightful, impostor).await;
    assert!(reached.is_err(), "linking waits for the mail: {reached:?}");
    orgman_testkit::eventually(
        "the link-confirmation mail reaches the account holder",
        std::time::Duration::from_secs(15),
        || async { mails_to(&sink, &address) == 1 },
    )
    .await;
    assert!(
        dev_accounts(&address).await[0].1.is_empty(),
        "not before the mail is answered"
    );

    // 2. Pre-hijack: the attacker's provider comes first, for an address
    //    that has no account yet; the real person's provider later.
    let address = format!("{}@{victims}", unique_name("pre"));
    let squatter = person("customer", &address).await;
    let refused = orgman_testkit::login_through(&attacker, squatter).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        dev_accounts(&address).await.is_empty(),
        "no account was made"
    );
    let token = orgman_testkit::login_through(&rightful, squatter)
        .await
        .expect("the organization that verified the domain logs its person in");
    assert!(!token.is_empty());
    let accounts = dev_accounts(&address).await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        accounts[0].1,
        vec![rightful.clone()],
        "linked to theirs only"
    );
    assert_eq!(mails_to(&sink, &address), 0);

    // Addresses of the attacker's own verified domain still log in.
    let own = person(
        "customer",
        &format!("{}@customer.example", unique_name("own")),
    )
    .await;
    orgman_testkit::login_through(&attacker, own)
        .await
        .expect("an address of the provider's verified domain");

    let (status, _) = admin("dev", Method::PUT, "", Some(json!({"smtpServer": {}}))).await;
    assert_eq!(status, 204);
    for email in [own.email] {
        orgman_testkit::forget_dev_user(email).await;
    }
    for alias in [&attacker, &rightful] {
        common::client(true).remove_provider(alias).await.unwrap();
    }
}
