//! The AWS outputs, all on the official AWS SDK for Rust: S3 ([`s3`]), SQS ([`sqs`]), SNS
//! ([`sns`]) and CloudWatch Logs ([`logs`]), configured with falcosidekick's `aws:` block.
//!
//! What they share lives here: the `aws:` keys (`accesskeyid`, `secretaccesskey`, `region`,
//! `rolearn`, `externalid`, and Harrier's `sessiontoken` and `endpoint`), the SDK configuration
//! built from them, and how an SDK error becomes a [`SinkError`].
//!
//! - **HTTP**: `aws-smithy-http-client` on rustls with ring (the SDK's default client would bring
//!   aws-lc, a second crypto library beside the ring the other sinks use). The platform's root
//!   certificates are trusted, plus `cacertfile` of the service section when given.
//! - **Credentials**: the configured keys when both are set; otherwise the SDK's default chain
//!   (environment, shared profile, web identity / IRSA, ECS, EC2 instance metadata). With
//!   `rolearn` the role is assumed through STS on top of those. Credentials are resolved at the
//!   first delivery (a failure there is transient: the alerts wait in the queue and spool), so a
//!   node that gets its instance role late loses nothing.
//! - **Retries**: the SDK's own retries are off; the sink's queue retries with backoff and spills
//!   to disk, as for every other output.

mod config;
pub use config::{CloudWatchLogsConfig, S3Config, SnsConfig, SqsConfig, DEFAULT_STREAM};

#[cfg(feature = "aws")]
pub mod logs;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(feature = "aws")]
mod sdk;
#[cfg(feature = "aws")]
pub mod sns;
#[cfg(feature = "aws")]
pub mod sqs;
#[cfg(feature = "aws")]
pub(crate) use sdk::*;

use crate::common::CommonConfig;
use crate::sink::Sink;
use serde::Deserialize;
use std::sync::Arc;

/// falcosidekick's `aws:` block.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AwsConfig {
    #[serde(flatten)]
    pub creds: AwsCreds,
    pub s3: S3Config,
    pub sqs: SqsConfig,
    pub sns: SnsConfig,
    pub cloudwatchlogs: CloudWatchLogsConfig,
}

/// The keys every AWS output shares (`aws.*`, or flattened into a `sinks:` entry).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AwsCreds {
    pub accesskeyid: String,
    pub secretaccesskey: String,
    /// Harrier: a session token for temporary credentials.
    pub sessiontoken: String,
    /// Empty: `AWS_REGION`, `AWS_DEFAULT_REGION`, what the SQS URL or SNS topic ARN names, then
    /// `us-east-1`.
    pub region: String,
    /// A role to assume (STS AssumeRole) with the credentials found.
    pub rolearn: String,
    pub externalid: String,
    /// falcosidekick checks the credentials at start (STS GetCallerIdentity); Harrier accepts
    /// the key and checks them at the first delivery instead (failures are logged, counted in
    /// the output's stats, and the alerts wait in its queue).
    pub checkidentity: Option<bool>,
    /// Harrier: one endpoint for every AWS output (LocalStack, moto, a VPC endpoint). A
    /// service's own `endpoint` key wins.
    pub endpoint: String,
}

/// A `sinks:` entry of an AWS type: the shared keys and the service's keys side by side
/// (`- type: sqs`, `region: …`, `url: …`).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AwsEntry<T: Default> {
    #[serde(flatten)]
    pub creds: AwsCreds,
    #[serde(flatten)]
    pub svc: T,
}

/// `sinks:` entry of type `s3` (kept under its old name).
pub type S3Entry = AwsEntry<S3Config>;

impl From<S3Entry> for AwsConfig {
    fn from(e: S3Entry) -> Self {
        AwsConfig { creds: e.creds, s3: e.svc, ..Default::default() }
    }
}

/// The output kinds of this module: `sinks:` type, section name.
pub const KINDS: [(&str, &str); 4] =
    [("s3", "aws.s3"), ("sqs", "aws.sqs"), ("sns", "aws.sns"), ("cloudwatchlogs", "aws.cloudwatchlogs")];

impl AwsConfig {
    /// The enabled outputs of the `aws:` section: (kind, its common options).
    pub fn enabled(&self) -> Vec<(&'static str, &CommonConfig)> {
        let mut v = Vec::new();
        if !self.s3.bucket.is_empty() {
            v.push(("s3", &self.s3.common));
        }
        if !self.sqs.url.is_empty() {
            v.push(("sqs", &self.sqs.common));
        }
        if !self.sns.topicarn.is_empty() {
            v.push(("sns", &self.sns.common));
        }
        if !self.cloudwatchlogs.loggroup.is_empty() {
            v.push(("cloudwatchlogs", &self.cloudwatchlogs.common));
        }
        v
    }

