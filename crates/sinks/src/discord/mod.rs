//! Discord webhook: `content` plus one embed (`title`, `description`, `color` as an integer,
//! `fields[{name,value,inline}]`), within Discord's documented limits (description 4096
//! characters, 25 fields, field value 1024).

use crate::common::{clip, color_hex, facts, CommonConfig};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// falcosidekick's `discord:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct DiscordConfig {
    pub webhookurl: String,
    pub icon: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn payload(a: &Alert, icon: &str) -> Value {
    let fields: Vec<Value> = facts(a)
        .into_iter()
        .take(25)
        .map(|(k, v)| json!({ "name": clip(&k, 256), "value": clip(if v.is_empty() { "-" } else { &v }, 1024), "inline": k != "time" }))
        .collect();
    let mut v = json!({
        "content": clip(&format!("{} {}", a.priority.as_str(), a.rule), 2000),
        "embeds": [{
            "title": clip(&a.rule, 256),
            "description": clip(&a.output, 4096),
            "color": u32::from_str_radix(color_hex(a.priority), 16).unwrap_or(0),
            "fields": fields,
        }],
    });
    if !icon.is_empty() {
        v["avatar_url"] = json!(icon);
    }
    v
}

pub struct DiscordSink {
    target: HttpTarget,
    icon: String,
}

impl DiscordSink {
    pub fn new(c: &DiscordConfig) -> Result<Self, String> {
        let o = HttpOptions { check_cert: true, ..Default::default() };
        Ok(DiscordSink { target: HttpTarget::new(&c.webhookurl, &o)?, icon: c.icon.clone() })
    }
}

impl Sink for DiscordSink {
    fn kind(&self) -> &'static str {
        "discord"
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for a in alerts {
                self.target.send("application/json", payload(a, &self.icon).to_string().into_bytes()).await?;
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
    async fn posts_discord_embed() {
        let rec = Recorder::start(|r| {
            let v = r.json();
            let e = &v["embeds"][0];
            let ok = v["content"].is_string()
                && e["color"].is_u64()
                && e["description"].as_str().is_some_and(|d| d.chars().count() <= 4096)
                && e["fields"].as_array().is_some_and(|f| {
                    f.len() <= 25
                        && f.iter().all(|x| {
                            x["name"].is_string()
                                && x["value"]
                                    .as_str()
                                    .is_some_and(|s| !s.is_empty() && s.chars().count() <= 1024)
                                && x["inline"].is_boolean()
                        })
                });
            if ok {
                (204, String::new())
            } else {
                (400, "bad embed".into())
            }
        })
        .await;
        let s = DiscordSink::new(&DiscordConfig {
            webhookurl: rec.url("/api/webhooks/1/x"),
            icon: "http://i".into(),
            ..Default::default()
        })
        .unwrap();
        let mut a = alert("r", Priority::Error);
        a.output = "x".repeat(5000);
        for i in 0..40 {
            a.output_fields.insert(format!("f{i}"), "".into());
        }
        s.deliver(&[Arc::new(a)]).await.unwrap();
        let v = rec.take()[0].json();
        assert_eq!(v["avatar_url"], "http://i");
        assert_eq!(v["embeds"][0]["color"], 0xe53935);
    }
}
