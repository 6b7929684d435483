//! Falco's embedded webserver: `GET /healthz` (configurable path) answering `{"status": "ok"}`,
//! `GET /versions`, and `GET /metrics` (Prometheus text) when both `metrics.enabled` and
//! `webserver.prometheus_metrics_enabled` are on — plus `/livez` and `/readyz` for probes that want
//! the two apart. Plain HTTP or TLS from one combined certificate-and-key PEM, axum on its own
//! small runtime, every request bounded (no body accepted, 10 s to send headers, 10 s per
//! request).

use crate::health::Health;
use crate::metrics::{render_prometheus, Snapshot};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::Value as Json;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `webserver` keys (and whether `/metrics` is served).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    pub enabled: bool,
    pub listen_address: IpAddr,
    pub listen_port: u16,
    pub k8s_healthz_endpoint: String,
    /// `ssl_enabled` → the combined PEM (`ssl_certificate`).
    pub ssl_certificate: Option<PathBuf>,
    /// `threadiness` (0: number of CPUs).
    pub threadiness: usize,
    /// `metrics.enabled` and `webserver.prometheus_metrics_enabled`.
    pub prometheus_metrics: bool,
}

impl Default for WebConfig {
    /// Falco's shipped `falco.yaml` values.
    fn default() -> Self {
        WebConfig {
            enabled: true,
            listen_address: IpAddr::from([0, 0, 0, 0]),
            listen_port: 8765,
            k8s_healthz_endpoint: "/healthz".into(),
            ssl_certificate: None,
            threadiness: 0,
            prometheus_metrics: false,
        }
    }
}

/// Parse `listen_address` as Falco does: an IPv4 or IPv6 literal, nothing else.
pub fn parse_listen_address(s: &str) -> Result<IpAddr, String> {
    s.trim().parse::<IpAddr>().map_err(|_| {
        format!(
            "webserver.listen_address: '{s}' is not an IPv4 or IPv6 address (e.g. 0.0.0.0, 127.0.0.1, ::)"
        )
    })
}

/// What the handlers read.
#[derive(Clone)]
pub struct WebState {
    pub health: Arc<Health>,
    pub snapshot: Arc<Mutex<Snapshot>>,
    pub versions: Json,
}

/// A running webserver; dropping it stops it.
pub struct WebServer {
    pub addr: SocketAddr,
    pub tls: bool,
    _rt: tokio::runtime::Runtime,
}

const JSON: &str = "application/json";
const PROMETHEUS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn healthz(State(s): State<WebState>) -> Response {
    if s.health.live() && s.health.ready() {
        ([(header::CONTENT_TYPE, JSON)], "{\"status\": \"ok\"}").into_response()
    } else if !s.health.ready() {
        (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, JSON)], "{\"status\": \"starting\"}")
            .into_response()
    } else {
        let body = format!(
            "{{\"status\": \"stalled\", \"seconds_since_last_event_loop_beat\": {}}}",
            s.health.since_beat().as_secs()
        );
        (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, JSON)], body).into_response()
    }
}

async fn livez(State(s): State<WebState>) -> Response {
    if s.health.live() {
        ([(header::CONTENT_TYPE, JSON)], "{\"status\": \"ok\"}").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, JSON)], "{\"status\": \"stalled\"}")
            .into_response()
    }
}

async fn readyz(State(s): State<WebState>) -> Response {
    if s.health.ready() {
        ([(header::CONTENT_TYPE, JSON)], "{\"status\": \"ok\"}").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, JSON)], "{\"status\": \"starting\"}")
            .into_response()
    }
}

async fn versions(State(s): State<WebState>) -> Response {
    ([(header::CONTENT_TYPE, JSON)], s.versions.to_string()).into_response()
}

async fn metrics(State(s): State<WebState>) -> Response {
    let snap = s.snapshot.lock().map(|g| g.clone()).unwrap_or_default();
    ([(header::CONTENT_TYPE, PROMETHEUS)], render_prometheus(&snap)).into_response()
}

/// The routes for `cfg`.
pub fn router(cfg: &WebConfig, state: WebState) -> Router {
    let path = if cfg.k8s_healthz_endpoint.starts_with('/') {
        cfg.k8s_healthz_endpoint.clone()
    } else {
        format!("/{}", cfg.k8s_healthz_endpoint)
    };
    let mut r = Router::new()
        .route(&path, get(healthz))
        .route("/versions", get(versions))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz));
    if cfg.prometheus_metrics {
        r = r.route("/metrics", get(metrics));
    }
    r.layer(tower_http::limit::RequestBodyLimitLayer::new(0))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(10),
        ))
        .with_state(state)
}

fn tls_config(pem: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pem)
        .map_err(|e| format!("webserver.ssl_certificate {}: {e}", pem.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("webserver.ssl_certificate {}: {e}", pem.display()))?;
    if certs.is_empty() {
        return Err(format!("webserver.ssl_certificate {}: no certificate in the PEM file", pem.display()));
    }
    let key = PrivateKeyDer::from_pem_file(pem).map_err(|e| {
        format!("webserver.ssl_certificate {}: no private key in the PEM file (it must hold the certificate and its key): {e}", pem.display())
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("webserver.ssl_certificate {}: {e}", pem.display()))?;
    Ok(Arc::new(cfg))
}

/// Bind and serve on a runtime of its own. Errors (address in use, bad PEM) come back at once.
pub fn start(cfg: &WebConfig, state: WebState) -> Result<WebServer, String> {
    let threads = if cfg.threadiness == 0 { 2 } else { cfg.threadiness.min(16) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("harrier-web")
        .enable_all()
        .build()
        .map_err(|e| format!("webserver: cannot start its runtime: {e}"))?;
    let tls = match &cfg.ssl_certificate {
        Some(p) => Some(tokio_rustls::TlsAcceptor::from(tls_config(p)?)),
        None => None,
    };
    let bind = SocketAddr::new(cfg.listen_address, cfg.listen_port);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(bind))
        .map_err(|e| format!("webserver: cannot listen on {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = router(cfg, state);
    let is_tls = tls.is_some();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let app = app.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = TowerToHyperService::new(app);
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
                match tls {
                    Some(acc) => {
                        let Ok(Ok(s)) =
                            tokio::time::timeout(Duration::from_secs(10), acc.accept(stream)).await
                        else {
                            return;
                        };
                        let _ = http.serve_connection(TokioIo::new(s), svc).await;
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    Ok(WebServer { addr, tls: is_tls, _rt: rt })
}

/// Falco's `/versions` document for Harrier (values Harrier has no counterpart for are `n/a`).
pub fn versions_json(harrier_version: &str, plugins: &[(String, String)]) -> Json {
    let (maj, min, pat) = harrier_rules::ENGINE_VERSION;
    let plugin_versions: serde_json::Map<String, Json> =
        plugins.iter().map(|(n, v)| (n.clone(), Json::String(v.clone()))).collect();
    serde_json::json!({
        "falco_version": format!("harrier-{harrier_version}"),
        "harrier_version": harrier_version,
        "libs_version": "n/a",
        "plugin_api_version": "n/a",
        "driver_api_version": "n/a",
        "driver_schema_version": "n/a",
        "default_driver_version": "n/a",
        "engine_version": min.to_string(),
        "engine_version_semver": format!("{maj}.{min}.{pat}"),
        "plugin_versions": plugin_versions,
    })
}
