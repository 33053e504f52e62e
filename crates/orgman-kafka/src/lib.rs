//! Kafka adapter for orgman: publishes the outbox's committed domain events
//! to the organization events topic (`ai.flowx.organization.events.v1` by
//! default) as CloudEvents 1.0, with rskafka.
//!
//! - [`KafkaPublisher`] implements the domain's
//!   [`EventSink`](orgman_domain::ports::EventSink); the domain's
//!   [`OutboxRelay`](orgman_domain::OutboxRelay) drives it.
//! - Records are keyed by organization id and partitioned like Kafka's
//!   default partitioner, so one organization's events stay in order.
//! - Events over `KAFKA_MESSAGE_MAX_BYTES` are refused before sending and
//!   dead-lettered in the outbox with the reason.
//! - lz4 compression by default: rskafka does not set `TCP_NODELAY`, and
//!   uncompressed requests of 8–64 KB stall for tens of milliseconds.

mod cloudevent;
mod publisher;
mod security;
mod settings;

pub use cloudevent::{ORGANIZATION_HEADER, envelope, envelope_json, partition_for, record};
pub use publisher::{KafkaError, KafkaPublisher};
pub use security::{KafkaSecurity, SaslMechanism, SecurityProtocol};
pub use settings::{KafkaSettings, SettingsError, TopicNaming};
