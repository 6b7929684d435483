//! Rules from elsewhere: an HTTP(S) URL or a falcoctl-style OCI rules artifact, kept in a local
//! cache file that the rules loader reads and the file watch follows.
//!
//! * `https://host/path/rules.yaml` — fetched with `If-None-Match` (ETag) and
//!   `If-Modified-Since`; a `#sha256=HEX` suffix pins the content (a mismatch is refused).
//! * `oci://registry[:port]/repository:tag` (or `@sha256:…`) — the OCI distribution API as
//!   falcoctl's `artifact follow` uses it: `GET /v2/<repo>/manifests/<ref>` (OCI image manifest),
//!   then the layer of media type `application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz`
//!   (`GET /v2/<repo>/blobs/<digest>`, digest checked), a gzip tar whose `.yaml` files are the
//!   rules. Anonymous pulls, or a bearer token from `HARRIER_OCI_TOKEN`; `oci+http://` for a
//!   registry without TLS (tests, local mirrors).
//!
//! A failed refresh (404, network, bad digest, truncated artifact) keeps the cached rules and says
//! why; the first fetch failing is an error at start.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest rules document or artifact layer accepted.
pub const MAX_BYTES: usize = 16 << 20;

/// Where rules come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteRules {
    Url { url: String, sha256: Option<String> },
    Oci { base: String, repository: String, reference: String },
}

/// The media type of a Falco rules layer.
pub const RULES_LAYER: &str = "application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz";

impl RemoteRules {
    /// `https://…`, `http://…`, `oci://…`, `oci+http://…`; `None` for a local path.
    pub fn parse(s: &str) -> Option<Result<RemoteRules, String>> {
        if s.starts_with("https://") || s.starts_with("http://") {
            let (url, pin) = match s.split_once("#sha256=") {
                Some((u, h)) => (u.to_string(), Some(h.to_ascii_lowercase())),
                None => (s.to_string(), None),
            };
            if let Some(h) = &pin {
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Some(Err(format!("{s}: #sha256= needs 64 hex digits")));
                }
            }
            return Some(Ok(RemoteRules::Url { url, sha256: pin }));
        }
        let (scheme, rest) = if let Some(r) = s.strip_prefix("oci://") {
            ("https", r)
        } else if let Some(r) = s.strip_prefix("oci+http://") {
            ("http", r)
        } else {
            return None;
        };
        let Some((host, path)) = rest.split_once('/') else {
            return Some(Err(format!("{s}: expected oci://registry/repository:tag")));
        };
        let (repository, reference) = if let Some((r, d)) = path.split_once('@') {
            (r.to_string(), d.to_string())
        } else {
            match path.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (path.to_string(), "latest".to_string()),
            }
        };
        if repository.is_empty() || reference.is_empty() {
            return Some(Err(format!("{s}: expected oci://registry/repository:tag")));
        }
        Some(Ok(RemoteRules::Oci { base: format!("{scheme}://{host}"), repository, reference }))
    }

    /// A file name for the cache (stable per source).
    pub fn cache_name(&self) -> String {
        let key = match self {
            RemoteRules::Url { url, .. } => url.clone(),
            RemoteRules::Oci { base, repository, reference } => format!("{base}/{repository}:{reference}"),
        };
        let d = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
        let short: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        let tail: String = key
            .rsplit('/')
            .next()
            .unwrap_or("rules")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' })
            .collect();
        let tail = tail.trim_end_matches(".yaml").trim_end_matches(".yml").to_string();
        format!("{tail}-{short}.yaml")
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a fetch found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// New content, written to the cache file.
    Updated,
    /// The source says nothing changed.
    Unchanged,
}

/// Keeps one remote source in a cache file.
pub struct Fetcher {
    pub source: RemoteRules,
    pub path: PathBuf,
    client: reqwest::blocking::Client,
    etag: Option<String>,
    last_modified: Option<String>,
    manifest_digest: Option<String>,
}

fn read_limited(r: reqwest::blocking::Response, what: &str) -> Result<Vec<u8>, String> {
    if let Some(n) = r.content_length() {
        if n as usize > MAX_BYTES {
            return Err(format!("{what}: {n} bytes, more than the {MAX_BYTES} accepted"));
        }
    }
    let mut buf = Vec::new();
    r.take(MAX_BYTES as u64 + 1).read_to_end(&mut buf).map_err(|e| format!("{what}: {e}"))?;
    if buf.len() > MAX_BYTES {
        return Err(format!("{what}: more than the {MAX_BYTES} bytes accepted"));
    }
    Ok(buf)
}

