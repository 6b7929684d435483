//! TLS to a real PostgreSQL server (`ssl=on`, TCP on 127.0.0.1, certificates made here with
//! rcgen): every `sslmode` does what libpq's does.
//!
//! The server's certificate names `localhost` only; tests connect to `localhost` (right name) or
//! to `127.0.0.1` (wrong name) with `hostaddr=127.0.0.1`, so no resolver is involved.

use harrier_engine::Alert;
use harrier_rules::Priority;
use harrier_store::pgserver::PgServer;
use harrier_store::Query;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::sync::OnceLock;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

struct Fixture {
    server: PgServer,
    port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One TLS server for the whole binary; `dir` holds the right CA (`ca.pem`) and a wrong one.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let right = ca("harrier test CA");
        let wrong = ca("some other CA");
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, "localhost");
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &right.cert, &right.key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), right.cert.pem()).unwrap();
        std::fs::write(dir.path().join("wrong-ca.pem"), wrong.cert.pem()).unwrap();
        std::fs::write(dir.path().join("garbage.pem"), "not a certificate\n").unwrap();
        // The port is chosen free just before the server binds it; another process taking it in
        // between makes pg_ctl fail, so try a few.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let port_s = port.to_string();
            let cert_pem = leaf_cert.pem();
            let key_pem = leaf_key.serialize_pem();
            match PgServer::start_with(
                &[
                    ("fsync", "off"),
                    ("listen_addresses", "127.0.0.1"),
                    ("port", &port_s),
                    ("ssl", "on"),
                    ("ssl_cert_file", "$DIR/server.crt"),
                    ("ssl_key_file", "$DIR/server.key"),
                ],
                &[("server.crt", cert_pem.as_bytes()), ("server.key", key_pem.as_bytes())],
            ) {
                Ok(server) => return Fixture { server, port, dir },
                Err(e) => last = e,
            }
        }
        panic!("cannot start the TLS PostgreSQL server: {last}");
    })
}

impl Fixture {
    /// A fresh database reached over TCP as `host` with `params`.
    fn url(&self, host: &str, params: &str) -> String {
        let db = self.server.new_database().unwrap();
        let name = db.split('?').next().unwrap().rsplit('/').next().unwrap().to_string();
        let params = params.replace("$CERTS", &self.dir.path().display().to_string());
        format!(
            "postgres://harrier@{host}:{}/{name}?hostaddr=127.0.0.1&connect_timeout=10&{params}",
            self.port
        )
    }
}

fn alert(i: u64) -> Alert {
    Alert {
        time_ns: 1_700_000_000_000_000_000 + i,
        rule: "Terminal shell in container".into(),
        priority: Priority::Notice,
        source: "syscall".into(),
        tags: vec!["shell".into()],
        output: format!("A shell was spawned over TLS number {i}"),
        output_fields: Default::default(),
        hostname: "node-a".into(),
    }
}

/// Opens, writes two alerts, reads them back, and checks the connection really is encrypted
/// (`pg_stat_ssl` of the server, asked through the same store URL).
fn works(url: &str) {
    let s = harrier_store::open(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    s.insert(&[alert(1), alert(2)]).unwrap();
    let p = s.query(&Query { text: Some("tls".into()), ..Query::new() }).unwrap();
    assert_eq!(p.total, 2);
    assert_eq!(p.events[0].alert["output"], "A shell was spawned over TLS number 2");
    let ssl = harrier_store::postgres::PgStore::open(url).unwrap().connection_uses_tls().unwrap();
    assert!(ssl, "{url}: the connection is not encrypted");
}

fn fails(url: &str) -> String {
    match harrier_store::open(url) {
        Ok(_) => panic!("{url}: opened, expected a TLS failure"),
        Err(e) => e,
    }
}

#[test]
fn verify_full_with_the_right_ca_stores_and_reads() {
    let f = fixture();
    works(&f.url("localhost", "sslmode=verify-full&sslrootcert=$CERTS/ca.pem"));
}

#[test]
fn verify_full_with_a_wrong_ca_fails_clearly() {
    let f = fixture();
    let e = fails(&f.url("localhost", "sslmode=verify-full&sslrootcert=$CERTS/wrong-ca.pem"));
    assert!(e.contains("TLS handshake with localhost"), "{e}");
    assert!(e.contains("UnknownIssuer"), "{e}");
    assert!(e.contains("sslrootcert"), "{e}");
    // Also for verify-ca, and for require with a root certificate (libpq: then it is verify-ca).
    let e = fails(&f.url("localhost", "sslmode=verify-ca&sslrootcert=$CERTS/wrong-ca.pem"));
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = fails(&f.url("localhost", "sslmode=require&sslrootcert=$CERTS/wrong-ca.pem"));
    assert!(e.contains("UnknownIssuer"), "{e}");
}

#[test]
fn wrong_host_name_fails_verify_full_but_passes_verify_ca() {
    let f = fixture();
    let e = fails(&f.url("127.0.0.1", "sslmode=verify-full&sslrootcert=$CERTS/ca.pem"));
    assert!(e.contains("TLS handshake with 127.0.0.1"), "{e}");
    assert!(e.contains("not valid for name"), "{e}");
    works(&f.url("127.0.0.1", "sslmode=verify-ca&sslrootcert=$CERTS/ca.pem"));
}

#[test]
fn require_and_prefer_encrypt_without_a_ca() {
    let f = fixture();
    works(&f.url("127.0.0.1", "sslmode=require"));
    // prefer (also the default) takes TLS when the server offers it.
    works(&f.url("127.0.0.1", "sslmode=prefer"));
    works(&f.url("localhost", ""));
}

#[test]
fn disable_does_not_encrypt() {
    let f = fixture();
    let url = f.url("localhost", "sslmode=disable");
    let s = harrier_store::postgres::PgStore::open(&url).unwrap();
    assert!(!s.connection_uses_tls().unwrap());
}

#[test]
fn server_without_tls_and_require_fails_clearly() {
    // The shared test server has ssl off (and listens on a Unix socket only).
    let url = harrier_store::pgserver::shared().new_database().unwrap();
    let e = fails(&format!("{url}&sslmode=require"));
    assert!(e.contains("server does not support TLS"), "{e}");
    // prefer falls back to plain text there.
    harrier_store::open(&format!("{url}&sslmode=prefer")).unwrap();
}

#[test]
fn bad_tls_settings_are_clear_and_do_not_show_the_password() {
    let f = fixture();
    let e = fails(&f.url("localhost", "sslmode=verify-full"));
    assert!(e.contains("needs sslrootcert"), "{e}");
    let e = fails(&f.url("localhost", "sslmode=verify-full&sslrootcert=$CERTS/garbage.pem"));
    assert!(e.contains("garbage.pem") && e.contains("no PEM certificate"), "{e}");
    let e = fails(&format!("postgres://harrier:s3cret-pw@localhost:{}/x?sslmode=verify_full", f.port));
    assert!(e.contains("unknown sslmode"), "{e}");
    assert!(!e.contains("s3cret-pw"), "{e}");
}
