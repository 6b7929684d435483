//! Response settings: the `response:` block of Harrier's config, and Falco Talon's config file
//! for `harrier respond serve` (`listen_address`, `listen_port`, `rules_files`/`rules_file`,
//! `deduplication.time_window_seconds`, `print_all_events`, `kubeconfig`; the rest of Talon's
//! keys — notifiers, otel, log format — are accepted and ignored with a warning).

use std::path::{Path, PathBuf};
use std::time::Duration;

use harrier_rules::Priority;
use serde_json::Value as Json;

use crate::Config;

/// `harrier respond serve`'s settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen_address: String,
    pub listen_port: u16,
    pub rules_files: Vec<PathBuf>,
    pub print_all_events: bool,
    pub kubeconfig: Option<PathBuf>,
    pub response: Config,
    /// Largest accepted request body.
    pub max_body: usize,
    /// Time allowed for one request (read + actions).
    pub request_timeout: Duration,
    /// `auth_token` (or `HARRIER_RESPOND_TOKEN`): when set, `POST /` needs
    /// `Authorization: Bearer <token>` — an alert posted here can kill processes.
    pub auth_token: Option<String>,
    pub warnings: Vec<String>,
}

fn err(file: &str, key: &str, want: &str) -> String {
    format!("{file}: '{key}' must be {want}")
}

fn strings(v: &Json, file: &str, key: &str) -> Result<Vec<String>, String> {
    match v {
        Json::Null => Ok(Vec::new()),
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| err(file, key, "a list of strings")))
            .collect(),
        _ => Err(err(file, key, "a list of strings")),
    }
}

fn uint(v: &Json, file: &str, key: &str) -> Result<u64, String> {
    match v {
        Json::Number(n) => n.as_u64().ok_or_else(|| err(file, key, "a non-negative integer")),
        Json::String(s) => s.trim().parse().map_err(|_| err(file, key, "a non-negative integer")),
        _ => Err(err(file, key, "a non-negative integer")),
    }
}

fn boolean(v: &Json, file: &str, key: &str) -> Result<bool, String> {
    match v {
        Json::Bool(b) => Ok(*b),
        Json::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(err(file, key, "true or false")),
    }
}

