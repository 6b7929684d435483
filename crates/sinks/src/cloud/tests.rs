//! The cloud storage outputs against real emulators: Azurite (npm `azurite`, Microsoft's Azure
//! Storage emulator, which checks Shared Key signatures) and `gcp-storage-emulator` (PyPI, the
//! GCS JSON API; it does not check tokens, so the OAuth flow is tested against a local token
//! server that verifies the JWT's RS256 signature with the account's public key). Both are
//! installed by scripts/setup-tests.sh.

use super::azure::{authorization, AzureBlobSink};
use super::gcs::GcsSink;
use super::*;
use crate::config::{build_sinks, Config};
use crate::metrics::Metrics;
use crate::router::Router;
use crate::sink::Sink;
use crate::testutil::{alert, free_port, Proc, Recorder};
use harrier_engine::Alert;
use harrier_rules::Priority;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Azurite's documented development account; the emulator accepts nothing else (not a
/// credential of any real account).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn tool(env: &str, default: &str, rel: &str) -> PathBuf {
    let p = PathBuf::from(std::env::var(env).unwrap_or_else(|_| default.into())).join(rel);
    assert!(p.exists(), "{} is not installed: run scripts/setup-tests.sh", p.display());
    p
}

fn azurite(data: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(tool("HARRIER_NODE_PREFIX", "/opt/harrier-node", "bin/azurite-blob"));
    cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--location"]).arg(data);
    let mut p = Proc::start("azurite", tempfile::tempdir().unwrap(), port, &mut cmd);
    p.wait_port();
    p
}

fn gcs_emulator(data: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(tool("HARRIER_VENV", "/opt/harrier-venv", "bin/gcp-storage-emulator"));
    cmd.arg("-d").arg(data).args(["start", "--host", "127.0.0.1", "--port", &port.to_string()]);
    cmd.args(["--default-bucket", "alerts", "-q"]);
    let mut p = Proc::start("gcp-storage-emulator", tempfile::tempdir().unwrap(), port, &mut cmd);
    p.wait_port();
    p
}

/// A Shared Key request to Azurite made by the test (create the container, list, read back).
async fn az(method: &str, url: &str) -> (u16, Vec<u8>) {
    let u = reqwest::Url::parse(url).unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &super::gcs::unbase64(DEV_KEY).unwrap());
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let ms = [("x-ms-date", date.as_str()), ("x-ms-version", "2021-08-06")];
    let auth = authorization(DEV_ACCOUNT, &key, method, &u, 0, "", &ms);
    let r = reqwest::Client::new()
        .request(method.parse().unwrap(), u)
        .header("x-ms-date", &date)
        .header("x-ms-version", "2021-08-06")
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// (blob name, content type, the blob's JSON) of every blob in the container, by name.
async fn az_blobs(base: &str) -> Vec<(String, String, serde_json::Value)> {
    let (code, xml) = az("GET", &format!("{base}?restype=container&comp=list")).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&xml));
    let xml = String::from_utf8(xml).unwrap();
    let mut out = Vec::new();
    for blob in xml.split("<Blob>").skip(1) {
        let tag = |t: &str| {
            blob.split(&format!("<{t}>")).nth(1).and_then(|s| s.split("</").next()).unwrap_or("").to_string()
        };
        let name = tag("Name");
        let (code, body) = az("GET", &format!("{base}/{name}")).await;
        assert_eq!(code, 200);
        out.push((name, tag("Content-Type"), serde_json::from_slice(&body).unwrap()));
    }
    out
}

/// Build the router from `text`, stop the server (`stop`), send ten alerts (`d0`…`d9`) and wait
/// for the queue to retry; restart it (`restart`) and wait until everything is delivered.
async fn through_an_outage(
    text: &str,
    stop: impl FnOnce(),
    restart: impl FnOnce() -> Proc,
) -> (Router, Proc) {
    let mut r = Router::new(tokio::runtime::Handle::current());
    build_sinks(&Config::parse(text).unwrap(), &mut r, &Arc::new(Metrics::default())).unwrap();
    stop();
    for i in 0..10 {
        r.send(&alert(&format!("d{i}"), Priority::Warning));
    }
    let end = Instant::now() + Duration::from_secs(10);
    while r.stats()[0].retries < 2 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(r.stats()[0].delivered, 0, "{:?}", r.stats());
    let p = restart();
    let end = Instant::now() + Duration::from_secs(30);
    while !r.is_idle() && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (r, p)
}

