//! Router and queue guarantees: routing, outage without loss, restart from the spool, bounded
//! memory under a sink that never answers, `block` back-pressure, graceful shutdown.

use crate::queue::{QueueConfig, WhenFull};
use crate::router::{RouteConfig, Router};
use crate::sink::{BoxFut, Sink, SinkError};
use crate::testutil::{alert, Recorder};
use harrier_engine::Alert;
use harrier_rules::Priority;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// 0: accept, 1: fail (transient), 2: never answer.
#[derive(Default)]
struct TestSink {
    mode: AtomicU8,
    got: Mutex<Vec<String>>,
}

impl Sink for TestSink {
    fn kind(&self) -> &'static str {
        "test"
    }
    fn max_batch(&self) -> usize {
        64
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            match self.mode.load(Ordering::Relaxed) {
                0 => {
                    self.got.lock().unwrap().extend(alerts.iter().map(|a| a.rule.clone()));
                    Ok(())
                }
                1 => Err(SinkError::transient("down")),
                _ => std::future::pending().await,
            }
        })
    }
}

fn q(memory: usize, spool: Option<&std::path::Path>) -> QueueConfig {
    QueueConfig {
        memory,
        spool_dir: spool.map(|p| p.to_path_buf()),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(500),
        timeout: Duration::from_millis(300),
        ..Default::default()
    }
}

async fn wait(pred: impl Fn() -> bool, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if pred() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pred()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_priority_filter_and_instance() {
    let mut r = Router::new(tokio::runtime::Handle::current());
    let all = Arc::new(TestSink::default());
    let errors = Arc::new(TestSink::default());
    let prod = Arc::new(TestSink::default());
    r.add(all.clone(), RouteConfig::new("all")).unwrap();
    r.add(errors.clone(), RouteConfig { min_priority: Priority::Error, ..RouteConfig::new("errors") })
        .unwrap();
    r.add(
        prod.clone(),
        RouteConfig {
            filter: Some("k8s.ns.name = prod and alert.tags contains shell".into()),
            ..RouteConfig::new("prod")
        },
    )
    .unwrap();
    assert!(r.add(all.clone(), RouteConfig::new("all")).unwrap_err().contains("two sinks"));
    r.custom_fields.insert("env".into(), "test".into());
    let mut shell = alert("shell", Priority::Warning);
    shell.tags.push("shell".into());
    let mut other_ns = shell.clone();
    other_ns.rule = "other-ns".into();
    other_ns.output_fields.insert("k8s.ns.name".into(), "dev".into());
    assert_eq!(r.send(&shell), 2);
    assert_eq!(r.send(&alert("crit", Priority::Critical)), 2);
    assert_eq!(r.send(&other_ns), 1);
    assert!(wait(|| all.got.lock().unwrap().len() == 3, 5).await);
    assert!(wait(|| r.is_idle(), 5).await);
    assert_eq!(*errors.got.lock().unwrap(), ["crit"]);
    assert_eq!(*prod.got.lock().unwrap(), ["shell"]);
    let stats = r.shutdown(Duration::from_secs(1)).await;
    assert_eq!(stats.iter().map(|s| s.delivered).sum::<u64>(), 5);
}

/// A webhook receiver that is down (connection refused) for `OUTAGE` and comes back receives
/// every alert: none lost; duplicates (if any) are counted by the receiver and the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_of_30s_loses_nothing() {
    const OUTAGE: Duration = Duration::from_secs(30);
    const N: usize = 600;
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::start(|_| (200, "{}".into())).await;
    let sink = crate::webhook::WebhookSink::new(
        &crate::webhook::WebhookConfig { address: rec.url("/"), ..Default::default() },
        "",
    )
    .unwrap();
    let mut r = Router::new(tokio::runtime::Handle::current());
    let mut cfg = q(50, Some(dir.path()));
    cfg.backoff_max = Duration::from_secs(2);
    r.add(Arc::new(sink), RouteConfig { queue: cfg, ..RouteConfig::new("hook") }).unwrap();
    rec.down();
    let start = Instant::now();
    for i in 0..N {
        r.send(&alert(&format!("a{i}"), Priority::Warning));
        // Spread the alerts over the outage.
        if i % 60 == 59 {
            tokio::time::sleep(OUTAGE / 12).await;
        }
    }
    tokio::time::sleep(OUTAGE.saturating_sub(start.elapsed())).await;
    let mid = r.stats()[0].clone();
    assert_eq!(mid.delivered, 0);
    assert!(mid.spilled >= (N - 50) as u64, "{mid:?}");
    assert!(mid.retries > 5, "{mid:?}");
    rec.up().await;
    assert!(wait(|| r.is_idle(), 20).await, "{:?}", r.stats());
    let got = rec.take();
    let mut rules: Vec<String> = got.iter().map(|q| q.json()["rule"].as_str().unwrap().to_string()).collect();
    let total = rules.len();
    rules.sort();
    rules.dedup();
    assert_eq!(rules.len(), N, "every alert arrived");
    let st = r.stats()[0].clone();
    assert_eq!(st.dropped, 0);
    assert_eq!(st.delivered, N as u64);
    assert!(
        (total - N) as u64 <= st.redelivered,
        "receiver saw {} duplicates, queue counted {}",
        total - N,
        st.redelivered
    );
    assert_eq!(got[0].json()["rule"], "a0", "order kept");
}

