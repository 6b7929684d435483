//! The k8saudit plugin's configuration, read the way Falco users write it: `init_config` (a JSON
//! string or a YAML map, unknown keys allowed) and `open_params`.

use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Version reported for the built-in k8saudit (what the official rules require).
pub const PLUGIN_VERSION: &str = "0.18.0";
/// Version reported for the built-in json plugin.
pub const JSON_PLUGIN_VERSION: &str = "0.7.4";
/// Registry id of k8saudit (plugin events in captures carry it).
pub const PLUGIN_ID: u32 = 1;
/// Default open_params of the plugin.
pub const DEFAULT_OPEN_PARAMS: &str = "http://:9765/k8s-audit";

/// `init_config` keys of the plugin, with its defaults, plus Harrier's own (off by default).
#[derive(Debug, Clone, PartialEq)]
pub struct InitConfig {
    /// One PEM file holding the certificate chain and the private key (https only).
    pub ssl_certificate: PathBuf,
    /// Accepted for compatibility; Harrier's extraction never busy-waits, so it has no effect.
    pub use_async: bool,
    /// Events larger than this (compact JSON bytes) are dropped and counted.
    pub max_event_size: usize,
    /// Request bodies larger than this are refused with 400.
    pub webhook_max_batch_size: usize,
    /// Harrier: PEM file of CAs; when set, https clients must present a certificate it signed.
    pub client_ca: Option<PathBuf>,
    /// Harrier: when set, requests must carry `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Harrier: events the queue between the webhook and the rules holds before answering 503.
    pub queue_capacity: usize,
    /// Harrier: how long a request waits for room in the queue before the 503.
    pub queue_wait: Duration,
}

impl Default for InitConfig {
    fn default() -> Self {
        InitConfig {
            ssl_certificate: PathBuf::from("/etc/falco/falco.pem"),
            use_async: true,
            max_event_size: 262_144,
            webhook_max_batch_size: 12_582_912,
            client_ca: None,
            bearer_token: None,
            queue_capacity: 10_000,
            queue_wait: Duration::from_secs(5),
        }
    }
}

impl InitConfig {
    /// Read `init_config` as it appears in falco.yaml: absent/empty, a JSON (or YAML) text, or a map.
    pub fn from_yaml(v: Option<&serde_yaml::Value>) -> Result<InitConfig, String> {
        let json: Value = match v {
            None | Some(serde_yaml::Value::Null) => Value::Object(Default::default()),
            Some(serde_yaml::Value::String(s)) if s.trim().is_empty() => Value::Object(Default::default()),
            Some(serde_yaml::Value::String(s)) => {
                serde_json::from_str(s).map_err(|e| format!("k8saudit init_config is not valid JSON: {e}"))?
            }
            Some(other) => serde_json::to_value(other).map_err(|e| format!("k8saudit init_config: {e}"))?,
        };
        InitConfig::from_json(&json)
    }

    /// Read the keys from a JSON object (unknown keys are ignored, as the plugin allows).
    pub fn from_json(v: &Value) -> Result<InitConfig, String> {
        let Value::Object(m) = v else {
            return Err("k8saudit init_config must be an object".into());
        };
        let mut c = InitConfig::default();
        let size =
            |k: &str, min: u64| -> Result<Option<usize>, String> {
                match m.get(k) {
                    None => Ok(None),
                    Some(x) => x.as_u64().filter(|n| *n >= min).map(|n| Some(n as usize)).ok_or_else(|| {
                        format!("k8saudit init_config: {k} must be an integer ≥ {min}, got {x}")
                    }),
                }
            };
        let string = |k: &str| -> Result<Option<String>, String> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(x) => Err(format!("k8saudit init_config: {k} must be a string, got {x}")),
            }
        };
        if let Some(s) = string("sslCertificate")? {
            c.ssl_certificate = PathBuf::from(s);
        }
        match m.get("useAsync") {
            None => {}
            Some(Value::Bool(b)) => c.use_async = *b,
            Some(x) => return Err(format!("k8saudit init_config: useAsync must be true or false, got {x}")),
        }
        if let Some(n) = size("maxEventSize", 1)? {
            c.max_event_size = n;
        }
        if let Some(n) = size("webhookMaxBatchSize", 1)? {
            c.webhook_max_batch_size = n;
        }
        c.client_ca = string("clientCA")?.map(PathBuf::from);
        c.bearer_token = string("bearerToken")?.filter(|s| !s.is_empty());
        if let Some(path) = string("bearerTokenFile")? {
            let t = std::fs::read_to_string(&path)
                .map_err(|e| format!("k8saudit init_config: bearerTokenFile {path}: {e}"))?;
            c.bearer_token = Some(t.trim().to_string()).filter(|s| !s.is_empty());
        }
        if let Some(n) = size("queueCapacity", 1)? {
            c.queue_capacity = n;
        }
        if let Some(n) = size("queueWaitMs", 0)? {
            c.queue_wait = Duration::from_millis(n as u64);
        }
        Ok(c)
    }
}

