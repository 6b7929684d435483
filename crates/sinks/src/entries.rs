//! The types of `sinks:` entries: the one list `harrier run` builds from and `harrier doctor`
//! checks against. [`crate::config::build_sinks`] refuses any `type:` not in [`ENTRY_TYPES`]
//! before it dispatches, and a test builds every listed type, so the list and the constructor
//! cannot drift apart; doctor asks [`entry_type`] and [`entry_sink`] instead of keeping a list
//! of its own.

use crate::hooks::{
    DatadoglogsConfig, GooglechatConfig, HookMeta, KafkarestConfig, OpsgenieConfig, TelegramConfig,
    WebexConfig,
};
use crate::sink::Sink;
use std::sync::Arc;

/// One type of `sinks:` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryType {
    /// The `type:` value (also the name of its top-level section where it has one).
    pub kind: &'static str,
    /// The cargo feature of this crate its code needs (`None`: in every build).
    pub feature: Option<&'static str>,
}

impl EntryType {
    /// Whether this build has its code (a lean build refuses it, naming [`Self::feature`]).
    pub fn built(&self) -> bool {
        self.feature.is_none_or(feature_built)
    }
}

const fn always(kind: &'static str) -> EntryType {
    EntryType { kind, feature: None }
}
const fn with(kind: &'static str, feature: &'static str) -> EntryType {
    EntryType { kind, feature: Some(feature) }
}

/// Every `type:` a `sinks:` entry may have. A new output is one row here and one arm in the
/// constructor (the test `every_entry_type_builds_and_no_other` fails until both exist).
pub const ENTRY_TYPES: &[EntryType] = &[
    always("webhook"),
    always("slack"),
    always("discord"),
    always("teams"),
    always("mattermost"),
    always("loki"),
    always("elasticsearch"),
    with("nats", "nats"),
    with("kafka", "kafka"),
    with("smtp", "smtp"),
    with("redis", "redis"),
    always("syslog"),
    always("prometheus"),
    always("alertmanager"),
    with("mqtt", "mqtt"),
    always("otlp_logs"),
    always("pagerduty"),
    always("splunk"),
    always(OpsgenieConfig::KIND),
    always(GooglechatConfig::KIND),
    always(TelegramConfig::KIND),
    always(WebexConfig::KIND),
    always(DatadoglogsConfig::KIND),
    always(KafkarestConfig::KIND),
    with(crate::aws::KINDS[0].0, "aws"),
    with(crate::aws::KINDS[1].0, "aws"),
    with(crate::aws::KINDS[2].0, "aws"),
    with(crate::aws::KINDS[3].0, "aws"),
    with("gcpstorage", "cloud"),
    with("azureblob", "cloud"),
];

/// Whether this build has a feature of this crate.
pub fn feature_built(feature: &str) -> bool {
    const BUILT: [(&str, bool); 7] = [
        ("kafka", cfg!(feature = "kafka")),
        ("nats", cfg!(feature = "nats")),
        ("redis", cfg!(feature = "redis")),
        ("smtp", cfg!(feature = "smtp")),
        ("mqtt", cfg!(feature = "mqtt")),
        ("aws", cfg!(feature = "aws")),
        ("cloud", cfg!(feature = "cloud")),
    ];
    BUILT.iter().any(|&(f, on)| f == feature && on)
}

/// The entry type named `kind` (`None`: no such output).
pub fn entry_type(kind: &str) -> Option<&'static EntryType> {
    ENTRY_TYPES.iter().find(|t| t.kind == kind)
}

/// The error for a `type:` that is not an output: names it and lists the known ones.
pub fn unknown(kind: &str) -> String {
    let known: Vec<&str> = ENTRY_TYPES.iter().map(|t| t.kind).collect();
    format!("unknown output type '{kind}' (known types: {})", known.join(", "))
}

/// The sink of one `sinks:` entry, built exactly as `harrier run` builds it (no network access;
/// `mtls_dir`: `mutualtlsfilespath`). An unknown type, a left-out feature, a missing or invalid
/// key: the error says which.
pub fn entry_sink(entry: &serde_yaml::Value, mtls_dir: &str) -> Result<Arc<dyn Sink>, String> {
    let kind = entry.get("type").and_then(|t| t.as_str()).ok_or("missing 'type'")?;
    crate::config::build_entry(kind, entry, mtls_dir, &Arc::new(crate::metrics::Metrics::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed type reaches its constructor (a missing key or a left-out feature is that
    /// output's own error, never "unknown"), and a type not listed is refused by name with the
    /// list. Runs in the full and the lean build (scripts/test.sh: `-- left_out`).
    #[test]
    fn every_entry_type_builds_and_no_other_left_out() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _g = rt.enter();
        let mut seen = std::collections::BTreeSet::new();
        for t in ENTRY_TYPES {
            assert!(seen.insert(t.kind), "{} listed twice", t.kind);
            let v: serde_yaml::Value = serde_yaml::from_str(&format!("{{type: {}}}", t.kind)).unwrap();
            let r = entry_sink(&v, "");
            let e = r.as_ref().err().cloned().unwrap_or_default();
            assert!(!e.contains("unknown output type"), "{}: {e}", t.kind);
            if !t.built() {
                let f = t.feature.unwrap();
                assert!(e.contains(&format!("without the `{f}` feature")), "{}: {e}", t.kind);
            } else if let Ok(s) = &r {
                // Outputs with defaults for every key (prometheus, local syslog, CloudWatch
                // Logs' group) build from a bare entry: the sink of that type.
                assert_eq!(s.kind(), t.kind);
            }
        }
        let v: serde_yaml::Value = serde_yaml::from_str("{type: pager}").unwrap();
        let e = entry_sink(&v, "").err().unwrap();
        assert!(e.starts_with("unknown output type 'pager' (known types: webhook, slack,"), "{e}");
        assert!(e.contains("otlp_logs") && e.contains("sqs") && e.contains("azureblob"), "{e}");
        let v: serde_yaml::Value = serde_yaml::from_str("{name: x}").unwrap();
        assert_eq!(entry_sink(&v, "").err().unwrap(), "missing 'type'");
    }
}
