//! Router throughput to a fast sink (memory only, and durable: the spool as a write-ahead log
//! with each fsync policy), and memory while a sink never answers.
//! `cargo bench -p harrier-sinks --bench router`

use harrier_engine::Alert;
use harrier_sinks::{BoxFut, QueueConfig, RouteConfig, Router, Sink, SinkError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Count(AtomicU64);
impl Sink for Count {
    fn kind(&self) -> &'static str {
        "count"
    }
    fn max_batch(&self) -> usize {
        512
    }
    fn deliver<'a>(&'a self, a: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        self.0.fetch_add(a.len() as u64, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
}

struct Stalled;
impl Sink for Stalled {
    fn kind(&self) -> &'static str {
        "stalled"
    }
    fn deliver<'a>(&'a self, _: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(std::future::pending())
    }
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

fn main() {
    let alert = harrier_sinks::test_alert();
    // Throughput: hot path → channel → queue → sink.
    let mut r = Router::with_own_runtime(2).expect("runtime");
    let sink = Arc::new(Count(AtomicU64::new(0)));
    let cfg = QueueConfig {
        memory: 8192,
        channel: 8192,
        when_full: harrier_sinks::WhenFull::Block,
        ..Default::default()
    };
    r.add(sink.clone(), RouteConfig { queue: cfg, ..RouteConfig::new("fast") }).expect("add");
    let n = 1_000_000u64;
    let t = Instant::now();
    for _ in 0..n {
        r.send(&alert);
    }
    while sink.0.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_micros(200));
    }
    let dt = t.elapsed();
    println!(
        "router → fast sink: {n} alerts in {:.2?} = {:.0} alerts/s (block, dropped {})",
        dt,
        n as f64 / dt.as_secs_f64(),
        r.dropped()
    );
    r.shutdown_blocking(Duration::from_secs(1));

    // The same with durability: every alert appended to the spool before `send` returns.
    for (label, fsync, n) in [
        ("never (page cache, the default)", harrier_sinks::FsyncPolicy::Never, 1_000_000u64),
        ("interval (1 s)", harrier_sinks::FsyncPolicy::Interval(Duration::from_secs(1)), 1_000_000),
        ("always", harrier_sinks::FsyncPolicy::Always, 5_000),
    ] {
        let dir = std::env::temp_dir().join(format!("harrier-bench-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut r = Router::with_own_runtime(2).expect("runtime");
        let sink = Arc::new(Count(AtomicU64::new(0)));
        let cfg = QueueConfig {
            memory: 8192,
            channel: 8192,
            when_full: harrier_sinks::WhenFull::Block,
            spool_dir: Some(dir.clone()),
            spool_max_bytes: 4 << 30,
            fsync,
            ..Default::default()
        };
        r.add(sink.clone(), RouteConfig { queue: cfg, ..RouteConfig::new("fast") }).expect("add");
        let t = Instant::now();
        for _ in 0..n {
            r.send(&alert);
        }
        while sink.0.load(Ordering::Relaxed) < n {
            std::thread::sleep(Duration::from_micros(200));
        }
        let dt = t.elapsed();
        println!(
            "router → fast sink, durable spool, fsync {label}: {n} alerts in {:.2?} = {:.0} alerts/s (dropped {})",
            dt,
            n as f64 / dt.as_secs_f64(),
            r.dropped()
        );
        r.shutdown_blocking(Duration::from_secs(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    // A sink that never answers (drop_newest, memory 1024, channel 1024, no spool) next to a fast one.
    let mut r = Router::with_own_runtime(2).expect("runtime");
    let fast = Arc::new(Count(AtomicU64::new(0)));
    let q = QueueConfig {
        memory: 1024,
        channel: 1024,
        timeout: Duration::from_millis(200),
        ..Default::default()
    };
    r.add(Arc::new(Stalled), RouteConfig { queue: q.clone(), ..RouteConfig::new("stalled") }).expect("add");
    r.add(
        fast.clone(),
        RouteConfig {
            queue: QueueConfig { when_full: harrier_sinks::WhenFull::Block, ..q },
            ..RouteConfig::new("fast")
        },
    )
    .expect("add");
    let before = rss_kib();
    let t = Instant::now();
    for _ in 0..n {
        r.send(&alert);
    }
    while fast.0.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_micros(200));
    }
    let dt = t.elapsed();
    let after = rss_kib();
    let s = &r.stats()[0];
    println!(
        "with a stalled sink: fast sink got {n} in {:.2?} ({:.0} alerts/s); stalled: in memory {}, dropped {}; RSS {} KiB → {} KiB (+{} KiB)",
        dt,
        n as f64 / dt.as_secs_f64(),
        s.in_memory,
        s.dropped,
        before,
        after,
        after.saturating_sub(before)
    );
    r.shutdown_blocking(Duration::from_millis(300));
}
