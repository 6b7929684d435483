//! Rules from a URL and from a falcoctl-style OCI artifact, served by a small local server that
//! speaks the documented paths (plain HTTP with ETag; the OCI distribution API's manifest and blob
//! endpoints) — no registry can run here. Replayed on a reference capture: the fetched rules fire;
//! a 404, a pinned digest that does not match and a truncated artifact are clear errors.

mod common;
use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const RULES: &str = "- rule: remote cat open\n  desc: d\n  condition: evt.type = open and evt.dir = < and proc.name = cat\n  output: \"remote rule saw %fd.name\"\n  priority: WARNING\n";

/// path → (content type, body, etag); the paths requested, with their If-None-Match.
type Routes = Arc<Mutex<HashMap<String, (String, Vec<u8>, Option<String>)>>>;

/// Requested paths with their If-None-Match.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn serve(routes: Routes, seen: Seen) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_string();
            let mut inm = None;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("if-none-match:") {
                    inm = Some(v.trim().to_string());
                }
            }
            seen.lock().unwrap().push((path.clone(), inm.clone()));
            let route = routes.lock().unwrap().get(&path).cloned();
            let resp = match route {
                Some((_, _, Some(etag))) if inm.as_deref() == Some(etag.to_ascii_lowercase().as_str()) => {
                    format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
                }
                Some((ct, body, etag)) => {
                    let mut h = format!("HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
                    if let Some(e) = etag {
                        h.push_str(&format!("ETag: {e}\r\n"));
                    }
                    h.push_str("\r\n");
                    let mut b = h.into_bytes();
                    b.extend_from_slice(&body);
                    b
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = s.write_all(&resp);
        }
    });
    port
}

fn sha256(b: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, b).as_ref().iter().map(|x| format!("{x:02x}")).collect()
}

fn layer(rules: &str) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(rules.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "remote_rules.yaml", rules.as_bytes()).unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    out
}

fn manifest(digest: &str, size: usize) -> Vec<u8> {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.falco.rulesfile.config.v1+json", "digest": "sha256:00", "size": 2},
        "layers": [{"mediaType": "application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz", "digest": format!("sha256:{digest}"), "size": size}]
    })
    .to_string()
    .into_bytes()
}

fn replay_with(source: &str, cache: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_harrier"))
        .env("HARRIER_RULES_CACHE", cache)
        .args(["-r", source, "-o", "engine.kind=replay", "-o", "json_output=true", "-o"])
        .arg(format!("engine.replay.capture_file={}", capture("cat_write.scap").display()))
        .output()
        .unwrap()
}

#[test]
fn rules_from_a_url_and_an_oci_artifact() {
    let cache = tempfile::tempdir().unwrap();
    let routes: Routes = Arc::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = serve(routes.clone(), seen.clone());
    let blob = layer(RULES);
    let d = sha256(&blob);
    {
        let mut r = routes.lock().unwrap();
        r.insert(
            "/rules.yaml".into(),
            ("text/yaml".into(), RULES.as_bytes().to_vec(), Some("\"v1\"".into())),
        );
        r.insert(
            "/v2/falco/rules/manifests/1".into(),
            ("application/vnd.oci.image.manifest.v1+json".into(), manifest(&d, blob.len()), None),
        );
        r.insert(
            format!("/v2/falco/rules/blobs/sha256:{d}"),
            ("application/octet-stream".into(), blob.clone(), None),
        );
        r.insert(
            "/v2/falco/trunc/manifests/1".into(),
            ("application/vnd.oci.image.manifest.v1+json".into(), manifest(&d, blob.len()), None),
        );
        r.insert(
            format!("/v2/falco/trunc/blobs/sha256:{d}"),
            ("application/octet-stream".into(), blob[..blob.len() / 2].to_vec(), None),
        );
    }
    let base = format!("http://127.0.0.1:{port}");

    let o = replay_with(&format!("{base}/rules.yaml"), cache.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_alerts(&o).iter().filter(|a| a["rule"] == "remote cat open").count(), 4);

    // Pinned: the right digest loads, a wrong one is refused.
    let pin = sha256(RULES.as_bytes());
    assert!(replay_with(&format!("{base}/rules.yaml#sha256={pin}"), cache.path()).status.success());
    let o = replay_with(&format!("{base}/rules.yaml#sha256={}", "0".repeat(64)), cache.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not match the pinned"), "{}", stderr(&o));

    let o = replay_with(&format!("{base}/missing.yaml"), cache.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("HTTP 404"), "{}", stderr(&o));

    let o = replay_with(&format!("oci+http://127.0.0.1:{port}/falco/rules:1"), cache.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_alerts(&o).iter().filter(|a| a["rule"] == "remote cat open").count(), 4);
    assert!(seen.lock().unwrap().iter().any(|(p, _)| p == &format!("/v2/falco/rules/blobs/sha256:{d}")));

    let o = replay_with(&format!("oci+http://127.0.0.1:{port}/falco/trunc:1"), cache.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("truncated or altered"), "{}", stderr(&o));
}

/// The cache is refreshed with the validators the server gave: an unchanged document is a 304.
#[test]
fn refreshes_use_etags() {
    let cache = tempfile::tempdir().unwrap();
    let routes: Routes = Arc::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = serve(routes.clone(), seen.clone());
    routes
        .lock()
        .unwrap()
        .insert("/r.yaml".into(), ("text/yaml".into(), RULES.as_bytes().to_vec(), Some("\"abc\"".into())));
    let src = harrier_ops_source(&format!("http://127.0.0.1:{port}/r.yaml"));
    let mut f = harrier_ops::remote::Fetcher::new(src, cache.path()).unwrap();
    assert_eq!(f.fetch().unwrap(), harrier_ops::remote::Fetched::Updated);
    assert_eq!(f.fetch().unwrap(), harrier_ops::remote::Fetched::Unchanged);
    assert_eq!(seen.lock().unwrap().last().unwrap().1.as_deref(), Some("\"abc\""));
    routes.lock().unwrap().remove("/r.yaml");
    assert!(f.fetch().unwrap_err().contains("404"), "a 404 later keeps the cached rules");
    assert_eq!(std::fs::read_to_string(&f.path).unwrap(), RULES);
}

fn harrier_ops_source(s: &str) -> harrier_ops::remote::RemoteRules {
    harrier_ops::remote::RemoteRules::parse(s).unwrap().unwrap()
}