impl Fetcher {
    pub fn new(source: RemoteRules, cache_dir: &Path) -> Result<Fetcher, String> {
        std::fs::create_dir_all(cache_dir)
            .map_err(|e| format!("rules cache {}: {e}", cache_dir.display()))?;
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("harrier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let path = cache_dir.join(source.cache_name());
        Ok(Fetcher { source, path, client, etag: None, last_modified: None, manifest_digest: None })
    }

    /// Fetch once; on success the cache file holds the newest valid content.
    pub fn fetch(&mut self) -> Result<Fetched, String> {
        match self.source.clone() {
            RemoteRules::Url { url, sha256 } => self.fetch_url(&url, sha256.as_deref()),
            RemoteRules::Oci { base, repository, reference } => {
                self.fetch_oci(&base, &repository, &reference)
            }
        }
    }

    fn write(&self, data: &[u8]) -> Result<(), String> {
        // Replace atomically (the watch and the loader never see half a file).
        let tmp = self.path.with_extension("yaml.part");
        std::fs::write(&tmp, data).map_err(|e| format!("rules cache {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("rules cache {}: {e}", self.path.display()))
    }

    fn fetch_url(&mut self, url: &str, pin: Option<&str>) -> Result<Fetched, String> {
        let mut req = self.client.get(url);
        if self.path.exists() {
            if let Some(e) = &self.etag {
                req = req.header("If-None-Match", e);
            }
            if let Some(m) = &self.last_modified {
                req = req.header("If-Modified-Since", m);
            }
        }
        let r = req.send().map_err(|e| format!("{url}: {e}"))?;
        if r.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::Unchanged);
        }
        if !r.status().is_success() {
            return Err(format!("{url}: HTTP {}", r.status()));
        }
        let etag = r.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string);
        let lm = r.headers().get("last-modified").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = read_limited(r, url)?;
        if let Some(p) = pin {
            let got = hex(ring::digest::digest(&ring::digest::SHA256, &body).as_ref());
            if got != p {
                return Err(format!("{url}: sha256 {got} does not match the pinned {p}; not loaded"));
            }
        }
        if std::str::from_utf8(&body).is_err() {
            return Err(format!("{url}: the rules are not UTF-8 text"));
        }
        self.etag = etag;
        self.last_modified = lm;
        let unchanged = std::fs::read(&self.path).map(|old| old == body).unwrap_or(false);
        if unchanged {
            return Ok(Fetched::Unchanged);
        }
        self.write(&body)?;
        Ok(Fetched::Updated)
    }

    fn oci_get(&self, url: &str, accept: &str) -> Result<reqwest::blocking::Response, String> {
        let mut req = self.client.get(url).header("Accept", accept);
        if let Ok(t) = std::env::var("HARRIER_OCI_TOKEN") {
            req = req.bearer_auth(t);
        }
        let r = req.send().map_err(|e| format!("{url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("{url}: HTTP {}", r.status()));
        }
        Ok(r)
    }

    fn fetch_oci(&mut self, base: &str, repo: &str, reference: &str) -> Result<Fetched, String> {
        let murl = format!("{base}/v2/{repo}/manifests/{reference}");
        let r = self.oci_get(&murl, "application/vnd.oci.image.manifest.v1+json")?;
        let digest_hdr =
            r.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = read_limited(r, &murl)?;
        let manifest_digest = digest_hdr.unwrap_or_else(|| {
            format!("sha256:{}", hex(ring::digest::digest(&ring::digest::SHA256, &body).as_ref()))
        });
        if self.path.exists() && self.manifest_digest.as_deref() == Some(manifest_digest.as_str()) {
            return Ok(Fetched::Unchanged);
        }
        let expected = rules_layer_digest(&body).map_err(|e| format!("{murl}: {e}"))?;
        let burl = format!("{base}/v2/{repo}/blobs/sha256:{expected}");
        let blob = read_limited(self.oci_get(&burl, "application/octet-stream")?, &burl)?;
        let got = hex(ring::digest::digest(&ring::digest::SHA256, &blob).as_ref());
        if got != expected {
            return Err(format!("{burl}: content sha256 {got} does not match the manifest's {expected} (truncated or altered); not loaded"));
        }
        let rules = rules_from_layer(&blob).map_err(|e| format!("{burl}: {e}"))?;
        let unchanged = std::fs::read(&self.path).map(|old| old == rules).unwrap_or(false);
        self.manifest_digest = Some(manifest_digest);
        if unchanged {
            return Ok(Fetched::Unchanged);
        }
        self.write(&rules)?;
        Ok(Fetched::Updated)
    }
}

/// The sha256 (64 lowercase hex digits) of the rules layer an OCI image manifest lists.
pub fn rules_layer_digest(manifest: &[u8]) -> Result<String, String> {
    let m: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let layer = m["layers"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["mediaType"] == RULES_LAYER))
        .ok_or_else(|| format!("no layer of media type {RULES_LAYER} (not a Falco rules artifact)"))?;
    let digest = layer["digest"].as_str().ok_or("the rules layer has no digest")?;
    let hex =
        digest.strip_prefix("sha256:").ok_or_else(|| format!("unsupported digest {digest} (sha256 only)"))?;
    // The digest goes into the blob URL: only a well-formed one.
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("malformed digest {digest} (sha256: and 64 hex digits)"));
    }
    Ok(hex.to_ascii_lowercase())
}

