//! Webhook-style outputs whose request has a fixed shape: Opsgenie, Google Chat, Telegram,
//! Webex, Datadog logs and Kafka REST. Each is a configuration with falcosidekick's keys and a
//! function from alerts to a request body; one sink type, [`HookSink`], sends those bodies
//! through the shared [`HttpTarget`] (rustls, timeouts, 2xx/4xx/5xx classification) under the
//! router's bounded queue, spool and retry like every other sink.

pub mod datadoglogs;
pub mod googlechat;
pub mod kafkarest;
pub mod opsgenie;
pub mod telegram;
pub mod webex;

use crate::common::CommonConfig;
use crate::config::Config;
use crate::sink::{BoxFut, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use std::sync::Arc;

pub use datadoglogs::DatadoglogsConfig;
pub use googlechat::GooglechatConfig;
pub use kafkarest::KafkarestConfig;
pub use opsgenie::OpsgenieConfig;
pub use telegram::TelegramConfig;
pub use webex::WebexConfig;

/// Builds the body of one request from the alerts it carries (one alert unless the sink
/// batches).
pub type BodyFn = Box<dyn Fn(&[Arc<Alert>]) -> Vec<u8> + Send + Sync>;
/// Looks at a 2xx answer's body for a failure the status did not tell.
pub type AnswerFn = fn(&[u8]) -> Result<(), SinkError>;

/// A webhook-style sink: `body` turns alerts into a request, `target` sends it.
pub struct HookSink {
    pub kind: &'static str,
    pub target: HttpTarget,
    pub content_type: String,
    /// Alerts per request (1: a request per alert).
    pub batch: usize,
    pub body: BodyFn,
    pub answer: Option<AnswerFn>,
}

impl HookSink {
    /// A sink sending JSON, one request per `batch` alerts.
    pub fn json(kind: &'static str, target: HttpTarget, batch: usize, body: BodyFn) -> HookSink {
        HookSink { kind, target, content_type: "application/json".into(), batch, body, answer: None }
    }

    async fn send(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        let answer = self.target.send(&self.content_type, (self.body)(alerts)).await?;
        match self.answer {
            Some(check) => {
                check(&answer).map_err(|e| SinkError { message: format!("{}: {e}", self.kind), ..e })
            }
            None => Ok(()),
        }
    }
}

impl Sink for HookSink {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn max_batch(&self) -> usize {
        self.batch.max(1)
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.target.shown.clone())
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            if self.batch > 1 {
                return self.send(alerts).await;
            }
            for a in alerts {
                self.send(std::slice::from_ref(a)).await?;
            }
            Ok(())
        })
    }
}

/// What every webhook-style configuration has: its kind, the keys that turn it on, and the
/// common keys (see [`hook_meta!`]).
pub trait HookMeta {
    /// The section name and `type:` of a `sinks:` entry.
    const KIND: &'static str;
    /// Whether the section turns the output on (falcosidekick's rule: its address or key set).
    fn enabled(&self) -> bool;
    fn common(&self) -> &CommonConfig;
}

/// `hook_meta!(Type, "kind", key, …)`: the output is on when every named key is set.
macro_rules! hook_meta {
    ($t:ty, $kind:literal, $($on:ident),+) => {
        impl $crate::hooks::HookMeta for $t {
            const KIND: &'static str = $kind;
            fn enabled(&self) -> bool {
                $(!self.$on.is_empty())&&+
            }
            fn common(&self) -> &$crate::common::CommonConfig {
                &self.common
            }
        }
    };
}
pub(crate) use hook_meta;

/// One webhook-style output's configuration.
pub trait Hook: HookMeta + serde::de::DeserializeOwned + serde::Serialize + Send + Sync + 'static {
    /// The sink, or why the configuration cannot work. `mtls_dir`: `mutualtlsfilespath`.
    fn sink(&self, mtls_dir: &str) -> Result<HookSink, String>;
}

/// [`Hook`] without its type, for the tables below.
pub trait AnyHook {
    fn kind(&self) -> &'static str;
    fn enabled(&self) -> bool;
    fn common(&self) -> &CommonConfig;
    fn sink(&self, mtls_dir: &str) -> Result<Arc<dyn Sink>, String>;
    /// The keys this output knows (its parsed form serialized back), for the unknown-key check.
    fn schema(&self) -> Option<serde_yaml::Value>;
}

impl<T: Hook> AnyHook for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }
    fn enabled(&self) -> bool {
        HookMeta::enabled(self)
    }
    fn common(&self) -> &CommonConfig {
        HookMeta::common(self)
    }
    fn sink(&self, mtls_dir: &str) -> Result<Arc<dyn Sink>, String> {
        Ok(Arc::new(Hook::sink(self, mtls_dir)?))
    }
    fn schema(&self) -> Option<serde_yaml::Value> {
        serde_yaml::to_value(self).ok()
    }
}

/// The top-level sections of these outputs in a configuration.
pub fn sections(c: &Config) -> [&dyn AnyHook; 6] {
    [&c.opsgenie, &c.googlechat, &c.telegram, &c.webex, &c.datadoglogs, &c.kafkarest]
}

/// A `sinks:` entry of one of these types (`None`: not one of them).
pub fn entry(kind: &str, v: &serde_yaml::Value) -> Option<Result<Box<dyn AnyHook>, String>> {
    fn parse<T: Hook>(v: &serde_yaml::Value) -> Result<Box<dyn AnyHook>, String> {
        serde_yaml::from_value::<T>(v.clone())
            .map(|t| Box::new(t) as Box<dyn AnyHook>)
            .map_err(|e| format!("sinks: {}: {e}", T::KIND))
    }
    Some(match kind {
        OpsgenieConfig::KIND => parse::<OpsgenieConfig>(v),
        GooglechatConfig::KIND => parse::<GooglechatConfig>(v),
        TelegramConfig::KIND => parse::<TelegramConfig>(v),
        WebexConfig::KIND => parse::<WebexConfig>(v),
        DatadoglogsConfig::KIND => parse::<DatadoglogsConfig>(v),
        KafkarestConfig::KIND => parse::<KafkarestConfig>(v),
        _ => return None,
    })
}

/// A required key: trimmed, or an error naming it.
pub(crate) fn required<'a>(kind: &str, key: &str, v: &'a str) -> Result<&'a str, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(format!("{kind}.{key} is empty"));
    }
    Ok(v)
}

/// A secret that goes into a header or a URL: printable ASCII without spaces.
pub(crate) fn token<'a>(kind: &str, key: &str, v: &'a str) -> Result<&'a str, String> {
    let v = required(kind, key, v)?;
    if !v.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        return Err(format!("{kind}.{key}: only printable characters without spaces or '/' are allowed"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
