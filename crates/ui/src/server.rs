//! The HTTP server: routes, handlers, security headers, limits.

use crate::assets;
use crate::auth::{self, Cidr, LoginLimiter, Principal, LOGIN_COOKIE, SESSION_COOKIE};
use crate::params::{harrier_query, sidekick_query, Params};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query as QueryParams, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use harrier_store::auth::random_hex;
use harrier_store::{hash_token, now_ns, GroupBy, Query, Retention, Store, StoredAlert};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What `harrier ui` serves with.
#[derive(Clone)]
pub struct UiConfig {
    /// Addresses that may post alerts without a token (default: loopback).
    pub allow_ingest: Vec<Cidr>,
    /// Largest request body (413 past it).
    pub max_body: usize,
    /// Whole-request timeout (408 past it).
    pub request_timeout: Duration,
    pub retention: Retention,
    /// How often retention runs.
    pub retention_every: Duration,
    /// Cookies carry `Secure` (set when serving TLS).
    pub secure_cookies: bool,
    /// Failed logins allowed per address and per user name within a minute.
    pub login_attempts: u32,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            allow_ingest: Cidr::loopback(),
            max_body: 1 << 20,
            request_timeout: Duration::from_secs(30),
            retention: Retention::default(),
            retention_every: Duration::from_secs(30),
            secure_cookies: false,
            login_attempts: 5,
        }
    }
}

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub cfg: UiConfig,
    pub limiter: LoginLimiter,
    /// The highest alert id known to be stored: set by this server's ingest at once, and by a
    /// watcher that notices other writers (a `harrier run` store sink, other fleet nodes). Live
    /// tail streams wait on it.
    pub newest: tokio::sync::watch::Sender<i64>,
}

type S = Arc<AppState>;

/// An error answer: status and a JSON `{"error": reason}`.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, m.into())
}

fn store_err(e: harrier_store::StoreError) -> ApiError {
    match e {
        harrier_store::StoreError::BadRequest(m) => ApiError(StatusCode::BAD_REQUEST, m),
        harrier_store::StoreError::Unavailable(m) => {
            ApiError(StatusCode::SERVICE_UNAVAILABLE, format!("store unavailable: {m}"))
        }
    }
}

/// Run a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    st: &S,
    f: impl FnOnce(&dyn Store) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let s = st.clone();
    tokio::task::spawn_blocking(move || f(s.store.as_ref()))
        .await
        .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "store call failed".into()))
}

fn header_str(h: &HeaderMap, k: header::HeaderName) -> Option<&str> {
    h.get(k).and_then(|v| v.to_str().ok())
}

async fn who(st: &S, h: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    let cookie = header_str(h, header::COOKIE).map(str::to_string);
    let authz = header_str(h, header::AUTHORIZATION).map(str::to_string);
    blocking(st, move |s| auth::principal(s, cookie.as_deref(), authz.as_deref()))
        .await?
        .map_err(|_| ApiError(StatusCode::UNAUTHORIZED, "invalid or revoked token".into()))
}

