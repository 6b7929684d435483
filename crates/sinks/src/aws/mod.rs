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

pub mod logs;
pub mod s3;
pub mod sns;
pub mod sqs;

use crate::common::CommonConfig;
use crate::sink::{Sink, SinkError};
use aws_config::SdkConfig;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub use logs::CloudWatchLogsConfig;
pub use s3::S3Config;
pub use sns::SnsConfig;
pub use sqs::SqsConfig;

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

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

/// The region: configured, from the environment, from the resource (`hint`), or `us-east-1`.
pub(crate) fn region(c: &AwsCreds, hint: Option<&str>) -> String {
    if !c.region.trim().is_empty() {
        return c.region.trim().to_string();
    }
    if let Some(r) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        return r;
    }
    if let Some(h) = hint.filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    tracing::warn!("aws.region is not set (nor AWS_REGION): using us-east-1");
    "us-east-1".into()
}

/// An endpoint URL from configuration: scheme defaults to https, no path allowed.
pub(crate) fn endpoint_url(what: &str, e: &str) -> Result<Option<String>, String> {
    let e = e.trim().trim_end_matches('/');
    if e.is_empty() {
        return Ok(None);
    }
    let e = if e.contains("://") { e.to_string() } else { format!("https://{e}") };
    let u = reqwest::Url::parse(&e).map_err(|x| format!("bad {what} '{e}': {x}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("bad {what} '{e}': scheme must be http or https"));
    }
    if u.host_str().is_none() {
        return Err(format!("{what} '{e}' has no host"));
    }
    if u.path() != "/" && !u.path().is_empty() {
        return Err(format!("{what} '{e}' must not have a path"));
    }
    Ok(Some(e))
}

/// The SDK's HTTPS client: rustls on ring, the platform roots plus `cacert` (PEM file).
fn http_client(cacert: &str) -> Result<SharedHttpClient, String> {
    use aws_smithy_http_client::tls;
    let mut store = tls::TrustStore::default();
    if !cacert.is_empty() {
        let pem = std::fs::read(cacert).map_err(|e| format!("cannot read CA certificate {cacert}: {e}"))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!("no PEM certificate in {cacert}"));
        }
        store = store.with_pem_certificate(pem);
    }
    let ctx = tls::TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| format!("TLS: {}", DisplayErrorContext(e)))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(ctx)
        .build_https())
}

/// Options of one service's client.
pub(crate) struct ClientOptions<'a> {
    pub region_hint: Option<&'a str>,
    /// The service's own endpoint key (wins over `aws.endpoint`).
    pub endpoint: &'a str,
    pub endpoint_key: &'a str,
    pub cacert: &'a str,
}

/// The SDK configuration of one output, built without network access.
pub(crate) fn sdk_config(c: &AwsCreds, o: &ClientOptions<'_>) -> Result<SdkConfig, String> {
    if c.accesskeyid.is_empty() != c.secretaccesskey.is_empty() {
        return Err("aws.accesskeyid and aws.secretaccesskey go together (set both, or neither to use the default credential chain)".into());
    }
    if c.rolearn.is_empty() && !c.externalid.is_empty() {
        return Err("aws.externalid needs aws.rolearn".into());
    }
    if !c.rolearn.is_empty() && !c.rolearn.starts_with("arn:") {
        return Err(format!("aws.rolearn '{}' is not an ARN", c.rolearn));
    }
    let region = aws_config::Region::new(region(c, o.region_hint));
    let http = http_client(o.cacert)?;
    let endpoint = match endpoint_url(o.endpoint_key, o.endpoint)? {
        Some(e) => Some(e),
        None => endpoint_url("aws.endpoint", &c.endpoint)?,
    };
    let creds = LazyCredentials {
        creds: c.clone(),
        region: region.clone(),
        http: http.clone(),
        endpoint: endpoint.clone(),
        inner: tokio::sync::OnceCell::new(),
    };
    let mut b = base_builder(region, http)
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(Duration::from_secs(20))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    Ok(b.build())
}

fn base_builder(region: aws_config::Region, http: SharedHttpClient) -> aws_types::sdk_config::Builder {
    let mut b = SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region)
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .time_source(aws_smithy_async::time::SystemTimeSource::new());
    if let Some(s) = aws_smithy_async::rt::sleep::default_async_sleep() {
        b = b.sleep_impl(s);
    }
    b
}

/// Credentials resolved at first use: the configured keys or the default chain, then the role
/// to assume, if any. The SDK caches what this returns until it expires.
#[derive(Debug)]
struct LazyCredentials {
    creds: AwsCreds,
    region: aws_config::Region,
    http: SharedHttpClient,
    endpoint: Option<String>,
    inner: tokio::sync::OnceCell<SharedCredentialsProvider>,
}

