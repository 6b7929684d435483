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
    if let Some(Value::Sequence(items)) = get_path(cfg, "sinks") {
        for (i, item) in items.iter().enumerate() {
            let Some(t) = s(item, "type") else { continue };
            let name = s(item, "name").unwrap_or_else(|| format!("{t}-{i}"));
            match SINK_KINDS.iter().find(|k| k.kind == t) {
                Some(k) => out.push((format!("{name} (sinks[{i}])"), k, endpoints(k, item))),
                None => {
                    out.push((format!("sinks[{i}]"), &SINK_KINDS[0], Err(format!("unknown sink type '{t}'"))))
                }
            }
        }
    }
    out
}

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
    if sinks.is_empty() {
        out.push(Finding::new(
            "sinks",
            "sinks",
            Status::Skip,
            "no sink configured (alerts go to Falco's local outputs only)",
        ));
        return out;
    }
    for (subject, kind, eps) in sinks {
        let eps = match eps {
            Ok(e) => e,
            Err(e) => {
                out.push(Finding::new("sinks", subject, Status::Fail, e).fix("fix the sink's address"));
                continue;
            }
        };
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
             sinks:\n  - {type: nats, hostport: 'nats://n:4222', name: n1}\n  - {type: bogus}\n",
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
}
