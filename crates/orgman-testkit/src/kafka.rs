//! An independent Kafka client for tests: Apache Kafka's own Java client on
//! the stack's classpath (`java/KafkaProbe.java`, run in source-file mode),
//! so what orgman publishes is read by something other than rskafka.

use std::collections::BTreeMap;

use base64::Engine as _;

/// A record as Kafka's Java consumer saw it.
#[derive(Clone, Debug)]
pub struct KafkaRecord {
    /// Partition it was read from.
    pub partition: i32,
    /// The key, as text.
    pub key: String,
    /// Headers, values as text.
    pub headers: BTreeMap<String, String>,
    /// The value, parsed as JSON.
    pub value: serde_json::Value,
}

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} (run through cargo xtask test)"))
}

/// Runs the Java probe with `args` and returns what it printed.
///
/// # Panics
/// When it fails.
pub fn java_kafka_probe(args: &[&str]) -> String {
    let classpath = std::fs::read_to_string(setting("ORGMAN_STACK_KAFKA_CLASSPATH"))
        .expect("the stack's Kafka classpath");
    let output = std::process::Command::new(setting("ORGMAN_STACK_KAFKA_JAVA"))
        .args(["-Xmx128m", "-Dlog4j2.level=WARN", "-cp"])
        .arg(classpath.trim())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/java/KafkaProbe.java"))
        .args(args)
        .output()
        .expect("run the Java probe");
    assert!(
        output.status.success(),
        "KafkaProbe {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 from the probe")
}

/// Reads up to `count` records from the start of every partition of
/// `topic`, waiting at most `timeout_ms` for them, with Kafka's Java
/// consumer.
///
/// # Panics
/// When the probe fails or prints something unexpected.
pub fn read_topic(bootstrap: &str, topic: &str, count: usize, timeout_ms: u64) -> Vec<KafkaRecord> {
    let decode = |field: &str| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(field)
                .expect("base64 from the probe"),
        )
        .expect("UTF-8")
    };
    java_kafka_probe(&[
        "consume",
        bootstrap,
        topic,
        &count.to_string(),
        &timeout_ms.to_string(),
    ])
    .lines()
    .map(|line| {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "{line}");
        KafkaRecord {
            partition: fields[0].parse().expect("partition"),
            key: decode(fields[2]),
            headers: fields[3]
                .split(',')
                .filter(|h| !h.is_empty())
                .map(|h| {
                    let (name, value) = h.split_once('=').expect("name=value");
                    (name.to_owned(), decode(value))
                })
                .collect(),
            value: serde_json::from_str(&decode(fields[4])).expect("a JSON value"),
        }
    })
    .collect()
}
