//! `harrier respond serve`: Falco Talon's drop-in. Listens (default port 2803) for what Falco's
//! `http_output` and falcosidekick's Talon output post — one Falco JSON alert per request — and
//! runs the response rules on it.
//!
//! Endpoints: `POST /` — an alert; answered with the outcomes as JSON. `GET /healthz` —
//! `{"status": "ok"}`. `GET /metrics` — the response counters, Prometheus text. Bodies over the
//! limit get 413, slow requests 408, malformed alerts 400 with the reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use harrier_engine::Alert;
use serde_json::json;

use crate::Responder;

/// Where outcome alerts go (stdout in the CLI, a channel in tests).
pub type Emit = Arc<dyn Fn(&Alert) + Send + Sync>;

#[derive(Clone)]
struct AppState {
    responder: Arc<Responder>,
    emit: Emit,
    print_all_events: bool,
    /// The bearer token `POST /` needs, when one is configured.
    token: Option<Arc<str>>,
}

/// Constant-time comparison of the presented token with the configured one.
fn token_ok(headers: &axum::http::HeaderMap, want: &str) -> bool {
    let got = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    got.len() == want.len() && got.bytes().zip(want.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn json_resp(code: StatusCode, v: serde_json::Value) -> Response {
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

async fn post_alert(State(st): State<AppState>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    if let Some(t) = &st.token {
        if !token_ok(&headers, t) {
            return json_resp(StatusCode::UNAUTHORIZED, json!({"error": "a bearer token is required"}));
        }
    }
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_resp(StatusCode::BAD_REQUEST, json!({"error": format!("malformed JSON: {e}")}))
        }
    };
    let alert = match harrier_sinks::alert_from_json(&v) {
        Ok(a) => a,
        Err(e) => return json_resp(StatusCode::BAD_REQUEST, json!({"error": e})),
    };
    if st.print_all_events {
        tracing::info!(rule = %alert.rule, priority = %alert.priority.as_str(), source = %alert.source, "event");
    }
    let r = st.responder.clone();
    let outcomes = match tokio::task::spawn_blocking(move || r.handle(&alert)).await {
        Ok(o) => o,
        Err(e) => {
            return json_resp(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": format!("response task: {e}")}),
            )
        }
    };
    let mut list = Vec::new();
    for o in &outcomes {
        (st.emit)(&o.to_alert());
        list.push(json!({"rule": o.rule, "action": o.action, "actionner": o.actionner, "status": o.status.as_str(), "target": o.target, "detail": o.detail}));
    }
    json_resp(StatusCode::OK, json!({"status": "ok", "outcomes": list}))
}

async fn healthz() -> Response {
    json_resp(StatusCode::OK, json!({"status": "ok"}))
}

/// The content type of [`metrics_text`] (OpenMetrics text, which Prometheus reads).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn help(name: &str) -> &'static str {
    match name.strip_prefix("harrier_response_").unwrap_or(name) {
        "alerts" => "Alerts the responder received.",
        "below_priority" => "Alerts below the responder's minimum priority.",
        "matched" => "Alerts a response rule matched.",
        "done" => "Actions carried out.",
        "dry_run" => "Actions reported but not carried out (dry run).",
        "skipped" => "Actions skipped (no target, or not applicable).",
        "failed" => "Actions that failed.",
        "rate_limited" => "Actions refused by the rate limit.",
        "deduplicated" => "Actions suppressed as duplicates.",
        "protected" => "Actions refused because the target is protected.",
        _ => "Response counter.",
    }
}

/// The response counters (`harrier_response_*_total`) as OpenMetrics text, encoded by
/// `prometheus-client` as the main `/metrics` is.
pub fn metrics_text(responder: &Responder) -> String {
    use prometheus_client::metrics::counter::Counter;
    let mut reg = prometheus_client::registry::Registry::default();
    for (name, value) in responder.metrics().snapshot() {
        let c: Counter = Counter::default();
        c.inc_by(value);
        // The library appends `_total` to a counter's name.
        let base = name.strip_suffix("_total").unwrap_or(name);
        reg.register(base, help(base), c);
    }
    let mut s = String::new();
    prometheus_client::encoding::text::encode(&mut s, &reg).expect("writing to a String cannot fail");
    s
}

async fn metrics(State(st): State<AppState>) -> Response {
    (StatusCode::OK, [("content-type", METRICS_CONTENT_TYPE)], metrics_text(&st.responder)).into_response()
}

/// The HTTP app (routes and limits), without a socket. With `token`, `POST /` needs
/// `Authorization: Bearer <token>`.
pub fn app(
    responder: Arc<Responder>,
    emit: Emit,
    print_all_events: bool,
    max_body: usize,
    timeout: Duration,
    token: Option<String>,
) -> Router {
    let st = AppState { responder, emit, print_all_events, token: token.map(Arc::from) };
    Router::new()
        .route("/", post(post_alert))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(st)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(tower::limit::ConcurrencyLimitLayer::new(64))
}

/// Serve on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Bind `addr:port`.
pub async fn bind(addr: &str, port: u16) -> Result<(tokio::net::TcpListener, SocketAddr), String> {
    let l = tokio::net::TcpListener::bind((addr, port))
        .await
        .map_err(|e| format!("cannot listen on {addr}:{port}: {e}"))?;
    let a = l.local_addr().map_err(|e| e.to_string())?;
    Ok((l, a))
}
