//! PagerDuty Events API v2: one `trigger` event per alert, POSTed as JSON to
//! `{endpoint}/v2/enqueue` (`https://events.pagerduty.com`, or `https://events.eu.pagerduty.com`
//! with `region: eu`; Harrier's `endpoint` key overrides both, for a proxy). falcosidekick's
//! `pagerduty:` keys (`routingkey`, `region`). The event: `routing_key`, `event_action:
//! trigger`, `payload.summary` (the output text, cut to the API's 1024 characters),
//! `payload.source: falco`, `payload.severity` (Harrier maps the priority: emergency, alert,
//! critical → `critical`, error → `error`, warning → `warning`, the rest → `info`; falcosidekick
//! sends `critical` for every alert), `payload.timestamp` (RFC 3339), `payload.component`
//! (the rule), and `custom_details` (rule, priority, source, tags, hostname and every output
//! field). PagerDuty answers 202; 429 and 5xx are retried, other 4xx counted as failed.

use crate::common::{clip, CommonConfig};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use harrier_rules::Priority;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// falcosidekick's `pagerduty:` keys plus Harrier's `endpoint`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct PagerdutyConfig {
    pub routingkey: String,
    /// `us` (default) or `eu`.
    pub region: String,
    /// Harrier: the Events API base URL (default from `region`).
    pub endpoint: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn severity(p: Priority) -> &'static str {
    match p {
        Priority::Emergency | Priority::Alert | Priority::Critical => "critical",
        Priority::Error => "error",
        Priority::Warning => "warning",
        _ => "info",
    }
}

pub fn event(a: &Alert, routing_key: &str) -> Value {
    let mut details = Map::new();
    for (k, v) in &a.output_fields {
        details.insert(k.clone(), v.clone());
    }
    details.insert("rule".into(), a.rule.clone().into());
    details.insert("priority".into(), a.priority.as_str().into());
    details.insert("source".into(), a.source.clone().into());
    if !a.hostname.is_empty() {
        details.insert("hostname".into(), a.hostname.clone().into());
    }
    if let Some(t) = crate::common::sorted_tags(a, ", ") {
        details.insert("tags".into(), t.into());
    }
    let summary = if a.output.trim().is_empty() { a.rule.clone() } else { a.output.clone() };
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {
            "summary": clip(&summary, 1024),
            "source": "falco",
            "severity": severity(a.priority),
            "timestamp": harrier_engine::output::format_time_json(a.time_ns),
            "component": a.rule,
            "custom_details": details,
        },
    })
}

pub struct PagerdutySink {
    target: HttpTarget,
    routing_key: String,
}

impl PagerdutySink {
    pub fn new(c: &PagerdutyConfig) -> Result<Self, String> {
        let key = c.routingkey.trim();
        if key.is_empty() {
            return Err("pagerduty.routingkey is empty".into());
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("pagerduty.routingkey: an integration key is letters and digits only".into());
        }
        let base = crate::common::regional_base(
            "pagerduty",
            &c.endpoint,
            &c.region,
            "https://events.pagerduty.com",
            "https://events.eu.pagerduty.com",
        )?;
        let target = HttpTarget::new(
            &format!("{base}/v2/enqueue"),
            &HttpOptions { check_cert: true, ..Default::default() },
        )
        .map_err(|e| format!("pagerduty.endpoint: {e}"))?;
        Ok(PagerdutySink { target, routing_key: key.to_string() })
    }
}

