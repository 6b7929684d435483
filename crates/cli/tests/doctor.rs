//! `harrier doctor` on real misconfigurations, one test per case: exhausted inotify instances, a
//! sink host that does not resolve (and a test POST a real local HTTP server receives), a probe
//! that cannot load because capabilities were dropped, `priority`/`minimumpriority` above every
//! rule, the UI disabled, a rule that fires on an ordinary workload; and `harrier --support`.
//!
//! The inotify, capability and live-sample tests need root (setpriv/capsh, eBPF); they fail, not
//! skip, without it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn harrier() -> &'static str {
    env!("CARGO_BIN_EXE_harrier")
}

fn doctor(args: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(harrier()).arg("doctor").arg("--json").args(args).output().unwrap();
    parse(out)
}

fn parse(out: std::process::Output) -> (i32, serde_json::Value) {
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("doctor printed no JSON ({e}):\n{text}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code().unwrap_or(-1), v)
}

/// Findings of one check.
fn findings<'a>(v: &'a serde_json::Value, check: &str) -> Vec<&'a serde_json::Value> {
    v["findings"].as_array().unwrap().iter().filter(|f| f["check"] == check).collect()
}

fn find<'a>(v: &'a serde_json::Value, check: &str, subject: &str) -> &'a serde_json::Value {
    findings(v, check)
        .into_iter()
        .find(|f| f["subject"] == subject)
        .unwrap_or_else(|| panic!("no {check}/{subject} finding in {v:#}"))
}

fn require_root() {
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc_geteuid() }, 0, "this test needs root (setpriv/capsh/eBPF)");
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

const RULES: &str = r#"
- rule: Warning rule
  desc: a warning
  condition: evt.type = openat and fd.name = /nonexistent/doctor-a
  output: "a %proc.name"
  priority: WARNING
- rule: Notice rule
  desc: a notice
  condition: evt.type = openat and fd.name = /nonexistent/doctor-b
  output: "b %proc.name"
  priority: NOTICE
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// inotify instances exhausted for a user (what sends Falco into CrashLoopBackOff): a helper
/// process running as an otherwise unused uid takes every instance that uid may have, then
/// doctor runs as the same uid. Nothing global changes; killing the helper gives them back.
#[test]
fn exhausted_inotify_instances_are_broken_with_the_sysctl_fix() {
    require_root();
    let uid = (61000 + std::process::id() % 3000).to_string();
    let hog = r#"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
fds = []
while True:
    fd = libc.inotify_init1(0)
    if fd < 0:
        break
    fds.append(fd)
print(len(fds), ctypes.get_errno(), flush=True)
sys.stdin.read()
"#;
    let mut child = Command::new("setpriv")
        .args(["--reuid", &uid, "--regid", &uid, "--clear-groups", "/usr/bin/python3", "-c", hog])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("setpriv");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let held: u64 = line.split_whitespace().next().and_then(|x| x.parse().ok()).expect(&line);
    assert!(held > 0, "the helper got no inotify instance: {line}");
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            &uid,
            "--regid",
            &uid,
            "--clear-groups",
            harrier(),
            "doctor",
            "--json",
            "--check",
            "inotify",
        ])
        .output()
        .unwrap();
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    let (code, v) = parse(out);
    let f = find(&v, "inotify", "instances");
    assert_eq!(f["status"], "fail", "{v:#}");
    assert!(f["detail"].as_str().unwrap().contains("inotify_init1 failed"), "{f}");
    assert!(f["fix"].as_str().unwrap().contains("fs.inotify.max_user_instances"), "{f}");
    assert_eq!(code, 1);
    // The same uid with the helper gone is fine again.
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            &uid,
            "--regid",
            &uid,
            "--clear-groups",
            harrier(),
            "doctor",
            "--json",
            "--check",
            "inotify",
        ])
        .output()
        .unwrap();
    let (code, v) = parse(out);
    assert_eq!(find(&v, "inotify", "instances")["status"], "ok", "{v:#}");
    assert_eq!(code, 0);
}

/// A tiny HTTP server on an ephemeral port that answers 200 and hands back the bodies it got.
fn http_sink() -> (u16, std::sync::mpsc::Receiver<String>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read headers, then Content-Length bytes of body.
            loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len = text[..i]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        let _ = tx.send(text[i + 4..].to_string());
                        break;
                    }
                }
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, rx)
}

