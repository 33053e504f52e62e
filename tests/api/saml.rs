//! SAML SSO configurations against the real Keycloak: the stack's
//! `customer` realm plays an organization's SAML identity provider, a
//! browser logs in through it (following the POST-binding forms) and
//! arrives as a member, tampered and unsigned responses are refused, and a
//! certificate rotated in the identity provider's metadata is rolled into
//! Keycloak and announced before it expires.

use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use orgman_testkit::{ALICE, SAM, SUE, Stack, customer_saml_metadata_url, eventually, http};
use serde_json::{Value, json};

use crate::helpers::{Overrides, TestApp, assert_problem, body, keycloak_realm};
use crate::sso_login::{
    brokering, claims, delete_config, forget_keycloak_domain, keycloak_provider, provider_written,
    verify_customer_domain,
};

/// Creates a SAML configuration of `org` reading its metadata from `url`.
async fn create_saml(app: &TestApp, org: &str, owner: &str, url: &str) -> Value {
    let created = app
        .post(
            &format!("/api/v1/organizations/{org}/sso-configs"),
            owner,
            json!({
                "name": "Customer SAML",
                "protocol": "saml",
                "metadataUrl": url,
                "autoProvision": true,
            }),
        )
        .await;
    let status = created.status();
    let created = body(created).await;
    assert_eq!(status, 201, "{created}");
    created
}

/// What the customer's IT does with orgman's values: registers the service
/// provider in their identity provider (the `customer` realm), asking for
/// signed assertions with the e-mail NameID and the profile attributes.
/// Answers the client's id there, for [`unregister`].
async fn register_service_provider(entity_id: &str, acs_url: &str) -> String {
    let stack = Stack::get();
    let token = stack.keycloak_master_token().await;
    let attribute = |name: &str| {
        json!({
            "name": name,
            "protocol": "saml",
            "protocolMapper": "saml-user-property-mapper",
            "config": {
                "user.attribute": name,
                "attribute.name": name,
                "attribute.nameformat": "Basic",
            },
        })
    };
    let client = json!({
        "clientId": entity_id,
        "protocol": "saml",
        "enabled": true,
        "redirectUris": [acs_url],
        "attributes": {
            "saml.server.signature": "true",
            "saml.assertion.signature": "true",
            "saml.client.signature": "false",
            "saml.authnstatement": "true",
            "saml_force_name_id_format": "true",
            "saml_name_id_format": "email",
            "saml_assertion_consumer_url_post": acs_url,
        },
        "protocolMappers": [attribute("email"), attribute("firstName"), attribute("lastName")],
    });
    let clients = format!("{}/admin/realms/customer/clients", stack.keycloak_base());
    let created = http()
        .post(&clients)
        .bearer_auth(&token)
        .json(&client)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    location.rsplit('/').next().unwrap().to_owned()
}

