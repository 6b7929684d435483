//! Against a real mosquitto (Debian's `mosquitto`, private config on a free port, persistence in
//! a temp dir); messages are read back by an independent rumqttc subscriber.

use super::*;
use crate::queue::QueueConfig;
use crate::router::{RouteConfig, Router};
use crate::testutil::{alert, free_port, need, Proc};
use harrier_rules::Priority;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// mosquitto on `port` with its state in `dir`; `extra` lines go into the config.
fn mosquitto_on(port: u16, dir: tempfile::TempDir, extra: &str) -> Proc {
    let bin = need("mosquitto");
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "user root\nlistener {port} 127.0.0.1\npersistence true\npersistence_location {}/\n{extra}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(&conf);
    let mut p = Proc::start("mosquitto", dir, port, &mut cmd);
    p.wait_port();
    p
}

fn anonymous(port: u16) -> Proc {
    mosquitto_on(port, tempfile::tempdir().unwrap(), "allow_anonymous true")
}

/// An independent subscriber with a persistent session (`clean_session: false`, QoS 1), so
/// the broker keeps its messages while it is away; it reconnects by itself.
fn subscriber(port: u16, id: &str, filter: &str) -> tokio::sync::mpsc::UnboundedReceiver<rumqttc::Publish> {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_clean_session(false).set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(o, 10);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let filter = filter.to_string();
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.subscribe(filter.as_str(), QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = tx.send(rumqttc::Publish::new("subscribed", QoS::AtMostOnce, ""));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    rx
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<rumqttc::Publish>) -> rumqttc::Publish {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a message in 10 s").unwrap()
}

async fn subscribed(rx: &mut tokio::sync::mpsc::UnboundedReceiver<rumqttc::Publish>) {
    assert_eq!(next(rx).await.topic, "subscribed");
}

#[tokio::test]
async fn publishes_falco_json_with_qos_and_retain() {
    let p = anonymous(free_port());
    let mut sub = subscriber(p.port, "t-sub-1", "falco/#");
    subscribed(&mut sub).await;
    for qos in [0u8, 1, 2] {
        let s = MqttSink::new(&MqttConfig {
            broker: format!("tcp://127.0.0.1:{}", p.port),
            qos,
            ..Default::default()
        })
        .unwrap();
        let batch: Vec<_> =
            (0..5).map(|i| Arc::new(alert(&format!("q{qos}-{i}"), Priority::Warning))).collect();
        s.deliver(&batch).await.unwrap();
        for i in 0..5 {
            let m = next(&mut sub).await;
            assert_eq!(m.topic, "falco/events");
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            assert_eq!(v["rule"], format!("q{qos}-{i}"), "in order");
            assert_eq!(v["priority"], "Warning");
            assert_eq!(v["output_fields"]["k8s.ns.name"], "prod");
        }
    }
    // `retained`: a subscriber that comes later still gets the last alert.
    let s = MqttSink::new(&MqttConfig {
        broker: format!("127.0.0.1:{}", p.port),
        topic: "falco/retained".into(),
        qos: 1,
        retained: true,
        ..Default::default()
    })
    .unwrap();
    s.deliver(&[Arc::new(alert("kept", Priority::Critical))]).await.unwrap();
    let mut late = subscriber(p.port, "t-sub-late", "falco/retained");
    subscribed(&mut late).await;
    let m = next(&mut late).await;
    assert!(m.retain);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&m.payload).unwrap()["rule"], "kept");
}

fn password_file(dir: &Path) -> std::path::PathBuf {
    let f = dir.join("passwd");
    let st =
        Command::new(need("mosquitto_passwd")).arg("-b").arg("-c").arg(&f).args(["falco", "s3cret"]).status();
    assert!(st.is_ok_and(|s| s.success()), "mosquitto_passwd");
    f
}

#[tokio::test]
async fn user_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path());
    let p = mosquitto_on(free_port(), dir, &format!("allow_anonymous false\npassword_file {}", pw.display()));
    let cfg = |user: &str, password: &str| MqttConfig {
        broker: format!("tcp://127.0.0.1:{}", p.port),
        qos: 1,
        user: user.into(),
        password: password.into(),
        ..Default::default()
    };
    let a = [Arc::new(alert("auth", Priority::Error))];
    let e = MqttSink::new(&cfg("falco", "wrong")).unwrap().deliver(&a).await.unwrap_err();
    assert!(e.message.contains("refused"), "{e}");
    let e = MqttSink::new(&cfg("", "")).unwrap().deliver(&a).await.unwrap_err();
    assert!(e.message.contains("refused"), "{e}");
    MqttSink::new(&cfg("falco", "s3cret")).unwrap().deliver(&a).await.unwrap();
}

