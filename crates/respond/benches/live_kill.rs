//! End to end on the live kernel (root): a process in a loop reading a secret file, detected by
//! a Falco rule through the probe and the detector, killed by the response stage behind the
//! detector's port. Prints syscall → death (p50/p99) for the probe's default idle poll (50 ms)
//! and for the short poll `harrier run` uses when response rules are loaded
//! (`response.max_delay_ms`, default 5 ms; 10 and 2 for comparison), with the CPU the short poll costs when idle.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harrier_engine::{Alert, Ruleset};
use harrier_pipeline::live::LiveSource;
use harrier_pipeline::{from_fn, Detector, EventSource, Stages};
use harrier_probe::ProbeConfig;
use harrier_respond::stage::ResponseStage;
use harrier_respond::{load_strs, Config, Responder};
use harrier_rules::{Loader, LoaderOptions};

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn cpu_us() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    (u.ru_utime.tv_sec * 1_000_000 + u.ru_utime.tv_usec + u.ru_stime.tv_sec * 1_000_000 + u.ru_stime.tv_usec)
        as f64
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn run(poll: Duration, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "token\n").unwrap();
    let reader = dir.path().join("hreader");
    std::fs::copy("/bin/bash", &reader).unwrap();
    let fifo = dir.path().join("pause");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let rule = format!(
        "- rule: Secret read\n  desc: d\n  condition: evt.type in (open, openat, openat2) and fd.name = {} and proc.name = hreader\n  output: \"%proc.name %proc.pid\"\n  priority: CRITICAL\n",
        secret.display()
    );
    let mut loader = Loader::new(LoaderOptions::default());
    loader.load_str("bench.yaml", &rule);
    let loaded = loader.finish(Some(&harrier_engine::Checker));
    let (rs, errors) = Ruleset::compile(&loaded.rules);
    assert!(errors.is_empty(), "{errors:?}");
    let response = "- rule: Kill\n  actions:\n    - action: Kill\n      actionner: node:kill\n";
    let responder = Arc::new(Responder::new(
        load_strs(&[("r.yaml", response)]).unwrap(),
        Config { dedup_window: Duration::from_millis(200), rate_per_minute: 0, ..Config::default() },
    ));
    let outcomes: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let (o2, r2) = (outcomes.clone(), responder.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let det_thread = std::thread::spawn(move || {
        let cfg = ProbeConfig {
            syscalls: &["open", "openat", "openat2"],
            with_state_events: true,
            exclude_pid: Some(std::process::id()),
            ..Default::default()
        };
        let mut src = LiveSource::open(&cfg).expect("live probe (root)");
        src.poll_timeout = poll;
        let stop = src.stop_flag();
        ready_tx.send(stop).unwrap();
        let port = Stages::new(from_fn(move |a: Alert| {
            if a.source == "response" {
                o2.lock().unwrap().push(a);
            }
        }))
        .then(Box::new(ResponseStage::new(r2)));
        let mut det = Detector::new(Arc::new(rs), "bench", port);
        let _ = (&mut src as &mut dyn EventSource, ());
        det.run(&mut src).unwrap();
    });
    let stop = ready_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(500)); // the /proc scan
    let loop_cmd = format!(
        "exec 9<>{}; while :; do read -r l < {}; read -t 0.01 -u 9; done",
        fifo.display(),
        secret.display()
    );
    let mut lat = Vec::new();
    for _ in 0..rounds {
        let mut c = Command::new(&reader).args(["-c", &loop_cmd]).stdin(Stdio::null()).spawn().unwrap();
        let pid = c.id();
        let t = Instant::now();
        let st = loop {
            if let Some(st) = c.try_wait().unwrap() {
                break st;
            }
            if t.elapsed() > Duration::from_secs(10) {
                let _ = c.kill();
                break c.wait().unwrap();
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        let died = now_ns();
        if st.signal() != Some(libc::SIGKILL) {
            continue;
        }
        std::thread::sleep(Duration::from_millis(100)); // the outcome comes back at the next alert or idle moment
        let syscall = outcomes
            .lock()
            .unwrap()
            .iter()
            .find(|a| a.output_fields.get("proc.pid").and_then(|v| v.as_u64()) == Some(pid as u64))
            .and_then(|a| a.output_fields.get("alert.time").and_then(|v| v.as_u64()));
        if let Some(s) = syscall {
            lat.push(died.saturating_sub(s) as f64 / 1e6);
        }
    }
    // Idle cost of this poll interval (nothing happening).
    let c0 = cpu_us();
    std::thread::sleep(Duration::from_secs(2));
    let idle = (cpu_us() - c0) / 2e4;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    det_thread.join().unwrap();
    let n = lat.len();
    println!(
        "syscall -> death, poll {:>3} ms   n={n:<3} p50={:>7.3} ms  p99={:>7.3} ms  max={:>7.3} ms   idle {:.2}% of a core",
        poll.as_millis(),
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        pct(&mut lat, 1.0),
        idle
    );
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        println!("live_kill: needs root (eBPF); not measured");
        return;
    }
    for ms in [50, 10, 5, 2] {
        run(Duration::from_millis(ms), 40);
    }
}
