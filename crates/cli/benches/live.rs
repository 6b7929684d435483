//! Live detection cost on this machine (root, real kernel): `cargo bench -p harrier --bench live`.
//!
//! Runs the real `harrier run` binary with the official Falco rules (falco_rules.yaml,
//! falco-incubating_rules.yaml, falco-sandbox_rules.yaml from ../shared/reference/falco-rules) plus
//! one rule of its own, with `-o json_output=true`, and prints:
//! * the slowdown of an open/close loop with Harrier attached vs not (goal <= 1.3x), also with
//!   the loop and Harrier pinned to different CPUs (what remains is the probe's kernel time), and
//!   its breakdown: the probe's time in the kernel per syscall (kernel.bpf_stats_enabled) and
//!   Harrier's user-space CPU during the loop; and the floor: the loop and the tar | gzip with
//!   only an empty program on the probe's tracepoint (what any probe on sys_exit costs), and the
//!   bound: the loop with only a header-only record per open/close put on the ring and drained
//!   (what any probe that reports these syscalls at all costs, before it reads a path or a file);
//! * the slowdown of realistic workloads (a `cargo build` of a generated dependency-free crate of
//!   ~1,300 functions made in a temp dir, and a `tar | gzip` of the workspace's crates/) with Harrier attached vs not (goal <= 3%);
//! * Harrier's resident memory after the load, and its peak since start (VmHWM, start-up
//!   included) (target <= 64 MiB);
//! * alert latency, syscall to stdout line, p50/p99 over N distinct events (goal p99 <= 10 ms; urgent <= 5 ms),
//!   for a WARNING rule on openat and a CRITICAL rule on mkdir (urgent: the probe wakes the reader
//!   within its urgent window): a uniquely named copy of this binary opens N distinct files (makes
//!   N directories), printing the wall-clock time just before each syscall; the time each alert
//!   line is read is compared with it;
//! * the probe's kernel time per event class (not watched, file, network, credentials, process),
//!   with the official rules and with only this bench's rules;
//! * the drop curves: paced generator threads (`HARRIER_LIVE_GEN_THREADS`, default one per CPU)
//!   cycling through file (openat+close), network (socket+connect+close, UDP) and credential
//!   (setresuid) syscalls at rising offered rates, then unpaced; then the same with the light mix
//!   (dup+close, a re-connect of a UDP socket, setresuid: the cheapest syscalls of the three
//!   classes, so the generator can offer more than the pipeline drains); per step and event
//!   class the records/s offered, put on the ring by the kernel and dropped (Harrier's
//!   /metrics), and the highest rate with no drop;
//! * Harrier's CPU while this bench is idle, with the rate of other processes' records that
//!   reached the ring and that the in-kernel pre-filter dropped meanwhile.
//!
//! Figures are printed with the 1-minute load average at the time (`[load X]`); nothing is
//! asserted (machines are shared and noisy). Detached and attached runs alternate and the best
//! of each is kept. Only this bench's own processes and paths match its rule.
//!
//! The open/close loop is also run by a separate process (this binary in a child mode), beside
//! the bench's own loop.
//!
//! Environment: `HARRIER_LIVE_BIN` (the `harrier` binary to measure, e.g. an earlier build for a
//! before/after comparison run alternately with this same bench; default: the one cargo built),
//! `HARRIER_LIVE_ROUNDS` (default 3), `HARRIER_LIVE_LAT_N` (default 200),
//! `HARRIER_LIVE_CARGO=0` leaves out the cargo build workload, `HARRIER_LIVE_ONLY` runs only the
//! parts named (comma-separated): `workloads` (loop, cargo build, tar | gzip), `breakdown`,
//! `latency`, `costs`, `curve`, `idle`, and `profile` (not run by default): the open/close loop,
//! the cargo build and the tar | gzip with Harrier attached, the workload-profile stage off, on
//! (`profile.enabled`, 1 min learning window) and on with the learned scorer (a model
//! `harrier profile train` makes from tests/captures' attacks, the reference captures and a
//! capture of the machine during one cargo build and tar | gzip), alternating, with Harrier's CPU time over each.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CHILD_ENV: &str = "HARRIER_LIVE_BENCH_CHILD";

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/falco-rules")
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// The binary under test: `HARRIER_LIVE_BIN` (e.g. an earlier build, for a before/after run of
/// this same bench), else the one cargo built with this bench.
fn harrier_bin() -> PathBuf {
    std::env::var_os("HARRIER_LIVE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_harrier").into())
}

/// The 1-minute load average now, printed next to each figure (the machine is shared).
fn load() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!("[load {}]", l.split_whitespace().next().unwrap_or("?"))
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A running `harrier run`: stdout lines (with their arrival time) on a channel, stderr kept.
struct Harrier {
    child: Child,
    lines: mpsc::Receiver<(u128, String)>,
    stderr: Arc<Mutex<String>>,
    /// Its /metrics endpoint (an ephemeral port on 127.0.0.1).
    web: Option<std::net::SocketAddr>,
}

impl Harrier {
    fn start(extra_rules: &Path) -> Option<Harrier> {
        Harrier::start_with(extra_rules, true)
    }

    /// With `official`, the official Falco rules are loaded beside `extra_rules`.
    fn start_with(extra_rules: &Path, official: bool) -> Option<Harrier> {
        Harrier::start_full(extra_rules, official, &[])
    }