/// Read a `response:` block (Harrier's keys) into `cfg`; returns its `rules_files`.
///
/// Keys: `rules_files`, `dry_run`, `minimum_priority`, `protected.{pids,process_names,namespaces}`
/// (added to the defaults; `protected.replace_defaults: true` starts from pid 1 and Harrier only),
/// `rate_limit.{per_minute,burst}`, `deduplication.time_window_seconds`, `quarantine_dir`,
/// `kill_wait_ms`, `max_delay_ms`, `containerd_sockets`, `block_pin_dir`, `block_state_dir`,
/// `kubeconfig`, `kubernetes_timeout_seconds`, `kubernetes_log_dir`, `capture_dir`,
/// `capture_max_bytes`, `capture_max_concurrent`, `capture_duration_seconds` (default),
/// `capture_max_duration_seconds`.
pub fn apply_response_block(v: &Json, file: &str, cfg: &mut Config) -> Result<Vec<PathBuf>, String> {
    let Some(m) = v.as_object() else {
        return if v.is_null() { Ok(Vec::new()) } else { Err(err(file, "response", "a map")) };
    };
    let mut files = Vec::new();
    for (k, v) in m {
        match k.as_str() {
            "rules_files" | "rules_file" => files.extend(strings(v, file, k)?.into_iter().map(PathBuf::from)),
            "dry_run" => cfg.dry_run = boolean(v, file, "response.dry_run")?,
            "minimum_priority" | "minimumpriority" => {
                let s = v.as_str().ok_or_else(|| err(file, "response.minimum_priority", "a priority"))?;
                cfg.min_priority =
                    s.parse::<Priority>().map_err(|_| format!("{file}: unknown priority '{s}'"))?;
            }
            "protected" => {
                let p = v.as_object().ok_or_else(|| err(file, "response.protected", "a map"))?;
                if p.get("replace_defaults")
                    .map(|b| boolean(b, file, "response.protected.replace_defaults"))
                    .transpose()?
                    == Some(true)
                {
                    cfg.protected.process_names.clear();
                    cfg.protected.namespaces.clear();
                }
                for (pk, pv) in p {
                    match pk.as_str() {
                        "replace_defaults" => {}
                        "pids" => {
                            let a = pv
                                .as_array()
                                .ok_or_else(|| err(file, "response.protected.pids", "a list of pids"))?;
                            for x in a {
                                cfg.protected.pids.push(uint(x, file, "response.protected.pids")? as u32);
                            }
                        }
                        "process_names" => cfg.protected.process_names.extend(strings(
                            pv,
                            file,
                            "response.protected.process_names",
                        )?),
                        "namespaces" => cfg.protected.namespaces.extend(strings(
                            pv,
                            file,
                            "response.protected.namespaces",
                        )?),
                        other => return Err(format!("{file}: unknown key 'response.protected.{other}'")),
                    }
                }
            }
            "rate_limit" => {
                let r = v.as_object().ok_or_else(|| err(file, "response.rate_limit", "a map"))?;
                if let Some(x) = r.get("per_minute") {
                    cfg.rate_per_minute = uint(x, file, "response.rate_limit.per_minute")? as u32;
                }
                if let Some(x) = r.get("burst") {
                    cfg.rate_burst = uint(x, file, "response.rate_limit.burst")?.max(1) as u32;
                }
            }
            "deduplication" => {
                if let Some(x) = v.get("time_window_seconds") {
                    cfg.dedup_window =
                        Duration::from_secs(uint(x, file, "response.deduplication.time_window_seconds")?);
                }
            }
            "quarantine_dir" => {
                let s = v.as_str().ok_or_else(|| err(file, "response.quarantine_dir", "a path"))?;
                cfg.quarantine_dir = PathBuf::from(s);
            }
            "block_pin_dir" => {
                cfg.block.pin_root =
                    PathBuf::from(v.as_str().ok_or_else(|| err(file, "response.block_pin_dir", "a path"))?)
            }
            "block_state_dir" => {
                cfg.block.state_dir =
                    PathBuf::from(v.as_str().ok_or_else(|| err(file, "response.block_state_dir", "a path"))?)
            }
            "containerd_sockets" => {
                cfg.containerd_sockets =
                    strings(v, file, "response.containerd_sockets")?.into_iter().map(PathBuf::from).collect()
            }
            "max_delay_ms" => {
                cfg.max_delay = Duration::from_millis(uint(v, file, "response.max_delay_ms")?.clamp(1, 1000))
            }
            "kill_wait_ms" => cfg.kill_wait = Duration::from_millis(uint(v, file, "response.kill_wait_ms")?),
            "kubeconfig" => {
                cfg.kube.kubeconfig =
                    Some(PathBuf::from(v.as_str().ok_or_else(|| err(file, "response.kubeconfig", "a path"))?))
            }
            "kubernetes_timeout_seconds" => {
                cfg.kube.timeout =
                    Some(Duration::from_secs(uint(v, file, "response.kubernetes_timeout_seconds")?.max(1)))
            }
            "kubernetes_log_dir" => {
                cfg.kube.log_dir = Some(PathBuf::from(
                    v.as_str().ok_or_else(|| err(file, "response.kubernetes_log_dir", "a path"))?,
                ))
            }
            "capture_dir" => {
                cfg.capture.dir =
                    PathBuf::from(v.as_str().ok_or_else(|| err(file, "response.capture_dir", "a path"))?)
            }
            "capture_max_bytes" => {
                cfg.capture.max_bytes = uint(v, file, "response.capture_max_bytes")?.max(4096)
            }
            "capture_max_concurrent" => {
                cfg.capture.max_concurrent = uint(v, file, "response.capture_max_concurrent")?.max(1) as usize
            }
            "capture_duration_seconds" => {
                cfg.capture.default_duration =
                    Duration::from_secs(uint(v, file, "response.capture_duration_seconds")?.max(1))
            }
            "capture_max_duration_seconds" => {
                cfg.capture.max_duration =
                    Duration::from_secs(uint(v, file, "response.capture_max_duration_seconds")?.max(1))
            }
            other => return Err(format!("{file}: unknown key 'response.{other}'")),
        }
    }
    Ok(files)
}

/// Parse a YAML text into JSON (line-aware parser, same limits as rules files).
pub fn yaml_to_json(text: &str, file: &str) -> Result<Json, String> {
    crate::yaml::parse(text)
        .map(|n| n.to_json())
        .map_err(|e| format!("{file}:{}: YAML syntax error: {}", e.line, e.message))
}

const TALON_IGNORED: &[&str] =
    &["log_format", "watch_rules", "otel", "default_notifiers", "notifiers", "aws", "minio", "nats"];

