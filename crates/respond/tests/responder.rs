//! The responder: Talon's continue / ignore_errors / dry_run semantics, the safety gate
//! (protected list, dedup, rate limit, minimum priority), outcome alerts, and the node actions
//! (pidfd kill, script without a shell, quarantine and restore) on real processes and files.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use harrier_respond::{load_strs, Config, Responder, Status};
use harrier_rules::Priority;
use serde_json::json;

fn responder(text: &str, cfg: Config) -> Responder {
    Responder::new(load_strs(&[("t.yaml", text)]).unwrap_or_else(|e| panic!("{e}")), cfg)
}

fn cfg() -> Config {
    Config { dedup_window: Duration::ZERO, rate_per_minute: 0, ..Config::default() }
}

/// A script action that appends its argument to a file (one line per run).
fn script(name: &str, log: &std::path::Path, extra: &str) -> String {
    format!(
        "    - action: {name}\n      actionner: node:script\n      parameters:\n        command: /usr/bin/touch\n        args: ['{}/{name}']\n{extra}",
        log.display()
    )
}

fn fail(name: &str, extra: &str) -> String {
    format!("    - action: {name}\n      actionner: node:script\n      parameters:\n        command: /bin/false\n{extra}")
}

#[test]
fn continue_ignore_errors_and_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = format!(
        "- rule: Dry\n  dry_run: true\n  match:\n    rules: [never]\n  actions:\n{}\n- rule: First\n  match:\n    rules: [Anything]\n  actions:\n{}{}{}\n- rule: Second\n  continue: false\n  actions:\n{}{}{}\n- rule: Third\n  actions:\n{}",
        script("dry", d, ""),
        script("a1", d, ""),
        fail("a2", "      ignore_errors: true\n"),
        script("a3", d, "      continue: false\n"),
        script("b1", d, ""),
        fail("b2", ""),
        script("b3", d, ""),
        script("c1", d, ""),
    );
    let r = responder(&text, cfg());
    let out = r.handle(&alert("Anything", Priority::Warning, &[], &[]));
    let got: Vec<(&str, Status)> = out.iter().map(|o| (o.action.as_str(), o.status)).collect();
    assert_eq!(
        got,
        [
            ("a1", Status::Done),
            ("a2", Status::Failed), // ignore_errors: the rule goes on
            ("a3", Status::Done),   // continue: false: the rule's next actions do not run (none left)
            ("b1", Status::Done),
            ("b2", Status::Failed), // a failure stops the rule
        ],
        "and 'Second' has continue: false, so 'Third' never runs"
    );
    assert!(d.join("a1").exists() && d.join("a3").exists() && d.join("b1").exists());
    assert!(!d.join("b3").exists() && !d.join("c1").exists());

    // Per-rule dry run: decided and reported, nothing done.
    let out = r.handle(&alert("never", Priority::Warning, &[], &[]));
    let dry = out.iter().find(|o| o.action == "dry").unwrap();
    assert_eq!(dry.status, Status::DryRun);
    assert!(!d.join("dry").exists());

    // Global dry run.
    let r = responder(
        &format!("- rule: R\n  actions:\n{}", script("g", d, "")),
        Config { dry_run: true, ..cfg() },
    );
    let out = r.handle(&alert("x", Priority::Warning, &[], &[]));
    assert_eq!(out[0].status, Status::DryRun);
    assert!(!d.join("g").exists());
    let m = r.metrics();
    assert_eq!(m.dry_run.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn outcome_alerts_carry_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let r = responder(&format!("- rule: Touch\n  actions:\n{}", script("t", dir.path(), "")), cfg());
    let out = r.handle(&alert(
        "Shell",
        Priority::Error,
        &[],
        &[("container.id", json!("abc123")), ("k8s.pod.name", json!("web"))],
    ));
    let a = out[0].to_alert();
    assert_eq!(a.source, "response");
    assert_eq!(a.rule, "Response done");
    assert_eq!(a.priority, Priority::Notice);
    assert_eq!(a.output_fields["response.rule"], json!("Touch"));
    assert_eq!(a.output_fields["response.actionner"], json!("node:script"));
    assert_eq!(a.output_fields["alert.rule"], json!("Shell"));
    assert_eq!(a.output_fields["container.id"], json!("abc123"));
    assert!(a.output.contains("node:script done"), "{}", a.output);
    // Outcome alerts are never acted on (no loops).
    assert!(r.handle(&a).is_empty());
}