async fn unregister(client: &str) {
    let stack = Stack::get();
    let deleted = http()
        .delete(format!(
            "{}/admin/realms/customer/clients/{client}",
            stack.keycloak_base()
        ))
        .bearer_auth(stack.keycloak_master_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

/// The organization's members' user ids.
async fn member_ids(app: &TestApp, org: &str, owner: &str) -> Vec<String> {
    let members = body(
        app.get(&format!("/api/v1/organizations/{org}/members"), owner)
            .await,
    )
    .await;
    members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["userId"].as_str().unwrap().to_owned())
        .collect()
}

/// An identity provider's response with another person's address put in:
/// its signatures no longer match.
fn impersonating(xml: &str) -> String {
    assert!(xml.contains(SAM.email), "the response names Sam: {xml}");
    xml.replace(SAM.email, SUE.email)
}

/// An identity provider's response with every signature taken out.
fn unsigned(xml: &str) -> String {
    let mut out = xml.to_owned();
    while let Some(start) = out
        .find("<dsig:Signature")
        .or_else(|| out.find("<ds:Signature"))
    {
        let closing = if out[start..].starts_with("<dsig:") {
            "</dsig:Signature>"
        } else {
            "</ds:Signature>"
        };
        let end = start + out[start..].find(closing).expect("a closed signature") + closing.len();
        out.replace_range(start..end, "");
    }
    assert_ne!(out, xml, "the response carried signatures");
    out
}

#[tokio::test]
async fn a_person_logs_in_through_a_saml_identity_provider_and_arrives_as_a_member() {
    let _realm = keycloak_realm().await;
    orgman_testkit::forget_dev_user(SAM.email).await;
    let app = TestApp::builder().settings(brokering()).spawn().await;
    let org = app
        .org_owned_by(&orgman_testkit::unique_name("saml-login"), ALICE)
        .await;
    let alice = app.token(ALICE).await;
    let created = create_saml(&app, &org, &alice, &customer_saml_metadata_url()).await;
    let config = created["id"].as_str().unwrap().to_owned();
    let alias = format!("orgman-{config}");
    let saml = &created["saml"];
    assert_eq!(created["protocol"], "saml");
    assert!(created.get("issuerUrl").is_none());
    assert_eq!(saml["idpEntityId"], orgman_testkit::customer_issuer());
    assert_eq!(saml["binding"], "HTTP-POST");
    assert_eq!(saml["certificateWarning"], false);
    assert_eq!(saml["certificates"][0]["state"], "valid");
    let sp = &saml["serviceProvider"];
    let acs_url = sp["acsUrl"].as_str().unwrap();
    assert_eq!(
        acs_url,
        format!(
            "{}/realms/dev/broker/{alias}/endpoint",
            Stack::get().keycloak_base()
        )
    );

    // The service provider's metadata is public, at a stable URL.
    let metadata = app
        .request(
            reqwest::Method::GET,
            sp["metadataUrl"].as_str().unwrap(),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
    assert_eq!(
        metadata.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let metadata = metadata.text().await.unwrap();
    assert!(metadata.contains(&format!(
        "entityID=\"{}\"",
        sp["entityId"].as_str().unwrap()
    )));
    assert!(metadata.contains(&format!("Location=\"{acs_url}\"")));
    assert!(metadata.contains("WantAssertionsSigned=\"true\""));
    // The customer realm's metadata asks for signed requests: Keycloak signs
    // them with the realm's key, published in its own descriptor.
    assert!(metadata.contains("AuthnRequestsSigned=\"true\""));
    assert_eq!(sp["signedRequests"], true);
    assert!(
        sp["descriptorUrl"]
            .as_str()
            .unwrap()
            .ends_with("/endpoint/descriptor")
    );

    // Keycloak is handed explicit endpoints and certificates.
    provider_written(&alias).await;
    let held = keycloak_provider(&alias).await.unwrap();
    assert_eq!(held["providerId"], "saml");
    let settings = &held["config"];
    assert_eq!(settings["idpEntityId"], saml["idpEntityId"]);
    assert_eq!(settings["entityId"], sp["entityId"]);
    assert_eq!(settings["validateSignature"], "true");
    assert_eq!(settings["wantAssertionsSigned"], "true");
    assert_eq!(settings["wantAuthnRequestsSigned"], "true");
    // The customer realm offers single logout: a logout is passed on there.
    assert_eq!(settings["singleLogoutServiceUrl"], saml["sloUrl"]);
    assert!(
        saml["sloUrl"]
            .as_str()
            .unwrap()
            .ends_with("/realms/customer/protocol/saml")
    );
    assert_eq!(settings["useMetadataDescriptorUrl"], "false");
    assert!(settings.get("metadataDescriptorUrl").is_none());
    let certificate = settings["signingCertificate"].as_str().unwrap();
    assert!(!certificate.is_empty());
    let mappers = Stack::get()
        .keycloak_admin(&format!("identity-provider/instances/{alias}/mappers"))
        .await
        .unwrap();
    let mut mapped: Vec<&str> = mappers
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["config"]["user.attribute"].as_str().unwrap())
        .collect();
    mapped.sort_unstable();
    assert_eq!(mapped, ["email", "firstName", "lastName"]);

    let client = register_service_provider(sp["entityId"].as_str().unwrap(), acs_url).await;
    // The account rules of OpenID Connect providers: nobody until the
    // organization has verified the address's domain.
    let refused = orgman_testkit::login_through(&alias, SAM).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("domains it has verified")),
        "{refused:?}"
    );
    verify_customer_domain(&app, &org, &alice, &config, &alias).await;

    // A response changed on its way, or stripped of its signatures, logs
    // nobody in.
    let tampered = orgman_testkit::login_through_tampered(&alias, SAM, impersonating).await;
    assert!(
        tampered
            .as_ref()
            .is_err_and(|e| e.contains("Invalid signature")),
        "{tampered:?}"
    );
    let stripped = orgman_testkit::login_through_tampered(&alias, SAM, unsigned).await;
    assert!(
        stripped
            .as_ref()
            .is_err_and(|e| e.contains("Invalid signature")),
        "{stripped:?}"
    );
    assert_eq!(member_ids(&app, &org, &alice).await.len(), 1, "Alice only");

    // The real thing: Sam arrives as a member.
    let token = orgman_testkit::login_through(&alias, SAM)
        .await
        .expect("the login completes");
    let claims = claims(&token);
    assert_eq!(claims["identity_provider"], alias.as_str());
    assert_eq!(claims["email"], SAM.email);
    assert_eq!(claims["given_name"], "Sam");
    let mine = body(app.get("/api/v1/organizations/mine", &token).await).await;
    assert_eq!(mine["items"][0]["id"], org.as_str(), "{mine}");
    assert!(
        member_ids(&app, &org, &alice)
            .await
            .contains(&claims["sub"].as_str().unwrap().to_owned())
    );

    // The connection test reads the metadata again, step by step.
    let tested = app
        .post(
            &format!("/api/v1/organizations/{org}/sso-configs/{config}/test"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(tested.status(), 200);
    let tested = body(tested).await;
    assert_eq!(tested["reachable"], true, "{tested}");
    let steps: Vec<(&str, bool)> = tested["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("metadata", true),
            ("descriptor", true),
            ("certificates", true),
            ("identity", true)
        ]
    );

    unregister(&client).await;
    delete_config(&app, &org, &alice, &config, &alias).await;
}

/// Metadata served as a test decides, counting the reads.
#[derive(Default)]
struct Published {
    document: Mutex<(u16, String)>,
    reads: AtomicUsize,
}

async fn serve(published: web::Data<Published>) -> HttpResponse {
    published.reads.fetch_add(1, Ordering::SeqCst);
    let (status, document) = published.document.lock().unwrap().clone();
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/samlmetadata+xml")
        .body(document)
}

fn publish(published: &web::Data<Published>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = published.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metadata", web::get().to(serve))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/metadata")
}

