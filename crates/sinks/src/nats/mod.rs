//! NATS, core or JetStream, over the NATS text protocol (no client library). Core publishing is
//! confirmed with a PING/PONG round trip after each batch (the server has processed every PUB
//! before it answers); JetStream publishing waits for each message's stream acknowledgement
//! (`{"stream":…,"seq":…}`), so a message is only counted delivered once the stream stored it.
//! Subject from `subjecttemplate` (default `falco.<priority>.<rule>`; priority lower-case, rule
//! lower-case with anything but letters, digits, `-` and `_` turned into `_`).

use crate::common::{json_bytes, CommonConfig};
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;

/// falcosidekick's `nats:` keys plus Harrier's `jetstream`, `user`, `password`, `token`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct NatsConfig {
    pub hostport: String,
    pub subjecttemplate: String,
    pub jetstream: bool,
    pub user: String,
    pub password: String,
    pub token: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

pub fn subject(template: &str, a: &Alert) -> String {
    let t = if template.is_empty() { "falco.<priority>.<rule>" } else { template };
    let rule: String = a
        .rule
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    t.replace("<priority>", &a.priority.as_str().to_lowercase()).replace("<rule>", &rule)
}

/// One NATS connection (a TCP connection; in tests and the fuzz target, any reader and writer).
pub struct NatsConn<R = BufReader<OwnedReadHalf>, W = OwnedWriteHalf> {
    r: R,
    w: W,
    inbox: String,
    next: u64,
}

/// The longest protocol line (INFO carries the server's JSON).
const MAX_LINE: u64 = 64 * 1024;
/// The largest message payload.
const MAX_PAYLOAD: u64 = 64 << 20;

fn perr(m: impl std::fmt::Display) -> SinkError {
    SinkError::transient(format!("nats: {m}"))
}

/// The start of a server's text, for error messages.
fn excerpt(s: &str) -> String {
    s.chars().take(200).collect()
}

impl NatsConn {
    pub async fn connect(hostport: &str, user: &str, pass: &str, token: &str) -> Result<NatsConn, SinkError> {
        let addr = hostport.trim_start_matches("nats://").trim_end_matches('/');
        let addr = if addr.contains(':') { addr.to_string() } else { format!("{addr}:4222") };
        let s = tokio::net::TcpStream::connect(&addr).await.map_err(|e| perr(format!("{addr}: {e}")))?;
        s.set_nodelay(true).ok();
        let (r, w) = s.into_split();
        let mut c = NatsConn { r: BufReader::new(r), w, inbox: String::new(), next: 0 };
        let info = c.line().await?;
        if !info.starts_with("INFO ") {
            return Err(perr(format!("expected INFO, got '{info}'")));
        }
        let mut o = serde_json::json!({"verbose": false, "pedantic": false, "name": "harrier", "lang": "rust",
            "version": env!("CARGO_PKG_VERSION"), "protocol": 1});
        if !user.is_empty() {
            o["user"] = user.into();
            o["pass"] = pass.into();
        }
        if !token.is_empty() {
            o["auth_token"] = token.into();
        }
        let nonce: u64 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        c.inbox = format!("_INBOX.harrier{:x}{:x}", nonce, std::process::id());
        let hello = format!("CONNECT {o}\r\nSUB {}.* 1\r\n", c.inbox);
        c.w.write_all(hello.as_bytes()).await.map_err(perr)?;
        c.flush_roundtrip().await?;
        Ok(c)
    }
}

impl<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin> NatsConn<R, W> {
    /// A connection over `r` and `w`, past the handshake, with replies expected on `inbox`.
    pub(crate) fn over(r: R, w: W, inbox: &str) -> Self {
        NatsConn { r, w, inbox: inbox.to_string(), next: 0 }
    }

    async fn line(&mut self) -> Result<String, SinkError> {
        let mut l = String::new();
        let n = (&mut self.r).take(MAX_LINE).read_line(&mut l).await.map_err(perr)?;
        if n == 0 {
            return Err(perr("connection closed"));
        }
        // A line without its end would make the rest of it read as the next message.
        if !l.ends_with('\n') {
            return Err(perr("protocol line cut short or longer than 64 KiB"));
        }
        Ok(l.trim_end().to_string())
    }

