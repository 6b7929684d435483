//! Replay throughput against the peer: `cargo bench -p harrier --bench replay [-- REPEATS]`.
//!
//! Builds a capture of more than a million events by repeating the event blocks of the reference
//! container capture, then, in the same run:
//! * Harrier: `harrier -r falco_rules.yaml -r falco-incubating_rules.yaml -r falco-sandbox_rules.yaml
//!   -o engine.kind=replay …` (the three official syscall files), wall time and peak RSS;
//! * the in-process hot loop (read → normalise → state → rules) on one core, with RSS sampled
//!   during the run to show memory stays flat;
//! * Debian's `sysdig -r` with a complex filter of the same kind the rules use (`in`,
//!   `startswith`, `contains`), output to /dev/null.
//!
//! * the same filter in both tools, as a user runs them: `harrier replay FILE --filter F -p
//!   %evt.num` and `sysdig -r FILE -p %evt.num F`, median of 5 alternating runs, with each one's
//!   peak RSS (GNU time's `%M`; 0 when `/usr/bin/time` is missing) and a check that both select the same number of events.
//!
//! Figures are printed; nothing is asserted (machines are shared and noisy). `HARRIER_REPLAY_BIN`
//! points the whole-binary figures at another `harrier` (an earlier build, for before/after).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Run a command, counting its stdout lines; its wall time in seconds, peak RSS (KiB) and lines.
///
/// The peak comes from GNU time (`/usr/bin/time -f %M`), which forks the command from its own small
/// process: a child forked straight from this bench would report the bench's own high-water mark
/// (Linux carries the forked copy's peak across exec into the child's `ru_maxrss`, and the bench
/// holds the capture in memory). Without GNU time the peak is 0 (not measured).
fn timed_rss(cmd: &mut Command) -> Option<(f64, u64, usize)> {
    use std::io::Read;
    let gnu_time = Path::new("/usr/bin/time");
    let peak_file = std::env::temp_dir().join(format!("harrier-bench-peak-{}", std::process::id()));
    let mut run = if gnu_time.exists() {
        let mut w = Command::new(gnu_time);
        w.args(["-f", "%M", "-o"]).arg(&peak_file).arg(cmd.get_program()).args(cmd.get_args());
        w
    } else {
        let mut w = Command::new(cmd.get_program());
        w.args(cmd.get_args());
        w
    };
    let t = Instant::now();
    let mut child = run.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().ok()?;
    let mut out = Vec::new();
    child.stdout.take()?.read_to_end(&mut out).ok()?;
    let ok = child.wait().ok()?.success();
    let el = t.elapsed().as_secs_f64();
    let peak = std::fs::read_to_string(&peak_file)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    let _ = std::fs::remove_file(&peak_file);
    ok.then(|| (el, peak, out.iter().filter(|b| **b == b'\n').count()))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Run a command with its output discarded; return its wall time in seconds.
fn timed(cmd: &mut Command) -> f64 {
    let t = Instant::now();
    let st = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("run");
    assert!(st.success(), "{cmd:?} failed");
    t.elapsed().as_secs_f64()
}

const SYSDIG_FILTER: &str = "(evt.type in (open, openat, execve, connect, accept, sendto) and \
    (proc.name in (bash, sh, zsh, dash, ksh, nc, ncat, socat, python, perl, ruby, nginx, curl, wget, apt) \
    or fd.name startswith /etc/ or fd.name startswith /root/.ssh or fd.name startswith /usr/bin \
    or proc.cmdline contains base64 or proc.cmdline contains /dev/tcp \
    or proc.pname in (java, node, httpd, php-fpm) or container.image startswith nginx)) \
    or (evt.type = setuid and user.name != root) \
    or (fd.sip in (10.0.0.1, 192.168.1.1) and fd.sport in (22, 4444, 1337))";

/// The binary under test: `HARRIER_REPLAY_BIN`, else the one built with this bench.
fn harrier_bin() -> PathBuf {
    std::env::var_os("HARRIER_REPLAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_harrier").into())
}

