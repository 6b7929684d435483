//! `harrier run --learn` (root, real kernel): alerts are collected for the duration without being
//! printed, then exceptions are proposed for the recurring ones.

mod common;
use common::*;
use std::process::Command;

#[test]
fn learning_collects_silently_then_proposes_the_recurring_program() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("learned.yaml");
    // A uniquely named reader of /etc/shadow (a copy of cat), so the proposal is ours.
    let name = format!("hlearn{}", std::process::id() % 100_000);
    let prog = dir.path().join(&name);
    std::fs::copy("/usr/bin/cat", &prog).unwrap();
    let mut run = spawn_ready(
        &["run", "--learn", "5s", "--learn-out", out.to_str().unwrap()],
        "live detection started",
    );
    for _ in 0..12 {
        let st = Command::new(&prog).arg("/etc/shadow").stdout(std::process::Stdio::null()).status().unwrap();
        assert!(st.success());
    }
    let status = run.child.wait().unwrap();
    assert!(status.success(), "harrier run --learn failed");
    let printed: Vec<String> = run.stdout.try_iter().map(|(_, l)| l).collect();
    assert!(printed.iter().all(|l| !l.contains("Sensitive file")), "learning sends no alert: {printed:?}");
    let y = std::fs::read_to_string(&out).unwrap();
    assert!(y.contains(&format!("\"{name}\"")), "{y}");
    assert!(y.contains("\"/etc/shadow\""), "{y}");
    let seen = std::fs::read_to_string(dir.path().join("learned.yaml.alerts.jsonl")).unwrap();
    assert!(seen.lines().filter(|l| l.contains(&name)).count() >= 12, "every read was collected");
}