/// Harrier killed while its sink is down (runtime dropped without shutdown): with a spool every
/// alert `send` accepted is on disk (write-ahead, memory is only a cache), and a new router on
/// the same spool directory delivers all of them.
#[test]
fn spilled_alerts_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let down = Arc::new(TestSink::default());
    down.mode.store(1, Ordering::Relaxed);
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut r = Router::new(rt.handle().clone());
        r.add(down.clone(), RouteConfig { queue: q(4, Some(dir.path())), ..RouteConfig::new("s") }).unwrap();
        for i in 0..100 {
            r.send(&alert(&format!("k{i}"), Priority::Error));
        }
        let end = Instant::now() + Duration::from_secs(5);
        while r.stats()[0].retries < 1 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        // No waiting for anything to be written: `send` returned, so it is in the spool.
        assert_eq!(r.stats()[0].spilled, 100, "{:?}", r.stats());
        assert!(r.stats()[0].in_memory >= 1, "{:?}", r.stats());
        // Kill: no shutdown, the tasks and runtime go away with alerts in memory.
        drop(r);
        drop(rt);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = Arc::new(TestSink::default());
    let mut r = Router::new(rt.handle().clone());
    r.add(up.clone(), RouteConfig { queue: q(4, Some(dir.path())), ..RouteConfig::new("s") }).unwrap();
    assert_eq!(r.stats()[0].spooled, 100);
    let end = Instant::now() + Duration::from_secs(10);
    while !r.is_idle() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = up.got.lock().unwrap().clone();
    let want: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    assert_eq!(got, want);
    // Everything acknowledged: the segment is empty again.
    assert_eq!(std::fs::metadata(dir.path().join("s.spool")).unwrap().len(), 0);
    r.shutdown_blocking(Duration::from_secs(1));
}

/// A graceful shutdown moves what is in memory to the spool; `memory: 0` spools everything.
#[test]
fn shutdown_persists_memory() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let down = Arc::new(TestSink::default());
    down.mode.store(1, Ordering::Relaxed);
    let mut r = Router::new(rt.handle().clone());
    r.add(down, RouteConfig { queue: q(1000, Some(dir.path())), ..RouteConfig::new("g") }).unwrap();
    for i in 0..10 {
        r.send(&alert(&format!("g{i}"), Priority::Error));
    }
    let st = rt.block_on(r.shutdown(Duration::from_millis(200)));
    assert_eq!(st[0].spooled, 10, "{st:?}");
    let mut sp = crate::queue::Spool::open(dir.path(), "g").unwrap();
    assert_eq!(sp.pending(), 10);
    let (v, ..) = sp.peek(100, &Default::default()).unwrap();
    let mut rules: Vec<_> = v.into_iter().map(|a| a.rule).collect();
    rules.sort();
    assert_eq!(rules.len(), 10);
}

