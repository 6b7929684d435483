//! Azure Blob Storage through its REST API: one Put Blob (`PUT {endpoint}/{container}/{name}`,
//! `x-ms-blob-type: BlockBlob`, `application/json`) per alert, authorized with the account key
//! (Shared Key: HMAC-SHA256 over the documented string to sign — verb, the standard headers,
//! the canonical `x-ms-*` headers, `/{account}{path}`) or with a SAS token appended to the URL.
//! Azure answers 201; 408, 429, 5xx are retried, other 4xx (bad key 403, no container 404)
//! counted as failed.

use super::AzureBlobConfig;
use crate::common::{base64, json_bytes, ObjectKeys};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use std::sync::Arc;

/// The REST API version requests are signed for.
const VERSION: &str = "2021-08-06";

pub struct AzureBlobSink {
    target: HttpTarget,
    /// `{endpoint}/{container}`.
    base: String,
    account: String,
    key: Option<ring::hmac::Key>,
    sas: String,
    pub(crate) keys: ObjectKeys,
}

/// The `Authorization` value of a Shared Key request (the documented string to sign: verb, the
/// standard headers — only Content-Length (empty for 0) and Content-Type are sent —, the
/// `x-ms-*` headers lowercased and sorted, then `/{account}{path}` and the query parameters
/// sorted, one `\nname:value` each).
pub(crate) fn authorization(
    account: &str,
    key: &ring::hmac::Key,
    verb: &str,
    url: &reqwest::Url,
    len: usize,
    content_type: &str,
    ms_headers: &[(&str, &str)],
) -> String {
    let len = if len == 0 { String::new() } else { len.to_string() };
    let mut s = format!("{verb}\n\n\n{len}\n\n{content_type}\n\n\n\n\n\n\n");
    let mut h: Vec<(String, &str)> = ms_headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), *v)).collect();
    h.sort();
    for (k, v) in h {
        s.push_str(&format!("{k}:{}\n", v.trim()));
    }
    s.push_str(&format!("/{account}{}", url.path()));
    let mut q: Vec<(String, String)> =
        url.query_pairs().map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned())).collect();
    q.sort();
    for (k, v) in q {
        s.push_str(&format!("\n{k}:{v}"));
    }
    format!("SharedKey {account}:{}", base64(ring::hmac::sign(key, s.as_bytes()).as_ref()))
}

impl AzureBlobSink {
    pub fn new(c: &AzureBlobConfig) -> Result<Self, String> {
        let account = c.accountname.trim();
        if account.is_empty() || !account.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            return Err(format!(
                "azure.blob.accountname '{account}' is not a storage account name (a-z, 0-9)"
            ));
        }
        let container = c.container.trim();
        let valid = (3..=63).contains(&container.len())
            && container.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !container.starts_with('-')
            && !container.contains("--");
        if !valid {
            return Err(format!(
                "azure.blob.container '{container}' is not a container name (3–63 of a-z, 0-9 and single '-')"
            ));
        }
        let (key, sas) = match (c.accountkey.trim(), c.sastoken.trim().trim_start_matches('?')) {
            ("", "") => return Err("azure.blob: set accountkey or sastoken".into()),
            (k, "") => {
                let raw = super::gcs::unbase64(k)
                    .filter(|r| !r.is_empty())
                    .ok_or("azure.blob.accountkey is not base64")?;
                (Some(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &raw)), String::new())
            }
            ("", s) => (None, s.to_string()),
            _ => return Err("azure.blob: set accountkey or sastoken, not both".into()),
        };
        let endpoint = match c.endpoint.trim().trim_end_matches('/') {
            "" => format!("https://{account}.blob.core.windows.net"),
            e => e.to_string(),
        };
        let base = format!("{endpoint}/{container}");
        let mut target = HttpTarget::new(&base, &HttpOptions { check_cert: true, ..Default::default() })
            .map_err(|e| format!("azure.blob.endpoint: {e}"))?;
        target.method = reqwest::Method::PUT;
        Ok(AzureBlobSink {
            target,
            base,
            account: account.to_string(),
            key,
            sas,
            keys: ObjectKeys::new(&c.prefix),
        })
    }

    async fn put(&self, a: &Alert) -> Result<(), SinkError> {
        let mut url = reqwest::Url::parse(&format!("{}/{}", self.base, self.keys.next()))
            .map_err(|e| SinkError::permanent(format!("azureblob: {e}")))?;
        let body = json_bytes(a);
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let ms = [("x-ms-blob-type", "BlockBlob"), ("x-ms-date", date.as_str()), ("x-ms-version", VERSION)];
        let mut h = HeaderMap::new();
        for (k, v) in ms {
            h.insert(
                HeaderName::from_static(k),
                HeaderValue::from_str(v).map_err(|e| SinkError::permanent(e.to_string()))?,
            );
        }
        if let Some(key) = &self.key {
            let auth = authorization(&self.account, key, "PUT", &url, body.len(), "application/json", &ms);
            let v = HeaderValue::from_str(&auth).map_err(|e| SinkError::permanent(e.to_string()))?;
            h.insert(AUTHORIZATION, v);
        } else {
            url.set_query(Some(&self.sas));
        }
        self.target
            .send_with(url.as_str(), "application/json", h, body)
            .await
            .map(|_| ())
            .map_err(|e| SinkError { message: format!("azureblob: {}", e.message), ..e })
    }
}

impl Sink for AzureBlobSink {
    fn kind(&self) -> &'static str {
        "azureblob"
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.base.clone())
    }
    /// One blob per alert, one alert per attempt (as S3).
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(crate::common::one_by_one(alerts, |a| self.put(a)))
    }
}
