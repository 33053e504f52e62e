//! [`KafkaPublisher`]: the [`EventSink`] publishing to the events topic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orgman_domain::DomainEvent;
use orgman_domain::ports::{DeliveryError, EventSink};
use rskafka::BackoffConfig;
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use tokio::sync::Mutex;

use crate::cloudevent::{partition_for, record};
use crate::settings::KafkaSettings;

struct Connected {
    client: Client,
    partitions: Vec<Arc<PartitionClient>>,
}

/// Publishes events to the configured topic. Connects lazily, creates the
/// topic when missing, and reconnects after a failure (a broker restart).
pub struct KafkaPublisher {
    settings: KafkaSettings,
    connection: Mutex<Option<Connected>>,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("bootstrap", &self.settings.bootstrap)
            .field("topic", &self.settings.topic)
            .finish()
    }
}

/// The broker cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("kafka: {0}")]
pub struct KafkaError(pub String);

impl KafkaPublisher {
    /// A publisher; nothing is connected yet.
    pub fn new(settings: KafkaSettings) -> Self {
        Self {
            settings,
            connection: Mutex::new(None),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }

    /// Connects (if needed) and makes sure the topic exists: what the
    /// service does at start-up, and what health checks call.
    ///
    /// # Errors
    /// [`KafkaError`] when the broker cannot be reached or refuses.
    pub async fn ensure_ready(&self) -> Result<(), KafkaError> {
        let mut connection = self.connection.lock().await;
        self.connect(&mut connection).await.map(drop)
    }

    /// Forgets the connection (after a failure), so the next call reconnects.
    async fn reset(&self) {
        *self.connection.lock().await = None;
    }

    async fn connect<'a>(
        &self,
        slot: &'a mut Option<Connected>,
    ) -> Result<&'a Connected, KafkaError> {
        if slot.is_none() {
            let builder = self
                .settings
                .security
                .apply(ClientBuilder::new(self.settings.bootstrap.clone()))
                .map_err(KafkaError)?;
            let client = builder
                // rskafka's default backoff grows to minutes (base 3, max
                // 500 s): a connection attempt started during an outage
                // would sleep long after the broker is back. Retry at least
                // every second, within the request deadline.
                .backoff_config(BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                    deadline: Some(self.settings.request_deadline),
                })
                .build()
                .await
                .map_err(|e| {
                    KafkaError(format!(
                        "cannot connect to {:?}: {e}",
                        self.settings.bootstrap
                    ))
                })?;
            let topic = &self.settings.topic;
            let existing = client
                .list_topics()
                .await
                .map_err(|e| KafkaError(format!("cannot list topics: {e}")))?
                .into_iter()
                .find(|t| &t.name == topic);
            let count = match existing {
                Some(found) => found.partitions.len() as i32,
                None => {
                    let controller = client
                        .controller_client()
                        .map_err(|e| KafkaError(format!("no controller: {e}")))?;
                    controller
                        .create_topic(
                            topic,
                            self.settings.partitions,
                            self.settings.replication_factor,
                            5_000,
                        )
                        .await
                        .map_err(|e| KafkaError(format!("cannot create topic {topic}: {e}")))?;
                    tracing::info!(%topic, partitions = self.settings.partitions, "created the events topic");
                    self.settings.partitions
                }
            };
            let mut partitions = Vec::new();
            for partition in 0..count.max(1) {
                let client = client
                    .partition_client(topic.as_str(), partition, UnknownTopicHandling::Retry)
                    .await
                    .map_err(|e| KafkaError(format!("partition {partition} of {topic}: {e}")))?;
                partitions.push(Arc::new(client));
            }
            *slot = Some(Connected { client, partitions });
        }
        slot.as_ref()
            .ok_or_else(|| KafkaError("not connected".into()))
    }

    /// Whether the broker answers a metadata request.
    ///
    /// # Errors
    /// [`KafkaError`].
    pub async fn ping(&self) -> Result<(), KafkaError> {
        let mut connection = self.connection.lock().await;
        let connected = self.connect(&mut connection).await?;
        let result = connected.client.list_topics().await.map(drop);
        if let Err(error) = result {
            *connection = None;
            return Err(KafkaError(format!("metadata request failed: {error}")));
        }
        Ok(())
    }
}

