//! Selection throughput in process (what `harrier replay FILE --filter F -p %evt.num` does, without
//! process start-up and output): `cargo bench -p harrier-pipeline --bench select [-- REPEATS]`.
//!
//! Builds a capture by repeating the event blocks of the reference container capture, then times,
//! in the same run: read only; read + normalise + state (trivial filter); read + state + the
//! complex filter of `crates/cli/benches/replay.rs` with `%evt.num` rendered for the selected
//! events; and `sysdig -r` with the same filter when it is installed. Best of 5 wall and CPU times (CPU: this
//! thread's for Harrier, the children's for sysdig; steadier on a loaded machine); nothing asserted.

use harrier_engine::{compile_condition, OutputTemplate, Source};
use harrier_pipeline::{filter_source, EventSource, Flow, SourceError};
use std::io::Write;
use std::time::Instant;

const FILTER: &str = "(evt.type in (open, openat, execve, connect, accept, sendto) and \
    (proc.name in (bash, sh, zsh, dash, ksh, nc, ncat, socat, python, perl, ruby, nginx, curl, wget, apt) \
    or fd.name startswith /etc/ or fd.name startswith /root/.ssh or fd.name startswith /usr/bin \
    or proc.cmdline contains base64 or proc.cmdline contains /dev/tcp \
    or proc.pname in (java, node, httpd, php-fpm) or container.image startswith nginx)) \
    or (evt.type = setuid and user.name != root) \
    or (fd.sip in (10.0.0.1, 192.168.1.1) and fd.sport in (22, 4444, 1337))";

/// Events as recorded, numbered as sysdig 0.29 numbers them (as `harrier replay --filter` reads).
struct Recorded(harrier_scap::Reader);

impl EventSource for Recorded {
    fn describe(&self) -> String {
        "bench capture".into()
    }
    fn seed(&mut self, state: &mut harrier_state::State) {
        state.load_scap_header(self.0.header());
    }
    fn run(&mut self, f: &mut dyn FnMut(u64, &harrier_event::Event<'_>) -> Flow) -> Result<(), SourceError> {
        let mut num = 0;
        self.0
            .for_each_event(|ev| {
                let counted = harrier_scap::sysdig029_counts(ev.etype());
                num += counted as u64;
                f(if counted { num } else { 0 }, &ev) != Flow::Stop
            })
            .map_err(|e| SourceError(e.to_string()))
    }
}

/// Best of 5 wall times and best of 5 CPU times (read with `cpu`, in ns): on a shared, loaded
/// machine the CPU time is the steadier figure of the work done.
fn best(label: &str, events: u64, cpu: fn() -> u64, mut f: impl FnMut() -> u64) -> (f64, f64) {
    let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
    let mut sel = 0;
    for _ in 0..5 {
        let (t, c) = (Instant::now(), cpu());
        sel = f();
        best = best.min(t.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu().saturating_sub(c) as f64 / 1e9);
    }
    println!(
        "{label:<44} {best:>7.3} s  {:>6.2} M events/s  cpu {best_cpu:>6.3} s  ({sel} selected)",
        events as f64 / best / 1e6
    );
    (best, best_cpu)
}

/// CPU time of this thread (ns on the CPU, from the scheduler's statistics).
fn thread_cpu() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// CPU time of the waited-for children (user + system, clock ticks of 10 ms, in ns).
fn children_cpu() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
    (f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0)) * 10_000_000
}

fn main() {
    let repeats: usize = std::env::args().filter_map(|a| a.parse().ok()).next().unwrap_or(260);
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference/scap/run_as_user_0_container.scap");
    let mut raw = std::fs::read(path).expect("reference capture (../shared/reference)");
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut plain)
            .expect("gunzip the reference capture");
        raw = plain;
    }
    let (big, events) = harrier_scap::repeat::repeat_events(&raw, repeats);
    let cap = std::env::temp_dir().join(format!("harrier-select-bench-{}.scap", std::process::id()));
    std::fs::write(&cap, &big).expect("write the capture");
    drop(big);
    println!("capture: {events} events ({repeats}× run_as_user_0_container.scap); load: {}", load());

    let (filter, _) = compile_condition(Source::Syscall, &harrier_condition::parse(FILTER).expect("filter"))
        .expect("compile");
    let tmpl = OutputTemplate::compile(Source::Syscall, "%evt.num").expect("template");
    // Profiling aid: `HARRIER_SELECT_ONLY=filter` runs only the filter case, N times (under `perf`).
    if let Ok(only) = std::env::var("HARRIER_SELECT_ONLY") {
        let times: usize =
            only.strip_prefix("filter").and_then(|n| n.trim_start_matches(':').parse().ok()).unwrap_or(10);
        let mut n = 0;
        for _ in 0..times {
            let mut src = Recorded(harrier_scap::Reader::open(&cap).expect("open"));
            let mut out = std::io::BufWriter::new(std::io::sink());
            filter_source(&mut src, Some(&filter), &mut |acc| {
                n += 1;
                let _ = writeln!(out, "{}", tmpl.render(acc));
            })
            .expect("run");
        }
        println!("{n} selected over {times} runs");
        let _ = std::fs::remove_file(&cap);
        return;
    }
    best("read only", events, thread_cpu, || {
        let mut r = harrier_scap::Reader::open(&cap).expect("open");
        let mut n = 0;
        while r.next_event().expect("read").is_some() {
            n += 1;
        }
        n
    });
    best("read + normalise + state (no filter)", events, thread_cpu, || {
        let mut src = Recorded(harrier_scap::Reader::open(&cap).expect("open"));
        let mut n = 0;
        filter_source(&mut src, None, &mut |_| n += 1).expect("run");
        n
    });
    let h = best("read + state + filter + render %evt.num", events, thread_cpu, || {
        let mut src = Recorded(harrier_scap::Reader::open(&cap).expect("open"));
        let mut out = std::io::BufWriter::new(std::io::sink());
        let mut n = 0;
        filter_source(&mut src, Some(&filter), &mut |acc| {
            n += 1;
            let _ = writeln!(out, "{}", tmpl.render(acc));
        })
        .expect("run");
        n
    });
    let peer =
        std::process::Command::new("sysdig").arg("--version").output().is_ok_and(|o| o.status.success());
    if peer {
        let s = best("sysdig -r -p %evt.num (same filter)", events, children_cpu, || {
            let o = std::process::Command::new("sysdig")
                .arg("-r")
                .arg(&cap)
                .args(["-p", "%evt.num", FILTER])
                .output()
                .expect("sysdig");
            o.stdout.iter().filter(|b| **b == b'\n').count() as u64
        });
        println!(
            "in-process selection vs sysdig: {:.2}× wall, {:.2}× cpu (load after: {})",
            s.0 / h.0,
            s.1 / h.1,
            load()
        );
    } else {
        println!("sysdig not installed (scripts/setup-tests.sh installs it): no peer figure");
    }
    let _ = std::fs::remove_file(&cap);
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