    /// Read one protocol message; answers server PINGs. Returns `Some((reply subject, payload))`
    /// for MSG, `None` for PONG.
    async fn read_msg(&mut self) -> Result<Option<(String, Vec<u8>)>, SinkError> {
        loop {
            let l = self.line().await?;
            if l == "PING" {
                self.w.write_all(b"PONG\r\n").await.map_err(perr)?;
            } else if l == "PONG" {
                return Ok(None);
            } else if l == "+OK" || l.starts_with("INFO ") {
            } else if let Some(e) = l.strip_prefix("-ERR") {
                return Err(perr(format!("server error:{}", excerpt(e))));
            } else if let Some(rest) = l.strip_prefix("MSG ") {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let len: u64 = parts
                    .last()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| perr(format!("bad MSG line '{}'", excerpt(&l))))?;
                if len > MAX_PAYLOAD {
                    return Err(perr("message too large"));
                }
                // The buffer grows with the bytes that arrive, not with the length announced.
                let mut buf = Vec::new();
                (&mut self.r).take(len + 2).read_to_end(&mut buf).await.map_err(perr)?;
                if buf.len() as u64 != len + 2 {
                    return Err(perr("connection closed"));
                }
                buf.truncate(len as usize);
                return Ok(Some((parts.first().unwrap_or(&"").to_string(), buf)));
            } else {
                return Err(perr(format!("unexpected '{}'", excerpt(&l))));
            }
        }
    }

    async fn flush_roundtrip(&mut self) -> Result<(), SinkError> {
        self.w.write_all(b"PING\r\n").await.map_err(perr)?;
        while self.read_msg().await?.is_some() {}
        Ok(())
    }

    /// Publish without waiting (core NATS); `reply` optional.
    pub async fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) -> Result<(), SinkError> {
        let head = match reply {
            Some(r) => format!("PUB {subject} {r} {}\r\n", payload.len()),
            None => format!("PUB {subject} {}\r\n", payload.len()),
        };
        let mut b = head.into_bytes();
        b.extend_from_slice(payload);
        b.extend_from_slice(b"\r\n");
        self.w.write_all(&b).await.map_err(perr)
    }

    /// Send requests and wait for one reply each (JetStream publish, JetStream API).
    pub async fn requests(&mut self, msgs: &[(String, Vec<u8>)]) -> Result<Vec<Vec<u8>>, SinkError> {
        let first = self.next;
        for (subj, p) in msgs {
            let reply = format!("{}.{}", self.inbox, self.next);
            self.next += 1;
            self.publish(subj, Some(&reply), p).await?;
        }
        let mut out: Vec<Option<Vec<u8>>> = vec![None; msgs.len()];
        let mut got = 0;
        while got < msgs.len() {
            if let Some((subj, payload)) = self.read_msg().await? {
                let id = subj.rsplit('.').next().and_then(|n| n.parse::<u64>().ok());
                if let Some(i) = id.and_then(|i| i.checked_sub(first)).map(|i| i as usize) {
                    if i < out.len() && out[i].is_none() {
                        out[i] = Some(payload);
                        got += 1;
                    }
                }
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}

pub struct NatsSink {
    cfg: NatsConfig,
    conn: Mutex<Option<NatsConn>>,
}

impl NatsSink {
    pub fn new(c: &NatsConfig) -> Result<Self, String> {
        if c.hostport.is_empty() {
            return Err("nats.hostport is empty".into());
        }
        Ok(NatsSink { cfg: c.clone(), conn: Mutex::new(None) })
    }

    pub(crate) async fn send<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin>(
        &self,
        conn: &mut NatsConn<R, W>,
        alerts: &[Arc<Alert>],
    ) -> Result<(), SinkError> {
        if self.cfg.jetstream {
            let msgs: Vec<_> =
                alerts.iter().map(|a| (subject(&self.cfg.subjecttemplate, a), json_bytes(a))).collect();
            for r in conn.requests(&msgs).await? {
                let v: serde_json::Value = serde_json::from_slice(&r).unwrap_or_default();
                if v.get("seq").is_none() {
                    return Err(SinkError::transient(format!(
                        "jetstream did not store the alert: {}",
                        excerpt(&String::from_utf8_lossy(&r))
                    )));
                }
            }
            Ok(())
        } else {
            for a in alerts {
                conn.publish(&subject(&self.cfg.subjecttemplate, a), None, &json_bytes(a)).await?;
            }
            conn.flush_roundtrip().await
        }
    }
}

impl Sink for NatsSink {
    fn kind(&self) -> &'static str {
        "nats"
    }
    fn max_batch(&self) -> usize {
        256
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut g = self.conn.lock().await;
            if g.is_none() {
                let c = &self.cfg;
                *g = Some(NatsConn::connect(&c.hostport, &c.user, &c.password, &c.token).await?);
            }
            let Some(conn) = g.as_mut() else { return Err(perr("not connected")) };
            let r = self.send(conn, alerts).await;
            if r.is_err() {
                // Timeouts are handled by the queue; a broken or confused connection is redone.
                *g = None;
            }
            r
        })
    }
}

#[cfg(test)]
mod tests;
