//! The async sink contract and the HTTP plumbing the webhook-style sinks share.

use harrier_engine::Alert;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a delivery failed. `permanent` failures (the receiver rejected the payload: HTTP 4xx other
/// than 408/429, a bad request) are not retried: the alerts are counted as `failed` and reported.
/// Everything else (connection refused, timeout, 5xx) is retried with backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkError {
    pub message: String,
    pub permanent: bool,
}

impl SinkError {
    pub fn transient(m: impl Into<String>) -> Self {
        SinkError { message: m.into(), permanent: false }
    }
    pub fn permanent(m: impl Into<String>) -> Self {
        SinkError { message: m.into(), permanent: true }
    }
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for SinkError {
    fn from(e: std::io::Error) -> Self {
        SinkError::transient(e.to_string())
    }
}

/// A destination for alerts, driven by its queue on the sink runtime.
pub trait Sink: Send + Sync + 'static {
    /// The sink type (`webhook`, `slack`, …).
    fn kind(&self) -> &'static str;
    /// Deliver `alerts` (oldest first). `Ok` means every one was accepted by the receiver.
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>>;
    /// How many alerts one `deliver` call may carry.
    fn max_batch(&self) -> usize {
        1
    }
    /// The output's own time limit for one delivery when its configuration sets one (OTLP's
    /// `timeout`). The queue's attempt timeout is raised above it, so the setting takes effect
    /// (see [`crate::Router::add`]).
    fn timeout(&self) -> Option<Duration> {
        None
    }
    /// Where it sends, as it may be shown (no secret), for `harrier doctor`'s reachability
    /// checks; `None` when the sink does not say.
    fn endpoint(&self) -> Option<String> {
        None
    }
}

/// TLS and timeout options of an HTTP sink.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Verify the server certificate (default true).
    pub check_cert: bool,
    /// Extra trusted CA certificates (PEM file).
    pub ca_cert: Option<String>,
    /// Client certificate and key (PEM files) for mutual TLS.
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub timeout: Option<Duration>,
}

/// The TLS keys of an HTTP output, as falcosidekick reads them: `checkcert` (default true) and
/// `mutualtls`, which takes `client.crt`, `client.key` and `ca.crt` from `mutualtlsfilespath`
/// and always checks the server certificate; plus Harrier's explicit `cacert`, `clientcert`,
/// `clientkey` (empty: not set), which win over the directory's files.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsKeys<'a> {
    pub checkcert: Option<bool>,
    pub mutualtls: bool,
    pub cacert: &'a str,
    pub clientcert: &'a str,
    pub clientkey: &'a str,
}

impl TlsKeys<'_> {
    /// falcosidekick's two keys, no explicit files.
    pub fn new(checkcert: Option<bool>, mutualtls: bool) -> TlsKeys<'static> {
        TlsKeys { checkcert, mutualtls, ..Default::default() }
    }

    pub fn options(&self, mtls_dir: &str) -> HttpOptions {
        let pick = |explicit: &str, file: &str| -> Option<String> {
            if !explicit.is_empty() {
                Some(explicit.to_string())
            } else if self.mutualtls {
                Some(format!("{}/{file}", mtls_dir.trim_end_matches('/')))
            } else {
                None
            }
        };
        HttpOptions {
            check_cert: self.mutualtls || self.checkcert.unwrap_or(true),
            ca_cert: pick(self.cacert, "ca.crt"),
            client_cert: pick(self.clientcert, "client.crt"),
            client_key: pick(self.clientkey, "client.key"),
            timeout: None,
        }
    }
}

/// A reusable HTTP client (rustls; no system TLS library).
pub fn http_client(o: &HttpOptions) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(o.timeout.unwrap_or(Duration::from_secs(10)))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("harrier/", env!("CARGO_PKG_VERSION")));
    if !o.check_cert {
        b = b.danger_accept_invalid_certs(true);
    }
    if let Some(ca) = &o.ca_cert {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read CA certificate {ca}: {e}"))?;
        for c in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("bad CA certificate {ca}: {e}"))?
        {
            b = b.add_root_certificate(c);
        }
    }
    match (&o.client_cert, &o.client_key) {
        (Some(c), Some(k)) => {
            let mut pem = std::fs::read(c).map_err(|e| format!("cannot read client certificate {c}: {e}"))?;
            pem.push(b'\n');
            pem.extend(std::fs::read(k).map_err(|e| format!("cannot read client key {k}: {e}"))?);
            b = b.identity(
                reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("bad client certificate/key {c}: {e}"))?,
            );
        }
        (None, None) => {}
        _ => return Err("mutual TLS needs both a client certificate and a key".into()),
    }
    b.build().map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// An HTTP endpoint that receives a body per delivery.
