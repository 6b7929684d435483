//! Entry points for the fuzz targets (`crates/sinks/fuzz`): what the network hands the sinks and
//! the forwarder, through the same functions the deliveries and the ingest call, with the
//! invariants the rest relies on checked. Also the seed inputs (`cargo run -p harrier-sinks
//! --example sinks_fuzz_seeds`). Not a stable API.

use crate::alert::alert_from_json;
use crate::forward::{Forwarder, HttpReq};
use crate::kafka::{parse_api_versions, wire::Enc, KafkaConfig, KafkaSink};
use crate::metrics::Metrics;
use crate::nats::{NatsConfig, NatsConn, NatsSink};
use crate::router::Router;
use crate::smtp::{SmtpConfig, SmtpSink};
use crate::{AlertFilter, AlertFormat};
use harrier_engine::Alert;
use std::sync::{Arc, OnceLock};

/// One runtime for every call (the SMTP and NATS readers use tokio's timers).
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a tokio runtime")
    })
}

fn alerts() -> &'static [Arc<Alert>] {
    static A: OnceLock<Vec<Arc<Alert>>> = OnceLock::new();
    A.get_or_init(|| {
        let mut a = crate::alert::test_alert();
        a.time_ns = 1_700_000_000_123_456_789;
        a.hostname = "fuzz".into();
        let mut b = a.clone();
        b.rule = "Write below etc".into();
        b.output = ".starts with a dot\nand has é".into();
        vec![Arc::new(a), Arc::new(b)]
    })
}

/// Kafka: the first byte picks the Metadata version (1–4) and whether the sink may create the
/// topic; the rest is a response body (after the size and correlation id), decoded as an
/// ApiVersions, a Metadata and a Produce response.
pub fn kafka(data: &[u8]) {
    static SINKS: OnceLock<[KafkaSink; 2]> = OnceLock::new();
    let sinks = SINKS.get_or_init(|| {
        let cfg = |create| KafkaConfig {
            hostport: "localhost".into(),
            topic: "falco".into(),
            topiccreation: create,
            ..Default::default()
        };
        [KafkaSink::new(&cfg(false)).expect("kafka sink"), KafkaSink::new(&cfg(true)).expect("kafka sink")]
    });
    let Some((&sel, resp)) = data.split_first() else { return };
    if let Ok(v) = parse_api_versions(resp) {
        assert!((1..=4).contains(&v));
    }
    let sink = &sinks[usize::from(sel >> 2 & 1)];
    if let Ok(m) = sink.parse_metadata(resp, 1 + i16::from(sel & 3)) {
        assert!(!m.partitions.is_empty() && m.partitions.windows(2).all(|w| w[0] <= w[1]));
    }
    let _ = sink.check_produce(resp);
}

/// SMTP: the first byte picks the configuration (authentication, html or text) and how many
/// bytes each read returns; the rest is what the server says, from the greeting on.
pub fn smtp(data: &[u8]) {
    static SINKS: OnceLock<Vec<SmtpSink>> = OnceLock::new();
    let sinks = SINKS.get_or_init(|| {
        let base = SmtpConfig {
            hostport: "mail.example.org:25".into(),
            tls: false,
            from: "Harrier <harrier@example.org>".into(),
            to: "soc@example.org, Oncall <oncall@example.net>".into(),
            ..Default::default()
        };
        let user = |mech: &str| SmtpConfig {
            user: "alice".into(),
            password: "s3cret".into(),
            authmechanism: mech.into(),
            ..base.clone()
        };
        [base.clone(), user("plain"), user("login"), SmtpConfig { outputformat: "text".into(), ..base }]
            .iter()
            .map(|c| SmtpSink::new(c).expect("smtp sink"))
            .collect()
    });
    let Some((&sel, script)) = data.split_first() else { return };
    let sink = &sinks[usize::from(sel & 3)];
    let chunk = [4096, 1, 7, 64][usize::from(sel >> 2 & 3)];
    let r = rt().block_on(sink.scripted_session(script, chunk, alerts()));
    if let Err(e) = r {
        assert!(e.message.len() < 4096, "error message of {} bytes", e.message.len());
    }
}

