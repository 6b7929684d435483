//! OpenTelemetry logs (OTLP): one log record per alert, exported with the OTLP messages of the
//! `opentelemetry-proto` crate over gRPC (`tonic`, `LogsService/Export`), HTTP + protobuf
//! (`prost` encoding, `application/x-protobuf`) or HTTP + JSON (the OTLP JSON mapping,
//! `application/json`). falcosidekick's `otlp.logs` keys. A record carries the event time, the
//! severity (Falco priority mapped onto OTLP's severity numbers, the priority name as severity
//! text), the output text as body, and attributes `priority`, `source`, `rule`, `hostname`,
//! `tags` (as falcosidekick sends them) plus every output field under its Falco name. Resource:
//! `service.name` (default `falco`) and `OTEL_RESOURCE_ATTRIBUTES`. A batch is delivered when
//! the receiver answered success without rejecting records (`partial_success`); gRPC codes
//! UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED… and HTTP 408/429/5xx are retried,
//! the rest counted as failed.

use crate::common::CommonConfig;
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use harrier_rules::Priority;
use opentelemetry_proto::tonic::collector::logs::v1::{
    logs_service_client::LogsServiceClient, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// falcosidekick's `otlp:` block; only `logs` is an output here.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct OtlpConfig {
    pub logs: OtlpLogsConfig,
}

/// falcosidekick's `otlp.logs:` keys.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct OtlpLogsConfig {
    /// `http://collector:4318/v1/logs` (HTTP; `/v1/logs` is added to a bare host) or
    /// `http://collector:4317` (gRPC).
    pub endpoint: String,
    /// `grpc`, `http/protobuf` (default) or `http/json`.
    pub protocol: String,
    /// Milliseconds (default 10000).
    pub timeout: u64,
    /// `key=value,key=value` (OTEL_EXPORTER_OTLP_HEADERS form).
    pub headers: String,
    /// Accepted for compatibility: Harrier always waits for the receiver's answer.
    pub synced: bool,
    pub tls: bool,
    pub checkcert: bool,
    /// Accepted for compatibility (a trace-span length in falcosidekick; logs have none).
    pub duration: u64,
    /// Standard `OTEL_*` variables, overriding the keys above (see [`ENV_KEYS`]).
    pub extraenvvars: BTreeMap<String, serde_yaml::Value>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Default for OtlpLogsConfig {
    fn default() -> Self {
        OtlpLogsConfig {
            endpoint: String::new(),
            protocol: String::new(),
            timeout: 0,
            headers: String::new(),
            synced: false,
            tls: false,
            checkcert: true,
            duration: 1000,
            extraenvvars: BTreeMap::new(),
            common: CommonConfig::default(),
        }
    }
}

/// The `extraenvvars` understood.
pub const ENV_KEYS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_LOGS_INSECURE",
    "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

/// The settings in effect after `extraenvvars`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: String,
    pub protocol: Protocol,
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    pub tls: bool,
    pub check_cert: bool,
    pub resource: Vec<(String, String)>,
}

fn pairs(key: &str, s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for kv in s.split(',').map(str::trim).filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            // Only the part before any separator: a mistyped `name:secret` must not reach a log.
            let shown = match kv.split_once([':', ' ']) {
                Some((name, _)) => format!("{name}:…"),
                None => kv.to_string(),
            };
            format!("otlp.logs.{key}: '{shown}' is not key=value")
        })?;
        let k = k.trim();
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return Err(format!("otlp.logs.{key}: '{k}' is not a valid name"));
        }
        out.push((k.to_string(), percent_decode(v.trim())));
    }
    Ok(out)
}

