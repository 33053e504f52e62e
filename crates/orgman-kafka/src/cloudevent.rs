//! Domain events as CloudEvents 1.0 (structured JSON mode) in Kafka records.

use std::collections::BTreeMap;

use orgman_domain::DomainEvent;
use rskafka::chrono::{DateTime, Utc};
use rskafka::record::Record;

use crate::settings::TopicNaming;

/// The header carrying the event's organization id.
pub const ORGANIZATION_HEADER: &str = "Fx-Organization-Id";

/// The CloudEvent for a domain event.
pub fn envelope(event: &DomainEvent, naming: &TopicNaming, source: &str) -> serde_json::Value {
    serde_json::to_value(Envelope::new(event, naming, source)).unwrap_or_default()
}

/// The CloudEvent for a domain event as JSON text, serialized straight from
/// the event (what a record's value holds; webhook bodies are the same).
pub fn envelope_json(event: &DomainEvent, naming: &TopicNaming, source: &str) -> String {
    serde_json::to_string(&Envelope::new(event, naming, source)).unwrap_or_default()
}

/// A CloudEvent 1.0 in structured JSON mode, serialized straight from the
/// event it borrows (no intermediate JSON tree: the relay builds one per
/// event).
#[derive(serde::Serialize)]
struct Envelope<'a> {
    specversion: &'static str,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    source: &'a str,
    subject: String,
    #[serde(with = "time::serde::rfc3339")]
    time: time::OffsetDateTime,
    datacontenttype: &'static str,
    dataschema: String,
    data: &'a DomainEvent,
}

impl<'a> Envelope<'a> {
    fn new(event: &'a DomainEvent, naming: &TopicNaming, source: &'a str) -> Self {
        Self {
            specversion: "1.0",
            id: event.id.to_string(),
            kind: naming.event_type(event.type_name()),
            source,
            subject: event.organization_id.to_string(),
            time: event.occurred_at,
            datacontenttype: "application/json",
            dataschema: format!(
                "urn:orgman:events:{}:v{}",
                event.type_name(),
                event.schema_version
            ),
            data: event,
        }
    }
}

/// The Kafka record: key = organization id (per-organization order), value =
/// the CloudEvent, headers = the CloudEvents attributes of the binary mode
/// (`ce_id`, `ce_type`, ...) and `Fx-Organization-Id`.
pub fn record(event: &DomainEvent, naming: &TopicNaming, source: &str) -> Record {
    let envelope = Envelope::new(event, naming, source);
    let organization = envelope.subject.clone().into_bytes();
    let headers = BTreeMap::from([
        ("ce_specversion".to_owned(), b"1.0".to_vec()),
        ("ce_id".to_owned(), envelope.id.clone().into_bytes()),
        ("ce_type".to_owned(), envelope.kind.clone().into_bytes()),
        ("ce_source".to_owned(), source.as_bytes().to_vec()),
        ("ce_subject".to_owned(), organization.clone()),
        (
            "content-type".to_owned(),
            b"application/cloudevents+json".to_vec(),
        ),
        (ORGANIZATION_HEADER.to_owned(), organization.clone()),
    ]);
    let timestamp = DateTime::<Utc>::from_timestamp(
        event.occurred_at.unix_timestamp(),
        event.occurred_at.nanosecond(),
    )
    .unwrap_or_default();
    Record {
        key: Some(organization),
        value: Some(serde_json::to_vec(&envelope).unwrap_or_default()),
        headers,
        timestamp,
    }
}

/// Kafka's default partitioner (murmur2 of the key), so Java producers and
/// orgman put one organization's events on the same partition.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    let hash = murmur2(key) & 0x7fff_ffff;
    hash % partitions.max(1)
}

fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Vectors from Kafka's own tests of Utils.murmur2.
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58_897_971
        );
        assert_eq!(murmur2(b"abc"), 479_470_107);
    }

    #[test]
    fn partitions_are_in_range_and_stable() {
        for key in ["a", "org-1", "00000000-0000-0000-0000-00000000d3fa"] {
            let p = partition_for(key.as_bytes(), 3);
            assert!((0..3).contains(&p));
            assert_eq!(p, partition_for(key.as_bytes(), 3));
        }
    }
}