impl LazyCredentials {
    async fn provider(&self) -> SharedCredentialsProvider {
        let c = &self.creds;
        let base = if !c.accesskeyid.is_empty() {
            SharedCredentialsProvider::new(Credentials::new(
                &c.accesskeyid,
                &c.secretaccesskey,
                (!c.sessiontoken.is_empty()).then(|| c.sessiontoken.clone()),
                None,
                "harrier-config",
            ))
        } else {
            let pc = aws_config::provider_config::ProviderConfig::without_region()
                .with_region(Some(self.region.clone()))
                .with_http_client(self.http.clone());
            SharedCredentialsProvider::new(
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(self.region.clone())
                    .configure(pc)
                    .build()
                    .await,
            )
        };
        if c.rolearn.is_empty() {
            return base;
        }
        // STS through the same client, region and endpoint override (LocalStack, moto).
        let mut sts = base_builder(self.region.clone(), self.http.clone()).credentials_provider(base);
        if let Some(e) = &self.endpoint {
            sts = sts.endpoint_url(e);
        }
        let mut role = aws_config::sts::AssumeRoleProvider::builder(&c.rolearn)
            .session_name(format!("harrier-{}", std::process::id()))
            .region(self.region.clone())
            .configure(&sts.build());
        if !c.externalid.is_empty() {
            role = role.external_id(&c.externalid);
        }
        SharedCredentialsProvider::new(role.build().await)
    }
}

impl ProvideCredentials for LazyCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let p = self.inner.get_or_init(|| self.provider()).await;
            p.provide_credentials().await
        })
    }
}

/// An SDK error as a delivery failure. The receiver refusing the request (HTTP 4xx other than
/// 408/429, not a throttling code) is permanent; everything else (no connection, timeout, 5xx,
/// throttling, credentials not found yet) is retried.
pub(crate) fn sink_error<E, R>(what: &str, e: SdkError<E, R>) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus,
{
    match &e {
        SdkError::ServiceError(se) => {
            let status = se.raw().http_status();
            let code = se.err().code().unwrap_or("");
            let msg = match se.err().message() {
                Some(m) => m.to_string(),
                // An answer the SDK could not read as an AWS error: show its start.
                None => se.raw().body_start(),
            };
            let text = format!("{what}: HTTP {status} {code}: {msg}");
            let throttled = code.contains("Throttl")
                || matches!(
                    code,
                    "SlowDown" | "RequestTimeout" | "RequestLimitExceeded" | "ServiceUnavailable"
                );
            if (400..500).contains(&status) && status != 408 && status != 429 && !throttled {
                SinkError::permanent(text)
            } else {
                SinkError::transient(text)
            }
        }
        _ => SinkError::transient(format!("{what}: {}", DisplayErrorContext(&e))),
    }
}

/// The HTTP status of a raw SDK response.
pub(crate) trait HasStatus {
    fn http_status(&self) -> u16;
    fn body_start(&self) -> String;
}

impl HasStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
    fn body_start(&self) -> String {
        let b = self.body().bytes().unwrap_or_default();
        crate::common::clip(String::from_utf8_lossy(b).trim(), 300)
    }
}

/// Milliseconds since the epoch now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;

/// A deduplication id for FIFO queues and topics: SHA-256 of the message, hex (64 characters,
/// within the 128 that SQS and SNS take).
pub(crate) fn dedup_id(body: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, body).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Largest batch SendMessageBatch (SQS) and PublishBatch (SNS) take, in entries and in bytes.
pub(crate) const BATCH_ENTRIES: usize = 10;
pub(crate) const BATCH_BYTES: usize = 256 * 1024;

/// An entry a batch call did not take: its id, the service's code and message, and whether it
/// blames the request (then sending it again cannot help).
pub(crate) struct EntryFailure {
    pub id: String,
    pub code: String,
    pub message: String,
    pub sender_fault: bool,
}

/// The [`EntryFailure`]s of a batch answer's `failed()` list (SQS's and SNS's entries have the
/// same accessors but distinct types).
macro_rules! entry_failures {
    ($failed:expr) => {
        $failed
            .iter()
            .map(|f| $crate::aws::EntryFailure {
                id: f.id().into(),
                code: f.code().into(),
                message: f.message().unwrap_or_default().into(),
                sender_fault: f.sender_fault(),
            })
            .collect::<Vec<_>>()
    };
}
pub(crate) use entry_failures;

/// Send `entries` (each with its size in bytes) in calls of at most [`BATCH_ENTRIES`] and
/// [`BATCH_BYTES`], in order. `call` makes one batch call and returns the entries the service
/// failed; those it failed on its side are sent again at once (twice at most), so a partial
/// failure does not re-send the whole batch. An entry refused as the sender's fault makes the
/// delivery fail permanently; one still failing after the rounds, transiently.
pub(crate) async fn send_in_batches<E, F, Fut>(
    kind: &str,
    entries: Vec<(E, usize)>,
    id: fn(&E) -> &str,
    call: F,
) -> Result<(), SinkError>
where
    E: Clone,
    F: Fn(Vec<E>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<EntryFailure>, SinkError>>,
{
    let mut batch: Vec<E> = Vec::new();
    let mut bytes = 0;
    let mut it = entries.into_iter().peekable();
    while let Some((e, size)) = it.next() {
        bytes += size;
        batch.push(e);
        let full = match it.peek() {
            None => true,
            Some((_, next)) => batch.len() == BATCH_ENTRIES || bytes + next > BATCH_BYTES,
        };
        if !full {
            continue;
        }
        let mut pending = std::mem::take(&mut batch);
        bytes = 0;
        for round in 0..3 {
            let failed = call(pending.clone()).await?;
            let Some(f) = failed.first() else { break };
            let msg = format!("{kind}: {} of the batch failed: {} {}", failed.len(), f.code, f.message);
            if failed.iter().any(|f| f.sender_fault) {
                return Err(SinkError::permanent(msg));
            }
            if round == 2 {
                return Err(SinkError::transient(msg));
            }
            pending.retain(|e| failed.iter().any(|f| f.id == id(e)));
        }
    }
    Ok(())
}
