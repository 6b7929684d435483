//! Syslog: RFC 5424 or RFC 3164 messages to the local socket (`/dev/log`, datagram, or a path
//! given as `host: unix:///path`) or to a remote server over UDP or TCP (TCP frames are
//! newline-terminated, which rsyslog and syslog-ng accept). Severity is the alert's priority
//! (Falco's priorities are syslog's severities); facility from `facility` (default `local0`).
//! The message is Falco's JSON (`format: json`, default) or the output text (`format: text`). `rfc` defaults to 3164 on the local socket (what syslog(3) writes and
//! what the local daemon parses) and 5424 over the network.

use crate::common::{json_bytes, CommonConfig};
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// falcosidekick's `syslog:` keys (`host`, `port`, `protocol`, `format`) plus `rfc` (5424,
/// default, or 3164), `facility`, `tag`. An empty host means the local socket.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SyslogConfig {
    pub host: String,
    pub port: Option<u16>,
    pub protocol: String,
    pub format: String,
    pub rfc: Option<u32>,
    pub facility: String,
    pub tag: String,
    /// Set by the config loader for Falco's `syslog_output.enabled` / this sink in `sinks:`.
    #[serde(skip)]
    pub local: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl SyslogConfig {
    pub fn enabled(&self) -> bool {
        !self.host.is_empty() || self.local
    }
}

fn facility_code(s: &str) -> Option<u8> {
    Some(match s {
        "" | "local0" => 16,
        "kern" => 0,
        "user" => 1,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "authpriv" => 10,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// One syslog message (no trailing newline).
/// An empty `host` in RFC 3164 leaves the host name out (what syslog(3) sends to the local socket).
pub fn message(a: &Alert, rfc: u32, facility: u8, tag: &str, json: bool, host: &str) -> String {
    let pri = facility as u32 * 8 + a.priority as u32;
    let body = if json {
        String::from_utf8_lossy(&json_bytes(a)).into_owned()
    } else {
        a.output.replace(['\n', '\r'], " ")
    };
    let pid = std::process::id();
    if rfc == 3164 {
        let (_, mo, d, h, mi, s, _) = crate::alert::utc_parts(a.time_ns);
        let host = if host.is_empty() { String::new() } else { format!("{host} ") };
        format!(
            "<{pri}>{} {d:>2} {h:02}:{mi:02}:{s:02} {host}{tag}[{pid}]: {body}",
            MONTHS[(mo - 1) as usize]
        )
    } else {
        let host = if host.is_empty() { "-" } else { host };
        format!("<{pri}>1 {} {host} {tag} {pid} - - {body}", crate::alert::rfc3339_micros(a.time_ns))
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    Udp(tokio::net::UdpSocket),
    Unix(tokio::net::UnixDatagram),
}

pub struct SyslogSink {
    target: Target,
    rfc: u32,
    facility: u8,
    tag: String,
    json: bool,
    hostname: String,
    conn: Mutex<Option<Conn>>,
}

#[derive(Clone)]
enum Target {
    Tcp(String),
    Udp(String),
    Unix(String),
}

impl SyslogSink {
    pub fn new(c: &SyslogConfig) -> Result<Self, String> {
        let target = if let Some(p) = c.host.strip_prefix("unix://") {
            Target::Unix(p.to_string())
        } else if c.host.is_empty() {
            Target::Unix("/dev/log".into())
        } else {
            let addr = format!("{}:{}", c.host, c.port.unwrap_or(514));
            match c.protocol.as_str() {
                "" | "udp" => Target::Udp(addr),
                "tcp" => Target::Tcp(addr),
                p => return Err(format!("syslog.protocol must be udp or tcp, not '{p}'")),
            }
        };
        // The local socket speaks what syslog(3) sends (RFC 3164); the network defaults to 5424.
        let rfc = c.rfc.unwrap_or(if matches!(target, Target::Unix(_)) { 3164 } else { 5424 });
        if rfc != 5424 && rfc != 3164 {
            return Err(format!("syslog.rfc must be 5424 or 3164, not {rfc}"));
        }
        let facility =
            facility_code(&c.facility).ok_or_else(|| format!("unknown syslog.facility '{}'", c.facility))?;
        let json = match c.format.as_str() {
            "" | "json" => true,
            "text" => false,
            f => return Err(format!("syslog.format must be json or text, not '{f}'")),
        };
        Ok(SyslogSink {
            target,
            rfc,
            facility,
            tag: if c.tag.is_empty() { "harrier".into() } else { c.tag.clone() },
            json,
            hostname: crate::alert::hostname(),
            conn: Mutex::new(None),
        })
    }

    async fn connect(&self) -> std::io::Result<Conn> {
        Ok(match &self.target {
            Target::Tcp(a) => Conn::Tcp(tokio::net::TcpStream::connect(a).await?),
            Target::Udp(a) => {
                let s = tokio::net::UdpSocket::bind("0.0.0.0:0").await?;
                s.connect(a).await?;
                Conn::Udp(s)
            }
            Target::Unix(p) => {
                let s = tokio::net::UnixDatagram::unbound()?;
                s.connect(p)?;
                Conn::Unix(s)
            }
        })
    }
}

impl Sink for SyslogSink {
    fn kind(&self) -> &'static str {
        "syslog"
    }
    fn max_batch(&self) -> usize {
        100
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut g = self.conn.lock().await;
            if g.is_none() {
                *g = Some(self.connect().await?);
            }
            let res: std::io::Result<()> = async {
                let Some(conn) = g.as_mut() else { return Ok(()) };
                for a in alerts {
                    let host =
                        if matches!(self.target, Target::Unix(_)) { "" } else { self.hostname.as_str() };
                    let m = message(a, self.rfc, self.facility, &self.tag, self.json, host);
                    match conn {
                        Conn::Tcp(s) => {
                            let mut b = m.into_bytes();
                            b.push(b'\n');
                            s.write_all(&b).await?;
                        }
                        Conn::Udp(s) => {
                            s.send(m.as_bytes()).await?;
                        }
                        Conn::Unix(s) => {
                            s.send(m.as_bytes()).await?;
                        }
                    }
                }
                if let Conn::Tcp(s) = conn {
                    s.flush().await?;
                }
                Ok(())
            }
            .await;
            if res.is_err() {
                *g = None;
            }
            res.map_err(|e| SinkError::transient(format!("syslog: {e}")))
        })
    }
}

#[cfg(test)]
mod tests;
