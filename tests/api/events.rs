//! Writes do not depend on the broker; their events arrive once it is back.

use std::time::Duration;

use orgman_testkit::{ADMIN, PrivateBroker};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::UnknownTopicHandling;
use serde_json::json;

use crate::helpers::{Overrides, TestApp, body};

/// The CloudEvent types on the topic, or why they cannot be read. Reads
/// every partition the topic has, and nothing before the topic exists (a
/// consumer's metadata request must not auto-create it with other settings).
pub(crate) async fn event_types(bootstrap: &str, topic: &str) -> Result<Vec<String>, String> {
    let client = ClientBuilder::new(vec![bootstrap.to_owned()])
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let topics = client.list_topics().await.map_err(|e| e.to_string())?;
    let Some(found) = topics.into_iter().find(|t| t.name == topic) else {
        return Ok(Vec::new());
    };
    let mut types = Vec::new();
    for partition in found.partitions {
        let partition = client
            .partition_client(topic, partition, UnknownTopicHandling::Error)
            .await
            .map_err(|e| format!("partition {partition}: {e}"))?;
        let (records, high_watermark) = partition
            .fetch_records(0, 1..10_000_000, 50)
            .await
            .map_err(|e| format!("fetch: {e}"))?;
        if records.is_empty() && high_watermark > 0 {
            return Err(format!(
                "partition has {high_watermark} records but the fetch returned none"
            ));
        }
        for record in records {
            let ce: serde_json::Value =
                serde_json::from_slice(record.record.value.as_ref().unwrap()).unwrap();
            types.push(ce["type"].as_str().unwrap().to_owned());
        }
    }
    Ok(types)
}

#[tokio::test]
async fn api_writes_succeed_with_the_broker_down_and_events_follow() {
    let mut broker = PrivateBroker::start();
    broker.stop();
    let topic = orgman_testkit::unique_name("api-outage");
    let mut overrides = Overrides::default();
    overrides
        .0
        .insert("SPRING_KAFKA_BOOTSTRAP_SERVERS", broker.address());
    overrides
        .0
        .insert("KAFKA_TOPIC_ORGANIZATION_EVENTS_OUT", topic.clone());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let admin = app.token(ADMIN).await;

    let created = app
        .post(
            "/api/v1/organizations",
            &admin,
            json!({"name": "Acme", "slug": "acme"}),
        )
        .await;
    assert_eq!(created.status(), 201, "writes do not wait for the broker");
    let id = body(created).await["id"].as_str().unwrap().to_owned();

    broker.restart();
    let observed = std::cell::RefCell::new(Err(String::new()));
    orgman_testkit::eventually(
        "both events reach the broker",
        Duration::from_secs(20),
        || async {
            let found = event_types(&broker.address(), &topic).await;
            let both = found.as_ref().is_ok_and(|t| t.len() >= 2);
            *observed.borrow_mut() = found;
            both
        },
    )
    .await;
    let types = observed.into_inner();
    assert_eq!(
        types,
        Ok(vec![
            "ai.flowx.organization.created.v1".to_owned(),
            "ai.flowx.organization.member.added.v1".to_owned()
        ]),
        "the events of organization {id} arrived once the broker was back"
    );
}
