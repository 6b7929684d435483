//! The audit webhook: what kube-apiserver's `--audit-webhook-config-file` posts to.
//!
//! axum routes one path (the `open_params` path; others 404). Per request, as Falco's plugin:
//! non-POST → 405 `<METHOD> method not allowed`; a `Content-Type` without `application/json` →
//! 400 `wrong Content Type`; a body over `webhookMaxBatchSize` → 400 `bad request: …`. Then, unlike
//! the plugin (which answers 200 before parsing and blocks on a 50-slot channel), the body is parsed
//! and its events handed to the bounded [`Queue`] before answering: 200 when they are queued, 503
//! when the queue stays full for `queueWaitMs` (the API server retries any error), so nothing is
//! acknowledged and then lost. Payloads that are not audit events are logged, counted and answered
//! 200 (retrying them cannot help). Optional, off by default: `Authorization: Bearer` token
//! (401 otherwise) and client certificates signed by `clientCA` (https). `GET /metrics` serves the
//! outcome counters as Prometheus text. Every request has a 30 s
//! deadline and headers must arrive within 10 s; connections are capped.

use crate::config::InitConfig;
use crate::event::{parse_payload, Counters};
use crate::queue::{PushError, Queue};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// Longest a request may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Where the outcome counters are served as Prometheus text (GET; Harrier's addition).
pub const METRICS_PATH: &str = "/metrics";
/// Connections served at once; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 1024;

struct Hook {
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    max_event_size: usize,
    max_batch: usize,
    token: Option<String>,
    wait: Duration,
}

