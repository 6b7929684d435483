//! S3 and S3-compatible object storage: each alert is PUT as one object (Falco's JSON) under
//! falcosidekick's key layout `<prefix>/YYYY-MM-DD/<RFC 3339 time with nanoseconds>.json`, signed
//! with AWS Signature Version 4 (own implementation over `ring`'s HMAC-SHA256 and SHA-256).
//!
//! The time in the key is the upload time, made strictly increasing per sink so two alerts never
//! share a key (an alert sent again after a failed attempt is a second object; counted as
//! redelivered). With `aws.s3.endpoint` requests are path-style (`endpoint/bucket/key`), as
//! S3-compatible stores expect; without it they go to `https://BUCKET.s3.REGION.amazonaws.com`.
//! Credentials come from `aws.accesskeyid`/`aws.secretaccesskey` (or `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); instance profiles and role assumption are not
//! supported.

use crate::common::CommonConfig;
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use ring::{digest, hmac};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::Mutex;

/// falcosidekick's `aws:` block (the parts the S3 output uses).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AwsConfig {
    pub accesskeyid: String,
    pub secretaccesskey: String,
    /// Harrier: a session token for temporary credentials.
    pub sessiontoken: String,
    pub region: String,
    pub s3: S3Config,
}

/// `aws.s3:`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct S3Config {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: String,
    pub objectcannedacl: String,
    /// Harrier: verify the endpoint's certificate (default true).
    pub checkcert: Option<bool>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// A `sinks:` entry of type `s3`: the `aws:` keys flattened (`accesskeyid`, `region`, `bucket`, …).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct S3Entry {
    pub accesskeyid: String,
    pub secretaccesskey: String,
    pub sessiontoken: String,
    pub region: String,
    #[serde(flatten)]
    pub s3: S3Config,
}

impl From<S3Entry> for AwsConfig {
    fn from(e: S3Entry) -> Self {
        AwsConfig {
            accesskeyid: e.accesskeyid,
            secretaccesskey: e.secretaccesskey,
            sessiontoken: e.sessiontoken,
            region: e.region,
            s3: e.s3,
        }
    }
}

/// AWS credentials and scope for SigV4.
#[derive(Clone)]
pub struct Signer {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    pub region: String,
    pub service: String,
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, b).as_ref())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg).as_ref().to_vec()
}

/// RFC 3986 percent-encoding as SigV4 wants it (unreserved kept; `/` kept when `keep_slash`).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `20240305T140309Z` and `20240305` of a time in nanoseconds.
pub fn amz_dates(ns: u64) -> (String, String) {
    let (y, mo, d, h, mi, s, _) = crate::alert::utc_parts(ns);
    (format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z"), format!("{y:04}{mo:02}{d:02}"))
}

/// What SigV4 signs of a request.
pub struct SignRequest<'a> {
    pub method: &'a str,
    pub host: &'a str,
    /// The already-encoded absolute path.
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(&'a str, &'a str)],
    /// The other headers to sign (lower-case names); the caller sends them itself.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

impl Signer {
    /// Headers to add to a request (`x-amz-date`, `x-amz-content-sha256`, optional
    /// `x-amz-security-token`, `authorization`).
    pub fn sign(&self, r: &SignRequest<'_>, now_ns: u64) -> Vec<(String, String)> {
        let SignRequest { method, host, path, query, headers, payload } = *r;
        let (amz_date, date) = amz_dates(now_ns);
        let payload_hash = sha256_hex(payload);
        let mut hs: Vec<(String, String)> =
            headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())).collect();
        hs.push(("host".into(), host.to_string()));
        hs.push(("x-amz-date".into(), amz_date.clone()));
        hs.push(("x-amz-content-sha256".into(), payload_hash.clone()));
        if let Some(t) = &self.session_token {
            hs.push(("x-amz-security-token".into(), t.clone()));
        }
        hs.sort();
        let mut q: Vec<(String, String)> =
            query.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
        q.sort();
        let canonical_query = q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed = hs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
        let canonical =
            format!("{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed}\n{payload_hash}");
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
        let k = hmac256(format!("AWS4{}", self.secret_key).as_bytes(), date.as_bytes());
        let k = hmac256(&k, self.region.as_bytes());
        let k = hmac256(&k, self.service.as_bytes());
        let k = hmac256(&k, b"aws4_request");
        let signature = hex(&hmac256(&k, to_sign.as_bytes()));
        let mut out: Vec<(String, String)> = hs
            .into_iter()
            .filter(|(k, _)| k.starts_with("x-amz-") && !headers.iter().any(|(h, _)| h == k))
            .collect();
        out.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                self.access_key
            ),
        ));
        out
    }
}

