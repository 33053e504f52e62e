//! SSO configurations as identity providers of the stack's Keycloak
//! (the Admin API's `identity-provider/instances`), with the stack's
//! `customer` realm as the organization's own OpenID provider.

mod common;

use common::{client, provider};
use orgman_domain::IdentityError;
use orgman_domain::ports::LoginBroker;
use orgman_testkit::Stack;
use serde_json::Value;

fn base() -> String {
    Stack::get().keycloak_base().to_owned()
}

/// What Keycloak holds under `alias` (`None` for 404).
async fn stored(alias: &str) -> Option<Value> {
    Stack::get()
        .keycloak_admin(&format!("identity-provider/instances/{alias}"))
        .await
}

#[tokio::test]
async fn a_provider_is_created_updated_listed_and_removed() {
    let broker = client(true);
    let issuer = format!("{}/realms/customer", base());
    let mut wanted = provider(&issuer);
    broker.put_provider(&wanted).await.unwrap();

    let held = stored(&wanted.alias).await.expect("created");
    assert_eq!(held["providerId"], "oidc");
    assert_eq!(held["displayName"], "Customer login");
    assert_eq!(held["enabled"], true);
    assert_eq!(held["trustEmail"], false);
    assert_eq!(held["config"]["issuer"], issuer.as_str());
    assert_eq!(held["config"]["clientId"], "dev-broker");
    // Endpoints come from the issuer's discovery, as orgman read them.
    assert_eq!(
        held["config"]["tokenUrl"],
        format!("{issuer}/protocol/openid-connect/token").as_str()
    );
    assert_eq!(
        held["config"]["jwksUrl"],
        format!("{issuer}/protocol/openid-connect/certs").as_str()
    );
    assert_eq!(held["config"]["pkceEnabled"], "true");

    // Written again: renamed and disabled in place, same alias.
    wanted.display_name = "Customer login (paused)".into();
    wanted.enabled = false;
    broker.put_provider(&wanted).await.unwrap();
    let held = stored(&wanted.alias).await.expect("still there");
    assert_eq!(held["displayName"], "Customer login (paused)");
    assert_eq!(held["enabled"], false);

    assert!(
        broker
            .provider_aliases()
            .await
            .unwrap()
            .contains(&wanted.alias)
    );

    broker.remove_provider(&wanted.alias).await.unwrap();
    assert_eq!(stored(&wanted.alias).await, None);
    assert!(
        !broker
            .provider_aliases()
            .await
            .unwrap()
            .contains(&wanted.alias)
    );
    // Removing what is gone is not an error.
    broker.remove_provider(&wanted.alias).await.unwrap();
}

#[tokio::test]
async fn loopback_issuers_are_refused_outside_development_and_nothing_reaches_keycloak() {
    let broker = client(false);
    let wanted = provider(&format!("{}/realms/customer", base()));
    let error = broker.put_provider(&wanted).await.unwrap_err();
    assert!(matches!(error, IdentityError::Rejected(_)), "{error:?}");
    assert_eq!(stored(&wanted.alias).await, None);
}

#[tokio::test]
async fn an_issuer_that_does_not_answer_is_retried_later_and_a_foreign_one_refused() {
    let broker = client(true);
    // Nothing listens there: worth retrying.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let silent = provider(&format!("http://127.0.0.1:{port}/realms/customer"));
    let error = broker.put_provider(&silent).await.unwrap_err();
    assert!(matches!(error, IdentityError::Unavailable(_)), "{error:?}");

    // A document naming another issuer (the customer realm's, served under
    // `localhost`) is refused for good.
    let foreign = provider(&format!(
        "{}/realms/customer",
        base().replace("127.0.0.1", "localhost")
    ));
    let error = broker.put_provider(&foreign).await.unwrap_err();
    assert!(matches!(error, IdentityError::Rejected(_)), "{error:?}");
    assert_eq!(stored(&silent.alias).await, None);
    assert_eq!(stored(&foreign.alias).await, None);
}

#[tokio::test]
async fn only_orgman_aliases_are_managed() {
    let broker = client(true);
    let mut foreign = provider(&format!("{}/realms/customer", base()));
    foreign.alias = "corporate-google".into();
    let error = broker.put_provider(&foreign).await.unwrap_err();
    assert!(matches!(error, IdentityError::Rejected(_)), "{error:?}");
}

#[tokio::test]
async fn endpoints_that_stop_passing_the_address_rule_are_refused_and_the_provider_can_be_switched_off()
 {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // Nothing on this machine is public: the rule is injected, and
    // "DNS changes" by flipping what counts as public.
    let loopback_public = Arc::new(AtomicBool::new(true));
    let judged = loopback_public.clone();
    let rule = orgman_keycloak::AddressRule {
        allow_http: true,
        reachable: Arc::new(move |ip| {
            orgman_keycloak::is_public(ip) || (ip.is_loopback() && judged.load(Ordering::SeqCst))
        }),
    };
    let broker = client(false).with_address_rule(rule);
    let wanted = provider(&format!("{}/realms/customer", base()));
    broker.put_provider(&wanted).await.unwrap();
    assert_eq!(stored(&wanted.alias).await.unwrap()["enabled"], true);

    loopback_public.store(false, Ordering::SeqCst);
    let error = broker.put_provider(&wanted).await.unwrap_err();
    assert!(matches!(error, IdentityError::Rejected(_)), "{error:?}");
    // The refusal alone leaves Keycloak's provider as it was ...
    assert_eq!(stored(&wanted.alias).await.unwrap()["enabled"], true);
    // ... switching it off is a call of its own, which checks nothing.
    assert!(broker.disable_provider(&wanted.alias).await.unwrap());
    let held = stored(&wanted.alias).await.unwrap();
    assert_eq!(held["enabled"], false);
    assert_eq!(held["displayName"], "Customer login", "the rest is kept");
    assert!(
        !broker.disable_provider(&wanted.alias).await.unwrap(),
        "already off"
    );
    broker.remove_provider(&wanted.alias).await.unwrap();
    assert!(
        !broker.disable_provider(&wanted.alias).await.unwrap(),
        "absent"
    );
}
