//! Settings, with the reference service's variable names and topic naming.

use std::time::Duration;

use rskafka::client::partition::Compression;

/// The reference's topic naming parts (`KAFKA_TOPIC_NAMING_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicNaming {
    /// `KAFKA_TOPIC_NAMING_PACKAGE`, default `ai.flowx.`.
    pub package: String,
    /// `KAFKA_TOPIC_NAMING_ENVIRONMENT`, default empty.
    pub environment: String,
    /// `KAFKA_TOPIC_NAMING_VERSION`, default `.v1`.
    pub version: String,
    /// `KAFKA_TOPIC_NAMING_SEPARATOR`, default `.`.
    pub separator: String,
    /// `KAFKA_TOPIC_NAMING_SEPARATOR2`, default `-`: joins the words of one
    /// name segment (no segment of orgman's topic has several words today).
    pub separator2: String,
}

impl Default for TopicNaming {
    fn default() -> Self {
        Self {
            package: "ai.flowx.".into(),
            environment: String::new(),
            version: ".v1".into(),
            separator: ".".into(),
            separator2: "-".into(),
        }
    }
}

impl TopicNaming {
    /// A name from segments (each segment's words joined by `separator2`):
    /// `<package>[<environment><separator>]<segments joined by separator><version>`.
    pub fn name(&self, segments: &[&[&str]]) -> String {
        let environment = if self.environment.is_empty() {
            String::new()
        } else {
            format!("{}{}", self.environment, self.separator)
        };
        let body = segments
            .iter()
            .map(|words| words.join(&self.separator2))
            .collect::<Vec<_>>()
            .join(&self.separator);
        format!("{}{environment}{body}{}", self.package, self.version)
    }

    /// The CloudEvents `type` for a domain event type name, e.g.
    /// `ai.flowx.organization.created.v1`.
    pub fn event_type(&self, type_name: &str) -> String {
        format!("{}{type_name}{}", self.package, self.version)
    }
}

/// How to reach the broker and what to publish where.
#[derive(Clone, Debug)]
pub struct KafkaSettings {
    /// `SPRING_KAFKA_BOOTSTRAP_SERVERS` (comma-separated), default `localhost:9092`.
    pub bootstrap: Vec<String>,
    /// Naming parts.
    pub naming: TopicNaming,
    /// `KAFKA_TOPIC_ORGANIZATION_EVENTS_OUT`, default from the naming:
    /// `ai.flowx.organization.events.v1`.
    pub topic: String,
    /// Partitions when the topic is created (`KAFKA_TOPIC_PARTITIONS`, 3).
    pub partitions: i32,
    /// Replication factor when created (`KAFKA_TOPIC_REPLICATION_FACTOR`, 1).
    pub replication_factor: i16,
    /// `KAFKA_MESSAGE_MAX_BYTES`, default 1000000: larger events are not
    /// sent. Keep it at or below the topic's `max.message.bytes` (a broker's
    /// default is 1048588); an event the broker still refuses as too large
    /// is dead-lettered too.
    pub max_message_bytes: usize,
    /// `KAFKA_COMPRESSION`: `lz4` (default), `snappy`, `gzip` or `none`.
    pub compression: Compression,
    /// CloudEvents `source` (`KAFKA_CLOUDEVENTS_SOURCE`).
    pub source: String,
    /// How long one broker request may retry before it counts as failed.
    pub request_deadline: Duration,
    /// TLS and SASL.
    pub security: KafkaSecurity,
}

use orgman_settings::Env;
pub use orgman_settings::SettingsError;

use crate::security::KafkaSecurity;

impl KafkaSettings {
    /// Where and how the publisher connects, for the secure-transport rule.
    pub fn transport(&self) -> orgman_settings::Transport {
        orgman_settings::Transport {
            dependency: "kafka",
            hosts: self
                .bootstrap
                .iter()
                .map(|node| orgman_settings::host_of(node).to_owned())
                .collect(),
            protection: orgman_settings::Protection::verified_tls(self.security.tls()),
            setting: "SPRING_KAFKA_SECURITY_PROTOCOL",
            fix: "SPRING_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL (with SPRING_KAFKA_SSL_TRUST_STORE_LOCATION for a private CA)",
        }
    }

