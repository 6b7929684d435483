//! Entry points for the fuzz targets (`crates/sinks/fuzz`): what the network hands the sinks and
//! the forwarder, through the same functions the deliveries and the ingest call, with the
//! invariants the rest relies on checked. Also the seed inputs (`cargo run -p harrier-sinks
//! --example sinks_fuzz_seeds`). Not a stable API.

use crate::alert::alert_from_json;
use crate::forward::{Forwarder, HttpReq};
use crate::metrics::Metrics;
use crate::router::Router;
#[cfg(feature = "smtp")]
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

#[cfg(feature = "smtp")]
/// SMTP (lettre speaks the protocol): the message built for an alert whose rule and output come
/// from `data` (the first byte picks html or text and splits rule from output). It must build,
/// stay 7-bit, and keep the alert text out of the headers.
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
        [base.clone(), SmtpConfig { outputformat: "text".into(), ..base }]
            .iter()
            .map(|c| SmtpSink::new(c).expect("smtp sink"))
            .collect()
    });
    let Some((&sel, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let cut = text.char_indices().nth(usize::from(sel >> 1)).map_or(text.len(), |(i, _)| i);
    let mut a = (*alerts()[0]).clone();
    a.rule = text[..cut].to_string();
    a.output = text[cut..].to_string();
    a.output_fields.insert("proc.cmdline".into(), text.to_string().into());
    let m = sinks[usize::from(sel & 1)].message(&a).expect("a message for any alert").formatted();
    assert!(m.is_ascii(), "an 8-bit message");
    let head_end = m.windows(4).position(|w| w == b"\r\n\r\n").expect("headers end");
    let head = String::from_utf8_lossy(&m[..head_end]);
    for l in head.split("\r\n") {
        let known = ["Date:", "From:", "To:", "Subject:", "Message-ID:", "MIME-Version:", "Content-"];
        assert!(
            l.starts_with([' ', '\t']) || known.iter().any(|k| l.starts_with(k)),
            "unexpected header line {l:?}"
        );
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
        let req = HttpReq {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: Vec::new(),
            body: data.to_vec(),
        };
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
    let _ = crate::common::facts(&arc);
    #[cfg(feature = "aws")]
    {
        let _ = crate::aws::sns::attributes(&arc);
        let _ = crate::aws::logs::batches(std::slice::from_ref(&arc), crate::aws::now_ms());
    }
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

/// The webhook-style outputs: what their receivers answer (Telegram's `ok`, Kafka REST's
/// per-record errors), a `messageformat` template, and alert text in the messages they build.
/// The first byte picks which. Never panics; a Telegram text keeps every MarkdownV2 character
/// escaped and within 4,096 characters; a Webex message stays under its byte limit.
pub fn hooks(data: &[u8]) {
    use crate::hooks::{googlechat, kafkarest, telegram, webex};
    let Some((&sel, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match sel % 4 {
        0 => {
            let _ = telegram::answer(rest);
        }
        1 => {
            let _ = kafkarest::answer(rest);
        }
        2 => {
            if let Ok(f) = crate::common::MessageFormat::parse("googlechat.messageformat", &text) {
                let v = googlechat::body(&alerts()[0], false, &f);
                assert!(v["text"].as_str().is_some_and(|t| t.chars().count() <= 4096));
            }
        }
        _ => {
            let mut a = (*alerts()[1]).clone();
            a.output = text.to_string();
            a.rule = text.chars().take(300).collect();
            a.output_fields.insert(text.chars().take(50).collect(), text.to_string().into());
            let t = telegram::text(&a);
            assert!(t.chars().count() <= 4096, "{}", t.chars().count());
            let mut it = t.chars();
            while let Some(c) = it.next() {
                if c == '\\' {
                    assert!(it.next().is_some_and(|n| "_*[]()~`>#+-=|{}.!\\".contains(n)), "{t}");
                } else {
                    assert!(!"_[]()~`>#+-=|{}.!".contains(c), "unescaped {c:?} in {t}");
                }
            }
            assert!(webex::markdown(&a).len() <= 7000);
        }
    }
}

/// Valid inputs of each target (`smtp`, `ingest`, `config`, `hooks`) to start from.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "smtp" => smtp_seeds(),
        "ingest" => ingest_seeds(),
        "hooks" => [
            &b"\x00{\"ok\":true,\"result\":{\"message_id\":1}}"[..],
            b"\x01{\"offsets\":[{\"partition\":0,\"offset\":1,\"error_code\":null},{\"error_code\":2,\"error\":\"x\"}]}",
            b"\x02Rule {{ .Rule }} ({{.Priority}}) {{ index .OutputFields \"proc.name\" }} {{ .Bogus",
            "\x03a_b*c[d](e)~`>#+-=|{}.!\\ \u{e9}\u{65e5}".as_bytes(),
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect(),
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

fn smtp_seeds() -> Vec<Vec<u8>> {
    [
        &b"\x10Write below etc\x0a\x0dBcc: x@example.org"[..],
        "\x03Règle ünicode: 日本語 .dotted\n.line".as_bytes(),
        b"\x40plain ascii rule and a long output line that needs folding in quoted printable encoding ok",
    ]
    .iter()
    .map(|s| s.to_vec())
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
        #[cfg(feature = "smtp")]
        for s in seeds("smtp") {
            smtp(&s);
        }
        for s in seeds("ingest") {
            ingest(&s);
        }
    }
}

/// Every target briefly in the unit tests: seeds, the corpus kept in the repository, then
/// mutations for `HARRIER_FUZZ_SECS` (see `harrier-fuzzrun`).
#[cfg(test)]
mod brief_fuzz {
    #[test]
    #[cfg(feature = "smtp")]
    fn smtp() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "smtp", &super::seeds("smtp"), super::smtp);
    }
    #[test]
    fn ingest() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "ingest", &super::seeds("ingest"), super::ingest);
    }
    #[test]
    fn hooks() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "hooks", &super::seeds("hooks"), super::hooks);
    }
    #[test]
    fn config() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "config", &super::seeds("config"), super::config);
    }
}
