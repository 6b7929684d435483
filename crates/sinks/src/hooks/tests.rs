//! None of these services can run here: each test starts a local server (ephemeral port) that
//! checks the request the service documents — method, path, headers, authentication and the
//! JSON body's required fields and limits — and answers as the service does (its success
//! answer, its error answers for a bad request, a bad key, rate limiting).

use super::*;
use crate::config::{build_sinks, Config};
use crate::metrics::Metrics;
use crate::router::Router;
use crate::testutil::{alert, Recorder, Req};
use harrier_rules::Priority;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn one(rule: &str, p: Priority) -> Vec<Arc<Alert>> {
    vec![Arc::new(alert(rule, p))]
}

fn yaml<T: Hook>(text: &str) -> T {
    serde_yaml::from_str(text).unwrap()
}

fn build<T: Hook>(text: &str) -> HookSink {
    Hook::sink(&yaml::<T>(text), "").unwrap()
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {s}"),
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let n = chunk.iter().filter(|&&c| c != b'=').count();
        let mut v = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            v |= (if c == b'=' { 0 } else { val(c) } as u32) << (18 - 6 * i);
        }
        out.extend(&v.to_be_bytes()[1..n]);
    }
    out
}

/// Opsgenie Alert API: POST /v2/alerts, `Authorization: GenieKey <key>`, `message` required and
/// ≤ 130 characters, `priority` P1–P5, `details` string values; 202 on success, 422 for an
/// invalid alert, 401 for a bad key, 429 when rate limited.
#[tokio::test]
async fn opsgenie_alert_api() {
    let mut rec = Recorder::start(|r| {
        if r.header("authorization") != Some("GenieKey 8f1c-key") {
            return (401, r#"{"message":"Key format is not valid!","took":0.0}"#.into());
        }
        let v = r.json();
        let ok = r.method == "POST"
            && r.path == "/v2/alerts"
            && r.header("content-type") == Some("application/json")
            && v["message"].as_str().is_some_and(|m| !m.is_empty() && m.chars().count() <= 130)
            && v["description"].as_str().is_some_and(|d| d.chars().count() <= 15_000)
            && ["P1", "P2", "P3", "P4", "P5"].contains(&v["priority"].as_str().unwrap_or(""))
            && v["details"].as_object().is_some_and(|d| d.values().all(Value::is_string));
        if ok {
            (202, r#"{"result":"Request will be processed","took":0.2,"requestId":"r1"}"#.into())
        } else {
            (422, r#"{"message":"Request body is not processable","took":0.0}"#.into())
        }
    })
    .await;
    let s = build::<OpsgenieConfig>(&format!("apikey: 8f1c-key\nendpoint: {}\n", rec.url("")));
    let mut long = alert("Long", Priority::Notice);
    long.output = "y".repeat(20_000);
    s.deliver(&[Arc::new(alert("Shell", Priority::Critical)), Arc::new(long)]).await.unwrap();
    let got = rec.take();
    assert_eq!(got.len(), 2);
    let v = got[0].json();
    assert_eq!(v["priority"], "P2");
    assert_eq!(v["entity"], "Falcosidekick");
    assert_eq!(v["details"]["rule"], "Shell");
    assert_eq!(v["details"]["k8s_ns_name"], "prod", "dots in field names become _");
    assert_eq!(v["details"]["tags"], "example, test");
    let v = got[1].json();
    assert_eq!((v["priority"].as_str(), v["message"].as_str().unwrap().chars().count()), (Some("P5"), 130));
    let bad = build::<OpsgenieConfig>(&format!("apikey: wrong\nendpoint: {}\n", rec.url("")));
    let e = bad.deliver(&one("x", Priority::Error)).await.unwrap_err();
    assert!(e.permanent && e.message.contains("401"), "{e:?}");
    rec.status.store(429, Ordering::Relaxed);
    assert!(!s.deliver(&one("x", Priority::Error)).await.unwrap_err().permanent);
    rec.down();
    let s = build::<OpsgenieConfig>(&format!("apikey: 8f1c-key\nendpoint: {}\n", rec.url("")));
    assert!(!s.deliver(&one("x", Priority::Error)).await.unwrap_err().permanent);
    assert_eq!(
        Hook::sink(&yaml::<OpsgenieConfig>("apikey: k\nregion: EU\n"), "").unwrap().target.url,
        "https://api.eu.opsgenie.com/v2/alerts"
    );
    assert_eq!(
        Hook::sink(&yaml::<OpsgenieConfig>("apikey: k\n"), "").unwrap().target.url,
        "https://api.opsgenie.com/v2/alerts"
    );
}

/// Google Chat incoming webhook: POST /v1/spaces/{space}/messages with `key` and `token` in
/// the query, a JSON message with `text` (≤ 4,096 characters) and `cardsV2` cards whose
/// widgets are well formed; 200 with the created message, 400 otherwise, 429 above one
/// message a second.
#[tokio::test]
async fn googlechat_webhook() {
    let mut rec = Recorder::start(|r| {
        let v = r.json();
        let cards_ok = match v.get("cardsV2") {
            None => true,
            Some(c) => {
                c[0]["card"]["sections"][0]["widgets"].as_array().is_some_and(|w| {
                    !w.is_empty()
                        && w.iter().all(|x| {
                            x["decoratedText"]["topLabel"].is_string()
                                && x["decoratedText"]["text"].is_string()
                        })
                }) && c[0]["cardId"].is_string()
            }
        };
        let ok = r.method == "POST"
            && r.path == "/v1/spaces/AAAA/messages"
            && r.query == "key=k1&token=t1"
            && r.header("content-type").is_some_and(|c| c.starts_with("application/json"))
            && v["text"].as_str().is_some_and(|t| t.chars().count() <= 4096)
            && cards_ok;
        if ok {
            (200, r#"{"name":"spaces/AAAA/messages/m1"}"#.into())
        } else {
            (400, r#"{"error":{"code":400,"message":"Invalid JSON payload"}}"#.into())
        }
    })
    .await;
    let url = rec.url("/v1/spaces/AAAA/messages?key=k1&token=t1");
    let s = build::<GooglechatConfig>(&format!(
        "webhookurl: '{url}'\nmessageformat: 'Rule *{{{{ .Rule }}}}* in {{{{ index .OutputFields \"k8s.ns.name\" }}}} ({{{{ .Priority }}}})'\n"
    ));
    s.deliver(&one("Shell", Priority::Critical)).await.unwrap();
    let v = rec.take()[0].json();
    assert_eq!(v["text"], "Rule *Shell* in prod (Critical)");
    let card = &v["cardsV2"][0]["card"];
    assert_eq!(
        (card["header"]["title"].as_str(), card["header"]["subtitle"].as_str()),
        (Some("Shell"), Some("Critical"))
    );
    let widgets = card["sections"][0]["widgets"].as_array().unwrap();
    assert!(widgets
        .iter()
        .any(|w| w["decoratedText"]["topLabel"] == "k8s.pod.name" && w["decoratedText"]["text"] == "web-1"));
    let t = build::<GooglechatConfig>(&format!("webhookurl: '{url}'\noutputformat: text\n"));
    t.deliver(&one("Shell", Priority::Debug)).await.unwrap();
    let v = rec.take()[0].json();
    assert!(v.get("cardsV2").is_none() && v["text"] == alert("Shell", Priority::Debug).output, "{v}");
    rec.status.store(429, Ordering::Relaxed);
    let e = s.deliver(&one("x", Priority::Error)).await.unwrap_err();
    assert!(!e.permanent && !e.message.contains("t1"), "retried, and the token is not shown: {e:?}");
    rec.down();
    let s = build::<GooglechatConfig>(&format!("webhookurl: '{url}'\n"));
    let e = s.deliver(&one("x", Priority::Error)).await.unwrap_err();
    assert!(!e.permanent && !e.message.contains("token="), "{e:?}");
}

/// The Telegram Bot API: POST /bot{token}/sendMessage with `chat_id`, `text`, `parse_mode`;
/// in MarkdownV2 every reserved character outside an entity must be escaped and the text is
/// at most 4,096 characters, otherwise 400 "can't parse entities"; a bad token is 401. Each
/// answer is `{"ok": …}`.
#[tokio::test]
async fn telegram_send_message() {
    fn markdown_v2_ok(t: &str) -> bool {
        let mut stars = 0;
        let mut it = t.chars();
        while let Some(c) = it.next() {
            match c {
                '\\' if !it.next().is_some_and(|n| "_*[]()~`>#+-=|{}.!\\".contains(n)) => return false,
                '\\' => {}
                '*' => stars += 1,
                c if "_[]()~`>#+-=|{}.!".contains(c) => return false,
                _ => {}
            }
        }
        stars % 2 == 0 && t.chars().count() <= 4096
    }
    let mut rec = Recorder::start(|r| {
        if r.path != "/bot123:AAH-x_y/sendMessage" {
            return (401, r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.into());
        }
        let v = r.json();
        let ok = r.method == "POST"
            && v["chat_id"] == "-100200"
            && v["parse_mode"] == "MarkdownV2"
            && v["text"].as_str().is_some_and(markdown_v2_ok);
        if ok {
            (200, r#"{"ok":true,"result":{"message_id":7}}"#.into())
        } else {
            (400, r#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities"}"#.into())
        }
    })
    .await;
    let cfg =
        format!("host: {}\ntoken: '123:AAH-x_y'\nchatid: '-100200'\nmessagethreadid: '42'\n", rec.url(""));
    let s = build::<TelegramConfig>(&cfg);
    let mut a = alert("Write below /etc (user=root)", Priority::Error);
    a.output = "File opened: a_b*c [d](e) ~x `y` >z #1 +2 -3 =4 |5 {6} .7 !8 \\9".into();
    a.output_fields.insert("fd.name".into(), "/etc/shadow.bak".into());
    let mut big = alert("Big", Priority::Warning);
    for i in 0..200 {
        big.output_fields.insert(format!("field.{i}"), "v.-!".repeat(50).into());
    }
    s.deliver(&[Arc::new(a), Arc::new(big)]).await.unwrap();
    let got = rec.take();
    let v = got[0].json();
    assert_eq!(
        (v["message_thread_id"].as_str(), v["disable_web_page_preview"].as_bool()),
        (Some("42"), Some(true))
    );
    let text = v["text"].as_str().unwrap();
    assert!(text.contains("a\\_b\\*c \\[d\\]\\(e\\)") && text.contains("/etc/shadow\\.bak"), "{text}");
    assert!(got[1].json()["text"].as_str().unwrap().chars().count() <= 4096);
    let e = build::<TelegramConfig>(&cfg.replace("AAH-x_y", "wrong"))
        .deliver(&one("x", Priority::Error))
        .await
        .unwrap_err();
    assert!(e.permanent && e.message.contains("401") && !e.message.contains("wrong"), "{e:?}");
    // A 200 that is not ok is not a delivery.
    let no = Recorder::start(|_| (200, r#"{"ok":false}"#.into())).await;
    let e = build::<TelegramConfig>(&format!("host: {}\ntoken: t\nchatid: c\n", no.url("")))
        .deliver(&one("x", Priority::Error))
        .await
        .unwrap_err();
    assert!(!e.permanent && e.message.contains("telegram"), "{e:?}");
    rec.down();
    let s = build::<TelegramConfig>(&cfg);
    let e = s.deliver(&one("x", Priority::Error)).await.unwrap_err();
    assert!(!e.permanent && !e.message.contains("AAH"), "the token is never shown: {e:?}");
    assert!(e.message.contains("/bot<token>/sendMessage"), "{e:?}");
}

/// Webex incoming webhook: POST /v1/webhooks/incoming/{id} with `{"markdown": …}` of at most
/// 7,439 bytes; 204 on success, 400 otherwise.
#[tokio::test]
async fn webex_incoming_webhook() {
    let mut rec = Recorder::start(|r| {
        let v = r.json();
        let ok = r.method == "POST"
            && r.path == "/v1/webhooks/incoming/Y2lz"
            && r.header("content-type") == Some("application/json")
            && v["markdown"].as_str().is_some_and(|m| !m.is_empty() && m.len() <= 7439);
        if ok {
            (204, String::new())
        } else {
            (400, r#"{"message":"Invalid message"}"#.into())
        }
    })
    .await;
    let s = build::<WebexConfig>(&format!("webhookurl: {}\n", rec.url("/v1/webhooks/incoming/Y2lz")));
    let mut big = alert("Big", Priority::Warning);
    big.output = "z".repeat(20_000);
    for i in 0..300 {
        big.output_fields.insert(format!("field.{i}"), "v".repeat(100).into());
    }
    s.deliver(&[Arc::new(alert("Shell", Priority::Critical)), Arc::new(big)]).await.unwrap();
    let got = rec.take();
    let m = got[0].json()["markdown"].as_str().unwrap().to_string();
    assert!(m.starts_with("**Critical** · **Shell**") && m.contains("- **k8s.ns.name**: prod"), "{m}");
    rec.down();
    let s = build::<WebexConfig>(&format!("webhookurl: {}\n", rec.url("/v1/webhooks/incoming/Y2lz")));
    assert!(!s.deliver(&one("x", Priority::Error)).await.unwrap_err().permanent);
}

/// Datadog logs intake v2: POST /api/v2/logs, `DD-API-KEY`, a JSON array of entries each with
/// `message`; 202 `{}` on success, 403 for a bad key, 400 for a bad body.
#[tokio::test]
async fn datadog_logs_intake() {
    let mut rec = Recorder::start(|r| {
        if r.header("dd-api-key") != Some("0a1b2c") {
            return (403, r#"{"errors":[{"status":"403","title":"Forbidden"}]}"#.into());
        }
        let v = r.json();
        let ok = r.method == "POST"
            && r.path == "/api/v2/logs"
            && r.header("content-type") == Some("application/json")
            && v.as_array().is_some_and(|a| {
                !a.is_empty() && a.len() <= 1000 && a.iter().all(|e| e["message"].is_string())
            });
        if ok {
            (202, "{}".into())
        } else {
            (400, r#"{"errors":[{"status":"400","title":"Bad Request"}]}"#.into())
        }
    })
    .await;
    let s =
        build::<DatadoglogsConfig>(&format!("apikey: 0a1b2c\nhost: {}\nservice: falco-node\n", rec.url("")));
    assert_eq!(s.max_batch(), 100);
    let batch: Vec<_> = (0..3).map(|i| Arc::new(alert(&format!("r{i}"), Priority::Error))).collect();
    s.deliver(&batch).await.unwrap();
    let got = rec.take();
    assert_eq!(got.len(), 1, "one request per batch");
    let v = got[0].json();
    assert_eq!(v.as_array().unwrap().len(), 3);
    let e = &v[2];
    assert_eq!(
        (e["ddsource"].as_str(), e["service"].as_str(), e["ddtags"].as_str()),
        (Some("falco"), Some("falco-node"), Some("example,test"))
    );
    let m: Value = serde_json::from_str(e["message"].as_str().unwrap()).unwrap();
    assert_eq!((m["rule"].as_str(), m["output_fields"]["k8s.ns.name"].as_str()), (Some("r2"), Some("prod")));
    let bad = build::<DatadoglogsConfig>(&format!("apikey: nope\nhost: {}\n", rec.url("")));
    let e = bad.deliver(&batch).await.unwrap_err();
    assert!(e.permanent && e.message.contains("403"), "{e:?}");
    assert_eq!(
        Hook::sink(&yaml::<DatadoglogsConfig>("apikey: k\n"), "").unwrap().target.url,
        "https://http-intake.logs.datadoghq.com/api/v2/logs"
    );
    rec.down();
    let s = build::<DatadoglogsConfig>(&format!("apikey: 0a1b2c\nhost: {}\n", rec.url("")));
    assert!(!s.deliver(&batch).await.unwrap_err().permanent);
}

/// Confluent REST Proxy: POST /topics/{topic}, content type
/// `application/vnd.kafka.binary.v2+json` (or v1), `{"records":[{"value": base64}]}`; 200 with
/// one offset per record (an `error_code` per failed record: 1 non-retriable, 2 retriable),
/// 415 for another content type.
#[tokio::test]
async fn kafka_rest_proxy() {
    let code = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let c2 = code.clone();
    let mut rec = Recorder::start(move |r| {
        let v = r.json();
        if r.header("content-type") != Some("application/vnd.kafka.binary.v2+json")
            && r.header("content-type") != Some("application/vnd.kafka.binary.v1+json")
        {
            return (415, r#"{"error_code":415,"message":"HTTP 415 Unsupported Media Type"}"#.into());
        }
        let records = v["records"].as_array().cloned().unwrap_or_default();
        if r.method != "POST" || r.path != "/topics/falco" || records.is_empty() {
            return (422, r#"{"error_code":422,"message":"Unrecognized field"}"#.into());
        }
        let err = c2.load(Ordering::Relaxed);
        let offsets: Vec<Value> = (0..records.len())
            .map(|i| match err {
                0 => serde_json::json!({"partition":0,"offset":i,"error_code":null,"error":null}),
                e => serde_json::json!({"partition":null,"offset":null,"error_code":e,"error":"broker down"}),
            })
            .collect();
        (200, serde_json::json!({"offsets":offsets,"key_schema_id":null,"value_schema_id":null}).to_string())
    })
    .await;
    let s = build::<KafkarestConfig>(&format!("address: {}\n", rec.url("/topics/falco")));
    let batch: Vec<_> = (0..4).map(|i| Arc::new(alert(&format!("k{i}"), Priority::Error))).collect();
    s.deliver(&batch).await.unwrap();
    let got = rec.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("accept"), Some("application/vnd.kafka.v2+json, application/json"));
    let recs = got[0].json()["records"].as_array().unwrap().clone();
    let rules: Vec<String> = recs
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&decode_base64(r["value"].as_str().unwrap())).unwrap();
            v["rule"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(rules, ["k0", "k1", "k2", "k3"]);
    let v1 = build::<KafkarestConfig>(&format!("address: {}\nversion: 1\n", rec.url("/topics/falco")));
    v1.deliver(&batch[..1]).await.unwrap();
    assert_eq!(rec.take()[0].header("content-type"), Some("application/vnd.kafka.binary.v1+json"));
    code.store(2, Ordering::Relaxed);
    let e = s.deliver(&batch).await.unwrap_err();
    assert!(!e.permanent && e.message.contains("error_code 2"), "{e:?}");
    code.store(1, Ordering::Relaxed);
    assert!(s.deliver(&batch).await.unwrap_err().permanent);
    rec.down();
    let s = build::<KafkarestConfig>(&format!("address: {}\n", rec.url("/topics/falco")));
    assert!(!s.deliver(&batch).await.unwrap_err().permanent);
}

#[test]
fn bad_configs_are_refused_with_the_key() {
    fn err<T: Hook>(text: &str) -> String {
        Hook::sink(&yaml::<T>(text), "").err().unwrap_or_default()
    }
    for (e, want) in [
        (err::<OpsgenieConfig>("region: us\n"), "opsgenie.apikey is empty"),
        (err::<OpsgenieConfig>("apikey: k\nregion: asia\n"), "opsgenie.region must be us or eu"),
        (err::<OpsgenieConfig>("apikey: 'a b'\n"), "opsgenie.apikey"),
        (err::<GooglechatConfig>("webhookurl: x\n"), "googlechat.webhookurl"),
        (err::<GooglechatConfig>("webhookurl: http://h/\noutputformat: fields\n"), "googlechat.outputformat"),
        (
            err::<GooglechatConfig>("webhookurl: http://h/\nmessageformat: '{{ .Bogus }}'\n"),
            "googlechat.messageformat: '{{ .Bogus }}'",
        ),
        (err::<GooglechatConfig>("webhookurl: http://h/\nmessageformat: '{{ .Rule '\n"), "without a closing"),
        (err::<TelegramConfig>("token: t\n"), "telegram.chatid is empty"),
        (err::<TelegramConfig>("token: 'a/b'\nchatid: c\n"), "telegram.token"),
        (err::<TelegramConfig>("token: t\nchatid: c\nhost: ftp://x\n"), "telegram.host"),
        (err::<WebexConfig>("webhookurl: ''\n"), "webex.webhookurl is empty"),
        (err::<DatadoglogsConfig>("host: http://h\n"), "datadoglogs.apikey is empty"),
        (err::<DatadoglogsConfig>("apikey: k\nhost: nohost\n"), "datadoglogs.host"),
        (
            err::<KafkarestConfig>("address: http://h/topics/t\nversion: 3\n"),
            "kafkarest.version must be 1 or 2",
        ),
        (err::<KafkarestConfig>("address: h:8082\n"), "kafkarest.address"),
    ] {
        assert!(e.contains(want), "want '{want}', got '{e}'");
    }
    // A Telegram host error never shows the token.
    assert!(!err::<TelegramConfig>("token: s3cr3t\nchatid: c\nhost: ftp://x\n").contains("s3cr3t"));
}

#[test]
fn message_format_subset() {
    let a = alert("Shell", Priority::Warning);
    let f = crate::common::MessageFormat::parse(
        "k",
        "{{.Priority}}: {{ .Rule }} on {{ .Hostname }} [{{ .Tags }}] {{ index .OutputFields \"k8s.pod.name\" }} {{ index .OutputFields \"none\" }}",
    )
    .unwrap();
    assert_eq!(f.render(&a), format!("Warning: Shell on {} [example test] web-1 <NA>", a.hostname));
    assert!(crate::common::MessageFormat::parse("k", "").unwrap().is_empty());
    assert_eq!(telegram::escape("a.b-c\\"), "a\\.b\\-c\\\\");
}

/// Every output of this family through the router with a spool: the receiver is down (refused
/// connections) while 20 alerts arrive, then comes back; each output delivers all 20, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_back_loses_nothing() {
    const N: usize = 20;
    let mut rec = Recorder::start(|r: &Req| match r.path.as_str() {
        p if p.starts_with("/bot") => (200, r#"{"ok":true,"result":{}}"#.into()),
        _ => (200, "{}".into()),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let q = "  queue: {backoff_initial_ms: 20, backoff_max_ms: 300, timeout_ms: 2000}\n";
    let text = format!(
        "spooldir: {}\nopsgenie:\n  apikey: k\n  endpoint: {u}/og\n{q}googlechat:\n  webhookurl: {u}/gc\n{q}telegram:\n  host: {u}\n  token: t\n  chatid: c\n{q}webex:\n  webhookurl: {u}/wx\n{q}datadoglogs:\n  apikey: k\n  host: {u}/dd\n{q}kafkarest:\n  address: {u}/kr\n{q}",
        dir.path().display(),
        u = rec.url(""),
    );
    let cfg = Config::parse(&text).unwrap();
    let mut r = Router::new(tokio::runtime::Handle::current());
    build_sinks(&cfg, &mut r, &Arc::new(Metrics::default())).unwrap();
    let names: Vec<String> = r.stats().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["opsgenie", "googlechat", "telegram", "webex", "datadoglogs", "kafkarest"]);
    rec.down();
    for i in 0..N {
        r.send(&alert(&format!("r{i}q"), Priority::Warning));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for st in r.stats() {
        assert_eq!(st.delivered, 0, "{st:?}");
        assert!(st.retries > 0 && st.spilled > 0, "{st:?}");
    }
    rec.up().await;
    let end = Instant::now() + Duration::from_secs(30);
    while !r.is_idle() && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(r.is_idle(), "{:?}", r.stats());
    let got = rec.take();
    for (prefix, name) in [
        ("/og", "opsgenie"),
        ("/gc", "googlechat"),
        ("/bot", "telegram"),
        ("/wx", "webex"),
        ("/dd", "datadoglogs"),
        ("/kr", "kafkarest"),
    ] {
        let mut text = String::new();
        for q in got.iter().filter(|q| q.path.starts_with(prefix)) {
            if prefix == "/kr" {
                for rec in q.json()["records"].as_array().unwrap() {
                    text.push_str(&String::from_utf8(decode_base64(rec["value"].as_str().unwrap())).unwrap());
                }
            } else {
                text.push_str(&String::from_utf8_lossy(&q.body));
            }
        }
        let seen: Vec<usize> = (0..N).filter_map(|i| text.find(&format!("r{i}q"))).collect();
        assert_eq!(seen.len(), N, "{name}: every alert arrived");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{name}: in order");
    }
    for st in r.stats() {
        assert_eq!((st.delivered, st.dropped, st.failed), (N as u64, 0, 0), "{st:?}");
    }
}

#[test]
fn sections_and_sinks_entries_are_checked_like_every_output() {
    let text = "opsgenie:\n  apikey: k\n  regoin: eu\nsinks:\n  - type: webex\n    name: webex-sec\n    webhookurl: http://127.0.0.1:9/w\n    minimumpriority: error\n    webhookrul: x\n  - type: telegram\n    token: t\n    chatid: c\n";
    let l = Config::parse_checked(text, "s.yaml", false, true).unwrap();
    assert_eq!(
        l.warnings,
        [
            "s.yaml:3:3: unknown key 'opsgenie.regoin' (did you mean 'opsgenie.region'?)",
            "s.yaml:9:5: unknown key 'sinks[0].webhookrul' (did you mean 'sinks[0].webhookurl'?)",
        ]
    );
    assert!(l.config.has_outputs());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut r = Router::new(rt.handle().clone());
    build_sinks(&l.config, &mut r, &Arc::new(Metrics::default())).unwrap();
    let names: Vec<String> = r.stats().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["opsgenie", "webex-sec", "telegram-1"]);
    let e = Config::parse_checked(
        "googlechat:\n  webhookurl: http://h/\n  minimumpriority: loud\n",
        "s.yaml",
        false,
        true,
    )
    .unwrap_err();
    assert!(e.starts_with("s.yaml:3:3: googlechat.minimumpriority: unknown priority 'loud'"), "{e}");
    let c = Config::parse("sinks:\n  - type: kafkarest\n    address: http://h/topics/t\n    version: 9\n")
        .unwrap();
    let e = build_sinks(&c, &mut Router::new(rt.handle().clone()), &Arc::new(Metrics::default())).err();
    assert!(e.is_some_and(|e| e.contains("kafkarest.version must be 1 or 2")));
}
