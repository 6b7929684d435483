//! Store benchmark: ingest rate into SQLite, p50/p99 of a filtered query and of a free-text query
//! at N stored alerts, bytes per stored alert, and this process's RSS.
//!
//! `cargo bench -p harrier-store --bench store` (N = 1,000,000; `HARRIER_BENCH_ALERTS=10000000`
//! for 10 M; `HARRIER_BENCH_BACKEND=sqlite|postgres` for one backend; `HARRIER_BENCH_KEEP=PATH`
//! keeps (and reuses) the SQLite file, `HARRIER_BENCH_PG_URL` uses (and reuses) that database;
//! `HARRIER_BENCH_BATCH` alerts per insert and `HARRIER_BENCH_WRITER_CACHE_MIB` fill big databases
//! faster through the same insert path; `HARRIER_BENCH_PG_SETTINGS=max_wal_size=8GB,…` adds server
//! settings to the private PostgreSQL server; `HARRIER_BENCH_SLOW_MS=200` prints each three-word
//! query that took at least that long, with its total). With `HARRIER_BENCH_KEEP` (or `HARRIER_BENCH_PG_URL`)
//! naming a database that already holds N alerts, nothing is inserted and only the queries run, so
//! a 10 M database is filled once and queried again after each change; every figure line ends
//! with the machine's load average at that moment. Both backends run in the same process, PostgreSQL on a
//! private server started by the bench. Alerts are synthetic but shaped like the default rules' (20 rules, 8 priorities,
//! 50 hosts, 200 containers, realistic output fields).

use harrier_engine::Alert;
use harrier_rules::Priority;
use harrier_store::{PgStore, Query, SqliteStore, Store};
use serde_json::json;
use std::time::Instant;

const RULES: [&str; 20] = [
    "Terminal shell in container",
    "Read sensitive file untrusted",
    "Write below etc",
    "Write below binary dir",
    "Launch Privileged Container",
    "Contact K8S API Server From Container",
    "Netcat Remote Code Execution in Container",
    "Search Private Keys or Passwords",
    "Clear Log Activities",
    "Remove Bulk Data from Disk",
    "Create Symlink Over Sensitive Files",
    "Packet socket created in container",
    "Redirect STDOUT/STDIN to Network Connection in Container",
    "Drop and execute new binary in container",
    "Run shell untrusted",
    "System user interactive",
    "Modify Shell Configuration File",
    "Schedule Cron Jobs",
    "Update Package Repository",
    "Launch Suspicious Network Tool in Container",
];
const PRIOS: [Priority; 8] = [
    Priority::Emergency,
    Priority::Alert,
    Priority::Critical,
    Priority::Error,
    Priority::Warning,
    Priority::Notice,
    Priority::Informational,
    Priority::Debug,
];
const WORDS: [&str; 16] = [
    "bash", "sh", "cat", "curl", "wget", "nc", "python3", "vi", "cp", "tar", "apt", "ssh", "kubectl", "node",
    "java", "nginx",
];

