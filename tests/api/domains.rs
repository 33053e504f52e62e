//! Verified domains over HTTP, against a real name server of the test's own.

use orgman_testkit::{ADMIN, ALICE, BOB, CAROL, PrivateDns};
use serde_json::json;

use crate::helpers::{Overrides, TestApp, assert_problem, body};

#[tokio::test]
async fn a_domain_is_verified_through_dns_by_one_organization() {
    let dns = PrivateDns::start();
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("ORGMAN_DNS_NAMESERVERS", dns.address().to_string());
    let app = TestApp::builder().settings(overrides).spawn().await;
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

#[tokio::test]
async fn users_of_an_auto_join_domain_become_members_at_their_first_login() {
    let dns = PrivateDns::start();
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("ORGMAN_DNS_NAMESERVERS", dns.address().to_string());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let acme = app.org_owned_by("acme-auto-join", ALICE).await;
    let alice = app.token(ALICE).await;
    let domains = format!("/api/v1/organizations/{acme}/domains");
    // The realm's users have verified addresses at orgman.test.
    let claimed = body(
        app.post(&domains, &alice, json!({"domain": "orgman.test"}))
            .await,
    )
    .await;
    assert_eq!(claimed["autoJoin"], false);
    assert_eq!(claimed["ssoRequired"], false);
    let policy = format!("{domains}/orgman.test");
    assert_problem(
        app.patch(&policy, &alice, json!({"autoJoin": true})).await,
        409,
        "domain-unverified",
    )
    .await;
    assert_problem(
        app.patch(&policy, &alice, json!({"autoJoin": "yes"})).await,
        400,
        "malformed-body",
    )
    .await;
    dns.publish(
        "_orgman-challenge.orgman.test",
        claimed["record"]["value"].as_str().unwrap(),
    );
    assert_eq!(
        app.post(&format!("{policy}/verify"), &alice, json!({}))
            .await
            .status(),
        200
    );
    let changed = app.patch(&policy, &alice, json!({"autoJoin": true})).await;
    assert_eq!(changed.status(), 200);
    let changed = body(changed).await;
    assert_eq!(changed["autoJoin"], true);
    assert_eq!(changed["ssoRequired"], false);
    let both = body(
        app.patch(&policy, &alice, json!({"ssoRequired": true}))
            .await,
    )
    .await;
    assert_eq!(
        (both["autoJoin"].clone(), both["ssoRequired"].clone()),
        (json!(true), json!(true))
    );
    // Alice's own address is at orgman.test, and her token is a password
    // grant's, not her organization's provider's: from now on it does not
    // count in Acme, for reads and writes alike, at once.
    let acme_path = format!("/api/v1/organizations/{acme}");
    for refused in [
        app.get(&acme_path, &alice).await,
        app.get(&domains, &alice).await,
        app.get(&format!("{acme_path}/members"), &alice).await,
        app.patch(&acme_path, &alice, json!({"name": "Acme renamed"}))
            .await,
        app.patch(&policy, &alice, json!({"ssoRequired": false}))
            .await,
    ] {
        assert_problem(refused, 403, "sso-required").await;
    }
    // Platform administrators are exempt. Carol, whose first request
    // makes her a member (orgman.test is autoJoin), is held to it too.
    let admin = app.token(ADMIN).await;
    assert_eq!(
        body(app.get(&domains, &admin).await).await[0]["ssoRequired"],
        true
    );
    assert_problem(
        app.get(&acme_path, &app.token(CAROL).await).await,
        403,
        "sso-required",
    )
    .await;
    // Off again (by the platform administrator): Alice is back.
    let off = app
        .patch(&policy, &admin, json!({"ssoRequired": false}))
        .await;
    assert_eq!(off.status(), 200);
    assert_eq!(app.get(&acme_path, &alice).await.status(), 200);

    // Bob's first request: he is a MEMBER of Acme, recorded as his own act.
    let bob = app.token(BOB).await;
    let mine = body(app.get("/api/v1/organizations/mine", &bob).await).await;
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{mine}");
    assert_eq!(items[0]["id"], acme.as_str());
    assert_eq!(items[0]["role"], "MEMBER");
    let audit = body(
        app.get(
            &format!("/api/v1/organizations/{acme}/audit-events?type=organization.member.added"),
            &alice,
        )
        .await,
    )
    .await;
    assert_eq!(audit["items"][0]["actor"], BOB.id, "{audit}");

    // A member who leaves is not joined again at the next login.
    assert_eq!(
        app.delete(
            &format!("/api/v1/organizations/{acme}/members/{}", BOB.id),
            &bob
        )
        .await
        .status(),
        204
    );
    // (A second instance on the same database: nothing remembered.)
    let mut same_database = Overrides::default();
    same_database
        .0
        .insert("DATABASE_URL", app.database_url.clone());
    let restarted = TestApp::builder().settings(same_database).spawn().await;
    let mine = body(restarted.get("/api/v1/organizations/mine", &bob).await).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);

    // Only OWNERs and ADMINs change policies.
    assert_problem(
        app.patch(&policy, &bob, json!({"autoJoin": false})).await,
        404,
        "organization-not-found",
    )
    .await;
}
