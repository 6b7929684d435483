//! Entry points for the fuzz targets (`crates/plugins/fuzz`): what a plugin hands the host (events
//! from `next_batch`, the `get_fields` list, the init schema) and the `plugins:` / `load_plugins:`
//! configuration with its `init_config`. Invariants checked; never panics. Not a stable API.

use crate::config::{PluginSet, FALCO_PLUGINS_DIR};
use crate::host::{check_event, event_data, event_ts, parse_fields, validate_config};

/// A plugin event as `next_batch` returns it, checked as the host checks it, then read as the
/// `k8s_audit` feed reads a hosted source's events.
pub fn plugin_event(data: &[u8]) {
    for id in [None, Some(999), Some(0)] {
        if check_event(data, id).is_ok() {
            let len = u32::from_le_bytes([data[16], data[17], data[18], data[19]]) as usize;
            assert_eq!(len, data.len());
            let l1 = u32::from_le_bytes([data[30], data[31], data[32], data[33]]) as usize;
            assert_eq!(event_data(data).len(), l1, "the data is the second parameter");
            if let Ok(ev) = harrier_k8saudit::AuditEvent::from_payload(event_ts(data), event_data(data)) {
                assert!(!ev.payload.is_empty());
            }
        }
    }
}

/// A plugin's JSON: the input split at the first NUL into (init schema, init_config); the whole
/// input also as a `get_fields` list.
pub fn plugin_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (schema, config) = text.split_once('\0').unwrap_or((&text, ""));
    let _ = validate_config(schema, config);
    let _ = validate_config(config, schema);
    // Field types are checked where the fields are registered (unknown ones refused there).
    let _ = parse_fields(&text);
}

/// A configuration's `plugins:` and `load_plugins:`: loaded or refused with a message; a
/// relative `library_path` never leaves the plugins directory.
pub fn plugin_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(text) else { return };
    let r = PluginSet::from_config(doc.get("plugins"), doc.get("load_plugins"));
    match r {
        Ok(set) => {
            for e in set.entries.iter().chain(&set.hosted) {
                assert!(!e.name.is_empty());
                let _ = e.init_config_json();
                if let Ok(p) = e.library_file() {
                    let rel = e.library_path.as_deref().is_some_and(|l| !l.starts_with('/'));
                    if rel {
                        assert!(
                            p.starts_with(FALCO_PLUGINS_DIR),
                            "{} left the plugins directory",
                            p.display()
                        );
                        assert!(!p.components().any(|c| matches!(c, std::path::Component::ParentDir)));
                    }
                }
            }
            assert!(set.hosted.iter().all(|h| !crate::config::is_native(&h.name)));
        }
        Err(e) => assert!(!e.is_empty()),
    }
}

/// A well-formed plugin event carrying `data`.
pub fn event(ts: u64, id: u32, data: &[u8]) -> Vec<u8> {
    let len = 26 + 8 + 4 + data.len();
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&ts.to_le_bytes());
    v.extend_from_slice(&u64::MAX.to_le_bytes());
    v.extend_from_slice(&(len as u32).to_le_bytes());
    v.extend_from_slice(&322u16.to_le_bytes());
    v.extend_from_slice(&2u32.to_le_bytes());
    v.extend_from_slice(&4u32.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// Seeds for the corpus: (target, bytes).
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let audit = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"1","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"objectRef":{"resource":"pods"},"stageTimestamp":"2024-01-01T00:00:00Z"}"#;
    vec![
        ("plugin_event", event(1_700_000_000_000_000_000, 999, audit)),
        ("plugin_event", event(u64::MAX, 0, b"[]")),
        ("plugin_json", b"{\"type\":\"object\",\"properties\":{\"maxEventSize\":{\"type\":\"integer\",\"minimum\":1},\"mode\":{\"enum\":[\"a\",\"b\"]},\"list\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},\"required\":[\"mode\"],\"additionalProperties\":false}\0{\"maxEventSize\":5,\"mode\":\"a\",\"list\":[\"x\"]}".to_vec()),
        ("plugin_json", br#"[{"type":"string","name":"ka.user.name","desc":"d","arg":{"isRequired":true,"isKey":true}},{"name":"x","isList":true}]"#.to_vec()),
        ("plugin_config", b"plugins:\n  - name: k8saudit\n    library_path: libk8saudit.so\n    init_config:\n      maxEventSize: 262144\n      webhookMaxBatchSize: 12582912\n    open_params: 'http://:9765/k8s-audit'\n  - name: json\n    library_path: libjson.so\nload_plugins: [k8saudit, json]\n".to_vec()),
        ("plugin_config", b"plugins:\n  - name: cloudtrail\n    library_path: ../../etc/passwd\n    init_config: '{\"a\":1}'\n  - {name: x, library_path: /etc/passwd}\nload_plugins: [x, cloudtrail, x]\n".to_vec()),
    ]
}

#[cfg(test)]
mod brief_fuzz {
    fn run(target: &str, f: fn(&[u8])) {
        harrier_fuzzrun::run_seeded(env!("CARGO_MANIFEST_DIR"), target, super::seeds(), f);
    }

    #[test]
    fn fuzz_plugin_event() {
        run("plugin_event", super::plugin_event);
    }

    #[test]
    fn fuzz_plugin_json() {
        run("plugin_json", super::plugin_json);
    }

    #[test]
    fn fuzz_plugin_config() {
        run("plugin_config", super::plugin_config);
    }

    #[test]
    fn seeds_reach_the_parsers() {
        let s = super::seeds();
        assert!(crate::host::check_event(&s[0].1, Some(999)).is_ok());
        assert!(crate::host::parse_fields(std::str::from_utf8(&s[3].1).unwrap()).unwrap().len() == 2);
        let doc: serde_yaml::Value = serde_yaml::from_slice(&s[4].1).unwrap();
        let set = crate::PluginSet::from_config(doc.get("plugins"), doc.get("load_plugins")).unwrap();
        assert!(set.k8saudit.is_some() && set.json);
        let doc: serde_yaml::Value = serde_yaml::from_slice(&s[5].1).unwrap();
        let e = crate::PluginSet::from_config(doc.get("plugins"), doc.get("load_plugins")).unwrap_err();
        assert!(e.contains("may not leave"), "{e}");
    }
}
