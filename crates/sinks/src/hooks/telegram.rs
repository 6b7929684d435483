//! Telegram Bot API: one message per alert, `sendMessage` POSTed as JSON to
//! `{host}/bot{token}/sendMessage` (`host` default `https://api.telegram.org`; the token is
//! never shown in messages). falcosidekick's keys: `host`, `token`, `chatid`,
//! `messagethreadid`, `checkcert`. The body: `chat_id`, `text` in `MarkdownV2` (every
//! character the format reserves escaped), `parse_mode: MarkdownV2`,
//! `disable_web_page_preview: true` and `message_thread_id` when set. The text: priority and
//! rule in bold, the output, then one line per fact, within Telegram's 4,096 characters.
//! Telegram answers `{"ok":true,…}`; 429 (with `retry_after`) and 5xx are retried, other 4xx
//! (bad token, unknown chat, a text it cannot parse) counted as failed.

use super::{required, token, Hook, HookMeta, HookSink};
use crate::common::{clip, facts, CommonConfig};
use crate::sink::{HttpTarget, SinkError, TlsKeys};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};

/// falcosidekick's `telegram:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct TelegramConfig {
    pub host: String,
    pub token: String,
    pub chatid: String,
    pub messagethreadid: String,
    pub checkcert: Option<bool>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// Escape `s` for MarkdownV2 (Telegram's list of reserved characters, and `\` itself).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "_*[]()~`>#+-=|{}.!\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const TEXT_MAX: usize = 4096;

pub fn text(a: &Alert) -> String {
    // Cut before escaping, so a cut never splits an escape.
    let mut s = format!(
        "*{} · {}*\n\n{}\n",
        escape(a.priority.as_str()),
        escape(&clip(&a.rule, 200)),
        escape(&clip(&a.output, 1500))
    );
    for (k, v) in facts(a).into_iter().filter(|(k, _)| k != "rule" && k != "priority") {
        let line = format!("\n• *{}*: {}", escape(&clip(&k, 100)), escape(&clip(&v, 200)));
        if s.chars().count() + line.chars().count() > TEXT_MAX {
            break;
        }
        s.push_str(&line);
    }
    s
}

pub fn body(a: &Alert, chat_id: &str, thread: &str) -> Value {
    let mut b = json!({
        "chat_id": chat_id,
        "text": text(a),
        "parse_mode": "MarkdownV2",
        "disable_web_page_preview": true,
    });
    if !thread.is_empty() {
        b["message_thread_id"] = thread.into();
    }
    b
}

/// A 2xx answer says `"ok": true`.
pub(crate) fn answer(body: &[u8]) -> Result<(), SinkError> {
    match serde_json::from_slice::<Value>(body).ok().and_then(|v| v["ok"].as_bool()) {
        Some(true) => Ok(()),
        _ => Err(SinkError::transient(format!(
            "Telegram did not answer ok: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))),
    }
}

super::hook_meta!(TelegramConfig, "telegram", token, chatid);

impl Hook for TelegramConfig {
    fn sink(&self, _mtls_dir: &str) -> Result<HookSink, String> {
        let tok = token("telegram", "token", &self.token)?;
        let chat = required("telegram", "chatid", &self.chatid)?.to_string();
        let host = match self.host.trim().trim_end_matches('/') {
            "" => "https://api.telegram.org",
            h => h,
        };
        let shown = format!("{host}/bot<token>/sendMessage");
        let tls = TlsKeys::new(self.checkcert, false);
        let mut target = HttpTarget::new(&format!("{host}/bot{tok}/sendMessage"), &tls.options(""))
            .map_err(|_| format!("telegram.host: '{host}' is not an http(s) URL"))?;
        target.shown = shown;
        let thread = self.messagethreadid.trim().to_string();
        Ok(HookSink {
            answer: Some(answer),
            ..HookSink::json(
                Self::KIND,
                target,
                1,
                Box::new(move |a| body(&a[0], &chat, &thread).to_string().into_bytes()),
            )
        })
    }
}
