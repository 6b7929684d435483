#![allow(dead_code)]

use std::collections::BTreeMap;

use harrier_engine::Alert;
use harrier_rules::Priority;
use serde_json::Value;

pub fn rules_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules")
}

pub fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// An alert as Falco would send it.
pub fn alert(rule: &str, priority: Priority, tags: &[&str], fields: &[(&str, Value)]) -> Alert {
    Alert {
        time_ns: now_ns(),
        rule: rule.into(),
        priority,
        source: "syscall".into(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        output: format!("{rule} happened"),
        output_fields: fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        hostname: "node-1".into(),
    }
}