/// A sink that never answers: memory stays within its bound (drops are counted), and a second
/// sink on the same router receives everything at full speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_sink_is_bounded_and_does_not_stall_others() {
    let dir = tempfile::tempdir().unwrap();
    let stalled = Arc::new(TestSink::default());
    stalled.mode.store(2, Ordering::Relaxed);
    let fast = Arc::new(TestSink::default());
    let mut r = Router::new(tokio::runtime::Handle::current());
    let mut cfg = q(100, Some(dir.path()));
    cfg.spool_max_bytes = 64 * 1024;
    r.add(stalled.clone(), RouteConfig { queue: cfg, ..RouteConfig::new("stalled") }).unwrap();
    let mut fast_cfg = q(100_000, None);
    fast_cfg.channel = 100_000;
    r.add(fast.clone(), RouteConfig { queue: fast_cfg, ..RouteConfig::new("fast") }).unwrap();
    const N: usize = 20_000;
    let t = Instant::now();
    let a = alert("x", Priority::Warning);
    for _ in 0..N {
        r.send(&a);
        let s = &r.stats()[0];
        assert!(s.in_memory <= 100, "{s:?}");
    }
    assert!(t.elapsed() < Duration::from_secs(20), "hot path was slowed: {:?}", t.elapsed());
    assert!(
        wait(|| fast.got.lock().unwrap().len() == N, 20).await,
        "fast sink got {}",
        fast.got.lock().unwrap().len()
    );
    assert_eq!(r.stats()[1].dropped, 0);
    assert!(wait(|| r.stats()[0].retries >= 1, 5).await);
    let s = r.stats()[0].clone();
    assert!(s.in_memory <= 100 && s.dropped > 0, "{s:?}");
    assert!(std::fs::metadata(dir.path().join("stalled.spool")).unwrap().len() < 64 * 1024 + 4096);
    assert_eq!(s.accepted, N as u64);
    // Every alert is accounted for: in memory, in the spool, in flight (one batch) or dropped.
    assert!(s.in_memory + s.spooled + s.dropped + 64 >= N as u64, "{s:?}");
    // The stalled sink's attempts time out. (While alerts arrive, "spool is full" can be the
    // last error instead; once they stop, the next attempt's timeout is.)
    assert!(s.retries >= 1, "{s:?}");
    assert!(wait(|| r.stats()[0].last_error.contains("timed out"), 30).await, "{:?}", r.stats()[0]);
}

/// `block`: the producer waits for a slow sink instead of dropping.
#[test]
fn block_policy_applies_back_pressure_without_loss() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = Arc::new(TestSink::default());
    s.mode.store(1, Ordering::Relaxed);
    let mut r = Router::new(rt.handle().clone());
    let mut cfg = q(8, None);
    cfg.channel = 4;
    cfg.when_full = WhenFull::Block;
    r.add(s.clone(), RouteConfig { queue: cfg, ..RouteConfig::new("b") }).unwrap();
    let r = Arc::new(r);
    let r2 = r.clone();
    let producer = std::thread::spawn(move || {
        for i in 0..200 {
            r2.send(&alert(&format!("b{i}"), Priority::Error));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!producer.is_finished(), "the producer must be blocked while the sink is down");
    s.mode.store(0, Ordering::Relaxed);
    producer.join().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while !r.is_idle() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = s.got.lock().unwrap().clone();
    assert_eq!(got, (0..200).map(|i| format!("b{i}")).collect::<Vec<_>>());
    assert_eq!(r.dropped(), 0);
}

/// Permanent rejections are counted as failed, not retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_rejections_are_counted() {
    let rec = Recorder::start(|_| (400, "no".into())).await;
    let sink = crate::webhook::WebhookSink::new(
        &crate::webhook::WebhookConfig { address: rec.url("/"), ..Default::default() },
        "",
    )
    .unwrap();
    let mut r = Router::new(tokio::runtime::Handle::current());
    r.add(Arc::new(sink), RouteConfig { queue: q(10, None), ..RouteConfig::new("w") }).unwrap();
    for _ in 0..3 {
        r.send(&alert("r", Priority::Error));
    }
    assert!(wait(|| r.stats()[0].failed == 3, 5).await, "{:?}", r.stats());
    assert!(r.stats()[0].last_error.contains("400"));
}

/// A torn last line (crash mid-append) and garbage lines in the spool are survived.
#[test]
fn spool_recovers_from_torn_and_corrupt_lines() {
    let dir = tempfile::tempdir().unwrap();
    let good = crate::alert::test_alert().to_json_value(true, true).to_string();
    std::fs::write(dir.path().join("t.spool"), format!("{good}\nnot json\n{good}\n{{\"rule\":\"tor"))
        .unwrap();
    let mut sp = crate::queue::Spool::open(dir.path(), "t").unwrap();
    assert_eq!(sp.pending(), 3);
    let corrupt = Default::default();
    let (v, off, lines) = sp.peek(10, &corrupt).unwrap();
    assert_eq!((v.len(), lines), (2, 3));
    assert_eq!(corrupt.load(Ordering::Relaxed), 1);
    sp.ack(off, lines).unwrap();
    assert_eq!(sp.pending(), 0);
}

