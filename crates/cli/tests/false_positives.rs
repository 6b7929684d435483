//! False positives (root, real kernel): ordinary work — building a Rust crate, git clone and
//! commit, tar/gzip, a Python script, curl to a local server, `apt-get download` — raises no
//! alert of WARNING or higher with the default rules.
//!
//! The workload runs under a uniquely named shell; the live capture of the whole machine is then
//! replayed with the default rules, keeping only events whose process descends from that shell
//! (other processes on the machine do other things).

mod common;
use common::*;
use std::process::Command;

#[test]
fn ordinary_workload_raises_no_warning_or_higher() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tag = format!("hwork{}", std::process::id());
    let shell = d.join(&tag);
    std::os::unix::fs::symlink(
        ["/usr/bin/bash", "/bin/bash"].iter().find(|p| std::path::Path::new(p).exists()).unwrap(),
        &shell,
    )
    .unwrap();
    let cap = d.join("work.scap");

    let script = format!(
        r#"set -e
cd {d}
# a Rust crate without dependencies, built offline
cargo new --quiet --vcs none demo && (cd demo && cargo build --quiet --offline)
# git: a local repository, cloned, changed and committed
git init --quiet origin && (cd origin && echo one > f && git add f && git -c user.name=t -c user.email=t@x commit --quiet -m one)
git clone --quiet origin copy && (cd copy && echo two >> f && git -c user.name=t -c user.email=t@x commit --quiet -am two)
# archives
tar czf src.tgz demo/src && gzip -k -f src.tgz && tar tzf src.tgz > /dev/null
# a Python script
python3 -c 'import json, hashlib; print(json.dumps({{"h": hashlib.sha256(b"x").hexdigest()}}))' > /dev/null
# curl to a local server
python3 -m http.server --bind 127.0.0.1 18765 > /dev/null 2>&1 & srv=$!
for i in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:18765/ && break; sleep 0.1; done
kill $srv
# a package download (no installation)
mkdir debs && (cd debs && apt-get download -qq hostname > /dev/null 2>&1 || true)
"#,
        d = d.display()
    );

    let c = spawn_ready(&["capture", "-w", cap.to_str().unwrap()], "capturing to");
    let st = Command::new(&shell).args(["-c", &script]).status().unwrap();
    assert!(c.stop(), "capture stops cleanly");
    assert!(st.success(), "the workload itself failed");

    let filter = format!("proc.name = {tag} or proc.aname = {tag}");
    let o = harrier(&[
        "replay",
        "--quiet",
        cap.to_str().unwrap(),
        "--rules",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules").to_str().unwrap(),
        "--filter",
        &filter,
        "--json",
        "-o",
        "rule_matching=all",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let serious: Vec<String> = json_alerts(&o)
        .into_iter()
        .filter(|a| {
            matches!(a["priority"].as_str(), Some("Emergency" | "Alert" | "Critical" | "Error" | "Warning"))
        })
        .map(|a| format!("{}: {}", a["rule"], a["output"]))
        .collect();
    assert!(serious.is_empty(), "ordinary work raised:\n{}", serious.join("\n"));
    // The filter really selected the workload: thousands of its events went through the rules.
    let err = stderr(&o);
    let n: u64 = err
        .lines()
        .find_map(|l| l.split_once(" events in ").and_then(|(n, _)| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no summary: {err}"));
    assert!(n > 1000, "only {n} workload events were selected: {err}");
}