impl ServeConfig {
    pub fn load(path: &Path) -> Result<ServeConfig, String> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {file}: {e}"))?;
        let mut c = Self::parse(&text, &file)?;
        // Relative rules files are relative to the config file, like the config's other paths.
        let base = path.parent().unwrap_or(Path::new("."));
        for f in &mut c.rules_files {
            if f.is_relative() {
                *f = base.join(&*f);
            }
        }
        Ok(c)
    }

    pub fn parse(text: &str, file: &str) -> Result<ServeConfig, String> {
        let v = yaml_to_json(text, file)?;
        let mut c = ServeConfig {
            // Loopback unless the configuration says otherwise: a posted alert can kill processes.
            listen_address: "127.0.0.1".into(),
            listen_port: 2803,
            rules_files: Vec::new(),
            print_all_events: false,
            kubeconfig: None,
            response: Config::default(),
            max_body: 1 << 20,
            request_timeout: Duration::from_secs(30),
            auth_token: std::env::var("HARRIER_RESPOND_TOKEN").ok().filter(|t| !t.is_empty()),
            warnings: Vec::new(),
        };
        let Some(m) = v.as_object() else {
            return if v.is_null() { Ok(c) } else { Err(format!("{file}: a config file is a map of keys")) };
        };
        for (k, v) in m {
            match k.as_str() {
                "listen_address" => c.listen_address = v.as_str().ok_or_else(|| err(file, k, "an address"))?.to_string(),
                "listen_port" => {
                    c.listen_port = u16::try_from(uint(v, file, k)?).map_err(|_| err(file, k, "a port number"))?
                }
                "rules_file" | "rules_files" => c.rules_files.extend(strings(v, file, k)?.into_iter().map(PathBuf::from)),
                "print_all_events" => c.print_all_events = boolean(v, file, k)?,
                "kubeconfig" | "kubeConfig" => c.kubeconfig = v.as_str().filter(|s| !s.is_empty()).map(PathBuf::from),
                "deduplication" => {
                    if let Some(x) = v.get("time_window_seconds") {
                        c.response.dedup_window = Duration::from_secs(uint(x, file, "deduplication.time_window_seconds")?);
                    }
                }
                "max_body_bytes" => c.max_body = (uint(v, file, k)? as usize).max(1024),
                "auth_token" => {
                    c.auth_token =
                        Some(v.as_str().filter(|t| !t.is_empty()).ok_or_else(|| err(file, k, "a non-empty string"))?.to_string())
                }
                "request_timeout_seconds" => c.request_timeout = Duration::from_secs(uint(v, file, k)?.max(1)),
                "response" => {
                    let files = apply_response_block(v, file, &mut c.response)?;
                    c.rules_files.extend(files);
                }
                k if TALON_IGNORED.contains(&k) => c.warnings.push(format!("{file}: '{k}' is Talon's and not used by Harrier (outcomes are alerts of source 'response')")),
                other => c.warnings.push(format!("{file}: unknown key '{other}' (ignored)")),
            }
        }
        if c.response.kube.kubeconfig.is_none() {
            c.response.kube.kubeconfig = c.kubeconfig.clone();
        }
        if c.rules_files.is_empty() {
            c.rules_files.push(PathBuf::from("/etc/falco-talon/rules.yaml"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talon_config_keys() {
        let text = "listen_address: \"127.0.0.1\"\nlisten_port: \"2803\"\nrules_files:\n  - ./rules.yaml\nwatch_rules: true\nprint_all_events: true\ndeduplication:\n  leader_election: true\n  time_window_seconds: 7\nnotifiers:\n  slack:\n    webhook_url: x\nresponse:\n  dry_run: true\n  minimum_priority: Warning\n  protected:\n    namespaces: [falco]\n    process_names: [postgres]\n  rate_limit:\n    per_minute: 10\n    burst: 2\n";
        let c = ServeConfig::parse(text, "t.yaml").unwrap();
        assert_eq!(c.listen_address, "127.0.0.1");
        assert_eq!(c.listen_port, 2803);
        assert_eq!(c.rules_files, [PathBuf::from("./rules.yaml")]);
        assert!(c.print_all_events);
        assert_eq!(c.response.dedup_window, Duration::from_secs(7));
        assert!(c.response.dry_run);
        assert_eq!(c.response.min_priority, Priority::Warning);
        assert!(c.response.protected.namespaces.contains(&"kube-system".to_string()));
        assert!(c.response.protected.namespaces.contains(&"falco".to_string()));
        assert!(c.response.protected.process_names.contains(&"postgres".to_string()));
        assert_eq!((c.response.rate_per_minute, c.response.rate_burst), (10, 2));
        assert!(c.warnings.iter().any(|w| w.contains("'notifiers'")));
        assert!(ServeConfig::parse("listen_port: 99999\n", "t.yaml").unwrap_err().contains("port"));
        assert!(ServeConfig::parse("response:\n  colour: red\n", "t.yaml")
            .unwrap_err()
            .contains("response.colour"));
    }
}
