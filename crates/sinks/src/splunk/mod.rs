//! Splunk HTTP Event Collector: alerts POSTed to `splunk.host` (the collector URL,
//! `https://splunk:8088/services/collector/event`; the path is added to a bare host) with
//! `Authorization: Splunk <token>`. Each alert is one HEC event object, `{"time": <epoch
//! seconds>, "host": …, "sourcetype": "falcosidekick", "event": <Falco's JSON>}`; a batch is
//! the objects one after another in one request, as HEC accepts. falcosidekick's `splunk:` keys
//! (`host`, `token`, `customheaders`, `checkcert`). HEC answers 200 `{"code":0}`; 503 (busy)
//! and 429 are retried, 400/401/403 counted as failed.

use crate::common::{CommonConfig, KvMap};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// falcosidekick's `splunk:` keys.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SplunkConfig {
    pub host: String,
    pub token: String,
    pub customheaders: KvMap,
    pub checkcert: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Default for SplunkConfig {
    fn default() -> Self {
        SplunkConfig {
            host: String::new(),
            token: String::new(),
            customheaders: KvMap::None,
            checkcert: true,
            common: CommonConfig::default(),
        }
    }
}

/// The HEC event objects of a batch, concatenated.
pub fn body(alerts: &[Arc<Alert>]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in alerts {
        let secs = a.time_ns / 1_000_000_000;
        let ms = (a.time_ns % 1_000_000_000) / 1_000_000;
        let time: f64 = format!("{secs}.{ms:03}").parse().unwrap_or(secs as f64);
        let mut e = json!({
            "time": time,
            "sourcetype": "falcosidekick",
            "event": a.to_json_value(true, true),
        });
        if !a.hostname.is_empty() {
            e["host"] = a.hostname.clone().into();
        }
        out.extend(e.to_string().into_bytes());
        out.push(b'\n');
    }
    out
}

pub struct SplunkSink {
    target: HttpTarget,
}

impl SplunkSink {
    pub fn new(c: &SplunkConfig) -> Result<Self, String> {
        let host = c.host.trim();
        if host.is_empty() {
            return Err("splunk.host is empty".into());
        }
        let mut u = reqwest::Url::parse(host).map_err(|e| format!("splunk.host '{host}': {e}"))?;
        if u.path() == "/" || u.path().is_empty() {
            u.set_path("/services/collector/event");
        }
        let o = HttpOptions { check_cert: c.checkcert, ..Default::default() };
        let mut target = HttpTarget::new(u.as_str(), &o).map_err(|e| format!("splunk.host: {e}"))?;
        target.add_headers("splunk.customheaders", c.customheaders.pairs())?;
        if !c.token.trim().is_empty() {
            target.add_header("splunk.token", "Authorization", &format!("Splunk {}", c.token.trim()))?;
        }
        Ok(SplunkSink { target })
    }
}

impl Sink for SplunkSink {
    fn kind(&self) -> &'static str {
        "splunk"
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.target.shown.clone())
    }
    fn max_batch(&self) -> usize {
        100
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let answer = self.target.send("application/json", body(alerts)).await?;
            // HEC says success with code 0; anything else in a 2xx is not a delivery.
            match serde_json::from_slice::<serde_json::Value>(&answer).ok().and_then(|v| v["code"].as_i64()) {
                None | Some(0) => Ok(()),
                Some(code) => Err(SinkError::transient(format!(
                    "splunk: HEC answered code {code}: {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(200)])
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{alert, Recorder};
    use harrier_rules::Priority;

    /// Splunk cannot run here: a local server checks what the HEC documents (POST to
    /// /services/collector/event, `Authorization: Splunk <token>`, a body of concatenated event
    /// objects each with `event`, numeric `time`, `sourcetype`) and answers as HEC does
    /// (200 `{"text":"Success","code":0}`, 403 `{"code":4}` for a bad token, 503 code 9 busy).
    #[tokio::test]
    async fn hec_requests() {
        let mut rec = Recorder::start(|r| {
            if r.header("authorization") != Some("Splunk 0000-tok") {
                return (403, r#"{"text":"Invalid token","code":4}"#.into());
            }
            let objs: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&r.body)
                .into_iter::<serde_json::Value>()
                .collect::<Result<_, _>>()
                .unwrap_or_default();
            let ok = r.method == "POST"
                && r.path == "/services/collector/event"
                && r.header("x-team") == Some("sec")
                && !objs.is_empty()
                && objs.iter().all(|o| {
                    o["event"]["rule"].is_string() && o["time"].is_f64() && o["sourcetype"] == "falcosidekick"
                });
            if ok {
                (200, r#"{"text":"Success","code":0}"#.into())
            } else {
                (400, r#"{"text":"Invalid data format","code":6}"#.into())
            }
        })
        .await;
        let cfg = SplunkConfig {
            host: rec.url(""),
            token: "0000-tok".into(),
            customheaders: KvMap::Text("X-Team:sec".into()),
            ..Default::default()
        };
        let s = SplunkSink::new(&cfg).unwrap();
        let batch: Vec<_> = (0..3).map(|i| Arc::new(alert(&format!("r{i}"), Priority::Error))).collect();
        s.deliver(&batch).await.unwrap();
        let got = rec.take();
        assert_eq!(got.len(), 1, "one request per batch");
        let objs: Vec<serde_json::Value> =
            serde_json::Deserializer::from_slice(&got[0].body).into_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(objs.len(), 3);
        assert_eq!(objs[2]["event"]["rule"], "r2");
        assert_eq!(objs[0]["event"]["output_fields"]["k8s.ns.name"], "prod");
        let t = objs[0]["time"].as_f64().unwrap();
        assert!((t - (batch[0].time_ns as f64 / 1e9)).abs() < 0.002, "{t}");
        let bad = SplunkSink::new(&SplunkConfig { token: "wrong".into(), ..cfg.clone() }).unwrap();
        let e = bad.deliver(&batch).await.unwrap_err();
        assert!(e.permanent && e.message.contains("403"), "{e:?}");
        rec.status.store(503, std::sync::atomic::Ordering::Relaxed);
        let e = s.deliver(&batch).await.unwrap_err();
        assert!(!e.permanent, "{e:?}");
        rec.down();
        assert!(!s.deliver(&batch).await.unwrap_err().permanent);
    }

    #[test]
    fn bad_configs() {
        for (c, why) in [
            (SplunkConfig::default(), "splunk.host is empty"),
            (SplunkConfig { host: "splunk:8088".into(), ..Default::default() }, "splunk.host"),
            (SplunkConfig { host: "ftp://splunk".into(), ..Default::default() }, "splunk.host"),
        ] {
            let e = SplunkSink::new(&c).err().unwrap_or_default();
            assert!(e.contains(why), "{why}: {e}");
        }
        let s = SplunkSink::new(&SplunkConfig {
            host: "https://s:8088/custom/path".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.target.url, "https://s:8088/custom/path");
    }
}
