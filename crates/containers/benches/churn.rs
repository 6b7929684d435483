//! Container churn while Harrier runs (root, real runtime): a containerd on its own dirs and
//! socket, the live pipeline (eBPF probe → state with runtime lookups → rules) on this thread, and
//! a loop that starts and removes short-lived containers (`ctr run --rm … cat /etc/group`), each
//! with its own name. Prints drops (kernel ring, lookup queue; target 0), resident memory before
//! and after, lookup counters, and the share of alerts with full metadata (target 100%).
//!
//! `cargo bench -p harrier-containers --bench churn` (HARRIER_BENCH_CONTAINERS=N, default 60).

use harrier_pipeline::live::LiveSource;
use harrier_pipeline::{Detector, RuntimeConfig};
use harrier_probe::ProbeConfig;
use harrier_rules::{Loader, LoaderOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const IMAGE: &str = "docker.io/library/bb:latest";

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

fn sh(cmd: &mut Command, what: &str) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(o.status.success(), "{what} failed: {}", String::from_utf8_lossy(&o.stderr));
}

fn ctr(socket: &Path) -> Command {
    let mut c = Command::new("ctr");
    c.arg("-a").arg(socket).args(["-n", "k8s.io"]).stdin(Stdio::null());
    c
}

fn start_containerd(d: &Path) -> (std::process::Child, PathBuf) {
    let socket = d.join("containerd.sock");
    let config = d.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{r}/root\"\nstate = \"{r}/state\"\n[grpc]\n  address = \"{s}\"\n\
             [ttrpc]\n  address = \"{r}/containerd.sock.ttrpc\"\n",
            r = d.display(),
            s = socket.display()
        ),
    )
    .unwrap();
    let child = Command::new("containerd")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("containerd must be installed (scripts/setup.sh) and the bench run as root");
    let t = Instant::now();
    while !ctr(&socket).arg("version").output().map(|o| o.status.success()).unwrap_or(false) {
        assert!(t.elapsed() < Duration::from_secs(20), "containerd did not start (root needed)");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rootfs = d.join("rootfs");
    for sub in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(sub)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static");
    sh(Command::new("chroot").arg(&rootfs).args(["/bin/busybox", "--install", "-s", "/bin"]), "busybox");
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    sh(Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(d.join("r.tar")).arg("."), "tar");
    let mkoci = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/mkoci.py");
    sh(Command::new("python3").arg(mkoci).arg(d.join("r.tar")).arg(d.join("i.tar")).arg(IMAGE), "mkoci");
    sh(ctr(&socket).args(["image", "import"]).arg(d.join("i.tar")), "import");
    (child, socket)
}

fn main() {
    let n: usize = std::env::var("HARRIER_BENCH_CONTAINERS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let dir = tempfile::Builder::new().prefix("harrier-churn").tempdir_in("/tmp").unwrap();
    let (mut daemon, socket) = start_containerd(dir.path());

    let mut loader = Loader::new(LoaderOptions::default());
    loader.load_str(
        "churn.yaml",
        "- rule: churn read\n  desc: d\n  condition: evt.type in (open, openat, openat2) and fd.name = /etc/group and \
         container.id != host and proc.name = cat\n  output: \"%container.id %container.name %container.image \
         %k8s.pod.name %k8s.ns.name\"\n  priority: NOTICE\n",
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
    let mut det = Detector::new(Arc::new(rs), "bench");
    det.set_runtime_config(RuntimeConfig {
        containerd_sockets: vec![socket.clone()],
        podman_sockets: Vec::new(),
        docker_sockets: Vec::new(),
        cri_sockets: Vec::new(),
        ..RuntimeConfig::default()
    });

    // The churn runs on another thread; the pipeline on this one.
    let expected: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let rss: Arc<Mutex<(u64, u64)>> = Arc::default();
    let churn = {
        let (expected, rss, socket) = (expected.clone(), rss.clone(), socket.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            let t = Instant::now();
            for i in 0..n {
                if i == 5 {
                    rss.lock().unwrap().0 = rss_kib();
                }
                // Distinct in the first 12 characters (the short id).
                let id = format!(
                    "{:012x}{:052x}",
                    0xc0ffee000 + i as u64 * 7919 + u64::from(std::process::id()) * 1_000_000,
                    i
                );
                let name = format!("churn-{i}");
                expected.lock().unwrap().insert(id[..12].to_string(), name.clone());
                sh(
                    ctr(&socket)
                        .args(["run", "--rm", "--label"])
                        .arg(format!("io.kubernetes.container.name={name}"))
                        .args([
                            "--label",
                            "io.kubernetes.pod.name=churn-pod",
                            "--label",
                            "io.kubernetes.pod.namespace=bench",
                        ])
                        .arg(IMAGE)
                        .arg(&id)
                        .args(["cat", "/etc/group"]),
                    "ctr run",
                );
            }
            let elapsed = t.elapsed();
            std::thread::sleep(Duration::from_millis(500));
            rss.lock().unwrap().1 = rss_kib();
            stop.store(true, Ordering::Relaxed);
            elapsed
        })
    };
    let mut alerts = Vec::new();
    det.run(&mut src, &mut |a| alerts.push(a)).expect("live run");
    let elapsed = churn.join().expect("churn thread");
    let expected = expected.lock().unwrap().clone();
    let full = alerts
        .iter()
        .filter(|a| {
            let f = |k: &str| a.output_fields.get(k).and_then(|v| v.as_str()).unwrap_or("");
            expected.get(f("container.id")).is_some_and(|name| {
                f("container.name") == name
                    && f("container.image") == IMAGE
                    && f("k8s.pod.name") == "churn-pod"
            })
        })
        .count();
    let seen: std::collections::HashSet<String> = alerts
        .iter()
        .filter_map(|a| a.output_fields.get("container.id").and_then(|v| v.as_str()).map(str::to_string))
        .filter(|id| expected.contains_key(id))
        .collect();
    let (rss0, rss1) = *rss.lock().unwrap();
    let ls = det.lookup_stats().expect("lookups ran");
    let held = det.held_stats();
    println!("containers started/removed: {n} in {elapsed:.2?} ({:.1}/s)", n as f64 / elapsed.as_secs_f64());
    println!("alerts: {} for {} of {n} containers", alerts.len(), seen.len());
    println!(
        "alerts with full metadata: {full}/{} = {:.1}%",
        alerts.len(),
        100.0 * full as f64 / alerts.len().max(1) as f64
    );
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
        "resident memory: {rss0} KiB after 5 containers, {rss1} KiB after {n} ({:+} KiB)",
        rss1 as i64 - rss0 as i64
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}
