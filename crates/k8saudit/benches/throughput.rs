//! Audit events per second through the official k8s_audit_rules.yaml on one core, and memory.
//! `cargo bench -p harrier-k8saudit --bench throughput` (figures printed; no assertions).
//!
//! Context (no Go toolchain here, so no run of Falco's plugin in the same process): Falco's
//! k8saudit plugin keeps one core busy even at low event rates (falcosecurity/falco#2475) and has
//! been seen at 100% CPU with no detections (falcosecurity/plugins#376), from the Go SDK's
//! busy-waiting async extraction worker (falcosecurity/plugin-sdk-go#25, #57). Harrier parses each
//! event once and never spins: its idle CPU is the webhook's accept loop.

use harrier_engine::Ruleset;
use harrier_k8saudit::{parse_payload, AuditDetector, AuditSource, Counters, InitConfig, OpenParams};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn reference() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

fn rss_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(reference().join("k8s_audit")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(String::from));
    }
    lines.sort();
    let n = 50_000;
    let input: Vec<&str> = (0..n).map(|i| lines[i % lines.len()].as_str()).collect();
    let bytes: usize = input.iter().map(|l| l.len()).sum();
    let mut loader = harrier_rules::Loader::new(Default::default());
    loader.load_file(reference().join("falco-rules/plugins/k8saudit/k8s_audit_rules.yaml"));
    let rules = Arc::new(Ruleset::compile(&loader.finish(Some(&harrier_engine::Checker)).rules).0);
    println!("k8s audit throughput: {n} events ({} distinct recorded events, {:.1} KiB average), {} rules, one thread", lines.len(), bytes as f64 / n as f64 / 1024.0, rules.rules().len());

    // 1. Parse only.
    let c = Counters::default();
    let t = Instant::now();
    let mut evs = Vec::with_capacity(n);
    for l in &input {
        parse_payload(l.as_bytes(), 1 << 20, &mut evs, &c).unwrap();
    }
    let parse = t.elapsed().as_secs_f64();
    println!(
        "  parse (JSON → event, once):        {:>9.0} events/s  {:>6.1} MB/s",
        n as f64 / parse,
        bytes as f64 / parse / 1e6
    );

    // 2. Rules only, on parsed events.
    let mut det = AuditDetector::new(rules.clone(), "bench".into());
    let mut alerts = 0u64;
    let t = Instant::now();
    for ev in &evs {
        det.process(ev, &mut |_| alerts += 1);
    }
    let eval = t.elapsed().as_secs_f64();
    println!("  rules (48 official, all fields):   {:>9.0} events/s  ({alerts} alerts)", n as f64 / eval);

    // 3. Parse + rules: one core's end-to-end rate.
    let mut det = AuditDetector::new(rules.clone(), "bench".into());
    let t = Instant::now();
    let mut buf = Vec::new();
    for l in &input {
        buf.clear();
        parse_payload(l.as_bytes(), 1 << 20, &mut buf, &c).unwrap();
        for ev in &buf {
            det.process(ev, &mut |_| {});
        }
    }
    let both = t.elapsed().as_secs_f64();
    println!(
        "  parse + rules, one core:           {:>9.0} events/s  ({:.1} µs/event)",
        n as f64 / both,
        both * 1e6 / n as f64
    );

    // 4. Through the webhook over loopback (batches of 400), rules on this thread.
    let cfg = InitConfig { queue_capacity: 20_000, ..Default::default() };
    let p =
        OpenParams::Webhook { tls: false, addr: "127.0.0.1:0".parse().unwrap(), path: "/k8s-audit".into() };
    let src = Arc::new(AuditSource::open(&p, &cfg).unwrap());
    let addr = src.webhook_addr().unwrap();
    let bodies: Vec<String> = input
        .chunks(400)
        .map(|c| {
            format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#, c.join(","))
        })
        .collect();
    let cpu0 = cpu_secs();
    let t = Instant::now();
    let sender = std::thread::spawn(move || {
        let s = std::net::TcpStream::connect(addr).unwrap();
        let mut r = BufReader::new(s);
        for b in &bodies {
            loop {
                let head = format!("POST /k8s-audit HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", b.len());
                r.get_mut().write_all(head.as_bytes()).unwrap();
                r.get_mut().write_all(b.as_bytes()).unwrap();
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let ok = line.contains(" 200 ");
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut sink = vec![0; len];
                r.read_exact(&mut sink).unwrap();
                if ok {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let mut det = AuditDetector::new(rules.clone(), "bench".into());
    let stop = AtomicBool::new(false);
    let mut got = 0usize;
    while got < n {
        if let Ok(Some(ev)) = src.next_timeout(Duration::from_secs(5)) {
            det.process(&ev, &mut |_| {});
            got += 1;
        } else {
            break;
        }
    }
    let _ = stop;
    sender.join().unwrap();
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    println!(
        "  webhook → queue → rules (loopback): {:>9.0} events/s  (CPU {:.2} cores incl. the client; {} busy retries)",
        got as f64 / wall,
        cpu / wall,
        src.counters().rejected_busy.load(std::sync::atomic::Ordering::Relaxed)
    );

    // 5. Idle CPU of an open webhook source (Falco's plugin: one core, falco#2475).
    let cpu0 = cpu_secs();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        let _ = src.next_timeout(Duration::from_millis(200));
    }
    println!(
        "  idle webhook source:               {:>9.3} cores (Falco's k8saudit: ~1 core, falco#2475)",
        (cpu_secs() - cpu0) / 3.0
    );

    // 6. Memory.
    let before = rss_kb("VmRSS:");
    let mut hold = Vec::with_capacity(n);
    for l in &input {
        parse_payload(l.as_bytes(), 1 << 20, &mut hold, &c).unwrap();
    }
    let after = rss_kb("VmRSS:");
    println!(
        "  memory: {:.1} KiB resident per queued event (JSON {:.1} KiB), peak RSS {:.1} MiB",
        (after.saturating_sub(before)) as f64 / n as f64,
        bytes as f64 / n as f64 / 1024.0,
        rss_kb("VmHWM:") as f64 / 1024.0
    );
    drop(hold);
}
