//! The webhook queue in PostgreSQL: the outbox holds events for the webhook
//! sink only where an endpoint listens; a delivery is recorded once per
//! event and endpoint; an endpoint is claimed by one replica at a time,
//! its deliveries in order; outcomes and attempts are kept.

mod support;

use std::time::Duration;

use orgman_domain::ports::{
    DeliveryOutcome, NewDelivery, Outbox, OutboxSink, WebhookQueries, WebhookQueue,
};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::uuid::Uuid;
use orgman_domain::{
    ActorRef, DeliveryAttempt, DeliveryId, DeliveryState, EventId, EventTypes, OrgRole,
    PageRequest, SealedSecrets, WebhookEndpoint, WebhookId, WebhookUrl,
};
use support::Db;

async fn endpoint(db: &Db, org: orgman_domain::OrganizationId) -> WebhookId {
    let now = OffsetDateTime::now_utc();
    let endpoint = WebhookEndpoint {
        id: WebhookId::from_uuid(Uuid::now_v7()),
        organization: org,
        url: WebhookUrl::parse("https://hooks.example.com/in").unwrap(),
        event_types: EventTypes::parse(&["*"]).unwrap(),
        enabled: true,
        disabled_reason: None,
        created_by: ActorRef::user(db.admin.user_id()),
        created_at: now,
        updated_at: now,
        secrets: SealedSecrets {
            current: "sealed".into(),
            previous: None,
        },
    };
    let mut uow = orgman_domain::ports::OrganizationRepository::begin(&db.store)
        .await
        .unwrap();
    uow.insert_webhook(&endpoint).await.unwrap();
    uow.commit().await.unwrap();
    endpoint.id
}

fn delivery(
    webhook: WebhookId,
    org: orgman_domain::OrganizationId,
    event: EventId,
    body: &str,
) -> NewDelivery {
    NewDelivery {
        id: DeliveryId::from_uuid(Uuid::now_v7()),
        webhook,
        organization: org,
        event_id: event,
        event_type: "organization.member.added",
        body: body.into(),
    }
}

#[tokio::test]
async fn events_wait_for_the_webhook_sink_only_where_an_endpoint_listens() {
    let db = Db::new().await;
    let quiet = db.org().await;
    let heard = db.org().await;
    endpoint(&db, heard.id()).await;
    for org in [&quiet, &heard] {
        let user = db.user().await;
        db.service
            .add_member(&db.admin, org.id(), user.user_id(), OrgRole::Member)
            .await
            .unwrap();
    }
    let claim = db.store.claim(OutboxSink::Webhooks, 100).await.unwrap();
    let organizations: Vec<_> = claim
        .events()
        .iter()
        .map(|pending| pending.event.organization_id)
        .collect();
    assert_eq!(
        organizations,
        [heard.id()],
        "only the member added where an endpoint listens"
    );
}

#[tokio::test]
async fn one_replica_claims_an_endpoint_and_attempts_its_deliveries_in_order() {
    let db = Db::new().await;
    let org = db.org().await;
    let webhook = endpoint(&db, org.id()).await;
    let now = OffsetDateTime::now_utc();
    let events: Vec<EventId> = (0..3).map(|_| EventId::from_uuid(Uuid::now_v7())).collect();
    let batch: Vec<NewDelivery> = events
        .iter()
        .enumerate()
        .map(|(i, event)| delivery(webhook, org.id(), *event, &format!("body {i}")))
        .collect();
    db.store.enqueue(&batch, now).await.unwrap();
    // Recorded again (a sink retried after a failure): nothing doubles.
    let again: Vec<NewDelivery> = events
        .iter()
        .map(|event| delivery(webhook, org.id(), *event, "again"))
        .collect();
    db.store.enqueue(&again, now).await.unwrap();

    let lease = Duration::from_secs(60);
    let (first, second) = tokio::join!(
        db.store.claim_due(now, 10, 10, lease),
        db.store.claim_due(now, 10, 10, lease)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(
        first.len() + second.len(),
        1,
        "one claimer gets the endpoint"
    );
    let claimed = first.into_iter().chain(second).next().unwrap();
    let bodies: Vec<&str> = claimed.deliveries.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, ["body 0", "body 1", "body 2"]);
    assert!(
        db.store
            .claim_due(now, 10, 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "held by its lease"
    );

    // The first is delivered, the second failed and waits; the lease goes.
    let attempt = |status: u16| DeliveryAttempt {
        at: now,
        status: Some(status),
        error: (status >= 300).then(|| "the endpoint answered 503".to_owned()),
        duration_ms: 3,
    };
    let retry_at = now + Duration::from_secs(30);
    let outcomes = [
        DeliveryOutcome {
            delivery: claimed.deliveries[0].id,
            attempt: attempt(204),
            state: DeliveryState::Delivered,
            retry_at: None,
        },
        DeliveryOutcome {
            delivery: claimed.deliveries[1].id,
            attempt: attempt(503),
            state: DeliveryState::Pending,
            retry_at: Some(retry_at),
        },
    ];
    db.store.record(webhook, &outcomes, 1).await.unwrap();
    assert!(
        db.store
            .claim_due(now, 10, 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "its head is not due before its retry"
    );
    let due = db.store.claim_due(retry_at, 10, 10, lease).await.unwrap();
    assert_eq!(due[0].failures, 1);
    assert_eq!(
        due[0].deliveries[0].id, claimed.deliveries[1].id,
        "the failed one first"
    );
    assert_eq!(due[0].deliveries[0].attempts, 1);

    let listed = db
        .store
        .deliveries(org.id(), webhook, PageRequest::first())
        .await
        .unwrap();
    let states: Vec<DeliveryState> = listed.items.iter().map(|d| d.state).collect();
    assert_eq!(
        states,
        [
            DeliveryState::Pending,
            DeliveryState::Pending,
            DeliveryState::Delivered
        ],
        "newest first"
    );
    assert_eq!(listed.items[1].attempts[0].status, Some(503));
    assert_eq!(listed.items[2].attempts[0].duration_ms, 3);
    // The retention deletes ended deliveries only.
    let later = now + Duration::from_secs(86_400);
    assert_eq!(db.store.prune_deliveries(later, 100).await.unwrap(), 1);
    let kept = db
        .store
        .deliveries(org.id(), webhook, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(kept.items.len(), 2);
    assert!(kept.items.iter().all(|d| d.state == DeliveryState::Pending));
    // Another organization sees none of it.
    let other = db.org().await;
    assert!(
        db.store
            .deliveries(other.id(), webhook, PageRequest::first())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