/// The `.yaml` files of a gzip tar layer, concatenated as one rules document stream.
pub fn rules_from_layer(blob: &[u8]) -> Result<Vec<u8>, String> {
    let gz = flate2::read::GzDecoder::new(blob);
    let mut ar = tar::Archive::new(gz.take(MAX_BYTES as u64 * 4));
    let mut out = Vec::new();
    let entries = ar.entries().map_err(|e| format!("not a gzip tar: {e}"))?;
    for e in entries {
        let mut e = e.map_err(|e| format!("truncated or corrupt tar: {e}"))?;
        let name = e.path().map(|p| p.display().to_string()).unwrap_or_default();
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) || !e.header().entry_type().is_file() {
            continue;
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).map_err(|err| format!("truncated or corrupt tar ({name}): {err}"))?;
        if out.len() + data.len() > MAX_BYTES {
            return Err(format!("the rules are larger than {MAX_BYTES} bytes"));
        }
        if !out.is_empty() {
            out.extend_from_slice(b"\n");
        }
        out.extend_from_slice(&data);
    }
    if out.is_empty() {
        return Err("the artifact holds no .yaml rules file".into());
    }
    Ok(out)
}

/// Keep `fetchers` fresh every `every` on a thread; each update rewrites its cache file (the file
/// watch reloads the rules), each failure is logged and the cached rules stay.
pub fn follow(mut fetchers: Vec<Fetcher>, every: Duration) {
    if fetchers.is_empty() {
        return;
    }
    let _ = std::thread::Builder::new().name("harrier-rules-follow".into()).spawn(move || loop {
        std::thread::sleep(every);
        for f in &mut fetchers {
            match f.fetch() {
                Ok(Fetched::Updated) => tracing::info!("rules from {:?} updated", f.source),
                Ok(Fetched::Unchanged) => {}
                Err(e) => tracing::warn!("rules refresh failed, the cached rules stay: {e}"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(RemoteRules::parse("/etc/falco/rules.yaml"), None);
        let u = RemoteRules::parse(&format!("https://h/r.yaml#sha256={}", "A".repeat(64))).unwrap().unwrap();
        assert_eq!(u, RemoteRules::Url { url: "https://h/r.yaml".into(), sha256: Some("a".repeat(64)) });
        assert!(RemoteRules::parse("https://h/r.yaml#sha256=12").unwrap().is_err());
        let o = RemoteRules::parse("oci://ghcr.io/falcosecurity/rules/falco-rules:3").unwrap().unwrap();
        assert_eq!(
            o,
            RemoteRules::Oci {
                base: "https://ghcr.io".into(),
                repository: "falcosecurity/rules/falco-rules".into(),
                reference: "3".into()
            }
        );
        let o = RemoteRules::parse("oci+http://127.0.0.1:5000/r@sha256:ab").unwrap().unwrap();
        assert_eq!(
            o,
            RemoteRules::Oci {
                base: "http://127.0.0.1:5000".into(),
                repository: "r".into(),
                reference: "sha256:ab".into()
            }
        );
        assert!(RemoteRules::parse("oci://nohost").unwrap().is_err());
        assert!(o.cache_name().ends_with(".yaml"));
    }

    #[test]
    fn layers_hold_yaml_files_and_truncation_is_an_error() {
        let mut tarball = Vec::new();
        {
            let gz = flate2::write::GzEncoder::new(&mut tarball, flate2::Compression::default());
            let mut b = tar::Builder::new(gz);
            let data = b"- list: l\n  items: [a]\n";
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "falco_rules.yaml", &data[..]).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        assert_eq!(rules_from_layer(&tarball).unwrap(), b"- list: l\n  items: [a]\n");
        let cut = &tarball[..tarball.len() / 2];
        assert!(rules_from_layer(cut).is_err());
        assert!(rules_from_layer(b"not gzip").is_err());
    }
}