fn azure_cfg(port: u16, key: &str) -> AzureBlobConfig {
    AzureBlobConfig {
        accountname: DEV_ACCOUNT.into(),
        accountkey: key.into(),
        container: "alerts".into(),
        prefix: "falco".into(),
        endpoint: format!("http://127.0.0.1:{port}/{DEV_ACCOUNT}"),
        ..Default::default()
    }
}

/// Put Blob against Azurite, which checks the Shared Key signature: the blobs are there with
/// falcosidekick's names and Falco's JSON; a wrong key is refused (permanent), so is a container
/// that does not exist.
#[tokio::test]
async fn azure_blob_against_azurite() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _az = azurite(data.path(), port);
    let base = format!("http://127.0.0.1:{port}/{DEV_ACCOUNT}/alerts");
    assert_eq!(az("PUT", &format!("{base}?restype=container")).await.0, 201);
    let s = AzureBlobSink::new(&azure_cfg(port, DEV_KEY)).unwrap();
    let alerts: Vec<Arc<Alert>> =
        (0..3).map(|i| Arc::new(alert(&format!("az{i}"), Priority::Error))).collect();
    s.deliver(&alerts).await.unwrap();
    let blobs = az_blobs(&base).await;
    assert_eq!(blobs.len(), 3);
    for (i, (name, ct, v)) in blobs.iter().enumerate() {
        assert!(name.starts_with("falco/") && name.ends_with("Z.json"), "{name}");
        assert_eq!(ct, "application/json");
        assert_eq!(v["rule"], format!("az{i}"));
        assert_eq!(v["output_fields"]["k8s.ns.name"], "prod");
    }
    let wrong = AzureBlobSink::new(&azure_cfg(port, "d3Jvbmcga2V5")).unwrap();
    let e = wrong.deliver(&alerts[..1]).await.unwrap_err();
    assert!(e.permanent && e.message.contains("403"), "{e:?}");
    let none =
        AzureBlobSink::new(&AzureBlobConfig { container: "nothere".into(), ..azure_cfg(port, DEV_KEY) })
            .unwrap();
    let e = none.deliver(&alerts[..1]).await.unwrap_err();
    assert!(e.permanent && e.message.contains("404"), "{e:?}");
}

/// With a SAS token the request carries it in the query and no Authorization header; the
/// token never appears in an error message.
#[tokio::test]
async fn azure_sas_token_goes_in_the_query() {
    let mut rec = Recorder::start(|r| {
        let ok = r.method == "PUT"
            && r.path.starts_with("/c01/p/")
            && r.query == "sv=2022-11-02&sig=abc%2Bdef"
            && r.header("authorization").is_none()
            && r.header("x-ms-blob-type") == Some("BlockBlob");
        if ok {
            (201, String::new())
        } else {
            (403, "AuthenticationFailed".into())
        }
    })
    .await;
    let c = AzureBlobConfig {
        accountname: "acct".into(),
        sastoken: "?sv=2022-11-02&sig=abc%2Bdef".into(),
        container: "c01".into(),
        prefix: "p".into(),
        endpoint: rec.url(""),
        ..Default::default()
    };
    let s = AzureBlobSink::new(&c).unwrap();
    s.deliver(&[Arc::new(alert("x", Priority::Error))]).await.unwrap();
    assert_eq!(rec.take().len(), 1);
    rec.status.store(500, std::sync::atomic::Ordering::Relaxed);
    let e = s.deliver(&[Arc::new(alert("x", Priority::Error))]).await.unwrap_err();
    assert!(!e.permanent && !e.message.contains("sig="), "{e:?}");
    rec.down();
}

