//! The forwarder: an HTTP endpoint that accepts what Falco's `http_output` posts (Falco's JSON
//! alert) and routes it to every configured sink — Harrier as a drop-in for falcosidekick.
//!
//! Endpoints (default port 2801): `POST /` (also `/alert`, falcosidekick's path) — one alert;
//! `GET /healthz` — `{"status":"ok"}`; `POST /test` (or GET) — a test alert through every sink;
//! `GET /metrics` — Prometheus text (alerts by rule/priority/source, per-sink counters);
//! `GET /stats` — per-sink counters as JSON. Bad input is answered 4xx with a reason: 400 for
//! malformed JSON or wrong types, 413 for a body over the limit, 405/404 otherwise.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::router::Router;
use crate::sink::BoxFut;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A request as the handlers see it (body already read, within the limit).
#[derive(Debug, Clone)]
pub struct HttpReq {
    pub method: String,
    pub path: String,
    /// The query string (without `?`; empty when none).
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// (status, content type, body).
pub type HttpResp = (u16, &'static str, Vec<u8>);
pub type Handler = Arc<dyn Fn(HttpReq) -> BoxFut<'static, HttpResp> + Send + Sync>;

/// Time allowed for a client to send its request headers, and for one whole request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests handled at once per server (more wait for a slot).
pub const MAX_CONCURRENT: usize = 512;

/// Serve HTTP/1.1 on `l` until the task is dropped: an axum router (one fallback route calling
/// `h`) behind tower middleware: a body limit (`max_body`; 413 above it), a request timeout
/// (408 after [`REQUEST_TIMEOUT`]), a concurrency limit; hyper's header-read timeout
/// ([`HEADER_TIMEOUT`]) against slow clients.
pub async fn serve(l: tokio::net::TcpListener, h: Handler, max_body: usize) {
    use axum::error_handling::HandleErrorLayer;
    use tower::ServiceBuilder;
    let app = axum::Router::new()
        .fallback(move |req: axum::extract::Request| {
            let h = h.clone();
            async move { to_response(handle(req, &h, max_body).await) }
        })
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|e: tower::BoxError| async move {
                    if e.is::<tower::timeout::error::Elapsed>() {
                        to_response(err(408, "request timed out"))
                    } else {
                        to_response(err(503, &format!("unavailable: {e}")))
                    }
                }))
                .timeout(REQUEST_TIMEOUT)
                .concurrency_limit(MAX_CONCURRENT),
        )
        .layer(axum::extract::DefaultBodyLimit::max(max_body));
    loop {
        let Ok((stream, _)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn to_response((code, ct, body): HttpResp) -> axum::response::Response {
    axum::response::Response::builder()
        .status(code)
        .header("content-type", ct)
        .body(axum::body::Body::from(body))
        .unwrap_or_else(|_| axum::response::Response::new(axum::body::Body::empty()))
}

fn err(code: u16, msg: &str) -> HttpResp {
    (code, "application/json", serde_json::json!({ "error": msg }).to_string().into_bytes())
}

async fn handle(req: axum::extract::Request, h: &Handler, max_body: usize) -> HttpResp {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let declared =
        req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return err(413, &format!("body larger than {max_body} bytes"));
    }
    let body = match axum::body::to_bytes(req.into_body(), max_body).await {
        Ok(b) => b.to_vec(),
        Err(e) => {
            let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(x) = src {
                if x.is::<http_body_util::LengthLimitError>() {
                    return err(413, &format!("body larger than {max_body} bytes"));
                }
                src = x.source();
            }
            return err(400, &format!("cannot read body: {e}"));
        }
    };
    h(HttpReq { method, path, query, headers, body }).await
}

/// The forwarder's state: the router and the metrics.
pub struct Forwarder {
    pub router: Arc<Router>,
    pub metrics: Arc<Metrics>,
    pub max_body: usize,
    /// Count received alerts at ingest (when no `prometheus` output counts routed ones).
    pub count_ingest: bool,
}

impl Forwarder {
    /// The ingest handler (also usable without a socket, for tests).
    pub fn handler(self: &Arc<Self>) -> Handler {
        let me = self.clone();
        Arc::new(move |r: HttpReq| {
            let me = me.clone();
            Box::pin(async move { me.route(r).await })
        })
    }

    pub(crate) async fn route(&self, r: HttpReq) -> HttpResp {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/healthz") | ("GET", "/ping") => {
                (200, "application/json", br#"{"status":"ok"}"#.to_vec())
            }
            ("GET" | "POST", "/test") => {
                let a = crate::alert::test_alert();
                if self.count_ingest {
                    self.metrics.count(&a);
                }
                let n = self.router.send_async(&a).await;
                (
                    200,
                    "application/json",
                    serde_json::json!({ "status": "ok", "sinks": n }).to_string().into_bytes(),
                )
            }
            ("GET", "/metrics") => {
                (200, crate::metrics::CONTENT_TYPE, self.metrics.render(&self.router.stats()).into_bytes())
            }
            ("GET", "/stats") => {
                let v: Vec<_> = self
                    .router
                    .stats()
                    .into_iter()
                    .map(|s| {
                        serde_json::json!({"name": s.name, "type": s.kind, "accepted": s.accepted, "delivered": s.delivered,
                        "dropped": s.dropped, "failed": s.failed, "retries": s.retries, "redelivered": s.redelivered,
                        "spilled": s.spilled, "in_memory": s.in_memory, "spooled": s.spooled, "last_error": s.last_error})
                    })
                    .collect();
                (200, "application/json", serde_json::Value::from(v).to_string().into_bytes())
            }
            ("POST", "/" | "/alert") => {
                let v: serde_json::Value = match serde_json::from_slice(&r.body) {
                    Ok(v) => v,
                    Err(e) => return err(400, &format!("malformed JSON: {e}")),
                };
                let a = match crate::alert::alert_from_json(&v) {
                    Ok(a) => a,
                    Err(e) => return err(400, &e),
                };
                if self.count_ingest {
                    self.metrics.count(&a);
                }
                let res = self.router.accept(&a).await;
                if res.refused > 0 {
                    // Not acknowledged: the client keeps it (and may send it again; sinks that
                    // took it then see a duplicate, which at-least-once allows).
                    return err(
                        503,
                        &format!(
                            "{} of {} sink(s) could not keep the alert (queue or spool full, or the spool cannot be written); retry later",
                            res.refused,
                            res.refused + res.taken
                        ),
                    );
                }
                (
                    200,
                    "application/json",
                    serde_json::json!({ "status": "ok", "sinks": res.taken }).to_string().into_bytes(),
                )
            }
            (_, "/" | "/alert" | "/healthz" | "/test" | "/metrics" | "/stats" | "/ping") => {
                err(405, "method not allowed")
            }
            _ => err(404, "no such endpoint"),
        }
    }
}

