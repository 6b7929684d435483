//! Kafka through `rdkafka` (librdkafka, built from the crate's bundled sources and linked
//! statically): broker discovery, partition leaders, batching, compression, retries, TLS, SASL
//! and idempotence are librdkafka's. This module maps falcosidekick's `kafka:` keys onto
//! librdkafka properties and waits for each alert's delivery report: a batch counts as delivered
//! only when the brokers acknowledged every alert in it (`requiredacks` NONE: when librdkafka
//! sent it; `async: true`: when librdkafka took it).
//!
//! The value of each record is Falco's JSON alert. `round_robin` (default) and `least_bytes`
//! spread keyless records over the partitions in turn; `hash` (FNV-1a), `crc32` and `murmur2`
//! use the rule name as the key and librdkafka's partitioner of that name, so one rule's alerts
//! stay in order in one partition. `requiredacks: ALL` turns on the idempotent producer.

use super::KafkaConfig;
use crate::common::json_bytes;
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Balancer {
    /// Keyless records, the partition chosen here in turn.
    RoundRobin,
    /// Keyed by rule, librdkafka's partitioner of this name.
    Keyed(&'static str),
}

/// librdkafka's client-level events: it reports when every broker is unreachable.
#[derive(Default)]
struct Health {
    all_down: AtomicBool,
    last: std::sync::Mutex<String>,
}

struct Events(Arc<Health>);

impl ClientContext for Events {
    fn error(&self, e: KafkaError, reason: &str) {
        if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.0.all_down.store(true, Ordering::Relaxed);
        }
        if let Ok(mut l) = self.0.last.lock() {
            *l = reason.chars().take(300).collect();
        }
        tracing::debug!(error = %e, reason, "kafka client");
    }
}

pub struct KafkaSink {
    producer: FutureProducer<Events>,
    health: Arc<Health>,
    settings: Vec<(String, String)>,
    topic: String,
    balancer: Balancer,
    create_topic: bool,
    wait: bool,
    /// The topic's partition count (0 until known) and the next round-robin slot.
    partitions: AtomicUsize,
    next: AtomicUsize,
    created: tokio::sync::OnceCell<()>,
}

fn kerr(m: impl std::fmt::Display) -> SinkError {
    SinkError::transient(format!("kafka: {m}"))
}

/// Errors that retrying the same alert cannot fix.
fn is_permanent(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}

