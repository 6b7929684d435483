//! Alerts per second through the protocol sinks against the real servers the tests use
//! (nats-server, librdkafka's mock broker, aiosmtpd), each started here on a free port:
//! `cargo bench -p harrier-sinks --bench protocols`. Calls `Sink::deliver` directly with batches of
//! the sink's `max_batch`, so the figure is the client and the server, not the queue. A server
//! that is not installed is reported and skipped (scripts/setup-tests.sh installs them all).

use harrier_engine::Alert;
use harrier_sinks::kafka::{KafkaConfig, KafkaSink};
use harrier_sinks::nats::{NatsConfig, NatsSink};
use harrier_sinks::smtp::{SmtpConfig, SmtpSink};
use harrier_sinks::Sink;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16) {
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alerts(n: usize) -> Vec<Arc<Alert>> {
    (0..n)
        .map(|i| {
            let mut a = harrier_sinks::test_alert();
            a.rule = format!("Bench rule {}", i % 8);
            Arc::new(a)
        })
        .collect()
}

async fn run(name: &str, sink: &dyn Sink, n: usize) {
    let all = alerts(n);
    // Warm-up: connect, topic metadata.
    sink.deliver(&all[..1]).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    let t = Instant::now();
    for chunk in all.chunks(sink.max_batch()) {
        sink.deliver(chunk).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let s = t.elapsed().as_secs_f64();
    println!("{name:<28} {n:>6} alerts in {s:>6.2} s = {:>8.0} alerts/s", n as f64 / s);
}

fn have(bin: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {bin}")]).output().is_ok_and(|o| o.status.success())
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    if have("nats-server") {
        let port = free_port();
        let _srv = Kill(
            Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(tmp.path().join("js"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_port(port);
        let url = format!("nats://127.0.0.1:{port}");
        let s = NatsSink::new(&NatsConfig { hostport: url.clone(), ..Default::default() }).unwrap();
        run("nats core", &s, 50_000).await;
        // JetStream needs a stream: one request to the server's JSON API.
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let create = r#"{"name":"FALCO","subjects":["falco.>"],"storage":"memory"}"#;
        std::io::Write::write_all(
            &mut c,
            format!(
                "CONNECT {{}}\r\nPUB $JS.API.STREAM.CREATE.FALCO {}\r\n{create}\r\nPING\r\n",
                create.len()
            )
            .as_bytes(),
        )
        .unwrap();
        let mut r = std::io::BufReader::new(c);
        let mut l = String::new();
        while !l.starts_with("PONG") {
            l.clear();
            r.read_line(&mut l).unwrap();
        }
        let s = NatsSink::new(&NatsConfig { hostport: url, jetstream: true, ..Default::default() }).unwrap();
        run("nats jetstream (acked)", &s, 20_000).await;
    } else {
        println!("nats: skipped (nats-server not installed)");
    }

    let mock_src = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/kafka-mock.c");
    if have("gcc") && std::path::Path::new("/usr/include/librdkafka/rdkafka_mock.h").exists() {
        let bin = tmp.path().join("kafka-mock");
        let ok = Command::new("gcc").args(["-O1", "-o"]).arg(&bin).arg(mock_src).arg("-lrdkafka").status();
        assert!(ok.is_ok_and(|s| s.success()), "cannot build the Kafka mock");
        let mut child = Command::new(&bin)
            .args(["1", "3"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let _stdin = child.stdin.take();
        let _mock = Kill(child);
        let mut bootstrap = String::new();
        out.read_line(&mut bootstrap).unwrap();
        for acks in ["ONE", "ALL"] {
            let s = KafkaSink::new(&KafkaConfig {
                hostport: bootstrap.trim().to_string(),
                topic: "falco".into(),
                requiredacks: acks.into(),
                ..Default::default()
            })
            .unwrap();
            run(&format!("kafka acks {acks}"), &s, 50_000).await;
        }
    } else {
        println!("kafka: skipped (gcc or librdkafka-dev missing)");
    }

    let py = std::path::Path::new("/usr/bin/python3");
    let aiosmtpd = Command::new(py).args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
    if aiosmtpd {
        let port = free_port();
        let _srv = Kill(
            Command::new(py)
                .args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_port(port);
        let s = SmtpSink::new(&SmtpConfig {
            hostport: format!("127.0.0.1:{port}"),
            tls: false,
            from: "harrier@example.org".into(),
            to: "soc@example.org".into(),
            ..Default::default()
        })
        .unwrap();
        run("smtp (html, plain)", &s, 2_000).await;
    } else {
        println!("smtp: skipped (python3-aiosmtpd not installed)");
    }
}
