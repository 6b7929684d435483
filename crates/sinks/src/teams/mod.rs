//! Microsoft Teams incoming webhook: an Office 365 connector `MessageCard` (`@type`, `@context`,
//! `summary`, `themeColor`, `sections[{activityTitle, activitySubtitle, activityImage, text,
//! facts[{name,value}]}]`). `outputformat`: `all` (default), `text`, `facts`.

use crate::common::{clip, color_hex, facts, CommonConfig};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// falcosidekick's `teams:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct TeamsConfig {
    pub webhookurl: String,
    pub activityimage: String,
    pub outputformat: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn payload(a: &Alert, image: &str, format: &str) -> Value {
    let mut section = serde_json::Map::new();
    section.insert("activityTitle".into(), json!(format!("{}: {}", a.priority.as_str(), a.rule)));
    section.insert("activitySubtitle".into(), json!(harrier_engine::output::format_time_json(a.time_ns)));
    if !image.is_empty() {
        section.insert("activityImage".into(), json!(image));
    }
    if format != "facts" {
        section.insert("text".into(), json!(clip(&a.output, 10_000)));
    }
    if format != "text" {
        let f: Vec<Value> = facts(a).into_iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
        section.insert("facts".into(), json!(f));
    }
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": clip(&a.output, 200),
        "themeColor": color_hex(a.priority),
        "sections": [Value::Object(section)],
    })
}

pub struct TeamsSink {
    target: HttpTarget,
    cfg: TeamsConfig,
}

impl TeamsSink {
    pub fn new(c: &TeamsConfig) -> Result<Self, String> {
        if !matches!(c.outputformat.as_str(), "" | "all" | "text" | "facts") {
            return Err(format!("teams.outputformat must be all, text or facts, not '{}'", c.outputformat));
        }
        let o = HttpOptions { check_cert: true, ..Default::default() };
        Ok(TeamsSink { target: HttpTarget::new(&c.webhookurl, &o)?, cfg: c.clone() })
    }
}

impl Sink for TeamsSink {
    fn kind(&self) -> &'static str {
        "teams"
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for a in alerts {
                let p = payload(a, &self.cfg.activityimage, &self.cfg.outputformat);
                self.target.send("application/json", p.to_string().into_bytes()).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{alert, Recorder};
    use harrier_rules::Priority;

    #[tokio::test]
    async fn posts_message_card() {
        let rec = Recorder::start(|r| {
            let v = r.json();
            let s = &v["sections"][0];
            let ok = v["@type"] == "MessageCard"
                && v["@context"] == "https://schema.org/extensions"
                && v["summary"].is_string()
                && v["themeColor"].as_str().is_some_and(|c| c.len() == 6)
                && s["activityTitle"].is_string()
                && s["facts"]
                    .as_array()
                    .is_some_and(|f| f.iter().all(|x| x["name"].is_string() && x["value"].is_string()));
            if ok {
                (200, "1".into())
            } else {
                (400, "bad card".into())
            }
        })
        .await;
        let s = TeamsSink::new(&TeamsConfig { webhookurl: rec.url("/webhookb2/x"), ..Default::default() })
            .unwrap();
        s.deliver(&[Arc::new(alert("r", Priority::Notice))]).await.unwrap();
        assert_eq!(rec.take()[0].json()["themeColor"], "0288d1");
        assert!(payload(&alert("r", Priority::Notice), "", "text")["sections"][0].get("facts").is_none());
    }
}
