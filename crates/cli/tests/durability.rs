//! Durable by default (issue 22): `harrier forward` answers 200 only once an alert is in the
//! spool, so a `kill -9` loses nothing it accepted. Real NATS server (Debian's `nats-server`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server(port: u16) -> Kill {
    let c = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (scripts/setup-tests.sh installs it)");
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Kill(c)
}

/// Subscribes to `falco.>` and hands every payload's rule over a channel.
fn nats_subscriber(port: u16) -> mpsc::Receiver<String> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut w = s.try_clone().unwrap();
    w.write_all(b"CONNECT {\"verbose\":false}\r\nSUB falco.> 1\r\nPING\r\n").unwrap();
    let mut r = BufReader::new(s);
    // Wait for the PONG so the subscription is in place before anything is published.
    let mut line = String::new();
    loop {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0);
        if line.starts_with("PONG") {
            break;
        }
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line.starts_with("PING") {
            let _ = w.write_all(b"PONG\r\n");
        } else if line.starts_with("MSG ") {
            let n: usize = line.split_whitespace().last().unwrap().parse().unwrap();
            let mut body = vec![0; n + 2];
            r.read_exact(&mut body).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body[..n]).unwrap();
            let _ = tx.send(v["rule"].as_str().unwrap_or_default().to_string());
        }
    });
    rx
}

fn post(port: u16, body: &str) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let req = format!(
                "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).unwrap();
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            return resp;
        }
        assert!(Instant::now() < end, "harrier forward did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn forward(cfg: &std::path::Path, spool: &std::path::Path) -> Kill {
    Kill(
        Command::new(env!("CARGO_BIN_EXE_harrier"))
            .args(["forward", "-c", cfg.to_str().unwrap()])
            .env("HARRIER_SPOOLDIR", spool)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn alert(i: usize) -> String {
    format!(
        r#"{{"output":"x","priority":"Warning","rule":"kill test {i}","time":"2016-08-04T16:17:57.881781397Z","output_fields":{{}},"source":"syscall","tags":[],"hostname":"h"}}"#
    )
}

/// The issue's kill test, with default queue settings and no `spooldir` key (the default spool
/// directory, pointed at a private one with `HARRIER_SPOOLDIR`): five alerts answered 200 while
/// NATS is down, `kill -9`, NATS up, restart: all five arrive.
#[test]
fn accepted_alerts_survive_kill_9_with_default_settings() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("default-spool");
    let (listen, nats) = (free_port(), free_port());
    let cfg = dir.path().join("sidekick.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listenaddress: 127.0.0.1\nlistenport: {listen}\nnats:\n  hostport: nats://127.0.0.1:{nats}\n"
        ),
    )
    .unwrap();
    let mut h = forward(&cfg, &spool);
    for i in 0..5 {
        let r = post(listen, &alert(i));
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    // SIGKILL right after the last 200.
    h.0.kill().unwrap();
    h.0.wait().unwrap();
    let on_disk = std::fs::read_to_string(spool.join("nats.spool")).unwrap();
    assert_eq!(on_disk.lines().count(), 5, "{on_disk}");

    let _server = nats_server(nats);
    let rx = nats_subscriber(nats);
    let _h = forward(&cfg, &spool);
    let mut got = std::collections::BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(20);
    while got.len() < 5 && Instant::now() < end {
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(200)) {
            got.insert(r);
        }
    }
    let want: std::collections::BTreeSet<_> = (0..5).map(|i| format!("kill test {i}")).collect();
    assert_eq!(got, want, "5/5 after kill -9");
}

/// Two processes never share a spool: the second is refused with a clear message.
#[test]
fn a_spool_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let (l1, l2) = (free_port(), free_port());
    let mk = |l: u16, name: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!("listenaddress: 127.0.0.1\nlistenport: {l}\nwebhook:\n  address: http://127.0.0.1:1/\n"),
        )
        .unwrap();
        p
    };
    let (c1, c2) = (mk(l1, "a.yaml"), mk(l2, "b.yaml"));
    let _first = forward(&c1, &spool);
    let r = post(l1, &alert(0));
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let out = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(["forward", "-c", c2.to_str().unwrap()])
        .env("HARRIER_SPOOLDIR", &spool)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("in use by another Harrier process"), "{e}");
}
