//! `harrier respond …` from the command line: validate, test (dry run and --act), quarantine
//! and restore, and serve on an ephemeral port.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn respond_rules_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../respond/tests/rules")
}

#[test]
fn validate_reports_unknown_actionner_with_line() {
    let d = respond_rules_dir();
    let ok = harrier(&[
        "respond",
        "validate",
        d.join("talon_features.yaml").to_str().unwrap(),
        d.join("talon_override.yaml").to_str().unwrap(),
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("3 response rules, 6 actions: OK"), "{}", stdout(&ok));
    assert!(stderr(&ok).contains("aws:lambda"), "the unsupported cloud actionner is named: {}", stderr(&ok));
    let bad = harrier(&["respond", "validate", d.join("unknown_actionner.yaml").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("unknown_actionner.yaml:19: rule 'Bad rule', action 'Explode': unknown actionner 'kubernetes:explode'"), "{}", stderr(&bad));
}

fn run_test(rules: &std::path::Path, alert: &str, act: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["respond", "test", "-r", rules.to_str().unwrap()];
    if act {
        args.push("--act");
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(alert.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn test_quarantine_then_restore() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("quarantine");
    let f = dir.path().join("miner");
    std::fs::write(&f, "x").unwrap();
    let rules = write_rules(
        dir.path(),
        "r.yaml",
        &format!("- rule: Q\n  match:\n    priority: '>=Error'\n  actions:\n    - action: Q\n      actionner: node:quarantine\n      parameters:\n        directory: {}\n", q.display()),
    );
    let alert = serde_json::json!({"rule": "Drop", "priority": "Critical", "time": "2026-12-04T10:00:00Z", "output": "o", "output_fields": {"fd.name": f.to_str().unwrap()}}).to_string();
    let dry = run_test(&rules, &alert, false);
    assert_eq!(dry[0]["output_fields"]["response.status"], "dry_run");
    assert_eq!(dry[0]["source"], "response");
    assert!(f.exists());
    let done = run_test(&rules, &alert, true);
    assert_eq!(done[0]["output_fields"]["response.status"], "done", "{:?}", done[0]);
    assert!(!f.exists());
    let l = harrier(&["respond", "quarantined", "--dir", q.to_str().unwrap()]);
    let line = stdout(&l);
    let id = line.split('\t').next().unwrap().to_string();
    assert!(line.contains(f.to_str().unwrap()), "{line}");
    let r = harrier(&["respond", "restore", &id, "--dir", q.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "x");
    let again = harrier(&["respond", "restore", &id, "--dir", q.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
}

#[test]
fn run_refuses_invalid_response_rules_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let d = respond_rules_dir();
    let config = write_rules(
        dir.path(),
        "harrier.yaml",
        &format!("response:\n  rules_files: [{}]\n", d.join("unknown_actionner.yaml").display()),
    );
    let rules = write_rules(
        dir.path(),
        "r.yaml",
        "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: NOTICE\n",
    );
    let o = harrier(&["run", "-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("unknown_actionner.yaml:19:") && e.contains("kubernetes:explode"), "{e}");
    assert!(e.contains("response rules are invalid; nothing was run"), "{e}");
    // A bad key in the response block is named.
    let bad = write_rules(dir.path(), "bad.yaml", "response:\n  rules_files: [x.yaml]\n  colour: red\n");
    let o = harrier(&["run", "-c", bad.to_str().unwrap(), "-r", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("response.colour"), "{}", stderr(&o));
}
