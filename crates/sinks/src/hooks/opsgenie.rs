//! Opsgenie Alert API: one alert per request, POSTed as JSON to `{base}/v2/alerts` with
//! `Authorization: GenieKey <apikey>`; `base` is `https://api.opsgenie.com`, or
//! `https://api.eu.opsgenie.com` with `region: eu` (Harrier's `endpoint` overrides both, for a
//! proxy). falcosidekick's `opsgenie:` keys (`apikey`, `region`, `checkcert`, `mutualtls`).
//! The body: `message` (the output, cut to the API's 130 characters), `description` (the whole
//! output, ≤ 15,000), `entity: Falcosidekick` (as falcosidekick, so Opsgenie routing rules
//! keep matching), `priority` P1 (emergency, alert), P2 (critical), P3 (error), P4 (warning),
//! P5 (the rest), and `details` (rule, priority, source, hostname, tags and every output field,
//! dots in names as `_`; ≤ 8,000 characters in all). Opsgenie answers 202; 429 and 5xx are
//! retried, other 4xx counted as failed.

use super::{token, Hook, HookMeta, HookSink};
use crate::common::{clip, sorted_tags, CommonConfig};
use crate::sink::{HttpTarget, TlsKeys};
use harrier_engine::Alert;
use harrier_rules::Priority;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// falcosidekick's `opsgenie:` keys plus Harrier's `endpoint`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct OpsgenieConfig {
    pub apikey: String,
    /// `us` (default) or `eu`.
    pub region: String,
    /// Harrier: the API base URL (default from `region`).
    pub endpoint: String,
    pub checkcert: Option<bool>,
    pub mutualtls: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn priority(p: Priority) -> &'static str {
    match p {
        Priority::Emergency | Priority::Alert => "P1",
        Priority::Critical => "P2",
        Priority::Error => "P3",
        Priority::Warning => "P4",
        _ => "P5",
    }
}

const DETAILS_MAX: usize = 8000;

pub fn body(a: &Alert) -> Value {
    let mut details = Map::new();
    let mut room = DETAILS_MAX;
    let mut put = |k: String, v: String| {
        let v = clip(&v, 1000);
        let n = k.chars().count() + v.chars().count();
        if n <= room {
            room -= n;
            details.insert(k, v.into());
        }
    };
    put("rule".into(), a.rule.clone());
    put("priority".into(), a.priority.as_str().into());
    put("source".into(), a.source.clone());
    if !a.hostname.is_empty() {
        put("hostname".into(), a.hostname.clone());
    }
    if let Some(t) = sorted_tags(a, ", ") {
        put("tags".into(), t);
    }
    for (k, v) in &a.output_fields {
        if let Some(text) = crate::alert::value_text(v) {
            put(k.replace('.', "_"), text);
        }
    }
    let text = if a.output.trim().is_empty() { a.rule.as_str() } else { a.output.as_str() };
    json!({
        "message": clip(text, 130),
        "description": clip(text, 15_000),
        "entity": "Falcosidekick",
        "priority": priority(a.priority),
        "details": details,
    })
}

super::hook_meta!(OpsgenieConfig, "opsgenie", apikey);

impl Hook for OpsgenieConfig {
    fn sink(&self, mtls_dir: &str) -> Result<HookSink, String> {
        let key = token("opsgenie", "apikey", &self.apikey)?;
        let base = crate::common::regional_base(
            "opsgenie",
            &self.endpoint,
            &self.region,
            "https://api.opsgenie.com",
            "https://api.eu.opsgenie.com",
        )?;
        let tls = TlsKeys::new(self.checkcert, self.mutualtls);
        let mut target = HttpTarget::new(&format!("{base}/v2/alerts"), &tls.options(mtls_dir))
            .map_err(|e| format!("opsgenie.endpoint: {e}"))?;
        target.add_header("opsgenie.apikey", "Authorization", &format!("GenieKey {key}"))?;
        Ok(HookSink::json(Self::KIND, target, 1, Box::new(|a| body(&a[0]).to_string().into_bytes())))
    }
}
