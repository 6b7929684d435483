use super::*;
use crate::testutil::{alert, Recorder};
use harrier_rules::Priority;

#[tokio::test]
async fn posts_falco_json_with_custom_headers() {
    let rec = Recorder::start(|r| {
        let ok = r.method == "POST"
            && r.header("content-type") == Some("application/json")
            && r.header("authorization") == Some("Bearer t0k")
            && r.json()["rule"].is_string()
            && r.json()["output_fields"].is_object();
        if ok {
            (200, "{}".into())
        } else {
            (400, "bad payload".into())
        }
    })
    .await;
    let cfg: WebhookConfig = serde_yaml::from_str(&format!(
        "address: {}\ncustomheaders:\n  Authorization: Bearer t0k\nminimumpriority: warning\n",
        rec.url("/hook")
    ))
    .unwrap();
    assert_eq!(cfg.common.minimumpriority, "warning");
    let s = WebhookSink::new(&cfg, "/etc/certs").unwrap();
    let a = Arc::new(alert("Write below etc", Priority::Error));
    s.deliver(std::slice::from_ref(&a)).await.unwrap();
    let reqs = rec.take();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/hook");
    assert_eq!(reqs[0].json()["rule"], "Write below etc");
    assert_eq!(reqs[0].json()["priority"], "Error");

    // The string header form, and a receiver that rejects: permanent error.
    let cfg2 = WebhookConfig {
        address: rec.url("/"),
        customheaders: KvMap::Text("X-A:1".into()),
        ..Default::default()
    };
    let e = WebhookSink::new(&cfg2, "").unwrap().deliver(std::slice::from_ref(&a)).await.unwrap_err();
    assert!(e.permanent && e.message.contains("400"), "{e:?}");
    // Nobody listening: transient.
    let cfg3 = WebhookConfig {
        address: format!("http://127.0.0.1:{}/", crate::testutil::free_port()),
        ..Default::default()
    };
    let e = WebhookSink::new(&cfg3, "").unwrap().deliver(std::slice::from_ref(&a)).await.unwrap_err();
    assert!(!e.permanent, "{e:?}");
    assert!(WebhookSink::new(&WebhookConfig { address: "ftp://x".into(), ..Default::default() }, "").is_err());
    let mtls = WebhookConfig { address: "https://x".into(), mutualtls: true, ..Default::default() };
    let e = WebhookSink::new(&mtls, "/nonexistent").err().unwrap();
    assert!(e.contains("/nonexistent/ca.crt"), "{e}");
}

/// Request bodies received, each with whether the client presented a certificate.
type Received = Arc<std::sync::Mutex<Vec<(Vec<u8>, bool)>>>;

/// A local HTTPS server (tokio-rustls) that records each request body and the client
/// certificate's subject, and answers 200. With `client_ca` it requires a client certificate
/// signed by that CA (mutual TLS).
struct TlsServer {
    port: u16,
    got: Received,
    task: tokio::task::JoinHandle<()>,
}

