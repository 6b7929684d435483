//! TLS to PostgreSQL on rustls, with libpq's `sslmode` meanings.
//!
//! tokio-postgres understands `sslmode=disable|prefer|require` only, and brings no TLS of its own;
//! this module takes libpq's TLS parameters out of the store URL before tokio-postgres parses it
//! (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) and plugs a rustls connector in:
//!
//! | `sslmode`     | encrypted             | certificate chain checked | host name checked |
//! |---------------|-----------------------|---------------------------|-------------------|
//! | `disable`     | no                    | —                         | —                 |
//! | `prefer`      | if the server offers  | no                        | no                |
//! | `require`     | yes                   | no (yes with `sslrootcert`, as libpq) | no    |
//! | `verify-ca`   | yes                   | yes, against `sslrootcert`| no                |
//! | `verify-full` | yes                   | yes, against `sslrootcert`| yes               |
//!
//! Without `sslrootcert`, `verify-ca`/`verify-full` refuse to start (libpq would read
//! `~/.postgresql/root.crt`; a daemon's home is not the place for a fleet's trust anchor, so
//! the file is named explicitly). `sslcert` + `sslkey` (PEM) send a client certificate.
//! Channel binding (`SCRAM-SHA-256-PLUS`) is not offered: SCRAM runs without it, as with
//! `channel_binding=prefer` against a client that cannot bind.

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err("sslmode=allow is not supported (use prefer, or require to insist on TLS)".into())
            }
            _ => {
                return Err(format!(
                    "unknown sslmode {s:?} (disable, prefer, require, verify-ca or verify-full)"
                ))
            }
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS parameters of a store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParams {
    pub mode: SslMode,
    pub root_cert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl Default for TlsParams {
    fn default() -> Self {
        // libpq's default.
        TlsParams { mode: SslMode::Prefer, root_cert: None, cert: None, key: None }
    }
}

const KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

impl TlsParams {
    fn set(&mut self, k: &str, v: String) -> Result<(), String> {
        match k {
            "sslmode" => self.mode = SslMode::parse(&v)?,
            "sslrootcert" => self.root_cert = Some(v),
            "sslcert" => self.cert = Some(v),
            "sslkey" => self.key = Some(v),
            _ => unreachable!("only KEYS are set"),
        }
        Ok(())
    }

    /// The mode tokio-postgres is told (it knows only the first three).
    pub fn pg_mode(&self) -> postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        }
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(h.ok_or_else(|| format!("bad percent escape in {s:?}"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// Take the TLS parameters out of a store URL (`postgres://…?sslmode=…` or libpq's
/// `key=value …` form); the rest goes to tokio-postgres.
pub fn split_url(url: &str) -> Result<(String, TlsParams), String> {
    let url = url.trim();
    let mut p = TlsParams::default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else { return Ok((url.to_string(), p)) };
        let mut keep = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if KEYS.contains(&k) {
                p.set(k, percent_decode(v)?)?;
            } else if !pair.is_empty() {
                keep.push(pair);
            }
        }
        let rest = if keep.is_empty() { base.to_string() } else { format!("{base}?{}", keep.join("&")) };
        return Ok((rest.trim().to_string(), p));
    }
    // key=value form: values bare or in single quotes with backslash escapes.
    let b = url.as_bytes();
    let mut rest = String::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &url[start..i];
        // libpq's keywords are letters, digits and underscores (a URL after key=value pairs
        // is not one, and would be split again as a URL).
        if key.is_empty() || !key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
            return Err(format!("store URL: {key:?} is not a connection keyword"));
        }
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() || b[i] != b'=' {
            return Err(format!("store URL: expected '=' after {key:?}"));
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(format!("store URL: unterminated quoted value for {key:?}")),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        value.push(b[i + 1]);
                        i += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                value.push(b[i]);
                i += 1;
            }
        }
        if KEYS.contains(&key) {
            p.set(key, String::from_utf8(value).map_err(|_| "store URL is not UTF-8".to_string())?)?;
        } else {
            if !rest.is_empty() {
                rest.push(' ');
            }
            rest.push_str(&url[start..i]);
        }
    }
    Ok((rest, p))
}

/// A rustls connector for tokio-postgres, built once per store from [`TlsParams`].
#[derive(Clone)]
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    mode: SslMode,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_roots(path: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("sslrootcert {path}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("sslrootcert {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("sslrootcert {path}: no PEM certificate in the file"));
    }
    for c in certs {
        roots.add(c).map_err(|e| format!("sslrootcert {path}: {e}"))?;
    }
    Ok(roots)
}

