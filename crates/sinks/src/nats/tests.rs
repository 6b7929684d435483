//! Against a real nats-server (Debian's `nats-server`, with JetStream), read back with
//! async-nats as an independent subscriber.

use super::*;
use crate::testutil::{alert, free_port, need, Proc};
use futures_util::StreamExt;
use harrier_rules::Priority;
use std::process::Command;

fn nats_server_on(port: u16, dir: tempfile::TempDir) -> Proc {
    let bin = need("nats-server");
    let mut cmd = Command::new(bin);
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"]).arg(dir.path().join("js"));
    let mut p = Proc::start("nats-server", dir, port, &mut cmd);
    p.wait_port();
    p
}

fn nats_server() -> Proc {
    nats_server_on(free_port(), tempfile::tempdir().unwrap())
}

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(Duration::from_secs(10), sub.next()).await.expect("a message in 10 s").unwrap()
}

/// A subscription the server has registered: async-nats's flush only writes out its buffer, so the
/// subscriber's own probe coming back is what proves it (one connection's commands are handled in
/// order).
async fn subscribed(client: &async_nats::Client, subject: &str, probe: &str) -> async_nats::Subscriber {
    let mut sub = client.subscribe(subject.to_string()).await.unwrap();
    client.publish(probe.to_string(), "probe".into()).await.unwrap();
    assert_eq!(next(&mut sub).await.subject.as_str(), probe);
    sub
}

#[tokio::test]
async fn core_publish_reaches_a_subscriber() {
    let p = nats_server();
    let url = format!("nats://127.0.0.1:{}", p.port);
    let client = async_nats::connect(&url).await.unwrap();
    let mut sub = subscribed(&client, "falco.>", "falco.probe").await;
    let s = NatsSink::new(&NatsConfig { hostport: url, ..Default::default() }).unwrap();
    s.deliver(&[
        Arc::new(alert("Terminal shell in container", Priority::Warning)),
        Arc::new(alert("b", Priority::Error)),
    ])
    .await
    .unwrap();
    let m = next(&mut sub).await;
    assert_eq!(m.subject.as_str(), "falco.warning.terminal_shell_in_container");
    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(v["rule"], "Terminal shell in container");
    assert_eq!(next(&mut sub).await.subject.as_str(), "falco.error.b");
    // A custom template.
    let s = NatsSink::new(&NatsConfig {
        hostport: format!("127.0.0.1:{}", p.port),
        subjecttemplate: "alerts.<priority>".into(),
        ..Default::default()
    })
    .unwrap();
    let mut sub2 = subscribed(&client, "alerts.*", "alerts.probe").await;
    s.deliver(&[Arc::new(alert("c", Priority::Notice))]).await.unwrap();
    assert_eq!(next(&mut sub2).await.subject.as_str(), "alerts.notice");
}

#[tokio::test]
async fn jetstream_publish_is_acknowledged_and_stored() {
    let p = nats_server();
    let url = format!("nats://127.0.0.1:{}", p.port);
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let mut stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "FALCO".into(),
            subjects: vec!["falco.>".into()],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .unwrap();
    let s =
        NatsSink::new(&NatsConfig { hostport: url.clone(), jetstream: true, ..Default::default() }).unwrap();
    let batch: Vec<_> = (0..20).map(|i| Arc::new(alert(&format!("r{i}"), Priority::Notice))).collect();
    s.deliver(&batch).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 20);
    // A subject no stream listens on is not acknowledged: the delivery fails (and is retried).
    let s2 = NatsSink::new(&NatsConfig {
        hostport: url,
        jetstream: true,
        subjecttemplate: "other.<rule>".into(),
        ..Default::default()
    })
    .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(8), s2.deliver(&batch[..1])).await;
    assert!(r.is_err() || r.unwrap().is_err());
}

#[tokio::test]
async fn delivers_again_after_the_server_restarts() {
    let port = free_port();
    let mut p = nats_server_on(port, tempfile::tempdir().unwrap());
    let url = format!("nats://127.0.0.1:{port}");
    let s = NatsSink::new(&NatsConfig { hostport: url.clone(), ..Default::default() }).unwrap();
    s.deliver(&[Arc::new(alert("before", Priority::Error))]).await.unwrap();
    p.kill();
    // Server down: the delivery does not succeed (the queue's timeout ends it and retries).
    let r =
        tokio::time::timeout(Duration::from_millis(500), s.deliver(&[Arc::new(alert("x", Priority::Error))]))
            .await;
    assert!(!matches!(r, Ok(Ok(()))), "delivered to a stopped server");
    let _p2 = nats_server_on(port, tempfile::tempdir().unwrap());
    let client = async_nats::connect(&url).await.unwrap();
    let mut sub = subscribed(&client, "falco.>", "falco.probe").await;
    // The same sink reconnects by itself and the retried batch arrives.
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            s.deliver(&[Arc::new(alert("after", Priority::Error))]),
        )
        .await;
        if matches!(r, Ok(Ok(()))) {
            break;
        }
        assert!(std::time::Instant::now() < end, "no delivery 20 s after the restart: {r:?}");
    }
    // The subscriber is another connection: on a loaded machine its copy can come after the
    // sink's own marker, so it gets its own 10 s (earlier retried copies may come first).
    let mut subjects = Vec::new();
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(m)) = tokio::time::timeout_at(end, sub.next()).await {
        subjects.push(m.subject.to_string());
        if m.subject.as_str() == "falco.error.after" {
            break;
        }
    }
    assert!(subjects.contains(&"falco.error.after".to_string()), "{subjects:?}");
}

#[test]
fn bad_configs_are_refused() {
    for (c, why) in [
        (NatsConfig::default(), "empty"),
        (NatsConfig { hostport: "nats://h:port".into(), ..Default::default() }, "hostport"),
        (
            NatsConfig {
                hostport: "h:4222".into(),
                user: "u".into(),
                token: "t".into(),
                ..Default::default()
            },
            "not both",
        ),
    ] {
        let e = NatsSink::new(&c).err().unwrap_or_default();
        assert!(e.contains(why), "{e}");
    }
}
