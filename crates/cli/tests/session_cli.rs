//! `harrier session` and `harrier run -o session_audit.enabled=true` end to end (root, real
//! kernel, real ptys through tmux): the audit log, `source: session` rules alerting through the
//! outputs, redaction and no-echo secrets kept out of every output, and the link between a typed
//! command and the exec it started (session leader = proc.sid, same tty). Fails (not skips)
//! without eBPF. Each test looks only at its own tmux pane's shell.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn records(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn wait_command(file: &Path, pid: u32, cmd: &str) -> Value {
    let t0 = Instant::now();
    loop {
        if let Some(r) = records(file).into_iter().find(|r| r["pid"] == pid && r["command"] == cmd) {
            return r;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "{cmd:?} not in the audit log: {:?}", records(file));
        std::thread::sleep(Duration::from_millis(50));
    }
}

const RULES: &str = r#"
- rule: Base64 decode typed at a terminal
  desc: test
  condition: session.kind = command and session.command contains "base64 -d"
  output: "typed base64 (user=%session.user tty=%session.tty leader=%session.leader session=%session.id cmd=%session.command)"
  priority: WARNING
  source: session
- rule: Typed AWS secret export
  desc: test (the output shows the command, redacted)
  condition: session.command contains "AWS_SECRET_ACCESS_KEY"
  output: "aws secret set (leader=%session.leader cmd=%session.command)"
  priority: NOTICE
  source: session
"#;

