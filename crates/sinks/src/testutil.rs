//! Test helpers: real servers started on free ports in temp dirs and killed on drop, and a small
//! recording HTTP server for the webhook-style sinks.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The path of a server binary, or a failure telling how to get it.
pub fn need(bin: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/sbin", "/bin"] {
        let p = PathBuf::from(dir).join(bin);
        if p.exists() {
            return p;
        }
    }
    panic!("{bin} is not installed: run scripts/setup-tests.sh (it installs the sink test servers)");
}

/// A server process killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub name: String,
}

impl Proc {
    pub fn start(name: &str, dir: tempfile::TempDir, port: u16, cmd: &mut Command) -> Proc {
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (run scripts/setup-tests.sh)"));
        Proc { child, dir, port, name: name.into() }
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
    pub fn wait_port(&mut self) {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("{} exited ({st}) before listening:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} did not listen on {} in 20 s:\n{}", self.name, self.port, self.log());
    }
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One request seen by [`Recorder`].
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

type Check = Arc<dyn Fn(&Req) -> (u16, String) + Send + Sync>;

/// A local HTTP server that records requests; `check` validates each and picks the answer.
pub struct Recorder {
    pub port: u16,
    pub reqs: Arc<Mutex<Vec<Req>>>,
    check: Check,
    task: Option<tokio::task::JoinHandle<()>>,
    pub status: Arc<AtomicU16>,
}

impl Recorder {
    pub async fn start(check: impl Fn(&Req) -> (u16, String) + Send + Sync + 'static) -> Recorder {
        let mut r = Recorder {
            port: free_port(),
            reqs: Arc::default(),
            check: Arc::new(check),
            task: None,
            status: Arc::new(AtomicU16::new(0)),
        };
        r.up().await;
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Stop listening (connections are refused).
    pub fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listen again on the same port.
    pub async fn up(&mut self) {
        let mut tries = 0;
        let l = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebind {}: {e}", self.port),
            }
        };
        let reqs = self.reqs.clone();
        let check = self.check.clone();
        let status = self.status.clone();
        let handler: crate::forward::Handler = Arc::new(move |req: crate::forward::HttpReq| {
            let reqs = reqs.clone();
            let check = check.clone();
            let status = status.clone();
            Box::pin(async move {
                let r = Req {
                    method: req.method,
                    path: req.path,
                    query: req.query,
                    headers: req.headers,
                    body: req.body,
                };
                let (mut code, body) = check(&r);
                let forced = status.load(Ordering::Relaxed);
                if forced != 0 {
                    code = forced;
                } else {
                    reqs.lock().unwrap().push(r);
                }
                (code, "application/json", body.into_bytes())
            })
        });
        self.task = Some(tokio::spawn(crate::forward::serve(l, handler, 1 << 20)));
    }

    pub fn take(&self) -> Vec<Req> {
        std::mem::take(&mut *self.reqs.lock().unwrap())
    }
}

/// A test alert with a given rule and priority.
pub fn alert(rule: &str, p: harrier_rules::Priority) -> harrier_engine::Alert {
    let mut a = crate::alert::test_alert();
    a.rule = rule.into();
    a.priority = p;
    a.output_fields.insert("k8s.ns.name".into(), "prod".into());
    a.output_fields.insert("k8s.pod.name".into(), "web-1".into());
    a
}

/// A throw-away certificate authority (rcgen) for the TLS tests.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, "Harrier test CA");
        p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let cert = p.self_signed(&key).expect("CA");
        TestCa { cert, key }
    }

    /// The CA certificate as a PEM file in `dir`.
    pub fn cert_file(&self, dir: &std::path::Path) -> PathBuf {
        let p = dir.join("ca.crt");
        std::fs::write(&p, self.cert.pem()).expect("write CA");
        p
    }

    fn issue(
        &self,
        dir: &std::path::Path,
        stem: &str,
        names: Vec<String>,
        client: bool,
    ) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::new(names).expect("params");
        p.distinguished_name.push(rcgen::DnType::CommonName, stem);
        p.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = p.signed_by(&key, &self.cert, &self.key).expect("sign");
        let (c, k) = (dir.join(format!("{stem}.crt")), dir.join(format!("{stem}.key")));
        std::fs::write(&c, cert.pem()).expect("write cert");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        (c, k)
    }

    /// A server certificate for `host` and 127.0.0.1: (cert file, key file).
    pub fn server_cert(&self, dir: &std::path::Path, host: &str) -> (PathBuf, PathBuf) {
        self.issue(dir, "server", vec![host.to_string(), "127.0.0.1".to_string()], false)
    }

    /// A client certificate: (cert file, key file).
    pub fn client_cert(&self, dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
        self.issue(dir, name, Vec::new(), true)
    }
}
