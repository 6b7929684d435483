//! Mattermost incoming webhook: Mattermost accepts Slack's payload (`text`, `username`,
//! `icon_url`, `attachments` with `fallback`/`color`/`fields`), so this reuses Slack's builder.

use crate::common::CommonConfig;
use crate::slack::{SlackConfig, SlackSink};
use serde::Deserialize;

/// falcosidekick's `mattermost:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct MattermostConfig {
    pub webhookurl: String,
    pub footer: String,
    pub icon: String,
    pub username: String,
    pub outputformat: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn sink(c: &MattermostConfig) -> Result<SlackSink, String> {
    let s = SlackConfig {
        webhookurl: c.webhookurl.clone(),
        channel: String::new(),
        footer: c.footer.clone(),
        icon: c.icon.clone(),
        username: c.username.clone(),
        outputformat: c.outputformat.clone(),
        common: c.common.clone(),
    };
    SlackSink::with_kind(&s, "mattermost")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Sink;
    use crate::testutil::{alert, Recorder};
    use harrier_rules::Priority;
    use std::sync::Arc;

    #[tokio::test]
    async fn posts_mattermost_payload() {
        let rec = Recorder::start(|r| {
            let v = r.json();
            let ok =
                v["text"].is_string() && v["username"] == "bot" && v["attachments"][0]["fields"].is_array();
            if ok {
                (200, "ok".into())
            } else {
                (400, "bad".into())
            }
        })
        .await;
        let cfg: MattermostConfig =
            serde_yaml::from_str(&format!("webhookurl: {}\nusername: bot\n", rec.url("/hooks/x"))).unwrap();
        let s = sink(&cfg).unwrap();
        assert_eq!(s.kind(), "mattermost");
        s.deliver(&[Arc::new(alert("r", Priority::Warning))]).await.unwrap();
        assert_eq!(rec.take().len(), 1);
    }
}