    /// As [`Harrier::start_with`], with more `-o KEY=VALUE` overrides.
    fn start_full(extra_rules: &Path, official: bool, overrides: &[String]) -> Option<Harrier> {
        let dir = rules_dir();
        let mut cmd = Command::new(harrier_bin());
        cmd.arg("run");
        if official {
            for f in ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"] {
                cmd.arg("-r").arg(dir.join(f));
            }
        }
        cmd.arg("-r").arg(extra_rules).args(["-o", "json_output=true"]);
        // /metrics on an ephemeral port: kernel events, drops and pre-filtered records by class
        for o in [
            "webserver.enabled=true",
            "webserver.listen_address=127.0.0.1",
            "webserver.listen_port=0",
            "metrics.enabled=true",
            "webserver.prometheus_metrics_enabled=true",
        ] {
            cmd.arg("-o").arg(o);
        }
        for o in overrides {
            cmd.arg("-o").arg(o);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().ok()?;
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take()?;
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send((now_ns(), l)).is_err() {
                    break;
                }
            }
        });
        let err = child.stderr.take()?;
        let log = Arc::new(Mutex::new(String::new()));
        let log2 = log.clone();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if l.contains("live detection started") {
                    let _ = ready_tx.send(true);
                }
                if let Ok(mut g) = log2.lock() {
                    g.push_str(&l);
                    g.push('\n');
                }
            }
            let _ = ready_tx.send(false);
        });
        match ready_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(true) => {
                let web = log.lock().ok().and_then(|g| {
                    g.lines()
                        .find_map(|l| l.split("listening on ").nth(1))
                        .and_then(|a| a.split_whitespace().next())
                        .and_then(|a| a.parse().ok())
                });
                Some(Harrier { child, lines: rx, stderr: log, web })
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                eprintln!(
                    "harrier run did not start (root and eBPF are needed):\n{}",
                    log.lock().map(|g| g.clone()).unwrap_or_default()
                );
                None
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Counters from /metrics: (events submitted, drops) by class, and pre-filtered records.
    fn kernel_counters(&self) -> Option<KernelCounters> {
        use std::io::Read;
        let addr = self.web?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        let mut k = KernelCounters::default();
        for l in body.lines() {
            let Some((name, v)) = l.rsplit_once(' ') else { continue };
            let Ok(v) = v.trim().parse::<f64>() else { continue };
            let class = CLASSES.iter().position(|c| name.contains(&format!("class=\"{c}\"")));
            if name.starts_with("harrier_kernel_events_total{") {
                if let Some(i) = class {
                    k.sent[i] = v as u64;
                }
            } else if name.starts_with("harrier_kernel_drops_total{") {
                if let Some(i) = class {
                    k.dropped[i] = v as u64;
                }
            } else if name.starts_with("harrier_kernel_prefiltered_total") {
                k.prefiltered = v as u64;
            } else if name.starts_with("harrier_kernel_urgent_total") {
                k.urgent = Some(v as u64);
            } else if name.starts_with("harrier_kernel_wakeups_total") {
                k.wakeups = Some(v as u64);
            }
        }
        Some(k)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn status_kib(&self, key: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with(key)).map(str::to_string))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    }

    /// utime + stime in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // fields after the `(comm)`: state is field 3, utime 14, stime 15
        let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        get(11) + get(12)
    }

    /// SIGTERM and wait; returns the stop summary line.
    fn stop(self) -> String {
        self.stop_log().lines().rfind(|l| l.contains("stopped:")).unwrap_or("").to_string()
    }

    /// SIGTERM and wait; returns everything it wrote to stderr.
    fn stop_log(mut self) -> String {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let t = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if t.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
        self.stderr()
    }
}

/// Clock ticks per second of /proc/PID/stat CPU times.
/// This process's CPU time (user + system, all threads) in clock ticks.
fn self_cpu_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Pin `pid` (all its threads with `all`) to `cpus` with taskset; false when that fails.
fn pin(pid: u32, cpus: &str, all: bool) -> bool {
    let mut c = Command::new("taskset");
    if all {
        c.arg("-a");
    }
    c.args(["-p", "-c", cpus, &pid.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
    c.status().is_ok_and(|s| s.success())
}

/// Runs of the open/close loop per round and side (detached, attached), for each of its lines.
const LOOP_RUNS: usize = 3;

fn open_close_loop(n: u64, path: &Path) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        drop(std::fs::File::open(path));
    }
    t.elapsed()
}