async fn reader(st: &S, h: &HeaderMap) -> Result<Principal, ApiError> {
    match who(st, h).await? {
        Some(p) if p.role.can_read() => Ok(p),
        Some(_) => Err(ApiError(StatusCode::FORBIDDEN, "this token may not read alerts".into())),
        None => {
            Err(ApiError(StatusCode::UNAUTHORIZED, "log in or send Authorization: Bearer <token>".into()))
        }
    }
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A state change by a browser session must carry the session's CSRF token in `X-CSRF-Token`
/// (or the form's `csrf` field), and a cross-site Origin is refused.
fn check_csrf(p: &Principal, h: &HeaderMap, form_token: Option<&str>) -> Result<(), ApiError> {
    let Some(expected) = &p.csrf else { return Ok(()) };
    if let (Some(origin), Some(host)) = (header_str(h, header::ORIGIN), header_str(h, header::HOST)) {
        let o = origin.split("://").nth(1).unwrap_or(origin);
        if o != host {
            return Err(ApiError(StatusCode::FORBIDDEN, "cross-site request refused".into()));
        }
    }
    let given = h.get("x-csrf-token").and_then(|v| v.to_str().ok()).or(form_token);
    match given {
        Some(t) if ct_eq(t, expected) => Ok(()),
        _ => Err(ApiError(StatusCode::FORBIDDEN, "missing or wrong CSRF token".into())),
    }
}

pub fn router(state: S) -> Router {
    let max_body = state.cfg.max_body;
    let timeout = state.cfg.request_timeout;
    Router::new()
        // Ingest, where falcosidekick-ui takes it.
        .route("/", get(page_dashboard).post(ingest))
        .route("/api/v1/", post(ingest))
        .route("/api/v1/events/add", post(ingest))
        // falcosidekick-ui's read API.
        .route("/api/v1/healthz", get(healthz))
        .route("/api/v1/version", get(version))
        .route("/api/v1/events/count", get(sk_count))
        .route("/api/v1/events/count/{groupby}", get(sk_count_by))
        .route("/api/v1/events/search", get(sk_search))
        // Harrier's API.
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/stream", get(stream))
        .route("/api/v1/events/{id}", get(event_one))
        .route("/api/v1/events/{id}/ack", post(ack))
        .route("/api/v1/groups", get(groups))
        .route("/api/v1/dashboard", get(dashboard))
        .route("/api/v1/export", get(export))
        .route("/api/v1/session", get(session))
        .route("/api/v1/status", get(status))
        .route(
            "/openapi.yaml",
            get(|| async { ([(header::CONTENT_TYPE, "application/yaml")], assets::OPENAPI) }),
        )
        // Pages.
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/events", get(page_events))
        .route("/event", get(page_event))
        .route("/live", get(page_live))
        .route("/groups", get(page_groups))
        .route(
            "/static/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], assets::APP_JS) }),
        )
        .route(
            "/static/app.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], assets::APP_CSS) }),
        )
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::map_response(security_headers))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .with_state(state)
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    r
}

/// Serve plain HTTP until the listener fails; runs retention in the background.
pub async fn serve(
    store: Arc<dyn Store>,
    listener: tokio::net::TcpListener,
    cfg: UiConfig,
) -> std::io::Result<()> {
    serve_with(store, listener, cfg, None).await
}

/// Serve HTTP, or HTTPS with `tls`; runs retention in the background.
pub async fn serve_with(
    store: Arc<dyn Store>,
    listener: tokio::net::TcpListener,
    cfg: UiConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let newest = store.max_id().unwrap_or(0);
    let state = Arc::new(AppState {
        limiter: LoginLimiter::new(cfg.login_attempts, Duration::from_secs(60)),
        store,
        cfg,
        newest: tokio::sync::watch::channel(newest).0,
    });
    spawn_retention(state.clone());
    spawn_newest_watch(state.clone());
    let app = router(state).into_make_service_with_connect_info::<PeerAddr>();
    match tls {
        None => axum::serve(listener, app).await,
        Some(t) => axum::serve(TlsListener::new(listener, t), app).await,
    }
}

/// The client's address, for plain and TLS connections alike.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> PeerAddr {
        PeerAddr(*s.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(s: axum::serve::IncomingStream<'_, TlsListener>) -> PeerAddr {
        PeerAddr(*s.remote_addr())
    }
}

/// TLS in front of a TCP listener: handshakes run on their own tasks (a slow client holds up
/// nobody) with a 10 s limit; finished ones are handed to the server.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    fn new(l: tokio::net::TcpListener, cfg: Arc<rustls::ServerConfig>) -> TlsListener {
        let local = l.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match l.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "ui: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send((s, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "ui: TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "ui: TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { rx, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Notice alerts stored by other writers: one `max(id)` look-up (an index edge) every 500 ms for
/// the whole server, whatever the number of live tails; this server's own ingest notifies at once.
fn spawn_newest_watch(st: S) {
    tokio::spawn(async move {
        let mut t = tokio::time::interval(Duration::from_millis(500));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            t.tick().await;
            if st.newest.receiver_count() == 0 {
                continue;
            }
            if let Ok(Ok(id)) = blocking(&st, |s| s.max_id()).await {
                st.newest.send_if_modified(|v| {
                    let newer = id > *v;
                    if newer {
                        *v = id;
                    }
                    newer
                });
            }
        }
    });
}

