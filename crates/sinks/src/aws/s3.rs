//! S3 and S3-compatible object storage through `aws-sdk-s3`: each alert is one object (Falco's
//! JSON), PutObject with falcosidekick's key layout
//! `<prefix>/YYYY-MM-DD/<RFC 3339 time with nanoseconds>.json` and its `objectcannedacl`
//! (default `bucket-owner-full-control`).
//!
//! The time in the key is the upload time, made strictly increasing per sink so two alerts never
//! share a key (an alert sent again after a failed attempt is a second object; counted as
//! redelivered). With `aws.s3.endpoint` (or `aws.endpoint`) requests are path-style
//! (`endpoint/bucket/key`), as S3-compatible stores expect; without it the SDK addresses AWS.
//! Checksums are only sent where the API requires them, which S3-compatible stores accept.

use super::{AwsCreds, ClientOptions, S3Config};
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use std::sync::Arc;

/// The canned ACLs S3 knows.
const ACLS: [&str; 7] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

pub struct S3Sink {
    client: aws_sdk_s3::Client,
    bucket: String,
    pub(crate) keys: crate::common::ObjectKeys,
    pub(crate) acl: String,
    /// The region in use (the tests read it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) region: String,
    endpoint: String,
}

impl S3Sink {
    pub fn new(c: &AwsCreds, s3: &S3Config) -> Result<Self, String> {
        let bucket = s3.bucket.trim();
        if bucket.is_empty() || bucket.contains('/') {
            return Err(format!("aws.s3.bucket '{bucket}' is not a bucket name"));
        }
        if s3.checkcert == Some(false) {
            return Err("aws.s3.checkcert: false is not supported: trust the store's CA with aws.s3.cacertfile instead".into());
        }
        let acl = if s3.objectcannedacl.trim().is_empty() {
            "bucket-owner-full-control".to_string()
        } else {
            s3.objectcannedacl.trim().to_string()
        };
        if !ACLS.contains(&acl.as_str()) {
            return Err(format!(
                "aws.s3.objectcannedacl '{acl}' is not a canned ACL (expected one of {})",
                ACLS.join(", ")
            ));
        }
        let conf = super::sdk_config(
            c,
            &ClientOptions {
                region_hint: None,
                endpoint: &s3.endpoint,
                endpoint_key: "aws.s3.endpoint",
                cacert: &s3.cacertfile,
            },
        )?;
        let custom_endpoint = conf.endpoint_url().is_some();
        let region = conf.region().map(|r| r.to_string()).unwrap_or_default();
        let sc = aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(custom_endpoint)
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
            .build();
        Ok(S3Sink {
            client: aws_sdk_s3::Client::from_conf(sc),
            bucket: bucket.to_string(),
            keys: crate::common::ObjectKeys::new(&s3.prefix),
            acl,
            region,
            endpoint: super::sdk::shown_endpoint(&conf, "s3"),
        })
    }

    async fn put(&self, a: &Alert) -> Result<(), SinkError> {
        let key = self.keys.next();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::from(self.acl.as_str()))
            .body(crate::common::json_bytes(a).into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| super::sink_error("s3", e))
    }
}

impl Sink for S3Sink {
    fn kind(&self) -> &'static str {
        "s3"
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.endpoint.clone())
    }
    /// One object per alert, one alert per attempt: a failure never re-sends alerts that were
    /// already stored.
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(crate::common::one_by_one(alerts, |a| self.put(a)))
    }
}
