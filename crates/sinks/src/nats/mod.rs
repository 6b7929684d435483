//! NATS, core or JetStream, through `async-nats` (the official client: protocol, TLS, auth,
//! reconnection with backoff and subscription replay are its). Core publishing is confirmed per
//! batch: after the alerts the sink publishes a numbered marker on a private inbox it subscribes
//! to, and the batch counts as delivered when the marker comes back (the server handles one
//! connection's messages in order, so every alert before it was processed). JetStream publishing
//! waits for each message's stream acknowledgement, so an alert only counts once a stream stored
//! it. Subject from `subjecttemplate` (default `falco.<priority>.<rule>`; priority lower-case,
//! rule lower-case with anything but letters, digits, `-` and `_` turned into `_`).

use crate::common::CommonConfig;
use harrier_engine::Alert;
use serde::Deserialize;

/// falcosidekick's `nats:` keys plus Harrier's `jetstream`, `user`, `password`, `token`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct NatsConfig {
    pub hostport: String,
    pub subjecttemplate: String,
    pub jetstream: bool,
    pub user: String,
    pub password: String,
    pub token: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn subject(template: &str, a: &Alert) -> String {
    let t = if template.is_empty() { "falco.<priority>.<rule>" } else { template };
    let rule: String = a
        .rule
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    t.replace("<priority>", &a.priority.as_str().to_lowercase()).replace("<rule>", &rule)
}

// The client: the `nats` feature. Without it the section is still read (and refused at
// start naming the feature, as `harrier doctor` reports it).
#[cfg(feature = "nats")]
mod client;
#[cfg(feature = "nats")]
pub use client::NatsSink;

#[cfg(not(feature = "nats"))]
crate::left_out_sink!(NatsSink, NatsConfig, "nats");
