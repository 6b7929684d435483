//! Kafka against librdkafka's mock cluster (the real Kafka wire protocol; no Kafka broker can run
//! here), built from `testdata/kafka-mock.c`; what arrived is read back with `kcat -C`.

use super::*;
use crate::queue::QueueConfig;
use crate::router::{RouteConfig, Router};
use crate::testutil::{alert, need};
use harrier_rules::Priority;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

#[test]
fn config_is_checked() {
    let props = |y: &str| -> Result<std::collections::HashMap<String, String>, String> {
        Ok(KafkaSink::settings(&serde_yaml::from_str::<KafkaConfig>(y).unwrap())?.into_iter().collect())
    };
    let p = props("hostport: a, b:9093\ntopic: falco\n").unwrap();
    assert_eq!(p["bootstrap.servers"], "a,b:9093");
    assert_eq!((p["acks"].as_str(), p["security.protocol"].as_str()), ("1", "plaintext"));
    assert_eq!(p["client.id"], "harrier");
    assert!(!p.contains_key("partitioner"), "round robin is chosen per record");
    let p =
        props("hostport: a\ntopic: t\nrequiredacks: ALL\nbalancer: murmur2\ncompression: gzip\nclientid: x")
            .unwrap();
    assert_eq!(p["acks"], "all");
    assert_eq!(p["enable.idempotence"], "true");
    assert_eq!(p["partitioner"], "murmur2");
    assert_eq!(p["compression.codec"], "gzip");
    assert_eq!(p["client.id"], "x");
    let p = props("hostport: a\ntopic: t\nsasl: SCRAM_SHA512\ntls: true\nusername: u\npassword: pw").unwrap();
    assert_eq!(p["security.protocol"], "sasl_ssl");
    assert_eq!((p["sasl.mechanism"].as_str(), p["sasl.username"].as_str()), ("SCRAM-SHA-512", "u"));
    let p = props("hostport: a\ntopic: t\nsasl: PLAIN\nusername: u\npassword: pw").unwrap();
    assert_eq!((p["security.protocol"].as_str(), p["sasl.mechanism"].as_str()), ("sasl_plaintext", "PLAIN"));
    assert_eq!(props("hostport: a\ntopic: t\ntls: true").unwrap()["security.protocol"], "ssl");
    for (bad, why) in [
        ("hostport: a", "topic"),
        ("hostport: ' , '\ntopic: t", "hostport"),
        ("hostport: a\ntopic: t\nrequiredacks: SOME", "requiredacks"),
        ("hostport: a\ntopic: t\nbalancer: random", "balancer"),
        ("hostport: a\ntopic: t\ncompression: zstd", "compression"),
        ("hostport: a\ntopic: t\nsasl: AWS_MSK_IAM\nusername: u", "sasl"),
        ("hostport: a\ntopic: t\nsasl: PLAIN", "username"),
    ] {
        let e = props(bad).err().unwrap_or_default();
        assert!(e.contains(why), "{bad}: {e}");
    }
    // The password never shows in the properties reported.
    let s = KafkaSink::new(
        &serde_yaml::from_str("hostport: 127.0.0.1:1\ntopic: t\nsasl: PLAIN\nusername: u\npassword: s3cret")
            .unwrap(),
    )
    .unwrap();
    assert!(s.properties().iter().all(|(_, v)| !v.contains("s3cret")));
}

/// The mock cluster, killed on drop; `down()`/`up()` switch its brokers.
struct Mock {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    bootstrap: String,
    _dir: tempfile::TempDir,
}