    /// Every section's common options, enabled or not (for the config checks).
    pub fn commons(&self) -> Vec<(&'static str, &CommonConfig)> {
        vec![
            ("aws.s3", &self.s3.common),
            ("aws.sqs", &self.sqs.common),
            ("aws.sns", &self.sns.common),
            ("aws.cloudwatchlogs", &self.cloudwatchlogs.common),
        ]
    }

    /// The sink of an enabled section.
    #[cfg(not(feature = "aws"))]
    pub fn sink(&self, kind: &str) -> Result<Arc<dyn Sink>, String> {
        Err(crate::not_built("aws", &format!("aws.{kind}")))
    }

    /// The sink of an enabled section.
    #[cfg(feature = "aws")]
    pub fn sink(&self, kind: &str) -> Result<Arc<dyn Sink>, String> {
        let c = &self.creds;
        Ok(match kind {
            "s3" => Arc::new(s3::S3Sink::new(c, &self.s3).map_err(|e| format!("aws.s3: {e}"))?),
            "sqs" => Arc::new(sqs::SqsSink::new(c, &self.sqs).map_err(|e| format!("aws.sqs: {e}"))?),
            "sns" => Arc::new(sns::SnsSink::new(c, &self.sns).map_err(|e| format!("aws.sns: {e}"))?),
            "cloudwatchlogs" => Arc::new(
                logs::LogsSink::new(c, &self.cloudwatchlogs)
                    .map_err(|e| format!("aws.cloudwatchlogs: {e}"))?,
            ),
            other => return Err(format!("unknown AWS output '{other}'")),
        })
    }
}

/// The sink of a `sinks:` entry of an AWS type (`None`: not an AWS type).
#[cfg(not(feature = "aws"))]
pub fn entry_sink(kind: &str, _v: &serde_yaml::Value) -> Option<Result<Arc<dyn Sink>, String>> {
    KINDS.iter().any(|(k, _)| *k == kind).then(|| Err(crate::not_built("aws", kind)))
}

/// The sink of a `sinks:` entry of an AWS type (`None`: not an AWS type).
#[cfg(feature = "aws")]
pub fn entry_sink(kind: &str, v: &serde_yaml::Value) -> Option<Result<Arc<dyn Sink>, String>> {
    fn parse<T: serde::de::DeserializeOwned + Default>(
        kind: &str,
        v: &serde_yaml::Value,
    ) -> Result<AwsEntry<T>, String> {
        serde_yaml::from_value(v.clone()).map_err(|e| format!("sinks: {kind}: {e}"))
    }
    let r = || -> Result<Arc<dyn Sink>, String> {
        let e = |m: String| format!("{kind}: {m}");
        Ok(match kind {
            "s3" => {
                let x = parse::<S3Config>(kind, v)?;
                Arc::new(s3::S3Sink::new(&x.creds, &x.svc).map_err(e)?)
            }
            "sqs" => {
                let x = parse::<SqsConfig>(kind, v)?;
                Arc::new(sqs::SqsSink::new(&x.creds, &x.svc).map_err(e)?)
            }
            "sns" => {
                let x = parse::<SnsConfig>(kind, v)?;
                Arc::new(sns::SnsSink::new(&x.creds, &x.svc).map_err(e)?)
            }
            "cloudwatchlogs" => {
                let x = parse::<CloudWatchLogsConfig>(kind, v)?;
                Arc::new(logs::LogsSink::new(&x.creds, &x.svc).map_err(e)?)
            }
            _ => unreachable!("checked below"),
        })
    };
    KINDS.iter().any(|(k, _)| *k == kind).then(r)
}

/// The keys a `sinks:` entry of an AWS type may have (`None`: not an AWS type).
pub fn entry_schema(kind: &str, v: &serde_yaml::Value) -> Option<serde_yaml::Value> {
    fn sch<T: serde::de::DeserializeOwned + serde::Serialize + Default>(
        v: &serde_yaml::Value,
    ) -> Option<serde_yaml::Value> {
        serde_yaml::from_value::<AwsEntry<T>>(v.clone()).ok().and_then(|t| serde_yaml::to_value(t).ok())
    }
    match kind {
        "s3" => sch::<S3Config>(v),
        "sqs" => sch::<SqsConfig>(v),
        "sns" => sch::<SnsConfig>(v),
        "cloudwatchlogs" => sch::<CloudWatchLogsConfig>(v),
        _ => None,
    }
}

#[cfg(all(test, feature = "aws"))]
mod tests;
