//! Container churn while Harrier runs (root, real runtimes): a containerd and a podman API service
//! on their own dirs and sockets (`crates/cli/tests/support/runtimes.rs`), the live pipeline of
//! `harrier run` (eBPF probe → state with runtime lookups → rules) on this thread, and a loop that
//! starts and removes short-lived containers, each with its own name: first through containerd
//! (`ctr run --rm … cat /etc/group`), then through podman (`podman run --rm …`). Prints, per
//! runtime, the share of alerts with full metadata (target 100%), and overall the drops (kernel
//! ring, lookup queue; target 0), resident memory before and after (flat) and lookup counters.
//!
//! `cargo bench -p harrier-containers --bench churn`
//! (HARRIER_BENCH_CONTAINERS=N containerd containers, default 200; HARRIER_BENCH_PODMAN=M podman
//! containers, default 50, 0 to skip podman).

#[path = "../../cli/tests/support/runtimes.rs"]
mod runtimes;

use harrier_pipeline::live::LiveSource;
use harrier_pipeline::{Detector, RuntimeConfig};
use harrier_probe::ProbeConfig;
use harrier_rules::{Loader, LoaderOptions};
use runtimes::{run_ok, Containerd, Podman, IMAGE, PODMAN_IMAGE};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

fn env_count(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What an alert from one churned container must say.
#[derive(Clone)]
struct Expected {
    name: String,
    image: &'static str,
    runtime: &'static str,
}

#[derive(Default)]
struct Churn {
    /// Short id → expectation.
    expected: HashMap<String, Expected>,
    rss_before: u64,
    rss_after: u64,
    containerd_time: Duration,
    podman_time: Duration,
}

fn main() {
    let n = env_count("HARRIER_BENCH_CONTAINERS", 200);
    let m = env_count("HARRIER_BENCH_PODMAN", 50);
    let ctd = Containerd::start();
    let pm = (m > 0).then(Podman::start);

    let mut loader = Loader::new(LoaderOptions::default());
    loader.load_str(
        "churn.yaml",
        "- rule: churn read\n  desc: d\n  condition: evt.type in (open, openat, openat2) and fd.name = /etc/group and \
         container.id != host and proc.name = cat\n  output: \"%container.id %container.name %container.image \
         %container.type %k8s.pod.name %k8s.ns.name\"\n  priority: NOTICE\n",
    );
    let loaded = loader.finish(Some(&harrier_engine::Checker));
    let (rs, errors) = harrier_engine::Ruleset::compile(&loaded.rules);
    assert!(errors.is_empty(), "{errors:?}");
    let events = ["open", "openat", "openat2"];
    let cfg = ProbeConfig {
        syscalls: &events,
        exclude_pid: Some(std::process::id()),
        ring_bytes: harrier_probe::ring_bytes_for_preset(4),
        ..Default::default()
    };
    let mut src = LiveSource::open(&cfg).expect("the eBPF probe must load (root)");
    let stop = src.stop_flag();
    let mut det = Detector::new(Arc::new(rs), "bench", harrier_pipeline::Collect::default());
    det.set_runtime_config(RuntimeConfig {
        containerd_sockets: vec![ctd.socket.clone()],
        podman_sockets: pm.iter().map(|p| p.socket.clone()).collect(),
        docker_sockets: Vec::new(),
        cri_sockets: Vec::new(),
        ..RuntimeConfig::default()
    });

    // The churn runs on another thread; the pipeline on this one.
    let churn: Arc<Mutex<Churn>> = Arc::default();
    let worker = {
        let churn = churn.clone();
        let socket = ctd.socket.clone();
        let podman_dir = pm.as_ref().map(|p| p.dir.path().to_path_buf());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            let ctr = || {
                let mut c = std::process::Command::new("ctr");
                c.arg("-a").arg(&socket).args(["-n", "k8s.io"]).stdin(Stdio::null());
                c
            };
            let labels = |c: &mut std::process::Command, name: &str| {
                c.arg("--label")
                    .arg(format!("io.kubernetes.container.name={name}"))
                    .args(["--label", "io.kubernetes.pod.name=churn-pod"])
                    .args(["--label", "io.kubernetes.pod.namespace=bench"]);
            };
            let t = Instant::now();
            for i in 0..n {
                if i == 5 {
                    churn.lock().unwrap().rss_before = rss_kib();
                }
                // Distinct in the first 12 characters (the short id).
                let id = format!(
                    "{:012x}{:052x}",
                    0xc0ffee000 + i as u64 * 7919 + u64::from(std::process::id()) * 1_000_000,
                    i
                );
                let name = format!("churn-{i}");
                let exp = Expected { name: name.clone(), image: IMAGE, runtime: "containerd" };
                churn.lock().unwrap().expected.insert(id[..12].to_string(), exp);
                let mut c = ctr();
                c.args(["run", "--rm"]);
                labels(&mut c, &name);
                run_ok(c.arg(IMAGE).arg(&id).args(["cat", "/etc/group"]), "ctr run");
            }
            churn.lock().unwrap().containerd_time = t.elapsed();
            if let Some(dir) = podman_dir {
                let t = Instant::now();
                for i in 0..m {
                    let name = format!("podchurn-{i}");
                    let cidfile = dir.join(format!("{name}.cid"));
                    let mut c = runtimes::Podman::command(&dir);
                    c.args(["run", "--rm", "--name", &name, "--cidfile"]).arg(&cidfile).stdin(Stdio::null());
                    labels(&mut c, &name);
                    run_ok(c.args([PODMAN_IMAGE, "cat", "/etc/group"]), "podman run");
                    let id = std::fs::read_to_string(&cidfile).unwrap_or_default();
                    let exp = Expected { name, image: PODMAN_IMAGE, runtime: "podman" };
                    churn.lock().unwrap().expected.insert(id.trim().chars().take(12).collect(), exp);
                }
                churn.lock().unwrap().podman_time = t.elapsed();
            }
            std::thread::sleep(Duration::from_millis(500));
            churn.lock().unwrap().rss_after = rss_kib();
            stop.store(true, Ordering::Relaxed);
        })
    };
    det.run(&mut src).expect("live run");
    let alerts = std::mem::take(&mut det.port_mut().0);
    worker.join().expect("churn thread");
    let churn = churn.lock().unwrap();

    let s = |a: &harrier_engine::Alert, k: &str| -> String {
        a.output_fields.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string()
    };
    for (runtime, count, took) in [("containerd", n, churn.containerd_time), ("podman", m, churn.podman_time)]
    {
        if count == 0 {
            continue;
        }
        let mine: Vec<_> = alerts
            .iter()
            .filter(|a| churn.expected.get(&s(a, "container.id")).is_some_and(|e| e.runtime == runtime))
            .collect();
        let full = mine
            .iter()
            .filter(|a| {
                let e = &churn.expected[&s(a, "container.id")];
                s(a, "container.name") == e.name
                    && s(a, "container.image") == e.image
                    && s(a, "container.type") == runtime
                    && s(a, "k8s.pod.name") == "churn-pod"
                    && s(a, "k8s.ns.name") == "bench"
            })
            .count();
        let seen: std::collections::HashSet<String> = mine.iter().map(|a| s(a, "container.id")).collect();
        println!(
            "{runtime}: {count} containers started/removed in {took:.2?} ({:.1}/s); alerts for {} of {count}; \
             alerts with full metadata: {full}/{} = {:.1}%",
            count as f64 / took.as_secs_f64().max(1e-9),
            seen.len(),
            mine.len(),
            100.0 * full as f64 / mine.len().max(1) as f64
        );
    }
    let unknown = alerts.iter().filter(|a| !churn.expected.contains_key(&s(a, "container.id"))).count();
    println!("alerts: {} in all ({unknown} from containers the bench did not start)", alerts.len());
    let ls = det.lookup_stats().expect("lookups ran");
    let held = det.held_stats();
    println!("drops: kernel {}, lookup queue {}", src.drops().total(), ls.dropped.load(Ordering::Relaxed));
    println!(
        "lookups: requested {}, found {}, not found {}, unreachable {}; alerts held {} (completed {}, timed out {})",
        ls.requested.load(Ordering::Relaxed),
        ls.found.load(Ordering::Relaxed),
        ls.not_found.load(Ordering::Relaxed),
        ls.unreachable.load(Ordering::Relaxed),
        held.held,
        held.completed,
        held.timed_out
    );
    println!(
        "resident memory: {} KiB after 5 containers, {} KiB after {} ({:+} KiB)",
        churn.rss_before,
        churn.rss_after,
        n + m,
        churn.rss_after as i64 - churn.rss_before as i64
    );
}
