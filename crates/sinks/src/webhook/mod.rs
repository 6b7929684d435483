//! Generic webhook: Falco's JSON alert POSTed (or PUT) to `webhook.address`, with custom headers
//! and TLS (rustls; server CA, client certificate for mutual TLS, `checkcert: false`).

use crate::common::{json_bytes, CommonConfig, KvMap};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError, TlsKeys};
use harrier_engine::Alert;
use serde::Deserialize;
use std::sync::Arc;

/// falcosidekick's `webhook:` keys, plus Harrier's `cacert`/`clientcert`/`clientkey`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct WebhookConfig {
    pub address: String,
    pub method: String,
    pub customheaders: KvMap,
    pub mutualtls: bool,
    pub checkcert: bool,
    pub cacert: String,
    pub clientcert: String,
    pub clientkey: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            address: String::new(),
            method: "POST".into(),
            customheaders: KvMap::None,
            mutualtls: false,
            checkcert: true,
            cacert: String::new(),
            clientcert: String::new(),
            clientkey: String::new(),
            common: CommonConfig::default(),
        }
    }
}

impl WebhookConfig {
    pub fn enabled(&self) -> bool {
        !self.address.is_empty()
    }
    /// TLS options; `mutualtls` takes `client.crt`, `client.key` and `ca.crt` from `mtls_dir`
    /// (falcosidekick's `mutualtlsfilespath`) unless the files are named explicitly.
    pub fn http_options(&self, mtls_dir: &str) -> HttpOptions {
        TlsKeys {
            checkcert: Some(self.checkcert),
            mutualtls: self.mutualtls,
            cacert: &self.cacert,
            clientcert: &self.clientcert,
            clientkey: &self.clientkey,
        }
        .options(mtls_dir)
    }
}

pub struct WebhookSink {
    target: HttpTarget,
}

impl WebhookSink {
    pub fn new(c: &WebhookConfig, mtls_dir: &str) -> Result<Self, String> {
        let mut target = HttpTarget::new(&c.address, &c.http_options(mtls_dir))?;
        target.method = match c.method.to_ascii_uppercase().as_str() {
            "" | "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            m => return Err(format!("webhook.method must be POST or PUT, not '{m}'")),
        };
        target.add_headers("webhook.customheaders", c.customheaders.pairs())?;
        Ok(WebhookSink { target })
    }
}

impl Sink for WebhookSink {
    fn kind(&self) -> &'static str {
        "webhook"
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for a in alerts {
                self.target.send("application/json", json_bytes(a)).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
