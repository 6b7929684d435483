//! Small pieces the sinks share: per-output routing options, header maps, colours and facts.

use harrier_engine::Alert;
use harrier_rules::Priority;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Options every output accepts besides its own keys: falcosidekick's `minimumpriority`, and
/// Harrier's `name` (for several instances), `filter` (rules-language condition over the alert)
/// and `queue`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CommonConfig {
    pub minimumpriority: String,
    pub filter: String,
    pub name: String,
    pub queue: QueueYaml,
}

/// `queue:` of an output (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QueueYaml {
    /// Alerts held in memory (default 1024; 0 = write every alert to the spool first).
    pub memory: Option<usize>,
    /// Hand-over channel capacity (default 1024).
    pub channel: Option<usize>,
    /// Spool limit in MiB (default 256).
    pub spool_max_mb: Option<u64>,
    /// `block` or `drop_newest` (default).
    pub when_full: Option<String>,
    /// Backoff bounds and attempt timeout, in milliseconds.
    pub backoff_initial_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
}

/// Header maps: a YAML map, or falcosidekick's `key:value,key:value` string form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum KvMap {
    Map(BTreeMap<String, serde_yaml::Value>),
    Text(String),
    #[default]
    None,
}

impl KvMap {
    pub fn pairs(&self) -> Vec<(String, String)> {
        match self {
            KvMap::Map(m) => m
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_yaml::Value::String(s) => s.clone(),
                        serde_yaml::Value::Null => String::new(),
                        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
                    };
                    (k.clone(), v)
                })
                .collect(),
            KvMap::Text(s) => s
                .split(',')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once(':')?;
                    let k = k.trim();
                    (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
                })
                .collect(),
            KvMap::None => Vec::new(),
        }
    }
}

/// A colour per priority (hex, no `#`).
pub fn color_hex(p: Priority) -> &'static str {
    match p {
        Priority::Emergency | Priority::Alert | Priority::Critical => "b71c1c",
        Priority::Error => "e53935",
        Priority::Warning => "f9a825",
        Priority::Notice => "0288d1",
        Priority::Informational => "43a047",
        Priority::Debug => "9e9e9e",
    }
}

/// The facts a chat message shows: rule, priority, source, hostname, tags, time, then every
/// output field (`<NA>` for null).
pub fn facts(a: &Alert) -> Vec<(String, String)> {
    let mut v = vec![
        ("rule".to_string(), a.rule.clone()),
        ("priority".to_string(), a.priority.as_str().to_string()),
        ("source".to_string(), a.source.clone()),
    ];
    if !a.hostname.is_empty() {
        v.push(("hostname".into(), a.hostname.clone()));
    }
    if !a.tags.is_empty() {
        let mut t = a.tags.clone();
        t.sort();
        v.push(("tags".into(), t.join(", ")));
    }
    for (k, val) in &a.output_fields {
        v.push((k.clone(), crate::alert::value_text(val).unwrap_or_else(|| "<NA>".into())));
    }
    v.push(("time".into(), harrier_engine::output::format_time_json(a.time_ns)));
    v
}

/// Cut `s` to at most `max` characters (on a char boundary), marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Falco's JSON of an alert (what the webhook, NATS, Kafka, Redis… carry).
pub fn json_bytes(a: &Alert) -> Vec<u8> {
    a.to_json_value(true, true).to_string().into_bytes()
}