fn spawn_retention(st: S) {
    let r = st.cfg.retention;
    if r.max_age_ns.is_none() && r.max_bytes.is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut t = tokio::time::interval(st.cfg.retention_every);
        loop {
            t.tick().await;
            match blocking(&st, move |s| s.enforce_retention(&r)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "ui: retention failed"),
                Err(_) => tracing::warn!("ui: retention task failed"),
            }
        }
    });
}

// ---------- ingest ----------

async fn ingest(
    State(st): State<S>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let allowed = match who(&st, &h).await? {
        // Only tokens post alerts; a browser session cannot be tricked into it.
        Some(p) if p.csrf.is_none() && p.role.can_ingest() => true,
        Some(p) if p.csrf.is_none() => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("token '{}' may not ingest (role {})", p.name, p.role.as_str()),
            ))
        }
        _ => st.cfg.allow_ingest.iter().any(|c| c.contains(peer.ip())),
    };
    if !allowed {
        let mut r = ApiError(
            StatusCode::UNAUTHORIZED,
            "ingest needs Authorization: Bearer <token with role ingest>".into(),
        )
        .into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(r);
    }
    let alerts = parse_ingest(&body).map_err(bad)?;
    let ids = blocking(&st, move |s| s.insert(&alerts)).await?.map_err(store_err)?;
    if let Some(&max) = ids.iter().max() {
        st.newest.send_if_modified(|v| {
            let newer = max > *v;
            if newer {
                *v = max;
            }
            newer
        });
    }
    Ok(Json(json!({ "ids": ids })).into_response())
}

/// An ingest body → alerts: falcosidekick's webui payload `{"event": <alert>, "outputs": [...]}`,
/// Falco's http_output body (the alert itself), or an array of either. The error says why.
pub fn parse_ingest(body: &[u8]) -> Result<Vec<harrier_engine::Alert>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let docs: Vec<Value> = match v {
        Value::Array(a) => a,
        v => vec![v],
    };
    if docs.is_empty() {
        return Err("no alert in the body".into());
    }
    let one = docs.len() == 1;
    docs.iter()
        .enumerate()
        .map(|(i, d)| {
            let doc = match d.get("event") {
                Some(e) if d.get("rule").is_none() => e,
                _ => d,
            };
            harrier_store::parse_alert(doc).map_err(|e| {
                if one {
                    format!("not a Falco alert: {e}")
                } else {
                    format!("alert {i}: not a Falco alert: {e}")
                }
            })
        })
        .collect()
}

// ---------- falcosidekick-ui's read API ----------

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn version() -> Json<Value> {
    Json(json!({
        "GitVersion": env!("CARGO_PKG_VERSION"),
        "GitCommit": "unknown",
        "GitTreeState": "unknown",
        "BuildDate": "unknown",
        "GoVersion": "",
        "Compiler": "rustc",
        "Platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        "Product": "harrier",
    }))
}

async fn sk_count(
    State(st): State<S>,
    h: HeaderMap,
    QueryParams(p): QueryParams<Params>,
) -> Result<Json<Value>, ApiError> {
    reader(&st, &h).await?;
    let q = sidekick_query(&p, now_ns()).map_err(bad)?;
    let n = blocking(&st, move |s| s.count(&q)).await?.map_err(store_err)?;
    Ok(Json(json!({ "statistics": { "all": n } })))
}