/// A self-signed certificate made with openssl, valid for `days`: its
/// DER as base64.
fn short_lived_certificate(days: u32) -> String {
    let dir = std::env::temp_dir().join(format!("orgman-saml-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl runs");
        assert!(output.status.success(), "{output:?}");
        output.stdout
    };
    let days = days.to_string();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-subj",
        "/CN=rotated",
        "-days",
        &days,
    ]);
    let der = run(&["x509", "-in", "cert.pem", "-outform", "der"]);
    std::fs::remove_dir_all(&dir).ok();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// The metric's value in the service's Prometheus text, 0 when absent.
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app
        .request(reqwest::Method::GET, "/actuator/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_rotated_certificate_is_rolled_into_keycloak_and_announced_before_it_expires() {
    let _realm = keycloak_realm().await;
    let real = http()
        .get(customer_saml_metadata_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let published = web::Data::new(Published::default());
    *published.document.lock().unwrap() = (200, real.clone());
    let url = publish(&published);
    let mut settings = brokering();
    settings
        .0
        .insert("ORGMAN_SSO_SAML_REFRESH_SECONDS", "1".into());
    let app = TestApp::builder().settings(settings).spawn().await;
    let org = app
        .org_owned_by(&orgman_testkit::unique_name("saml-rotation"), ALICE)
        .await;
    let alice = app.token(ALICE).await;
    let created = create_saml(&app, &org, &alice, &url).await;
    let config = created["id"].as_str().unwrap().to_owned();
    let alias = format!("orgman-{config}");
    provider_written(&alias).await;
    let before = keycloak_provider(&alias).await.unwrap()["config"]["signingCertificate"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        metric(&app, "orgman_sso_saml_certificates{state=\"expiring\"}").await,
        0.0
    );

    // The identity provider publishes a new certificate, valid for five
    // days: within the warning period.
    let rotated = short_lived_certificate(5);
    let start = real.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = start + real[start..].find("</").unwrap();
    let mut next = real.clone();
    next.replace_range(start..end, &rotated);
    *published.document.lock().unwrap() = (200, next);

    eventually(
        "Keycloak verifies with the rotated certificate",
        Duration::from_secs(30),
        || async {
            keycloak_provider(&alias).await.unwrap()["config"]["signingCertificate"]
                == rotated.as_str()
        },
    )
    .await;
    assert_ne!(before, rotated);
    let view = body(
        app.get(
            &format!("/api/v1/organizations/{org}/sso-configs/{config}"),
            &alice,
        )
        .await,
    )
    .await;
    assert_eq!(view["saml"]["certificateWarning"], true, "{view}");
    assert_eq!(view["saml"]["certificates"][0]["state"], "expiring");
    let announced = "SELECT count(*) AS n FROM audit_events WHERE action = 'organization.sso.certificate-expiring'";
    eventually(
        "the expiry is announced",
        Duration::from_secs(30),
        || async { app.count(announced).await == 1 },
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'organization.sso-config.metadata-refreshed'")
            .await,
        1
    );
    eventually("the metric shows it", Duration::from_secs(30), || async {
        metric(&app, "orgman_sso_saml_certificates{state=\"expiring\"}").await == 1.0
    })
    .await;

    // Metadata that cannot be read leaves the last good copy in use, and
    // later rounds announce nothing twice.
    *published.document.lock().unwrap() = (500, "down".into());
    let reads = published.reads.load(Ordering::SeqCst);
    eventually(
        "two more rounds read the metadata",
        Duration::from_secs(30),
        || async { published.reads.load(Ordering::SeqCst) >= reads + 2 },
    )
    .await;
    eventually(
        "the failure is counted",
        Duration::from_secs(30),
        || async {
            metric(
                &app,
                "orgman_sso_saml_metadata_refreshes_total{outcome=\"failed\"}",
            )
            .await
                >= 1.0
        },
    )
    .await;
    assert_eq!(app.count(announced).await, 1, "announced once");
    assert_eq!(
        keycloak_provider(&alias).await.unwrap()["config"]["signingCertificate"],
        rotated.as_str()
    );

    delete_config(&app, &org, &alice, &config, &alias).await;
}

#[tokio::test]
async fn saml_configurations_refuse_metadata_and_fields_they_cannot_use() {
    let mut settings = Overrides::default();
    settings
        .0
        .insert("ORGMAN_SSO_SAML_REFRESH_SECONDS", "0".into());
    let app = TestApp::builder().settings(settings).spawn().await;
    let org = app
        .org_owned_by(&orgman_testkit::unique_name("saml-refusals"), ALICE)
        .await;
    let alice = app.token(ALICE).await;
    let path = format!("/api/v1/organizations/{org}/sso-configs");
    let create = |body: Value| {
        let (app, path, alice) = (&app, &path, &alice);
        async move { app.post(path, alice, body).await }
    };
    let saml = |extra: Value| {
        let mut body = json!({"name": "SAML", "protocol": "saml"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let billion = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&b;"/>"#;
    let refused = create(saml(json!({"metadataXml": billion}))).await;
    assert_problem(refused, 422, "validation-failed").await;
    let both = create(saml(json!({
        "metadataXml": "<x/>",
        "metadataUrl": "https://idp.example/metadata",
    })))
    .await;
    assert_problem(both, 422, "validation-failed").await;
    let neither = create(saml(json!({}))).await;
    assert_problem(neither, 422, "validation-failed").await;
    let mixed = create(saml(json!({
        "metadataXml": "<x/>",
        "issuerUrl": "https://idp.example",
    })))
    .await;
    let mixed = body(mixed).await;
    assert_eq!(mixed["errors"][0]["field"], "issuerUrl", "{mixed}");
    // Metadata whose every certificate has expired could verify no login.
    let expired = include_str!("data/saml-expired-idp.xml");
    let refused = create(saml(json!({"metadataXml": expired}))).await;
    let refused = body(refused).await;
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{refused}"
    );
    // Without the private-address allowance, a metadata URL on loopback is
    // never fetched.
    let private = create(saml(json!({"metadataUrl": "http://127.0.0.1:9/metadata"}))).await;
    assert_problem(private, 422, "issuer-not-allowed").await;
    // An OpenID Connect configuration names what it misses.
    let missing =
        body(create(json!({"name": "OIDC", "clientId": "x", "clientSecret": "y"})).await).await;
    assert_eq!(missing["errors"][0]["field"], "issuerUrl", "{missing}");
    assert_eq!(app.count("SELECT count(*) AS n FROM sso_configs").await, 0);
    // Unknown configurations have no service provider metadata.
    let unknown = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/sso/saml/{}/metadata", uuid::Uuid::now_v7()),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn an_sso_required_domain_sends_its_users_to_the_saml_provider_without_a_password() {
    let _realm = keycloak_realm().await;
    forget_keycloak_domain("customer.example").await;
    orgman_testkit::forget_dev_user(SUE.email).await;
    let mut overrides = brokering();
    overrides
        .0
        .insert("ORGMAN_KEYCLOAK_ORGANIZATIONS", "true".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let org = app
        .org_owned_by(&orgman_testkit::unique_name("saml-required"), ALICE)
        .await;
    let alice = app.token(ALICE).await;
    app.sql(&format!(
        "INSERT INTO organization_domains (org_id, name, challenge, created_at, verified_at, sso_required)
         VALUES ('{org}', 'customer.example', 'x', now(), now(), true)"
    ))
    .await;
    let created = create_saml(&app, &org, &alice, &customer_saml_metadata_url()).await;
    let config = created["id"].as_str().unwrap().to_owned();
    let alias = format!("orgman-{config}");
    let sp = &created["saml"]["serviceProvider"];
    let client = register_service_provider(
        sp["entityId"].as_str().unwrap(),
        sp["acsUrl"].as_str().unwrap(),
    )
    .await;
    // The provider is linked to the organization's mirror, which routes
    // the domain to it.
    eventually(
        "Keycloak sends customer.example to the SAML provider",
        Duration::from_secs(30),
        || async {
            keycloak_provider(&alias)
                .await
                .is_some_and(|p| p["config"]["kc.org.domain"] == "customer.example")
        },
    )
    .await;

    // Sue types her address and logs in at her organization's SAML
    // identity provider; the realm never asks for a password itself.
    let token = orgman_testkit::login_by_address(SUE)
        .await
        .expect("the login completes at the SAML provider");
    assert_eq!(claims(&token)["identity_provider"], alias.as_str());
    assert_eq!(claims(&token)["email"], SUE.email);
    let mine = body(app.get("/api/v1/organizations/mine", &token).await).await;
    assert_eq!(mine["items"][0]["id"], org.as_str(), "{mine}");

    unregister(&client).await;
    delete_config(&app, &org, &alice, &config, &alias).await;
    forget_keycloak_domain("customer.example").await;
}
