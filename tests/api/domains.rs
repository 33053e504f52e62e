//! Verified domains over HTTP, against a real name server of the test's own.

use orgman_testkit::{ALICE, BOB, CAROL, PrivateDns};
use serde_json::json;

use crate::helpers::{Overrides, TestApp, assert_problem, body};

#[tokio::test]
async fn a_domain_is_verified_through_dns_by_one_organization() {
    let dns = PrivateDns::start();
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("ORGMAN_DNS_NAMESERVERS", dns.address().to_string());
    let app = TestApp::spawn_with(overrides, false).await;
    let acme = app.org_owned_by("acme-domains", ALICE).await;
    let rival = app.org_owned_by("rival-domains", BOB).await;
    let alice = app.token(ALICE).await;
    let bob = app.token(BOB).await;
    let acme_path = format!("/api/v1/organizations/{acme}/domains");
    let rival_path = format!("/api/v1/organizations/{rival}/domains");

    let claimed = app
        .post(&acme_path, &alice, json!({"domain": "Acme.Example"}))
        .await;
    assert_eq!(claimed.status(), 201);
    let claimed = body(claimed).await;
    assert_eq!(claimed["domain"], "acme.example");
    assert_eq!(claimed["verified"], false);
    assert_eq!(claimed["record"]["name"], "_orgman-challenge.acme.example");
    assert_eq!(claimed["record"]["type"], "TXT");
    let value = claimed["record"]["value"].as_str().unwrap().to_owned();
    assert_problem(
        app.post(&acme_path, &alice, json!({"domain": "not a domain"}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        app.post(&acme_path, &alice, json!({"domain": "acme.example"}))
            .await,
        409,
        "domain-claimed",
    )
    .await;

    let verify = format!("{acme_path}/acme.example/verify");
    assert_problem(
        app.post(&verify, &alice, json!({})).await,
        422,
        "domain-not-verified",
    )
    .await;
    dns.publish("_orgman-challenge.acme.example", &value);
    let verified = app.post(&verify, &alice, json!({})).await;
    assert_eq!(verified.status(), 200);
    let verified = body(verified).await;
    assert_eq!(verified["verified"], true);
    assert!(verified["verifiedAt"].is_string());

    // The rival claims it too and publishes its own value: too late.
    let rival_claim = body(
        app.post(&rival_path, &bob, json!({"domain": "acme.example"}))
            .await,
    )
    .await;
    dns.publish(
        "_orgman-challenge.acme.example",
        rival_claim["record"]["value"].as_str().unwrap(),
    );
    let rival_verify = format!("{rival_path}/acme.example/verify");
    assert_problem(
        app.post(&rival_verify, &bob, json!({})).await,
        409,
        "domain-verified-elsewhere",
    )
    .await;

    // Only OWNERs and ADMINs see and manage domains.
    let carol = app.token(CAROL).await;
    app.provision(CAROL).await;
    assert_eq!(
        app.post(
            &format!("/api/v1/organizations/{acme}/members"),
            &alice,
            json!({"userId": CAROL.id})
        )
        .await
        .status(),
        201
    );
    assert_problem(app.get(&acme_path, &carol).await, 403, "permission-denied").await;
    assert_problem(
        app.get(&acme_path, &bob).await,
        404,
        "organization-not-found",
    )
    .await;
    let listed = body(app.get(&acme_path, &alice).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Given up by Acme, the rival verifies it.
    assert_eq!(
        app.delete(&format!("{acme_path}/acme.example"), &alice)
            .await
            .status(),
        204
    );
    assert_eq!(app.post(&rival_verify, &bob, json!({})).await.status(), 200);

    // DNS away: 503, nothing changes.
    app.post(&acme_path, &alice, json!({"domain": "later.example"}))
        .await;
    drop(dns);
    let later = app
        .post(
            &format!("{acme_path}/later.example/verify"),
            &alice,
            json!({}),
        )
        .await;
    assert_problem(later, 503, "dependency-unavailable").await;
}
