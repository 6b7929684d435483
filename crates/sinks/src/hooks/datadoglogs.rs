//! Datadog logs intake: alerts POSTed as a JSON array of log entries to `{host}/api/v2/logs`
//! (`host` default `https://http-intake.logs.datadoghq.com`; other sites, e.g.
//! `https://http-intake.logs.datadoghq.eu`, by setting it) with the `DD-API-KEY` header.
//! falcosidekick's `datadoglogs:` keys (`apikey`, `host`, `service`, `checkcert`,
//! `mutualtls`). Each entry: `ddsource: falco`, `ddtags` (the rule's tags, sorted, comma
//! separated), `hostname`, `service`, and `message` (Falco's JSON alert, which Datadog parses
//! into attributes). Up to 100 alerts per request (the API takes 1,000 entries and 5 MB).
//! Datadog answers 202; 408, 429 and 5xx are retried, other 4xx (400, 403 bad key, 413)
//! counted as failed.

use super::{token, Hook, HookMeta, HookSink};
use crate::common::{sorted_tags, CommonConfig};
use crate::sink::{HttpTarget, TlsKeys};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// falcosidekick's `datadoglogs:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct DatadoglogsConfig {
    pub apikey: String,
    pub host: String,
    pub service: String,
    pub checkcert: Option<bool>,
    pub mutualtls: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn body(alerts: &[Arc<Alert>], service: &str) -> Value {
    Value::Array(
        alerts
            .iter()
            .map(|a| {
                let mut e = json!({
                    "ddsource": "falco",
                    "message": a.to_json_value(true, true).to_string(),
                });
                if let Some(t) = sorted_tags(a, ",") {
                    e["ddtags"] = t.into();
                }
                if !a.hostname.is_empty() {
                    e["hostname"] = a.hostname.clone().into();
                }
                if !service.is_empty() {
                    e["service"] = service.into();
                }
                e
            })
            .collect(),
    )
}

super::hook_meta!(DatadoglogsConfig, "datadoglogs", apikey);

impl Hook for DatadoglogsConfig {
    fn sink(&self, mtls_dir: &str) -> Result<HookSink, String> {
        let key = token("datadoglogs", "apikey", &self.apikey)?;
        let host = match self.host.trim().trim_end_matches('/') {
            "" => "https://http-intake.logs.datadoghq.com",
            h => h,
        };
        let tls = TlsKeys::new(self.checkcert, self.mutualtls);
        let mut target = HttpTarget::new(&format!("{host}/api/v2/logs"), &tls.options(mtls_dir))
            .map_err(|e| format!("datadoglogs.host: {e}"))?;
        target.add_header("datadoglogs.apikey", "DD-API-KEY", key)?;
        let service = self.service.trim().to_string();
        Ok(HookSink::json(
            Self::KIND,
            target,
            100,
            Box::new(move |a| body(a, &service).to_string().into_bytes()),
        ))
    }
}