#[test]
fn harrier_session_audits_alerts_and_keeps_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path(), "session.yaml", RULES);
    let log = dir.path().join("audit.jsonl");
    let log_arg = format!("session_audit.file={}", log.display());
    let run = spawn_ready(
        &["session", "-r", rules.to_str().unwrap(), "-o", &log_arg, "-o", "json_output=true"],
        "session audit started",
    );
    let t = Tmux::bash(dir.path());
    let secret = format!("s3cr3t-{}", std::process::id());
    let aws = format!("aws-{}-key", std::process::id());
    t.line("echo aGk= | base64 -d");
    let rec = wait_command(&log, t.pid, "echo aGk= | base64 -d");
    t.line(&format!("export AWS_SECRET_ACCESS_KEY={aws}"));
    wait_command(&log, t.pid, "export AWS_SECRET_ACCESS_KEY=***");
    t.line("read -s S");
    wait_command(&log, t.pid, "read -s S");
    std::thread::sleep(Duration::from_millis(300));
    t.line(&secret);
    t.line("echo after");
    wait_command(&log, t.pid, "echo after");

    // alerts on stdout (json_output), through the same outputs as any rule
    let mut alerts = Vec::new();
    let t0 = Instant::now();
    while alerts.len() < 2 && t0.elapsed() < Duration::from_secs(10) {
        if let Ok((_, l)) = run.stdout.recv_timeout(Duration::from_millis(200)) {
            if let Ok(v) = serde_json::from_str::<Value>(&l) {
                if v["output_fields"]["session.leader"] == t.pid {
                    alerts.push(v);
                }
            }
        }
    }
    let stderr = run.stop_with_stderr();
    assert_eq!(alerts.len(), 2, "alerts: {alerts:?}\n{stderr}");
    let b64 = alerts.iter().find(|a| a["rule"] == "Base64 decode typed at a terminal").expect("base64 alert");
    assert_eq!(b64["source"], "session");
    assert_eq!(b64["priority"], "Warning");
    assert_eq!(b64["output_fields"]["session.command"], "echo aGk= | base64 -d");
    assert_eq!(b64["output_fields"]["session.id"], rec["session_id"]);
    let aws_alert = alerts.iter().find(|a| a["rule"] == "Typed AWS secret export").unwrap();
    assert_eq!(aws_alert["output_fields"]["session.command"], "export AWS_SECRET_ACCESS_KEY=***");

    // nothing that was redacted or typed without echo appears in any output
    let audit = std::fs::read_to_string(&log).unwrap();
    for (what, text) in [("audit log", &audit), ("stderr", &stderr), ("alerts", &format!("{alerts:?}"))] {
        assert!(!text.contains(&secret), "no-echo secret in the {what}");
        assert!(!text.contains(&aws), "redacted value in the {what}");
    }
    assert!(stderr.contains("secrets withheld in the kernel: "), "{stderr}");
    // the audit log is private to root
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn harrier_run_session_audit_links_commands_to_execs() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("hsess{}", std::process::id() % 100_000);
    let bin = dir.path().join(&name);
    std::fs::copy("/bin/true", &bin).unwrap();
    let sys = write_rules(
        dir.path(),
        "sys.yaml",
        &format!(
            "- rule: Test binary ran from a terminal\n  desc: t\n  condition: evt.type = execve and evt.dir = < and proc.name = {name}\n  output: ran %proc.name sid=%proc.sid tty=%proc.tty\n  priority: WARNING\n"
        ),
    );
    let sess = write_rules(
        dir.path(),
        "sess.yaml",
        &format!(
            "- rule: Test binary typed\n  desc: t\n  condition: session.command contains {name}\n  output: typed %session.command leader=%session.leader tty=%session.tty\n  priority: WARNING\n  source: session\n"
        ),
    );
    let log = dir.path().join("audit.jsonl");
    let log_arg = format!("session_audit.file={}", log.display());
    let run = spawn_ready(
        &[
            "run",
            "-r",
            sys.to_str().unwrap(),
            "-r",
            sess.to_str().unwrap(),
            "-o",
            "session_audit.enabled=true",
            "-o",
            &log_arg,
            "-o",
            "json_output=true",
        ],
        "session audit started",
    );
    std::thread::sleep(Duration::from_millis(1500)); // the syscall probe and its loop start too
    let t = Tmux::bash(dir.path());
    let typed = format!("{} --flag", bin.display());
    t.line(&typed);
    let rec = wait_command(&log, t.pid, &typed);

    let (mut exec, mut typed_alert) = (None, None);
    let t0 = Instant::now();
    while (exec.is_none() || typed_alert.is_none()) && t0.elapsed() < Duration::from_secs(15) {
        let Ok((_, l)) = run.stdout.recv_timeout(Duration::from_millis(200)) else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&l) else { continue };
        match v["rule"].as_str() {
            Some("Test binary ran from a terminal") => exec = Some(v),
            Some("Test binary typed") => typed_alert = Some(v),
            _ => {}
        }
    }
    let stderr = run.stop_with_stderr();
    let exec = exec.unwrap_or_else(|| panic!("no exec alert\n{stderr}"));
    let typed_alert = typed_alert.unwrap_or_else(|| panic!("no session alert\n{stderr}"));
    assert_eq!(typed_alert["source"], "session");
    // the link: the exec's session is the typing shell's session, on the same terminal
    assert_eq!(exec["output_fields"]["proc.sid"], t.pid);
    assert_eq!(typed_alert["output_fields"]["session.leader"], t.pid);
    assert_eq!(rec["session_leader"], t.pid);
    let pts: u64 = rec["tty"].as_str().unwrap().trim_start_matches("pts/").parse().unwrap();
    // proc.tty is the kernel's tty number: major 136 + minor
    let tty_nr = exec["output_fields"]["proc.tty"].as_u64().unwrap();
    assert_eq!(tty_nr, (136 << 8) | pts, "exec tty {tty_nr} vs audited pts/{pts}");
}

/// On a host without tracefs mounted (a fresh VM of the CI's kind had none), `harrier session`
/// mounts it itself and starts. Run in a private mount namespace (`unshare -m`), where tracefs is
/// unmounted first, so the host's mounts are not touched.
#[test]
fn harrier_session_mounts_tracefs_when_the_host_has_none() {
    let script = "umount /sys/kernel/debug/tracing 2>/dev/null; umount /sys/kernel/tracing 2>/dev/null; \
                  test -d /sys/kernel/tracing/events && { echo 'tracefs still mounted' >&2; exit 3; }; \
                  exec timeout -s INT 4 \"$0\" session";
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script, env!("CARGO_BIN_EXE_harrier")])
        .output()
        .expect("unshare (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("tracefs still mounted"), "{err}");
    assert!(err.contains("mounted tracefs at /sys/kernel/tracing"), "{err}");
    assert!(err.contains("session audit started"), "{err}");
}
