//! `falco.yaml`-compatible configuration: load a YAML file, apply `-o key=value` overrides, and read
//! the typed settings Harrier uses. Unknown keys are kept (other stages read their own blocks).

use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// A configuration error, always naming the key or file it is about.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// The raw configuration tree.
#[derive(Debug, Clone)]
pub struct RawConfig {
    root: Value,
    /// The file it came from and where its keys are (for messages).
    file: Option<String>,
    pos: harrier_sinks::configcheck::Positions,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig { root: Value::Mapping(Mapping::new()), file: None, pos: Default::default() }
    }
}

/// Top-level `falco.yaml` keys: Falco's own (all of them, so a real falco.yaml loads without
/// warnings, whether Harrier uses them or not) and Harrier's. The falcosidekick-style output
/// keys come from `harrier_sinks::config::top_level_keys`. A stage that adds a top-level key
/// adds it here.
pub const KNOWN_KEYS: &[&str] = &[
    // Harrier: workload profiles and the learned scorer
    "profile",
    // Falco
    "config_files",
    "watch_config_files",
    "rules_files",
    "rules_file",
    "rules",
    "engine",
    "load_plugins",
    "plugins",
    "time_format_iso_8601",
    "buffer_format_base64",
    "priority",
    "json_output",
    "json_include_output_property",
    "json_include_message_property",
    "json_include_output_fields_property",
    "json_include_tags_property",
    "buffered_outputs",
    "rule_matching",
    "outputs_queue",
    "outputs",
    "append_output",
    "static_fields",
    "stdout_output",
    "syslog_output",
    "file_output",
    "http_output",
    "program_output",
    "grpc_output",
    "grpc",
    "webserver",
    "log_stderr",
    "log_syslog",
    "log_level",
    "libs_logger",
    "output_timeout",
    "syscall_event_timeouts",
    "syscall_event_drops",
    "metrics",
    "base_syscalls",
    "falco_libs",
    "container_engines",
    "container",
    "capture",
    "modern_bpf",
    "syscall_buf_size_preset",
    "buf_size_preset",
    "syscall_drop_failed_exit",
    "plugins_hostinfo",
    "security_events",
    "stdout",
    "k8s_audit",
    "driver",
    // Harrier
    "harrier",
    "fold",
    "rules_remote_interval",
    "rules_remote",
    "tune",
    "log_format",
    "response",
    "store",
    "ui",
    "session_audit",
];

/// The configuration file name and position of `key`, as a message prefix (`FILE:L:C: `).
fn loc(file: &Option<String>, pos: &harrier_sinks::configcheck::Positions, key: &str) -> String {
    match file {
        Some(f) => format!("{}: ", pos.at(f, key)),
        None => String::new(),
    }
}