fn alert(i: u64, t0: u64) -> Alert {
    let rule = RULES[(i * 7 % 20) as usize];
    let prio = PRIOS[((i * 13) % 8) as usize];
    let proc = WORDS[(i % 16) as usize];
    let file = format!("/etc/{}/{}", WORDS[((i / 16) % 16) as usize], i % 1000);
    let ctr = format!("c{:011x}", i % 200);
    let fields = json!({
        "container.id": ctr, "container.name": format!("app-{}", i % 200), "container.image.repository": format!("registry.local/team/{}", WORDS[(i % 7) as usize]),
        "container.image.tag": "1.2.3", "k8s.ns.name": format!("ns-{}", i % 12), "k8s.pod.name": format!("pod-{}-{}", i % 200, i % 3),
        "proc.name": proc, "proc.cmdline": format!("{proc} -c 'do something {i}'"), "proc.pname": "containerd-shim", "proc.pid": i % 65536,
        "user.name": if i.is_multiple_of(5) { "root" } else { "app" }, "user.uid": i % 5, "fd.name": file, "evt.type": "openat",
    });
    Alert {
        time_ns: t0 + i * 1_000_000,
        rule: rule.into(),
        priority: prio,
        source: "syscall".into(),
        tags: vec!["container".into(), format!("T{}", 1000 + i % 30), "mitre_execution".into()],
        output: format!(
            "{rule} (user=app command={proc} -c 'do something {i}' file={file} container_id={ctr})"
        ),
        output_fields: fields.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        hostname: format!("node-{}", i % 50),
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The load average (1, 5, 15 min) now, printed beside each figure: the machine is shared.
fn load() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!("(load {})", l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn main() {
    let n: u64 = std::env::var("HARRIER_BENCH_ALERTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let only = std::env::var("HARRIER_BENCH_BACKEND").unwrap_or_default();
    if only.is_empty() || only == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let path = match std::env::var("HARRIER_BENCH_KEEP") {
            Ok(p) => std::path::PathBuf::from(p),
            Err(_) => dir.path().join("bench.db"),
        };
        let t = Instant::now();
        let s = SqliteStore::open(path.to_str().unwrap()).unwrap();
        println!(
            "sqlite open (pending schema migrations included): {:.1} s {}",
            t.elapsed().as_secs_f64(),
            load()
        );
        // HARRIER_BENCH_WRITER_CACHE_MIB: the writer's page cache while generating (default:
        // the store's own, 2 MiB). Only the speed of generation changes, not the database.
        if let Some(mib) = std::env::var("HARRIER_BENCH_WRITER_CACHE_MIB").ok().and_then(|s| s.parse().ok()) {
            s.set_writer_cache_mib(mib).unwrap();
        }
        let disk = || {
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
                + std::fs::metadata(path.with_extension("db-wal")).map(|m| m.len()).unwrap_or(0)
        };
        run("sqlite", &s, n, &disk);
    }
    if only.is_empty() || only == "postgres" {
        // A private server with default durability settings (fsync on), or the database at
        // HARRIER_BENCH_PG_URL (kept between runs, like HARRIER_BENCH_KEEP for SQLite).
        let mut _server = None;
        let url = match std::env::var("HARRIER_BENCH_PG_URL") {
            Ok(u) => u,
            Err(_) => {
                let extra = std::env::var("HARRIER_BENCH_PG_SETTINGS").unwrap_or_default();
                let mut settings: Vec<(&str, &str)> = vec![("shared_buffers", "256MB")];
                settings.extend(extra.split(',').filter_map(|kv| kv.split_once('=')));
                let server = harrier_store::pgserver::PgServer::start(&settings).unwrap();
                let url = server.new_database().unwrap();
                _server = Some(server);
                url
            }
        };
        let t = Instant::now();
        let s = PgStore::open(&url).unwrap();
        println!("postgres open (pending schema migrations included): {:.1} s", t.elapsed().as_secs_f64());
        let disk = || {
            let size = || -> Option<u64> {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).ok()?;
                let v: i64 = c.query_one("SELECT pg_total_relation_size('alerts')", &[]).ok()?.get(0);
                Some(v as u64)
            };
            // The client blocks on its own runtime: not on this thread's (there is none, but keep
            // it uniform with the store's own rule).
            std::thread::scope(|t| t.spawn(size).join().ok().flatten()).unwrap_or(0)
        };
        run("postgres", &s, n, &disk);
    }
    println!("RSS of this process after the queries: {} MiB", rss_kib() / 1024);
}

fn run(name: &str, s: &dyn Store, n: u64, disk: &dyn Fn() -> u64) {
    let t0 = 1_760_000_000_000_000_000u64;
    // HARRIER_BENCH_BATCH: alerts per insert (one transaction each). The figure printed as the
    // ingest rate is only comparable with runs at the same batch size; larger batches are the
    // fast generator for big databases (the rows, indexes and full-text index are the store's own).
    let batch: u64 = std::env::var("HARRIER_BENCH_BATCH").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let start = Instant::now();
    let first = s.count(&Query::new()).unwrap();
    let mut i = first;
    let mut last_report = Instant::now();
    while i < n {
        let b: Vec<Alert> = (i..(i + batch).min(n)).map(|k| alert(k, t0)).collect();
        s.insert(&b).unwrap();
        i += b.len() as u64;
        if last_report.elapsed().as_secs() >= 10 {
            eprintln!("  … {name}: {i} alerts stored");
            last_report = Instant::now();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name} ingest: {} alerts in {secs:.1} s = {:.0} alerts/s (batches of {batch}, alert generation included) {}",
        i - first,
        (i - first) as f64 / secs,
        load()
    );
    if std::env::var("HARRIER_BENCH_INGEST_ONLY").is_ok() {
        return;
    }
    let file = disk();
    println!("{name} size: {file} bytes on disk = {:.0} bytes per stored alert", file as f64 / n as f64);

    let runs = 200;
    // HARRIER_BENCH_SLOW_MS: print each three-word query that took at least that long.
    let slow: Option<f64> = std::env::var("HARRIER_BENCH_SLOW_MS").ok().and_then(|s| s.parse().ok());
    let mut filtered = Vec::new();
    let mut text = Vec::new();
    let mut tags = Vec::new();
    let mut word = Vec::new();
    for r in 0..runs {
        let mut q = Query::new();
        q.min_priority = Some(Priority::Warning);
        q.rule = Some(RULES[r % 20].into());
        q.namespace = Some(format!("ns-{}", r % 12));
        q.limit = 50;
        let t = Instant::now();
        let p = s.query(&q).unwrap();
        filtered.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(p.total);

        let mut q = Query::new();
        q.text = Some(format!("{} something {}", WORDS[r % 16], (r * 37) % 1000));
        q.limit = 50;
        let t = Instant::now();
        let p = s.query(&q).unwrap();
        text.push(t.elapsed().as_secs_f64() * 1e3);
        if slow.is_some_and(|ms| text[r] >= ms) {
            println!(
                "{name} slow free text {:?}: {:.0} ms (total {}{})",
                q.text.as_deref().unwrap_or(""),
                text[r],
                p.total,
                if p.total_exact { "" } else { "+" }
            );
        }

        let mut q = Query::new();
        q.text = Some(WORDS[(r + 3) % 16].to_string());
        q.limit = 50;
        let t = Instant::now();
        s.query(&q).unwrap();
        word.push(t.elapsed().as_secs_f64() * 1e3);

        let mut q = Query::new();
        q.tags = vec![format!("T{}", 1000 + r % 30)];
        q.hostname = Some(format!("node-{}", r % 50));
        q.limit = 50;
        let t = Instant::now();
        s.query(&q).unwrap();
        tags.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let line = |what: &str, v: &mut Vec<f64>| {
        println!("{name} {what} at {n}: p50 {:.1} ms, p99 {:.1} ms {}", pct(v, 0.5), pct(v, 0.99), load());
    };
    line("filtered query (priority>=Warning, rule, namespace; page of 50 + total)", &mut filtered);
    line("free-text query (three words, page of 50 + total)", &mut text);
    line("free-text query (one common word, 1/16 of alerts; page of 50 + total)", &mut word);
    line("tag + host query (page of 50 + total)", &mut tags);
    // The dashboard (`harrier ui`'s /api/v1/dashboard: total, histogram in ≈48 buckets, seven
    // top-10 counts, the store's state) and the groups of repeats, over every stored alert.
    let all = Query::new();
    let t = Instant::now();
    let by = s.count_by(&all, harrier_store::GroupBy::Rule, 10).unwrap();
    println!(
        "{name} dashboard top rules over all {n}: {:.0} ms ({} rules) {}",
        t.elapsed().as_secs_f64() * 1e3,
        by.len(),
        load()
    );
    for round in 0..2 {
        let t = Instant::now();
        let total = s.count(&all).unwrap();
        let span = (n * 1_000_000).max(60_000_000_000);
        let bucket = (span / 48).div_ceil(60_000_000_000) * 60_000_000_000;
        let hist = s.histogram(&all, bucket).unwrap();
        for g in [
            harrier_store::GroupBy::Priority,
            harrier_store::GroupBy::Rule,
            harrier_store::GroupBy::Source,
            harrier_store::GroupBy::Hostname,
            harrier_store::GroupBy::Namespace,
            harrier_store::GroupBy::Image,
            harrier_store::GroupBy::Tags,
        ] {
            std::hint::black_box(s.count_by(&all, g, 10).unwrap());
        }
        let st = s.status();
        let dash = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let groups = s.groups(&Query { limit: 50, ..Query::new() }).unwrap();
        let g = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{name} whole dashboard over all {n} (round {round}): {dash:.0} ms (total {total}, {} histogram bars, status {} alerts); groups page: {g:.0} ms ({} groups) {}",
            hist.len(),
            st.alerts,
            groups.len(),
            load()
        );
    }
}