/// The forwarder's ingest: `data` is the body of `POST /`. Accepted alerts go on through what
/// the sinks do with an alert: the spool (must read back the same alert), the route filters,
/// Falco's formats and the payload of each forwarder.
pub fn ingest(data: &[u8]) {
    rt().block_on(async {
        let fwd = Forwarder {
            router: Arc::new(Router::new(tokio::runtime::Handle::current())),
            metrics: Arc::new(Metrics::default()),
            max_body: 1 << 20,
            count_ingest: true,
        };
        let req =
            HttpReq { method: "POST".into(), path: "/".into(), headers: Vec::new(), body: data.to_vec() };
        let (code, _, body) = fwd.route(req).await;
        assert!(code == 200 || code == 400, "status {code}");
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
        let _ = fwd.metrics.render(&[]);
    });
    let Ok(v) = serde_json::from_slice(data) else { return };
    let Ok(a) = alert_from_json(&v) else { return };
    // The spool keeps an alert as this JSON line and reads it back with alert_from_json.
    let line = a.to_json_value(true, true).to_string();
    let back = serde_json::from_str(&line)
        .map_err(|e| e.to_string())
        .and_then(|v| alert_from_json(&v))
        .unwrap_or_else(|e| panic!("spooled alert does not read back: {e}: {line}"));
    assert_eq!(
        (back.time_ns, &back.rule, back.priority, &back.source, &back.output, &back.hostname),
        (a.time_ns, &a.rule, a.priority, &a.source, &a.output, &a.hostname)
    );
    assert_eq!(back.output_fields.keys().collect::<Vec<_>>(), a.output_fields.keys().collect::<Vec<_>>());
    static FILTERS: OnceLock<Vec<AlertFilter>> = OnceLock::new();
    let filters = FILTERS.get_or_init(|| {
        [
            "alert.priority in (Warning, Error) and not alert.rule startswith Test",
            "alert.tags intersects (filesystem, mitre) or proc.name glob 'ba*'",
            "tolower(alert.output) contains shell and basename(fd.name) = passwd",
            "alert.hostname regex '^web-[0-9]+$' or k8s.ns.name exists",
            "alert.source != syscall and alert.priority >= error",
        ]
        .iter()
        .filter_map(|f| AlertFilter::compile(f).ok())
        .collect()
    });
    for f in filters {
        let _ = f.matches(&a);
    }
    for json in [false, true] {
        for iso8601 in [false, true] {
            let _ = AlertFormat { json, include_output: true, include_tags: true, iso8601 }.format(&a);
        }
    }
    let arc = Arc::new(a);
    let one = std::slice::from_ref(&arc);
    let _ = crate::slack::payload(&arc, "all", "Harrier", "", "#alerts", "");
    let _ = crate::discord::payload(&arc, "");
    let _ = crate::teams::payload(&arc, "", "all");
    let _ = crate::loki::payload(one, &["k8s.ns.name".to_string()], true);
    let _ = crate::elasticsearch::bulk_body(one, "falco", "daily");
    let _ = crate::nats::subject("", &arc);
    for rfc in [3164, 5424] {
        let _ = crate::syslog::message(&arc, rfc, 1, "falco", rfc == 5424, "host");
    }
    let _ = crate::s3::amz_dates(arc.time_ns);
    let _ = crate::common::facts(&arc);
}

/// NATS: the first byte picks core or JetStream publishing; the rest is what the server sends
/// after the handshake (acknowledgements on the `_INBOX.fuzz` inbox, PINGs, PONGs, errors).
pub fn nats(data: &[u8]) {
    static SINKS: OnceLock<[NatsSink; 2]> = OnceLock::new();
    let sinks = SINKS.get_or_init(|| {
        let cfg = |jetstream| NatsConfig { hostport: "localhost".into(), jetstream, ..Default::default() };
        [NatsSink::new(&cfg(false)).expect("nats sink"), NatsSink::new(&cfg(true)).expect("nats sink")]
    });
    let Some((&sel, script)) = data.split_first() else { return };
    let mut conn = NatsConn::over(script, tokio::io::sink(), "_INBOX.fuzz");
    let _ = rt().block_on(sinks[usize::from(sel & 1)].send(&mut conn, alerts()));
}