/// With a spool, `accept` reports a sink that could not keep the alert (spool full under
/// `drop_newest`), so the ingest can refuse it instead of acknowledging; `fsync: always` syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_reports_a_full_spool_and_fsync_always_works() {
    let dir = tempfile::tempdir().unwrap();
    let down = Arc::new(TestSink::default());
    down.mode.store(1, Ordering::Relaxed);
    let mut r = Router::new(tokio::runtime::Handle::current());
    let mut cfg = q(4, Some(dir.path()));
    cfg.spool_max_bytes = 2000;
    cfg.fsync = crate::queue::FsyncPolicy::Always;
    r.add(down, RouteConfig { queue: cfg, ..RouteConfig::new("f") }).unwrap();
    let mut taken = 0;
    let mut refused = 0;
    for i in 0..50 {
        let res = r.accept(&alert(&format!("f{i}"), Priority::Error)).await;
        taken += res.taken;
        refused += res.refused;
    }
    assert!(taken > 0 && refused > 0, "taken {taken}, refused {refused}");
    assert_eq!(taken + refused, 50);
    let s = r.stats()[0].clone();
    assert_eq!(s.dropped, refused as u64);
    assert!(s.last_error.contains("full"), "{s:?}");
    // Exactly what was taken is on disk, every line whole.
    let text = std::fs::read_to_string(dir.path().join("f.spool")).unwrap();
    assert_eq!(text.lines().count(), taken);
    assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    // A second queue on the same spool is refused while this one holds it.
    let mut r2 = Router::new(tokio::runtime::Handle::current());
    let e = r2.add(
        Arc::new(TestSink::default()),
        RouteConfig { queue: q(4, Some(dir.path())), ..RouteConfig::new("f") },
    );
    assert!(e.is_err_and(|e| e.contains("in use")));
}

/// Chaos through the router `harrier run` uses (`Router::send` from the detector thread, with
/// spools), without the kernel: a real webhook receiver that goes down and up, and a real Redis
/// server that is stalled (SIGSTOP/SIGCONT); the router is "killed" (its runtime dropped without
/// shutdown) at random points and started again on the same spools. Every alert `send` took
/// arrives at both sinks at least once; memory stays within its bound. (The same under the real
/// binary: `crates/cli/tests/chaos.rs`.)
#[test]
#[cfg(feature = "redis")]
fn router_chaos_with_kills_loses_nothing_sent() {
    use crate::testutil::{free_port, need, Proc, Recorder};
    let dir = tempfile::tempdir().unwrap();
    let hrt = tokio::runtime::Runtime::new().unwrap();
    let mut rec = hrt.block_on(Recorder::start(|_| (200, "{}".into())));
    let port = free_port();
    let rdir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(need("redis-server"));
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"]);
    cmd.current_dir(rdir.path());
    let mut redis = Proc::start("redis-server", rdir, port, &mut cmd);
    redis.wait_port();
    let redis_pid = redis.child.id().to_string();
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let hook_url = rec.url("/");
    let build = |rt: &tokio::runtime::Runtime| {
        let mut r = Router::new(rt.handle().clone());
        let mut qc = q(64, Some(dir.path()));
        qc.timeout = Duration::from_millis(500);
        qc.backoff_max = Duration::from_millis(100);
        let hook = crate::webhook::WebhookSink::new(
            &crate::webhook::WebhookConfig { address: hook_url.clone(), ..Default::default() },
            "",
        )
        .unwrap();
        r.add(Arc::new(hook), RouteConfig { queue: qc.clone(), ..RouteConfig::new("webhook") }).unwrap();
        let redis = crate::redis::RedisSink::new(&crate::redis::RedisConfig {
            address: format!("127.0.0.1:{port}"),
            ..Default::default()
        })
        .unwrap();
        r.add(Arc::new(redis), RouteConfig { queue: qc, ..RouteConfig::new("redis") }).unwrap();
        r
    };
    const N: usize = 3_000;
    let mut sent = Vec::new();
    let mut kills = 0;
    let mut hook_up = true;
    let mut i = 0;
    while i < N {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let r = build(&rt);
        let until = (i + 100 + rnd(500) as usize).min(N);
        while i < until {
            if rnd(200) == 0 {
                if hook_up {
                    rec.down();
                } else {
                    hrt.block_on(rec.up());
                }
                hook_up = !hook_up;
            }
            if rnd(300) == 0 {
                let _ = std::process::Command::new("kill").args(["-STOP", &redis_pid]).status();
                let p = redis_pid.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    let _ = std::process::Command::new("kill").args(["-CONT", &p]).status();
                });
            }
            if r.send(&alert(&format!("c{i}"), Priority::Error)) == 2 {
                sent.push(i);
            }
            for s in r.stats() {
                assert!(s.in_memory <= 64, "{s:?}");
            }
            i += 1;
        }
        if i < N {
            // Kill: no shutdown; the tasks and the runtime go away mid-delivery.
            drop(r);
            drop(rt);
            kills += 1;
        } else {
            if !hook_up {
                hrt.block_on(rec.up());
            }
            let _ = std::process::Command::new("kill").args(["-CONT", &redis_pid]).status();
            let end = Instant::now() + Duration::from_secs(60);
            while !r.is_idle() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(r.is_idle(), "{:?}", r.stats());
            r.shutdown_blocking(Duration::from_secs(1));
        }
    }
    let mut hook_seen = std::collections::HashMap::<String, u32>::new();
    for req in rec.take() {
        for line in String::from_utf8_lossy(&req.body).lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                *hook_seen.entry(v["rule"].as_str().unwrap_or_default().to_string()).or_default() += 1;
            }
        }
    }
    let out = std::process::Command::new(need("redis-cli"))
        .args(["-p", &port.to_string(), "--raw", "LRANGE", "falco", "0", "-1"])
        .output()
        .unwrap();
    let mut redis_seen = std::collections::HashMap::<String, u32>::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
            *redis_seen.entry(v["rule"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
    }
    for (name, seen) in [("webhook", &hook_seen), ("redis", &redis_seen)] {
        let missing: Vec<_> = sent.iter().filter(|i| !seen.contains_key(&format!("c{i}"))).collect();
        assert!(
            missing.is_empty(),
            "{name}: {} of {} sent alerts never arrived: {:?}",
            missing.len(),
            sent.len(),
            &missing[..missing.len().min(10)]
        );
        let dups: u32 = seen.values().map(|v| v - 1).sum();
        println!(
            "router chaos: {name}: {}/{} arrived, {dups} duplicates, {kills} kills",
            sent.len(),
            sent.len()
        );
    }
    assert_eq!(sent.len(), N, "nothing was refused (spools had room)");
}