/// Alerts that never reach Loki because its service name does not resolve; a webhook beside it
/// resolves, connects and takes the test alert (a real POST the local server receives).
#[test]
fn sink_host_that_does_not_resolve_is_broken() {
    let d = tempfile::tempdir().unwrap();
    let (port, bodies) = http_sink();
    let cfg = write(
        d.path(),
        "c.yaml",
        &format!(
            "loki:\n  hostport: http://loki.monitoring.invalid:3100\nwebhook:\n  address: http://127.0.0.1:{port}/alerts\n"
        ),
    );
    let (code, v) = doctor(&["-c", &cfg, "--check", "sinks", "--post-test"]);
    assert_eq!(code, 1, "{v:#}");
    let loki = findings(&v, "sinks").into_iter().filter(|f| f["subject"] == "loki").collect::<Vec<_>>();
    assert_eq!(loki.len(), 1, "{v:#}");
    assert_eq!(loki[0]["status"], "fail");
    assert!(
        loki[0]["detail"].as_str().unwrap().contains("loki.monitoring.invalid does not resolve"),
        "{v:#}"
    );
    assert!(loki[0]["fix"].as_str().unwrap().contains("svc.cluster.local"), "{v:#}");
    let hook: Vec<_> = findings(&v, "sinks").into_iter().filter(|f| f["subject"] == "webhook").collect();
    assert!(hook.iter().all(|f| f["status"] == "ok"), "{v:#}");
    assert!(
        hook.iter().any(|f| f["detail"].as_str().unwrap().contains("test alert accepted (HTTP 200)")),
        "{v:#}"
    );
    let body: serde_json::Value =
        serde_json::from_str(&bodies.recv_timeout(Duration::from_secs(5)).unwrap()).unwrap();
    assert_eq!(body["rule"], "Test rule");
    assert_eq!(body["priority"], "Debug");
}

/// A key of the wrong type in a sink block: a clear failure naming it, no panic.
#[test]
fn sink_block_of_the_wrong_type_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write(d.path(), "c.yaml", "loki:\n  hostport: [not, a, string]\n");
    let (code, v) = doctor(&["-c", &cfg, "--check", "sinks"]);
    assert_eq!(code, 1);
    let f = find(&v, "sinks", "config");
    assert!(f["detail"].as_str().unwrap().contains("loki"), "{f}");
}

/// The probe cannot load once CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN are dropped from the
/// bounding set (root's capabilities after exec): doctor says so and names the capabilities.
#[test]
fn probe_without_bpf_capabilities_is_broken_with_the_capability_fix() {
    require_root();
    let out = Command::new("capsh")
        .args(["--drop=cap_bpf,cap_perfmon,cap_sys_admin", "--", "-c"])
        .arg(format!("exec {} doctor --json --check kernel --check probe", harrier()))
        .output()
        .unwrap();
    let (code, v) = parse(out);
    assert_eq!(code, 1, "{v:#}");
    let probe = find(&v, "probe", "eBPF programs");
    assert_eq!(probe["status"], "fail", "{v:#}");
    assert!(probe["detail"].as_str().unwrap().contains("cannot load the eBPF probe"), "{probe}");
    let fix = probe["fix"].as_str().unwrap();
    assert!(fix.contains("CAP_BPF") && fix.contains("CAP_PERFMON"), "{fix}");
    let caps = find(&v, "kernel", "capabilities");
    assert_eq!(caps["status"], "fail");
    assert!(caps["detail"].as_str().unwrap().contains("missing CAP_BPF, CAP_PERFMON"), "{caps}");
    // With every capability, the same programs load.
    let (code, v) = doctor(&["--check", "probe"]);
    assert_eq!(find(&v, "probe", "eBPF programs")["status"], "ok", "{v:#}");
    assert_eq!(code, 0);
}

/// `priority` above every rule: nothing can fire.
#[test]
fn priority_above_every_rule_is_broken() {
    let d = tempfile::tempdir().unwrap();
    let rules = write(d.path(), "r.yaml", RULES);
    let cfg = write(d.path(), "c.yaml", &format!("rules_files: [{rules}]\npriority: critical\n"));
    let (code, v) = doctor(&["-c", &cfg, "--check", "rules"]);
    assert_eq!(code, 1, "{v:#}");
    let f = find(&v, "rules", "priority");
    assert_eq!(f["status"], "fail");
    assert!(f["detail"].as_str().unwrap().contains("above every enabled rule"), "{f}");
    assert!(f["fix"].as_str().unwrap().contains("priority=warning"), "{f}");
    // priority: notice lets both fire.
    let cfg = write(d.path(), "c2.yaml", &format!("rules_files: [{rules}]\npriority: notice\n"));
    let (code, v) = doctor(&["-c", &cfg, "--check", "rules"]);
    assert_eq!(find(&v, "rules", "priority")["status"], "ok", "{v:#}");
    assert_eq!(code, 0);
}