/// A running forwarder (for tests and embedding): its address and a way to stop it.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub forwarder: Arc<Forwarder>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop listening, then shut the sinks down (what is left goes to the spools).
    pub async fn stop(self, grace: Duration) -> Vec<crate::SinkStats> {
        self.task.abort();
        let _ = self.task.await;
        match Arc::try_unwrap(self.forwarder) {
            Ok(f) => match Arc::try_unwrap(f.router) {
                Ok(r) => r.shutdown(grace).await,
                Err(r) => r.stats(),
            },
            Err(f) => f.router.stats(),
        }
    }
}

/// Sinks defined outside this crate (the alert store's `store:` block): their top-level keys are
/// accepted by the configuration check, and `add` puts them on the router from the file's text.
pub struct ExtraSinks<'a> {
    pub keys: &'a [&'a str],
    pub add: &'a (dyn Fn(&str, &mut Router) -> Result<(), String> + Sync),
}

/// Build the sinks of `cfg` and start listening (on the current runtime).
pub async fn start(cfg: &Config) -> Result<Running, String> {
    start_with(cfg, None).await
}

/// [`start`], plus the extra sinks of the configuration `text`.
pub async fn start_with(cfg: &Config, extra: Option<(&str, &ExtraSinks<'_>)>) -> Result<Running, String> {
    let mut router = Router::new(tokio::runtime::Handle::current());
    let metrics = Arc::new(Metrics::default());
    crate::config::build_sinks(cfg, &mut router, &metrics)?;
    if let Some((text, x)) = extra {
        (x.add)(text, &mut router)?;
    }
    let addr = format!(
        "{}:{}",
        if cfg.listen_address.is_empty() { "0.0.0.0" } else { &cfg.listen_address },
        cfg.listen_port
    );
    let l =
        tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    let count_ingest = !router.stats().iter().any(|s| s.kind == "prometheus");
    let fwd = Arc::new(Forwarder { router: Arc::new(router), metrics, max_body: cfg.max_body, count_ingest });
    let task = tokio::spawn(serve(l, fwd.handler(), cfg.max_body));
    Ok(Running { addr, forwarder: fwd, task })
}

/// `harrier forward -c config.yaml`: read the falcosidekick-style configuration, start every
/// sink and the ingest endpoint, and run until SIGINT/SIGTERM; then deliver what is queued for up
/// to 5 s and move the rest to the spools. Blocks the calling thread (it owns its runtime).
pub fn run_forwarder(config_path: &Path, strict: bool) -> Result<(), String> {
    run_forwarder_with(config_path, strict, None)
}

/// [`run_forwarder`] with sinks defined outside this crate (`harrier forward` passes the store).
pub fn run_forwarder_with(
    config_path: &Path,
    strict: bool,
    extra: Option<&ExtraSinks<'_>>,
) -> Result<(), String> {
    let mut loaded = Config::load_checked(config_path, strict && extra.is_none(), true)?;
    if let Some(x) = extra {
        // The extra sections are known here; the rest is checked as usual.
        loaded.warnings.retain(|w| !x.keys.iter().any(|k| w.contains(&format!("unknown key '{k}'"))));
        if strict && !loaded.warnings.is_empty() {
            return Err(format!(
                "unknown configuration keys (--strict-config makes them errors):\n{}",
                loaded.warnings.join("\n")
            ));
        }
    }
    let text = match extra {
        Some(_) => std::fs::read_to_string(config_path)
            .map_err(|e| format!("cannot read {}: {e}", config_path.display()))?,
        None => String::new(),
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut cfg = loaded.config;
    if let Some(m) = cfg.apply_default_spool() {
        tracing::info!("{m}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("harrier-forward")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let running = start_with(&cfg, extra.map(|x| (text.as_str(), x))).await?;
        tracing::info!(
            "forward: listening on http://{} with {} sink(s), spool {}",
            running.addr,
            running.forwarder.router.stats().len(),
            cfg.spool_dir().map_or("off (memory only)".to_string(), |d| d.display().to_string())
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let stats = running.stop(Duration::from_secs(5)).await;
        for s in stats {
            tracing::info!(
                "forward: sink {} ({}): delivered {}, dropped {}, failed {}, retries {}, spooled {}",
                s.name,
                s.kind,
                s.delivered,
                s.dropped,
                s.failed,
                s.retries,
                s.spooled
            );
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Recorder;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ingest_routes_falco_json_and_rejects_bad_input() {
        let rec = Recorder::start(|_| (200, "{}".into())).await;
        let cfg = Config::parse(&format!(
            "listenaddress: 127.0.0.1\nlistenport: 0\nmaxbodybytes: 4096\ncustomfields: {{env: prod}}\nwebhook:\n  address: {}\nprometheus:\n  enabled: true\n",
            rec.url("/in")
        ))
        .unwrap();
        let running = start(&cfg).await.unwrap();
        let base = format!("http://{}", running.addr);
        let c = reqwest::Client::new();
        let falco = r#"{"hostname":"h","output":"16:17:57.881781397: Warning x","output_fields":{"proc.name":"cat"},"priority":"Warning","rule":"Read sensitive file","source":"syscall","tags":["filesystem"],"time":"2016-08-04T16:17:57.881781397Z"}"#;
        let r = c.post(format!("{base}/")).body(falco).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let bad: [(&str, String, u16, &str); 5] = [
            ("POST", "{not json".into(), 400, "malformed JSON"),
            (
                "POST",
                r#"{"rule":5,"priority":"Warning","time":"2016-08-04T16:17:57Z"}"#.into(),
                400,
                "'rule' must be a string",
            ),
            (
                "POST",
                r#"{"rule":"r","priority":"Warning","time":"2016-08-04T16:17:57Z","output_fields":[]}"#
                    .into(),
                400,
                "output_fields",
            ),
            ("POST", "x".repeat(10_000), 413, "larger than"),
            ("PUT", falco.into(), 405, "method"),
        ];
        for (m, body, code, why) in bad {
            let r = c.request(m.parse().unwrap(), format!("{base}/")).body(body).send().await.unwrap();
            assert_eq!(r.status().as_u16(), code);
            let t = r.text().await.unwrap();
            assert!(t.contains(why), "{t}");
        }
        assert_eq!(
            c.get(format!("{base}/healthz")).send().await.unwrap().text().await.unwrap(),
            r#"{"status":"ok"}"#
        );
        assert_eq!(c.post(format!("{base}/test")).send().await.unwrap().status(), 200);
        assert_eq!(c.get(format!("{base}/nope")).send().await.unwrap().status(), 404);
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while rec.reqs.lock().unwrap().len() < 2 && std::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let got = rec.take();
        assert_eq!(got.len(), 2);
        let first = got[0].json();
        assert_eq!(first["rule"], "Read sensitive file");
        assert_eq!(first["output_fields"]["env"], "prod");
        assert_eq!(first["time"], "2016-08-04T16:17:57.881781397Z");
        assert_eq!(got[1].json()["rule"], "Test rule");
        let m = c.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(m.contains("harrier_alerts_total{priority=\"Warning\",rule=\"Read sensitive file\",source=\"syscall\"} 1"), "{m}");
        assert!(m.contains("harrier_sink_delivered_total{sink=\"webhook\",type=\"webhook\"} 2"), "{m}");
        let stats = running.stop(Duration::from_secs(1)).await;
        assert_eq!(stats[0].delivered, 2);
    }
}