/// `%XX` escapes (the OTEL header and resource attribute lists are URL-encoded).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Settings {
    pub fn new(c: &OtlpLogsConfig) -> Result<Settings, String> {
        let mut env: BTreeMap<&str, String> = BTreeMap::new();
        for (k, v) in &c.extraenvvars {
            if !ENV_KEYS.contains(&k.as_str()) {
                return Err(format!(
                    "otlp.logs.extraenvvars: {k} is not supported (known: {})",
                    ENV_KEYS.join(", ")
                ));
            }
            let v = match v {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::Bool(b) => b.to_string(),
                _ => return Err(format!("otlp.logs.extraenvvars: {k} must be a string or a number")),
            };
            let key = ENV_KEYS.iter().find(|e| **e == k).copied().unwrap_or_default();
            env.insert(key, v);
        }
        let get = |specific: &str, general: &str| env.get(specific).or_else(|| env.get(general)).cloned();
        let protocol_text = get("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
            .unwrap_or_else(|| c.protocol.trim().to_string());
        let protocol = match protocol_text.as_str() {
            "" | "http/protobuf" | "http" => Protocol::HttpProtobuf,
            "http/json" => Protocol::HttpJson,
            "grpc" => Protocol::Grpc,
            p => {
                return Err(format!("otlp.logs.protocol must be grpc, http/protobuf or http/json, not '{p}'"))
            }
        };
        // The logs-specific endpoint is used as is; the general one gets the signal path.
        let (endpoint, add_path) =
            match (env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"), env.get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
                (Some(e), _) => (e.clone(), false),
                (None, Some(e)) => (e.clone(), true),
                (None, None) => (c.endpoint.trim().to_string(), false),
            };
        if endpoint.is_empty() {
            return Err("otlp.logs.endpoint is empty".into());
        }
        let mut u =
            reqwest::Url::parse(&endpoint).map_err(|e| format!("otlp.logs.endpoint '{endpoint}': {e}"))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(format!("otlp.logs.endpoint '{endpoint}': expected http(s)://host:port[/path]"));
        }
        let insecure = get("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let tls = (c.tls || u.scheme() == "https") && !insecure;
        if tls && u.scheme() == "http" {
            u.set_scheme("https").map_err(|_| format!("otlp.logs.endpoint '{endpoint}': cannot use TLS"))?;
        }
        if !tls && u.scheme() == "https" {
            u.set_scheme("http").map_err(|_| format!("otlp.logs.endpoint '{endpoint}'"))?;
        }
        if protocol != Protocol::Grpc && (add_path || u.path() == "/" || u.path().is_empty()) {
            let p = format!("{}/v1/logs", u.path().trim_end_matches('/'));
            u.set_path(&p);
        }
        let timeout_ms = match get("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT") {
            Some(t) => t
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("otlp.logs.extraenvvars: timeout '{t}' is not milliseconds"))?,
            None if c.timeout > 0 => c.timeout,
            None => 10_000,
        };
        let headers_text = get("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
            .unwrap_or_else(|| c.headers.clone());
        let mut headers = pairs("headers", &headers_text)?;
        if protocol == Protocol::Grpc {
            for (k, v) in &mut headers {
                *k = k.to_ascii_lowercase();
                tonic::metadata::MetadataValue::<tonic::metadata::Ascii>::try_from(v.as_str()).map_err(
                    |_| format!("otlp.logs.headers: the value of '{k}' is not valid in gRPC metadata"),
                )?;
            }
        }
        let mut resource = pairs(
            "extraenvvars.OTEL_RESOURCE_ATTRIBUTES",
            &env.get("OTEL_RESOURCE_ATTRIBUTES").cloned().unwrap_or_default(),
        )?;
        let service = env.get("OTEL_SERVICE_NAME").cloned().unwrap_or_else(|| {
            resource
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "falco".into())
        });
        resource.retain(|(k, _)| k != "service.name");
        resource.insert(0, ("service.name".into(), service));
        let mut url = u.to_string();
        if protocol == Protocol::Grpc {
            url = url.trim_end_matches('/').to_string();
        }
        Ok(Settings {
            url,
            protocol,
            timeout: Duration::from_millis(timeout_ms.max(1)),
            headers,
            tls,
            check_cert: c.checkcert,
            resource,
        })
    }
}

/// Falco priority → OTLP severity number (FATAL4 … DEBUG).
pub fn severity_number(p: Priority) -> i32 {
    match p {
        Priority::Emergency => 24,
        Priority::Alert => 21,
        Priority::Critical => 20,
        Priority::Error => 17,
        Priority::Warning => 13,
        Priority::Notice => 10,
        Priority::Informational => 9,
        Priority::Debug => 5,
    }
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: k.to_string(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.to_string())
}

fn field_value(v: &Value) -> Option<any_value::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => any_value::Value::IntValue(i),
            (None, Some(f)) => any_value::Value::DoubleValue(f),
            _ => s(&n.to_string()),
        },
        Value::String(t) => s(t),
        other => s(&other.to_string()),
    })
}

pub fn record(a: &Alert, observed_ns: u64) -> LogRecord {
    let tags = crate::common::sorted_tags(a, ",").unwrap_or_default();
    let mut attributes = vec![
        kv("priority", s(a.priority.as_str())),
        kv("source", s(&a.source)),
        kv("rule", s(&a.rule)),
        kv("hostname", s(&a.hostname)),
        kv("tags", s(&tags)),
    ];
    for (k, v) in &a.output_fields {
        if let Some(v) = field_value(v) {
            attributes.push(kv(k, v));
        }
    }
    LogRecord {
        time_unix_nano: a.time_ns,
        observed_time_unix_nano: observed_ns,
        severity_number: severity_number(a.priority),
        severity_text: a.priority.as_str().to_string(),
        body: Some(AnyValue { value: Some(s(&a.output)) }),
        attributes,
        ..Default::default()
    }
}

