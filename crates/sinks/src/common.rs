//! Small pieces the sinks share: per-output routing options, header maps, colours and facts.

use harrier_engine::Alert;
use harrier_rules::Priority;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Options every output accepts besides its own keys: falcosidekick's `minimumpriority`, and
/// Harrier's `name` (for several instances), `filter` (rules-language condition over the alert)
/// and `queue`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct CommonConfig {
    pub minimumpriority: String,
    pub filter: String,
    pub name: String,
    pub queue: QueueYaml,
}

/// `queue:` of an output (all optional).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
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
    /// Spool sync policy for this output: `never`, `interval` or `always` (default: the
    /// top-level `spoolfsync`).
    pub fsync: Option<String>,
}

/// Header maps: a YAML map, or falcosidekick's `key:value,key:value` string form.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
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
    if let Some(t) = sorted_tags(a, ", ") {
        v.push(("tags".into(), t));
    }
    for (k, val) in &a.output_fields {
        v.push((k.clone(), crate::alert::value_text(val).unwrap_or_else(|| "<NA>".into())));
    }
    v.push(("time".into(), harrier_engine::output::format_time_json(a.time_ns)));
    v
}

/// The alert's tags sorted and joined with `sep`; `None` when it has none.
pub fn sorted_tags(a: &Alert, sep: &str) -> Option<String> {
    if a.tags.is_empty() {
        return None;
    }
    let mut t: Vec<&str> = a.tags.iter().map(String::as_str).collect();
    t.sort_unstable();
    Some(t.join(sep))
}

/// A message template in the subset of Go's `text/template` that falcosidekick's
/// `messageformat` examples use: `{{ .Rule }}`, `{{ .Priority }}`, `{{ .Output }}`,
/// `{{ .Source }}`, `{{ .Hostname }}`, `{{ .Time }}`, `{{ .Tags }}` and
/// `{{ index .OutputFields "name" }}`. Parsed once at start; anything else is refused then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFormat(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Rule,
    Priority,
    Output,
    Source,
    Hostname,
    Time,
    Tags,
    Field(String),
}

impl MessageFormat {
    /// `key` names the setting in errors (`googlechat.messageformat`).
    pub fn parse(key: &str, text: &str) -> Result<MessageFormat, String> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("{{") {
            if i > 0 {
                out.push(Piece::Text(rest[..i].to_string()));
            }
            let after = &rest[i + 2..];
            let end = after.find("}}").ok_or_else(|| format!("{key}: '{{{{' without a closing '}}}}'"))?;
            let action = after[..end].trim().trim_start_matches('-').trim_end_matches('-').trim();
            out.push(match action {
                ".Rule" => Piece::Rule,
                ".Priority" => Piece::Priority,
                ".Output" => Piece::Output,
                ".Source" => Piece::Source,
                ".Hostname" => Piece::Hostname,
                ".Time" => Piece::Time,
                ".Tags" => Piece::Tags,
                a => match a.strip_prefix("index .OutputFields ").map(str::trim) {
                    Some(q) if q.len() >= 2 && q.starts_with('"') && q.ends_with('"') => {
                        Piece::Field(q[1..q.len() - 1].to_string())
                    }
                    _ => {
                        return Err(format!(
                            "{key}: '{{{{ {a} }}}}' is not supported (use .Rule, .Priority, .Output, .Source, .Hostname, .Time, .Tags or index .OutputFields \"name\")"
                        ))
                    }
                },
            });
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            out.push(Piece::Text(rest.to_string()));
        }
        Ok(MessageFormat(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text for one alert (an absent or null output field gives `<NA>`).
    pub fn render(&self, a: &Alert) -> String {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => s.push_str(t),
                Piece::Rule => s.push_str(&a.rule),
                Piece::Priority => s.push_str(a.priority.as_str()),
                Piece::Output => s.push_str(&a.output),
                Piece::Source => s.push_str(&a.source),
                Piece::Hostname => s.push_str(&a.hostname),
                Piece::Time => s.push_str(&harrier_engine::output::format_time_json(a.time_ns)),
                Piece::Tags => s.push_str(&sorted_tags(a, " ").unwrap_or_default()),
                Piece::Field(f) => s.push_str(
                    &a.output_fields
                        .get(f)
                        .and_then(crate::alert::value_text)
                        .unwrap_or_else(|| "<NA>".into()),
                ),
            }
        }
        s
    }
}