/// The open/close loop run by a fresh process (this binary in its `loop` child mode): its own
/// time, measured inside it.
fn child_loop(n: u64, path: &Path) -> Option<Duration> {
    let out = Command::new(std::env::current_exe().ok()?)
        .env(CHILD_ENV, "loop")
        .arg(path)
        .arg(n.to_string())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let ns: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Run a command with its output discarded; its wall time.
fn timed(cmd: &mut Command) -> Option<Duration> {
    let t = Instant::now();
    let st = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().ok()?;
    st.success().then(|| t.elapsed())
}

/// A generated dependency-free crate, built from clean each time.
fn make_crate(dir: &Path) -> PathBuf {
    let c = dir.join("hbench_crate");
    let _ = std::fs::create_dir_all(c.join("src"));
    let _ = std::fs::write(
        c.join("Cargo.toml"),
        "[package]\nname = \"hbench_crate\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
    );
    // Big enough (about 1,300 functions in 12 modules) that one build takes several seconds, so
    // a 5% difference stands out from the machine's noise.
    const MODULES: usize = 12;
    const FNS: usize = 110;
    let mut main = String::new();
    for i in 0..MODULES {
        main.push_str(&format!("mod m{i};\n"));
    }
    main.push_str("fn main() {\n");
    for i in 0..MODULES {
        main.push_str(&format!("    println!(\"{{}}\", m{i}::f(7));\n"));
        let mut m = String::new();
        for j in 0..FNS {
            m.push_str(&format!(
                "pub fn g{j}(x: u64) -> u64 {{ let v: Vec<u64> = (0..x).map(|i| i * {j}).collect(); v.iter().sum() }}\n"
            ));
        }
        m.push_str("pub fn f(x: u64) -> u64 { ");
        m.push_str(&(0..FNS).map(|j| format!("g{j}(x)")).collect::<Vec<_>>().join(" + "));
        m.push_str(" }\n");
        let _ = std::fs::write(c.join(format!("src/m{i}.rs")), m);
    }
    main.push_str("}\n");
    let _ = std::fs::write(c.join("src/main.rs"), main);
    c
}

fn cargo_build(c: &Path) -> Option<Duration> {
    let _ = std::fs::remove_dir_all(c.join("target"));
    timed(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--offline", "-q"])
            .env("CARGO_TARGET_DIR", c.join("target"))
            .current_dir(c),
    )
}

/// `TAR_REPEAT` runs of `tar | gzip` of the tree back to back (one run is ~0.3 s here, too short
/// to see a few percent through the machine's noise).
const TAR_REPEAT: usize = 5;

fn tar_gzip(src: &Path) -> Option<Duration> {
    let one =
        format!("tar -C '{}' --exclude=target --exclude=.git -cf - . | gzip -6 > /dev/null", src.display());
    timed(Command::new("sh").arg("-c").arg(vec![one; TAR_REPEAT].join(" && ")))
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Child modes (this binary re-run under a unique name).
fn child_main(mode: &str) {
    let args: Vec<String> = std::env::args().collect();
    if mode == "loop" {
        // args: path n — the open/close loop, printing its time in ns
        let path = PathBuf::from(args.get(1).cloned().unwrap_or_default());
        let n: u64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(0);
        println!("{}", open_close_loop(n, &path).as_nanos());
        return;
    }
    if mode == "latency" {
        // args: dir n gap_ms kind — for i in 0..n, open dir/f<i> (kind `open`) or make the
        // directory dir/d<i> (kind `mkdir`), printing "i ns" just before each syscall
        let dir = PathBuf::from(args.get(1).cloned().unwrap_or_default());
        let n: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(0);
        let gap: u64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(20);
        let mkdir = args.get(4).is_some_and(|k| k == "mkdir");
        let out = std::io::stdout();
        for i in 0..n {
            let t;
            if mkdir {
                let p = dir.join(format!("d{i}"));
                t = now_ns();
                let _ = std::fs::create_dir(&p);
            } else {
                let p = dir.join(format!("f{i}"));
                t = now_ns();
                drop(std::fs::File::open(&p));
            }
            let mut o = out.lock();
            let _ = writeln!(o, "{i} {t}");
            let _ = o.flush();
            std::thread::sleep(Duration::from_millis(gap));
        }
    }
}

/// Alert latency, syscall to stdout line, in ms: the latency child makes `n` syscalls (`kind`
/// `open` of dir/f<i> or `mkdir` of dir/d<i>) 20 ms apart; alerts of `rule` naming
/// dir/<prefix><i> are matched to them.
fn measure_latency(h: &Harrier, bin: &Path, dir: &Path, n: usize, kind: &str, rule: &str) -> Vec<f64> {
    let mut lat = Vec::new();
    let prefix = if kind == "mkdir" { "d" } else { "f" };
    while h.lines.try_recv().is_ok() {}
    let child = Command::new(bin)
        .env(CHILD_ENV, "latency")
        .arg(dir)
        .arg(n.to_string())
        .arg("20")
        .arg(kind)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return lat };
    let mut sent = vec![0u128; n];
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let mut it = l.split_whitespace();
                if let (Some(i), Some(t)) = (it.next(), it.next()) {
                    if let (Ok(i), Ok(t)) = (i.parse::<usize>(), t.parse::<u128>()) {
                        let _ = tx.send((i, t));
                    }
                }
            }
        });
    }
    let mut got = vec![0u128; n];
    let deadline = Instant::now() + Duration::from_secs(n as u64 / 10 + 20);
    let mut n_got = 0;
    let marker = format!("{}/{prefix}", dir.display());
    while n_got < n && Instant::now() < deadline {
        while let Ok((i, t)) = rx.try_recv() {
            if let Some(s) = sent.get_mut(i) {
                *s = t;
            }
        }
        let Ok((at, line)) = h.lines.recv_timeout(Duration::from_millis(100)) else { continue };
        if !line.contains(rule) {
            continue;
        }
        let Some(i) = line
            .split(&marker)
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse::<usize>().ok())
        else {
            continue;
        };
        if let Some(g) = got.get_mut(i) {
            if *g == 0 {
                *g = at;
                n_got += 1;
            }
        }
    }
    let _ = child.wait();
    while let Ok((i, t)) = rx.try_recv() {
        if let Some(s) = sent.get_mut(i) {
            *s = t;
        }
    }
    for (s, g) in sent.iter().zip(&got) {
        if *s > 0 && *g >= *s {
            lat.push((*g - *s) as f64 / 1e6);
        }
    }
    lat
}