pub fn request(alerts: &[Arc<Alert>], resource: &[(String, String)]) -> ExportLogsServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| kv(k, s(v))).collect(),
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "falco".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records: alerts.iter().map(|a| record(a, now)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

enum Transport {
    Http(HttpTarget),
    Grpc(LogsServiceClient<tonic::transport::Channel>, Vec<(String, String)>),
}

pub struct OtlpLogsSink {
    settings: Settings,
    transport: Transport,
}

fn check_partial(r: &ExportLogsServiceResponse) -> Result<(), SinkError> {
    match &r.partial_success {
        Some(p) if p.rejected_log_records > 0 => Err(SinkError::permanent(format!(
            "otlp: the receiver rejected {} log records: {}",
            p.rejected_log_records, p.error_message
        ))),
        _ => Ok(()),
    }
}

fn grpc_error(st: tonic::Status) -> SinkError {
    use tonic::Code::*;
    let m = format!("otlp: gRPC {:?}: {}", st.code(), st.message());
    match st.code() {
        Cancelled | DeadlineExceeded | ResourceExhausted | Aborted | OutOfRange | Unavailable | DataLoss
        | Unknown => SinkError::transient(m),
        _ => SinkError::permanent(m),
    }
}

impl OtlpLogsSink {
    pub fn new(c: &OtlpLogsConfig) -> Result<Self, String> {
        let st = Settings::new(c)?;
        let transport = match st.protocol {
            Protocol::Grpc => {
                let mut ep = tonic::transport::Endpoint::from_shared(st.url.clone())
                    .map_err(|e| format!("otlp.logs.endpoint '{}': {e}", st.url))?
                    .timeout(st.timeout)
                    .connect_timeout(Duration::from_secs(5))
                    .user_agent(concat!("harrier/", env!("CARGO_PKG_VERSION")))
                    .map_err(|e| format!("otlp: {e}"))?;
                if st.tls {
                    if !st.check_cert {
                        return Err("otlp.logs.checkcert: false is not supported with protocol grpc (tonic always verifies the server certificate); use http/protobuf or a trusted certificate".into());
                    }
                    ep = ep
                        .tls_config(tonic::transport::ClientTlsConfig::new().with_webpki_roots())
                        .map_err(|e| format!("otlp.logs.tls: {e}"))?;
                }
                Transport::Grpc(LogsServiceClient::new(ep.connect_lazy()), st.headers.clone())
            }
            _ => {
                let o = HttpOptions {
                    check_cert: st.check_cert,
                    timeout: Some(st.timeout),
                    ..Default::default()
                };
                let mut t = HttpTarget::new(&st.url, &o).map_err(|e| format!("otlp.logs.endpoint: {e}"))?;
                t.add_headers("otlp.logs.headers", st.headers.clone())?;
                Transport::Http(t)
            }
        };
        Ok(OtlpLogsSink { settings: st, transport })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

impl Sink for OtlpLogsSink {
    fn kind(&self) -> &'static str {
        "otlp_logs"
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.settings.url.clone())
    }
    fn max_batch(&self) -> usize {
        256
    }
    fn timeout(&self) -> Option<Duration> {
        Some(self.settings.timeout)
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let req = request(alerts, &self.settings.resource);
            match &self.transport {
                Transport::Grpc(client, headers) => {
                    let mut r = tonic::Request::new(req);
                    for (k, v) in headers {
                        if let (Ok(k), Ok(v)) = (
                            tonic::metadata::MetadataKey::from_bytes(k.as_bytes()),
                            tonic::metadata::MetadataValue::try_from(v.as_str()),
                        ) {
                            r.metadata_mut().insert(k, v);
                        }
                    }
                    let resp = client.clone().export(r).await.map_err(grpc_error)?;
                    check_partial(resp.get_ref())
                }
                Transport::Http(t) => {
                    let json = self.settings.protocol == Protocol::HttpJson;
                    let (ct, body) = if json {
                        (
                            "application/json",
                            serde_json::to_vec(&req).map_err(|e| SinkError::permanent(e.to_string()))?,
                        )
                    } else {
                        ("application/x-protobuf", req.encode_to_vec())
                    };
                    let answer = t.send(ct, body).await?;
                    if answer.is_empty() {
                        return Ok(());
                    }
                    if json {
                        // OTLP/JSON writes 64-bit integers as strings; read the count either way.
                        let v: Value = serde_json::from_slice(&answer).unwrap_or_default();
                        let p = &v["partialSuccess"];
                        let n = p["rejectedLogRecords"]
                            .as_i64()
                            .or_else(|| p["rejectedLogRecords"].as_str().and_then(|t| t.parse().ok()))
                            .unwrap_or(0);
                        let r = ExportLogsServiceResponse {
                            partial_success: Some(
                                opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess {
                                    rejected_log_records: n,
                                    error_message: p["errorMessage"].as_str().unwrap_or_default().to_string(),
                                },
                            ),
                        };
                        check_partial(&r)
                    } else {
                        ExportLogsServiceResponse::decode(answer.as_slice())
                            .map_or(Ok(()), |r| check_partial(&r))
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