async fn sk_count_by(
    State(st): State<S>,
    h: HeaderMap,
    Path(by): Path<String>,
    QueryParams(p): QueryParams<Params>,
) -> Result<Json<Value>, ApiError> {
    reader(&st, &h).await?;
    let g = GroupBy::parse(&by).ok_or_else(|| {
        bad(format!("cannot count by '{by}': one of {}", GroupBy::ALL.map(|g| g.name()).join(", ")))
    })?;
    let q = sidekick_query(&p, now_ns()).map_err(bad)?;
    let (rows, total) =
        blocking(&st, move |s| Ok::<_, harrier_store::StoreError>((s.count_by(&q, g, 1000)?, s.count(&q)?)))
            .await?
            .map_err(store_err)?;
    let distinct = rows.len();
    let results: serde_json::Map<String, Value> = rows.into_iter().map(|(k, n)| (k, json!(n))).collect();
    Ok(Json(json!({ "results": results, "statistics": { "all": total, "distincts": distinct } })))
}

async fn sk_search(
    State(st): State<S>,
    h: HeaderMap,
    QueryParams(p): QueryParams<Params>,
) -> Result<Json<Value>, ApiError> {
    reader(&st, &h).await?;
    let q = sidekick_query(&p, now_ns()).map_err(bad)?;
    let page = blocking(&st, move |s| s.query(&q)).await?.map_err(store_err)?;
    let returned = page.events.len();
    let results: serde_json::Map<String, Value> =
        page.events.into_iter().enumerate().map(|(i, e)| (i.to_string(), event_json(e))).collect();
    Ok(Json(json!({ "results": results, "statistics": { "returned": returned, "all": page.total } })))
}

// ---------- Harrier's API ----------

/// Falco's alert document, with the store's `id` (and `ack` when acknowledged) added.
fn event_json(e: StoredAlert) -> Value {
    let mut v = e.alert;
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), json!(e.id));
        if let Some(a) = e.ack {
            m.insert("ack".into(), json!(a));
        }
    }
    v
}

async fn events(
    State(st): State<S>,
    h: HeaderMap,
    QueryParams(p): QueryParams<Params>,
) -> Result<Json<Value>, ApiError> {
    reader(&st, &h).await?;
    let q = harrier_query(&p, now_ns()).map_err(bad)?;
    let page = blocking(&st, move |s| s.query(&q)).await?.map_err(store_err)?;
    let events: Vec<Value> = page.events.into_iter().map(event_json).collect();
    Ok(Json(json!({
        "total": page.total,
        "total_exact": page.total_exact,
        "next": page.next.map(|c| c.encode()),
        "events": events,
    })))
}

/// Live tail without polling: server-sent events. Each `alert` event is one alert (the same JSON as
/// `/api/v1/events`, oldest first, `id:` = the alert's id), matching the same filters; `after=ID`
/// (or the browser's `Last-Event-ID` on reconnect) says where to resume. The stream wakes when an
/// alert is stored (see [`AppState::newest`]); a comment every 15 s keeps proxies from closing it.
async fn stream(
    State(st): State<S>,
    h: HeaderMap,
    QueryParams(p): QueryParams<Params>,
) -> Result<Response, ApiError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    reader(&st, &h).await?;
    let mut q = harrier_query(&p, now_ns()).map_err(bad)?;
    q.limit = 500;
    q.offset = 0;
    let resume = header_str(&h, header::HeaderName::from_static("last-event-id"))
        .and_then(|v| v.trim().parse::<i64>().ok());
    let start = match resume.or(q.after_id) {
        Some(a) => a,
        None => *st.newest.borrow(),
    };
    let rx = st.newest.subscribe();
    struct Tail {
        st: S,
        q: Query,
        last: i64,
        rx: tokio::sync::watch::Receiver<i64>,
        pending: std::collections::VecDeque<Event>,
    }
    let tail = Tail { st, q, last: start, rx, pending: Default::default() };
    let events = futures_util::stream::unfold(tail, |mut t| async move {
        loop {
            if let Some(e) = t.pending.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(e), t));
            }
            // Anything stored after what was sent? (`mark` is read before the query, so every id
            // up to it is committed and visible to it.)
            let mark = *t.rx.borrow_and_update();
            if mark > t.last {
                let mut q = t.q.clone();
                q.after_id = Some(t.last);
                let limit = q.limit;
                match blocking(&t.st, move |s| s.query(&q)).await {
                    Ok(Ok(page)) => {
                        let complete = page.events.len() < limit;
                        let mut evs = page.events;
                        evs.sort_by_key(|e| e.id);
                        for e in evs {
                            t.last = t.last.max(e.id);
                            t.pending.push_back(
                                Event::default()
                                    .event("alert")
                                    .id(e.id.to_string())
                                    .data(event_json(e).to_string()),
                            );
                        }
                        // Past a burst of more than a page, the newest page is what a tail shows.
                        if complete {
                            t.last = t.last.max(mark);
                        }
                        continue;
                    }
                    Ok(Err(e)) => {
                        let msg = json!({ "error": e.to_string() }).to_string();
                        t.pending.push_back(Event::default().event("store-error").data(msg));
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    Err(_) => return None,
                }
            }
            if t.rx.changed().await.is_err() {
                return None;
            }
        }
    });
    let mut r =
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    Ok(r)
}