fn main() {
    let repeats: usize = std::env::args().filter_map(|a| a.parse().ok()).next().unwrap_or(260);
    let src_path = reference().join("scap/run_as_user_0_container.scap");
    let mut raw = Vec::new();
    {
        use std::io::Read;
        let f = std::fs::File::open(&src_path).expect("reference capture (../shared/reference)");
        let mut head = [0u8; 2];
        let mut f2 = std::fs::File::open(&src_path).unwrap();
        f2.read_exact(&mut head).unwrap();
        if head == [0x1f, 0x8b] {
            flate2::read::GzDecoder::new(f).read_to_end(&mut raw).unwrap();
        } else {
            std::io::BufReader::new(f).read_to_end(&mut raw).unwrap();
        }
    }
    let (big, events) = harrier_scap::repeat::repeat_events(&raw, repeats);
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("big.scap");
    std::fs::write(&cap, &big).unwrap();
    println!(
        "capture: {} events, {:.1} MB ({}× run_as_user_0_container.scap)",
        events,
        big.len() as f64 / 1e6,
        repeats
    );
    // Free the in-memory copies so the RSS figures below are Harrier's own.
    drop(big);
    drop(raw);

    let rules: Vec<PathBuf> = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
        .iter()
        .map(|f| reference().join("falco-rules").join(f))
        .collect();

    // 1. The binary, as a user runs it.
    let mut cmd = Command::new(harrier_bin());
    for r in &rules {
        cmd.arg("-r").arg(r);
    }
    cmd.args(["-o", "engine.kind=replay", "-o"]).arg(format!("engine.replay.capture_file={}", cap.display()));
    let mut best = f64::MAX;
    for _ in 0..3 {
        best = best.min(timed(&mut cmd));
    }
    println!(
        "harrier (binary, 3 official syscall rule files, incl. load):  {:>6.3} s  {:>5.2} M events/s",
        best,
        events as f64 / best / 1e6
    );

    // 2. In-process hot loop with memory sampling.
    let mut loader = harrier_rules::Loader::new(Default::default());
    let t = Instant::now();
    for r in &rules {
        loader.load_file(r);
    }
    let loaded = loader.finish(Some(&harrier_engine::Checker));
    let (rs, _) = harrier_engine::Ruleset::compile(&loaded.rules);
    println!(
        "load + compile 3 official syscall files:                       {:>6.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let rs = Arc::new(rs);
    let mut best = f64::MAX;
    let mut rss_samples = Vec::new();
    for _ in 0..3 {
        let mut src = harrier_pipeline::ScapSource::open(&cap, harrier_event::NormalizeMode::ExitOnly)
            .expect("open capture");
        let mut det = harrier_pipeline::Detector::new(rs.clone(), "bench", harrier_pipeline::Discard);
        let t = Instant::now();
        let mut n = 0u64;
        harrier_pipeline::EventSource::seed(&mut src, &mut det.state);
        harrier_pipeline::EventSource::run(&mut src, &mut |num, ev| {
            det.process(num, ev);
            n += 1;
            if n.is_multiple_of(200_000) {
                rss_samples.push(rss_kib());
            }
            harrier_pipeline::Flow::Continue
        })
        .unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "harrier (in-process hot loop, one core):                      {:>6.3} s  {:>5.2} M events/s (of the file's events)",
        best,
        events as f64 / best / 1e6
    );
    let (lo, hi) =
        (rss_samples.iter().min().copied().unwrap_or(0), rss_samples.iter().max().copied().unwrap_or(0));
    println!(
        "resident memory during the runs: {:.1}–{:.1} MiB (sampled every 200k events)",
        lo as f64 / 1024.0,
        hi as f64 / 1024.0
    );

    // 3. The peer.
    if Command::new("sysdig").arg("--version").stdout(Stdio::null()).status().is_ok() {
        let mut s = Command::new("sysdig");
        s.arg("-r").arg(&cap).args(["-p", "%evt.num", SYSDIG_FILTER]);
        let mut best_s = f64::MAX;
        for _ in 0..3 {
            best_s = best_s.min(timed(&mut s));
        }
        println!(
            "sysdig 0.29 -r with a complex filter:                          {:>6.3} s  {:>5.2} M events/s",
            best_s,
            events as f64 / best_s / 1e6
        );
        println!("harrier hot loop vs sysdig: {:.2}×", best_s / best);

        // 4. The same filter in both tools, as a user runs them.
        let mut h = Command::new(harrier_bin());
        h.arg("replay").arg(&cap).args(["--quiet", "--filter", SYSDIG_FILTER, "-p", "%evt.num"]);
        let (mut th, mut ts) = (Vec::new(), Vec::new());
        let (mut rh, mut rs_) = (0u64, 0u64);
        let (mut nh, mut ns) = (0usize, 0usize);
        for _ in 0..5 {
            if let Some((t, r, n)) = timed_rss(&mut h) {
                th.push(t);
                rh = rh.max(r);
                nh = n;
            }
            if let Some((t, r, n)) = timed_rss(&mut s) {
                ts.push(t);
                rs_ = rs_.max(r);
                ns = n;
            }
        }
        let (mh, ms) = (median(&mut th), median(&mut ts));
        println!(
            "same filter, whole binaries (median of {} runs): harrier replay --filter {:.3} s ({:.2} M events/s, peak RSS {:.1} MiB), sysdig -r {:.3} s (peak RSS {:.1} MiB): {:.2}× (goal 2×); selected {nh} vs {ns} events",
            th.len().min(ts.len()),
            mh,
            events as f64 / mh / 1e6,
            rh as f64 / 1024.0,
            ms,
            rs_ as f64 / 1024.0,
            ms / mh
        );
    } else {
        println!("sysdig not installed (scripts/setup-tests.sh installs it): no peer figure");
    }
}