impl RawConfig {
    /// Load a YAML file. An empty file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Self::parse_file(&text, &path.display().to_string())
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_file(text, "<config>").map(|mut c| {
            c.file = None;
            c
        })
    }

    fn parse_file(text: &str, file: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let root: Value = serde_yaml::from_str(text).map_err(|e| {
            ConfigError(format!("invalid YAML: {}", harrier_sinks::configcheck::yaml_error(file, &e)))
        })?;
        let pos = harrier_sinks::configcheck::Positions::parse(text);
        match root {
            Value::Mapping(_) => Ok(RawConfig { root, file: Some(file.to_string()), pos }),
            Value::Null => Ok(Self::default()),
            _ => err(format!("{file}: the top level must be a mapping of keys to values")),
        }
    }

    /// Unknown top-level keys (with the nearest valid one) and unknown keys inside the output
    /// sections, one message each.
    pub fn unknown_keys(&self) -> Vec<String> {
        let file = self.file.clone().unwrap_or_else(|| "<config>".into());
        let sidekick = harrier_sinks::config::top_level_keys();
        let valid: Vec<&str> =
            KNOWN_KEYS.iter().copied().chain(sidekick.iter().map(|s| s.as_str())).collect();
        let mut out = Vec::new();
        if let Some(m) = self.root.as_mapping() {
            for k in m.keys() {
                let Some(k) = k.as_str() else { continue };
                if valid.contains(&k) {
                    continue;
                }
                let hint = match harrier_sinks::configcheck::nearest(k, valid.iter().copied()) {
                    Some(n) => format!(" (did you mean '{n}'?)"),
                    None => " (ignored)".to_string(),
                };
                out.push(format!("{}: unknown key '{k}'{hint}", self.pos.at(&file, k)));
            }
        }
        out
    }

    /// Apply one `-o key=value` override. Keys are dot-separated; `name[]` appends a new element
    /// to a list (later segments set keys inside it), `name[N]` addresses element N. The value is
    /// parsed as YAML (so `true`, `5`, `[a, b]` and `{k: v}` work).
    pub fn apply_override(&mut self, spec: &str) -> Result<(), ConfigError> {
        let Some((key, value)) = spec.split_once('=') else {
            return err(format!("-o '{spec}': expected key=value"));
        };
        let key = key.trim();
        if key.is_empty() {
            return err(format!("-o '{spec}': empty key"));
        }
        let value: Value = if value.is_empty() {
            Value::String(String::new())
        } else {
            serde_yaml::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()))
        };
        let segments: Vec<&str> = key.split('.').collect();
        set_path(&mut self.root, &segments, value).map_err(|m| ConfigError(format!("-o '{spec}': {m}")))
    }

    /// A configuration tree from a value (an element of a list of blocks).
    pub fn from_value(root: Value) -> Self {
        RawConfig { root, file: None, pos: Default::default() }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        let mut cur = &self.root;
        for seg in key.split('.') {
            cur = cur.as_mapping()?.get(seg)?;
        }
        Some(cur)
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" => Ok(true),
            Some(Value::String(s)) if s == "false" => Ok(false),
            Some(v) => err(format!(
                "{}config key '{key}': expected true or false, got {}",
                loc(&self.file, &self.pos, key),
                show(v)
            )),
        }
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(v) => err(format!(
                "{}config key '{key}': expected a string, got {}",
                loc(&self.file, &self.pos, key),
                show(v)
            )),
        }
    }

    /// A list of strings; a single string is a one-element list.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => err(format!(
                        "{}config key '{key}': expected a list of strings, found {}",
                        loc(&self.file, &self.pos, key),
                        show(other)
                    )),
                })
                .collect(),
            Some(v) => err(format!(
                "{}config key '{key}': expected a list of strings, got {}",
                loc(&self.file, &self.pos, key),
                show(v)
            )),
        }
    }
}

fn show(v: &Value) -> String {
    serde_yaml::to_string(v).map(|s| s.trim().to_string()).unwrap_or_else(|_| format!("{v:?}"))
}

fn set_path(cur: &mut Value, segments: &[&str], value: Value) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        *cur = value;
        return Ok(());
    };
    let (name, index) = match first.find('[') {
        Some(open) if first.ends_with(']') => (&first[..open], Some(&first[open + 1..first.len() - 1])),
        Some(_) => return Err(format!("malformed key segment '{first}'")),
        None => (*first, None),
    };
    if name.is_empty() {
        return Err(format!("empty key segment in '{first}'"));
    }
    if !cur.is_mapping() {
        *cur = Value::Mapping(Mapping::new());
    }
    let map = cur.as_mapping_mut().ok_or("not a mapping")?;
    let key = Value::String(name.to_string());
    match index {
        None => {
            let slot = map.entry(key).or_insert(Value::Null);
            set_path(slot, rest, value)
        }
        Some(idx) => {
            let slot = map.entry(key).or_insert_with(|| Value::Sequence(Vec::new()));
            if !slot.is_sequence() {
                *slot = Value::Sequence(Vec::new());
            }
            let seq = slot.as_sequence_mut().ok_or("not a list")?;
            let elem = if idx.is_empty() {
                seq.push(Value::Null);
                seq.last_mut().ok_or("empty list")?
            } else {
                let i: usize = idx.parse().map_err(|_| format!("bad list index '{idx}'"))?;
                if i > seq.len() {
                    return Err(format!("list index {i} is past the end (length {})", seq.len()));
                }
                if i == seq.len() {
                    seq.push(Value::Null);
                }
                &mut seq[i]
            };
            set_path(elem, rest, value)
        }
    }
}

/// `rule_matching`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleMatching {
    First,
    All,
}

/// One entry of `rules:` selection (`- disable: {rule: X}` / `- enable: {tag: T}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub enable: bool,
    pub by_tag: bool,
    pub pattern: String,
}

