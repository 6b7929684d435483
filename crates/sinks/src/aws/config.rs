//! The configuration of the AWS outputs (falcosidekick's `aws.s3`, `aws.sqs`, `aws.sns` and
//! `aws.cloudwatchlogs` sections). Always compiled, so a build without the `aws` feature still
//! reads these sections and refuses them with a clear message instead of an unknown-key warning.

use crate::common::CommonConfig;
use serde::Deserialize;

/// `aws.s3:`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct S3Config {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: String,
    pub objectcannedacl: String,
    /// Harrier: a CA certificate (PEM) to trust besides the platform's, for an S3-compatible
    /// store with its own CA.
    pub cacertfile: String,
    /// Harrier (earlier versions): certificate checks can no longer be switched off; `false`
    /// is refused with a pointer to `cacertfile`.
    pub checkcert: Option<bool>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `aws.sqs:`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SqsConfig {
    /// The queue URL; set: the output is enabled.
    pub url: String,
    /// Harrier: a CA certificate (PEM) to trust besides the platform's.
    pub cacertfile: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `aws.sns:`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SnsConfig {
    /// The topic ARN; set: the output is enabled.
    pub topicarn: String,
    /// Send Falco's JSON instead of the output text with attributes.
    pub rawjson: bool,
    /// Harrier: a CA certificate (PEM) to trust besides the platform's.
    pub cacertfile: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `aws.cloudwatchlogs:`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct CloudWatchLogsConfig {
    /// The log group; set: the output is enabled.
    pub loggroup: String,
    /// The log stream (created when missing); default `falcosidekick-logstream`.
    pub logstream: String,
    /// Harrier: a CA certificate (PEM) to trust besides the platform's.
    pub cacertfile: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// The stream falcosidekick creates when none is configured.
pub const DEFAULT_STREAM: &str = "falcosidekick-logstream";