/// One event class of the kernel-cost table: its name and one iteration.
type ClassLoop = (&'static str, fn(&Path));

fn class_loops() -> Vec<ClassLoop> {
    fn none(_: &Path) {
        // SAFETY: no arguments.
        unsafe {
            libc::getppid();
        }
    }
    fn file(p: &Path) {
        drop(std::fs::File::open(p));
    }
    fn net(_: &Path) {
        if let Ok(s) = std::net::UdpSocket::bind("127.0.0.1:0") {
            let _ = s.connect("127.0.0.1:9");
        }
    }
    fn cred(_: &Path) {
        // SAFETY: a no-op setresuid (every id unchanged); the raw syscall, since glibc's wrapper
        // makes every thread of this multithreaded process repeat it
        unsafe {
            libc::syscall(libc::SYS_setresuid, u32::MAX, u32::MAX, u32::MAX);
        }
    }
    fn exec(_: &Path) {
        let _ = Command::new("/bin/true").status();
    }
    vec![
        ("not watched (getppid)", none),
        ("file (openat+close)", file),
        ("network (socket+bind+connect+close, UDP)", net),
        ("credentials (setresuid no-op)", cred),
        ("process (fork+execve+exit of /bin/true)", exec),
    ]
}

/// The probe's kernel time per event class: for each class loop, ns per program run and ns of
/// probe time per iteration (kernel.bpf_stats_enabled; every CPU's runs count, so other
/// processes' syscalls during the loop are in the averages too).
fn class_costs(h: &Harrier, target: &Path) -> Vec<(&'static str, f64, f64)> {
    let stats_path = "/proc/sys/kernel/bpf_stats_enabled";
    let before = std::fs::read_to_string(stats_path).unwrap_or_default();
    let mut out = Vec::new();
    if std::fs::write(stats_path, "1").is_err() {
        return out;
    }
    for (name, f) in class_loops() {
        let n: u64 = if name.starts_with("process") { 300 } else { 50_000 };
        let (rt0, rc0) = harrier_probe::prog_run_stats(h.pid());
        for _ in 0..n {
            f(target);
        }
        let (rt1, rc1) = harrier_probe::prog_run_stats(h.pid());
        let rt = rt1.saturating_sub(rt0) as f64;
        out.push((name, rt / rc1.saturating_sub(rc0).max(1) as f64, rt / n as f64));
    }
    let _ = std::fs::write(stats_path, before.trim());
    out
}

/// The kernel's event classes, in the order of its counters.
const CLASSES: [&str; 4] = ["process", "file", "network", "other"];

/// Kernel counters read from Harrier's /metrics.
#[derive(Debug, Clone, Copy, Default)]
struct KernelCounters {
    sent: [u64; 4],
    dropped: [u64; 4],
    prefiltered: u64,
    /// Records submitted as urgent and the kernel's wake-ups of the reader (`None`: a build
    /// without these counters).
    urgent: Option<u64>,
    wakeups: Option<u64>,
}

/// "; N wake-ups/s, M urgent records/s" between two counter readings `secs` apart.
fn wake_rates(a: &Option<KernelCounters>, b: &Option<KernelCounters>, secs: f64) -> String {
    let (Some(a), Some(b)) = (a, b) else { return String::new() };
    match (a.wakeups, b.wakeups, a.urgent, b.urgent) {
        (Some(w0), Some(w1), Some(u0), Some(u1)) => format!(
            "; kernel wake-ups of Harrier {} ({:.0}/s), urgent records {} ({:.0}/s)",
            w1.saturating_sub(w0),
            w1.saturating_sub(w0) as f64 / secs,
            u1.saturating_sub(u0),
            u1.saturating_sub(u0) as f64 / secs
        ),
        _ => String::new(),
    }
}

/// What the generator offers: `Realistic` cycles through an open/close of a file, a UDP
/// socket+connect+close and a no-op setresuid (≈ 2 µs of generator CPU per record, so on 2 vCPUs
/// it cannot offer much more than half a million records/s); `Light` makes records from the
/// cheapest syscalls of the same three classes (a dup+close of a descriptor the thread holds, a
/// re-connect of the thread's UDP socket, a no-op setresuid: ≈ 0.4 µs each), so the pipeline
/// behind the ring, not the generator, is what a step can saturate.
#[derive(Clone, Copy, PartialEq)]
enum Mix {
    Realistic,
    Light,
}

/// What a generator thread holds: the file to open, and for the light mix a descriptor to dup
/// and a UDP socket to re-connect (made once per thread; their own records are not counted).
struct GenCtx {
    path: std::ffi::CString,
    base_fd: i32,
    udp_fd: i32,
    sa: libc::sockaddr_in,
}

impl GenCtx {
    fn new(target: &Path, mix: Mix) -> GenCtx {
        let path = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).unwrap_or_default();
        // SAFETY: a zeroed sockaddr_in is a valid value
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_port = 9u16.to_be();
        sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let (mut base_fd, mut udp_fd) = (-1, -1);
        if mix == Mix::Light {
            // SAFETY: plain syscalls on a valid C string; the fds are closed in Drop
            unsafe {
                base_fd = libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                udp_fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            }
        }
        GenCtx { path, base_fd, udp_fd, sa }
    }

    fn connect(&self, fd: i32) {
        // SAFETY: a valid sockaddr_in on the stack of self and its size
        unsafe {
            libc::connect(
                fd,
                &self.sa as *const libc::sockaddr_in as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            );
        }
    }
}