/// The typed settings Harrier's core reads from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rules_files: Vec<PathBuf>,
    pub priority: harrier_rules::Priority,
    pub json_output: bool,
    pub json_include_output_property: bool,
    pub json_include_tags_property: bool,
    pub time_format_iso_8601: bool,
    pub rule_matching: RuleMatching,
    pub stdout_enabled: bool,
    pub file_output: Option<PathBuf>,
    pub file_keep_alive: bool,
    pub program_output: Option<String>,
    pub program_keep_alive: bool,
    pub buffered_outputs: bool,
    pub engine_kind: String,
    pub capture_file: Option<PathBuf>,
    /// Ring buffer size preset (0–7), as Falco's `buf_size_preset`.
    pub buf_size_preset: u32,
    /// Container runtimes to ask for metadata (`container_engines.*`; environment variables
    /// such as `HARRIER_CONTAINERD_SOCKET` still apply underneath).
    pub runtime: harrier_containers::RuntimeConfig,
    pub selection: Vec<Selection>,
    /// `syscall_event_drops.*` (live capture).
    pub drop_policy: crate::drops::DropPolicy,
    /// `fold.*`: alert storms folded (off unless `fold.enabled`).
    pub fold: Option<harrier_fold::FoldConfig>,
    /// `base_syscalls.*`: what live capture collects beyond the rules' syscalls.
    pub base_syscalls: crate::base_syscalls::BaseSyscalls,
    /// `response.*`: response rules (Talon's format) and their safety settings (off unless
    /// `response.rules_files` is set).
    pub response: Option<harrier_respond::stage::StageConfig>,
    /// `session_audit:` (crates/session), when `session_audit.enabled`.
    pub session_audit: Option<harrier_session::audit::AuditConfig>,
    /// `profile.*`: workload profiles and the learned scorer (off unless enabled).
    pub profile: Option<harrier_profile::ProfileConfig>,
    /// `webserver.*`, `metrics.*`, `watch_config_files` (live).
    pub ops: crate::ops_wire::OpsCfg,
    /// `rules_remote_interval`: how often rules from URLs and OCI registries are refreshed.
    pub rules_remote_interval: std::time::Duration,
    /// `log_level`, `log_stderr`, `log_syslog` (Falco's) and `log_format` (`text` | `json`).
    pub log_level: String,
    pub log_stderr: bool,
    pub log_syslog: bool,
    pub log_json: bool,
}

