//! Google Chat incoming webhook: one message per alert, POSTed as JSON to
//! `googlechat.webhookurl` (`https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…`;
//! the query holds the secrets, so messages show the URL without it). falcosidekick's keys:
//! `webhookurl`, `outputformat` (`all`: text and a card, the default; `text`: text only),
//! `messageformat` (the text as a template, see [`MessageFormat`]; default: the output line),
//! `checkcert`, `mutualtls`. The card is a `cardsV2` entry (the documented successor of the
//! `cards` falcosidekick sends): header title the rule, subtitle the priority, one
//! `decoratedText` widget per fact. Google Chat allows one message a second per space and
//! answers 429 above it: those are retried with backoff.

use super::{required, Hook, HookMeta, HookSink};
use crate::common::{clip, facts, CommonConfig, MessageFormat};
use crate::sink::{HttpTarget, TlsKeys};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};

/// falcosidekick's `googlechat:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct GooglechatConfig {
    pub webhookurl: String,
    pub outputformat: String,
    pub messageformat: String,
    pub checkcert: Option<bool>,
    pub mutualtls: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// Google Chat's limit on a message's text.
const TEXT_MAX: usize = 4096;

pub fn body(a: &Alert, text_only: bool, format: &MessageFormat) -> Value {
    let text = if format.is_empty() { a.output.clone() } else { format.render(a) };
    let mut m = json!({ "text": clip(&text, TEXT_MAX) });
    if !text_only {
        let widgets: Vec<Value> = facts(a)
            .into_iter()
            .map(|(k, v)| json!({ "decoratedText": { "topLabel": k, "text": clip(&v, 1000), "wrapText": true } }))
            .collect();
        m["cardsV2"] = json!([{
            "cardId": "falco-alert",
            "card": {
                "header": { "title": clip(&a.rule, 200), "subtitle": a.priority.as_str() },
                "sections": [{ "widgets": widgets }],
            },
        }]);
    }
    m
}

super::hook_meta!(GooglechatConfig, "googlechat", webhookurl);

impl Hook for GooglechatConfig {
    fn sink(&self, mtls_dir: &str) -> Result<HookSink, String> {
        let url = required("googlechat", "webhookurl", &self.webhookurl)?;
        let text_only = match self.outputformat.trim() {
            "" | "all" => false,
            "text" => true,
            f => return Err(format!("googlechat.outputformat must be all or text, not '{f}'")),
        };
        let format = MessageFormat::parse("googlechat.messageformat", &self.messageformat)?;
        let tls = TlsKeys::new(self.checkcert, self.mutualtls);
        let mut target = HttpTarget::new(url, &tls.options(mtls_dir))
            .map_err(|e| format!("googlechat.webhookurl: {e}"))?;
        if let Ok(mut u) = reqwest::Url::parse(url) {
            u.set_query(None);
            target.shown = u.to_string();
        }
        Ok(HookSink {
            content_type: "application/json; charset=UTF-8".into(),
            ..HookSink::json(
                Self::KIND,
                target,
                1,
                Box::new(move |a| body(&a[0], text_only, &format).to_string().into_bytes()),
            )
        })
    }
}