async fn event_one(
    State(st): State<S>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    reader(&st, &h).await?;
    let id: i64 = id.parse().map_err(|_| bad(format!("'{id}' is not an event id")))?;
    match blocking(&st, move |s| s.get(id)).await?.map_err(store_err)? {
        Some(e) => Ok(Json(event_json(e))),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no event {id}"))),
    }
}

#[derive(serde::Deserialize)]
struct AckBody {
    #[serde(default)]
    note: String,
}

async fn ack(
    State(st): State<S>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let p = reader(&st, &h).await?;
    check_csrf(&p, &h, None)?;
    if !p.role.is_admin() {
        return Err(ApiError(StatusCode::FORBIDDEN, "acknowledging needs the admin role".into()));
    }
    let id: i64 = id.parse().map_err(|_| bad(format!("'{id}' is not an event id")))?;
    let b: AckBody =
        serde_json::from_slice(&body).map_err(|e| bad(format!("body must be {{\"note\": \"…\"}}: {e}")))?;
    if b.note.len() > 4096 {
        return Err(bad("note longer than 4096 bytes"));
    }
    let by = p.name.clone();
    let found = blocking(&st, move |s| s.acknowledge(id, &by, &b.note)).await?.map_err(store_err)?;
    if !found {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no event {id}")));
    }
    Ok(Json(json!({ "ok": true })))
}

async fn groups(
    State(st): State<S>,
    h: HeaderMap,
    QueryParams(p): QueryParams<Params>,
) -> Result<Json<Value>, ApiError> {
    reader(&st, &h).await?;
    let q = harrier_query(&p, now_ns()).map_err(bad)?;
    let g = blocking(&st, move |s| s.groups(&q)).await?.map_err(store_err)?;
    Ok(Json(json!({ "groups": g })))
}

async fn dashboard(
    State(st): State<S>,
    h: HeaderMap,
    QueryParams(mut p): QueryParams<Params>,
) -> Result<Json<Value>, ApiError> {
    reader(&st, &h).await?;
    let now = now_ns();
    p.entry("since".into()).or_insert_with(|| "24h".into());
    let q = harrier_query(&p, now).map_err(bad)?;
    let span = now.saturating_sub(q.since_ns.unwrap_or(0)).max(60_000_000_000);
    // About 48 buckets, rounded to a whole minute.
    let bucket = (span / 48).div_ceil(60_000_000_000) * 60_000_000_000;
    let since = q.since_ns.unwrap_or(0);
    let out = blocking(&st, move |s| {
        let total = s.count(&q)?;
        let hist = s.histogram(&q, bucket)?;
        let mut top = serde_json::Map::new();
        for g in [
            GroupBy::Priority,
            GroupBy::Rule,
            GroupBy::Source,
            GroupBy::Hostname,
            GroupBy::Namespace,
            GroupBy::Image,
            GroupBy::Tags,
        ] {
            let rows = s.count_by(&q, g, 10)?;
            top.insert(g.name().into(), json!(rows.into_iter().filter(|(k, _)| !k.is_empty()).collect::<Vec<_>>()));
        }
        Ok::<_, harrier_store::StoreError>(json!({
            "total": total, "since_ns": since, "now_ns": now, "bucket_ns": bucket, "histogram": hist, "top": top,
            "store": s.status(),
        }))
    })
    .await?
    .map_err(store_err)?;
    Ok(Json(out))
}

