//! Load: a client behaving like kube-apiserver's batching webhook backend (EventList batches of at
//! most 400 events, several in flight, every non-2xx or transport error retried after a back-off)
//! sends 10,000 events per second to the webhook; the rules thread runs the official
//! k8s_audit_rules.yaml over them. Every event must arrive exactly once.
//!
//! Runs 2 s in the normal test run; `HARRIER_K8SAUDIT_LOAD_SECS=60` gives the full minute. The
//! assertion is on loss only, never on time (the machine is shared): a slow consumer makes the
//! queue answer 503 and the client retry, which is the behaviour under test.

use harrier_engine::Ruleset;
use harrier_k8saudit::{AuditDetector, AuditSource, InitConfig, OpenParams};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RATE: u64 = 10_000;
const BATCH: u64 = 400;
const SENDERS: u64 = 5;

fn reference() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

fn rules() -> Ruleset {
    let mut loader = harrier_rules::Loader::new(Default::default());
    loader.load_file(reference().join("falco-rules/plugins/k8saudit/k8s_audit_rules.yaml"));
    let loaded = loader.finish(Some(&harrier_engine::Checker));
    assert!(!loaded.has_errors());
    Ruleset::compile(&loaded.rules).0
}

/// One HTTP/1.1 POST on a kept-alive connection; the status code, or an error (retry).
fn post(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: std::net::SocketAddr,
    body: &[u8],
) -> std::io::Result<u16> {
    if conn.is_none() {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        *conn = Some(BufReader::new(s));
    }
    let r = conn.as_mut().unwrap();
    let head = format!(
        "POST /k8s-audit HTTP/1.1\r\nHost: audit\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    r.get_mut().write_all(head.as_bytes())?;
    r.get_mut().write_all(body)?;
    let mut line = String::new();
    r.read_line(&mut line)?;
    let code: u16 =
        line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    let mut len = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut sink = vec![0; len];
    r.read_exact(&mut sink)?;
    Ok(code)
}

#[test]
fn ten_thousand_events_per_second_lose_nothing() {
    let secs: u64 =
        std::env::var("HARRIER_K8SAUDIT_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let batches = RATE * secs / (BATCH * SENDERS);
    let total = batches * BATCH * SENDERS;
    let template =
        std::fs::read_to_string(reference().join("k8s_audit/create_nginx_pod_privileged.json")).unwrap();
    let template = template.trim().to_string();
    let old_id = "a362d22b-db3c-4590-9505-23782f12925f";
    let (pre, post_) = template.split_once(old_id).unwrap();
    let (pre, post_) = (pre.to_string(), post_.to_string());

    let cfg =
        InitConfig { queue_capacity: 20_000, queue_wait: Duration::from_millis(500), ..Default::default() };
    let p =
        OpenParams::Webhook { tls: false, addr: "127.0.0.1:0".parse().unwrap(), path: "/k8s-audit".into() };
    let src = Arc::new(AuditSource::open(&p, &cfg).unwrap());
    let addr = src.webhook_addr().unwrap();

    // The rules side.
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (src, done) = (src.clone(), done.clone());
        std::thread::spawn(move || {
            let mut det = AuditDetector::new(Arc::new(rules()), "load".into());
            let mut ids = HashSet::with_capacity(total as usize);
            let mut dupes = 0u64;
            let mut alerts = 0u64;
            while ids.len() < total as usize && !done.load(Ordering::Relaxed) {
                if let Ok(Some(ev)) = src.next_timeout(Duration::from_millis(200)) {
                    det.process(&ev, &mut |_| alerts += 1);
                    if !ids.insert(ev.root.get("auditID").unwrap().to_text()) {
                        dupes += 1;
                    }
                }
            }
            (ids.len() as u64, dupes, alerts)
        })
    };

    // The API server side: SENDERS connections, each pacing its share of the rate.
    let (retries, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (pre, post_, retries, errors) = (pre.clone(), post_.clone(), retries.clone(), errors.clone());
            std::thread::spawn(move || {
                let mut conn = None;
                for b in 0..batches {
                    let due = start + Duration::from_secs_f64((b * BATCH * SENDERS) as f64 / RATE as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let mut body =
                        String::with_capacity(BATCH as usize * (pre.len() + post_.len() + 24) + 64);
                    body.push_str(r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":["#);
                    for i in 0..BATCH {
                        if i > 0 {
                            body.push(',');
                        }
                        body.push_str(&pre);
                        body.push_str(&format!("s{s}-b{b}-i{i}"));
                        body.push_str(&post_);
                    }
                    body.push_str("]}");
                    let mut backoff = Duration::from_millis(20);
                    loop {
                        match post(&mut conn, addr, body.as_bytes()) {
                            Ok(200) => break,
                            Ok(_) => {
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                conn = None;
                            }
                        }
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let sent_in = start.elapsed();
    // Give the rules side time to catch up, then stop it.
    let deadline = Instant::now() + Duration::from_secs(120 + secs);
    while !consumer.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    done.store(true, Ordering::Relaxed);
    let (got, dupes, alerts) = consumer.join().unwrap();
    let k = src.counters();
    println!(
        "load: {total} events sent in {:.1} s ({:.0}/s offered), {} retries after 503, {} transport errors, \
         received {got}, duplicates {dupes}, alerts {alerts}, rejected_busy {}",
        sent_in.as_secs_f64(),
        total as f64 / sent_in.as_secs_f64(),
        retries.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        k.rejected_busy.load(Ordering::Relaxed)
    );
    assert_eq!(got, total, "every event arrives");
    assert_eq!(dupes, 0, "no event twice (a 503 means not taken)");
    assert_eq!(alerts, total, "Create Privileged Pod once per event");
    assert_eq!(k.accepted.load(Ordering::Relaxed), total);
}
