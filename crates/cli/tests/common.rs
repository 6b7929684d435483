//! Shared helpers for the CLI integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/reference` from the repository root. Tests that need it fail (not skip) when it is
/// missing.
pub fn reference() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    assert!(
        p.is_dir(),
        "reference data missing at {} (the conformance tests read the official Falco files from ../shared/reference)",
        p.display()
    );
    p
}

pub fn capture(name: &str) -> PathBuf {
    reference().join("scap").join(name)
}

pub fn official(name: &str) -> PathBuf {
    reference().join("falco-rules").join(name)
}

pub fn harrier(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(args)
        .env("TZ", "UTC")
        .env("FALCO_HOSTNAME", "test-host")
        .output()
        .expect("run harrier")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn write_rules(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Replay `capture` with rule files and extra `-o` options, Falco style.
pub fn replay(rules: &[&Path], capture: &Path, opts: &[&str]) -> Output {
    let mut args: Vec<String> = Vec::new();
    for r in rules {
        args.push("-r".into());
        args.push(r.display().to_string());
    }
    args.push("-o".into());
    args.push("engine.kind=replay".into());
    args.push("-o".into());
    args.push(format!("engine.replay.capture_file={}", capture.display()));
    for o in opts {
        args.push("-o".into());
        args.push(o.to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    harrier(&refs)
}

/// The JSON alert lines of an output.
pub fn json_alerts(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("valid JSON alert"))
        .collect()
}