/// A receiver slower than the queue's attempt timeout but within the output's own timeout.
struct SlowSink {
    own: Duration,
    delay: Duration,
    got: Mutex<Vec<String>>,
}

impl Sink for SlowSink {
    fn kind(&self) -> &'static str {
        "slow"
    }
    fn timeout(&self) -> Option<Duration> {
        Some(self.own)
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.got.lock().unwrap().extend(alerts.iter().map(|a| a.rule.clone()));
            Ok(())
        })
    }
}

/// An output's own timeout longer than the queue's attempt timeout takes effect: the queue's
/// is raised above it (a 500 ms answer is delivered once, not cancelled at 300 ms and retried);
/// when the user set the queue's timeout explicitly, the route is refused with both values.
#[tokio::test]
async fn an_outputs_own_timeout_above_the_queues_takes_effect() {
    let slow = || {
        Arc::new(SlowSink {
            own: Duration::from_millis(1500),
            delay: Duration::from_millis(500),
            got: Mutex::default(),
        })
    };
    let mut r = Router::new(tokio::runtime::Handle::current());
    let s = slow();
    let cfg = q(10, None);
    assert_eq!(cfg.timeout, Duration::from_millis(300));
    r.add(s.clone(), RouteConfig { queue: cfg, ..RouteConfig::new("slow") }).unwrap();
    for i in 0..3 {
        r.send(&alert(&format!("s{i}"), Priority::Warning));
    }
    assert!(wait(|| r.is_idle(), 10).await, "{:?}", r.stats());
    let st = r.stats()[0].clone();
    assert_eq!((st.delivered, st.retries, st.redelivered), (3, 0, 0), "{st:?}");
    assert_eq!(*s.got.lock().unwrap(), ["s0", "s1", "s2"]);
    let e = r
        .add(
            slow(),
            RouteConfig {
                queue: QueueConfig { timeout_set: true, ..q(10, None) },
                ..RouteConfig::new("slow2")
            },
        )
        .unwrap_err();
    assert!(
        e.contains("sink 'slow2'") && e.contains("1500 ms") && e.contains("queue.timeout_ms (300 ms)"),
        "{e}"
    );
}