/// A configuration file (falcosidekick keys, or a falco.yaml with output sections): parsed,
/// checked for unknown keys with their positions, as `harrier forward` and `harrier run` do.
/// Never panics; an error or a warning is a message naming a position.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for whole in [true, false] {
        match crate::config::Config::parse_checked(text, "f.yaml", false, whole) {
            Ok(l) => {
                for w in &l.warnings {
                    assert!(w.starts_with("f.yaml"), "{w}");
                }
                let _ = l.config.has_outputs();
                let _ = l.config.spool_dir();
            }
            Err(e) => assert!(!e.is_empty()),
        }
    }
    let p = crate::configcheck::Positions::parse(text);
    let _ = p.at("f.yaml", "a.b[0].c");
}

/// Valid inputs of each target (`kafka`, `smtp`, `ingest`, `nats`, `config`) to start from.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "kafka" => kafka_seeds(),
        "smtp" => smtp_seeds(),
        "ingest" => ingest_seeds(),
        "nats" => {
            let ack = r#"{"stream":"falco","seq":1}"#;
            let js = format!(
                "\x01+OK\r\nPING\r\nMSG _INBOX.fuzz.0 1 {n}\r\n{ack}\r\nMSG _INBOX.fuzz.1 1 {n}\r\n{ack}\r\n",
                n = ack.len()
            );
            vec![
                b"\x00INFO {\"server_id\":\"x\"}\r\n+OK\r\nPONG\r\n".to_vec(),
                js.into_bytes(),
                b"\x01-ERR 'Authorization Violation'\r\n".to_vec(),
            ]
        }
        "config" => [
            "listenport: 2801\nspooldir: /var/lib/harrier/spool\nspoolfsync: interval\nnats:\n  hostport: nats://127.0.0.1:4222\n  spooldir: /x\n  queue: {memory: 0, when_full: block, fsync: always}\n",
            "customfields: {env: prod}\nwebhok: {address: x}\nsinks:\n  - type: slack\n    webhookurl: http://x\n    minimumprority: error\n  - type: s3\n    bucket: b\n",
            "json_output: true\nrules_files: [a.yaml]\nslack:\n  webhookurl: http://x\n  minimumpriority: [loud]\n",
            "listenport: lots\n&a x: *a\n",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        _ => Vec::new(),
    }
}

fn kafka_seeds() -> Vec<Vec<u8>> {
    let mut api = Enc::default();
    api.i16(0).i32(3);
    for (key, min, max) in [(0, 0, 9), (3, 0, 12), (18, 0, 3)] {
        api.i16(key).i16(min).i16(max);
    }
    let metadata = |version: i16| {
        let mut m = Enc::default();
        if version >= 3 {
            m.i32(0);
        }
        m.i32(2);
        for (id, host) in [(1, "kafka-1"), (2, "::1")] {
            m.i32(id).str(host).i32(9092).nstr(None);
        }
        if version >= 2 {
            m.nstr(Some("cluster"));
        }
        m.i32(1).i32(2);
        for (err, name) in [(0, "falco"), (3, "other")] {
            m.i16(err).str(name).i8(0).i32(2);
            for p in [1, 0] {
                m.i16(0).i32(p).i32(1 + p).i32(1).i32(1 + p).i32(1).i32(1 + p);
            }
        }
        m.0
    };
    let mut produce = Enc::default();
    produce.i32(1).str("falco").i32(2);
    for (pid, err) in [(0, 0), (1, 6)] {
        produce.i32(pid).i16(err).i64(42).i64(-1);
    }
    produce.i32(0);
    let mut out = vec![[&[0u8][..], &api.0].concat(), [&[4u8][..], &produce.0].concat()];
    for v in 1..=4u8 {
        out.push([&[v - 1][..], &metadata(i16::from(v))].concat());
    }
    out
}

