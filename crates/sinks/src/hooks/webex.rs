//! Webex incoming webhook: one message per alert, POSTed as JSON `{"markdown": …}` to
//! `webex.webhookurl` (falcosidekick's keys: `webhookurl`, `checkcert`, `mutualtls`). The
//! message: the priority and rule in bold, the output, then one line per fact (source,
//! hostname, tags, time and every output field), kept under Webex's 7,439-byte message limit.

use super::{required, Hook, HookMeta, HookSink};
use crate::common::{clip, facts, CommonConfig};
use crate::sink::{HttpTarget, TlsKeys};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::json;

/// falcosidekick's `webex:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct WebexConfig {
    pub webhookurl: String,
    pub checkcert: Option<bool>,
    pub mutualtls: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// Webex refuses a message over 7,439 bytes.
const MAX_BYTES: usize = 7000;

pub fn markdown(a: &Alert) -> String {
    // The rule and the output within 4,000 bytes whatever their characters; the facts fill the rest.
    let mut s = format!("**{}** · **{}**\n\n", a.priority.as_str(), clip(&a.rule, 200));
    let mut out = String::new();
    for c in a.output.chars() {
        if s.len() + out.len() + c.len_utf8() > 4000 {
            out.push('…');
            break;
        }
        out.push(c);
    }
    s.push_str(&out);
    s.push_str("\n\n");
    for (k, v) in facts(a).into_iter().filter(|(k, _)| k != "rule" && k != "priority") {
        let line = format!("- **{k}**: {}\n", clip(&v, 300));
        if s.len() + line.len() > MAX_BYTES {
            break;
        }
        s.push_str(&line);
    }
    s
}

super::hook_meta!(WebexConfig, "webex", webhookurl);

impl Hook for WebexConfig {
    fn sink(&self, mtls_dir: &str) -> Result<HookSink, String> {
        let url = required("webex", "webhookurl", &self.webhookurl)?;
        let tls = TlsKeys::new(self.checkcert, self.mutualtls);
        let target =
            HttpTarget::new(url, &tls.options(mtls_dir)).map_err(|e| format!("webex.webhookurl: {e}"))?;
        Ok(HookSink::json(
            Self::KIND,
            target,
            1,
            Box::new(|a| json!({ "markdown": markdown(&a[0]) }).to_string().into_bytes()),
        ))
    }
}