impl Drop for GenCtx {
    fn drop(&mut self) {
        for fd in [self.base_fd, self.udp_fd] {
            if fd >= 0 {
                // SAFETY: our own descriptors
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// One generator unit of the given kind (raw syscalls, no allocation); adds the records it
/// makes the probe submit to `made`, by kernel class (see `CLASSES`).
fn gen_unit(kind: usize, mix: Mix, g: &GenCtx, made: &mut [u64; 4]) {
    // SAFETY: plain syscalls on a valid C string and our own fds
    unsafe {
        match (kind % 3, mix) {
            (0, Mix::Realistic) => {
                // file: openat (watched) + close (state)
                let fd = libc::openat(libc::AT_FDCWD, g.path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                libc::close(fd);
                made[1] += 2;
            }
            (0, Mix::Light) => {
                // file: dup (state) + close (state) of a descriptor this thread holds
                let fd = libc::dup(g.base_fd);
                libc::close(fd);
                made[1] += 2;
            }
            (1, Mix::Realistic) => {
                // network: socket (state) + connect (watched) of a UDP socket, then close (file)
                let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                g.connect(fd);
                libc::close(fd);
                made[2] += 2;
                made[1] += 1;
            }
            (1, Mix::Light) => {
                // network: connect (watched) of the thread's UDP socket, again
                g.connect(g.udp_fd);
                made[2] += 1;
            }
            _ => {
                // credentials: a no-op setresuid (state; process class), the raw syscall: glibc's
                // wrapper makes every thread of a multithreaded process repeat it (setxid)
                libc::syscall(libc::SYS_setresuid, u32::MAX, u32::MAX, u32::MAX);
                made[0] += 1;
            }
        }
    }
}

/// Run `threads` generator threads for `secs`, together offering `rate` records/s (0: as fast
/// as they can), each cycling through the file, network and credential units of `mix`. Returns
/// the records offered by class and the seconds it took.
fn generate(threads: usize, rate: u64, secs: f64, target: &Path, mix: Mix) -> ([u64; 4], f64) {
    let per = rate as f64 / threads as f64;
    let t0 = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let target = target.to_path_buf();
            std::thread::spawn(move || {
                let g = GenCtx::new(&target, mix);
                let start = Instant::now();
                let mut made = [0u64; 4];
                let mut k = t;
                while start.elapsed().as_secs_f64() < secs {
                    if rate == 0 {
                        for _ in 0..64 {
                            gen_unit(k, mix, &g, &mut made);
                            k += 1;
                        }
                        continue;
                    }
                    let due = (start.elapsed().as_secs_f64() * per) as u64;
                    while made.iter().sum::<u64>() < due {
                        gen_unit(k, mix, &g, &mut made);
                        k += 1;
                    }
                    // ahead of the schedule: give the CPU away (spinning here would take it
                    // from Harrier on a small machine) for about 64 units' worth
                    std::thread::sleep(Duration::from_secs_f64((64.0 / per).min(0.001)));
                }
                made
            })
        })
        .collect();
    let mut total = [0u64; 4];
    for h in hs {
        if let Ok(m) = h.join() {
            for (t, v) in total.iter_mut().zip(m) {
                *t += v;
            }
        }
    }
    (total, t0.elapsed().as_secs_f64())
}

/// The drop curve: generator steps at rising offered rates, then one unpaced; per step and
/// class the records/s offered, submitted by the kernel (seen) and dropped, from Harrier's
/// /metrics. Returns the highest offered rate with no drop.
fn drop_curve(h: &Harrier, threads: usize, target: &Path, mix: Mix) -> f64 {
    let secs = 2.0;
    let (what, rates): (&str, &[u64]) = match mix {
        Mix::Realistic => (
            "file: openat+close, network: socket+connect+close UDP, credentials: setresuid",
            &[100_000, 200_000, 400_000, 700_000, 1_000_000, 1_500_000, 0],
        ),
        Mix::Light => (
            "light: file: dup+close, network: re-connect of a UDP socket, credentials: setresuid",
            &[250_000, 500_000, 750_000, 1_000_000, 1_250_000, 1_500_000, 2_000_000, 0],
        ),
    };
    println!(
        "drop curve: {threads} generator threads ({what}), {secs:.0} s per step; records/s offered / seen by the kernel / dropped, by class"
    );
    let mut best = 0f64;
    let mut saturated = false;
    for &rate in rates {
        if saturated && rate > 0 {
            continue;
        }
        // settle: let Harrier drain and its once-a-second metrics catch up
        std::thread::sleep(Duration::from_millis(2200));
        let Some(k0) = h.kernel_counters() else {
            println!("  (no /metrics from Harrier: cannot measure)");
            return best;
        };
        let (h0, g0) = (h.cpu_ticks(), self_cpu_ticks());
        let (made, el) = generate(threads, rate, secs, target, mix);
        let g1 = self_cpu_ticks();
        std::thread::sleep(Duration::from_millis(2200));
        let Some(k1) = h.kernel_counters() else { return best };
        // Harrier's CPU over the step and its drain afterwards, per second of generation; the
        // generator's (this process) during the step: which side is the bound
        let h1 = h.cpu_ticks();
        let tck = clock_ticks_per_sec();
        let cpus = format!(
            "; CPU (% of a core): Harrier {:.0}, generator {:.0}",
            h1.saturating_sub(h0) as f64 / tck / el * 100.0,
            g1.saturating_sub(g0) as f64 / tck / el * 100.0
        );
        let offered: u64 = made.iter().sum();
        let dropped: u64 = (0..4).map(|i| k1.dropped[i] - k0.dropped[i]).sum();
        let mut parts = Vec::new();
        for (i, c) in CLASSES.iter().enumerate() {
            if made[i] == 0 && k1.dropped[i] == k0.dropped[i] {
                continue;
            }
            parts.push(format!(
                "{c} {:.0}/{:.0}/{:.0}",
                made[i] as f64 / el,
                (k1.sent[i] - k0.sent[i]) as f64 / el,
                (k1.dropped[i] - k0.dropped[i]) as f64 / el
            ));
        }
        let what = if rate == 0 { "unpaced".to_string() } else { format!("target {rate}/s") };
        println!(
            "  {what:>16}: offered {:>9.0}/s, dropped {:>8.0}/s ({:.2}%); {}{cpus} {}",
            offered as f64 / el,
            dropped as f64 / el,
            dropped as f64 * 100.0 / (offered as f64).max(1.0),
            parts.join(", "),
            load()
        );
        if dropped == 0 && offered as f64 / el > best {
            best = offered as f64 / el;
        }
        if rate > 0 && (offered as f64 / el) < rate as f64 * 0.8 {
            // the generator cannot go faster here: the unpaced step shows its ceiling
            saturated = true;
        }
    }
    best
}

/// A scorer model for the profile part: `harrier profile train` on this repository's attack
/// captures (crates/cli/tests/captures, the default rules' hits are the positives) and, as normal
/// activity, the reference captures and a capture of this machine while the bench's cargo build
/// and tar | gzip run once (so the model has seen what it is then asked to score).
fn train_scorer(tmp: &Path, krate: &Path, tree: &Path) -> Option<PathBuf> {
    let caps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
    let mut attack: Vec<PathBuf> = std::fs::read_dir(&caps)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".scap.gz"))
        .collect();
    attack.sort();
    let mut benign: Vec<PathBuf> = std::fs::read_dir(rules_dir().join("../scap"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "scap"))
        .collect();
    let normal = tmp.join("normal.scap");
    let mut cap = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .arg("capture")
        .arg("-w")
        .arg(&normal)
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_secs(2));
    let _ = cargo_build(krate);
    let _ = tar_gzip(tree);
    let _ = Command::new("kill").arg("-INT").arg(cap.id().to_string()).status();
    let _ = cap.wait();
    benign.push(normal);
    let model = tmp.join("scorer.json");
    let out = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(["profile", "train", "-o"])
        .arg(&model)
        .arg("--attack")
        .args(&attack)
        .arg("--benign")
        .args(&benign)
        .output()
        .ok()?;
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        eprintln!("profile train failed: {said}");
        return None;
    }
    println!("  scorer model: {}", said.trim().trim_start_matches("harrier profile: "));
    Some(model)
}