impl KafkaPublisher {
    /// Produces one partition's records, in order, in requests of at most
    /// `KAFKA_MESSAGE_MAX_BYTES` (before compression); after a failure the
    /// partition's later records wait for the next round. Returns whether
    /// the connection failed.
    async fn publish_partition(
        &self,
        client: &PartitionClient,
        partition: i32,
        events: &[DomainEvent],
        batch: Vec<(usize, rskafka::record::Record)>,
        outcomes: &mut [Result<(), DeliveryError>],
    ) -> bool {
        let chunks: Vec<(Vec<usize>, Vec<rskafka::record::Record>)> =
            chunk_by_size(batch, self.settings.max_message_bytes)
                .into_iter()
                .map(|chunk| chunk.into_iter().unzip())
                .collect();
        let later: Vec<Vec<usize>> = chunks.iter().map(|(i, _)| i.clone()).collect();
        for (position, (indexes, records)) in chunks.into_iter().enumerate() {
            // The records go to the request; the rare refusal for size
            // builds them again from the events.
            let stopped = match client.produce(records, self.settings.compression).await {
                Ok(_) => false,
                Err(error) if too_large(&error) => {
                    // The broker's limit (the topic's max.message.bytes) is
                    // below ours: find the records it refuses, one by one,
                    // in order, and dead-letter only those.
                    tracing::warn!(
                        partition,
                        "the broker refused a batch as too large; sending its records one by one"
                    );
                    let records = indexes
                        .iter()
                        .map(|&i| record(&events[i], &self.settings.naming, &self.settings.source))
                        .collect();
                    self.produce_one_by_one(client, partition, &indexes, records, outcomes)
                        .await
                }
                Err(error) => {
                    tracing::warn!(%error, partition, "publishing to kafka failed; will retry");
                    for index in indexes {
                        outcomes[index] = Err(DeliveryError::Retryable(format!(
                            "produce to partition {partition}: {error}"
                        )));
                    }
                    true
                }
            };
            if stopped {
                for &index in later[position + 1..].iter().flatten() {
                    outcomes[index] = Err(DeliveryError::Retryable(
                        "held back behind an earlier failure".into(),
                    ));
                }
                return true;
            }
        }
        false
    }

    /// Sends records one per request, in order. A record the broker refuses
    /// as too large is dead-lettered; any other failure stops the partition
    /// there (later records are retried, so order is kept). Returns whether
    /// the connection failed.
    async fn produce_one_by_one(
        &self,
        client: &PartitionClient,
        partition: i32,
        indexes: &[usize],
        records: Vec<rskafka::record::Record>,
        outcomes: &mut [Result<(), DeliveryError>],
    ) -> bool {
        let mut records = records.into_iter();
        for (position, &index) in indexes.iter().enumerate() {
            let Some(record) = records.next() else { break };
            match client
                .produce(vec![record], self.settings.compression)
                .await
            {
                Ok(_) => {}
                Err(error) if too_large(&error) => {
                    tracing::error!(
                        partition,
                        "an event is over the broker's size limit; dead-lettered"
                    );
                    outcomes[index] = Err(DeliveryError::Permanent(format!(
                        "the broker refused the event as too large (the topic's max.message.bytes \
                         is below KAFKA_MESSAGE_MAX_BYTES={}): {error}",
                        self.settings.max_message_bytes
                    )));
                }
                Err(error) => {
                    for &later in &indexes[position..] {
                        outcomes[later] = Err(DeliveryError::Retryable(format!(
                            "produce to partition {partition}: {error}"
                        )));
                    }
                    return true;
                }
            }
        }
        false
    }
}

