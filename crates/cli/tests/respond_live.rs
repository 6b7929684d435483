//! Response inside `harrier run` (root, live eBPF): a process in a loop reading a sensitive file
//! is killed by a response rule (the test prints the time from the syscall to the process's
//! death; the figure is measured, not asserted — see `cargo bench -p harrier-respond`), a
//! process named like a protected one is never touched even though a rule says so, and the
//! outcomes arrive as alerts of source `response` through the outputs.

mod common;
mod support;
use common::*;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{field, unique, Harrier};

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[test]
fn looping_reader_of_a_sensitive_file_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let u = unique();
    let secret = dir.path().join(format!("secret-{u}"));
    std::fs::write(&secret, "token\n").unwrap();
    // Distinct program names, so the rules only see this test's processes.
    let reader = dir.path().join(format!("rd{}", &u[u.len().saturating_sub(8)..]));
    let sshd = dir.path().join("sshd");
    for p in [&reader, &sshd] {
        std::fs::copy("/bin/bash", p).unwrap();
    }
    let reader_name = reader.file_name().unwrap().to_str().unwrap().to_string();
    let rules = write_rules(
        dir.path(),
        "detect.yaml",
        &format!(
            "- rule: Sensitive file read in a loop\n  desc: test\n  condition: evt.type in (open, openat, openat2) and fd.name = {s} and proc.name in ({r}, sshd)\n  output: \"%proc.name read %fd.name (pid=%proc.pid)\"\n  priority: CRITICAL\n",
            s = secret.display(),
            r = reader_name
        ),
    );
    let response = write_rules(
        dir.path(),
        "response.yaml",
        "- rule: Kill readers of secrets\n  match:\n    rules: [Sensitive file read in a loop]\n    priority: '>=Critical'\n  actions:\n    - action: Kill it\n      actionner: node:kill\n",
    );
    let config = write_rules(
        dir.path(),
        "harrier.yaml",
        &format!(
            "response:\n  rules_files: [{}]\n  deduplication:\n    time_window_seconds: 1\n",
            response.display()
        ),
    );
    let h = Harrier::start(&["-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()], &[]);
    // Let the start-up /proc scan finish (events meanwhile wait in the ring): steady state.
    std::thread::sleep(Duration::from_millis(1500));

    // bash reading the file itself (the redirection opens it in the same process), in a loop,
    // pausing 10 ms between reads on a FIFO nobody writes (no extra processes).
    let fifo = dir.path().join("pause");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let loop_cmd = format!(
        "exec 9<>{}; while :; do read -r l < {}; read -t 0.01 -u 9; done",
        fifo.display(),
        secret.display()
    );
    let victim = Command::new(&reader)
        .args(["-c", &loop_cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let guarded = Command::new(&sshd)
        .args(["-c", &loop_cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut kids = Kids(vec![victim, guarded]);
    let vpid = kids.0[0].id();

    // Wait for the victim's death (bounded: a test that fails must not hang).
    let t = Instant::now();
    let st = loop {
        if let Some(st) = kids.0[0].try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "the reader was not killed within 20 s");
        std::thread::sleep(Duration::from_micros(200));
    };
    let died_ns = now_ns();
    assert_eq!(st.signal(), Some(libc::SIGKILL), "the reader was killed: {st:?}");

    // The alert that caused it (the first of the victim's), and the outcome.
    // The sshd process's first outcome can arrive while the waits below read past it: keep it.
    let sshd_skips = std::cell::RefCell::new(Vec::new());
    let sshd_skip = |a: &serde_json::Value| {
        let hit = a["source"] == "response"
            && field(a, "proc.name") == "sshd"
            && field(a, "response.status") == "skipped";
        if hit {
            sshd_skips.borrow_mut().push(a.clone());
        }
        hit
    };
    let first = h
        .wait_alert(
            |a| {
                sshd_skip(a);
                a["rule"] == "Sensitive file read in a loop" && field(a, "proc.pid") == vpid
            },
            Duration::from_secs(10),
        )
        .expect("the detection alert");
    let outcome = h
        .wait_alert(
            |a| {
                sshd_skip(a);
                a["source"] == "response"
                    && field(a, "proc.pid") == vpid
                    && field(a, "response.status") == "done"
            },
            Duration::from_secs(10),
        )
        .expect("the response outcome alert");
    assert_eq!(field(&outcome, "response.actionner"), "node:kill");
    // The syscall of the alert the response acted on (its event time), to the death seen here.
    let syscall_ns = field(&outcome, "alert.time").as_u64().expect("alert.time");
    let first_ns = parse_rfc3339_ns(first["time"].as_str().unwrap());
    let acted_ns = parse_rfc3339_ns(outcome["time"].as_str().unwrap());
    println!(
        "syscall -> death: {:.3} ms (syscall -> action done {:.3} ms; first alert of the process {:.3} ms before that syscall; {})",
        died_ns.saturating_sub(syscall_ns) as f64 / 1e6,
        acted_ns.saturating_sub(syscall_ns) as f64 / 1e6,
        syscall_ns.saturating_sub(first_ns) as f64 / 1e6,
        field(&outcome, "response.detail")
    );

    // The process named sshd matched the same rule, and is never touched: its first outcome
    // (later ones are deduplicated) says why.
    if sshd_skips.borrow().is_empty() {
        h.wait_alert(sshd_skip, Duration::from_secs(10));
    }
    let skipped =
        sshd_skips.borrow().first().cloned().expect("an outcome saying the protected process was skipped");
    assert!(field(&skipped, "response.detail").as_str().unwrap().contains("protected"), "{skipped}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(kids.0[1].try_wait().unwrap().is_none(), "the protected process lives");
}

/// The test's processes, killed when the test ends (passing or not).
struct Kids(Vec<std::process::Child>);
impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `2026-12-04T10:00:00.123456789Z` → ns since the epoch.
fn parse_rfc3339_ns(s: &str) -> u64 {
    let out = Command::new("date").args(["-u", "-d", s, "+%s%N"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
