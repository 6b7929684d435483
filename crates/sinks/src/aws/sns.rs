//! AWS SNS through `aws-sdk-sns`: one notification per alert, up to ten at a time with
//! PublishBatch (at most 256 KiB per call).
//!
//! As falcosidekick: with `rawjson: true` the message is Falco's JSON; otherwise it is the
//! alert's output text and the alert travels in message attributes (`priority`, `rule`,
//! `source`, `tags` comma-joined, `hostname`, then the output fields, strings as `String`,
//! numbers as `Number`, `[`/`]` of a field name turned into `.`). SNS takes at most ten
//! attributes per message and refuses some names and empty values, so Harrier keeps the first
//! ten valid ones in that order (falcosidekick sends them all and SNS rejects the message).
//! FIFO topics (`….fifo`) get the group `harrier` and a deduplication id from the content.
//! Entries of a batch that SNS failed on its side are published again at once (twice at most).

use super::{AwsCreds, ClientOptions, SnsConfig};
use crate::sink::{BoxFut, Sink, SinkError};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use harrier_engine::Alert;
use std::sync::Arc;

const MAX_ATTRIBUTES: usize = 10;

pub struct SnsSink {
    client: aws_sdk_sns::Client,
    topic: String,
    raw: bool,
    fifo: bool,
    /// The region in use (the tests read it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) region: String,
    endpoint: String,
}

/// The region of a topic ARN (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`).
pub(crate) fn arn_region(arn: &str) -> Result<String, String> {
    let parts: Vec<&str> = arn.trim().split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sns", region, _, name] if !region.is_empty() && !name.is_empty() => {
            Ok(region.to_string())
        }
        _ => {
            Err(format!("aws.sns.topicarn '{arn}' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"))
        }
    }
}

/// A valid SNS attribute name: letters, digits, `-`, `_`, `.`; no leading/trailing or double
/// `.`; not starting with `AWS.`/`Amazon.`; at most 256 characters.
fn attribute_name(field: &str) -> Option<String> {
    let n: String = field
        .replace(']', "")
        .replace('[', ".")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let lower = n.to_ascii_lowercase();
    let ok = !n.is_empty()
        && n.len() <= 256
        && !n.starts_with('.')
        && !n.ends_with('.')
        && !n.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    ok.then_some(n)
}

/// The message attributes of an alert: (name, `String`/`Number`, value), at most ten.
pub fn attributes(a: &Alert) -> Vec<(String, &'static str, String)> {
    let mut v: Vec<(String, &'static str, String)> = vec![
        ("priority".into(), "String", a.priority.as_str().to_string()),
        ("rule".into(), "String", a.rule.clone()),
        ("source".into(), "String", a.source.clone()),
    ];
    if !a.tags.is_empty() {
        // In the rule's order, as falcosidekick sends them.
        v.push(("tags".into(), "String", a.tags.join(",")));
    }
    if !a.hostname.is_empty() {
        v.push(("hostname".into(), "String", a.hostname.clone()));
    }
    for (k, val) in &a.output_fields {
        if v.len() >= MAX_ATTRIBUTES {
            tracing::debug!(field = %k, "sns: more than ten attributes, field left out of the attributes");
            break;
        }
        let (ty, text) = match val {
            serde_json::Value::String(s) => ("String", s.clone()),
            serde_json::Value::Number(n) => ("Number", n.to_string()),
            _ => continue,
        };
        if text.is_empty() {
            continue;
        }
        if let Some(name) = attribute_name(k) {
            if !v.iter().any(|(n, _, _)| *n == name) {
                v.push((name, ty, text));
            }
        }
    }
    v.retain(|(_, _, val)| !val.is_empty());
    v.truncate(MAX_ATTRIBUTES);
    v
}

impl SnsSink {
    pub fn new(c: &AwsCreds, s: &SnsConfig) -> Result<Self, String> {
        let topic = s.topicarn.trim().to_string();
        let hint = arn_region(&topic)?;
        let conf = super::sdk_config(
            c,
            &ClientOptions {
                region_hint: Some(&hint),
                endpoint: "",
                endpoint_key: "aws.endpoint",
                cacert: &s.cacertfile,
            },
        )?;
        let region = conf.region().map(|r| r.to_string()).unwrap_or_default();
        Ok(SnsSink {
            client: aws_sdk_sns::Client::new(&conf),
            fifo: topic.ends_with(".fifo"),
            topic,
            raw: s.rawjson,
            region,
            endpoint: super::sdk::shown_endpoint(&conf, "sns"),
        })
    }

    /// The message and attributes of an alert.
    pub(crate) fn message(&self, a: &Alert) -> (String, Vec<(String, &'static str, String)>) {
        if self.raw {
            (String::from_utf8_lossy(&crate::common::json_bytes(a)).into_owned(), Vec::new())
        } else {
            (a.output.clone(), attributes(a))
        }
    }

    fn entry(&self, id: usize, a: &Alert) -> Result<(PublishBatchRequestEntry, usize), SinkError> {
        let (msg, attrs) = self.message(a);
        let mut size = msg.len();
        let mut e = PublishBatchRequestEntry::builder().id(id.to_string());
        for (name, ty, val) in attrs {
            size += name.len() + ty.len() + val.len();
            let v = MessageAttributeValue::builder()
                .data_type(ty)
                .string_value(val)
                .build()
                .map_err(|e| SinkError::permanent(format!("sns: {e}")))?;
            e = e.message_attributes(name, v);
        }
        if self.fifo {
            // From the whole alert, not the message: two alerts with the same output text are
            // two messages, not one deduplicated away.
            let id = super::dedup_id(&crate::common::json_bytes(a));
            e = e.message_group_id("harrier").message_deduplication_id(id);
        }
        // SNS refuses an empty message.
        let msg = if msg.is_empty() { a.rule.clone() } else { msg };
        let e = e.message(msg).build().map_err(|e| SinkError::permanent(format!("sns: {e}")))?;
        Ok((e, size))
    }

    /// One PublishBatch call: the entries SNS failed.
    async fn publish(
        &self,
        entries: Vec<PublishBatchRequestEntry>,
    ) -> Result<Vec<super::EntryFailure>, SinkError> {
        let out = self
            .client
            .publish_batch()
            .topic_arn(&self.topic)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| super::sink_error("sns", e))?;
        Ok(super::entry_failures!(out.failed()))
    }
}

impl Sink for SnsSink {
    fn kind(&self) -> &'static str {
        "sns"
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.endpoint.clone())
    }
    fn max_batch(&self) -> usize {
        super::BATCH_ENTRIES
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let entries =
                alerts.iter().enumerate().map(|(i, a)| self.entry(i, a)).collect::<Result<Vec<_>, _>>()?;
            super::send_in_batches("sns", entries, |e| e.id(), |b| self.publish(b)).await
        })
    }
}