#[test]
fn minimum_priority_and_protected_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("- rule: R\n  actions:\n{}", script("p", dir.path(), ""));
    let r = responder(&text, Config { min_priority: Priority::Error, ..cfg() });
    assert!(r.handle(&alert("x", Priority::Warning, &[], &[])).is_empty());
    assert_eq!(r.metrics().below_priority.load(std::sync::atomic::Ordering::Relaxed), 1);
    let out = r.handle(&alert("x", Priority::Critical, &[], &[("k8s.ns.name", json!("kube-system"))]));
    assert_eq!(out[0].status, Status::Skipped);
    assert!(out[0].detail.contains("namespace kube-system is protected"));
    assert!(!dir.path().join("p").exists());
}

#[test]
fn alert_flood_stays_within_the_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("- rule: Flood\n  actions:\n{}", script("f", dir.path(), ""));
    let r = responder(
        &text,
        Config { rate_per_minute: 6, rate_burst: 3, dedup_window: Duration::ZERO, ..Config::default() },
    );
    let mut outcomes = Vec::new();
    for i in 0..1000 {
        outcomes.extend(r.handle(&alert("x", Priority::Warning, &[], &[("proc.pid", json!(i))])));
    }
    let done = outcomes.iter().filter(|o| o.status == Status::Done).count();
    let skipped: Vec<_> = outcomes.iter().filter(|o| o.status == Status::Skipped).collect();
    assert_eq!(done, 3, "the burst");
    assert_eq!(skipped.len(), 1, "only the first refusal is reported");
    assert!(skipped[0].detail.contains("rate limited"));
    let m = r.metrics();
    assert_eq!(m.rate_limited.load(std::sync::atomic::Ordering::Relaxed), 997, "the rest are counted");
    assert_eq!(m.alerts.load(std::sync::atomic::Ordering::Relaxed), 1000);
}

#[test]
fn shell_metacharacters_in_fields_never_execute() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = format!(
        "- rule: R\n  actions:\n    - action: S\n      actionner: node:script\n      parameters:\n        command: /usr/bin/touch\n        args: ['{}/${{proc.cmdline}}']\n",
        d.display()
    );
    let r = responder(&text, cfg());
    let evil = "x;touch PWN1`touch PWN2`$(touch PWN3)|touch PWN4&&touch PWN5 >PWN6";
    let out = r.handle(&alert("x", Priority::Warning, &[], &[("proc.cmdline", json!(evil))]));
    assert_eq!(out[0].status, Status::Done, "{}", out[0].detail);
    let names: Vec<String> =
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, [evil.to_string()], "one file named literally, nothing else ran");
    for p in ["PWN1", "PWN2", "PWN3", "PWN4", "PWN5", "PWN6"] {
        assert!(!std::path::Path::new(p).exists());
    }
}

fn sleeper() -> std::process::Child {
    Command::new("sleep").arg("300").stdin(Stdio::null()).spawn().unwrap()
}

fn kill_rule(extra: &str) -> String {
    format!("- rule: K\n  actions:\n    - action: Kill\n      actionner: node:kill\n{extra}")
}

#[test]
fn kill_through_pidfd() {
    let mut child = sleeper();
    std::thread::sleep(Duration::from_millis(50));
    let r = responder(&kill_rule(""), cfg());
    let out = r.handle(&alert(
        "x",
        Priority::Warning,
        &[],
        &[("proc.pid", json!(child.id())), ("proc.name", json!("sleep"))],
    ));
    assert_eq!(out[0].status, Status::Done, "{}", out[0].detail);
    assert!(out[0].detail.contains("exited after"), "{}", out[0].detail);
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGKILL));
}