/// Alerts silently filtered by a sink's `minimumpriority` when it is the only output.
#[test]
fn minimumpriority_above_every_rule_is_broken() {
    let d = tempfile::tempdir().unwrap();
    let rules = write(d.path(), "r.yaml", RULES);
    let (port, _) = http_sink();
    let cfg = write(
        d.path(),
        "c.yaml",
        &format!(
            "rules_files: [{rules}]\nstdout_output: {{enabled: false}}\n\
             webhook:\n  address: http://127.0.0.1:{port}/\n  minimumpriority: error\n"
        ),
    );
    let (code, v) = doctor(&["-c", &cfg, "--check", "rules"]);
    assert_eq!(code, 1, "{v:#}");
    let f = find(&v, "rules", "outputs");
    assert_eq!(f["status"], "fail");
    assert!(f["detail"].as_str().unwrap().contains("silently dropped"), "{f}");
    // One rule below: a warning naming it.
    let cfg = write(
        d.path(),
        "c2.yaml",
        &format!(
            "rules_files: [{rules}]\nstdout_output: {{enabled: false}}\n\
             webhook:\n  address: http://127.0.0.1:{port}/\n  minimumpriority: warning\n"
        ),
    );
    let (code, v) = doctor(&["-c", &cfg, "--check", "rules"]);
    let f = find(&v, "rules", "outputs");
    assert_eq!(f["status"], "warn", "{v:#}");
    assert!(f["detail"].as_str().unwrap().contains("'Notice rule'"), "{f}");
    assert_eq!(code, 0);
}

/// The UI was never enabled: doctor says so and how to turn it on; when enabled but not
/// running, it says nothing answers on the configured port.
#[test]
fn ui_disabled_is_reported_with_how_to_enable_it() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write(d.path(), "c.yaml", "ui:\n  enabled: false\nwebserver:\n  enabled: false\n");
    let (_, v) = doctor(&["-c", &cfg, "--check", "services"]);
    let ui = find(&v, "services", "ui");
    assert_eq!(ui["status"], "warn", "{v:#}");
    assert!(ui["detail"].as_str().unwrap().contains("ui.enabled is not enabled"), "{ui}");
    assert!(ui["fix"].as_str().unwrap().contains("ui.enabled: true"), "{ui}");
    let ws = find(&v, "services", "webserver");
    assert!(ws["fix"].as_str().unwrap().contains("/healthz"), "{ws}");
    // Enabled on a port where nothing listens.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let cfg = write(d.path(), "c2.yaml", &format!("ui:\n  enabled: true\n  listen_port: {port}\n"));
    let (_, v) = doctor(&["-c", &cfg, "--check", "services"]);
    let ui = find(&v, "services", "ui");
    assert!(ui["detail"].as_str().unwrap().contains("does not answer"), "{ui}");
    // Enabled and answering.
    let (port, _) = http_sink();
    let cfg = write(d.path(), "c3.yaml", &format!("ui:\n  enabled: true\n  listen_port: {port}\n"));
    let (_, v) = doctor(&["-c", &cfg, "--check", "services"]);
    assert_eq!(find(&v, "services", "ui")["status"], "ok", "{v:#}");
}

