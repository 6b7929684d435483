//! Google Cloud Storage through its JSON API: one multipart upload per alert
//! (`POST {endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=multipart`, a metadata part with
//! the object's name and `contentType: application/json`, then Falco's JSON), with a bearer
//! token from:
//! - `gcp.credentials` (a service account key, base64 as falcosidekick takes it): a JWT signed
//!   RS256 with the account's key (`iss` the account, `scope` devstorage.read_write, `aud` the
//!   key's `token_uri`), exchanged at `token_uri` for an access token (RFC 7523), kept until a
//!   minute before it expires;
//! - otherwise the metadata server (GCE, GKE workload identity; `GCE_METADATA_HOST` overrides
//!   its address, as Google's libraries do);
//! - none, when `endpoint` names an emulator and no credentials are given.
//!
//! GCS answers 200 with the object; 401 drops the cached token; 408, 429, 5xx and token
//! failures are retried (alerts stay queued until the credentials work), other 4xx count as
//! failed.

use super::GcsConfig;
use crate::common::{base64, json_bytes, ObjectKeys};
use crate::sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};
use harrier_engine::Alert;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The fields of a service account key file Harrier uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    kind: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    token_uri: String,
}

enum Auth {
    None,
    Account { email: String, key: Box<ring::signature::RsaKeyPair>, token_uri: String },
    Metadata { url: String },
}

pub struct GcsSink {
    target: HttpTarget,
    upload: String,
    auth: Auth,
    token: Mutex<Option<(String, Instant)>>,
    pub(crate) keys: ObjectKeys,
}

/// base64url without padding (JWT).
fn b64url(data: &[u8]) -> String {
    base64(data).trim_end_matches('=').replace('+', "-").replace('/', "_")
}

/// Decode standard base64 (padding optional, whitespace ignored).
pub(crate) fn unbase64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn account(credentials: &str) -> Result<Auth, String> {
    let json = unbase64(credentials.trim())
        .ok_or("gcp.credentials is not base64 (falcosidekick's form: base64 of the key file's JSON)")?;
    let k: KeyFile = serde_json::from_slice(&json)
        .map_err(|e| format!("gcp.credentials: not a service account key file: {e}"))?;
    if !k.kind.is_empty() && k.kind != "service_account" {
        return Err(format!("gcp.credentials: a key of type '{}', expected service_account", k.kind));
    }
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(k.private_key.as_bytes())
        .map_err(|e| format!("gcp.credentials: private_key is not a PKCS#8 PEM key: {e}"))?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| format!("gcp.credentials: private_key is not an RSA key ring accepts: {e}"))?;
    let token_uri = if k.token_uri.is_empty() { DEFAULT_TOKEN_URI.to_string() } else { k.token_uri };
    reqwest::Url::parse(&token_uri).map_err(|e| format!("gcp.credentials: token_uri '{token_uri}': {e}"))?;
    Ok(Auth::Account { email: k.client_email, key: Box::new(key), token_uri })
}

impl GcsSink {
    pub fn new(credentials: &str, c: &GcsConfig) -> Result<Self, String> {
        let bucket = c.bucket.trim();
        if bucket.len() < 3
            || bucket.len() > 222
            || !bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        {
            return Err(format!(
                "gcp.storage.bucket '{bucket}' is not a bucket name (3–222 of a-z, 0-9, '-', '_', '.')"
            ));
        }
        let endpoint = match c.endpoint.trim().trim_end_matches('/') {
            "" => "https://storage.googleapis.com",
            e => e,
        };
        let upload = format!("{endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=multipart");
        let target = HttpTarget::new(&upload, &HttpOptions { check_cert: true, ..Default::default() })
            .map_err(|e| format!("gcp.storage.endpoint: {e}"))?;
        let auth = if !credentials.trim().is_empty() {
            account(credentials)?
        } else if !c.endpoint.trim().is_empty() {
            Auth::None
        } else {
            let host = std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| "169.254.169.254".into());
            Auth::Metadata {
                url: format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token"),
            }
        };
        Ok(GcsSink { target, upload, auth, token: Mutex::new(None), keys: ObjectKeys::new(&c.prefix) })
    }

    /// A signed JWT asking for an access token.
    fn assertion(email: &str, key: &ring::signature::RsaKeyPair, aud: &str) -> Result<String, SinkError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims =
            serde_json::json!({"iss": email, "scope": SCOPE, "aud": aud, "iat": now, "exp": now + 3600});
        let input = format!("{header}.{}", b64url(claims.to_string().as_bytes()));
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| SinkError::transient("gcs: cannot sign the token request"))?;
        Ok(format!("{input}.{}", b64url(&sig)))
    }

    /// The bearer token (`None`: no authentication).
    async fn token(&self) -> Result<Option<String>, SinkError> {
        if matches!(self.auth, Auth::None) {
            return Ok(None);
        }
        if let Some((t, until)) = self.token.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if Instant::now() < *until {
                return Ok(Some(t.clone()));
            }
        }
        let c = &self.target.client;
        let (what, req) = match &self.auth {
            Auth::Account { email, key, token_uri } => {
                let jwt = Self::assertion(email, key, token_uri)?;
                let form = format!(
                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}"
                );
                let r =
                    c.post(token_uri).header("content-type", "application/x-www-form-urlencoded").body(form);
                (token_uri.as_str(), r)
            }
            Auth::Metadata { url } => (url.as_str(), c.get(url).header("Metadata-Flavor", "Google")),
            Auth::None => return Ok(None),
        };
        let fail = |m: String| SinkError::transient(format!("gcs: no access token from {what}: {m}"));
        let resp = req.send().await.map_err(|e| fail(e.without_url().to_string()))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )));
        }
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: u64,
        }
        let t: Token = serde_json::from_slice(&body).map_err(|e| fail(format!("unexpected answer: {e}")))?;
        let life = Duration::from_secs(t.expires_in.max(120) - 60);
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((t.access_token.clone(), Instant::now() + life));
        Ok(Some(t.access_token))
    }

    async fn put(&self, a: &Alert) -> Result<(), SinkError> {
        let name = self.keys.next();
        let data = json_bytes(a);
        let mut boundary = format!("harrier-{:x}", self.keys.now_ns());
        while data.windows(boundary.len()).any(|w| w == boundary.as_bytes()) {
            boundary.push('x');
        }
        let meta = serde_json::json!({ "name": name, "contentType": "application/json" });
        let mut body = format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: application/json\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut h = HeaderMap::new();
        if let Some(t) = self.token().await? {
            let v = HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| SinkError::transient("gcs: the token server sent an unusable token"))?;
            h.insert(AUTHORIZATION, v);
        }
        let ct = format!("multipart/related; boundary={boundary}");
        match self.target.send_with(&self.upload, &ct, h, body).await {
            Err(e) if e.message.contains("HTTP 401") => {
                *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Err(SinkError::transient(format!("gcs: {}", e.message)))
            }
            r => r.map(|_| ()).map_err(|e| SinkError { message: format!("gcs: {}", e.message), ..e }),
        }
    }
}

impl Sink for GcsSink {
    fn kind(&self) -> &'static str {
        "gcpstorage"
    }
    fn endpoint(&self) -> Option<String> {
        Some(self.target.shown.split('?').next().unwrap_or_default().to_string())
    }
    /// One object per alert, one alert per attempt (as S3).
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(crate::common::one_by_one(alerts, |a| self.put(a)))
    }
}