/// Azurite down while alerts arrive (the router spools and retries), restarted on its data:
/// every alert becomes a blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_down_then_back_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let spool = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut az1 = azurite(data.path(), port);
    let base = format!("http://127.0.0.1:{port}/{DEV_ACCOUNT}/alerts");
    assert_eq!(az("PUT", &format!("{base}?restype=container")).await.0, 201);
    let text = format!(
        "spooldir: {}\nazure:\n  blob:\n    accountname: {DEV_ACCOUNT}\n    accountkey: '{DEV_KEY}'\n    container: alerts\n    endpoint: http://127.0.0.1:{port}/{DEV_ACCOUNT}\n    queue: {{backoff_initial_ms: 50, backoff_max_ms: 500}}\n",
        spool.path().display()
    );
    // Azurite saves its metadata (the container) every 5 s: let it, then kill it hard.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stop = || az1.kill();
    let (r, _az2) = through_an_outage(&text, stop, || azurite(data.path(), port)).await;
    let mut rules: Vec<String> =
        az_blobs(&base).await.into_iter().map(|b| b.2["rule"].as_str().unwrap().to_string()).collect();
    rules.sort();
    rules.dedup();
    assert_eq!(rules.len(), 10, "{rules:?} {:?}", r.stats());
    assert_eq!(r.stats()[0].delivered, 10);
}