impl RustlsConnect {
    pub fn new(p: &TlsParams) -> Result<RustlsConnect, String> {
        let provider = provider();
        let verify_chain = match p.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => {
                if p.root_cert.is_none() {
                    return Err(format!(
                        "sslmode={} needs sslrootcert=<PEM file of the CA that signed the server's certificate>",
                        p.mode.as_str()
                    ));
                }
                true
            }
            // libpq: require with a root certificate file behaves as verify-ca.
            SslMode::Require => p.root_cert.is_some(),
            SslMode::Disable | SslMode::Prefer => false,
        };
        let chain = if verify_chain {
            let path = p.root_cert.as_deref().unwrap_or_default();
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(read_roots(path)?), provider.clone())
                    .build()
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            Some((inner, p.mode == SslMode::VerifyFull))
        } else {
            None
        };
        let verifier = Arc::new(Verifier { chain, provider: provider.clone() });
        let b = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&p.cert, &p.key) {
            (Some(c), Some(k)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
                    .map_err(|e| format!("sslcert {c}: {e}"))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("sslcert {c}: {e}"))?;
                if chain.is_empty() {
                    return Err(format!("sslcert {c}: no PEM certificate in the file"));
                }
                let key = PrivateKeyDer::from_pem_file(k).map_err(|e| format!("sslkey {k}: {e}"))?;
                b.with_client_auth_cert(chain, key).map_err(|e| format!("sslcert/sslkey: {e}"))?
            }
            (None, None) => b.with_no_client_auth(),
            _ => return Err("sslcert and sslkey go together: give both or neither".into()),
        };
        Ok(RustlsConnect { config: Arc::new(config), mode: p.mode })
    }
}

/// How the server's certificate is judged. Without `chain` (prefer, require) anything is taken:
/// encryption without authentication, as libpq. The handshake's signatures are always checked
/// against the certificate presented.
#[derive(Debug)]
struct Verifier {
    /// Chain to `sslrootcert`; the host name too when the flag is set.
    chain: Option<(Arc<WebPkiServerVerifier>, bool)>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    fn algs(&self) -> &rustls::crypto::WebPkiSupportedAlgorithms {
        &self.provider.signature_verification_algorithms
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some((inner, check_name)) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            // webpki checks the chain before the name: a name error means the chain is good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !check_name => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algs())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algs())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs().supported_schemes()
    }
}

/// One handshake's connector.
pub struct Connect {
    config: Arc<ClientConfig>,
    mode: SslMode,
    host: String,
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connect> {
        Ok(Connect { config: self.config.clone(), mode: self.mode, host: domain.to_string() })
    }
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = ServerName::try_from(self.host.clone()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{:?} is not a host name for TLS", self.host),
                )
            })?;
            let c = tokio_rustls::TlsConnector::from(self.config);
            c.connect(name, stream).await.map(Stream).map_err(|e| {
                let hint = match self.mode {
                    SslMode::VerifyFull => " (sslmode=verify-full checks the chain against sslrootcert and that the certificate names the host)",
                    SslMode::VerifyCa => " (sslmode=verify-ca checks the chain against sslrootcert)",
                    _ => "",
                };
                io::Error::new(e.kind(), format!("TLS handshake with {}: {e}{hint}", self.host))
            })
        })
    }
}

/// The TLS stream handed to tokio-postgres.
pub struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_form_params_are_taken_out() {
        let (rest, p) = split_url(
            "postgres://u:pw@db.example:5432/alerts?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:pw@db.example:5432/alerts?application_name=x");
        assert_eq!(p.mode, SslMode::VerifyFull);
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, p) = split_url("postgresql://h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(p.mode, SslMode::Require);
        let (rest, p) = split_url("postgres://h/db").unwrap();
        assert_eq!((rest.as_str(), p), ("postgres://h/db", TlsParams::default()));
    }

    #[test]
    fn key_value_form_params_are_taken_out() {
        let (rest, p) = split_url(
            "host=db user=u sslmode = verify-ca sslrootcert='/a b/c\\'a.pem' password='x y' dbname=d",
        )
        .unwrap();
        assert_eq!(rest, "host=db user=u password='x y' dbname=d");
        assert_eq!(p.mode, SslMode::VerifyCa);
        assert_eq!(p.root_cert.as_deref(), Some("/a b/c'a.pem"));
        assert!(split_url("host=db sslrootcert='unterminated").is_err());
        assert!(split_url("host").is_err());
        // A URL after key=value pairs (found by the fuzzer: it was kept, then split as a URL).
        let e = split_url("sslmode=require postgres://u@h/d?sslrootcert=%2Fca.pem").unwrap_err();
        assert!(e.contains("not a connection keyword"), "{e}");
    }

    #[test]
    fn bad_modes_and_missing_files_are_clear() {
        let e = split_url("postgres://h/db?sslmode=verify_full").unwrap_err();
        assert!(e.contains("verify-full"), "{e}");
        assert!(split_url("postgres://h/db?sslmode=allow").unwrap_err().contains("allow"));
        let (_, p) = split_url("postgres://h/db?sslmode=verify-full").unwrap();
        let e = RustlsConnect::new(&p).err().unwrap();
        assert!(e.contains("sslrootcert"), "{e}");
        let (_, p) = split_url("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem").unwrap();
        let e = RustlsConnect::new(&p).err().unwrap();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let (_, p) = split_url("postgres://h/db?sslmode=require&sslcert=/x.pem").unwrap();
        assert!(RustlsConnect::new(&p).err().unwrap().contains("sslkey"));
    }
}