    /// Reads the settings through `get`.
    ///
    /// # Errors
    /// [`SettingsError`] naming the variable.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Env::new(&get);
        let var = |name: &str| env.text(name);
        // Naming parts are taken as set: an empty one is a choice.
        let text = |name: &str, default: &str| get(name).unwrap_or_else(|| default.to_owned());
        let number = |name: &'static str, default: i64| env.number(name, default);
        let naming = TopicNaming {
            package: text("KAFKA_TOPIC_NAMING_PACKAGE", "ai.flowx."),
            environment: text("KAFKA_TOPIC_NAMING_ENVIRONMENT", ""),
            version: text("KAFKA_TOPIC_NAMING_VERSION", ".v1"),
            separator: text("KAFKA_TOPIC_NAMING_SEPARATOR", "."),
            separator2: text("KAFKA_TOPIC_NAMING_SEPARATOR2", "-"),
        };
        let compression = match var("KAFKA_COMPRESSION").as_deref().unwrap_or("lz4") {
            "none" => Compression::NoCompression,
            "lz4" => Compression::Lz4,
            "snappy" => Compression::Snappy,
            "gzip" => Compression::Gzip,
            other => {
                return Err(SettingsError {
                    name: "KAFKA_COMPRESSION",
                    reason: format!("{other:?}: expected lz4, snappy, gzip or none"),
                });
            }
        };
        let topic = var("KAFKA_TOPIC_ORGANIZATION_EVENTS_OUT")
            .unwrap_or_else(|| naming.name(&[&["organization"], &["events"]]));
        let bootstrap: Vec<String> = text("SPRING_KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if bootstrap.is_empty() {
            return Err(SettingsError {
                name: "SPRING_KAFKA_BOOTSTRAP_SERVERS",
                reason: "no server given".into(),
            });
        }
        let positive = |name: &'static str, value: i64, max: i64| {
            if (1..=max).contains(&value) {
                Ok(value)
            } else {
                Err(SettingsError {
                    name,
                    reason: format!("{value} is out of range 1..={max}"),
                })
            }
        };
        Ok(Self {
            bootstrap,
            naming,
            topic,
            partitions: positive(
                "KAFKA_TOPIC_PARTITIONS",
                number("KAFKA_TOPIC_PARTITIONS", 3)?,
                10_000,
            )? as i32,
            replication_factor: positive(
                "KAFKA_TOPIC_REPLICATION_FACTOR",
                number("KAFKA_TOPIC_REPLICATION_FACTOR", 1)?,
                32,
            )? as i16,
            max_message_bytes: positive(
                "KAFKA_MESSAGE_MAX_BYTES",
                number("KAFKA_MESSAGE_MAX_BYTES", 1_000_000)?,
                i64::from(i32::MAX),
            )? as usize,
            compression,
            source: text("KAFKA_CLOUDEVENTS_SOURCE", "urn:flowx:organization-manager"),
            request_deadline: Duration::from_secs(5),
            security: KafkaSecurity::from_env(&env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<KafkaSettings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        KafkaSettings::from_env(|k| map.get(k).cloned())
    }

    #[test]
    fn reference_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.topic, "ai.flowx.organization.events.v1");
        assert_eq!(s.bootstrap, vec!["localhost:9092"]);
        assert_eq!(s.max_message_bytes, 1_000_000);
        assert_eq!(s.compression, Compression::Lz4);
        assert_eq!(
            s.naming.event_type("organization.created"),
            "ai.flowx.organization.created.v1"
        );
    }

    #[test]
    fn naming_parts_and_overrides() {
        let s = settings(&[
            ("KAFKA_TOPIC_NAMING_ENVIRONMENT", "qa"),
            ("KAFKA_TOPIC_NAMING_VERSION", ".v2"),
            ("SPRING_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9092"),
        ])
        .unwrap();
        assert_eq!(s.topic, "ai.flowx.qa.organization.events.v2");
        assert_eq!(s.bootstrap, vec!["k1:9092", "k2:9092"]);
        assert_eq!(
            s.naming.name(&[&["org", "admin"], &["in"]]),
            "ai.flowx.qa.org-admin.in.v2"
        );
        let s = settings(&[("KAFKA_TOPIC_ORGANIZATION_EVENTS_OUT", "custom.topic")]).unwrap();
        assert_eq!(s.topic, "custom.topic");
        assert!(settings(&[("KAFKA_COMPRESSION", "brotli")]).is_err());
        assert!(settings(&[("KAFKA_MESSAGE_MAX_BYTES", "0")]).is_err());
    }
}