/// Splits one partition's records, in order, into runs whose approximate
/// size stays within `limit` (a record alone may exceed it; the broker then
/// judges it).
fn chunk_by_size(
    records: Vec<(usize, rskafka::record::Record)>,
    limit: usize,
) -> Vec<Vec<(usize, rskafka::record::Record)>> {
    let mut chunks: Vec<Vec<(usize, rskafka::record::Record)>> = Vec::new();
    let mut size = 0;
    for (index, record) in records {
        let record_size = record.approximate_size();
        match chunks.last_mut() {
            Some(chunk) if size + record_size <= limit => chunk.push((index, record)),
            _ => {
                size = 0;
                chunks.push(vec![(index, record)]);
            }
        }
        size += record_size;
    }
    chunks
}

/// Whether the broker refused a produce request for its size.
fn too_large(error: &rskafka::client::error::Error) -> bool {
    use rskafka::client::error::{Error, ProtocolError};
    matches!(
        error,
        Error::ServerError {
            protocol_error: ProtocolError::MessageTooLarge | ProtocolError::RecordListTooLarge,
            ..
        }
    )
}

#[async_trait]
impl EventSink for KafkaPublisher {
    async fn deliver(&self, events: &[DomainEvent]) -> Vec<Result<(), DeliveryError>> {
        let mut outcomes: Vec<Result<(), DeliveryError>> = vec![Ok(()); events.len()];
        let partitions = {
            let mut connection = self.connection.lock().await;
            match self.connect(&mut connection).await {
                Ok(connected) => connected.partitions.clone(),
                Err(error) => {
                    tracing::warn!(%error, "kafka unavailable; events stay in the outbox");
                    return events
                        .iter()
                        .map(|_| Err(DeliveryError::Retryable(error.to_string())))
                        .collect();
                }
            }
        };
        // One produce request per partition, records in outbox order: all
        // records of a request are written or none, and an organization's
        // events always share a partition, so a failure cannot reorder them.
        let mut batches: BTreeMap<i32, Vec<(usize, rskafka::record::Record)>> = BTreeMap::new();
        for (index, event) in events.iter().enumerate() {
            let record = record(event, &self.settings.naming, &self.settings.source);
            let size = record.approximate_size();
            if size > self.settings.max_message_bytes {
                let reason = format!(
                    "event {} is {size} bytes, over KAFKA_MESSAGE_MAX_BYTES={}",
                    event.id, self.settings.max_message_bytes
                );
                tracing::error!(event_id = %event.id, size, "event too large to publish; dead-lettered");
                outcomes[index] = Err(DeliveryError::Permanent(reason));
                continue;
            }
            let key = record.key.as_deref().unwrap_or_default();
            let partition = partition_for(key, partitions.len() as i32);
            batches.entry(partition).or_default().push((index, record));
        }
        // Partitions are independent (order is kept within each), so they
        // are produced to concurrently.
        let total = events.len();
        let rounds = batches.into_iter().filter_map(|(partition, batch)| {
            let client = partitions.get(partition as usize)?.clone();
            Some(async move {
                let indexes: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
                let mut local: Vec<Result<(), DeliveryError>> = vec![Ok(()); total];
                let failed = self
                    .publish_partition(&client, partition, events, batch, &mut local)
                    .await;
                (indexes, local, failed)
            })
        });
        let mut failed = false;
        for (indexes, local, partition_failed) in futures_util::future::join_all(rounds).await {
            failed |= partition_failed;
            for index in indexes {
                outcomes[index] = local[index].clone();
            }
        }
        if failed {
            self.reset().await;
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_by_size;
    use rskafka::record::Record;

    fn record(bytes: usize) -> Record {
        Record {
            key: None,
            value: Some(vec![b'x'; bytes]),
            headers: Default::default(),
            timestamp: Default::default(),
        }
    }

    #[test]
    fn produce_requests_stay_within_the_limit_and_keep_the_order() {
        let records: Vec<(usize, Record)> = (0..10).map(|i| (i, record(100))).collect();
        let size = records[0].1.approximate_size();
        let chunks = chunk_by_size(records, size * 3);
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 3, 1]);
        let order: Vec<usize> = chunks.iter().flatten().map(|(i, _)| *i).collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>());
        // A record larger than the limit goes alone; the broker judges it.
        let big = chunk_by_size(
            vec![(0, record(10)), (1, record(5000)), (2, record(10))],
            1000,
        );
        let sizes: Vec<usize> = big.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 1, 1]);
    }
}
