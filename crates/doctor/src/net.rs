//! Reaching an endpoint step by step: DNS resolution, TCP connect, TLS handshake, each bounded by
//! a timeout and each reported with what to do when it fails.

use crate::{Finding, Status};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Where a sink or service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// The URL as configured, for HTTP sinks.
    pub url: Option<String>,
    /// TCP is not used (a UDP syslog): only resolution is checked.
    pub udp: bool,
}

impl Endpoint {
    /// Parse `scheme://host[:port][/path]`; without a scheme, `default_scheme` applies.
    pub fn from_url(s: &str, default_scheme: &str) -> Result<Endpoint, String> {
        let s = s.trim();
        let with = if s.contains("://") { s.to_string() } else { format!("{default_scheme}://{s}") };
        let u = url::Url::parse(&with).map_err(|e| format!("'{s}' is not a URL: {e}"))?;
        let host =
            u.host_str().ok_or_else(|| format!("'{s}' has no host"))?.trim_matches(['[', ']']).to_string();
        let port = u
            .port_or_known_default()
            .or_else(|| default_port(u.scheme()))
            .ok_or_else(|| format!("'{s}': no port and no default port for scheme {}", u.scheme()))?;
        let tls = matches!(u.scheme(), "https" | "tls" | "rediss" | "wss");
        Ok(Endpoint { host, port, tls, url: Some(with), udp: false })
    }

    /// Parse `host:port` (or `host` with `default_port`).
    pub fn from_hostport(s: &str, default_port: u16) -> Result<Endpoint, String> {
        let s = s.trim();
        if s.contains("://") {
            let mut e = Endpoint::from_url(s, "tcp")?;
            e.url = None;
            return Ok(e);
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
                (h.trim_matches(['[', ']']).to_string(), p.parse().map_err(|_| format!("'{s}': bad port"))?)
            }
            _ => (s.trim_matches(['[', ']']).to_string(), default_port),
        };
        if host.is_empty() {
            return Err(format!("'{s}' has no host"));
        }
        Ok(Endpoint { host, port, tls: false, url: None, udp: false })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "nats" => 4222,
        "redis" => 6379,
        "rediss" => 6379,
        "tls" => 443,
        _ => return None,
    })
}

/// Resolve with a bound (getaddrinfo has none of its own).
pub fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = host.to_string();
    std::thread::spawn(move || {
        let _ = tx.send((h.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(v)) if !v.is_empty() => Ok(v),
        Ok(Ok(_)) => Err("no addresses".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Check one endpoint; `subject` names it (`loki`, `webhook (sinks[2])`…).
pub fn check_endpoint(check: &'static str, subject: &str, ep: &Endpoint, timeout: Duration) -> Vec<Finding> {
    let mut out = Vec::new();
    let addrs = match resolve(&ep.host, ep.port, timeout) {
        Ok(a) => {
            out.push(Finding::new(
                check,
                subject,
                Status::Ok,
                format!(
                    "{} resolves to {}",
                    ep.host,
                    a.iter().map(|x| x.ip().to_string()).collect::<Vec<_>>().join(", ")
                ),
            ));
            a
        }
        Err(e) => {
            out.push(
                Finding::new(check, subject, Status::Fail, format!("{} does not resolve: {e}", ep.host)).fix(
                    "check the name: in Kubernetes a service in another namespace is \
                     <service>.<namespace>.svc.cluster.local; `getent hosts NAME` on the node, or from the pod \
                     (the pod's resolv.conf is what Harrier uses)",
                ),
            );
            return out;
        }
    };
    if ep.udp {
        return out;
    }
    let mut last = String::new();
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                stream = Some((s, *a));
                break;
            }
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    let Some((stream, addr)) = stream else {
        out.push(
            Finding::new(check, subject, Status::Fail, format!("cannot connect to port {}: {last}", ep.port))
                .fix("is the service running and listening on that port? check NetworkPolicies and firewalls between the node and it"),
        );
        return out;
    };
    out.push(Finding::new(check, subject, Status::Ok, format!("TCP connect to {addr}")));
    if ep.tls {
        match tls_handshake(stream, &ep.host, timeout) {
            Ok(v) => out.push(Finding::new(check, subject, Status::Ok, format!("TLS handshake ({v})"))),
            Err(e) => out.push(
                Finding::new(check, subject, Status::Fail, format!("TLS handshake with {} failed: {e}", ep.host))
                    .fix("check the certificate (name, expiry, CA): give the sink's cacert, or fix the server's chain"),
            ),
        }
    }
    out
}

/// A TLS client handshake verified against the system's web PKI roots.
pub fn tls_handshake(mut sock: TcpStream, host: &str, timeout: Duration) -> Result<String, String> {
    let _ = sock.set_read_timeout(Some(timeout));
    let _ = sock.set_write_timeout(Some(timeout));
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    Ok(format!("{:?}", conn.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::from_url("http://loki.monitoring:3100", "http").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls), ("loki.monitoring", 3100, false));
        let e = Endpoint::from_url("https://hooks.example.com/x/y", "http").unwrap();
        assert_eq!((e.port, e.tls), (443, true));
        let e = Endpoint::from_url("nats://nats:4222", "nats").unwrap();
        assert_eq!(e.port, 4222);
        let e = Endpoint::from_hostport("redis:6380", 6379).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("redis", 6380));
        let e = Endpoint::from_hostport("kafka", 9092).unwrap();
        assert_eq!(e.port, 9092);
        let e = Endpoint::from_hostport("[::1]:25", 25).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 25));
        assert!(Endpoint::from_hostport(":25", 25).is_err());
        assert!(Endpoint::from_url("http://", "http").is_err());
    }

    #[test]
    fn closed_port_fails_to_connect() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let ep = Endpoint::from_hostport(&format!("127.0.0.1:{port}"), 1).unwrap();
        let f = check_endpoint("sinks", "x", &ep, Duration::from_secs(2));
        assert_eq!(f.last().unwrap().status, Status::Fail, "{f:?}");
        assert!(f.last().unwrap().detail.contains("cannot connect"), "{f:?}");
    }
}
