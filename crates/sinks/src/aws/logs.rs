//! AWS CloudWatch Logs through `aws-sdk-cloudwatchlogs`: each alert is one log event (Falco's
//! JSON, stamped with the alert's time), many per PutLogEvents call.
//!
//! The log group must exist (as with falcosidekick). The log stream is created when missing:
//! `logstream`, or falcosidekick's `falcosidekick-logstream` when none is configured, at the
//! first delivery and again if it disappears later. CloudWatch refuses events older than 14
//! days or more than two hours ahead and wants a call's events in time order within 24 hours:
//! events are sorted by time, and an alert whose time is outside what CloudWatch accepts
//! (a replayed capture) is stamped with the delivery time instead (its JSON keeps the real one).

use super::{AwsCreds, ClientOptions, CloudWatchLogsConfig, DEFAULT_STREAM};
use crate::sink::{BoxFut, Sink, SinkError};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use harrier_engine::Alert;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Events per call (the API takes 10,000 and 1 MiB; alerts are a few KiB).
const MAX_EVENTS: usize = 500;
const MAX_BYTES: usize = 1_000_000;
/// Per-event overhead CloudWatch counts in the size limit.
const EVENT_OVERHEAD: usize = 26;
const DAY_MS: i64 = 24 * 3600 * 1000;

pub struct LogsSink {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    pub(crate) stream: String,
    stream_ready: AtomicBool,
    endpoint: String,
}

/// The timestamp (ms) CloudWatch gets for an alert at `time_ns`, seen at `now_ms`.
pub(crate) fn event_time(time_ns: u64, now_ms: i64) -> i64 {
    let t = (time_ns / 1_000_000) as i64;
    if t > now_ms - 14 * DAY_MS + 3600 * 1000 && t < now_ms + 2 * 3600 * 1000 - 60 * 1000 {
        t
    } else {
        now_ms
    }
}

/// Events for the alerts, in time order (stable), split into calls that respect the count and
/// size limits and the 24-hour span.
pub(crate) fn batches(alerts: &[Arc<Alert>], now_ms: i64) -> Vec<Vec<(i64, String)>> {
    let mut ev: Vec<(i64, String)> = alerts
        .iter()
        .map(|a| {
            (
                event_time(a.time_ns, now_ms),
                String::from_utf8_lossy(&crate::common::json_bytes(a)).into_owned(),
            )
        })
        .collect();
    ev.sort_by_key(|(t, _)| *t);
    let mut out: Vec<Vec<(i64, String)>> = Vec::new();
    let mut bytes = 0;
    for e in ev {
        let size = e.1.len() + EVENT_OVERHEAD;
        let start_new = match out.last() {
            None => true,
            Some(b) => b.len() >= MAX_EVENTS || bytes + size > MAX_BYTES || e.0 - b[0].0 >= DAY_MS,
        };
        if start_new {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        out.last_mut().expect("pushed above").push(e);
    }
    out
}

impl LogsSink {
    pub fn new(c: &AwsCreds, l: &CloudWatchLogsConfig) -> Result<Self, String> {
        let group = l.loggroup.trim().to_string();
        let stream = if l.logstream.trim().is_empty() {
            DEFAULT_STREAM.to_string()
        } else {
            l.logstream.trim().to_string()
        };
        for (what, v) in [("loggroup", &group), ("logstream", &stream)] {
            if v.len() > 512 || v.contains(':') || (what == "logstream" && v.contains('*')) {
                return Err(format!("aws.cloudwatchlogs.{what} '{v}' is not a valid name"));
            }
        }
        let conf = super::sdk_config(
            c,
            &ClientOptions {
                region_hint: None,
                endpoint: "",
                endpoint_key: "aws.endpoint",
                cacert: &l.cacertfile,
            },
        )?;
        Ok(LogsSink {
            client: aws_sdk_cloudwatchlogs::Client::new(&conf),
            group,
            stream,
            stream_ready: AtomicBool::new(false),
            endpoint: super::sdk::shown_endpoint(&conf, "logs"),
        })
    }

    /// Create the stream; one that exists already is fine.
    async fn create_stream(&self) -> Result<(), SinkError> {
        match self
            .client
            .create_log_stream()
            .log_group_name(&self.group)
            .log_stream_name(&self.stream)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(group = %self.group, stream = %self.stream, "cloudwatchlogs: created the log stream");
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                // The group is missing: an operator can create it; the alerts wait meanwhile.
                return Err(SinkError::transient(format!(
                    "cloudwatchlogs: log group '{}' does not exist (create it; alerts are kept until then)",
                    self.group
                )));
            }
            Err(e) => return Err(super::sink_error("cloudwatchlogs", e)),
        }
        self.stream_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn put(&self, events: &[(i64, String)]) -> Result<(), SinkError> {
        let mut list = Vec::with_capacity(events.len());
        for (t, m) in events {
            list.push(
                InputLogEvent::builder()
                    .timestamp(*t)
                    .message(m)
                    .build()
                    .map_err(|e| SinkError::permanent(format!("cloudwatchlogs: {e}")))?,
            );
        }
        for attempt in 0..2 {
            if !self.stream_ready.load(Ordering::Relaxed) {
                self.create_stream().await?;
            }
            let r = self
                .client
                .put_log_events()
                .log_group_name(&self.group)
                .log_stream_name(&self.stream)
                .set_log_events(Some(list.clone()))
                .send()
                .await;
            match r {
                Ok(out) => {
                    if let Some(rej) = out.rejected_log_events_info() {
                        tracing::warn!(?rej, "cloudwatchlogs: events refused by CloudWatch");
                    }
                    return Ok(());
                }
                Err(e)
                    if attempt == 0
                        && e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    // The stream went away (or the group): create it again, once.
                    self.stream_ready.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(super::sink_error("cloudwatchlogs", e)),
            }
        }
        Err(SinkError::transient(format!(
            "cloudwatchlogs: log stream '{}' missing after creating it",
            self.stream
        )))
    }
}

impl Sink for LogsSink {
    fn kind(&self) -> &'static str {
        "cloudwatchlogs"
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.endpoint.clone())
    }
    fn max_batch(&self) -> usize {
        MAX_EVENTS
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for b in batches(alerts, super::now_ms()) {
                self.put(&b).await?;
            }
            Ok(())
        })
    }
}
