//! Invitations over HTTP: inviting, listing, resending, revoking, and
//! single-use acceptance by the verified address, also under concurrency.

use orgman_testkit::{ALICE, BOB, CAROL};
use serde_json::json;

use crate::helpers::{Overrides, TestApp, assert_problem, body};

#[tokio::test]
async fn an_owner_invites_and_only_the_invited_verified_address_joins_once() {
    let mut overrides = Overrides::default();
    overrides.0.insert(
        "ORGMAN_INVITATION_ACCEPT_URL",
        "https://app.example/join?token={token}".into(),
    );
    let app = TestApp::builder().settings(overrides).spawn().await;
    let org = app.org_owned_by("inviting", ALICE).await;
    let alice = app.token(ALICE).await;
    let path = format!("/api/v1/organizations/{org}/invitations");

    let created = app
        .post(
            &path,
            &alice,
            json!({"email": BOB.email.to_uppercase(), "role": "ADMIN"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    assert!(created.headers().contains_key("location"));
    let invitation = body(created).await;
    let token = invitation["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43);
    assert_eq!(invitation["email"], BOB.email);
    assert_eq!(invitation["status"], "PENDING");
    assert_eq!(
        invitation["acceptUrl"],
        format!("https://app.example/join?token={token}")
    );
    assert_problem(
        app.post(&path, &alice, json!({"email": BOB.email})).await,
        409,
        "invitation-pending",
    )
    .await;
    assert_problem(
        app.post(&path, &alice, json!({"email": "not an address"}))
            .await,
        422,
        "validation-failed",
    )
    .await;

    // The token is nowhere but in that answer.
    let leaked = app
        .count(&format!(
            "SELECT count(*) AS n FROM outbox WHERE payload::text LIKE '%{token}%'"
        ))
        .await
        + app
            .count(&format!(
                "SELECT count(*) AS n FROM invitations WHERE token_digest = '{token}'"
            ))
            .await;
    assert_eq!(leaked, 0);

    let accept = |user_token: String, token: String| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/invitations/accept",
                &user_token,
                json!({ "token": token }),
            )
            .await
        }
    };
    let carol = app.token(CAROL).await;
    assert_problem(
        accept(carol.clone(), token.clone()).await,
        403,
        "invitation-email-mismatch",
    )
    .await;
    assert_problem(
        accept(carol.clone(), "x".repeat(43)).await,
        404,
        "invitation-not-found",
    )
    .await;
    let bob = app.token(BOB).await;
    let joined = accept(bob.clone(), token.clone()).await;
    assert_eq!(joined.status(), 200);
    assert_eq!(body(joined).await["role"], "ADMIN");
    assert_problem(
        accept(bob.clone(), token.clone()).await,
        409,
        "invitation-accepted",
    )
    .await;
    // Bob, now an ADMIN, reads the organization and its invitations.
    let listed = body(app.get(&path, &bob).await).await;
    assert_eq!(listed["items"][0]["status"], "ACCEPTED");
    assert_eq!(listed["items"][0]["acceptedBy"], BOB.id);
    assert!(listed["items"][0].get("token").is_none());

    // Resent and revoked: each old token dies.
    let carol_invite = body(app.post(&path, &alice, json!({"email": CAROL.email})).await).await;
    let id = carol_invite["id"].as_str().unwrap();
    let resent = app
        .post(&format!("{path}/{id}/resend"), &alice, json!({}))
        .await;
    assert_eq!(resent.status(), 200);
    let new_token = body(resent).await["token"].as_str().unwrap().to_owned();
    assert_problem(
        accept(
            carol.clone(),
            carol_invite["token"].as_str().unwrap().to_owned(),
        )
        .await,
        404,
        "invitation-not-found",
    )
    .await;
    assert_eq!(
        app.delete(&format!("{path}/{id}"), &alice).await.status(),
        204
    );
    assert_problem(
        accept(carol.clone(), new_token).await,
        410,
        "invitation-revoked",
    )
    .await;

    // Events say who was invited and who joined, never with a token.
    let types = app
        .count(&format!(
            "SELECT count(*) AS n FROM outbox WHERE aggregate_id = '{org}' AND event_type LIKE 'organization.invitation.%'"
        ))
        .await;
    assert_eq!(types, 5, "created ×2, accepted, created again, revoked");
}

#[tokio::test]
async fn of_concurrent_acceptances_exactly_one_joins() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("racing", ALICE).await;
    let alice = app.token(ALICE).await;
    let invitation = body(
        app.post(
            &format!("/api/v1/organizations/{org}/invitations"),
            &alice,
            json!({"email": CAROL.email}),
        )
        .await,
    )
    .await;
    let token = invitation["token"].as_str().unwrap().to_owned();
    let carol = app.token(CAROL).await;
    app.provision(CAROL).await;
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let request = app
                .request(
                    reqwest::Method::POST,
                    "/api/v1/invitations/accept",
                    Some(&carol),
                )
                .json(&json!({ "token": token }));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 409)),
        "{statuses:?}"
    );
    let members = app
        .count(&format!(
            "SELECT count(*) AS n FROM organization_members WHERE org_id = '{org}' AND user_id = '{}'",
            CAROL.id
        ))
        .await;
    assert_eq!(members, 1);
    let accepted = app
        .count(&format!(
            "SELECT count(*) AS n FROM outbox WHERE aggregate_id = '{org}' AND event_type = 'organization.invitation.accepted'"
        ))
        .await;
    assert_eq!(accepted, 1);
}
