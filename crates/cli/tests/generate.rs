//! The generator end to end (root, real kernel): `harrier run` with the default rules sees every
//! action of `harrier generate --all` and raises the rule the action names.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn every_generator_action_raises_its_rule() {
    let list = harrier(&["generate", "--list", "--json"]);
    assert!(list.status.success());
    let actions: Vec<serde_json::Value> = serde_json::from_str(stdout(&list).trim()).unwrap();
    assert!(actions.len() >= 20, "{actions:?}");

    // rule_matching=all: an action may also match an earlier, broader rule.
    let mut run = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(["run", "-o", "json_output=true", "-o", "rule_matching=all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let out = run.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let err = run.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut log = String::new();
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if l.contains("live detection started") {
                let _ = ready_tx.send(Ok(()));
            }
            log.push_str(&l);
            log.push('\n');
        }
        let _ = ready_tx.send(Err(log));
    });
    match ready_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(())) => {}
        other => {
            let _ = run.kill();
            panic!("harrier run did not start (needs root and eBPF): {other:?}");
        }
    }

    let gen = harrier(&["generate", "--all", "--pause-ms", "100"]);
    let gen_log = stderr(&gen);
    let mut fired = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
                    if let Some(r) = v["rule"].as_str() {
                        fired.insert(r.to_string());
                    }
                }
            }
            Err(_) => break,
        }
    }
    let _ = Command::new("kill").arg("-TERM").arg(run.id().to_string()).status();
    let _ = run.wait();

    assert!(gen.status.success(), "some actions failed:\n{gen_log}");
    let missing: Vec<String> = actions
        .iter()
        .filter(|a| !fired.contains(a["rule"].as_str().unwrap()))
        .map(|a| format!("{} -> {}", a["action"], a["rule"]))
        .collect();
    assert!(
        missing.is_empty(),
        "actions whose rule did not fire:\n{}\nfired: {fired:?}\n{gen_log}",
        missing.join("\n")
    );
}
