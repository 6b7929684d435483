//! AWS SQS through `aws-sdk-sqs`: each alert is one message (Falco's JSON, as falcosidekick
//! sends), up to ten at a time with SendMessageBatch (and at most 256 KiB per call).
//!
//! FIFO queues (`….fifo`) get a message group (`harrier`, so the queue keeps the alerts' order)
//! and a deduplication id from the alert's content, so an alert sent again after a failed
//! attempt is dropped by SQS instead of arriving twice. Entries of a batch that SQS failed on
//! its side are sent again at once (twice at most) before the attempt counts as failed.
//!
//! The queue URL gives the region when `aws.region` is not set, and, when it is not an AWS host
//! (LocalStack, moto) and no `aws.endpoint` is set, the endpoint too, as falcosidekick does.

use super::{AwsCreds, ClientOptions, SqsConfig};
use crate::sink::{BoxFut, Sink, SinkError};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use harrier_engine::Alert;
use std::sync::Arc;

pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    url: String,
    fifo: bool,
    /// The region in use (the tests read it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) region: String,
    endpoint: String,
}

/// (region, endpoint) a queue URL implies.
pub(crate) fn url_parts(url: &str) -> Result<(Option<String>, Option<String>), String> {
    let u = reqwest::Url::parse(url.trim()).map_err(|e| format!("aws.sqs.url '{url}' is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("aws.sqs.url '{url}': scheme must be http or https"));
    }
    let host = u.host_str().ok_or_else(|| format!("aws.sqs.url '{url}' has no host"))?.to_string();
    if u.path().trim_matches('/').split('/').filter(|s| !s.is_empty()).count() != 2 {
        return Err(format!("aws.sqs.url '{url}' is not a queue URL (expected https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)"));
    }
    if host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn") {
        let labels: Vec<&str> = host.split('.').collect();
        // sqs.REGION.amazonaws.com, or the legacy REGION.queue.amazonaws.com.
        let region = match labels.as_slice() {
            ["sqs", r, ..] => Some(r.to_string()),
            [r, "queue", ..] => Some(r.to_string()),
            _ => None,
        };
        return Ok((region, None));
    }
    let endpoint = match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    };
    Ok((None, Some(endpoint)))
}

impl SqsSink {
    pub fn new(c: &AwsCreds, q: &SqsConfig) -> Result<Self, String> {
        let url = q.url.trim().to_string();
        let (region_hint, url_endpoint) = url_parts(&url)?;
        let own_endpoint =
            if c.endpoint.trim().is_empty() { url_endpoint.unwrap_or_default() } else { String::new() };
        let conf = super::sdk_config(
            c,
            &ClientOptions {
                region_hint: region_hint.as_deref(),
                endpoint: &own_endpoint,
                endpoint_key: "aws.sqs.url",
                cacert: &q.cacertfile,
            },
        )?;
        let region = conf.region().map(|r| r.to_string()).unwrap_or_default();
        let endpoint = super::sdk::shown_endpoint(&conf, "sqs");
        Ok(SqsSink {
            client: aws_sdk_sqs::Client::new(&conf),
            fifo: url.ends_with(".fifo"),
            url,
            region,
            endpoint,
        })
    }

    fn entry(&self, id: usize, body: String) -> Result<SendMessageBatchRequestEntry, SinkError> {
        let mut e = SendMessageBatchRequestEntry::builder().id(id.to_string());
        if self.fifo {
            e = e.message_group_id("harrier").message_deduplication_id(super::dedup_id(body.as_bytes()));
        }
        e.message_body(body).build().map_err(|e| SinkError::permanent(format!("sqs: {e}")))
    }

    /// One SendMessageBatch call: the entries SQS failed.
    async fn send_batch(
        &self,
        entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Result<Vec<super::EntryFailure>, SinkError> {
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| super::sink_error("sqs", e))?;
        Ok(super::entry_failures!(out.failed()))
    }
}

impl Sink for SqsSink {
    fn kind(&self) -> &'static str {
        "sqs"
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.endpoint.clone())
    }
    fn max_batch(&self) -> usize {
        super::BATCH_ENTRIES
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut entries = Vec::with_capacity(alerts.len());
            for (i, a) in alerts.iter().enumerate() {
                let body = String::from_utf8_lossy(&crate::common::json_bytes(a)).into_owned();
                let size = body.len();
                entries.push((self.entry(i, body)?, size));
            }
            super::send_in_batches("sqs", entries, |e| e.id(), |b| self.send_batch(b)).await
        })
    }
}
