//! Elasticsearch / OpenSearch bulk API: `POST {hostport}/_bulk` with NDJSON
//! (`{"index":{"_index":"falco-2024.01.02","_id":…}}` then Falco's JSON with `@timestamp`),
//! one index per day by default (`suffix`: `daily`, `monthly`, `annually`, `none`). The `_id`
//! is derived from the document, so a batch sent twice after a timeout overwrites instead of
//! duplicating. A bulk answer with `errors: true` is a failure: retried when an item failed with
//! 429 or 5xx, otherwise reported as rejected.

use crate::common::{CommonConfig, KvMap};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// falcosidekick's `elasticsearch:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ElasticsearchConfig {
    pub hostport: String,
    pub index: String,
    pub suffix: String,
    pub username: String,
    pub password: String,
    pub customheaders: KvMap,
    pub checkcert: Option<bool>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn index_name(base: &str, suffix: &str, time_ns: u64) -> String {
    let (y, m, d, ..) = crate::alert::utc_parts(time_ns);
    match suffix {
        "none" => base.to_string(),
        "monthly" => format!("{base}-{y:04}.{m:02}"),
        "annually" => format!("{base}-{y:04}"),
        _ => format!("{base}-{y:04}.{m:02}.{d:02}"),
    }
}

fn doc_id(doc: &[u8]) -> String {
    let h = ring::digest::digest(&ring::digest::SHA256, doc);
    h.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn bulk_body(alerts: &[Arc<Alert>], base: &str, suffix: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for a in alerts {
        let mut doc = a.to_json_value(true, true);
        doc["@timestamp"] = doc["time"].clone();
        let d = doc.to_string();
        let action = json!({ "index": { "_index": index_name(base, suffix, a.time_ns), "_id": doc_id(d.as_bytes()) } });
        out.extend_from_slice(action.to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(d.as_bytes());
        out.push(b'\n');
    }
    out
}

pub struct ElasticsearchSink {
    target: HttpTarget,
    index: String,
    suffix: String,
}

impl ElasticsearchSink {
    pub fn new(c: &ElasticsearchConfig) -> Result<Self, String> {
        if !matches!(c.suffix.as_str(), "" | "daily" | "monthly" | "annually" | "none") {
            return Err(format!(
                "elasticsearch.suffix must be daily, monthly, annually or none, not '{}'",
                c.suffix
            ));
        }
        let url = format!("{}/_bulk", c.hostport.trim_end_matches('/'));
        let o = HttpOptions { check_cert: c.checkcert.unwrap_or(true), ..Default::default() };
        let mut target = HttpTarget::new(&url, &o)?;
        target.add_headers("elasticsearch.customheaders", c.customheaders.pairs())?;
        if !c.username.is_empty() {
            target.basic_auth = Some((c.username.clone(), c.password.clone()));
        }
        let index = if c.index.is_empty() { "falco".to_string() } else { c.index.clone() };
        Ok(ElasticsearchSink { target, index, suffix: c.suffix.clone() })
    }
}

impl Sink for ElasticsearchSink {
    fn kind(&self) -> &'static str {
        "elasticsearch"
    }
    fn max_batch(&self) -> usize {
        500
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let resp = self
                .target
                .send("application/x-ndjson", bulk_body(alerts, &self.index, &self.suffix))
                .await?;
            let v: serde_json::Value = serde_json::from_slice(&resp).unwrap_or_default();
            if v["errors"] != json!(true) {
                return Ok(());
            }
            let items = v["items"].as_array().cloned().unwrap_or_default();
            let statuses: Vec<u64> = items.iter().filter_map(|i| i["index"]["status"].as_u64()).collect();
            let msg = format!("bulk request had item errors (statuses {statuses:?})");
            if statuses.iter().any(|&s| s == 429 || s >= 500) {
                Err(SinkError::transient(msg))
            } else {
                Err(SinkError::permanent(msg))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{alert, Recorder};
    use harrier_rules::Priority;

    /// Elasticsearch cannot run on this machine (the distribution is in no reachable registry),
    /// so a local HTTP server checks the documented `_bulk` NDJSON shape and answers like ES.
    #[tokio::test]
    async fn bulk_indexes_per_day() {
        let rec = Recorder::start(|r| {
            let text = String::from_utf8_lossy(&r.body).to_string();
            let lines: Vec<&str> = text.lines().collect();
            let ok = r.path == "/_bulk"
                && r.header("content-type") == Some("application/x-ndjson")
                && text.ends_with('\n')
                && lines.len().is_multiple_of(2)
                && lines.chunks(2).all(|p| {
                    let a: serde_json::Value = serde_json::from_str(p[0]).unwrap_or_default();
                    let d: serde_json::Value = serde_json::from_str(p[1]).unwrap_or_default();
                    a["index"]["_index"].is_string() && d["rule"].is_string() && d["@timestamp"].is_string()
                });
            if !ok {
                return (400, "bad bulk".into());
            }
            let fail = text.contains("\"rule\":\"overload\"");
            let items: Vec<_> = (0..lines.len() / 2)
                .map(|_| json!({"index": {"status": if fail { 429 } else { 201 }}}))
                .collect();
            (200, json!({ "took": 1, "errors": fail, "items": items }).to_string())
        })
        .await;
        let cfg: ElasticsearchConfig =
            serde_yaml::from_str(&format!("hostport: {}\nindex: sec\n", rec.url(""))).unwrap();
        let s = ElasticsearchSink::new(&cfg).unwrap();
        let mut a = alert("A", Priority::Warning);
        a.time_ns = 1_704_164_645_000_000_000; // 2024-01-02
        s.deliver(&[Arc::new(a.clone()), Arc::new(alert("B", Priority::Error))]).await.unwrap();
        let r = rec.take();
        let first: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&r[0].body).lines().next().unwrap()).unwrap();
        assert_eq!(first["index"]["_index"], "sec-2024.01.02");
        a.rule = "overload".into();
        let e = s.deliver(&[Arc::new(a)]).await.unwrap_err();
        assert!(!e.permanent, "{e:?}");
        assert_eq!(index_name("f", "monthly", 1_704_164_645_000_000_000), "f-2024.01");
    }
}