fn smtp_seeds() -> Vec<Vec<u8>> {
    let per_alert = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n251 2.1.5 forwarded\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 queued\r\n";
    let ehlo = "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n";
    let tail = format!("{per_alert}{per_alert}221 2.0.0 Bye\r\n");
    vec![
        format!("\x00220 mail.example.org ESMTP\r\n{ehlo}{tail}"),
        format!("\x01220 mail.example.org ESMTP\r\n{ehlo}235 2.7.0 Authentication successful\r\n{tail}"),
        format!("\x06220 hi\r\n{ehlo}334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n{tail}"),
        format!("\x0b220 old\r\n502 no EHLO\r\n250 hello\r\n{tail}"),
        "\x01220 hi\r\n250 mail.example.org\r\n".to_string(),
        format!("\x00220 hi\r\n{ehlo}550 5.7.1 relay denied\r\n"),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

fn ingest_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"hostname":"h","output":"16:17:57.881781397: Warning x","output_fields":{"proc.name":"cat","fd.name":"/etc/passwd","evt.num":42,"k8s.ns.name":null,"proc.is_exe_writable":true},"priority":"Warning","rule":"Read sensitive file","source":"syscall","tags":["filesystem","mitre_credential_access"],"time":"2016-08-04T16:17:57.881781397Z"}"#,
        r#"{"output":"x","priority":"Critical","rule":"r","time":"2016-08-04T18:17:57.5+02:00","tags":null}"#,
        r#"{"rule":"k8s","priority":"Notice","source":"k8s_audit","time":"2024-02-29T23:59:60-0130","output_fields":{"ka.user.name":"admin"}}"#,
        r#"{"rule":5,"priority":"Warning","time":"2016-08-04T16:17:57Z"}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_seeds_run() {
        let s = seeds("config");
        assert_eq!(s.len(), 4);
        for x in &s {
            config(x);
        }
        config(b"\xff\xfe");
        config(b"a: [");
    }

    #[test]
    fn seeds_go_deep() {
        for s in seeds("kafka") {
            kafka(&s);
        }
        let k = seeds("kafka");
        assert_eq!(parse_api_versions(&k[0][1..]).unwrap(), 4);
        for s in &k[2..] {
            let m = kafka_sink().parse_metadata(&s[1..], i16::from(s[0]) + 1).unwrap();
            assert_eq!(m.partitions, [(0, 1), (1, 2)]);
        }
        assert!(kafka_sink().check_produce(&k[1][1..]).unwrap_err().message.contains("falco[1]"));
        let smtp_ok = |s: &[u8]| {
            let sink = &SmtpSink::new(&SmtpConfig {
                hostport: "h:25".into(),
                tls: false,
                from: "a@example.org".into(),
                to: "b@example.org, c@example.org".into(),
                user: if matches!(s[0] & 3, 1 | 2) { "u".into() } else { String::new() },
                authmechanism: if s[0] & 3 == 2 { "login".into() } else { String::new() },
                ..Default::default()
            })
            .unwrap();
            rt().block_on(sink.scripted_session(&s[1..], 5, alerts()))
        };
        let sm = seeds("smtp");
        for s in &sm[..4] {
            smtp_ok(s).unwrap();
        }
        assert!(smtp_ok(&sm[4]).unwrap_err().message.contains("offers no AUTH"));
        assert!(smtp_ok(&sm[5]).unwrap_err().permanent);
        for s in seeds("ingest") {
            ingest(&s);
        }
        let n = seeds("nats");
        let js = NatsSink::new(&NatsConfig { hostport: "h".into(), jetstream: true, ..Default::default() })
            .unwrap();
        let mut c = NatsConn::over(&n[1][1..], tokio::io::sink(), "_INBOX.fuzz");
        rt().block_on(js.send(&mut c, alerts())).unwrap();
    }

    fn kafka_sink() -> KafkaSink {
        KafkaSink::new(&KafkaConfig { hostport: "h".into(), topic: "falco".into(), ..Default::default() })
            .unwrap()
    }
}

/// Every target briefly in the unit tests: seeds, the corpus kept in the repository, then
/// mutations for `HARRIER_FUZZ_SECS` (see `harrier-fuzzrun`).
#[cfg(test)]
mod brief_fuzz {
    #[test]
    fn kafka() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "kafka", &super::seeds("kafka"), super::kafka);
    }
    #[test]
    fn smtp() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "smtp", &super::seeds("smtp"), super::smtp);
    }
    #[test]
    fn ingest() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "ingest", &super::seeds("ingest"), super::ingest);
    }
    #[test]
    fn nats() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "nats", &super::seeds("nats"), super::nats);
    }
    #[test]
    fn config() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "config", &super::seeds("config"), super::config);
    }
}
