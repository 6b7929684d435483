//! Alert forwarding wired into the binary: a `-c` config with falcosidekick blocks sends replayed
//! alerts to a webhook, and `harrier forward` accepts what Falco's http_output posts.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A tiny HTTP receiver: answers 200 to every request and hands the bodies over a channel.
fn receiver() -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let t = line.trim_end();
                        if t.is_empty() {
                            break;
                        }
                        if let Some(v) = t.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (port, rx)
}

#[test]
fn replayed_alerts_reach_a_webhook_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let (port, rx) = receiver();
    let cfg = dir.path().join("harrier.yaml");
    std::fs::write(
        &cfg,
        format!(
            "json_output: true\nwebhook:\n  address: http://127.0.0.1:{port}/alerts\nspooldir: {}\n",
            dir.path().join("spool").display()
        ),
    )
    .unwrap();
    let r = write_rules(
        dir.path(),
        "r.yaml",
        "- rule: cat opens\n  desc: d\n  condition: evt.type in (open, openat) and proc.name = cat\n  output: \"cat opened %fd.name\"\n  priority: WARNING\n",
    );
    let o = harrier(&[
        "-c",
        cfg.to_str().unwrap(),
        "-r",
        r.to_str().unwrap(),
        "-o",
        "engine.kind=replay",
        "-o",
        &format!("engine.replay.capture_file={}", capture("cat_write.scap").display()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut got = Vec::new();
    while let Ok(b) = rx.recv_timeout(Duration::from_secs(5)) {
        got.push(serde_json::from_str::<serde_json::Value>(&b).expect("webhook body is JSON"));
        if got.len() == 4 {
            break;
        }
    }
    assert_eq!(got.len(), 4, "all four alerts delivered");
    assert!(got.iter().all(|a| a["rule"] == "cat opens" && a["priority"] == "Warning"));
}

#[test]
fn forward_accepts_falco_http_output_and_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let (port, rx) = receiver();
    let listen = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = dir.path().join("sidekick.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listenaddress: 127.0.0.1\nlistenport: {listen}\nwebhook:\n  address: http://127.0.0.1:{port}/\nspooldir: {}\n",
            dir.path().join("spool").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(["forward", "-c", cfg.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let post = |body: &str| -> String {
        for _ in 0..100 {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", listen)) {
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
    };
    let alert = r#"{"output":"16:17:57.881781397: Warning x","priority":"Warning","rule":"Falco rule","time":"2016-08-04T16:17:57.881781397Z","output_fields":{"proc.name":"cat"},"source":"syscall","tags":["a"],"hostname":"h"}"#;
    let resp = post(alert);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let got: serde_json::Value =
        serde_json::from_str(&rx.recv_timeout(Duration::from_secs(5)).expect("forwarded")).unwrap();
    assert_eq!(got["rule"], "Falco rule");
    let resp = post("{not json");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let resp = post(r#"{"rule": 5}"#);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    assert!(child.wait().unwrap().success());
}