/// A running webhook; dropping it (or [`WebhookHandle::shutdown`]) stops it.
pub struct WebhookHandle {
    addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebhookHandle {
    /// The address actually bound (port 0 gives an ephemeral port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let requests in flight finish (≤ 5 s), and return.
    pub fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WebhookHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Load the TLS configuration: one PEM with certificate chain and key (`sslCertificate`), and,
/// when `clientCA` is set, client certificates required.
pub fn tls_config(cfg: &InitConfig) -> Result<rustls::ServerConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let path = &cfg.ssl_certificate;
    let pem = std::fs::read(path).map_err(|e| format!("sslCertificate {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("sslCertificate {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "sslCertificate {}: no certificate in the file (it must hold the certificate and the key)",
            path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("sslCertificate {}: no private key in the file ({e})", path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &cfg.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let pem = std::fs::read(ca).map_err(|e| format!("clientCA {}: {e}", ca.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| format!("clientCA {}: {e}", ca.display()))?;
                roots.add(c).map_err(|e| format!("clientCA {}: {e}", ca.display()))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| format!("clientCA {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder.with_single_cert(certs, key).map_err(|e| format!("sslCertificate {}: {e}", path.display()))
}

/// Bind and serve the webhook on its own thread (a small tokio runtime). Errors (port in use,
/// bad certificate) are returned here, at start.
pub fn start(
    addr: SocketAddr,
    path: &str,
    tls: bool,
    cfg: &InitConfig,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
) -> Result<WebhookHandle, String> {
    let tls = if tls { Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(cfg)?))) } else { None };
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("k8saudit webhook: cannot listen on {addr}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let hook = Arc::new(Hook {
        queue,
        counters,
        max_event_size: cfg.max_event_size,
        max_batch: cfg.webhook_max_batch_size,
        token: cfg.bearer_token.clone(),
        wait: cfg.queue_wait,
    });
    let mut router = Router::new().route(path, any(handle));
    if path != METRICS_PATH {
        router = router.route(METRICS_PATH, axum::routing::get(metrics));
    }
    let router = router.with_state(hook).layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        REQUEST_TIMEOUT,
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("k8saudit-webhook")
        .enable_all()
        .build()
        .map_err(|e| format!("k8saudit webhook runtime: {e}"))?;
    let thread = std::thread::Builder::new()
        .name("k8saudit-webhook".into())
        .spawn(move || rt.block_on(serve(listener, router, tls, stop_rx)))
        .map_err(|e| e.to_string())?;
    tracing::info!("k8saudit webhook listening on {scheme}://{local}{path}");
    Ok(WebhookHandle { addr: local, stop: Some(stop_tx), thread: Some(thread) })
}

async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("k8saudit webhook: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("k8saudit webhook: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let mut stop_conn = stop.clone();
        conns.spawn(async move {
            let _permit = permit;
            let svc = hyper_util::service::TowerToHyperService::new(router);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            match tls {
                None => {
                    let conn = http.serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => if let Err(e) = r { tracing::debug!("k8saudit webhook {peer}: {e}") },
                        _ = stop_conn.changed() => { conn.as_mut().graceful_shutdown(); let _ = conn.await; }
                    }
                }
                Some(acc) => {
                    let stream = match tokio::time::timeout(HEADER_TIMEOUT, acc.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::warn!("k8saudit webhook {peer}: TLS handshake: {e}");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = http.serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => if let Err(e) = r { tracing::debug!("k8saudit webhook {peer}: {e}") },
                        _ = stop_conn.changed() => { conn.as_mut().graceful_shutdown(); let _ = conn.await; }
                    }
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    // Requests in flight get 5 s to finish, as in the plugin.
    let _ =
        tokio::time::timeout(Duration::from_secs(5), async { while conns.join_next().await.is_some() {} })
            .await;
}

/// The content type of [`metrics_text`] (OpenMetrics text, which Prometheus reads).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn help(key: &str) -> &'static str {
    match key {
        "accepted" => "Audit events accepted into the queue.",
        "bad_json" => "Request bodies that were not JSON.",
        "not_audit" => "JSON bodies that were not audit events or lists of them.",
        "too_large" => "Requests refused for their body size.",
        "bad_timestamp" => "Audit events whose timestamp did not parse.",
        "rejected_busy" => "Requests refused with 503 because the queue was full.",
        "rejected_request" => "Requests refused (method, path, content type or token).",
        "lines_too_long" => "Audit log lines over the line limit (file input).",
        _ => "Kubernetes audit source counter.",
    }
}

/// The counters (`harrier_k8saudit_*_total`), the queue gauges and any `extra` counters as
/// OpenMetrics text, encoded by `prometheus-client` as the main `/metrics` is.
pub fn metrics_text_with(
    counters: &Counters,
    queue_len: usize,
    queue_capacity: usize,
    extra: &[(&'static str, u64)],
) -> String {
    use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
    let mut reg = prometheus_client::registry::Registry::default();
    for (k, v) in counters.snapshot().into_iter().chain(extra.iter().copied()) {
        let c: Counter = Counter::default();
        c.inc_by(v);
        // The library appends `_total` to a counter's name.
        reg.register(format!("harrier_k8saudit_{k}"), help(k), c);
    }
    let gauge = |v: usize| {
        let g: Gauge = Gauge::default();
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g
    };
    reg.register("harrier_k8saudit_queue_events", "Audit events waiting in the queue.", gauge(queue_len));
    reg.register(
        "harrier_k8saudit_queue_capacity_events",
        "The queue's capacity in audit events.",
        gauge(queue_capacity),
    );
    let mut s = String::new();
    prometheus_client::encoding::text::encode(&mut s, &reg).expect("writing to a String cannot fail");
    s
}

/// The webhook's `/metrics` text: [`metrics_text_with`] without extra counters.
pub fn metrics_text(counters: &Counters, queue_len: usize, queue_capacity: usize) -> String {
    metrics_text_with(counters, queue_len, queue_capacity, &[])
}

async fn metrics(State(h): State<Arc<Hook>>) -> Response {
    let body = metrics_text(&h.counters, h.queue.len(), h.queue.capacity());
    (StatusCode::OK, [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response()
}

fn text(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], msg.into()).into_response()
}

/// Constant-time comparison (the token must not leak through timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn handle(State(h): State<Arc<Hook>>, method: Method, headers: HeaderMap, body: Body) -> Response {
    let refuse = |code: StatusCode, msg: String| {
        h.counters.rejected_request.fetch_add(1, Ordering::Relaxed);
        text(code, msg)
    };
    if method != Method::POST {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, format!("{method} method not allowed"));
    }
    if let Some(tok) = &h.token {
        let ok = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|v| same(v.trim().as_bytes(), tok.as_bytes()));
        if !ok {
            return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token".into());
        }
    }
    let ct_ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if !ct_ok {
        return refuse(StatusCode::BAD_REQUEST, "wrong Content Type".into());
    }
    let bytes = match axum::body::to_bytes(body, h.max_batch).await {
        Ok(b) => b,
        Err(e) => {
            let msg = format!("bad request: {e} (webhookMaxBatchSize is {} bytes)", h.max_batch);
            tracing::warn!("k8saudit webhook: {msg}");
            return refuse(StatusCode::BAD_REQUEST, msg);
        }
    };
    // Parsing a 10 MiB batch and waiting for room in the queue block: off the async workers.
    let h2 = h.clone();
    let res = tokio::task::spawn_blocking(move || {
        let mut evs = Vec::new();
        // Payload errors are logged and counted by the parser, and answered 200.
        let _ = parse_payload(&bytes, h2.max_event_size, &mut evs, &h2.counters);
        let n = evs.len();
        match h2.queue.push_batch(evs, h2.wait) {
            Ok(()) => Ok(n),
            Err((e, evs)) => {
                // Not delivered: take them back out of `accepted`.
                h2.counters.accepted.fetch_sub(evs.len() as u64, Ordering::Relaxed);
                Err(e)
            }
        }
    })
    .await;
    match res {
        Ok(Ok(_)) => StatusCode::OK.into_response(),
        Ok(Err(PushError::Full)) => {
            h.counters.rejected_busy.fetch_add(1, Ordering::Relaxed);
            text(StatusCode::SERVICE_UNAVAILABLE, "queue full, retry later")
        }
        Ok(Err(PushError::Closed)) => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        Err(e) => {
            tracing::error!("k8saudit webhook: payload task failed: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}