impl Sink for PagerdutySink {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.target.shown.clone())
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for a in alerts {
                let body = event(a, &self.routing_key).to_string().into_bytes();
                self.target.send("application/json", body).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{alert, Recorder};

    /// PagerDuty cannot run here: a local server checks the request the Events API v2
    /// documents (POST /v2/enqueue, JSON, routing_key, event_action, payload.summary/source/
    /// severity required, severity one of critical/error/warning/info) and answers as PagerDuty
    /// does (202 with a dedup key; 400 for an invalid event; 429 when rate limited).
    #[tokio::test]
    async fn events_api_v2_requests() {
        let mut rec = Recorder::start(|r| {
            let v = r.json();
            let p = &v["payload"];
            let valid = r.method == "POST"
                && r.path == "/v2/enqueue"
                && r.header("content-type") == Some("application/json")
                && v["routing_key"].as_str().is_some_and(|k| k.len() == 32)
                && v["event_action"] == "trigger"
                && p["summary"].as_str().is_some_and(|s| !s.is_empty() && s.chars().count() <= 1024)
                && p["source"].is_string()
                && ["critical", "error", "warning", "info"].contains(&p["severity"].as_str().unwrap_or(""));
            if valid {
                (202, r#"{"status":"success","message":"Event processed","dedup_key":"d1"}"#.into())
            } else {
                (400, r#"{"status":"invalid event","message":"Event object is invalid"}"#.into())
            }
        })
        .await;
        let key = "0123456789abcdef0123456789abcdef";
        let cfg = PagerdutyConfig { routingkey: key.into(), endpoint: rec.url(""), ..Default::default() };
        let s = PagerdutySink::new(&cfg).unwrap();
        let mut long = alert("Long", Priority::Notice);
        long.output = "x".repeat(5000);
        s.deliver(&[Arc::new(alert("Shell", Priority::Critical)), Arc::new(long)]).await.unwrap();
        let got = rec.take();
        assert_eq!(got.len(), 2);
        let v = got[0].json();
        assert_eq!(v["payload"]["severity"], "critical");
        assert_eq!(v["payload"]["component"], "Shell");
        assert_eq!(v["payload"]["custom_details"]["k8s.ns.name"], "prod");
        assert_eq!(v["payload"]["custom_details"]["tags"], "example, test");
        assert_eq!(got[1].json()["payload"]["severity"], "info");
        assert_eq!(got[1].json()["payload"]["summary"].as_str().unwrap().chars().count(), 1024);
        // A rejected event is not retried; rate limiting is.
        let bad = PagerdutySink::new(&PagerdutyConfig {
            routingkey: "short".into(),
            endpoint: rec.url(""),
            ..Default::default()
        })
        .unwrap();
        let e = bad.deliver(&[Arc::new(alert("x", Priority::Error))]).await.unwrap_err();
        assert!(e.permanent && e.message.contains("400"), "{e:?}");
        rec.status.store(429, std::sync::atomic::Ordering::Relaxed);
        let e = s.deliver(&[Arc::new(alert("x", Priority::Error))]).await.unwrap_err();
        assert!(!e.permanent && e.message.contains("429"), "{e:?}");
        rec.down();
        let e = s.deliver(&[Arc::new(alert("x", Priority::Error))]).await.unwrap_err();
        assert!(!e.permanent, "{e:?}");
    }

    #[test]
    fn regions_and_bad_configs() {
        let k = || PagerdutyConfig { routingkey: "abc123".into(), ..Default::default() };
        assert_eq!(PagerdutySink::new(&k()).unwrap().target.url, "https://events.pagerduty.com/v2/enqueue");
        assert_eq!(
            PagerdutySink::new(&PagerdutyConfig { region: "EU".into(), ..k() }).unwrap().target.url,
            "https://events.eu.pagerduty.com/v2/enqueue"
        );
        for (c, why) in [
            (PagerdutyConfig::default(), "pagerduty.routingkey is empty"),
            (PagerdutyConfig { routingkey: "a b".into(), ..Default::default() }, "pagerduty.routingkey"),
            (PagerdutyConfig { region: "asia".into(), ..k() }, "pagerduty.region must be us or eu"),
            (PagerdutyConfig { endpoint: "ftp://x".into(), ..k() }, "pagerduty.endpoint"),
        ] {
            let e = PagerdutySink::new(&c).err().unwrap_or_default();
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
