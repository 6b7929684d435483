//! The false-positive corpus (root, real kernel): every script in `tests/fp/` is one ordinary
//! workload (package installs, builds, git, editors, cron, log rotation, servers under traffic,
//! runtimes that start shells…). With the default rules, none may raise an alert of priority
//! Warning or above, and every Notice/Informational alert left must be listed, with the reason it
//! is right to raise it, in `tests/fp/notices.txt`.
//!
//! One live capture of the whole machine runs while the scripts run one after another, each under
//! a uniquely named shell; the capture is then replayed with the default rules once per script,
//! keeping only the events of processes that descend from that script's shell (other processes on
//! the machine do other things).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fp")
}

/// `script rule` pairs allowed to raise a Notice/Informational alert.
fn allowed_notices() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus_dir().join("notices.txt")).unwrap();
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (s, r) = l.split_once(char::is_whitespace).expect("notices.txt: `script rule # why`");
            (s.to_string(), r.trim().to_string())
        })
        .collect()
}

#[test]
fn ordinary_workloads_raise_no_warning_or_higher() {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 12, "the corpus lost scripts: {scripts:?}");
    let dir = tempfile::tempdir().unwrap();
    let bash = ["/usr/bin/bash", "/bin/bash"].iter().find(|p| Path::new(p).exists()).unwrap();
    let cap = dir.path().join("work.scap");

    let c = spawn_ready(&["capture", "-w", cap.to_str().unwrap()], "capturing to");
    let mut runs = Vec::new();
    for (i, script) in scripts.iter().enumerate() {
        let name = script.file_stem().unwrap().to_str().unwrap().to_string();
        // comm is at most 15 characters: hfp<index>_<pid>.
        let tag = format!("hfp{i}_{}", std::process::id() % 100_000);
        let shell = dir.path().join(&tag);
        std::os::unix::fs::symlink(bash, &shell).unwrap();
        let work = dir.path().join(format!("work-{name}"));
        std::fs::create_dir(&work).unwrap();
        let o = Command::new(&shell).arg("-eu").arg(script).current_dir(&work).output().unwrap();
        assert!(
            o.status.success(),
            "workload {name} itself failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        runs.push((name, tag));
    }
    assert!(c.stop(), "capture stops cleanly");

    let allowed = allowed_notices();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for (name, tag) in &runs {
        let filter = format!("proc.name = {tag} or proc.aname = {tag}");
        let o = harrier(&[
            "replay",
            "--quiet",
            cap.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--filter",
            &filter,
            "--json",
            "-o",
            "rule_matching=all",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        // The filter really selected the workload.
        let err = stderr(&o);
        let n: u64 = err
            .lines()
            .find_map(|l| l.split_once(" events in ").and_then(|(n, _)| n.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no summary: {err}"));
        assert!(n > 50, "{name}: only {n} workload events were selected: {err}");
        let alerts = json_alerts(&o);
        report.push(format!("{name}: {n} events, {} alerts", alerts.len()));
        for a in alerts {
            let (rule, prio) = (a["rule"].as_str().unwrap(), a["priority"].as_str().unwrap());
            let serious = matches!(prio, "Emergency" | "Alert" | "Critical" | "Error" | "Warning");
            let listed = allowed.iter().any(|(s, r)| s == name && r == rule);
            if serious || !listed {
                failures.push(format!("{name}: {prio} {rule}: {}", a["output"]));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "ordinary work raised (Warning+ is never allowed; a Notice/Info needs a line in tests/fp/notices.txt):\n{}",
        failures.join("\n")
    );
}