/// A rule that fires on an ordinary workload (a loop of `cat` over a directory, as a build tool
/// reads its sources) is reported as noisy from a live sample; a rule that does not fire is not.
#[test]
fn rule_firing_on_an_ordinary_workload_is_reported_noisy() {
    require_root();
    let d = tempfile::tempdir().unwrap();
    let work = d.path().join("src");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("main.c"), "int main(){}\n").unwrap();
    let rules = write(
        d.path(),
        "r.yaml",
        &format!(
            "- rule: Read of a source file\n  desc: noisy\n  condition: evt.type in (open, openat, openat2) and fd.name startswith {w}/\n  \
             output: \"read %fd.name by %proc.name\"\n  priority: NOTICE\n\
             - rule: Quiet rule\n  desc: quiet\n  condition: evt.type = openat and fd.name = {w}/never\n  output: \"x\"\n  priority: NOTICE\n",
            w = work.display()
        ),
    );
    let doc = Command::new(harrier())
        .args([
            "doctor",
            "--json",
            "--check",
            "noise",
            "-r",
            &rules,
            "--sample",
            "5",
            "--noisy-per-minute",
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The workload runs through the sample (the probe takes a moment to attach).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(7) {
        let _ = Command::new("cat").arg(work.join("main.c")).stdout(Stdio::null()).status();
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, v) = parse(doc.wait_with_output().unwrap());
    let noisy = find(&v, "noise", "Read of a source file");
    assert_eq!(noisy["status"], "warn", "{v:#}");
    assert!(noisy["fix"].as_str().unwrap().contains("exceptions"), "{noisy}");
    assert!(findings(&v, "noise").iter().all(|f| f["subject"] != "Quiet rule"), "{v:#}");
    assert_eq!(code, 0, "noise is a warning, not a failure");
}

#[test]
fn human_output_marks_and_exit_code() {
    let d = tempfile::tempdir().unwrap();
    let rules = write(d.path(), "r.yaml", RULES);
    let cfg = write(d.path(), "c.yaml", &format!("rules_files: [{rules}]\npriority: emergency\n"));
    let out = Command::new(harrier()).args(["doctor", "-c", &cfg, "--check", "rules"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("✓ load: 2 rules"), "{text}");
    assert!(text.contains("✗ priority:") && text.contains("fix: lower `priority`"), "{text}");
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(harrier()).args(["doctor", "--check", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown check 'nope'"));
}

/// `harrier --support`: Falco's document with the config's and rules files' contents.
#[test]
fn support_document_has_version_system_config_and_rules() {
    let d = tempfile::tempdir().unwrap();
    let rules = write(d.path(), "r.yaml", RULES);
    let cfg = write(d.path(), "c.yaml", &format!("rules_files: [{rules}]\npriority: notice\n"));
    let out = Command::new(harrier()).args(["--support", "-c", &cfg]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["system_info"]["sysname"], "Linux");
    assert!(!v["system_info"]["release"].as_str().unwrap().is_empty());
    assert!(v["config"].as_str().unwrap().contains("priority: notice"));
    assert_eq!(v["rules_files"][0]["name"], rules.as_str());
    assert!(v["rules_files"][0]["content"].as_str().unwrap().contains("Warning rule"));
    assert!(v["engine_info"]["engine_version"].as_str().unwrap().starts_with("0."));
    assert!(v["cmdline"].as_str().unwrap().contains("--support"));
}

/// Against a real `harrier run` with the webserver and metrics on a free port: doctor finds
/// /healthz and /metrics answering; once it stops, they are reported as not answering.
#[test]
fn webserver_and_metrics_of_a_running_harrier_answer() {
    require_root();
    let d = tempfile::tempdir().unwrap();
    let rules = write(d.path(), "r.yaml", RULES);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let cfg = write(
        d.path(),
        "c.yaml",
        &format!(
            "rules_files: [{rules}]\nwebserver:\n  enabled: true\n  listen_address: 127.0.0.1\n  listen_port: {port}\n  \
             prometheus_metrics_enabled: true\nmetrics:\n  enabled: true\n  interval: 1s\n"
        ),
    );
    let mut run = Command::new(harrier())
        .args(["run", "-c", &cfg])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = run.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let t = Instant::now();
    let mut log = String::new();
    while !log.contains("live detection started") {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(l) => {
                log.push_str(&l);
                log.push('\n');
            }
            Err(_) => assert!(t.elapsed() < Duration::from_secs(60), "harrier run did not start:\n{log}"),
        }
    }
    let (_, v) = doctor(&["-c", &cfg, "--check", "services"]);
    let _ = run.kill();
    let _ = run.wait();
    let ws = find(&v, "services", "webserver");
    assert_eq!(ws["status"], "ok", "{v:#}\n{log}");
    assert!(
        ws["detail"].as_str().unwrap().contains(&format!("http://127.0.0.1:{port}/healthz answers HTTP 200")),
        "{ws}"
    );
    assert_eq!(find(&v, "services", "metrics")["status"], "ok", "{v:#}");
    let (_, v) = doctor(&["-c", &cfg, "--check", "services"]);
    assert!(
        find(&v, "services", "webserver")["detail"].as_str().unwrap().contains("does not answer"),
        "{v:#}"
    );
}
