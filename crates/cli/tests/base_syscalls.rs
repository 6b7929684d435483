//! Falco's `base_syscalls` keys on live capture (root, real kernel): a `!name` in `custom_set`
//! removes a syscall the rules watch, so its rule stays silent; names the probe has no handler for
//! are reported; without `repair`, a custom set is the whole set and a warning says so.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn run_and_open(extra: &[&str]) -> (usize, String) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("hbase{}", std::process::id() % 100_000);
    let prog = dir.path().join(&name);
    std::fs::copy("/usr/bin/cat", &prog).unwrap();
    let rules = write_rules(
        dir.path(),
        "r.yaml",
        &format!(
            "- rule: opened by test program\n  desc: d\n  condition: evt.type in (open, openat, openat2) and proc.name = {name}\n  output: \"opened %fd.name\"\n  priority: WARNING\n"
        ),
    );
    let mut args = vec!["run", "-r", rules.to_str().unwrap(), "-o", "json_output=true"];
    for e in extra {
        args.push("-o");
        args.push(e);
    }
    let run = spawn_ready(&args, "live detection started");
    let st = Command::new(&prog).arg("/etc/hostname").stdout(std::process::Stdio::null()).status().unwrap();
    assert!(st.success());
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match run.stdout.recv_timeout(left) {
            Ok((_, l)) if l.contains("opened by test program") => n += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let log = run.stop_with_stderr();
    (n, log)
}

#[test]
fn custom_set_removals_and_unsupported_names() {
    let (n, _) = run_and_open(&[]);
    assert!(n >= 1, "the rule fires by default");

    let (n, log) =
        run_and_open(&["base_syscalls.custom_set=[\"!openat\", \"!open\", \"!openat2\", madvise]"]);
    assert_eq!(n, 0, "the opens were removed from the collected set:\n{log}");
    assert!(log.contains("madvise cannot be collected live"), "{log}");
    assert!(log.contains("without base_syscalls.repair"), "{log}");

    let (_, log) = run_and_open(&["base_syscalls.custom_set=[ptrace]", "base_syscalls.repair=true"]);
    assert!(!log.contains("without base_syscalls.repair"), "{log}");
}