/// Where events come from (`open_params`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenParams {
    /// `http(s)://[host]:port/path`: the webhook.
    Webhook { tls: bool, addr: SocketAddr, path: String },
    /// No scheme: a JSON Lines file, or a directory of them, read to the end.
    Replay(PathBuf),
    /// `file://path`: follow the file like `tail -F`, from its end.
    Follow(PathBuf),
}

impl OpenParams {
    pub fn parse(s: &str) -> Result<OpenParams, String> {
        let s = s.trim();
        let s = if s.is_empty() { DEFAULT_OPEN_PARAMS } else { s };
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(OpenParams::Replay(PathBuf::from(s)));
        };
        match scheme {
            "file" => Ok(OpenParams::Follow(PathBuf::from(rest))),
            "http" | "https" => {
                let (hostport, path) = match rest.find('/') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, "/"),
                };
                let (host, port) = hostport.rsplit_once(':').ok_or_else(|| {
                    format!("open_params {s:?}: the webhook needs a port (http://:9765/k8s-audit)")
                })?;
                let port: u16 = port.parse().map_err(|_| format!("open_params {s:?}: bad port {port:?}"))?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let ip = if host.is_empty() {
                    std::net::IpAddr::from([0, 0, 0, 0])
                } else if let Ok(ip) = host.parse() {
                    ip
                } else if host == "localhost" {
                    std::net::IpAddr::from([127, 0, 0, 1])
                } else {
                    use std::net::ToSocketAddrs;
                    (host, port)
                        .to_socket_addrs()
                        .map_err(|e| format!("open_params {s:?}: cannot resolve {host}: {e}"))?
                        .next()
                        .ok_or_else(|| format!("open_params {s:?}: {host} has no address"))?
                        .ip()
                };
                Ok(OpenParams::Webhook {
                    tls: scheme == "https",
                    addr: SocketAddr::new(ip, port),
                    path: path.to_string(),
                })
            }
            other => Err(format!("scheme \"{other}\" is not supported")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_config_defaults_and_keys() {
        assert_eq!(InitConfig::from_yaml(None).unwrap(), InitConfig::default());
        let y: serde_yaml::Value = serde_yaml::from_str(
            "{maxEventSize: 1000, webhookMaxBatchSize: 5000, sslCertificate: /x.pem, other: 1}",
        )
        .unwrap();
        let c = InitConfig::from_yaml(Some(&y)).unwrap();
        assert_eq!((c.max_event_size, c.webhook_max_batch_size), (1000, 5000));
        assert_eq!(c.ssl_certificate, PathBuf::from("/x.pem"));
        let s = serde_yaml::Value::String(r#"{"useAsync": false, "maxEventSize": 10}"#.into());
        let c = InitConfig::from_yaml(Some(&s)).unwrap();
        assert!(!c.use_async);
        assert_eq!(c.max_event_size, 10);
        assert!(c.bearer_token.is_none() && c.client_ca.is_none(), "auth is off by default");
        let bad = serde_yaml::Value::String(r#"{"maxEventSize": "big"}"#.into());
        assert!(InitConfig::from_yaml(Some(&bad)).unwrap_err().contains("maxEventSize"));
    }

    #[test]
    fn open_params_forms() {
        assert_eq!(
            OpenParams::parse("").unwrap(),
            OpenParams::Webhook {
                tls: false,
                addr: "0.0.0.0:9765".parse().unwrap(),
                path: "/k8s-audit".into()
            }
        );
        assert_eq!(
            OpenParams::parse("https://127.0.0.1:443/a/b").unwrap(),
            OpenParams::Webhook { tls: true, addr: "127.0.0.1:443".parse().unwrap(), path: "/a/b".into() }
        );
        assert_eq!(
            OpenParams::parse("http://[::1]:80/x").unwrap(),
            OpenParams::Webhook { tls: false, addr: "[::1]:80".parse().unwrap(), path: "/x".into() }
        );
        assert_eq!(
            OpenParams::parse("/var/log/a.jsonl").unwrap(),
            OpenParams::Replay("/var/log/a.jsonl".into())
        );
        assert_eq!(OpenParams::parse("file:///var/log/a").unwrap(), OpenParams::Follow("/var/log/a".into()));
        assert_eq!(OpenParams::parse("ftp://x").unwrap_err(), "scheme \"ftp\" is not supported");
    }
}
