//! `harrier ui` over real HTTP (and HTTPS) against a real SQLite store in a temp dir.

use harrier_store::{hash_token, random_token, Role, SqliteStore, Store};
use harrier_ui::{Cidr, UiConfig};
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use std::sync::Arc;

struct Ui {
    base: String,
    store: Arc<SqliteStore>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start(cfg: UiConfig, tls: bool) -> Ui {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("ui.db").to_str().unwrap()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls_cfg = tls.then(|| {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = rustls_pki_types::CertificateDer::from(ck.cert.der().to_vec());
        let key = rustls_pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .unwrap(),
        )
    });
    let mut cfg = cfg;
    cfg.secure_cookies = tls;
    let s: Arc<dyn Store> = store.clone();
    tokio::spawn(harrier_ui::server::serve_with(s, listener, cfg, tls_cfg));
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let base = format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" });
    Ui { base, store, http, _dir: dir }
}

fn falco(rule: &str, prio: &str, output: &str, fields: Value) -> Value {
    json!({
        "time": "2026-12-04T03:00:00.123456789Z", "rule": rule, "priority": prio, "source": "syscall",
        "tags": ["container", "shell"], "output": output, "output_fields": fields, "hostname": "node-1"
    })
}

impl Ui {
    fn token(&self, role: Role) -> String {
        let t = random_token();
        self.store.token_put(&format!("t-{}", &t[4..12]), &hash_token(&t), role).unwrap();
        t
    }
    async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut r = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            r = r.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        r.send().await.unwrap()
    }
    async fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
    /// Log in through the form; returns the session cookie value (name=value) and the Set-Cookie header.
    async fn login(&self, user: &str, password: &str) -> (u16, Option<String>, String) {
        let page = self.http.get(format!("{}/login", self.base)).send().await.unwrap();
        let login_cookie =
            page.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
        let html = page.text().await.unwrap();
        let csrf =
            html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let r = self
            .http
            .post(format!("{}/login", self.base))
            .header(COOKIE, &login_cookie)
            .form(&[("user", user), ("password", password), ("csrf", &csrf), ("next", "/events")])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let set = r.headers().get(SET_COOKIE).map(|v| v.to_str().unwrap().to_string());
        let loc = r.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (status, set, loc)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn falcosidekick_ingest_paths_and_read_api() {
    let ui = start(UiConfig::default(), false).await;
    // From loopback (allowed by default), the three falcosidekick-ui paths, with its webui body.
    for (i, path) in ["/", "/api/v1/", "/api/v1/events/add"].iter().enumerate() {
        let body = json!({"event": falco("Terminal shell in container", "Notice", &format!("shell {i}"), json!({"proc.name": "bash", "container.id": "c1", "k8s.ns.name": "prod"})), "outputs": ["WebUI"]});
        let r = ui.post(path, &body, None).await;
        assert_eq!(r.status(), 200, "{path}");
    }
    // Falco's http_output body (the bare alert) and a batch.
    assert_eq!(
        ui.post("/", &falco("Write below etc", "Error", "write /etc/x", json!({"fd.name": "/etc/x"})), None)
            .await
            .status(),
        200
    );
    let batch = json!([
        falco("Debug rule", "Debug", "dbg", json!({})),
        falco("Read sensitive file", "Warning", "read /etc/shadow", json!({"fd.name": "/etc/shadow"}))
    ]);
    let r: Value = ui.post("/api/v1/", &batch, None).await.json().await.unwrap();
    assert_eq!(r["ids"].as_array().unwrap().len(), 2);

    let t = ui.token(Role::Read);
    let (s, v) = ui.get_json("/api/v1/events?priority=warning", &t).await;
    assert_eq!(s, 200);
    assert_eq!(v["total"], 2);
    let rules: Vec<&str> =
        v["events"].as_array().unwrap().iter().map(|e| e["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"Write below etc") && rules.contains(&"Read sensitive file"));
    let e = &v["events"][0];
    for k in ["time", "rule", "priority", "source", "tags", "output", "output_fields", "hostname", "id"] {
        assert!(e.get(k).is_some(), "event lacks {k}: {e}");
    }
    let (_, v) = ui.get_json("/api/v1/events?q=shadow", &t).await;
    assert_eq!(v["total"], 1);
    let (_, v) =
        ui.get_json("/api/v1/events?rule=Terminal%20shell%20in%20container&namespace=prod&limit=2", &t).await;
    assert_eq!((v["total"].as_u64(), v["events"].as_array().unwrap().len()), (Some(3), 2));
    let (_, v) =
        ui.get_json("/api/v1/events?since=2026-12-04T03:00:00Z&until=2026-12-04T03:00:01Z", &t).await;
    assert_eq!(v["total"], 6);

    // falcosidekick-ui's read paths and shapes.
    let (s, v) = ui.get_json("/api/v1/healthz", &t).await;
    assert_eq!((s, v), (200, json!({"status": "ok"})));
    let (_, v) = ui.get_json("/api/v1/version", &t).await;
    assert!(v["GitVersion"].is_string());
    let (_, v) = ui.get_json("/api/v1/events/count", &t).await;
    assert_eq!(v, json!({"statistics": {"all": 6}}));
    let (_, v) = ui.get_json("/api/v1/events/count?priority=Notice,Error", &t).await;
    assert_eq!(v["statistics"]["all"], 4);
    let (_, v) = ui.get_json("/api/v1/events/count/priority", &t).await;
    assert_eq!(v["results"]["Notice"], 3);
    assert_eq!(v["statistics"], json!({"all": 6, "distincts": 4}));
    let (s, v) = ui.get_json("/api/v1/events/count/bogus", &t).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("bogus"));
    let (_, v) = ui.get_json("/api/v1/events/search?filter=shell&limit=2&page=2", &t).await;
    assert_eq!(v["statistics"], json!({"returned": 1, "all": 3}));
    assert_eq!(v["results"]["0"]["rule"], "Terminal shell in container");

    // Groups, dashboard, one event, export.
    let (_, v) = ui.get_json("/api/v1/groups", &t).await;
    let g = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["rule"] == "Terminal shell in container")
        .unwrap()
        .clone();
    assert_eq!(g["count"], 3);
    let (_, v) = ui.get_json("/api/v1/dashboard?since=100000d", &t).await;
    assert_eq!(v["total"], 6);
    let hist_total: u64 =
        v["histogram"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(hist_total, 6);
    assert_eq!(v["top"]["rule"][0], json!(["Terminal shell in container", 3]));
    let (s, v) = ui.get_json(&format!("/api/v1/events/{}", g["last_id"]), &t).await;
    assert_eq!((s, v["output"].as_str()), (200, Some("shell 2")));
    assert_eq!(ui.get_json("/api/v1/events/99999", &t).await.0, 404);
    let r = ui
        .http
        .get(format!("{}/api/v1/export?format=jsonl&priority=warning", ui.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["priority"] == "Warning" || l["priority"] == "Error"));
    let r =
        ui.http.get(format!("{}/api/v1/export?format=csv", ui.base)).bearer_auth(&t).send().await.unwrap();
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("alerts.csv"));
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 7);
    assert!(csv.starts_with("id,time,priority,rule"));
    let r = ui.http.get(format!("{}/openapi.yaml", ui.base)).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("/api/v1/events"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_needs_a_token_unless_allowed() {
    let cfg = UiConfig { allow_ingest: vec![Cidr::parse("10.9.9.9").unwrap()], ..UiConfig::default() };
    let ui = start(cfg, false).await;
    let a = json!({"event": falco("R", "Notice", "o", json!({})), "outputs": []});
    let r = ui.post("/", &a, None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let ingest = ui.token(Role::Ingest);
    assert_eq!(ui.post("/", &a, Some(&ingest)).await.status(), 200);
    assert_eq!(ui.post("/", &a, Some(&ui.token(Role::Read))).await.status(), 403);
    assert_eq!(ui.post("/", &a, Some("hrr_notatoken")).await.status(), 401);
    // Revoked tokens stop working.
    let name = ui.store.token_list().unwrap().into_iter().find(|(_, r, _)| *r == Role::Ingest).unwrap().0;
    assert!(ui.store.token_revoke(&name).unwrap());
    assert_eq!(ui.post("/", &a, Some(&ingest)).await.status(), 401);
    // Reads need read or admin.
    let r = ui.http.get(format!("{}/api/v1/events", ui.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(ui.get_json("/api/v1/events", &ui.token(Role::Ingest)).await.0, 403);
    let (s, v) = ui.get_json("/api/v1/events", &ui.token(Role::Admin)).await;
    assert_eq!((s, v["total"].as_u64()), (200, Some(1)));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_clear_400_and_oversized_is_413() {
    let ui = start(UiConfig { max_body: 64 * 1024, ..UiConfig::default() }, false).await;
    let raw = |body: &'static str| {
        let http = ui.http.clone();
        let url = format!("{}/api/v1/events/add", ui.base);
        async move {
            let r =
                http.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, v) = raw("{not json").await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("not JSON"), "{v}");
    let (s, v) = raw(
        r#"{"event": {"priority": "Notice", "time": "2026-01-01T00:00:00Z", "output": "x"}, "outputs": []}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("missing field 'rule'"), "{v}");
    let (s, v) =
        raw(r#"{"event": {"rule": "r", "priority": "Loud", "time": "2026-01-01T00:00:00Z", "output": "x"}}"#)
            .await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("priority"), "{v}");
    let (s, v) =
        raw(r#"{"event": {"rule": "r", "priority": "Notice", "time": "yesterday", "output": "x"}}"#).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("time"), "{v}");
    assert_eq!(raw("[]").await.0, 400);
    let big = falco("R", "Notice", &"x".repeat(100 * 1024), json!({}));
    assert_eq!(ui.post("/", &big, None).await.status(), 413);
    // Filters: bad values are 400 naming the parameter.
    let t = ui.token(Role::Read);
    for (q, name) in [
        ("priority=loud", "priority"),
        ("since=yesterday", "since"),
        ("limit=-4", "limit"),
        ("after=x", "after"),
    ] {
        let (s, v) = ui.get_json(&format!("/api/v1/events?{q}"), &t).await;
        assert_eq!(s, 400, "{q}");
        assert!(v["error"].as_str().unwrap().contains(name), "{q}: {v}");
    }
    assert_eq!(ui.store.count(&harrier_store::Query::new()).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn injection_attempts_in_every_filter_are_harmless() {
    let ui = start(UiConfig::default(), false).await;
    ui.post("/", &falco("Rule A", "Warning", "a output", json!({"proc.name": "bash"})), None).await;
    let t = ui.token(Role::Read);
    let attacks = [
        "' OR '1'='1",
        "1; DROP TABLE alerts; --",
        "\" OR \"\"=\"",
        "x') UNION SELECT json FROM alerts --",
        "*",
        "NEAR(a b)",
        "%'--",
    ];
    let params = [
        "rule",
        "source",
        "hostname",
        "tags",
        "container",
        "image",
        "namespace",
        "pod",
        "user",
        "process",
        "q",
    ];
    for a in attacks {
        for p in params {
            let url = format!("{}/api/v1/events?{p}={}", ui.base, urlencode(a));
            let r = ui.http.get(url).bearer_auth(&t).send().await.unwrap();
            assert_eq!(r.status(), 200, "{p}={a}");
            let v: Value = r.json().await.unwrap();
            // Free text without a word is no filter at all; anything else matches nothing here.
            let expect = if p == "q" && harrier_store::fts_query(a).is_none() { 1 } else { 0 };
            assert_eq!(v["total"], expect, "{p}={a}");
            let url = format!(
                "{}/api/v1/events/search?{}={}",
                ui.base,
                if p == "q" { "filter" } else { p },
                urlencode(a)
            );
            let s = ui.http.get(url).bearer_auth(&t).send().await.unwrap().status().as_u16();
            assert!(s == 200 || s == 400, "{p}={a}: {s}");
        }
        for p in ["priority", "since", "until", "limit", "offset", "after"] {
            let url = format!("{}/api/v1/events?{p}={}", ui.base, urlencode(a));
            assert_eq!(ui.http.get(url).bearer_auth(&t).send().await.unwrap().status(), 400, "{p}={a}");
        }
        let url = format!("{}/api/v1/events/count/{}", ui.base, urlencode(a));
        assert_eq!(ui.http.get(url).bearer_auth(&t).send().await.unwrap().status(), 400);
    }
    let (_, v) = ui.get_json("/api/v1/events", &t).await;
    assert_eq!(v["total"], 1, "the table is intact");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn login_sessions_csrf_and_no_default_password() {
    let ui = start(UiConfig { login_attempts: 50, ..UiConfig::default() }, false).await;
    // Before any admin exists, nothing logs in.
    for (u, p) in
        [("admin", "admin"), ("admin", ""), ("admin", "password"), ("admin", "harrier"), ("root", "root")]
    {
        let (s, set, loc) = ui.login(u, p).await;
        assert_eq!((s, loc.as_str()), (303, "/login?error=1"), "{u}:{p}");
        assert!(set.is_none());
    }
    let generated = harrier_ui::ensure_admin(ui.store.as_ref(), None).unwrap().expect("a generated password");
    assert!(generated.len() >= 16);
    assert!(
        harrier_ui::ensure_admin(ui.store.as_ref(), Some("another password".into())).unwrap().is_none(),
        "only on first start"
    );
    for p in ["admin", "", "password", "another password"] {
        assert_eq!(ui.login("admin", p).await.2, "/login?error=1");
    }
    let (s, set, loc) = ui.login("admin", &generated).await;
    assert_eq!((s, loc.as_str()), (303, "/events"));
    let set = set.unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();

    // Unauthenticated page visits land on the login page; with the cookie the page is served.
    let r = ui.http.get(format!("{}/events?priority=Error", ui.base)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()[LOCATION].to_str().unwrap().starts_with("/login"));
    let r = ui.http.get(format!("{}/events", ui.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");

    // CSRF: the session's token is required on state changes.
    ui.post("/", &falco("R", "Notice", "o", json!({})), None).await;
    let sess: Value = ui
        .http
        .get(format!("{}/api/v1/session", ui.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sess["user"], "admin");
    let csrf = sess["csrf"].as_str().unwrap().to_string();
    let ack = |tok: Option<String>, origin: Option<&'static str>| {
        let mut r = ui
            .http
            .post(format!("{}/api/v1/events/1/ack", ui.base))
            .header(COOKIE, &cookie)
            .json(&json!({"note": "seen"}));
        if let Some(t) = tok {
            r = r.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    assert_eq!(ack(None, None).await.unwrap().status(), 403);
    assert_eq!(ack(Some("0".repeat(64)), None).await.unwrap().status(), 403);
    assert_eq!(ack(Some(csrf.clone()), Some("https://evil.example")).await.unwrap().status(), 403);
    assert_eq!(ack(Some(csrf.clone()), None).await.unwrap().status(), 200);
    assert_eq!(ui.store.get(1).unwrap().unwrap().ack.unwrap().note, "seen");
    // A browser session cannot ingest (no cross-site posting of alerts through a logged-in browser).
    let r = ui
        .http
        .post(format!("{}/", ui.base))
        .header(COOKIE, &cookie)
        .json(&falco("R", "Notice", "o", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "loopback is allowed on its own");

    // Login form without its CSRF token is refused.
    let r = ui
        .http
        .post(format!("{}/login", ui.base))
        .form(&[("user", "admin"), ("password", generated.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Logout without the token is refused; with it the session ends.
    let r = ui.http.post(format!("{}/logout", ui.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = ui
        .http
        .post(format!("{}/logout", ui.base))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let r = ui.http.get(format!("{}/api/v1/session", ui.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_is_rate_limited() {
    let ui = start(UiConfig { login_attempts: 3, ..UiConfig::default() }, false).await;
    let pw = harrier_ui::ensure_admin(ui.store.as_ref(), Some("a long enough password".into())).unwrap();
    assert!(pw.is_none());
    for _ in 0..3 {
        assert_eq!(ui.login("admin", "wrong").await.0, 303);
    }
    // Even the right password is refused until the window ends.
    assert_eq!(ui.login("admin", "a long enough password").await.0, 429);
    assert!(harrier_ui::ensure_admin(SqliteStore::open(":memory:").as_ref().unwrap(), Some("short".into()))
        .is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_and_secure_cookies() {
    let ui = start(UiConfig::default(), true).await;
    assert!(ui.base.starts_with("https://"));
    harrier_ui::ensure_admin(ui.store.as_ref(), Some("a long enough password".into())).unwrap();
    let (s, set, _) = ui.login("admin", "a long enough password").await;
    assert_eq!(s, 303);
    assert!(set.unwrap().contains("Secure"));
    assert_eq!(ui.post("/", &falco("R", "Notice", "o", json!({})), None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_store_is_reported_and_nothing_crashes() {
    let ui = start(UiConfig::default(), false).await;
    assert_eq!(ui.post("/", &falco("R", "Notice", "o", json!({})), None).await.status(), 200);
    let t = ui.token(Role::Read);
    let pages = ui.store.status().bytes / 4096 + 1;
    ui.store.limit_pages(pages).unwrap();
    let big: Vec<Value> =
        (0..50).map(|i| falco("R", "Notice", &format!("{i} {}", "y".repeat(8000)), json!({}))).collect();
    let r = ui.post("/", &json!(big), None).await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("full"), "{v}");
    let (s, v) = ui.get_json("/api/v1/status", &t).await;
    assert_eq!((s, v["ok"].as_bool()), (200, Some(false)));
    assert!(v["error"].as_str().unwrap().contains("full"));
    let (_, v) = ui.get_json("/api/v1/dashboard", &t).await;
    assert_eq!(v["store"]["ok"], false);
    // Still serving, and recovers when space comes back.
    assert_eq!(ui.get_json("/api/v1/events", &t).await.1["total"], 1);
    ui.store.limit_pages(1 << 30).unwrap();
    assert_eq!(ui.post("/", &falco("R", "Notice", "o", json!({})), None).await.status(), 200);
    assert_eq!(ui.get_json("/api/v1/status", &t).await.1["ok"], true);
}

/// An export larger than one store batch streams every matching alert once, newest first, and
/// stops at the filter (here 12,345 alerts, more than two batches of 5,000).
#[tokio::test(flavor = "multi_thread")]
async fn export_streams_every_alert_across_batches() {
    let ui = start(UiConfig::default(), false).await;
    let t = ui.token(Role::Admin);
    let all: Vec<Value> = (0..12345)
        .map(|i| {
            let mut a =
                falco("Many", if i % 2 == 0 { "Warning" } else { "Notice" }, &format!("n {i}"), json!({}));
            a["time"] =
                json!(format!("2026-12-04T{:02}:{:02}:{:02}.000000001Z", i / 3600, i / 60 % 60, i % 60));
            a["hostname"] = json!(format!("h{}", i / 3600));
            a
        })
        .collect();
    for chunk in all.chunks(2000) {
        assert_eq!(ui.post("/", &json!(chunk), Some(&t)).await.status(), 200);
    }
    let r = ui
        .http
        .get(format!("{}/api/v1/export?format=jsonl&since=100000d", ui.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 12345);
    let outputs: std::collections::HashSet<&str> =
        lines.iter().map(|l| l["output"].as_str().unwrap()).collect();
    assert_eq!(outputs.len(), 12345, "every alert exactly once");
    let times: Vec<&str> = lines.iter().map(|l| l["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // With a filter: only the Warning half, and CSV has its header line once.
    let r = ui
        .http
        .get(format!("{}/api/v1/export?format=csv&priority=warning&since=100000d", ui.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 1 + 6173);
    assert_eq!(csv.matches("id,time,priority").count(), 1);
}