impl Settings {
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let priority = match raw.string("priority")? {
            None => harrier_rules::Priority::Debug,
            Some(p) => p.parse().map_err(|_| {
                ConfigError(format!(
                    "config key 'priority': unknown priority '{p}' (expected one of emergency, alert, critical, error, warning, notice, informational, debug)"
                ))
            })?,
        };
        let rule_matching = match raw.string("rule_matching")?.as_deref() {
            None | Some("first") => RuleMatching::First,
            Some("all") => RuleMatching::All,
            Some(other) => {
                return err(format!(
                    "config key 'rule_matching': unknown value '{other}' (expected first or all)"
                ))
            }
        };
        let file_enabled = raw.bool("file_output.enabled", false)?;
        let program_enabled = raw.bool("program_output.enabled", false)?;
        let mut selection = Vec::new();
        if let Some(Value::Sequence(items)) = raw.get("rules") {
            for item in items {
                let Some(map) = item.as_mapping() else {
                    return err(
                        "config key 'rules': each entry must be a mapping like {disable: {rule: NAME}}",
                    );
                };
                for (k, v) in map {
                    let enable = match k.as_str() {
                        Some("enable") => true,
                        Some("disable") => false,
                        _ => {
                            return err(format!(
                                "config key 'rules': unknown entry {} (expected enable or disable)",
                                show(k)
                            ))
                        }
                    };
                    let Some(inner) = v.as_mapping() else {
                        return err("config key 'rules': expected {rule: NAME} or {tag: TAG}");
                    };
                    for (kk, vv) in inner {
                        let by_tag = match kk.as_str() {
                            Some("rule") => false,
                            Some("tag") => true,
                            _ => {
                                return err(format!(
                                    "config key 'rules': unknown selector {} (expected rule or tag)",
                                    show(kk)
                                ))
                            }
                        };
                        let pattern = match vv {
                            Value::String(s) => s.clone(),
                            other => {
                                return err(format!(
                                    "config key 'rules': expected a name, got {}",
                                    show(other)
                                ))
                            }
                        };
                        selection.push(Selection { enable, by_tag, pattern });
                    }
                }
            }
        }
        Ok(Settings {
            rules_files: raw.strings("rules_files")?.into_iter().map(PathBuf::from).collect(),
            priority,
            json_output: raw.bool("json_output", false)?,
            json_include_output_property: raw.bool("json_include_output_property", true)?,
            json_include_tags_property: raw.bool("json_include_tags_property", true)?,
            time_format_iso_8601: raw.bool("time_format_iso_8601", false)?,
            rule_matching,
            stdout_enabled: raw.bool("stdout_output.enabled", true)?,
            file_output: if file_enabled {
                raw.string("file_output.filename")?.map(PathBuf::from)
            } else {
                None
            },
            file_keep_alive: raw.bool("file_output.keep_alive", false)?,
            program_output: if program_enabled { raw.string("program_output.program")? } else { None },
            program_keep_alive: raw.bool("program_output.keep_alive", false)?,
            buffered_outputs: raw.bool("buffered_outputs", false)?,
            engine_kind: raw.string("engine.kind")?.unwrap_or_else(|| "modern_ebpf".to_string()),
            capture_file: raw.string("engine.replay.capture_file")?.map(PathBuf::from),
            buf_size_preset: match raw.string("buf_size_preset")? {
                None => 4,
                Some(v) => v.parse::<u32>().ok().filter(|p| *p <= 7).ok_or_else(|| {
                    ConfigError(format!("config key 'buf_size_preset': expected 0 to 7, got '{v}'"))
                })?,
            },
            runtime: runtime_config(raw)?,
            selection,
            drop_policy: crate::drops::DropPolicy::from_raw(raw)?,
            fold: crate::stages::fold_config(raw)?,
            response: crate::stages::response_config(raw)?,
            session_audit: crate::session_cmd::audit_config(raw, false)?,
            profile: crate::stages::profile_config(raw)?,
            base_syscalls: crate::base_syscalls::BaseSyscalls::from_raw(raw)?,
            ops: crate::ops_wire::OpsCfg::from_raw(raw)?,
            log_level: raw.string("log_level")?.unwrap_or_else(|| "info".into()),
            log_stderr: raw.bool("log_stderr", true)?,
            log_syslog: raw.bool("log_syslog", true)?,
            log_json: match raw.string("log_format")?.as_deref() {
                None | Some("text") => false,
                Some("json") => true,
                Some(o) => {
                    return err(format!(
                        "config key 'log_format': unknown format '{o}' (expected text or json)"
                    ))
                }
            },
            rules_remote_interval: match raw.string("rules_remote_interval")? {
                None => std::time::Duration::from_secs(300),
                Some(i) => crate::ops_wire::parse_interval(&i)
                    .map_err(|e| ConfigError(e.replace("metrics.interval", "rules_remote_interval")))?,
            },
        })
    }
}

/// `container_engines:` — `enabled`, `alert_wait_ms`, and `containerd.sockets`,
/// `containerd.namespaces`, `podman.sockets`, `docker.sockets`, `cri.sockets` (lists).
pub(crate) fn runtime_config(raw: &RawConfig) -> Result<harrier_containers::RuntimeConfig, ConfigError> {
    let mut rc = harrier_containers::RuntimeConfig::from_env();
    rc.enabled = raw.bool("container_engines.enabled", rc.enabled)?;
    let paths = |key: &str| -> Result<Option<Vec<PathBuf>>, ConfigError> {
        if raw.get(key).is_none() {
            return Ok(None);
        }
        Ok(Some(raw.strings(key)?.into_iter().map(PathBuf::from).collect()))
    };
    if let Some(v) = paths("container_engines.containerd.sockets")? {
        rc.containerd_sockets = v;
    }
    if let Some(v) = paths("container_engines.podman.sockets")? {
        rc.podman_sockets = v;
    }
    if let Some(v) = paths("container_engines.docker.sockets")? {
        rc.docker_sockets = v;
    }
    if let Some(v) = paths("container_engines.cri.sockets")? {
        rc.cri_sockets = v;
    }
    if raw.get("container_engines.containerd.namespaces").is_some() {
        rc.containerd_namespaces = raw.strings("container_engines.containerd.namespaces")?;
    }
    if let Some(ms) = raw.string("container_engines.alert_wait_ms")? {
        let ms: u64 = ms.parse().map_err(|_| {
            ConfigError(format!(
                "config key 'container_engines.alert_wait_ms': expected milliseconds, got '{ms}'"
            ))
        })?;
        rc.alert_wait = std::time::Duration::from_millis(ms);
    }
    Ok(rc)
}