/// mosquitto stopped (SIGTERM, it saves its state) while alerts come in, then started again on
/// the same port and state: with QoS 1 every alert reaches the subscriber, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_and_restarted_loses_nothing_with_qos1() {
    let port = free_port();
    let state = tempfile::tempdir().unwrap();
    let conf_dir = state.path().to_path_buf();
    let mut p = mosquitto_on(port, tempfile::TempDir::new_in(&conf_dir).unwrap(), "allow_anonymous true");
    let mut sub = subscriber(port, "t-sub-restart", "falco/#");
    subscribed(&mut sub).await;
    let spool = tempfile::tempdir().unwrap();
    let mut r = Router::new(tokio::runtime::Handle::current());
    let q = QueueConfig {
        memory: 10,
        spool_dir: Some(spool.path().to_path_buf()),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        timeout: Duration::from_secs(3),
        ..Default::default()
    };
    let cfg = MqttConfig { broker: format!("tcp://127.0.0.1:{port}"), qos: 1, ..Default::default() };
    r.add(Arc::new(MqttSink::new(&cfg).unwrap()), RouteConfig { queue: q, ..RouteConfig::new("mqtt") })
        .unwrap();
    const N: usize = 200;
    for i in 0..20 {
        r.send(&alert(&format!("a{i}"), Priority::Warning));
    }
    let end = Instant::now() + Duration::from_secs(10);
    while !r.is_idle() {
        assert!(Instant::now() < end, "{:?}", r.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Stop the broker gracefully; its state dir is kept for the restart.
    let pid = p.child.id();
    let st = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(st.success());
    let _ = p.child.wait();
    let kept = std::mem::replace(&mut p.dir, tempfile::tempdir().unwrap());
    for i in 20..N {
        r.send(&alert(&format!("a{i}"), Priority::Warning));
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mid = r.stats()[0].clone();
    assert_eq!(mid.delivered, 20, "{mid:?}");
    assert!(mid.retries > 0 && mid.spilled > 0, "{mid:?}");
    let _p2 = mosquitto_on(port, kept, "allow_anonymous true");
    let end = Instant::now() + Duration::from_secs(30);
    while !r.is_idle() {
        assert!(Instant::now() < end, "not delivered 30 s after the restart: {:?}", r.stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut rules = std::collections::BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(20);
    while rules.len() < N && Instant::now() < end {
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(1), sub.recv()).await {
            if m.topic == "falco/events" {
                let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
                rules.insert(v["rule"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(
        rules.len(),
        N,
        "missing: {:?}",
        (0..N).map(|i| format!("a{i}")).filter(|r| !rules.contains(r)).collect::<Vec<_>>()
    );
    let st = r.stats()[0].clone();
    assert_eq!((st.delivered, st.dropped), (N as u64, 0));
}

#[test]
fn brokers_and_bad_configs() {
    assert_eq!(parse_broker("tcp://mq:1884").unwrap(), ("mq".into(), 1884, false));
    assert_eq!(parse_broker("ssl://mq").unwrap(), ("mq".into(), 8883, true));
    assert_eq!(parse_broker("mq").unwrap(), ("mq".into(), 1883, false));
    assert_eq!(parse_broker("mqtts://[::1]:9000").unwrap(), ("::1".into(), 9000, true));
    let base = || MqttConfig { broker: "tcp://mq:1883".into(), ..Default::default() };
    for (c, why) in [
        (MqttConfig::default(), "mqtt.broker is empty"),
        (
            MqttConfig { broker: "http://mq".into(), ..Default::default() },
            "mqtt.broker 'http://mq': the scheme",
        ),
        (
            MqttConfig { broker: "tcp://mq:port".into(), ..Default::default() },
            "mqtt.broker 'tcp://mq:port': bad port",
        ),
        (MqttConfig { qos: 3, ..base() }, "mqtt.qos must be 0, 1 or 2"),
        (MqttConfig { topic: "falco/#".into(), ..base() }, "mqtt.topic"),
        (MqttConfig { password: "p".into(), ..base() }, "mqtt.user is empty"),
    ] {
        let e = MqttSink::new(&c).err().unwrap_or_default();
        assert!(e.contains(why), "{why}: {e}");
    }
}
