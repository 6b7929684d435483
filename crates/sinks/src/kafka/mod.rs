//! Kafka: falcosidekick's `kafka:` keys here (always compiled, so a build without the `kafka`
//! feature refuses the section clearly); the producer on librdkafka in [`producer`] (the
//! `kafka` feature).

use crate::common::CommonConfig;
use serde::Deserialize;

#[cfg(feature = "kafka")]
mod producer;
#[cfg(feature = "kafka")]
pub use producer::KafkaSink;

/// falcosidekick's `kafka:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct KafkaConfig {
    /// Comma-separated bootstrap brokers (`host:port`, port 9092 when missing).
    pub hostport: String,
    pub topic: String,
    /// Create the topic (admin API, one partition) if it does not exist.
    pub topiccreation: bool,
    /// `round_robin` (default), `least_bytes`, `hash`, `crc32`, `murmur2`.
    pub balancer: String,
    pub clientid: String,
    /// `NONE` (default), `GZIP`, `SNAPPY` or `LZ4`.
    pub compression: String,
    /// `NONE`, `ONE` (Harrier's default) or `ALL`.
    pub requiredacks: String,
    /// `PLAIN`, `SCRAM_SHA256` or `SCRAM_SHA512` (with `username` and `password`).
    pub sasl: String,
    /// TLS to the brokers (system CAs).
    pub tls: bool,
    pub username: String,
    pub password: String,
    /// Hand alerts to the producer and report them delivered without waiting for the brokers.
    #[serde(rename = "async")]
    pub async_: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

// Without the `kafka` feature: the section is read and refused; no value of this type exists.
#[cfg(not(feature = "kafka"))]
crate::left_out_sink!(KafkaSink, KafkaConfig, "kafka");