impl TlsServer {
    async fn start(
        cert: &std::path::Path,
        key: &std::path::Path,
        client_ca: Option<&std::path::Path>,
    ) -> TlsServer {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).unwrap().map(|c| c.unwrap()).collect();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let b = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let cfg = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_file_iter(ca).unwrap() {
                    roots.add(c.unwrap()).unwrap();
                }
                let v =
                    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .unwrap();
                b.with_client_cert_verifier(v).with_single_cert(certs, key).unwrap()
            }
            None => b.with_no_client_auth().with_single_cert(certs, key).unwrap(),
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let got: Received = Arc::default();
        let g = got.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = l.accept().await else { return };
                let acceptor = acceptor.clone();
                let g = g.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let Ok(mut s) = acceptor.accept(tcp).await else { return };
                    let has_client_cert = s.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                g.lock()
                                    .unwrap()
                                    .push((buf[end + 4..end + 4 + len].to_vec(), has_client_cert));
                                let _ = s
                                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                                    .await;
                                let _ = s.shutdown().await;
                                return;
                            }
                        }
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        TlsServer { port, got, task }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/falco", self.port)
    }

    fn take(&self) -> Vec<(serde_json::Value, bool)> {
        std::mem::take(&mut *self.got.lock().unwrap())
            .into_iter()
            .map(|(b, c)| (serde_json::from_slice(&b).unwrap(), c))
            .collect()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn https_with_a_custom_ca_and_untrusted_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::testutil::TestCa::new();
    let ca_file = ca.cert_file(dir.path());
    let (cert, key) = ca.server_cert(dir.path(), "localhost");
    let srv = TlsServer::start(&cert, &key, None).await;
    let a = Arc::new(alert("Over https", Priority::Warning));

    // The CA named in the webhook's `cacert`: delivered, certificate checked.
    let cfg =
        WebhookConfig { address: srv.url(), cacert: ca_file.display().to_string(), ..Default::default() };
    WebhookSink::new(&cfg, "").unwrap().deliver(std::slice::from_ref(&a)).await.unwrap();
    let got = srv.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0["rule"], "Over https");

    // Not trusted (no CA given): the handshake fails, nothing is received.
    let e = WebhookSink::new(&WebhookConfig { address: srv.url(), ..Default::default() }, "")
        .unwrap()
        .deliver(std::slice::from_ref(&a))
        .await
        .unwrap_err();
    assert!(e.message.to_lowercase().contains("certificate"), "{e:?}");
    // A certificate from another CA, even with a CA file given: rejected too.
    let other = crate::testutil::TestCa::new();
    let odir = tempfile::tempdir().unwrap();
    let (ocert, okey) = other.server_cert(odir.path(), "localhost");
    let osrv = TlsServer::start(&ocert, &okey, None).await;
    let e = WebhookSink::new(&WebhookConfig { address: osrv.url(), ..cfg.clone() }, "")
        .unwrap()
        .deliver(std::slice::from_ref(&a))
        .await
        .unwrap_err();
    assert!(e.message.to_lowercase().contains("certificate"), "{e:?}");
    assert!(srv.take().is_empty() && osrv.take().is_empty());

    // `checkcert: false` accepts it.
    let insecure: WebhookConfig =
        serde_yaml::from_str(&format!("address: {}\ncheckcert: false\n", osrv.url())).unwrap();
    WebhookSink::new(&insecure, "").unwrap().deliver(std::slice::from_ref(&a)).await.unwrap();
    assert_eq!(osrv.take().len(), 1);
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let ca = crate::testutil::TestCa::new();
    ca.cert_file(certs.path()); // ca.crt
    let (cert, key) = ca.server_cert(certs.path(), "localhost");
    // falcosidekick's layout: mutualtlsfilespath holds client.crt, client.key and ca.crt.
    ca.client_cert(certs.path(), "client");
    let srv = TlsServer::start(&cert, &key, Some(&certs.path().join("ca.crt"))).await;
    let a = Arc::new(alert("Mutual", Priority::Error));

    // Without a client certificate the server refuses the handshake.
    let plain = WebhookConfig {
        address: srv.url(),
        cacert: certs.path().join("ca.crt").display().to_string(),
        ..Default::default()
    };
    assert!(WebhookSink::new(&plain, "").unwrap().deliver(std::slice::from_ref(&a)).await.is_err());
    assert!(srv.take().is_empty());

    // webhook.mutualtls + mutualtlsfilespath (falcosidekick's keys).
    let mtls = WebhookConfig { address: srv.url(), mutualtls: true, ..Default::default() };
    let mtls_dir = certs.path().display().to_string();
    WebhookSink::new(&mtls, &mtls_dir).unwrap().deliver(std::slice::from_ref(&a)).await.unwrap();
    let got = srv.take();
    assert_eq!(got.len(), 1);
    assert!(got[0].1, "the server saw a client certificate");

    // Falco's http_output keys (ca_cert, mtls, client_cert, client_key) through the config and router.
    let yaml = format!(
        "http_output:\n  enabled: true\n  url: {}\n  ca_cert: {d}/ca.crt\n  mtls: true\n  \
         client_cert: {d}/client.crt\n  client_key: {d}/client.key\n",
        srv.url(),
        d = certs.path().display()
    );
    let cfg = crate::Config::parse(&yaml).unwrap();
    let mut r = crate::Router::new(tokio::runtime::Handle::current());
    crate::config::build_sinks(&cfg, &mut r, &Arc::new(crate::metrics::Metrics::default())).unwrap();
    r.send_async(&alert("Via http_output", Priority::Critical)).await;
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while r.stats()[0].delivered == 0 {
        assert!(std::time::Instant::now() < end, "{:?}", r.stats());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let got = srv.take();
    assert_eq!((got.len(), got[0].0["rule"].as_str(), got[0].1), (1, Some("Via http_output"), true));
    r.shutdown(std::time::Duration::from_secs(1)).await;
}
