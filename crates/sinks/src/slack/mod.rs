//! Slack incoming webhook: `text` plus one attachment with the alert's facts, coloured by priority
//! (Slack's documented `attachments` shape: `fallback`, `color`, `text`, `fields[{title,value,short}]`,
//! `footer`). `outputformat`: `all` (text + attachment, default), `text` (text only), `fields`
//! (attachment only).

use crate::common::{clip, color_hex, facts, CommonConfig};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// falcosidekick's `slack:` keys (`messageformat`, a Go template, is not supported).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SlackConfig {
    pub webhookurl: String,
    pub channel: String,
    pub footer: String,
    pub icon: String,
    pub username: String,
    pub outputformat: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// The Slack (and Mattermost) message for one alert.
pub fn payload(a: &Alert, format: &str, username: &str, icon: &str, channel: &str, footer: &str) -> Value {
    let mut m = serde_json::Map::new();
    let format = if format.is_empty() { "all" } else { format };
    if format != "fields" {
        m.insert("text".into(), json!(clip(&a.output, 3000)));
    }
    m.insert("username".into(), json!(if username.is_empty() { "Harrier" } else { username }));
    if !icon.is_empty() {
        m.insert("icon_url".into(), json!(icon));
    }
    if !channel.is_empty() {
        m.insert("channel".into(), json!(channel));
    }
    if format != "text" {
        let fields: Vec<Value> = facts(a)
            .into_iter()
            .map(|(k, v)| {
                let short = k != "time" && v.len() < 40;
                json!({ "title": k, "value": clip(&v, 1000), "short": short })
            })
            .collect();
        let mut att = json!({
            "fallback": clip(&a.output, 300),
            "color": format!("#{}", color_hex(a.priority)),
            "fields": fields,
            "footer": if footer.is_empty() { "harrier" } else { footer },
        });
        if format == "fields" {
            att["text"] = json!(clip(&a.output, 3000));
        }
        m.insert("attachments".into(), json!([att]));
    }
    Value::Object(m)
}

pub struct SlackSink {
    target: HttpTarget,
    cfg: SlackConfig,
    kind: &'static str,
}

impl SlackSink {
    pub fn new(c: &SlackConfig) -> Result<Self, String> {
        Self::with_kind(c, "slack")
    }
    /// Mattermost's incoming webhooks take the same payload.
    pub fn with_kind(c: &SlackConfig, kind: &'static str) -> Result<Self, String> {
        if !matches!(c.outputformat.as_str(), "" | "all" | "text" | "fields") {
            return Err(format!("{kind}.outputformat must be all, text or fields, not '{}'", c.outputformat));
        }
        let o = HttpOptions { check_cert: true, ..Default::default() };
        Ok(SlackSink { target: HttpTarget::new(&c.webhookurl, &o)?, cfg: c.clone(), kind })
    }
}

impl Sink for SlackSink {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for a in alerts {
                let c = &self.cfg;
                let p = payload(a, &c.outputformat, &c.username, &c.icon, &c.channel, &c.footer);
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

    /// Slack's documented incoming-webhook shape.
    pub(crate) fn check_slack(v: &Value) -> bool {
        let att = &v["attachments"][0];
        v["text"].is_string()
            && att["color"].as_str().is_some_and(|c| c.starts_with('#'))
            && att["fallback"].is_string()
            && att["fields"].as_array().is_some_and(|f| {
                f.iter().all(|x| x["title"].is_string() && x["value"].is_string() && x["short"].is_boolean())
            })
    }

    #[tokio::test]
    async fn posts_slack_attachment() {
        let rec = Recorder::start(|r| {
            if check_slack(&r.json()) {
                (200, "ok".into())
            } else {
                (400, "invalid_payload".into())
            }
        })
        .await;
        let cfg: SlackConfig = serde_yaml::from_str(&format!(
            "webhookurl: {}\nchannel: '#sec'\nfooter: f\n",
            rec.url("/services/T/B/X")
        ))
        .unwrap();
        let s = SlackSink::new(&cfg).unwrap();
        s.deliver(&[Arc::new(alert("Shell in container", Priority::Critical))]).await.unwrap();
        let r = rec.take();
        let v = r[0].json();
        assert_eq!(v["channel"], "#sec");
        assert_eq!(v["attachments"][0]["color"], "#b71c1c");
        let fields = v["attachments"][0]["fields"].as_array().unwrap();
        assert!(fields.iter().any(|f| f["title"] == "rule" && f["value"] == "Shell in container"));
        assert!(fields.iter().any(|f| f["title"] == "k8s.ns.name" && f["value"] == "prod"));
        let t = payload(&alert("r", Priority::Debug), "text", "", "", "", "");
        assert!(t.get("attachments").is_none() && t["username"] == "Harrier");
        assert!(SlackSink::new(&SlackConfig {
            webhookurl: rec.url("/"),
            outputformat: "x".into(),
            ..Default::default()
        })
        .is_err());
    }
}
