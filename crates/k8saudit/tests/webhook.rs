//! The webhook over real HTTP(S) on an ephemeral port: status codes, limits, the full queue, auth
//! and TLS. The client is reqwest; what the API server would do is spelled out per test.

use harrier_k8saudit::{AuditSource, InitConfig, OpenParams};
use reqwest::blocking::Client;
use std::sync::atomic::Ordering;
use std::time::Duration;

const EV: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"A","stage":"ResponseComplete","verb":"get","stageTimestamp":"2024-05-01T10:00:00.5Z"}"#;

fn list(n: usize) -> String {
    let items = vec![EV; n].join(",");
    format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{items}]}}"#)
}

fn open(cfg: &InitConfig, tls: bool) -> (AuditSource, String) {
    let p = OpenParams::Webhook { tls, addr: "127.0.0.1:0".parse().unwrap(), path: "/k8s-audit".into() };
    let src = AuditSource::open(&p, cfg).unwrap();
    let url = format!(
        "{}://127.0.0.1:{}/k8s-audit",
        if tls { "https" } else { "http" },
        src.webhook_addr().unwrap().port()
    );
    (src, url)
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

fn post(c: &Client, url: &str, ct: &str, body: String) -> (u16, String) {
    let r = c.post(url).header("Content-Type", ct).body(body).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn status_codes_and_limits() {
    let cfg = InitConfig { webhook_max_batch_size: 4000, max_event_size: 200, ..Default::default() };
    let (src, url) = open(&cfg, false);
    let c = client();

    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.text().unwrap(), "GET method not allowed");
    assert_eq!(c.put(&url).body("x").send().unwrap().status().as_u16(), 405);
    let other = url.replace("/k8s-audit", "/other");
    assert_eq!(
        c.post(&other).header("Content-Type", "application/json").body(EV).send().unwrap().status().as_u16(),
        404
    );

    assert_eq!(post(&c, &url, "text/plain", EV.into()), (400, "wrong Content Type".into()));
    let (code, msg) = post(&c, &url, "application/json", list(40)); // ~5 KB > 4000
    assert_eq!(code, 400);
    assert!(msg.starts_with("bad request:"), "{msg}");

    assert_eq!(post(&c, &url, "application/json; charset=utf-8", list(3)).0, 200);
    for _ in 0..3 {
        let ev = src.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(ev.ts, 1_714_557_600_500_000_000, "time from stageTimestamp");
    }
    // Not audit data: consumed (200: retrying cannot help), logged with Falco's message, counted.
    assert_eq!(post(&c, &url, "application/json", r#"{"kind": 0}"#.into()).0, 200);
    assert_eq!(post(&c, &url, "application/json", "{broken".into()).0, 200);
    // An event over maxEventSize is dropped and counted; the rest of the batch goes on.
    let big = EV.replace(r#""verb":"get""#, &format!(r#""verb":"{}""#, "x".repeat(300)));
    assert_eq!(post(&c, &url, "application/json", format!("[{big},{EV}]")).0, 200);
    assert_eq!(
        src.next_timeout(Duration::from_secs(5)).unwrap().unwrap().root.get("verb").unwrap().to_text(),
        "get"
    );
    let k = src.counters();
    assert_eq!(k.not_audit.load(Ordering::Relaxed), 1);
    assert_eq!(k.bad_json.load(Ordering::Relaxed), 1);
    assert_eq!(k.too_large.load(Ordering::Relaxed), 1);
    assert_eq!(k.accepted.load(Ordering::Relaxed), 4);
    assert_eq!(k.rejected_request.load(Ordering::Relaxed), 4);
    let t = src.metrics_text();
    assert!(t.contains("\nharrier_k8saudit_too_large_total 1\n"), "{t}");
    assert!(
        t.contains(
            "# TYPE harrier_k8saudit_lines_too_long counter\nharrier_k8saudit_lines_too_long_total 0\n"
        ),
        "{t}"
    );
    let r = c.get(url.replace("/k8s-audit", "/metrics")).send().unwrap();
    assert_eq!(r.headers()["content-type"], harrier_k8saudit::webhook::METRICS_CONTENT_TYPE);
    let m = r.text().unwrap();
    assert!(
        m.contains("\nharrier_k8saudit_accepted_total 4\n")
            && m.contains("\nharrier_k8saudit_not_audit_total 1\n"),
        "{m}"
    );
    assert!(m.contains("# TYPE harrier_k8saudit_queue_events gauge\n"), "{m}");
    assert!(m.contains("\nharrier_k8saudit_queue_capacity_events "), "{m}");
    assert!(m.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF: {m}");
}

#[test]
fn full_queue_answers_503_and_the_retry_gets_in() {
    let cfg = InitConfig { queue_capacity: 4, queue_wait: Duration::from_millis(100), ..Default::default() };
    let (src, url) = open(&cfg, false);
    let c = client();
    assert_eq!(post(&c, &url, "application/json", list(3)).0, 200);
    // Nobody reads: 3 + 3 > 4, the second batch is refused whole.
    let (code, _) = post(&c, &url, "application/json", list(3));
    assert_eq!(code, 503);
    assert_eq!(src.counters().rejected_busy.load(Ordering::Relaxed), 1);
    assert_eq!(src.queue_len(), 3, "nothing of the refused batch was taken");
    // The rules catch up; the API server's retry is accepted.
    for _ in 0..3 {
        src.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
    }
    assert_eq!(post(&c, &url, "application/json", list(3)).0, 200);
    assert_eq!(src.counters().accepted.load(Ordering::Relaxed), 6);
}

#[test]
fn bearer_token_when_configured() {
    let cfg = InitConfig { bearer_token: Some("s3cret".into()), ..Default::default() };
    let (src, url) = open(&cfg, false);
    let c = client();
    assert_eq!(post(&c, &url, "application/json", EV.into()).0, 401);
    let r =
        c.post(&url).header("Content-Type", "application/json").bearer_auth("wrong").body(EV).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = c
        .post(&url)
        .header("Content-Type", "application/json")
        .bearer_auth("s3cret")
        .body(EV)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(src.next_timeout(Duration::from_secs(5)).unwrap().is_some());
}

fn write_pem(dir: &std::path::Path, name: &str, cert: &rcgen::CertifiedKey) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{}{}", cert.cert.pem(), cert.key_pair.serialize_pem())).unwrap();
    p
}

#[test]
fn https_with_the_combined_pem_and_optional_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let server = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let pem = write_pem(dir.path(), "falco.pem", &server);
    let root = reqwest::Certificate::from_pem(server.cert.pem().as_bytes()).unwrap();

    let cfg = InitConfig { ssl_certificate: pem.clone(), ..Default::default() };
    let (src, url) = open(&cfg, true);
    let c = Client::builder()
        .add_root_certificate(root.clone())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert_eq!(post(&c, &url, "application/json", EV.into()).0, 200);
    assert!(src.next_timeout(Duration::from_secs(5)).unwrap().is_some());
    drop(src);

    // Client certificates required: a CA file names who may post.
    let client_cert = rcgen::generate_simple_self_signed(vec!["apiserver".into()]).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, client_cert.cert.pem()).unwrap();
    let cfg = InitConfig { ssl_certificate: pem, client_ca: Some(ca), ..Default::default() };
    let (src, url) = open(&cfg, true);
    let anon = Client::builder()
        .add_root_certificate(root.clone())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert!(
        anon.post(&url).header("Content-Type", "application/json").body(EV).send().is_err(),
        "no client certificate"
    );
    let id = reqwest::Identity::from_pem(
        format!("{}{}", client_cert.key_pair.serialize_pem(), client_cert.cert.pem()).as_bytes(),
    )
    .unwrap();
    let authed = Client::builder()
        .add_root_certificate(root)
        .identity(id)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert_eq!(post(&authed, &url, "application/json", EV.into()).0, 200);
    assert!(src.next_timeout(Duration::from_secs(5)).unwrap().is_some());
}

#[test]
fn clear_errors_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = InitConfig { ssl_certificate: dir.path().join("missing.pem"), ..Default::default() };
    let p =
        OpenParams::Webhook { tls: true, addr: "127.0.0.1:0".parse().unwrap(), path: "/k8s-audit".into() };
    let e = AuditSource::open(&p, &cfg).err().unwrap();
    assert!(e.contains("sslCertificate") && e.contains("missing.pem"), "{e}");
    // Port already taken.
    let (src, _) = open(&InitConfig::default(), false);
    let p = OpenParams::Webhook { tls: false, addr: src.webhook_addr().unwrap(), path: "/k8s-audit".into() };
    let e = AuditSource::open(&p, &InitConfig::default()).err().unwrap();
    assert!(e.contains("cannot listen"), "{e}");
    let e = AuditSource::open(&OpenParams::Replay(dir.path().join("nope.jsonl")), &InitConfig::default())
        .err()
        .unwrap();
    assert!(e.contains("nope.jsonl"), "{e}");
}
