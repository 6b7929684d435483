//! `harrier forward` with a `store:` block: alerts posted the way Falco's http_output posts them
//! land in the alert store (SQLite, and a real PostgreSQL server started by the test), through the
//! router's queue, while the forwarder runs; `--strict-config` accepts the block.

use harrier_store::Query;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn post(port: u16, body: &str) -> String {
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let req = format!(
                "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).unwrap();
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            return resp;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("harrier forward did not listen");
}

fn forward_into(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let listen = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = dir.path().join("sidekick.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listenaddress: 127.0.0.1\nlistenport: {listen}\nspooldir: {}\nstore:\n  url: \"{url}\"\n  minimumpriority: notice\n  maxage: 3650d\n",
            dir.path().join("spool").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(["forward", "--strict-config", "-c", cfg.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for i in 0..50 {
        let prio = if i == 7 { "Debug" } else { "Warning" };
        let alert = format!(
            r#"{{"output":"16:17:57.881781397: {prio} file opened number{i}","priority":"{prio}","rule":"Falco rule","time":"2016-08-04T16:17:57.{i:09}Z","output_fields":{{"proc.name":"cat","fd.name":"/etc/f{i}"}},"source":"syscall","tags":["a"],"hostname":"h"}}"#
        );
        let resp = post(listen, &alert);
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    // The store fills while the forwarder runs (batched by the sink's queue).
    let store = harrier_store::open(url).unwrap();
    let start = Instant::now();
    while store.count(&Query::new()).unwrap() < 49 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(store.count(&Query::new()).unwrap(), 49, "the Debug alert is below minimumpriority");
    let mut q = Query::new();
    q.text = Some("number42".into());
    let page = store.query(&q).unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.events[0].alert["output_fields"]["fd.name"], "/etc/f42");
    assert_eq!(page.events[0].alert["rule"], "Falco rule");
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("sink store (store): delivered 49"), "{err}");
}

#[test]
fn forward_stores_alerts_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    forward_into(&format!("sqlite:{}", dir.path().join("alerts.db").display()));
}

#[test]
fn forward_stores_alerts_in_postgres() {
    let server = harrier_store::pgserver::PgServer::start(&[("fsync", "off")]).unwrap();
    forward_into(&server.new_database().unwrap());
}

#[test]
fn forward_refuses_a_bad_store_block() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sidekick.yaml");
    std::fs::write(
        &cfg,
        "listenaddress: 127.0.0.1\nlistenport: 0\nstore:\n  url: sqlite:/x.db\n  maxage: forever\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(["forward", "-c", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("maxage"), "{err}");
}
