//! MQTT 3.1.1 through `rumqttc` (protocol, keep-alive, packet ids and QoS 1/2 handshakes are
//! its). Falco's JSON alert is published on `topic` (default `falco/events`) with `qos` (0, 1
//! or 2) and `retained`. A batch counts as delivered when the broker has acknowledged every
//! message of it: PUBACK for QoS 1, PUBCOMP for QoS 2; with QoS 0 when it was written to the
//! connection (at most once, as MQTT defines it). The sink drives rumqttc's event loop itself
//! inside each delivery, so an outage or a cancelled delivery drops the connection and its
//! in-flight state, and the queue retries the whole batch on a new connection (at least once:
//! a message acknowledged just before a drop can arrive twice).

use crate::common::CommonConfig;
use serde::Deserialize;

/// falcosidekick's `mqtt:` keys.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct MqttConfig {
    /// `tcp://host:port`, `ssl://host:port` (also `mqtt://`, `mqtts://`, or `host:port`).
    pub broker: String,
    pub topic: String,
    pub qos: u8,
    pub retained: bool,
    pub user: String,
    pub password: String,
    pub checkcert: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            broker: String::new(),
            topic: "falco/events".into(),
            qos: 0,
            retained: false,
            user: String::new(),
            password: String::new(),
            checkcert: true,
            common: CommonConfig::default(),
        }
    }
}

/// Host, port and whether to use TLS, from `broker`.
pub fn parse_broker(b: &str) -> Result<(String, u16, bool), String> {
    let b = b.trim();
    let (rest, tls) = if let Some(r) = b.strip_prefix("tcp://").or_else(|| b.strip_prefix("mqtt://")) {
        (r, false)
    } else if let Some(r) =
        b.strip_prefix("ssl://").or_else(|| b.strip_prefix("tls://")).or_else(|| b.strip_prefix("mqtts://"))
    {
        (r, true)
    } else if b.contains("://") {
        return Err(format!("mqtt.broker '{b}': the scheme must be tcp://, ssl://, mqtt:// or mqtts://"));
    } else {
        (b, false)
    };
    let rest = rest.trim_end_matches('/');
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => {
            let port = p.parse::<u16>().map_err(|_| format!("mqtt.broker '{b}': bad port '{p}'"))?;
            (h.trim_start_matches('[').trim_end_matches(']').to_string(), port)
        }
        _ => (rest.to_string(), default_port),
    };
    if host.is_empty() || host.contains('/') {
        return Err(format!("mqtt.broker '{b}': expected [tcp://|ssl://]host[:port]"));
    }
    Ok((host, port, tls))
}

// The client: the `mqtt` feature. Without it the section is still read (and refused at
// start naming the feature, as `harrier doctor` reports it).
#[cfg(feature = "mqtt")]
mod client;
#[cfg(feature = "mqtt")]
pub use client::MqttSink;

#[cfg(not(feature = "mqtt"))]
crate::left_out_sink!(MqttSink, MqttConfig, "mqtt");