/// The API base URL of a service with a US and an EU site: Harrier's `endpoint` when set
/// (a proxy, a test server), else the site `region` names (`us`, the default, or `eu`).
pub fn regional_base(kind: &str, endpoint: &str, region: &str, us: &str, eu: &str) -> Result<String, String> {
    if !endpoint.trim().is_empty() {
        return Ok(endpoint.trim().trim_end_matches('/').to_string());
    }
    match region.trim().to_ascii_lowercase().as_str() {
        "" | "us" => Ok(us.to_string()),
        "eu" => Ok(eu.to_string()),
        r => Err(format!("{kind}.region must be us or eu, not '{r}'")),
    }
}

/// Object names for the object-store outputs (S3, GCS, Azure Blob), falcosidekick's layout
/// `<prefix>/YYYY-MM-DD/YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ.json`. The time is the upload time, made
/// strictly increasing per sink so two alerts never share a name (an alert sent again after a
/// failed attempt is a second object; counted as redelivered).
#[derive(Debug, Default)]
pub struct ObjectKeys {
    prefix: String,
    last_ns: std::sync::Mutex<u64>,
}

impl ObjectKeys {
    pub fn new(prefix: &str) -> ObjectKeys {
        ObjectKeys { prefix: prefix.trim_matches('/').to_string(), last_ns: Default::default() }
    }

    /// A fresh, strictly increasing upload time.
    pub fn now_ns(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut last = self.last_ns.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last + 1).max(now);
        *last
    }

    /// The name for an upload at `ns`.
    pub fn key(&self, ns: u64) -> String {
        let (y, mo, d, h, mi, s, nanos) = crate::alert::utc_parts(ns);
        let day = format!("{y:04}-{mo:02}-{d:02}");
        let name = format!("{day}/{day}T{h:02}:{mi:02}:{s:02}.{nanos:09}Z.json");
        if self.prefix.is_empty() {
            name
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// The name for an upload now.
    pub fn next(&self) -> String {
        self.key(self.now_ns())
    }
}

/// Deliver `alerts` one at a time through `put`, oldest first, stopping at the first failure
/// (the object stores: one object per alert).
pub async fn one_by_one<'a, F, Fut>(
    alerts: &'a [std::sync::Arc<Alert>],
    put: F,
) -> Result<(), crate::SinkError>
where
    F: Fn(&'a Alert) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::SinkError>>,
{
    for a in alerts {
        put(a).await?;
    }
    Ok(())
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

/// A rustls client configuration for the sinks that speak TLS themselves (SMTP): the web PKI
/// roots plus `ca_file` (PEM), or no verification at all when `check_cert` is false.
pub fn tls_client_config(check_cert: bool, ca_file: Option<&str>) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    if !check_cert {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(NoVerify(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca_file {
        let mut n = 0;
        for c in rustls_pki_types::CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("cannot read CA certificate {ca}: {e}"))?
        {
            let c = c.map_err(|e| format!("bad CA certificate {ca}: {e}"))?;
            roots.add(c).map_err(|e| format!("bad CA certificate {ca}: {e}"))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!("no certificate in {ca}"));
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `checkcert: false`: accept any server certificate (signatures are still checked).
#[derive(Debug)]
struct NoVerify(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Standard base64 (with padding).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], c.get(1).copied().unwrap_or(0), c.get(2).copied().unwrap_or(0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    out
}
