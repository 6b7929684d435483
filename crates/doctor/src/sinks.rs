//! Every configured sink (falcosidekick-style blocks, `sinks:` entries, Falco's `http_output`):
//! the block parses as `harrier run`/`harrier forward` read it, the host resolves, the port
//! answers, TLS handshakes, and with `--post-test` a test alert is accepted.

use crate::net::{check_endpoint, Endpoint};
use crate::{get_path, Context, Finding, Status};
use serde_yaml::Value;

/// How a sink names its destination.
#[derive(Debug, Clone, Copy)]
pub enum Form {
    /// A URL (`http://loki:3100`); the scheme without one.
    Url(&'static str),
    /// `host:port`, the default port without one.
    HostPort(u16),
    /// Comma-separated `host:port` list (Kafka brokers).
    HostPorts(u16),
    /// syslog: `host` plus `port`/`protocol` keys.
    Syslog,
}

/// A sink kind: its block (as in falcosidekick's config), the key naming its destination, the
/// form of that key, and whether it takes a generic JSON test POST.
pub struct SinkKind {
    pub kind: &'static str,
    pub key: &'static str,
    pub form: Form,
    pub post: bool,
}

/// Every sink kind Harrier delivers to. A new sink is one entry.
pub const SINK_KINDS: &[SinkKind] = &[
    SinkKind { kind: "webhook", key: "address", form: Form::Url("http"), post: true },
    SinkKind { kind: "slack", key: "webhookurl", form: Form::Url("https"), post: false },
    SinkKind { kind: "discord", key: "webhookurl", form: Form::Url("https"), post: false },
    SinkKind { kind: "teams", key: "webhookurl", form: Form::Url("https"), post: false },
    SinkKind { kind: "mattermost", key: "webhookurl", form: Form::Url("https"), post: false },
    SinkKind { kind: "loki", key: "hostport", form: Form::Url("http"), post: false },
    SinkKind { kind: "elasticsearch", key: "hostport", form: Form::Url("http"), post: false },
    SinkKind { kind: "nats", key: "hostport", form: Form::Url("nats"), post: false },
    SinkKind { kind: "kafka", key: "hostport", form: Form::HostPorts(9092), post: false },
    SinkKind { kind: "smtp", key: "hostport", form: Form::HostPort(25), post: false },
    SinkKind { kind: "redis", key: "address", form: Form::HostPort(6379), post: false },
    SinkKind { kind: "syslog", key: "host", form: Form::Syslog, post: false },
    // falcosidekick's output to falcosidekick-ui (`webui.url`): Harrier's UI ingest.
    SinkKind { kind: "webui", key: "url", form: Form::Url("http"), post: false },
    SinkKind { kind: "alertmanager", key: "hostport", form: Form::Url("http"), post: false },
];

fn s(v: &Value, key: &str) -> Option<String> {
    match get_path(v, key)? {
        Value::String(x) if !x.trim().is_empty() => Some(x.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The endpoints of one sink block.
pub fn endpoints(kind: &SinkKind, block: &Value) -> Result<Vec<Endpoint>, String> {
    let Some(dest) = s(block, kind.key) else { return Ok(Vec::new()) };
    Ok(match kind.form {
        Form::Url(scheme) => vec![Endpoint::from_url(&dest, scheme)?],
        Form::HostPort(p) => vec![Endpoint::from_hostport(&dest, p)?],
        Form::HostPorts(p) => dest
            .split(',')
            .filter(|x| !x.trim().is_empty())
            .map(|x| Endpoint::from_hostport(x, p))
            .collect::<Result<_, _>>()?,
        Form::Syslog => {
            let port = s(block, "port").and_then(|p| p.parse().ok()).unwrap_or(514);
            let mut e = Endpoint::from_hostport(&dest, port)?;
            e.udp = !matches!(s(block, "protocol").as_deref(), Some("tcp" | "tls"));
            e.tls = matches!(s(block, "protocol").as_deref(), Some("tls"));
            vec![e]
        }
    })
}

/// One configured sink: the name it is reported under, its kind, its endpoints (or why they are
/// unusable).
pub type Configured = (String, &'static SinkKind, Result<Vec<Endpoint>, String>);

/// Every configured sink.
pub fn configured(cfg: &Value) -> Vec<Configured> {
    let mut out = Vec::new();
    for k in SINK_KINDS {
        if let Some(block) = get_path(cfg, k.kind) {
            let eps = endpoints(k, block);
            if !matches!(&eps, Ok(v) if v.is_empty()) {
                out.push((k.kind.to_string(), k, eps));
            }
        }
    }
    // Falco's http_output (the webhook sink).
    if matches!(get_path(cfg, "http_output.enabled"), Some(Value::Bool(true))) {
        if let Some(url) = s(cfg, "http_output.url") {
            out.push((
                "http_output".into(),
                &SINK_KINDS[0],
                Endpoint::from_url(&url, "http").map(|e| vec![e]),
            ));
        }
    }
    // S3: a custom endpoint, or AWS's regional one.
    if s(cfg, "aws.s3.bucket").is_some() {
        let ep = match s(cfg, "aws.s3.endpoint") {
            Some(e) => Endpoint::from_url(&e, "https"),
            None => {
                let region = s(cfg, "aws.region").unwrap_or_else(|| "us-east-1".into());
                Endpoint::from_url(&format!("https://s3.{region}.amazonaws.com"), "https")
            }
        };
        static S3: SinkKind = SinkKind { kind: "s3", key: "endpoint", form: Form::Url("https"), post: false };
        out.push(("s3".into(), &S3, ep.map(|e| vec![e])));
    }
    // `sinks:` entries: the types `harrier run` builds are the sinks crate's list. An entry of a
    // kind with a destination form here is probed through it; the others are built by the sinks
    // crate (`described`); one whose feature this build lacks is reported by `Config::left_out`.
    if let Some(Value::Sequence(items)) = get_path(cfg, "sinks") {
        for (i, item) in items.iter().enumerate() {
            let Some(t) = s(item, "type") else {
                out.push((format!("sinks[{i}]"), &SINK_KINDS[0], Err("missing 'type'".into())));
                continue;
            };
            let name = s(item, "name").unwrap_or_else(|| format!("{t}-{i}"));
            match harrier_sinks::entries::entry_type(&t) {
                None => out.push((
                    format!("sinks[{i}]"),
                    &SINK_KINDS[0],
                    Err(harrier_sinks::entries::unknown(&t)),
                )),
                Some(et) if !et.built() || self_described(&t) => {}
                Some(_) => {
                    let k = SINK_KINDS.iter().find(|k| k.kind == t).expect("not self-described");
                    // Without its destination key: the reason `harrier run` gives (building it
                    // then fails before any network access).
                    let eps = match endpoints(k, item) {
                        Ok(v) if v.is_empty() => harrier_sinks::entries::entry_sink(item, "").map(|_| v),
                        r => r,
                    };
                    out.push((format!("{name} (sinks[{i}])"), k, eps))
                }
            }
        }
    }
    out
}

/// A `sinks:` entry type doctor has no destination form for: the sinks crate builds it and says
/// where it sends ([`described`]).
fn self_described(kind: &str) -> bool {
    !SINK_KINDS.iter().any(|k| k.kind == kind)
}

/// A self-described output: reported as `subject`; its endpoints, or why it cannot start; and
/// whether its block is set but leaves the output off (a Warn, not a Fail).
pub struct Described {
    pub subject: String,
    pub result: Result<Vec<Endpoint>, String>,
    pub off: bool,
}

/// Build every self-described output as `harrier run` would (no network): a missing or invalid
/// required key is the build's error naming it; a block set without the keys that turn the
/// output on (`telegram.token` without `chatid`) is reported as off; the endpoint is the URL
/// the sink says it sends to (secrets left out).
pub fn described(cfg: &Value, c: &harrier_sinks::Config) -> Vec<Described> {
    let mtls = c.mutualtlsfilespath.as_str();
    let ep = |r: Result<std::sync::Arc<dyn harrier_sinks::Sink>, String>| -> Result<Vec<Endpoint>, String> {
        let s = r?;
        s.endpoint().map(|u| Endpoint::from_url(&u, "https")).into_iter().collect()
    };
    let present = |path: &str| matches!(get_path(cfg, path), Some(Value::Mapping(m)) if !m.is_empty());
    let mut out = Vec::new();
    for h in harrier_sinks::hooks::sections(c) {
        if present(h.kind()) {
            let enabled = h.enabled();
            let result = ep(h.sink(mtls));
            out.push(Described { subject: h.kind().into(), off: !enabled && result.is_err(), result });
        }
    }
    for (kind, path, on) in [
        ("gcpstorage", "gcp.storage", !c.gcp.storage.bucket.is_empty()),
        ("azureblob", "azure.blob", !c.azure.blob.container.is_empty()),
    ] {
        if present(path) {
            let result = if on {
                ep(harrier_sinks::cloud::section_sink(kind, &c.gcp, &c.azure))
            } else {
                Err(format!("{path}.{} is empty", if kind == "gcpstorage" { "bucket" } else { "container" }))
            };
            out.push(Described { subject: path.into(), off: !on, result });
        }
    }
    if let Some(Value::Sequence(items)) = get_path(cfg, "sinks") {
        for (i, item) in items.iter().enumerate() {
            let Some(t) = s(item, "type") else { continue };
            let known = harrier_sinks::entries::entry_type(&t);
            if !known.is_some_and(|k| k.built() && self_described(k.kind)) {
                continue; // unknown (`configured`), left out (`left_out`), or probed by its form
            }
            let name = s(item, "name").unwrap_or_else(|| format!("{t}-{i}"));
            let result = ep(harrier_sinks::entries::entry_sink(item, mtls));
            out.push(Described { subject: format!("{name} (sinks[{i}])"), off: false, result });
        }
    }
    out
}

/// Every output `harrier run` would start from the `-c` config, built as the run builds it (no
/// network); `None` when the config does not parse or an output cannot be built (the checks
/// below say which and why).
pub fn enabled(cx: &Context) -> Option<Vec<harrier_sinks::EnabledOutput>> {
    build_outputs(cx)?.ok()
}

/// [`enabled`], with the run's error when an output cannot be built.
fn build_outputs(cx: &Context) -> Option<Result<Vec<harrier_sinks::EnabledOutput>, String>> {
    if cx.opts.config.is_none() || cx.config_error.is_some() {
        return None;
    }
    let c = harrier_sinks::Config::parse(&cx.config_text).ok()?;
    // Some clients spawn their connection task when built: a runtime that is dropped (with
    // them) before any of it runs.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    let _g = rt.enter();
    Some(harrier_sinks::enabled_outputs(&c))
}

/// The top-level sections no other part of this check probes (the blocks of [`SINK_KINDS`],
/// `http_output`, S3, the webhook family and GCS/Azure are): SQS, SNS, CloudWatch Logs,
/// PagerDuty, Splunk, OTLP logs, MQTT and Prometheus, each at the endpoint its sink names.
fn top_level_rest(cx: &Context, parsed: &harrier_sinks::Config) -> Vec<Described> {
    let mut covered: Vec<&str> = SINK_KINDS.iter().map(|k| k.kind).collect();
    covered.extend(["s3", "gcpstorage", "azureblob"]);
    let hooks = harrier_sinks::hooks::sections(parsed);
    covered.extend(hooks.iter().map(|h| h.kind()));
    let Some(outs) = enabled(cx) else { return Vec::new() };
    outs.into_iter()
        .filter(|o| o.entry.is_none() && !covered.contains(&o.kind))
        .map(|o| Described {
            subject: if o.kind == "otlp_logs" { "otlp.logs".into() } else { o.route.name.clone() },
            result: o.sink.endpoint().map(|u| Endpoint::from_url(&u, "https")).into_iter().collect(),
            off: false,
        })
        .collect()
}

const NOTHING_TO_PROBE: &str = "the output builds as harrier run builds it (it names no endpoint to probe)";

pub fn check(cx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    if cx.opts.config.is_none() || cx.config_error.is_some() {
        return vec![Finding::new(
            "sinks",
            "sinks",
            Status::Skip,
            "no readable -c config: no sinks to check",
        )];
    }
    // The same parse `harrier run -c` and `harrier forward -c` do: a key of the wrong type fails here.
    if let Err(e) = harrier_sinks::Config::parse(&cx.config_text) {
        out.push(
            Finding::new("sinks", "config", Status::Fail, format!("the sink blocks do not parse: {e}"))
                .fix("fix the key named above (falcosidekick's key names and types)"),
        );
        return out;
    }
    // Outputs this binary was built without (scripts/run.sh's lean build): `harrier run` refuses them.
    if let Ok(c) = harrier_sinks::Config::parse(&cx.config_text) {
        for (what, feature) in c.left_out() {
            out.push(
                Finding::new("sinks", &what, Status::Fail, harrier_sinks::not_built(feature, &what))
                    .fix(format!("cargo build --release -p harrier --features {feature}")),
            );
        }
    }
    let sinks = configured(&cx.config);
    let parsed = harrier_sinks::Config::parse(&cx.config_text).unwrap_or_default();
    let mut described = described(&cx.config, &parsed);
    described.extend(top_level_rest(cx, &parsed));
    if sinks.is_empty() && described.is_empty() && !matches!(build_outputs(cx), Some(Err(_))) {
        out.push(Finding::new(
            "sinks",
            "sinks",
            Status::Skip,
            "no sink configured (alerts go to Falco's local outputs only)",
        ));
        return out;
    }
    for d in described {
        match d.result {
            Err(e) if d.off => out.push(
                Finding::new(
                    "sinks",
                    d.subject,
                    Status::Warn,
                    format!("the block is set but the output is off: {e}"),
                )
                .fix("set the key named above, or remove the block"),
            ),
            Err(e) => out.push(
                Finding::new("sinks", d.subject, Status::Fail, format!("the output cannot start: {e}"))
                    .fix("set or correct the key named above (harrier run refuses this configuration)"),
            ),
            Ok(eps) if eps.is_empty() => {
                out.push(Finding::new("sinks", d.subject, Status::Ok, NOTHING_TO_PROBE))
            }
            Ok(eps) => {
                for ep in &eps {
                    out.extend(check_endpoint("sinks", &d.subject, ep, cx.opts.timeout));
                }
            }
        }
    }
    for (subject, kind, eps) in sinks {
        let eps = match eps {
            Ok(e) => e,
            Err(e) => {
                let fix = if e.starts_with("unknown output type") || e == "missing 'type'" {
                    "set the entry's type to one of the known types (harrier run refuses this entry)"
                } else {
                    "fix the sink's address or the key named above (harrier run refuses this configuration)"
                };
                out.push(Finding::new("sinks", subject, Status::Fail, e).fix(fix));
                continue;
            }
        };
        if eps.is_empty() {
            out.push(Finding::new("sinks", subject, Status::Ok, NOTHING_TO_PROBE));
            continue;
        }
        let mut reachable = true;
        for ep in &eps {
            let f = check_endpoint("sinks", &subject, ep, cx.opts.timeout);
            reachable &= f.iter().all(|x| x.status != Status::Fail);
            out.extend(f);
        }
        if cx.opts.post_test && kind.post && reachable {
            if let Some(url) = eps.first().and_then(|e| e.url.clone()) {
                out.push(post_test(&subject, &url, cx.opts.timeout));
            }
        }
    }
    // An output `harrier run` cannot build that no finding above explains.
    if let Some(Err(e)) = build_outputs(cx) {
        if !out.iter().any(|f| f.status == Status::Fail) {
            out.push(
                Finding::new(
                    "sinks",
                    "outputs",
                    Status::Fail,
                    format!("harrier run refuses the outputs: {e}"),
                )
                .fix("set or correct the key named above"),
            );
        }
    }
    out
}

/// POST one Falco-format test alert (what falcosidekick's `/test` sends) to an HTTP sink.
pub fn post_test(subject: &str, url: &str, timeout: std::time::Duration) -> Finding {
    let body = serde_json::json!({
        "output": "This is a test from harrier doctor",
        "priority": "Debug",
        "rule": "Test rule",
        "time": "1970-01-01T00:00:00.000000000Z",
        "output_fields": {"proc.name": "harrier", "evt.type": "test"},
        "source": "harrier-doctor",
        "tags": ["test"],
        "hostname": crate::system::hostname(),
    });
    let res = (|| -> Result<u16, String> {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async {
            let c = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
            let r = c
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            Ok(r.status().as_u16())
        })
    })();
    match res {
        Ok(code) if (200..300).contains(&code) => {
            Finding::new("sinks", subject, Status::Ok, format!("test alert accepted (HTTP {code})"))
        }
        Ok(code) => Finding::new("sinks", subject, Status::Fail, format!("test alert refused: HTTP {code}"))
            .fix("check the URL path and any authentication the receiver expects"),
        Err(e) => Finding::new("sinks", subject, Status::Fail, format!("test POST failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_and_sinks_entries() {
        let cfg: Value = serde_yaml::from_str(
            "loki: {hostport: 'http://loki:3100'}\nkafka: {hostport: 'a:1,b'}\nslack: {webhookurl: ''}\n\
             syslog: {host: logs, port: 1514, protocol: tcp}\n\
             sinks:\n  - {type: elasticsearch, hostport: 'http://n:9200', name: n1}\n  - {type: bogus}\n",
        )
        .unwrap();
        let c = configured(&cfg);
        let names: Vec<&str> = c.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, vec!["loki", "kafka", "syslog", "n1 (sinks[0])", "sinks[1]"]);
        let kafka = c[1].2.as_ref().unwrap();
        assert_eq!((kafka[0].port, kafka[1].port), (1, 9092));
        let sys = &c[2].2.as_ref().unwrap()[0];
        assert_eq!((sys.port, sys.udp), (1514, false));
        assert!(c[4].2.is_err());
    }

    /// Every `type:` of a `sinks:` entry that `harrier run` builds (the sinks crate's constructor,
    /// tried on each listed type and on names it does not know) is known to doctor: doctor
    /// reports the entry under its own name, never as unknown, and refuses it exactly when the
    /// run does — a missing key with the run's message, a feature this build lacks as "built
    /// without the `X` feature". An unknown type fails naming it and the known ones. Runs in the
    /// full build (`cargo test --workspace`) and the lean one (scripts/test.sh, `-- left_out`).
    #[test]
    fn every_entry_type_run_accepts_is_known_to_doctor_or_left_out() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _g = rt.enter();
        let mut kinds: Vec<&str> = harrier_sinks::entries::ENTRY_TYPES.iter().map(|t| t.kind).collect();
        kinds.extend(["bogus", "webui", "http_output", "aws", "falco"]);
        let mut text = String::from("sinks:\n");
        for k in &kinds {
            text += &format!("  - {{type: {k}, name: e-{k}}}\n");
        }
        text += "  - {name: no-type}\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sidekick.yaml");
        std::fs::write(&path, &text).unwrap();
        let cx = crate::Context::new(crate::Options {
            config: Some(path),
            timeout: std::time::Duration::from_secs(2),
            ..Default::default()
        });
        let f = check(&cx);
        let mut run_accepts = 0;
        for (i, k) in kinds.iter().enumerate() {
            let entry: Value = serde_yaml::from_str(&format!("{{type: {k}, name: e-{k}}}")).unwrap();
            let run = harrier_sinks::entries::entry_sink(&entry, "").err().unwrap_or_default();
            let mine: Vec<_> = f
                .iter()
                .filter(|x| {
                    x.subject == format!("e-{k} (sinks[{i}])")
                        || x.subject.starts_with(&format!("sinks[{i}]"))
                })
                .collect();
            assert!(!mine.is_empty(), "no finding for {k}: {f:?}");
            if run.starts_with("unknown output type") {
                let d = &mine[0].detail;
                assert_eq!(mine[0].status, Status::Fail, "{k}: {d}");
                assert!(d.starts_with(&format!("unknown output type '{k}' (known types: webhook,")), "{d}");
                continue;
            }
            run_accepts += 1;
            assert!(mine.iter().all(|x| !x.detail.contains("unknown")), "{k}: {mine:?}");
            if let Some(feature) = run.split("without the `").nth(1).and_then(|r| r.split('`').next()) {
                assert!(
                    mine.iter().any(|x| x.status == Status::Fail
                        && x.detail.contains(&format!("without the `{feature}` feature"))),
                    "{k}: {mine:?}"
                );
            } else if !run.is_empty() {
                // The run's own reason (a required key), not a second opinion.
                assert!(
                    mine.iter().any(|x| x.status == Status::Fail
                        && run.contains(x.detail.trim_start_matches("the output cannot start: "))),
                    "{k}: run says '{run}', doctor {mine:?}"
                );
            } else {
                // It builds: doctor goes on to its endpoint (here: AWS's regional host, which
                // may not resolve on a test machine), never refuses it.
                assert!(mine.iter().all(|x| !x.detail.contains("cannot start")), "{k}: {mine:?}");
            }
        }
        assert_eq!(run_accepts, harrier_sinks::entries::ENTRY_TYPES.len());
        let n = kinds.len();
        let none = f.iter().find(|x| x.subject == format!("sinks[{n}]")).unwrap();
        assert!(none.status == Status::Fail && none.detail == "missing 'type'", "{none:?}");
    }

    /// The self-described outputs (webhook-style, cloud stores): a missing or invalid required
    /// key fails (or warns when it leaves the block off), a host that does not resolve fails,
    /// a secret in a key never appears in a finding.
    #[test]
    fn self_described_outputs_missing_keys_and_unresolvable_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sidekick.yaml");
        std::fs::write(
            &path,
            "telegram: {token: s3cr3t-tok}\nopsgenie: {apikey: 'a b'}\n\
             webex: {webhookurl: 'https://webex.example.invalid/v1/webhooks/incoming/x'}\n\
             azure: {blob: {container: c-1, accountname: acct}}\ngcp: {storage: {prefix: p}}\n\
             sinks:\n  - {type: kafkarest, address: 'http://kafka-rest.example.invalid:8082/topics/falco', name: kr}\n  - {type: telegram, token: 'sec/ret', chatid: c}\n",
        )
        .unwrap();
        let cx = crate::Context::new(crate::Options {
            config: Some(path),
            timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        });
        let f = check(&cx);
        let find = |subject: &str| {
            f.iter()
                .find(|x| x.subject == subject)
                .unwrap_or_else(|| panic!("no finding for {subject}: {f:?}"))
        };
        let t = find("telegram");
        assert_eq!(t.status, Status::Warn, "{t:?}");
        assert!(t.detail.contains("output is off: telegram.chatid is empty"), "{t:?}");
        let o = find("opsgenie");
        assert!(o.status == Status::Fail && o.detail.contains("opsgenie.apikey"), "{o:?}");
        let a = find("azure.blob");
        // (Built alone, harrier-doctor's harrier-sinks may lack the `cloud` feature: then the
        // output is refused naming it.)
        let why = a.detail.contains("set accountkey or sastoken")
            || a.detail.contains("without the `cloud` feature");
        assert!(a.status == Status::Fail && why, "{a:?}");
        let g = find("gcp.storage");
        assert!(g.status == Status::Warn && g.detail.contains("gcp.storage.bucket is empty"), "{g:?}");
        for subject in ["webex", "kr (sinks[0])"] {
            let w = find(subject);
            assert_eq!(w.status, Status::Fail, "{w:?}");
            assert!(w.detail.contains(".example.invalid does not resolve"), "{w:?}");
        }
        let s = find("telegram-1 (sinks[1])");
        assert!(s.status == Status::Fail && s.detail.contains("telegram.token"), "{s:?}");
        assert!(f.iter().all(|x| !x.detail.contains("s3cr3t") && !x.detail.contains("sec/ret")), "{f:?}");
        assert!(f.iter().all(|x| !x.detail.contains("unknown output type")), "{f:?}");
    }
    fn cx_of(dir: &tempfile::TempDir, text: &str) -> crate::Context {
        let path = dir.path().join("harrier.yaml");
        std::fs::write(&path, text).unwrap();
        crate::Context::new(crate::Options {
            config: Some(path),
            timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        })
    }

    /// The top-level PagerDuty, Splunk, OTLP logs and MQTT sections (and SQS where the build has
    /// the `aws` feature) are probed at the endpoint their sink names, as `harrier run` builds them.
    #[test]
    fn top_level_sections_are_probed() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from(
            "pagerduty: {routingkey: rksecret42, endpoint: 'https://pd.example.invalid/v2/enqueue'}\n\
             splunk: {host: 'https://splunk.example.invalid:8088', token: t}\n\
             otlp: {logs: {endpoint: 'http://otel.example.invalid:4318'}}\n",
        );
        let mut subjects = vec!["pagerduty", "splunk", "otlp.logs"];
        // (harrier-doctor built alone gets harrier-sinks without the `mqtt` feature.)
        if harrier_sinks::entries::feature_built("mqtt") {
            text += "mqtt: {broker: 'mqtt.example.invalid:1883'}\n";
            subjects.push("mqtt");
        }
        let cx = cx_of(&dir, &text);
        match build_outputs(&cx) {
            Some(Ok(v)) => assert_eq!(
                v.len(),
                subjects.len(),
                "{:?}",
                v.iter().map(|o| &o.route.name).collect::<Vec<_>>()
            ),
            Some(Err(e)) => panic!("the outputs do not build: {e}"),
            None => panic!("no config"),
        }
        let f = check(&cx);
        for subject in subjects {
            let x = f
                .iter()
                .find(|x| x.subject == subject)
                .unwrap_or_else(|| panic!("no finding for {subject}: {f:?}"));
            assert_eq!(x.status, Status::Fail, "{x:?}");
            assert!(x.detail.contains(".example.invalid does not resolve"), "{x:?}");
        }
        assert!(f.iter().all(|x| !x.detail.contains("rksecret42")), "{f:?}");
        if harrier_sinks::entries::feature_built("aws") {
            let cx = cx_of(
                &dir,
                "aws: {region: eu-west-1, sqs: {url: 'https://sqs.example.invalid/123456789012/falco'}}\n",
            );
            let f = check(&cx);
            let x = f.iter().find(|x| x.subject == "sqs").unwrap_or_else(|| panic!("no sqs finding: {f:?}"));
            assert!(
                x.status == Status::Fail && x.detail.contains("sqs.example.invalid does not resolve"),
                "{x:?}"
            );
        }
    }

    /// The output floor counts every output `harrier run` starts: a PagerDuty section taking
    /// `critical` and a webhook-family `sinks:` entry taking `error`, no local output.
    #[test]
    fn output_floor_counts_every_output_the_run_starts() {
        let dir = tempfile::tempdir().unwrap();
        let cx = cx_of(
            &dir,
            "stdout_output: {enabled: false}\n\
             pagerduty: {routingkey: rk, minimumpriority: critical}\n",
        );
        let (p, who) = crate::rules::output_floor(&cx).expect("pagerduty is an output");
        assert_eq!((p, who.as_str()), (harrier_rules::Priority::Critical, "pagerduty"));
        let cx = cx_of(
            &dir,
            "stdout_output: {enabled: false}\n\
             pagerduty: {routingkey: rk, minimumpriority: critical}\n\
             sinks:\n  - {type: opsgenie, name: og, apikey: k, minimumpriority: error}\n",
        );
        let (p, who) = crate::rules::output_floor(&cx).expect("two outputs");
        assert_eq!((p, who.as_str()), (harrier_rules::Priority::Error, "og"));
        // No output at all: the floor says so (alerts go nowhere).
        let cx = cx_of(&dir, "stdout_output: {enabled: false}\n");
        assert_eq!(crate::rules::output_floor(&cx), None);
    }
}
