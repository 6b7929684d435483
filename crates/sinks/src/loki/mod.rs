//! Grafana Loki push API: `POST {hostport}{endpoint}` (default `/loki/api/v1/push`) with JSON
//! `{"streams":[{"stream":{labels},"values":[["<unix ns>","<line>"],…]}]}`. Labels: `priority`,
//! `rule`, `source`, `hostname`, `tags` (comma-joined), `k8s_ns_name`, `k8s_pod_name` (when the
//! alert has those output fields), plus `extralabels` (output fields named in a comma-separated
//! list, `.` → `_`). The line is the alert's output text (`format: text`, default) or Falco's
//! JSON (`format: json`). Batches group alerts by label set. `tenant` → `X-Scope-OrgID`;
//! `user`/`apikey` → basic auth.

use crate::common::{json_bytes, CommonConfig, KvMap};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// falcosidekick's `loki:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct LokiConfig {
    pub hostport: String,
    pub endpoint: String,
    pub tenant: String,
    pub user: String,
    pub apikey: String,
    pub extralabels: String,
    pub customheaders: KvMap,
    pub format: String,
    pub checkcert: Option<bool>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

fn label_name(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

pub fn labels(a: &Alert, extra: &[String]) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("priority".to_string(), a.priority.as_str().to_string());
    l.insert("rule".to_string(), a.rule.clone());
    l.insert("source".to_string(), a.source.clone());
    if !a.hostname.is_empty() {
        l.insert("hostname".to_string(), a.hostname.clone());
    }
    if let Some(t) = crate::common::sorted_tags(a, ",") {
        l.insert("tags".to_string(), t);
    }
    for (field, label) in [("k8s.ns.name", "k8s_ns_name"), ("k8s.pod.name", "k8s_pod_name")] {
        if let Some(v) = a.output_fields.get(field).and_then(crate::alert::value_text) {
            l.insert(label.to_string(), v);
        }
    }
    for f in extra {
        if let Some(v) = a.output_fields.get(f).and_then(crate::alert::value_text) {
            l.insert(label_name(f), v);
        }
    }
    l
}

pub fn payload(alerts: &[Arc<Alert>], extra: &[String], json_lines: bool) -> Value {
    let mut streams: BTreeMap<BTreeMap<String, String>, Vec<Value>> = BTreeMap::new();
    for a in alerts {
        let line =
            if json_lines { String::from_utf8_lossy(&json_bytes(a)).into_owned() } else { a.output.clone() };
        streams.entry(labels(a, extra)).or_default().push(json!([a.time_ns.to_string(), line]));
    }
    let s: Vec<Value> = streams.into_iter().map(|(l, v)| json!({ "stream": l, "values": v })).collect();
    json!({ "streams": s })
}

pub struct LokiSink {
    target: HttpTarget,
    extra: Vec<String>,
    json_lines: bool,
}

impl LokiSink {
    pub fn new(c: &LokiConfig) -> Result<Self, String> {
        let endpoint = if c.endpoint.is_empty() { "/loki/api/v1/push" } else { &c.endpoint };
        let url = format!("{}{}", c.hostport.trim_end_matches('/'), endpoint);
        let o = HttpOptions { check_cert: c.checkcert.unwrap_or(true), ..Default::default() };
        let mut target = HttpTarget::new(&url, &o)?;
        target.add_headers("loki.customheaders", c.customheaders.pairs())?;
        if !c.tenant.is_empty() {
            target.add_header("loki.tenant", "X-Scope-OrgID", &c.tenant)?;
        }
        if !c.user.is_empty() {
            target.basic_auth = Some((c.user.clone(), c.apikey.clone()));
        }
        let json_lines = match c.format.as_str() {
            "" | "text" => false,
            "json" => true,
            f => return Err(format!("loki.format must be text or json, not '{f}'")),
        };
        let extra =
            c.extralabels.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        Ok(LokiSink { target, extra, json_lines })
    }
}

impl Sink for LokiSink {
    fn kind(&self) -> &'static str {
        "loki"
    }
    fn max_batch(&self) -> usize {
        500
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body = payload(alerts, &self.extra, self.json_lines).to_string().into_bytes();
            self.target.send("application/json", body).await.map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{alert, Recorder};
    use harrier_rules::Priority;

    /// Loki itself cannot run on this machine (no package in any reachable registry), so this
    /// checks the documented push-API JSON against a local HTTP server.
    #[tokio::test]
    async fn pushes_streams_with_labels() {
        let rec = Recorder::start(|r| {
            let v = r.json();
            let ok = r.path == "/loki/api/v1/push"
                && r.header("x-scope-orgid") == Some("team-a")
                && v["streams"].as_array().is_some_and(|s| {
                    s.iter().all(|st| {
                        st["stream"].as_object().is_some_and(|l| l.values().all(|x| x.is_string()))
                            && st["values"].as_array().is_some_and(|vs| {
                                vs.iter().all(|e| {
                                    e[0].as_str().is_some_and(|t| t.parse::<u64>().is_ok())
                                        && e[1].is_string()
                                })
                            })
                    })
                });
            if ok {
                (204, String::new())
            } else {
                (400, "bad push".into())
            }
        })
        .await;
        let cfg: LokiConfig = serde_yaml::from_str(&format!(
            "hostport: {}\ntenant: team-a\nextralabels: proc.name\n",
            rec.url("")
        ))
        .unwrap();
        let s = LokiSink::new(&cfg).unwrap();
        let batch = vec![
            Arc::new(alert("A", Priority::Warning)),
            Arc::new(alert("A", Priority::Warning)),
            Arc::new(alert("B", Priority::Error)),
        ];
        s.deliver(&batch).await.unwrap();
        let v = rec.take()[0].json();
        let streams = v["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 2);
        let a = streams.iter().find(|s| s["stream"]["rule"] == "A").unwrap();
        assert_eq!(a["stream"]["rule"], "A");
        assert_eq!(a["stream"]["k8s_ns_name"], "prod");
        assert_eq!(a["stream"]["k8s_pod_name"], "web-1");
        assert_eq!(a["stream"]["proc_name"], "harrier");
        assert_eq!(a["stream"]["tags"], "example,test");
        assert_eq!(a["values"].as_array().unwrap().len(), 2);
    }
}