#[derive(Clone)]
pub struct HttpTarget {
    pub client: reqwest::Client,
    pub url: String,
    pub method: reqwest::Method,
    /// Extra headers, checked when added ([`HttpTarget::add_header`]).
    pub headers: reqwest::header::HeaderMap,
    pub basic_auth: Option<(String, String)>,
    /// The URL as error messages show it (a URL carrying a secret, such as Telegram's bot
    /// token, is shown without it).
    pub shown: String,
}

impl HttpTarget {
    pub fn new(url: &str, o: &HttpOptions) -> Result<Self, String> {
        let u = reqwest::Url::parse(url).map_err(|e| format!("bad URL '{url}': {e}"))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(format!("bad URL '{url}': scheme must be http or https"));
        }
        Ok(HttpTarget {
            client: http_client(o)?,
            url: url.to_string(),
            method: reqwest::Method::POST,
            headers: reqwest::header::HeaderMap::new(),
            basic_auth: None,
            shown: url.to_string(),
        })
    }

    /// Add a header the configuration asks for; `key` names the setting in the error. A name or
    /// value HTTP does not allow is refused here, when the output is built at start, not at
    /// the first delivery. The value is never shown (it is often a secret).
    pub fn add_header(&mut self, key: &str, name: &str, value: &str) -> Result<(), String> {
        let n = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("{key}: '{}' is not a valid HTTP header name", name.escape_debug()))?;
        let v = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
            format!(
                "{key}: the value of header '{n}' is not a valid HTTP header value (visible ASCII, spaces and tabs only)"
            )
        })?;
        self.headers.append(n, v);
        Ok(())
    }

    /// [`HttpTarget::add_header`] for each pair.
    pub fn add_headers(&mut self, key: &str, pairs: Vec<(String, String)>) -> Result<(), String> {
        pairs.iter().try_for_each(|(k, v)| self.add_header(key, k, v))
    }

    /// Send a body; 2xx is success, 408/429/5xx and transport errors are transient, other 4xx
    /// permanent. Returns the response body.
    pub async fn send(&self, content_type: &str, body: Vec<u8>) -> Result<Vec<u8>, SinkError> {
        self.send_to(&self.url, content_type, body).await
    }

    pub async fn send_to(&self, url: &str, content_type: &str, body: Vec<u8>) -> Result<Vec<u8>, SinkError> {
        self.send_with(url, content_type, reqwest::header::HeaderMap::new(), body).await
    }

    /// [`HttpTarget::send_to`] with headers of this request only (a signature, a token).
    pub async fn send_with(
        &self,
        url: &str,
        content_type: &str,
        extra: reqwest::header::HeaderMap,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, SinkError> {
        let shown = if url == self.url { self.shown.as_str() } else { url };
        let shown = shown.split_once('?').map_or(shown, |(p, _)| p);
        let mut r = self.client.request(self.method.clone(), url).header("content-type", content_type);
        if !self.headers.is_empty() {
            r = r.headers(self.headers.clone());
        }
        if !extra.is_empty() {
            r = r.headers(extra);
        }
        if let Some((u, p)) = &self.basic_auth {
            r = r.basic_auth(u, Some(p));
        }
        let resp = r
            .body(body)
            .send()
            .await
            .map_err(|e| SinkError::transient(format!("{shown}: {}", err_chain(&e.without_url()))))?;
        let status = resp.status();
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        if status.is_success() {
            return Ok(body);
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let msg = format!("{shown}: HTTP {status}: {text}");
        if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
            Err(SinkError::permanent(msg))
        } else {
            Err(SinkError::transient(msg))
        }
    }
}

fn err_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}
