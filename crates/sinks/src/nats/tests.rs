use super::*;
use crate::testutil::{alert, free_port, need, Proc};
use harrier_rules::Priority;
use std::process::Command;

fn nats_server() -> Proc {
    let bin = need("nats-server");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"]).arg(dir.path().join("js"));
    let mut p = Proc::start("nats-server", dir, port, &mut cmd);
    p.wait_port();
    p
}

#[tokio::test]
async fn core_publish_reaches_a_subscriber() {
    let p = nats_server();
    let url = format!("nats://127.0.0.1:{}", p.port);
    let mut sub = NatsConn::connect(&url, "", "", "").await.unwrap();
    sub.w.write_all(b"SUB falco.> 9\r\n").await.unwrap();
    sub.flush_roundtrip().await.unwrap();
    let s = NatsSink::new(&NatsConfig { hostport: url, ..Default::default() }).unwrap();
    s.deliver(&[
        Arc::new(alert("Terminal shell in container", Priority::Warning)),
        Arc::new(alert("b", Priority::Error)),
    ])
    .await
    .unwrap();
    let (subj, payload) = sub.read_msg().await.unwrap().unwrap();
    assert_eq!(subj, "falco.warning.terminal_shell_in_container");
    let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["rule"], "Terminal shell in container");
    assert_eq!(sub.read_msg().await.unwrap().unwrap().0, "falco.error.b");
}

#[tokio::test]
async fn jetstream_publish_is_acknowledged_and_stored() {
    let p = nats_server();
    let url = format!("nats://127.0.0.1:{}", p.port);
    let mut api = NatsConn::connect(&url, "", "", "").await.unwrap();
    let create =
        serde_json::json!({"name": "FALCO", "subjects": ["falco.>"], "storage": "memory"}).to_string();
    let r = api.requests(&[("$JS.API.STREAM.CREATE.FALCO".into(), create.into_bytes())]).await.unwrap();
    assert!(String::from_utf8_lossy(&r[0]).contains("\"config\""), "{}", String::from_utf8_lossy(&r[0]));
    let s =
        NatsSink::new(&NatsConfig { hostport: url.clone(), jetstream: true, ..Default::default() }).unwrap();
    let batch: Vec<_> = (0..20).map(|i| Arc::new(alert(&format!("r{i}"), Priority::Notice))).collect();
    s.deliver(&batch).await.unwrap();
    let info = api.requests(&[("$JS.API.STREAM.INFO.FALCO".into(), Vec::new())]).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&info[0]).unwrap();
    assert_eq!(v["state"]["messages"], 20, "{v}");
    // A subject no stream listens on is not acknowledged: the delivery fails (and is retried).
    let s2 = NatsSink::new(&NatsConfig {
        hostport: url,
        jetstream: true,
        subjecttemplate: "other.<rule>".into(),
        ..Default::default()
    })
    .unwrap();
    let r = tokio::time::timeout(std::time::Duration::from_millis(500), s2.deliver(&batch[..1])).await;
    assert!(r.is_err() || r.unwrap().is_err());
}

#[tokio::test]
async fn malformed_server_messages_are_errors() {
    let read = |b: &'static [u8]| async move {
        let mut c = NatsConn::over(b, tokio::io::sink(), "_INBOX.t");
        let mut got = Vec::new();
        loop {
            match c.read_msg().await {
                Ok(m) => got.push(m),
                Err(e) => return (got, e.message),
            }
        }
    };
    let (got, e) = read(b"INFO {}\r\n+OK\r\nPING\r\nMSG _INBOX.t.0 1 2\r\nhi\r\nPONG\r\n").await;
    assert_eq!(got, [Some(("_INBOX.t.0".to_string(), b"hi".to_vec())), None]);
    assert!(e.contains("connection closed"), "{e}");
    for (bad, why) in [
        // The payload is read as it arrives, not allocated at the announced size.
        (&b"MSG a 1 67108864\r\nabc"[..], "connection closed"),
        (b"MSG a 1 67108865\r\n", "too large"),
        (b"MSG a 1 x\r\n", "bad MSG"),
        // A line without its end (cut, or longer than the limit) is not read as two lines.
        (b"PONG", "cut short"),
        (b"HELLO\r\n", "unexpected"),
    ] {
        let (got, e) = read(bad).await;
        assert!(got.is_empty() && e.contains(why), "{bad:?}: {e}");
    }
    // The server's text in errors is clipped.
    let long: &'static [u8] =
        Box::leak(format!("-ERR {}\r\n", "x".repeat(10_000)).into_bytes().into_boxed_slice());
    let (_, e) = read(long).await;
    assert!(e.len() < 300, "{} bytes", e.len());
}