/// (object name, content type, the object's JSON) of every object in the emulator's bucket.
async fn gcs_objects(port: u16) -> Vec<(String, String, serde_json::Value)> {
    let c = reqwest::Client::new();
    let list = c.get(format!("http://127.0.0.1:{port}/storage/v1/b/alerts/o")).send().await.unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.bytes().await.unwrap()).unwrap();
    let mut out = Vec::new();
    for o in list["items"].as_array().cloned().unwrap_or_default() {
        let name = o["name"].as_str().unwrap().to_string();
        let mut u = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/storage/v1/b/alerts/o/")).unwrap();
        u.path_segments_mut().unwrap().pop_if_empty().push(&name);
        u.set_query(Some("alt=media"));
        let body = c.get(u).send().await.unwrap().bytes().await.unwrap();
        out.push((
            name,
            o["contentType"].as_str().unwrap_or("").to_string(),
            serde_json::from_slice(&body).unwrap(),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Multipart uploads to gcp-storage-emulator: the objects are there with falcosidekick's
/// names, `application/json` and Falco's JSON; a bucket that does not exist is refused
/// (permanent); the emulator down then back (spool and retry): nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_against_the_emulator_and_down_then_back() {
    let data = tempfile::tempdir().unwrap();
    let spool = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut emu = gcs_emulator(data.path(), port);
    let cfg = GcsConfig {
        bucket: "alerts".into(),
        prefix: "falco".into(),
        endpoint: format!("http://127.0.0.1:{port}"),
        ..Default::default()
    };
    let s = GcsSink::new("", &cfg).unwrap();
    let alerts: Vec<Arc<Alert>> =
        (0..3).map(|i| Arc::new(alert(&format!("g{i}"), Priority::Error))).collect();
    s.deliver(&alerts).await.unwrap();
    let objs = gcs_objects(port).await;
    assert_eq!(objs.len(), 3);
    for (i, (name, ct, v)) in objs.iter().enumerate() {
        assert!(name.starts_with("falco/") && name.ends_with("Z.json"), "{name}");
        assert_eq!((ct.as_str(), v["rule"].as_str()), ("application/json", Some(format!("g{i}").as_str())));
    }
    let none = GcsSink::new("", &GcsConfig { bucket: "nothere".into(), ..cfg.clone() }).unwrap();
    let e = none.deliver(&alerts[..1]).await.unwrap_err();
    assert!(e.permanent && e.message.contains("404"), "{e:?}");

    let text = format!(
        "spooldir: {}\ngcp:\n  storage:\n    bucket: alerts\n    prefix: down\n    endpoint: http://127.0.0.1:{port}\n    queue: {{backoff_initial_ms: 50, backoff_max_ms: 500}}\n",
        spool.path().display()
    );
    let (r, _emu2) = through_an_outage(&text, || emu.kill(), || gcs_emulator(data.path(), port)).await;
    let mut rules: Vec<String> = gcs_objects(port)
        .await
        .into_iter()
        .filter(|o| o.0.starts_with("down/"))
        .map(|o| o.2["rule"].as_str().unwrap().to_string())
        .collect();
    rules.sort();
    rules.dedup();
    assert_eq!(rules.len(), 10, "{rules:?} {:?}", r.stats());
}

/// The service account flow, against a local token server and upload endpoint (the emulator
/// does not check tokens): the JWT is RS256-signed with the account's key (verified with its
/// public key), names the account, the scope and the token URI; the access token is used as
/// `Bearer`, cached across uploads, and dropped after a 401.
#[tokio::test]
async fn gcs_service_account_token_flow() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("key.pem");
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&pem)
        .status()
        .expect("openssl");
    assert!(st.success());
    let pem_text = std::fs::read_to_string(&pem).unwrap();
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem_text.as_bytes()).unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    use ring::signature::KeyPair;
    let public = pair.public_key().as_ref().to_vec();
    let tokens = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (t2, port_cell) = (tokens.clone(), Arc::new(std::sync::atomic::AtomicU16::new(0)));
    let pc = port_cell.clone();
    let mut rec = Recorder::start(move |r| {
        let port = pc.load(std::sync::atomic::Ordering::Relaxed);
        if r.path == "/token" {
            let form = String::from_utf8_lossy(&r.body).to_string();
            let Some(jwt) = form
                .strip_prefix("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=")
            else {
                return (400, r#"{"error":"unsupported_grant_type"}"#.into());
            };
            let parts: Vec<&str> = jwt.split('.').collect();
            let dec = |s: &str| super::gcs::unbase64(s).unwrap_or_default();
            let claims: serde_json::Value = serde_json::from_slice(&dec(parts[1])).unwrap_or_default();
            let signed = ring::signature::UnparsedPublicKey::new(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                &public,
            )
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &dec(parts[2]))
            .is_ok();
            let ok = signed
                && claims["iss"] == "harrier@proj.iam.gserviceaccount.com"
                && claims["aud"] == format!("http://127.0.0.1:{port}/token")
                && claims["scope"] == "https://www.googleapis.com/auth/devstorage.read_write"
                && claims["exp"].as_u64().unwrap_or(0) == claims["iat"].as_u64().unwrap_or(1) + 3600;
            if !ok {
                return (400, r#"{"error":"invalid_grant"}"#.into());
            }
            let n = t2.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            return (
                200,
                format!(r#"{{"access_token":"ya29.t{n}","expires_in":3599,"token_type":"Bearer"}}"#),
            );
        }
        let n = t2.load(std::sync::atomic::Ordering::Relaxed);
        let body = String::from_utf8_lossy(&r.body).to_string();
        let ok = r.method == "POST"
            && r.path == "/upload/storage/v1/b/alerts/o"
            && r.query == "uploadType=multipart"
            && r.header("authorization") == Some(&format!("Bearer ya29.t{n}"))
            && r.header("content-type").is_some_and(|c| c.starts_with("multipart/related; boundary="))
            && body.contains(r#""contentType":"application/json""#)
            && body.contains(r#""name":"p/"#);
        if ok {
            (200, r#"{"kind":"storage#object"}"#.into())
        } else {
            (401, r#"{"error":{"code":401}}"#.into())
        }
    })
    .await;
    port_cell.store(rec.port, std::sync::atomic::Ordering::Relaxed);
    let key = serde_json::json!({
        "type": "service_account",
        "client_email": "harrier@proj.iam.gserviceaccount.com",
        "private_key": pem_text,
        "token_uri": rec.url("/token"),
    });
    let creds = crate::common::base64(key.to_string().as_bytes());
    let cfg = GcsConfig {
        bucket: "alerts".into(),
        prefix: "p".into(),
        endpoint: rec.url(""),
        ..Default::default()
    };
    let s = GcsSink::new(&creds, &cfg).unwrap();
    s.deliver(&[Arc::new(alert("a", Priority::Error))]).await.unwrap();
    s.deliver(&[Arc::new(alert("b", Priority::Error))]).await.unwrap();
    assert_eq!(tokens.load(std::sync::atomic::Ordering::Relaxed), 1, "the token is cached");
    assert_eq!(rec.take().iter().filter(|q| q.path.starts_with("/upload")).count(), 2);
    // A 401 drops the token (transient); the next attempt asks for a new one.
    rec.status.store(401, std::sync::atomic::Ordering::Relaxed);
    assert!(!s.deliver(&[Arc::new(alert("c", Priority::Error))]).await.unwrap_err().permanent);
    rec.status.store(0, std::sync::atomic::Ordering::Relaxed);
    s.deliver(&[Arc::new(alert("c", Priority::Error))]).await.unwrap();
    assert_eq!(tokens.load(std::sync::atomic::Ordering::Relaxed), 2);
    rec.down();
}

#[test]
fn bad_cloud_configs_are_refused_with_the_key() {
    let gcs = |creds: &str, bucket: &str| {
        GcsSink::new(creds, &GcsConfig { bucket: bucket.into(), ..Default::default() })
            .err()
            .unwrap_or_default()
    };
    let b64 = |s: &str| crate::common::base64(s.as_bytes());
    for (e, want) in [
        (gcs("", "Bad_Bucket"), "gcp.storage.bucket 'Bad_Bucket'"),
        (gcs("!!", "alerts"), "gcp.credentials is not base64"),
        (gcs(&b64("{}"), "alerts"), "gcp.credentials: not a service account key file"),
        (
            gcs(&b64(r#"{"type":"authorized_user","client_email":"a","private_key":"k"}"#), "alerts"),
            "expected service_account",
        ),
        (gcs(&b64(r#"{"client_email":"a","private_key":"nope"}"#), "alerts"), "gcp.credentials: private_key"),
    ] {
        assert!(e.contains(want), "want '{want}', got '{e}'");
    }
    let az = |c: AzureBlobConfig| AzureBlobSink::new(&c).err().unwrap_or_default();
    let ok = || AzureBlobConfig {
        accountname: "acct".into(),
        accountkey: "a2V5".into(),
        container: "c-1".into(),
        ..Default::default()
    };
    for (e, want) in [
        (az(AzureBlobConfig { accountname: "Acct".into(), ..ok() }), "azure.blob.accountname 'Acct'"),
        (az(AzureBlobConfig { container: "a--b".into(), ..ok() }), "azure.blob.container 'a--b'"),
        (az(AzureBlobConfig { accountkey: String::new(), ..ok() }), "set accountkey or sastoken"),
        (az(AzureBlobConfig { sastoken: "sv=1".into(), ..ok() }), "not both"),
        (az(AzureBlobConfig { accountkey: "%%".into(), ..ok() }), "azure.blob.accountkey is not base64"),
        (az(AzureBlobConfig { endpoint: "ftp://x".into(), ..ok() }), "azure.blob.endpoint"),
    ] {
        assert!(e.contains(want), "want '{want}', got '{e}'");
    }
    // Sections and sinks: entries.
    let l = Config::parse_checked(
        "gcp:\n  credentials: ''\n  storage: {bucket: alerts, endpoint: 'http://127.0.0.1:9', minimumpriority: error}\n  pubsub: {topic: t}\nsinks:\n  - type: azureblob\n    accountname: acct\n    accountkey: a2V5\n    container: c-1\n    contianer: x\n",
        "s.yaml",
        false,
        true,
    )
    .unwrap();
    assert!(l.warnings.iter().any(|w| w.contains("unknown key 'gcp.pubsub'")), "{:?}", l.warnings);
    assert!(
        l.warnings.iter().any(|w| w.contains("'sinks[0].contianer' (did you mean 'sinks[0].container'?)")),
        "{:?}",
        l.warnings
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut r = Router::new(rt.handle().clone());
    build_sinks(&l.config, &mut r, &Arc::new(Metrics::default())).unwrap();
    let names: Vec<String> = r.stats().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["gcpstorage", "azureblob-0"]);
}