impl KafkaSink {
    /// The librdkafka properties for `c` (checked), without creating a producer.
    pub fn settings(c: &KafkaConfig) -> Result<Vec<(String, String)>, String> {
        let brokers: Vec<&str> = c.hostport.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if brokers.is_empty() {
            return Err("kafka.hostport is empty".into());
        }
        if c.topic.trim().is_empty() {
            return Err("kafka.topic is required".into());
        }
        let mut s: Vec<(&str, String)> = vec![
            ("bootstrap.servers", brokers.join(",")),
            ("client.id", if c.clientid.is_empty() { "harrier".into() } else { c.clientid.clone() }),
            // A batch that cannot be delivered in this time is reported failed (the queue
            // retries it); librdkafka retries inside it.
            ("message.timeout.ms", "30000".into()),
            ("socket.connection.setup.timeout.ms", "5000".into()),
        ];
        match c.requiredacks.to_ascii_uppercase().as_str() {
            "" | "ONE" | "1" => s.push(("acks", "1".into())),
            "NONE" | "0" => s.push(("acks", "0".into())),
            "ALL" | "-1" => {
                s.push(("acks", "all".into()));
                s.push(("enable.idempotence", "true".into()));
            }
            o => return Err(format!("kafka.requiredacks must be NONE, ONE or ALL, not '{o}'")),
        }
        let codec = match c.compression.to_ascii_uppercase().as_str() {
            "" | "NONE" => "none",
            "GZIP" => "gzip",
            "SNAPPY" => "snappy",
            "LZ4" => "lz4",
            o => {
                return Err(format!("kafka.compression: '{o}' is not supported (NONE, GZIP, SNAPPY or LZ4)"))
            }
        };
        s.push(("compression.codec", codec.into()));
        let mechanism = match c.sasl.to_ascii_uppercase().replace('-', "_").as_str() {
            "" => None,
            "PLAIN" => Some("PLAIN"),
            "SCRAM_SHA256" | "SCRAM_SHA_256" => Some("SCRAM-SHA-256"),
            "SCRAM_SHA512" | "SCRAM_SHA_512" => Some("SCRAM-SHA-512"),
            o => {
                return Err(format!(
                    "kafka.sasl: '{o}' is not supported (PLAIN, SCRAM_SHA256 or SCRAM_SHA512)"
                ))
            }
        };
        let protocol = match (mechanism, c.tls) {
            (None, false) => "plaintext",
            (None, true) => "ssl",
            (Some(_), false) => "sasl_plaintext",
            (Some(_), true) => "sasl_ssl",
        };
        s.push(("security.protocol", protocol.into()));
        if let Some(m) = mechanism {
            if c.username.is_empty() {
                return Err(format!("kafka.sasl {m} needs kafka.username and kafka.password"));
            }
            s.push(("sasl.mechanism", m.into()));
            s.push(("sasl.username", c.username.clone()));
            s.push(("sasl.password", c.password.clone()));
        }
        match c.balancer.to_ascii_lowercase().as_str() {
            "" | "round_robin" | "roundrobin" | "least_bytes" | "leastbytes" => {}
            "hash" => s.push(("partitioner", "fnv1a".into())),
            "crc32" => s.push(("partitioner", "consistent".into())),
            "murmur2" => s.push(("partitioner", "murmur2".into())),
            o => {
                return Err(format!(
                    "kafka.balancer must be round_robin, least_bytes, hash, crc32 or murmur2, not '{o}'"
                ))
            }
        }
        Ok(s.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    pub fn new(c: &KafkaConfig) -> Result<Self, String> {
        let settings = Self::settings(c)?;
        let mut cc = ClientConfig::new();
        for (k, v) in &settings {
            cc.set(k, v);
        }
        let health = Arc::new(Health::default());
        let producer: FutureProducer<Events> =
            cc.create_with_context(Events(health.clone())).map_err(|e| format!("kafka: {e}"))?;
        let balancer = match settings.iter().find(|(k, _)| k == "partitioner") {
            Some((_, p)) if p == "fnv1a" => Balancer::Keyed("fnv1a"),
            Some((_, p)) if p == "consistent" => Balancer::Keyed("consistent"),
            Some(_) => Balancer::Keyed("murmur2"),
            None => Balancer::RoundRobin,
        };
        Ok(KafkaSink {
            producer,
            health,
            settings,
            topic: c.topic.trim().to_string(),
            balancer,
            create_topic: c.topiccreation,
            wait: !c.async_,
            partitions: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            created: tokio::sync::OnceCell::new(),
        })
    }

    /// librdkafka's properties, passwords masked (for `harrier doctor` and the tests).
    pub fn properties(&self) -> Vec<(String, String)> {
        self.settings
            .iter()
            .map(|(k, v)| (k.clone(), if k.contains("password") { "***".into() } else { v.clone() }))
            .collect()
    }

    /// How many partitions the topic has (metadata from librdkafka, on a blocking thread).
    async fn partition_count(&self) -> Result<usize, SinkError> {
        let n = self.partitions.load(Ordering::Relaxed);
        if n > 0 {
            return Ok(n);
        }
        let client = self.producer.clone();
        let topic = self.topic.clone();
        let n = tokio::task::spawn_blocking(move || {
            let md = client.client().fetch_metadata(Some(&topic), Duration::from_secs(5)).map_err(kerr)?;
            let t = md.topics().iter().find(|t| t.name() == topic).ok_or_else(|| kerr("no metadata"))?;
            if let Some(e) = t.error() {
                return Err(kerr(format!("topic {topic}: {:?} (kafka.topiccreation creates it)", e)));
            }
            Ok(t.partitions().len())
        })
        .await
        .map_err(kerr)??;
        if n == 0 {
            return Err(kerr(format!("topic {} has no partitions yet", self.topic)));
        }
        self.partitions.store(n, Ordering::Relaxed);
        Ok(n)
    }

    async fn ensure_topic(&self) -> Result<(), SinkError> {
        if !self.create_topic {
            return Ok(());
        }
        self.created
            .get_or_try_init(|| async {
                use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
                let mut cc = ClientConfig::new();
                let admin_keys = |k: &str| {
                    ["bootstrap.servers", "client.id", "security.protocol"].contains(&k) || k.starts_with("sasl.")
                };
                for (k, v) in self.settings.iter().filter(|(k, _)| admin_keys(k)) {
                    cc.set(k, v);
                }
                let admin: AdminClient<_> = cc.create().map_err(kerr)?;
                let topic = NewTopic::new(&self.topic, 1, TopicReplication::Fixed(-1));
                let opts = AdminOptions::new()
                    .operation_timeout(Some(Duration::from_secs(5)))
                    .request_timeout(Some(Duration::from_secs(5)));
                // Best effort, once: a broker that refuses (or a policy that auto-creates) shows
                // in the deliveries that follow.
                match admin.create_topics([&topic], &opts).await {
                    Ok(r) => {
                        for t in r {
                            if let Err((name, code)) = t {
                                if code != RDKafkaErrorCode::TopicAlreadyExists {
                                    tracing::warn!(topic = %name, error = %code, "kafka: cannot create the topic");
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(topic = %self.topic, error = %e, "kafka: cannot create the topic"),
                }
                Ok::<(), SinkError>(())
            })
            .await
            .map(|_| ())
    }

    /// After librdkafka said every broker is down: a metadata request (1 s) tells whether one
    /// is back, so an outage fails batches at once instead of piling copies into librdkafka.
    async fn check_brokers(&self) -> Result<(), SinkError> {
        let ev = &self.health;
        if !ev.all_down.load(Ordering::Relaxed) {
            return Ok(());
        }
        let client = self.producer.clone();
        let up =
            tokio::task::spawn_blocking(move || client.client().fetch_metadata(None, Duration::from_secs(1)))
                .await
                .map_err(kerr)?;
        match up {
            Ok(_) => {
                ev.all_down.store(false, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let last = ev.last.lock().map(|l| l.clone()).unwrap_or_default();
                Err(kerr(format!("all brokers are down ({e}; {last})")))
            }
        }
    }

    async fn produce(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        self.check_brokers().await?;
        self.ensure_topic().await?;
        let count = match self.balancer {
            Balancer::RoundRobin => Some(self.partition_count().await?),
            Balancer::Keyed(_) => None,
        };
        let payloads: Vec<Vec<u8>> = alerts.iter().map(|a| json_bytes(a)).collect();
        let mut pending = Vec::with_capacity(alerts.len());
        for (a, p) in alerts.iter().zip(&payloads) {
            let mut r: FutureRecord<'_, str, [u8]> =
                FutureRecord::to(&self.topic).payload(p.as_slice()).timestamp((a.time_ns / 1_000_000) as i64);
            match count {
                Some(n) => r = r.partition((self.next.fetch_add(1, Ordering::Relaxed) % n) as i32),
                None => r = r.key(a.rule.as_str()),
            }
            let f =
                self.producer.send_result(r).map_err(|(e, _)| kerr(format!("cannot queue an alert: {e}")))?;
            pending.push(f);
        }
        if !self.wait {
            return Ok(());
        }
        for f in pending {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    if matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::UnknownPartition)) {
                        self.partitions.store(0, Ordering::Relaxed);
                    }
                    let m = format!("kafka: {}: {e}", self.topic);
                    return Err(if is_permanent(&e) {
                        SinkError::permanent(m)
                    } else {
                        SinkError::transient(m)
                    });
                }
                Err(_) => return Err(kerr("the producer dropped the alert")),
            }
        }
        Ok(())
    }
}

impl Sink for KafkaSink {
    fn kind(&self) -> &'static str {
        "kafka"
    }
    fn max_batch(&self) -> usize {
        256
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(self.produce(alerts))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
