//! The generator end to end (root, real kernel): `harrier run` with the default rules sees every
//! action of `harrier generate --all` and raises the rule the action names, under both
//! `rule_matching: all` and `first` (where a broader rule earlier in the file would win).

mod common;
use common::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn every_generator_action_raises_its_rule_under_all() {
    check("all");
}

#[test]
fn every_generator_action_raises_its_rule_under_first() {
    check("first");
}

fn check(matching: &str) {
    let list = harrier(&["generate", "--list", "--json"]);
    assert!(list.status.success());
    let actions: Vec<serde_json::Value> = serde_json::from_str(stdout(&list).trim()).unwrap();
    // Actions that need containerd are checked by generate_containers.rs (which starts one);
    // here they are skipped when no containerd answers.
    let actions: Vec<serde_json::Value> =
        actions.into_iter().filter(|a| a["context"] != "containerd").collect();
    assert!(actions.len() >= 20, "{actions:?}");

    let m = format!("rule_matching={matching}");
    let run = spawn_ready(&["run", "-o", "json_output=true", "-o", &m], "live detection started");
    let gen = harrier(&["generate", "--all", "--pause-ms", "100"]);
    let gen_log = stderr(&gen);
    let mut fired = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match run.stdout.recv_timeout(left) {
            Ok((_, l)) => {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
                    if let Some(r) = v["rule"].as_str() {
                        fired.insert(r.to_string());
                    }
                }
            }
            Err(_) => break,
        }
    }
    run.stop();

    assert!(gen.status.success(), "some actions failed:\n{gen_log}");
    let missing: Vec<String> = actions
        .iter()
        .filter(|a| !fired.contains(a["rule"].as_str().unwrap()))
        .map(|a| format!("{} -> {}", a["action"], a["rule"]))
        .collect();
    assert!(
        missing.is_empty(),
        "rule_matching={matching}: actions whose rule did not fire:\n{}\nfired: {fired:?}\n{gen_log}",
        missing.join("\n")
    );
}
