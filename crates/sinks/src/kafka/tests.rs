//! Kafka against librdkafka's mock cluster (the real Kafka wire protocol; no Kafka broker can run
//! here), built from `testdata/kafka-mock.c`; what arrived is read back with `kcat -C`.

use super::wire::{self, Compression, Dec, Enc, Record};
use super::*;
use crate::queue::QueueConfig;
use crate::router::{RouteConfig, Router};
use crate::testutil::{alert, need};
use harrier_rules::Priority;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

#[test]
fn checksums_and_hashes_match_known_values() {
    assert_eq!(wire::crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(wire::crc32_ieee(b"123456789"), 0xCBF4_3926);
    // Kafka's own murmur2 test values.
    assert_eq!(wire::murmur2(b"21") as i32, -973_932_308);
    assert_eq!(wire::murmur2(b"foobar") as i32, -790_332_482);
    assert_eq!(wire::murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
    assert_eq!(wire::fnv1a(b"a"), 0xE40C_292C);
    let mut e = Enc::default();
    e.varlong(0).varlong(-1).varlong(1).varlong(300).varlong(-65);
    assert_eq!(e.0, [0x00, 0x01, 0x02, 0xd8, 0x04, 0x81, 0x01]);
}

#[test]
fn record_batch_layout() {
    let recs = [
        Record { key: None, value: b"{\"a\":1}", timestamp_ms: 1_000 },
        Record { key: Some(b"k"), value: b"{}", timestamp_ms: 1_005 },
    ];
    for c in [Compression::None, Compression::Gzip] {
        let b = wire::record_batch(&recs, c);
        let mut d = Dec::new(&b);
        assert_eq!(d.i64().unwrap(), 0);
        assert_eq!(d.i32().unwrap() as usize, b.len() - 12, "batch length");
        assert_eq!(d.i32().unwrap(), -1);
        assert_eq!(d.i8().unwrap(), 2, "magic");
        let crc = d.i32().unwrap() as u32;
        assert_eq!(crc, wire::crc32c(&b[21..]), "CRC-32C over attributes..end");
        assert_eq!(d.i16().unwrap(), c as i16);
        assert_eq!(d.i32().unwrap(), 1, "last offset delta");
        assert_eq!(d.i64().unwrap(), 1_000);
        assert_eq!(d.i64().unwrap(), 1_005);
        assert_eq!(b[57..61], 2i32.to_be_bytes(), "record count");
    }
    // A truncated response is an error, not a panic.
    assert!(Dec::new(&[0, 0, 0]).i32().is_err());
    assert!(Dec::new(&[0x7f, 0, 0, 0]).array_len().is_err());
}

#[test]
fn config_is_checked() {
    let ok = |y: &str| KafkaSink::new(&serde_yaml::from_str::<KafkaConfig>(y).unwrap());
    let s = ok("hostport: a,b:9093\ntopic: falco\n").unwrap();
    assert_eq!(s.bootstrap, ["a:9092", "b:9093"]);
    assert_eq!(s.acks, 1);
    let s = ok("hostport: a\ntopic: t\nrequiredacks: ALL\nbalancer: murmur2\ncompression: gzip\nclientid: x")
        .unwrap();
    assert_eq!(
        (s.acks, s.balancer, s.compression, s.client_id.as_str()),
        (-1, Balancer::Murmur2, Compression::Gzip, "x")
    );
    for (bad, why) in [
        ("hostport: a", "topic"),
        ("hostport: a\ntopic: t\nrequiredacks: SOME", "requiredacks"),
        ("hostport: a\ntopic: t\nbalancer: random", "balancer"),
        ("hostport: a\ntopic: t\ncompression: zstd", "compression"),
        ("hostport: a\ntopic: t\nsasl: PLAIN", "sasl"),
    ] {
        let e = ok(bad).err().unwrap_or_default();
        assert!(e.contains(why), "{bad}: {e}");
    }
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
    // The mock speaks Metadata v0–v2, so the auto-creation flag (v4) cannot be sent and the
    // broker's own policy (auto-create) decides; the unknown-topic answer is checked below.
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

#[test]
fn metadata_answers_are_decoded() {
    let s = KafkaSink::new(&KafkaConfig { hostport: "h".into(), topic: "t".into(), ..Default::default() })
        .unwrap();
    // v2: brokers [1 → h1:9092], cluster id, controller, topics [t: error 3, no partitions].
    let mut e = Enc::default();
    e.i32(1).i32(1).str("h1").i32(9092).nstr(None).nstr(Some("c")).i32(1);
    e.i32(1).i16(3).str("t").i8(0).i32(0);
    let err = s.parse_metadata(&e.0, 2).unwrap_err();
    assert!(err.message.contains("UNKNOWN_TOPIC") && err.message.contains("topiccreation"), "{err:?}");
    assert!(!err.permanent);
    // v4 with two partitions, leaders 1 and 2.
    let mut e = Enc::default();
    e.i32(0).i32(2).i32(1).str("h1").i32(1).nstr(None).i32(2).str("::1").i32(2).nstr(None).nstr(None).i32(1);
    e.i32(1).i16(0).str("t").i8(0).i32(2);
    e.i16(0).i32(1).i32(2).i32(1).i32(2).i32(1).i32(2);
    e.i16(0).i32(0).i32(1).i32(0).i32(0);
    let m = s.parse_metadata(&e.0, 4).unwrap();
    assert_eq!(m.partitions, [(0, 1), (1, 2)]);
    assert_eq!(m.brokers[&2], "[::1]:2");
    // Cut anywhere: an error, never a panic.
    for n in 0..e.0.len() {
        assert!(s.parse_metadata(&e.0[..n], 4).is_err());
    }
    assert!(s.check_produce(&[0, 0, 0, 1, 0]).is_err());
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
