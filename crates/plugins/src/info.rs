//! What `--list-plugins` and `--plugin-info` print, in Falco's layout.

use crate::config::{PluginEntry, PluginSet};
use std::fmt::Write;

/// Description of one plugin (built-in or hosted).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInfo {
    pub name: String,
    pub description: String,
    pub contact: String,
    pub version: String,
    pub required_api_version: String,
    /// (plugin id, source) for sourcing plugins.
    pub sourcing: Option<(u32, String)>,
    pub extraction: bool,
    /// JSON schema of init_config, if the plugin has one.
    pub init_schema: Option<String>,
    /// Suggested open_params (plugin's list), for --plugin-info.
    pub open_params_help: Vec<String>,
    /// Served by Harrier itself rather than a library.
    pub native: bool,
}

/// init_config schema of the built-in k8saudit (its keys, types and defaults).
pub const K8SAUDIT_SCHEMA: &str = r#"{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","additionalProperties":true,"properties":{"sslCertificate":{"type":"string","default":"/etc/falco/falco.pem","description":"Path to a PEM file holding the certificate and the private key (https)"},"useAsync":{"type":"boolean","default":true,"description":"Accepted for compatibility; has no effect"},"maxEventSize":{"type":"integer","default":262144,"minimum":1,"description":"Maximum size of one event (bytes)"},"webhookMaxBatchSize":{"type":"integer","default":12582912,"minimum":1,"description":"Maximum size of one webhook request body (bytes)"},"clientCA":{"type":"string","description":"Harrier: PEM file of CAs that https clients must present a certificate from"},"bearerToken":{"type":"string","description":"Harrier: token required in Authorization: Bearer"},"bearerTokenFile":{"type":"string","description":"Harrier: file holding the bearer token"},"queueCapacity":{"type":"integer","default":10000,"minimum":1,"description":"Harrier: events queued between the webhook and the rules"},"queueWaitMs":{"type":"integer","default":5000,"minimum":0,"description":"Harrier: wait for room in the queue before answering 503"}}}"#;

/// The plugins Harrier serves natively.
pub fn builtin(name: &str) -> Option<PluginInfo> {
    let contact = "https://example.invalid/harrier (built into Harrier)".to_string();
    Some(match name {
        "k8saudit" => PluginInfo {
            name: "k8saudit".into(),
            description: "Read Kubernetes Audit Events and monitor Kubernetes Clusters (built in: no library is loaded)".into(),
            contact,
            version: harrier_k8saudit::config::PLUGIN_VERSION.into(),
            required_api_version: "3.12.0".into(),
            sourcing: Some((harrier_k8saudit::config::PLUGIN_ID, harrier_k8saudit::SOURCE.into())),
            extraction: true,
            init_schema: Some(K8SAUDIT_SCHEMA.into()),
            open_params_help: vec![
                "http://:9765/k8s-audit (webhook; https:// for TLS)".into(),
                "/path/to/file.jsonl or /path/to/dir (replay to the end)".into(),
                "file:///path/to/file.jsonl (follow like tail -F)".into(),
            ],
            native: true,
        },
        "json" => PluginInfo {
            name: "json".into(),
            description: "Extract values from any JSON payload (built in: no library is loaded)".into(),
            contact,
            version: harrier_k8saudit::config::JSON_PLUGIN_VERSION.into(),
            required_api_version: "3.12.0".into(),
            sourcing: None,
            extraction: true,
            init_schema: None,
            open_params_help: vec![],
            native: true,
        },
        "container" => PluginInfo {
            name: "container".into(),
            description: "Container and Kubernetes pod metadata (built in: Harrier's container engines)".into(),
            contact,
            version: "0.4.0".into(),
            required_api_version: "3.12.0".into(),
            sourcing: None,
            extraction: true,
            init_schema: None,
            open_params_help: vec![],
            native: true,
        },
        _ => return None,
    })
}

fn block(p: &PluginInfo, out: &mut String) {
    let _ = writeln!(out, "Name: {}", p.name);
    let _ = writeln!(out, "Description: {}", p.description);
    let _ = writeln!(out, "Contact: {}", p.contact);
    let _ = writeln!(out, "Version: {}", p.version);
    let _ = writeln!(out, "Capabilities: ");
    if let Some((id, src)) = &p.sourcing {
        let _ = writeln!(out, "  - Event Sourcing (ID={id}, source='{src}')");
    }
    if p.extraction {
        let _ = writeln!(out, "  - Field Extraction");
    }
}

/// `--list-plugins`: every loaded plugin.
pub fn list(infos: &[PluginInfo]) -> String {
    let mut out = format!("{} Plugins:\n", infos.len());
    for p in infos {
        block(p, &mut out);
        out.push('\n');
    }
    out
}

/// `--plugin-info NAME`: one plugin with its init_config schema and open params.
pub fn detail(p: &PluginInfo, entry: Option<&PluginEntry>) -> String {
    let mut out = String::new();
    block(p, &mut out);
    let _ = writeln!(out, "Init config schema type: JSON");
    let _ = writeln!(out, "{}", p.init_schema.as_deref().unwrap_or("{}"));
    if p.sourcing.is_some() {
        let _ = writeln!(out, "Suggested open params:");
        for o in &p.open_params_help {
            let _ = writeln!(out, "  {o}");
        }
    }
    if let Some(e) = entry {
        if let Some(o) = &e.open_params {
            let _ = writeln!(out, "Configured open params: {o}");
        }
    }
    out
}

/// Infos of the native entries of a set (hosted ones come from their libraries).
pub fn native_infos(set: &PluginSet) -> Vec<PluginInfo> {
    set.entries.iter().filter_map(|e| builtin(&e.name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let k = builtin("k8saudit").unwrap();
        let s = list(&[k.clone(), builtin("json").unwrap()]);
        assert!(s.starts_with("2 Plugins:\nName: k8saudit\n"), "{s}");
        assert!(s.contains("Version: 0.18.0"));
        assert!(s.contains("  - Event Sourcing (ID=1, source='k8s_audit')\n  - Field Extraction"));
        let d = detail(&k, None);
        assert!(d.contains("\"maxEventSize\"") && d.contains("9765"));
        let schema: serde_json::Value = serde_json::from_str(K8SAUDIT_SCHEMA).unwrap();
        assert_eq!(schema["properties"]["webhookMaxBatchSize"]["default"], 12582912);
    }
}