/// Load `-c FILE` (if any) and apply `-o` overrides and the shortcut flags of [`crate::Common`].
pub fn from_common(c: &crate::Common) -> Result<(RawConfig, Settings), ConfigError> {
    let mut raw = match &c.config {
        Some(p) => RawConfig::load(p)?,
        None => RawConfig::default(),
    };
    if let Some(p) = &c.config {
        // Unknown keys: warnings, or errors under --strict-config; output sections too.
        let mut unknown = raw.unknown_keys();
        let loaded = harrier_sinks::Config::load_checked(p, false, false).map_err(ConfigError)?;
        unknown.extend(loaded.warnings);
        if !unknown.is_empty() {
            if c.strict_config {
                return err(format!("{} (--strict-config: unknown keys are errors)", unknown.join("\n")));
            }
            for w in &unknown {
                eprintln!("harrier: warning: {w}");
            }
        }
    }
    for o in &c.overrides {
        raw.apply_override(o)?;
    }
    let mut s = Settings::from_raw(&raw)?;
    if c.unbuffered {
        s.buffered_outputs = false;
    }
    for r in &c.disable_rules {
        s.selection.push(Selection { enable: false, by_tag: false, pattern: r.clone() });
    }
    Ok((raw, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_set_nested_keys_and_append_to_lists() {
        let mut c = RawConfig::parse("json_output: false\nengine:\n  kind: modern_ebpf\n").unwrap();
        c.apply_override("json_output=true").unwrap();
        c.apply_override("engine.kind=replay").unwrap();
        c.apply_override("engine.replay.capture_file=/tmp/x.scap").unwrap();
        c.apply_override("rules[].disable.rule=*").unwrap();
        c.apply_override("rules[].enable.tag=network").unwrap();
        let s = Settings::from_raw(&c).unwrap();
        assert!(s.json_output);
        assert_eq!(s.engine_kind, "replay");
        assert_eq!(s.capture_file.as_deref(), Some(Path::new("/tmp/x.scap")));
        assert_eq!(
            s.selection,
            vec![
                Selection { enable: false, by_tag: false, pattern: "*".into() },
                Selection { enable: true, by_tag: true, pattern: "network".into() }
            ]
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = RawConfig::default();
        c.apply_override("json_output=maybe").unwrap();
        let e = Settings::from_raw(&c).unwrap_err().to_string();
        assert!(e.contains("json_output") && e.contains("maybe"), "{e}");
        let mut c = RawConfig::default();
        c.apply_override("rule_matching=sometimes").unwrap();
        assert!(Settings::from_raw(&c).unwrap_err().to_string().contains("rule_matching"));
        assert!(RawConfig::default().apply_override("novalue").is_err());
        assert!(RawConfig::parse("- a\n- b\n").is_err());
    }

    #[test]
    fn container_engine_keys() {
        let mut c = RawConfig::default();
        c.apply_override("container_engines.containerd.sockets=[/a.sock, /b.sock]").unwrap();
        c.apply_override("container_engines.docker.sockets=[]").unwrap();
        c.apply_override("container_engines.alert_wait_ms=250").unwrap();
        let s = Settings::from_raw(&c).unwrap();
        assert_eq!(s.runtime.containerd_sockets, vec![PathBuf::from("/a.sock"), PathBuf::from("/b.sock")]);
        assert!(s.runtime.docker_sockets.is_empty());
        assert_eq!(s.runtime.alert_wait, std::time::Duration::from_millis(250));
        let mut c = RawConfig::default();
        c.apply_override("container_engines.alert_wait_ms=soon").unwrap();
        assert!(Settings::from_raw(&c).unwrap_err().to_string().contains("alert_wait_ms"));
    }

    #[test]
    fn defaults_match_falco() {
        let s = Settings::from_raw(&RawConfig::default()).unwrap();
        assert!(!s.json_output && s.json_include_output_property && s.json_include_tags_property);
        assert_eq!(s.rule_matching, RuleMatching::First);
        assert_eq!(s.engine_kind, "modern_ebpf");
        assert!(s.stdout_enabled);
    }
}