#[test]
fn kill_refuses_a_reused_pid_and_a_renamed_process() {
    let mut child = sleeper();
    std::thread::sleep(Duration::from_millis(50));
    let r = responder(&kill_rule(""), cfg());
    // The alert's event happened 10 s before this process started: its pid was someone else's.
    let mut a = alert("x", Priority::Warning, &[], &[("proc.pid", json!(child.id()))]);
    a.time_ns -= 10_000_000_000;
    let out = r.handle(&a);
    assert_eq!(out[0].status, Status::Failed);
    assert!(out[0].detail.contains("was reused"), "{}", out[0].detail);
    // The pid now runs another program than the alert names.
    let out = r.handle(&alert(
        "x",
        Priority::Warning,
        &[],
        &[("proc.pid", json!(child.id())), ("proc.name", json!("cat"))],
    ));
    assert_eq!(out[0].status, Status::Failed);
    assert!(out[0].detail.contains("now runs 'sleep'"), "{}", out[0].detail);
    assert!(child.try_wait().unwrap().is_none(), "still alive");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn exited_target_is_reported_once_not_retried() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let r = responder(&kill_rule(""), Config { dedup_window: Duration::from_secs(60), ..cfg() });
    let a = alert("x", Priority::Warning, &[], &[("proc.pid", json!(pid))]);
    let out = r.handle(&a);
    assert_eq!(out[0].status, Status::Failed);
    assert!(out[0].detail.contains("target gone"), "{}", out[0].detail);
    for _ in 0..50 {
        let out = r.handle(&a);
        assert_eq!(out[0].status, Status::Skipped);
        assert!(out[0].detail.contains("duplicate"));
    }
    assert_eq!(r.metrics().failed.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn protected_processes_are_never_touched() {
    // Even with a rule that says so: init, Harrier itself, and a process named like sshd.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("sshd");
    std::fs::copy("/bin/sleep", &fake).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut sshd = Command::new(&fake).arg("300").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let r = responder(&kill_rule("      parameters:\n        signal: SIGKILL\n"), cfg());
    for pid in [1, std::process::id(), sshd.id()] {
        let out = r.handle(&alert("x", Priority::Emergency, &[], &[("proc.pid", json!(pid))]));
        assert_eq!(out[0].status, Status::Skipped, "pid {pid}: {}", out[0].detail);
        assert!(out[0].detail.contains("protected"), "{}", out[0].detail);
    }
    assert!(sshd.try_wait().unwrap().is_none(), "the protected process lives");
    sshd.kill().unwrap();
    sshd.wait().unwrap();
}

#[test]
fn kill_process_group_spares_protected_members() {
    // sh leads a process group of itself and two sleeps.
    let mut sh =
        Command::new("sh").args(["-c", "sleep 300 & sleep 300 & wait"]).process_group(0).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let r = responder(&kill_rule("      parameters:\n        scope: process_group\n"), cfg());
    let out = r.handle(&alert("x", Priority::Warning, &[], &[("proc.pid", json!(sh.id()))]));
    assert_eq!(out[0].status, Status::Done, "{}", out[0].detail);
    let n = out[0].detail.matches(',').count() + 1;
    assert_eq!(n, 3, "sh and its two sleeps: {}", out[0].detail);
    assert_eq!(sh.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn quarantine_and_restore_keep_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let qdir = dir.path().join("q");
    let f = dir.path().join("dropper.bin");
    std::fs::write(&f, b"payload").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o751)).unwrap();
    let old = std::fs::File::options().write(true).open(&f).unwrap();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    old.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t)).unwrap();
    drop(old);
    let text = format!(
        "- rule: Q\n  actions:\n    - action: Q\n      actionner: node:quarantine\n      parameters:\n        directory: {}\n",
        qdir.display()
    );
    let r = responder(&text, cfg());
    let out = r.handle(&alert(
        "Drop and execute",
        Priority::Critical,
        &[],
        &[("fd.name", json!(f.to_str().unwrap()))],
    ));
    assert_eq!(out[0].status, Status::Done, "{}", out[0].detail);
    assert!(!f.exists());
    let list = harrier_respond::node::quarantine::list(&qdir).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].original_path, f);
    assert_eq!(list[0].reason, "Drop and execute");
    let back = harrier_respond::node::quarantine::restore(&qdir, &list[0].id).unwrap();
    assert_eq!(back, f);
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(&f).unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"payload");
    assert_eq!(md.mode() & 0o7777, 0o751);
    assert_eq!(md.mtime(), 1_600_000_000);
    assert!(harrier_respond::node::quarantine::list(&qdir).unwrap().is_empty());
    // Kernel files and non-files are refused.
    let out = r.handle(&alert("x", Priority::Critical, &[], &[("fd.name", json!("/proc/self/status"))]));
    assert_eq!(out[0].status, Status::Failed);
    let out =
        r.handle(&alert("y", Priority::Critical, &[], &[("fd.name", json!(dir.path().to_str().unwrap()))]));
    assert_eq!(out[0].status, Status::Failed);
    assert!(out[0].detail.contains("not a regular file"));
}

#[test]
fn unsupported_and_cluster_actions_fail_clearly() {
    let text = "- rule: R\n  actions:\n    - action: L\n      actionner: aws:lambda\n      ignore_errors: true\n    - action: T\n      actionner: kubernetes:terminate\n";
    // No Kubernetes configuration: a kubeconfig that does not exist.
    let mut c = cfg();
    c.kube.kubeconfig = Some("/nonexistent/harrier-test-kubeconfig".into());
    let r = responder(text, c);
    let out = r.handle(&alert(
        "x",
        Priority::Warning,
        &[],
        &[("k8s.ns.name", json!("prod")), ("k8s.pod.name", json!("web"))],
    ));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].status, Status::Failed);
    assert!(out[0].detail.contains("aws:lambda is not supported by Harrier"), "{}", out[0].detail);
    assert_eq!(out[1].status, Status::Failed);
    assert!(out[1].detail.contains("needs the Kubernetes API"), "{}", out[1].detail);
    assert!(out[1].detail.contains("harrier-test-kubeconfig"), "{}", out[1].detail);
    assert_eq!(out[1].target, "pod=prod/web");
}
