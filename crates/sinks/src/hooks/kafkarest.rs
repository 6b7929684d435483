//! Kafka REST Proxy (Confluent's API v2, or v1): alerts POSTed to `kafkarest.address`, the
//! topic's URL (`http://kafka-rest:8082/topics/falco`), as
//! `{"records":[{"value": <base64 of Falco's JSON alert>}, …]}` with content type
//! `application/vnd.kafka.binary.v{version}+json`. falcosidekick's keys: `address`, `version`
//! (2, the default, or 1), `checkcert`, `mutualtls`. Up to 100 alerts per request. The proxy
//! answers 200 with an offset per record; a record with an error code fails the request
//! (code 2, retriable: retried; otherwise counted as failed) and the batch is sent again, so
//! the topic may hold a record twice (at-least-once, as every sink).

use super::{required, Hook, HookMeta, HookSink};
use crate::common::{base64, json_bytes, CommonConfig};
use crate::sink::{HttpTarget, SinkError, TlsKeys};
use harrier_engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// falcosidekick's `kafkarest:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct KafkarestConfig {
    pub address: String,
    /// 2 (default) or 1.
    pub version: Option<u8>,
    pub checkcert: Option<bool>,
    pub mutualtls: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn body(alerts: &[Arc<Alert>]) -> Value {
    let records: Vec<Value> = alerts.iter().map(|a| json!({ "value": base64(&json_bytes(a)) })).collect();
    json!({ "records": records })
}

/// Per-record errors in a 200 answer.
pub(crate) fn answer(body: &[u8]) -> Result<(), SinkError> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return Ok(()) };
    for o in v["offsets"].as_array().into_iter().flatten() {
        if let Some(code) = o["error_code"].as_i64() {
            let msg = format!(
                "the proxy refused a record (error_code {code}): {}",
                o["error"].as_str().unwrap_or("")
            );
            // Confluent's codes: 1 non-retriable, 2 retriable.
            return Err(if code == 2 { SinkError::transient(msg) } else { SinkError::permanent(msg) });
        }
    }
    Ok(())
}

super::hook_meta!(KafkarestConfig, "kafkarest", address);

impl Hook for KafkarestConfig {
    fn sink(&self, mtls_dir: &str) -> Result<HookSink, String> {
        let url = required("kafkarest", "address", &self.address)?;
        let version = match self.version.unwrap_or(2) {
            v @ (1 | 2) => v,
            v => return Err(format!("kafkarest.version must be 1 or 2, not {v}")),
        };
        let tls = TlsKeys::new(self.checkcert, self.mutualtls);
        let mut target =
            HttpTarget::new(url, &tls.options(mtls_dir)).map_err(|e| format!("kafkarest.address: {e}"))?;
        target.add_header(
            "kafkarest.version",
            "Accept",
            &format!("application/vnd.kafka.v{version}+json, application/json"),
        )?;
        Ok(HookSink {
            content_type: format!("application/vnd.kafka.binary.v{version}+json"),
            answer: Some(answer),
            ..HookSink::json(Self::KIND, target, 100, Box::new(|a| body(a).to_string().into_bytes()))
        })
    }
}
