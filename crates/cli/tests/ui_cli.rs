//! `harrier ui` as a user runs it: first start prints a one-time admin password, `token create`
//! prints the token as its last line, the token reads the API, revoked tokens stop working, and
//! alerts posted the way falcosidekick's webui output posts them are stored.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn harrier() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harrier"))
}

fn http(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    // A tiny HTTP/1.1 client over std (the cli crate has no HTTP client dependency).
    use std::io::{Read, Write};
    let u = url.strip_prefix("http://").unwrap();
    let (host, path) = u.split_at(u.find('/').unwrap());
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn ui_first_start_tokens_and_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("sub/alerts.db").display());
    let mut child = harrier()
        .args(["ui", "--store", &store, "--listen", "127.0.0.1:0"])
        .env_remove("HARRIER_UI_ADMIN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("one-time password"), "{first}");
    let password = lines.next().unwrap().unwrap();
    assert!(password.len() >= 16 && !password.contains(' '));
    let listening = lines.next().unwrap().unwrap();
    let addr = listening.split("http://").nth(1).unwrap().split(' ').next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{listening}");
    let base = format!("http://{addr}");

    let out = harrier()
        .args(["ui", "token", "create", "--store", &store, "--name", "ci", "--role", "read"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim().to_string();
    assert!(token.starts_with("hrr_"), "{stdout}");

    let alert = r#"{"event": {"time": "2026-12-04T03:00:00Z", "rule": "Terminal shell in container", "priority": "Notice",
        "source": "syscall", "tags": ["shell"], "output": "a shell", "output_fields": {"proc.name": "bash"}, "hostname": "n1"},
        "outputs": ["WebUI"]}"#;
    assert_eq!(http("POST", &format!("{base}/api/v1/events/add"), None, Some(alert)).0, 200);
    let (s, body) = http("GET", &format!("{base}/api/v1/events?priority=notice"), Some(&token), None);
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"total\":1") && body.contains("Terminal shell in container"), "{body}");
    assert_eq!(http("GET", &format!("{base}/api/v1/events"), None, None).0, 401);

    let out = harrier().args(["ui", "token", "revoke", "--store", &store, "--name", "ci"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(http("GET", &format!("{base}/api/v1/events"), Some(&token), None).0, 401);
    let out = harrier()
        .args(["ui", "token", "create", "--store", &store, "--name", "x", "--role", "root"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--role"));
    child.kill().unwrap();
    child.wait().unwrap();

    // Second start: the admin exists, no password is printed again.
    let mut child = harrier()
        .args(["ui", "--store", &store, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("listening on"), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();

    // A bad store URL is a clear error.
    let out = harrier().args(["ui", "--store", "mysql://x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown store URL"));
}

mod common;

/// Replayed alerts reach the store through the `store:` sink of the config, then `harrier ui`
/// serves them.
#[test]
fn replayed_alerts_reach_the_store_sink() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alerts.db");
    let cfg = dir.path().join("harrier.yaml");
    std::fs::write(
        &cfg,
        format!(
            "json_output: true\nstore:\n  url: sqlite:{}\nspooldir: {}\n",
            db.display(),
            dir.path().join("spool").display()
        ),
    )
    .unwrap();
    let r = common::write_rules(
        dir.path(),
        "r.yaml",
        "- rule: cat opens\n  desc: d\n  condition: evt.type in (open, openat) and proc.name = cat\n  output: \"cat opened %fd.name\"\n  priority: WARNING\n  tags: [filesystem]\n",
    );
    let o = common::harrier(&[
        "-c",
        cfg.to_str().unwrap(),
        "-r",
        r.to_str().unwrap(),
        "-o",
        "engine.kind=replay",
        "-o",
        &format!("engine.replay.capture_file={}", common::capture("cat_write.scap").display()),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let printed = common::json_alerts(&o);
    // cat_write.scap holds enter events: as in Falco, both halves of each of the 4 opens match.
    assert_eq!(printed.len(), 8);
    let s = harrier_store::SqliteStore::open(db.to_str().unwrap()).unwrap();
    use harrier_store::Store;
    let page = s.query(&harrier_store::Query::new()).unwrap();
    assert_eq!(page.total, 8, "every alert stored");
    for e in &page.events {
        assert_eq!(e.alert["rule"], "cat opens");
        assert_eq!(e.alert["tags"], serde_json::json!(["filesystem"]));
        assert!(e.alert["output"].as_str().unwrap().starts_with("cat opened"));
    }
}