/// The profile stage's cost to live detection: the same workloads with Harrier attached, the
/// stage off, on (profiles only) and on with the learned scorer, alternating; best of `rounds`
/// each, and Harrier's CPU over the workloads.
fn profile_stage_cost(
    rounds: usize,
    rule_file: &Path,
    tmp: &Path,
    loop_file: &Path,
    n_loop: u64,
    krate: &Path,
    tree: &Path,
) {
    println!("profile stage cost (Harrier attached, official rules; best of {rounds} alternating rounds):");
    let pfile = tmp.join("profiles.json");
    let on = vec![
        "profile.enabled=true".to_string(),
        format!("profile.file={}", pfile.display()),
        "profile.learn=1m".to_string(),
    ];
    let mut variants = vec![("off", Vec::new()), ("profiles", on.clone())];
    if let Some(model) = train_scorer(tmp, krate, tree) {
        let mut scored = on.clone();
        scored.push(format!("profile.scorer.model={}", model.display()));
        variants.push(("profiles+scorer", scored));
    }
    // per variant: (loop, cargo, tar) and Harrier's cpu ticks
    let mut best = vec![[f64::MAX; 3]; variants.len()];
    let mut ticks = vec![u64::MAX; variants.len()];
    let mut stage_lines = vec![String::new(); variants.len()];
    for round in 0..rounds {
        for (i, (name, args)) in variants.iter().enumerate() {
            eprintln!("profile stage {name}: round {}/{rounds}", round + 1);
            let Some(h) = Harrier::start_full(rule_file, true, args) else { return };
            std::thread::sleep(Duration::from_millis(300));
            let t0 = h.cpu_ticks();
            let l = open_close_loop(n_loop, loop_file).as_secs_f64();
            let c = cargo_build(krate).map(|d| d.as_secs_f64()).unwrap_or(f64::MAX);
            let t = tar_gzip(tree).map(|d| d.as_secs_f64()).unwrap_or(f64::MAX);
            ticks[i] = ticks[i].min(h.cpu_ticks().saturating_sub(t0));
            for (b, v) in best[i].iter_mut().zip([l, c, t]) {
                *b = b.min(v);
            }
            let log = h.stop_log();
            stage_lines[i] = log.lines().find(|l| l.contains("profile stage:")).unwrap_or("").to_string();
        }
    }
    let tck = clock_ticks_per_sec();
    let pctd = |a: f64, b: f64| (b / a - 1.0) * 100.0;
    let others = |f: &dyn Fn(usize) -> f64, unit: &str| {
        (1..variants.len())
            .map(|i| format!("{} {:.2}{unit} ({:+.1}%)", variants[i].0, f(i), pctd(f(0), f(i))))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ns = |i: usize| best[i][0] * 1e9 / n_loop as f64;
    println!("  open/close loop: off {:.0} ns/iter, {}", ns(0), others(&ns, " ns/iter"));
    let cargo = |i: usize| best[i][1];
    println!("  cargo build: off {:.2} s, {}", cargo(0), others(&cargo, " s"));
    let tar = |i: usize| best[i][2];
    println!("  tar | gzip: off {:.2} s, {}", tar(0), others(&tar, " s"));
    let cpu = |i: usize| ticks[i] as f64 / tck;
    println!(
        "  Harrier CPU over the three workloads: off {:.2} s, {} {}",
        cpu(0),
        others(&cpu, " s"),
        load()
    );
    for (i, line) in stage_lines.iter().enumerate().skip(1) {
        println!("  last run, {}: {}", variants[i].0, line.trim());
    }
}

fn main() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        child_main(&mode);
        return;
    }
    let rounds = env_num("HARRIER_LIVE_ROUNDS", 3).max(1);
    let lat_n = env_num("HARRIER_LIVE_LAT_N", 200);
    let up = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("live benchmark (harrier run + official Falco rules); machine load average: {}", up.trim());
    println!("  binary under test: {}", harrier_bin().display());
    println!("  figures only, no assertions: this machine is shared and noisy; best of {rounds} alternating rounds");

    let tmp = std::env::temp_dir().join(format!("hbench-live-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&tmp);
    let tag = format!("hbl{}", std::process::id() % 1_000_000);
    // The latency child: a uniquely named copy of this binary.
    let lat_bin = tmp.join(&tag);
    if let Ok(me) = std::env::current_exe() {
        let _ = std::fs::copy(me, &lat_bin);
    }
    let lat_dir = tmp.join("lat");
    let _ = std::fs::create_dir_all(&lat_dir);
    for i in 0..lat_n {
        let _ = std::fs::write(lat_dir.join(format!("f{i}")), b"x");
    }
    let rule_file = tmp.join("bench_rule.yaml");
    let _ = std::fs::write(
        &rule_file,
        format!(
            "- rule: Harrier live bench read\n  desc: the live benchmark's latency probe\n  \
             condition: evt.type in (open, openat, openat2) and evt.dir=< and proc.name={tag} and fd.name startswith {}/\n  \
             output: \"bench read (file=%fd.name proc=%proc.name)\"\n  priority: WARNING\n\
             - rule: Harrier live bench urgent\n  desc: the live benchmark's latency probe for a CRITICAL rule\n  \
             condition: evt.type in (mkdir, mkdirat) and evt.dir=< and proc.name={tag}\n  \
             output: \"bench urgent (path=%evt.arg.path proc=%proc.name)\"\n  priority: CRITICAL\n",
            lat_dir.display()
        ),
    );
    let loop_file = tmp.join("loop-target");
    let _ = std::fs::write(&loop_file, b"x");
    // The generator's file is under the bench rule's directory, so its opens reach the rules (a
    // read-only open of a path no rule can match, like the loop's, is dropped in the kernel).
    let gen_file = lat_dir.join("gen-target");
    let _ = std::fs::write(&gen_file, b"x");
    let krate = make_crate(&tmp);
    // the workspace's crates/ (sources only)
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let n_loop: u64 = 200_000;

    // HARRIER_LIVE_ONLY: a comma-separated list of parts (default: all but `profile`).
    let only: Option<Vec<String>> = std::env::var("HARRIER_LIVE_ONLY")
        .ok()
        .map(|v| v.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect());
    let want = |part: &str| only.as_ref().map_or(part != "profile", |v| v.iter().any(|p| p == part));
    let cargo_too = env_num("HARRIER_LIVE_CARGO", 1) != 0;

    // Warm-ups (page cache, cargo's own state).
    open_close_loop(n_loop / 10, &loop_file);
    if want("workloads") || want("profile") {
        if cargo_too {
            let _ = cargo_build(&krate);
        }
        let _ = tar_gzip(&tree);
    }
    if want("profile") {
        profile_stage_cost(rounds, &rule_file, &tmp, &loop_file, n_loop, &krate, &tree);
    }
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let rest = ["workloads", "breakdown", "latency", "costs", "curve", "idle"];
    if !rest.iter().any(|p| want(p)) {
        let _ = std::fs::remove_dir_all(&tmp);
        return;
    }

    let mut last = None;
    if want("workloads") {
        let (mut l0, mut l1) = (Duration::MAX, Duration::MAX);
        // the same loop on CPU 0 with Harrier on the other CPUs: no CPU sharing between them
        let all_cpus = format!("0-{}", ncpu.saturating_sub(1));
        let others = format!("1-{}", ncpu.saturating_sub(1));
        let (mut p0, mut p1) = (Duration::MAX, Duration::MAX);
        // the same loop in a separate process (not this bench's, which holds Harrier's pipes)
        let (mut s0, mut s1) = (Duration::MAX, Duration::MAX);
        let (mut c0, mut c1) = (Duration::MAX, Duration::MAX);
        let (mut t0, mut t1) = (Duration::MAX, Duration::MAX);
        let (mut lf, mut tf) = (Duration::MAX, Duration::MAX);
        let mut lb = Duration::MAX;
        let mut loads = Vec::new();
        for round in 0..rounds {
            eprintln!("round {}/{rounds}", round + 1);
            // the loop is short (under a second): several runs a round, so the best of each side
            // is less a matter of which runs a neighbour's burst happened to hit
            for _ in 0..LOOP_RUNS {
                l0 = l0.min(open_close_loop(n_loop, &loop_file));
                s0 = s0.min(child_loop(n_loop, &loop_file).unwrap_or(Duration::MAX));
            }
            if ncpu >= 2 && pin(std::process::id(), "0", false) {
                p0 = p0.min(open_close_loop(n_loop, &loop_file));
                pin(std::process::id(), &all_cpus, false);
            }
            if cargo_too {
                c0 = c0.min(cargo_build(&krate).unwrap_or(Duration::MAX));
            }
            t0 = t0.min(tar_gzip(&tree).unwrap_or(Duration::MAX));
            // the floor: an empty program alone on the probe's tracepoint
            match harrier_probe::Floor::attach() {
                Ok(f) => {
                    lf = lf.min(open_close_loop(n_loop, &loop_file));
                    tf = tf.min(tar_gzip(&tree).unwrap_or(Duration::MAX));
                    drop(f);
                }
                Err(e) if round == 0 => eprintln!("floor program not attached: {e}"),
                Err(_) => {}
            }
            // the bound: a header-only record per open/close, drained, nothing else
            match harrier_probe::Bare::attach() {
                Ok(b) => {
                    lb = lb.min(open_close_loop(n_loop, &loop_file));
                    drop(b);
                }
                Err(e) if round == 0 => eprintln!("bare-record program not attached: {e}"),
                Err(_) => {}
            }
            let Some(h) = Harrier::start(&rule_file) else { return };
            std::thread::sleep(Duration::from_millis(300));
            for _ in 0..LOOP_RUNS {
                l1 = l1.min(open_close_loop(n_loop, &loop_file));
                s1 = s1.min(child_loop(n_loop, &loop_file).unwrap_or(Duration::MAX));
            }
            if ncpu >= 2 && pin(std::process::id(), "0", false) && pin(h.pid(), &others, true) {
                p1 = p1.min(open_close_loop(n_loop, &loop_file));
                pin(h.pid(), &all_cpus, true);
            }
            pin(std::process::id(), &all_cpus, false);
            if cargo_too {
                c1 = c1.min(cargo_build(&krate).unwrap_or(Duration::MAX));
            }
            t1 = t1.min(tar_gzip(&tree).unwrap_or(Duration::MAX));
            loads.push(load());
            if round + 1 == rounds {
                last = Some(h);
            } else {
                h.stop();
            }
        }
        let loads = loads.join(" ");
        let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
        println!(
            "open/close loop ({n_loop} iterations, best of {LOOP_RUNS} runs a round): detached {:.0} ns/iter, attached {:.0} ns/iter, slowdown {:.2}x (goal <= 1.3x) {loads}",
            l0.as_nanos() as f64 / n_loop as f64,
            l1.as_nanos() as f64 / n_loop as f64,
            ratio(l0, l1)
        );
        for (what, a, b) in [
            ("same loop in a separate process (a fresh one each time)", s0, s1),
            ("same loop on CPU 0, Harrier pinned to the other CPUs (no CPU sharing)", p0, p1),
        ] {
            if a < Duration::MAX && b < Duration::MAX {
                println!(
                    "  {what}: detached {:.0}, attached {:.0} ns/iter, slowdown {:.2}x",
                    a.as_nanos() as f64 / n_loop as f64,
                    b.as_nanos() as f64 / n_loop as f64,
                    ratio(a, b)
                );
            }
        }
        if lf < Duration::MAX {
            println!(
                "  floor, an empty program alone on sys_exit (what any probe there costs): loop {:.0} ns/iter, slowdown {:.2}x; tar | gzip {:+.1}%",
                lf.as_nanos() as f64 / n_loop as f64,
                ratio(l0, lf),
                (ratio(t0, tf) - 1.0) * 100.0
            );
        }
        if lb < Duration::MAX {
            println!(
                "  bound, a header-only record per open/close (timestamp, ids, arguments; no path, no file item) and nothing else: loop {:.0} ns/iter, slowdown {:.2}x",
                lb.as_nanos() as f64 / n_loop as f64,
                ratio(l0, lb)
            );
        }
        if cargo_too {
            println!(
                "cargo build (dependency-free crate, from clean): detached {:.2} s, attached {:.2} s, overhead {:+.1}% (goal <= 3%) {loads}",
                c0.as_secs_f64(),
                c1.as_secs_f64(),
                (ratio(c0, c1) - 1.0) * 100.0
            );
        }
        println!(
            "tar | gzip of the source tree ({TAR_REPEAT} runs): detached {:.2} s, attached {:.2} s, overhead {:+.1}% (goal <= 3%) {loads}",
            t0.as_secs_f64(),
            t1.as_secs_f64(),
            (ratio(t0, t1) - 1.0) * 100.0
        );
    }
    let h = match last {
        Some(h) => h,
        None => match Harrier::start(&rule_file) {
            Some(h) => {
                std::thread::sleep(Duration::from_millis(300));
                h
            }
            None => return,
        },
    };

    if want("breakdown") {
        // Where the loop's slowdown comes from: the probe's own time in the kernel per syscall
        // (kernel.bpf_stats_enabled counts it; the counting itself adds two clock reads per
        // run), and Harrier's user-space CPU while the loop runs, which competes with the loop
        // when both share a CPU.
        eprintln!("slowdown breakdown…");
        let stats_path = "/proc/sys/kernel/bpf_stats_enabled";
        let stats_before = std::fs::read_to_string(stats_path).unwrap_or_default();
        if std::fs::write(stats_path, "1").is_ok() {
            let (rt0, rc0) = harrier_probe::prog_run_stats(h.pid());
            let cpu0 = h.cpu_ticks();
            // /metrics is a once-a-second snapshot: wait for one on each side of the loop
            std::thread::sleep(Duration::from_millis(1100));
            let k0 = h.kernel_counters();
            let d = open_close_loop(n_loop, &loop_file);
            std::thread::sleep(Duration::from_millis(1100));
            let k1 = h.kernel_counters();
            let (rt1, rc1) = harrier_probe::prog_run_stats(h.pid());
            let cpu1 = h.cpu_ticks();
            let _ = std::fs::write(stats_path, stats_before.trim());
            let runs = rc1.saturating_sub(rc0).max(1);
            let tck = clock_ticks_per_sec();
            println!(
                "  probe in the kernel: {:.0} ns per program run ({} runs, ~2 per loop iteration: {:.0} ns per iteration); Harrier user space: {:.0}% of a core during the loop{} {}",
                rt1.saturating_sub(rt0) as f64 / runs as f64,
                runs,
                rt1.saturating_sub(rt0) as f64 / n_loop as f64,
                (cpu1 - cpu0) as f64 / tck / d.as_secs_f64() * 100.0,
                wake_rates(&k0, &k1, d.as_secs_f64()),
                load()
            );
        }
    }
    if want("latency") {
        // Alert latency: a WARNING rule on openat (ordinary batching) and a CRITICAL rule on
        // mkdir (urgent, as every rule is when response rules are loaded: the probe wakes the
        // reader at once).
        eprintln!("alert latency…");
        let mut lat = Vec::new();
        let mut lat_u = Vec::new();
        if lat_bin.exists() {
            lat = measure_latency(&h, &lat_bin, &lat_dir, lat_n, "open", "Harrier live bench read");
            let udir = tmp.join("urgent");
            let _ = std::fs::create_dir_all(&udir);
            lat_u = measure_latency(&h, &lat_bin, &udir, lat_n, "mkdir", "Harrier live bench urgent");
        }
        for (what, v, goal) in [
            ("WARNING rule on openat (batched)", &mut lat, 10),
            ("CRITICAL rule on mkdir (urgent; response-eligible)", &mut lat_u, 5),
        ] {
            let n_lat = v.len();
            println!(
                "alert latency, syscall to stdout line, {what} ({n_lat} of {lat_n} alerts seen): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (goal p99 <= {goal} ms) {}",
                pct(v, 0.5),
                pct(v, 0.99),
                pct(v, 1.0),
                load()
            );
        }
    }

    let costs_official = if want("costs") {
        eprintln!("kernel cost per event class…");
        class_costs(&h, &loop_file)
    } else {
        Vec::new()
    };

    if want("curve") {
        eprintln!("drain-rate ramp…");
        let threads = env_num("HARRIER_LIVE_GEN_THREADS", ncpu.max(2)).max(1);
        for (mix, name) in [(Mix::Realistic, "realistic"), (Mix::Light, "light")] {
            let best = drop_curve(&h, threads, &gen_file, mix);
            println!(
                "highest offered rate drained with zero drops, {name} mix: {best:.0} records/s (goal >= 1 M/s; this generator's, other processes' events come on top) {}",
                load()
            );
        }
    }
    let hwm = h.status_kib("VmHWM:");
    let rss = h.status_kib("VmRSS:");
    println!(
        "Harrier resident memory: {:.1} MiB; peak since start (VmHWM, start-up included): {:.1} MiB (target <= 64 MiB; the ring buffer shared with the kernel counts in it) {}",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        load()
    );

    if want("idle") {
        // Idle CPU: this bench does nothing; other processes' syscalls still reach Harrier.
        std::thread::sleep(Duration::from_secs(2));
        let tck = clock_ticks_per_sec();
        let k0 = h.kernel_counters();
        let c_a = h.cpu_ticks();
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(10));
        let c_b = h.cpu_ticks();
        let k1 = h.kernel_counters();
        let el = t.elapsed().as_secs_f64();
        let cpu = (c_b - c_a) as f64 / tck / el * 100.0;
        let wakes = wake_rates(&k0, &k1, el);
        let bg = match (k0, k1) {
            (Some(a), Some(b)) => format!(
                "; meanwhile other processes' records: {:.0}/s reached the ring, {:.0}/s dropped by the pre-filter",
                (b.sent.iter().sum::<u64>() - a.sent.iter().sum::<u64>()) as f64 / el,
                (b.prefiltered - a.prefiltered) as f64 / el
            ),
            _ => String::new(),
        };
        println!(
            "Harrier CPU with this bench idle, over {el:.0} s: {cpu:.2}% of a core (goal < 0.5%){bg}{wakes} {}",
            load()
        );
    }
    let summary = h.stop();
    println!("harrier: {}", summary.trim_start_matches("harrier: "));

    if want("costs") {
        // The same class loops with only this bench's rules loaded: what the official rules cost.
        let costs_own = match Harrier::start_with(&rule_file, false) {
            Some(h2) => {
                std::thread::sleep(Duration::from_millis(300));
                let c = class_costs(&h2, &loop_file);
                h2.stop();
                c
            }
            None => Vec::new(),
        };
        println!(
            "probe kernel time per event class (ns per program run / ns per loop iteration; all programs, all CPUs) {}:",
            load()
        );
        println!("  {:<44} {:>22} {:>22}", "class", "official rules", "bench rules only");
        for (i, (name, run, iter)) in costs_official.iter().enumerate() {
            let own = costs_own.get(i).map_or("-".to_string(), |c| format!("{:.0} / {:.0}", c.1, c.2));
            println!("  {name:<44} {:>22} {own:>22}", format!("{run:.0} / {iter:.0}"));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
