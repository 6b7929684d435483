//! The AWS SDK side shared by the four outputs: region and endpoint resolution, the rustls (ring)
//! HTTP client, lazily resolved credentials (keys, default chain, assumed role), and SDK errors as
//! delivery failures. Compiled with the `aws` feature only.

use super::AwsCreds;
use crate::sink::SinkError;
use aws_config::SdkConfig;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use std::time::Duration;

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

/// Where an output of `service` sends, as `harrier doctor` shows and probes it: the custom
/// endpoint, or AWS's regional one.
pub(crate) fn shown_endpoint(conf: &SdkConfig, service: &str) -> String {
    match conf.endpoint_url() {
        Some(e) => e.to_string(),
        None => {
            let region = conf.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
            format!("https://{service}.{region}.amazonaws.com")
        }
    }
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