impl Mock {
    fn start(partitions: u32) -> Mock {
        let gcc = need("gcc");
        assert!(
            std::path::Path::new("/usr/include/librdkafka/rdkafka_mock.h").exists(),
            "librdkafka-dev is not installed: run scripts/setup-tests.sh"
        );
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kafka-mock");
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/kafka-mock.c");
        let st = Command::new(gcc).args(["-O1", "-o"]).arg(&bin).arg(src).arg("-lrdkafka").status().unwrap();
        assert!(st.success(), "cannot build the Kafka mock broker (librdkafka-dev)");
        let mut child = Command::new(&bin)
            .args(["1", &partitions.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut bootstrap = String::new();
        out.read_line(&mut bootstrap).unwrap();
        let bootstrap = bootstrap.trim().to_string();
        assert!(bootstrap.starts_with("127.0.0.1:") || bootstrap.contains(':'), "mock said '{bootstrap}'");
        Mock { child, stdin, out, bootstrap, _dir: dir }
    }

    fn cmd(&mut self, c: &str) {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        let mut l = String::new();
        self.out.read_line(&mut l).unwrap();
        assert_eq!(l.trim(), "ok");
    }

    /// Every record of `topic`: (partition, key, value), read with kcat.
    fn consume(&self, topic: &str) -> Vec<(u32, String, serde_json::Value)> {
        let out = Command::new(need("kcat"))
            .args(["-C", "-b", &self.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"])
            .args(["-f", "%p\t%k\t%s\n"])
            .output()
            .unwrap();
        assert!(out.status.success(), "kcat: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut it = l.splitn(3, '\t');
                let p = it.next().unwrap().parse().unwrap();
                let k = it.next().unwrap().to_string();
                let v = serde_json::from_str(it.next().unwrap()).unwrap_or_else(|e| panic!("{e}: {l}"));
                (p, k, v)
            })
            .collect()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn batch(n: usize, p: Priority) -> Vec<Arc<Alert>> {
    (0..n).map(|i| Arc::new(alert(&format!("rule {}", i % 4), p))).collect()
}

#[tokio::test]
async fn produce_reaches_every_partition_and_kcat_reads_it() {
    let m = Mock::start(3);
    let s = KafkaSink::new(&KafkaConfig {
        hostport: m.bootstrap.clone(),
        topic: "falco".into(),
        ..Default::default()
    })
    .unwrap();
    let alerts = batch(12, Priority::Warning);
    s.deliver(&alerts).await.unwrap();
    s.deliver(&alerts[..3]).await.unwrap();
    let got = m.consume("falco");
    assert_eq!(got.len(), 15, "{got:?}");
    let mut parts: Vec<u32> = got.iter().map(|g| g.0).collect();
    parts.sort();
    parts.dedup();
    assert_eq!(parts, [0, 1, 2], "round robin uses every partition");
    assert!(got.iter().all(|g| g.1.is_empty()), "no key with round_robin");
    assert!(got.iter().all(|g| g.2["priority"] == "Warning" && g.2["output_fields"].is_object()));
    let mut rules: Vec<String> = got.iter().map(|g| g.2["rule"].as_str().unwrap().to_string()).collect();
    rules.sort();
    assert_eq!(rules.iter().filter(|r| *r == "rule 0").count(), 4);
}

#[tokio::test]
async fn gzip_keyed_to_an_auto_created_topic() {
    let m = Mock::start(1);
    // The mock auto-creates topics it is asked about.
    let cfg = KafkaConfig {
        hostport: m.bootstrap.clone(),
        topic: "alerts-new".into(),
        balancer: "murmur2".into(),
        compression: "GZIP".into(),
        requiredacks: "ALL".into(),
        ..Default::default()
    };
    let alerts = batch(8, Priority::Critical);
    let s = KafkaSink::new(&cfg).unwrap();
    let mut tries = 0;
    // A freshly created topic may need a moment for its leader.
    while let Err(e) = s.deliver(&alerts).await {
        tries += 1;
        assert!(tries < 50, "{e:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = m.consume("alerts-new");
    assert_eq!(got.len(), 8, "{got:?}");
    assert!(got.iter().all(|g| g.1 == g.2["rule"].as_str().unwrap()), "key is the rule: {got:?}");
}

#[tokio::test]
async fn acks_none_is_fire_and_forget() {
    let m = Mock::start(1);
    let s = KafkaSink::new(&KafkaConfig {
        hostport: m.bootstrap.clone(),
        topic: "falco".into(),
        requiredacks: "NONE".into(),
        ..Default::default()
    })
    .unwrap();
    s.deliver(&batch(5, Priority::Notice)).await.unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let n = m.consume("falco").len();
        if n == 5 {
            break;
        }
        assert!(Instant::now() < end, "{n} of 5 arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_spills_and_delivers_when_back() {
    let mut m = Mock::start(2);
    let spool = tempfile::tempdir().unwrap();
    let mut r = Router::new(tokio::runtime::Handle::current());
    let s = KafkaSink::new(&KafkaConfig {
        hostport: m.bootstrap.clone(),
        topic: "falco".into(),
        ..Default::default()
    })
    .unwrap();
    let q = QueueConfig {
        memory: 8,
        spool_dir: Some(spool.path().to_path_buf()),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(300),
        timeout: Duration::from_secs(3),
        ..Default::default()
    };
    r.add(Arc::new(s), RouteConfig { queue: q, ..RouteConfig::new("kafka") }).unwrap();
    r.send_async(&alert("before", Priority::Error)).await;
    let wait = |r: &Router, f: &dyn Fn(&crate::SinkStats) -> bool| f(&r.stats()[0]);
    let end = Instant::now() + Duration::from_secs(20);
    while !wait(&r, &|s| s.delivered == 1) {
        assert!(Instant::now() < end, "{:?}", r.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    m.cmd("down");
    for i in 0..40 {
        r.send_async(&alert(&format!("during {i}"), Priority::Error)).await;
    }
    let end = Instant::now() + Duration::from_secs(20);
    while !wait(&r, &|s| s.retries >= 2 && s.spilled > 0) {
        assert!(Instant::now() < end, "{:?}", r.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = r.stats()[0].clone();
    assert_eq!(st.delivered, 1, "nothing delivered while down: {st:?}");
    assert!(st.last_error.contains("kafka"), "{st:?}");
    m.cmd("up");
    let end = Instant::now() + Duration::from_secs(30);
    while !wait(&r, &|s| s.delivered >= 41) {
        assert!(Instant::now() < end, "{:?}", r.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = r.shutdown(Duration::from_secs(2)).await;
    assert_eq!((st[0].dropped, st[0].failed), (0, 0), "{st:?}");
    let got = m.consume("falco");
    let mut rules: Vec<String> = got.iter().map(|g| g.2["rule"].as_str().unwrap().to_string()).collect();
    rules.sort();
    rules.dedup();
    assert_eq!(rules.len(), 41, "every alert arrived (duplicates allowed): {rules:?}");
}