async fn status(State(st): State<S>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    reader(&st, &h).await?;
    let s = blocking(&st, |s| s.status()).await?;
    Ok(Json(json!(s)))
}

async fn session(State(st): State<S>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let p = reader(&st, &h).await?;
    Ok(Json(json!({ "user": p.name, "role": p.role.as_str(), "csrf": p.csrf })))
}

/// CSV cell: quoted, quotes doubled; a leading = + - @ is neutralised so spreadsheets do not run it.
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    format!("\"{}\"", s.replace('"', "\"\""))
}

const EXPORT_MAX: usize = 200_000;
/// Alerts per store call while exporting: the response is streamed a batch at a time, so the
/// memory an export holds is one batch, whatever its size.
const EXPORT_BATCH: usize = 5_000;

async fn export(
    State(st): State<S>,
    h: HeaderMap,
    QueryParams(p): QueryParams<Params>,
) -> Result<Response, ApiError> {
    reader(&st, &h).await?;
    let format = p.get("format").map(String::as_str).unwrap_or("jsonl").to_string();
    if format != "jsonl" && format != "csv" {
        return Err(bad(format!("parameter 'format': '{format}' is not jsonl or csv")));
    }
    let mut q = harrier_query(&p, now_ns()).map_err(bad)?;
    let csv = format == "csv";
    q.limit = EXPORT_BATCH;
    q.offset = 0;
    // The first batch is read before the answer starts, so a failing store is still a clean error
    // status; later batches follow as the client reads (a store failure then ends the body early).
    let first = blocking(&st, {
        let q = q.clone();
        move |s| s.query(&q)
    })
    .await?
    .map_err(store_err)?;
    let header_line =
        csv.then(|| "id,time,priority,rule,source,hostname,tags,output,output_fields\n".to_string());
    let state = Some((st, q, Some(first), 0usize, header_line));
    let body = futures_util::stream::unfold(state, move |state| async move {
        let (st, mut q, page, written, head) = state?;
        let page = match page {
            Some(p) => p,
            None => match blocking(&st, {
                let q = q.clone();
                move |s| s.query(&q)
            })
            .await
            {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "ui: export stopped: the store failed");
                    return Some((Err(std::io::Error::other(e.to_string())), None));
                }
                Err(_) => return None,
            },
        };
        let mut out = head.unwrap_or_default();
        let n = page.events.len();
        for e in page.events {
            if csv {
                out.push_str(&csv_row(&e));
            } else {
                out.push_str(&e.alert.to_string());
            }
            out.push('\n');
        }
        let written = written + n;
        let next = match page.next {
            Some(c) if written < EXPORT_MAX && n > 0 => {
                q.before = Some(c);
                Some((st, q, None, written, None))
            }
            _ => None,
        };
        if out.is_empty() {
            return None;
        }
        Some((Ok::<_, std::io::Error>(Bytes::from(out)), next))
    });
    let (ct, name) = if csv {
        ("text/csv; charset=utf-8", "alerts.csv")
    } else {
        ("application/x-ndjson", "alerts.jsonl")
    };
    Ok((
        [
            (header::CONTENT_TYPE, ct.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// One CSV line (without its newline) for an exported alert.
fn csv_row(e: &StoredAlert) -> String {
    let a = &e.alert;
    let g = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let tags: Vec<&str> = a
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields = a.get("output_fields").map(Value::to_string).unwrap_or_default();
    let cells = [
        e.id.to_string(),
        g("time"),
        g("priority"),
        g("rule"),
        g("source"),
        g("hostname"),
        tags.join(","),
        g("output"),
        fields,
    ];
    cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",")
}

// ---------- pages and login ----------

fn html(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn page(st: &S, h: &HeaderMap, uri_path: &str, body: &'static str) -> Response {
    match who(st, h).await {
        Ok(Some(p)) if p.csrf.is_some() => html(body),
        _ => Redirect::to(&format!("/login?next={}", uri_path)).into_response(),
    }
}

async fn page_dashboard(State(st): State<S>, h: HeaderMap) -> Response {
    page(&st, &h, "/", assets::DASHBOARD_HTML).await
}
async fn page_events(State(st): State<S>, h: HeaderMap) -> Response {
    page(&st, &h, "/events", assets::EVENTS_HTML).await
}
async fn page_event(State(st): State<S>, h: HeaderMap) -> Response {
    page(&st, &h, "/events", assets::EVENT_HTML).await
}
async fn page_live(State(st): State<S>, h: HeaderMap) -> Response {
    page(&st, &h, "/live", assets::LIVE_HTML).await
}
async fn page_groups(State(st): State<S>, h: HeaderMap) -> Response {
    page(&st, &h, "/groups", assets::GROUPS_HTML).await
}

fn cookie_attrs(st: &S) -> &'static str {
    if st.cfg.secure_cookies {
        "Path=/; HttpOnly; SameSite=Strict; Secure"
    } else {
        "Path=/; HttpOnly; SameSite=Strict"
    }
}

async fn login_page(State(st): State<S>) -> Response {
    let t = random_hex(16);
    let body = assets::LOGIN_HTML.replace("{{CSRF}}", &t);
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    let c = format!("{LOGIN_COOKIE}={t}; Max-Age=3600; {}", cookie_attrs(&st));
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

fn safe_next(n: &str) -> &str {
    if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.contains("://") && n.len() < 2048
    {
        n
    } else {
        "/"
    }
}

async fn login_submit(
    State(st): State<S>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    h: HeaderMap,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    let ip = peer.ip();
    if st.limiter.blocked(ip, &f.user) {
        tracing::warn!(%ip, user = %f.user, "ui: login rate limit reached");
        return (StatusCode::TOO_MANY_REQUESTS, "too many failed logins; wait a minute").into_response();
    }
    let expected = auth::cookie(header_str(&h, header::COOKIE), LOGIN_COOKIE).map(str::to_string);
    if !matches!(&expected, Some(e) if !f.csrf.is_empty() && ct_eq(e, &f.csrf)) {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token: reload the login page").into_response();
    }
    let (user, pw) = (f.user.clone(), f.password);
    let res = blocking(&st, move |s| auth::login(s, &user, &pw)).await.ok().flatten();
    match res {
        Some((sid, _csrf)) => {
            st.limiter.succeeded(ip, &f.user);
            tracing::info!(%ip, user = %f.user, "ui: login");
            let mut r = Redirect::to(safe_next(&f.next)).into_response();
            let c = format!(
                "{SESSION_COOKIE}={sid}; Max-Age={}; {}",
                auth::SESSION_TTL.as_secs(),
                cookie_attrs(&st)
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        None => {
            st.limiter.failed(ip, &f.user);
            tracing::warn!(%ip, user = %f.user, "ui: failed login");
            Redirect::to("/login?error=1").into_response()
        }
    }
}

#[derive(serde::Deserialize, Default)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(st): State<S>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let f: LogoutForm = serde_urlencoded_lite(&body);
    if let Some(p) = who(&st, &h).await? {
        if p.csrf.is_none() {
            return Err(bad("logout is for browser sessions"));
        }
        check_csrf(&p, &h, Some(&f.csrf))?;
        if let Some(sid) = auth::cookie(header_str(&h, header::COOKIE), SESSION_COOKIE) {
            let hsh = hash_token(sid);
            blocking(&st, move |s| s.session_delete(&hsh)).await?.map_err(store_err)?;
        }
    }
    let mut r = Redirect::to("/login").into_response();
    let c = format!("{SESSION_COOKIE}=; Max-Age=0; {}", cookie_attrs(&st));
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// The `csrf` field of a urlencoded body (or nothing).
fn serde_urlencoded_lite(body: &[u8]) -> LogoutForm {
    let s = std::str::from_utf8(body).unwrap_or("");
    let csrf = s.split('&').find_map(|kv| kv.strip_prefix("csrf=")).unwrap_or("").to_string();
    LogoutForm { csrf }
}