pub struct S3Sink {
    target: HttpTarget,
    signer: Signer,
    /// scheme://host[:port] and the path prefix before the key (`/bucket` path-style, or empty).
    base: String,
    host: String,
    path_prefix: String,
    prefix: String,
    acl: String,
    last_ns: Mutex<u64>,
}

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_default()
}

impl S3Sink {
    pub fn new(c: &AwsConfig) -> Result<Self, String> {
        let s3 = &c.s3;
        let bucket = s3.bucket.trim();
        if bucket.is_empty() || bucket.contains('/') {
            return Err(format!("aws.s3.bucket '{bucket}' is not a bucket name"));
        }
        let pick = |v: &str, k: &str| if v.is_empty() { env(k) } else { v.to_string() };
        let access_key = pick(&c.accesskeyid, "AWS_ACCESS_KEY_ID");
        let secret_key = pick(&c.secretaccesskey, "AWS_SECRET_ACCESS_KEY");
        if access_key.is_empty() || secret_key.is_empty() {
            return Err(
                "aws.accesskeyid and aws.secretaccesskey are required (instance profiles are not supported)"
                    .into(),
            );
        }
        let token = pick(&c.sessiontoken, "AWS_SESSION_TOKEN");
        let region = if c.region.is_empty() {
            let r = env("AWS_REGION");
            if r.is_empty() {
                "us-east-1".to_string()
            } else {
                r
            }
        } else {
            c.region.clone()
        };
        let (base, path_prefix) = if s3.endpoint.trim().is_empty() {
            if bucket.contains('.') {
                (format!("https://s3.{region}.amazonaws.com"), format!("/{}", uri_encode(bucket, false)))
            } else {
                (format!("https://{bucket}.s3.{region}.amazonaws.com"), String::new())
            }
        } else {
            let e = s3.endpoint.trim().trim_end_matches('/');
            let e = if e.contains("://") { e.to_string() } else { format!("https://{e}") };
            (e, format!("/{}", uri_encode(bucket, false)))
        };
        let url = reqwest::Url::parse(&base).map_err(|e| format!("bad aws.s3.endpoint '{base}': {e}"))?;
        if url.path() != "/" && !url.path().is_empty() {
            return Err(format!("aws.s3.endpoint '{base}' must not have a path"));
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return Err(format!("aws.s3.endpoint '{base}' has no host")),
        };
        let opts = HttpOptions { check_cert: s3.checkcert.unwrap_or(true), ..Default::default() };
        let mut target = HttpTarget::new(&base, &opts)?;
        target.method = reqwest::Method::PUT;
        Ok(S3Sink {
            target,
            signer: Signer {
                access_key,
                secret_key,
                session_token: (!token.is_empty()).then_some(token),
                region,
                service: "s3".into(),
            },
            base,
            host,
            path_prefix,
            prefix: s3.prefix.trim_matches('/').to_string(),
            acl: if s3.objectcannedacl.is_empty() {
                "bucket-owner-full-control".into()
            } else {
                s3.objectcannedacl.clone()
            },
            last_ns: Mutex::new(0),
        })
    }

    /// A fresh, strictly increasing upload time.
    fn now_ns(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut last = self.last_ns.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last + 1).max(now);
        *last
    }

    /// `<prefix>/YYYY-MM-DD/YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ.json`.
    pub fn key(&self, ns: u64) -> String {
        let (y, mo, d, h, mi, s, nanos) = crate::alert::utc_parts(ns);
        let day = format!("{y:04}-{mo:02}-{d:02}");
        let name = format!("{day}/{day}T{h:02}:{mi:02}:{s:02}.{nanos:09}Z.json");
        if self.prefix.is_empty() {
            name
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    async fn put(&self, a: &Alert) -> Result<(), SinkError> {
        let body = crate::common::json_bytes(a);
        let now = self.now_ns();
        let path = format!("{}/{}", self.path_prefix, uri_encode(&self.key(now), true));
        let req = SignRequest {
            method: "PUT",
            host: &self.host,
            path: &path,
            query: &[],
            headers: &[("content-type", "application/json"), ("x-amz-acl", &self.acl)],
            payload: &body,
        };
        let signed = self.signer.sign(&req, now);
        let mut t = self.target.clone();
        t.headers = signed;
        t.headers.push(("x-amz-acl".into(), self.acl.clone()));
        t.send_to(&format!("{}{path}", self.base), "application/json", body).await.map(|_| ()).map_err(
            |mut e| {
                e.message = format!("s3: {}", e.message);
                e
            },
        )
    }
}

impl Sink for S3Sink {
    fn kind(&self) -> &'static str {
        "s3"
    }
    /// One object per alert, one alert per attempt: a failure never re-sends alerts that were
    /// already stored.
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for a in alerts {
                self.put(a).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
