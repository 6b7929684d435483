//! E-mail over SMTP (own client, no library): one session per batch — EHLO (HELO as fallback),
//! STARTTLS or implicit TLS, optional AUTH PLAIN/LOGIN, then per alert MAIL FROM, RCPT TO for each
//! recipient, DATA (dot-stuffed, quoted-printable body), and QUIT.
//!
//! The message carries RFC 5322 headers (Date, From, To, Subject `[Priority] rule`, Message-ID,
//! MIME-Version); `outputformat: html` (default) sends multipart/alternative with a plain-text
//! and an HTML part, `text` only the plain-text part.
//!
//! `tls: true` (falcosidekick's default) means implicit TLS on port 465 and STARTTLS (required)
//! on any other port; `tls: false` is plain SMTP. Harrier adds `checkcert` (default true) and
//! `cacert` (a PEM file of extra trusted CAs). SMTP replies 5xx are permanent failures, 4xx and
//! connection problems are retried.

use crate::common::{base64, facts, CommonConfig};
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// falcosidekick's `smtp:` keys plus `checkcert` and `cacert`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub hostport: String,
    pub tls: bool,
    /// `plain` (default), `login` or `none`.
    pub authmechanism: String,
    pub user: String,
    pub password: String,
    pub identity: String,
    pub from: String,
    /// Comma-separated recipients.
    pub to: String,
    /// `html` (default) or `text`.
    pub outputformat: String,
    pub checkcert: bool,
    pub cacert: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostport: String::new(),
            tls: true,
            authmechanism: String::new(),
            user: String::new(),
            password: String::new(),
            identity: String::new(),
            from: String::new(),
            to: String::new(),
            outputformat: String::new(),
            checkcert: true,
            cacert: String::new(),
            common: CommonConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    None,
    Plain,
    Login,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    StartTls,
    Implicit,
}

pub struct SmtpSink {
    addr: String,
    host: String,
    tls: Security,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    auth: Auth,
    user: String,
    password: String,
    identity: String,
    from_header: String,
    from_addr: String,
    to_header: String,
    to_addrs: Vec<String>,
    html: bool,
    hostname: String,
    seq: AtomicU64,
}

/// The address inside `Name <addr>` (or the whole text).
fn bare_address(s: &str) -> String {
    let s = s.trim();
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].trim().to_string(),
        _ => s.to_string(),
    }
}

fn no_crlf(s: &str) -> bool {
    !s.contains('\r') && !s.contains('\n')
}

impl SmtpSink {
    pub fn new(c: &SmtpConfig) -> Result<Self, String> {
        let addr = c.hostport.trim().to_string();
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_string(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("smtp.hostport must be host:port, not '{addr}'"))?;
        let from_addr = bare_address(&c.from);
        if from_addr.is_empty() || !no_crlf(&c.from) {
            return Err("smtp.from is required (one address)".into());
        }
        let to_addrs: Vec<String> = c.to.split(',').map(bare_address).filter(|a| !a.is_empty()).collect();
        if to_addrs.is_empty() || !no_crlf(&c.to) {
            return Err("smtp.to is required (comma-separated addresses)".into());
        }
        let bad_addr = |a: &String| a.contains(['<', '>', ' ']) || !a.contains('@');
        if let Some(a) = std::iter::once(&from_addr).chain(&to_addrs).find(|a| bad_addr(a)) {
            return Err(format!("smtp: '{a}' is not an e-mail address"));
        }
        let auth = match c.authmechanism.to_ascii_lowercase().as_str() {
            "" | "plain" if c.user.is_empty() => Auth::None,
            "" | "plain" => Auth::Plain,
            "login" => Auth::Login,
            "none" => Auth::None,
            o => return Err(format!("smtp.authmechanism '{o}' is not supported (plain, login or none)")),
        };
        let html = match c.outputformat.to_ascii_lowercase().as_str() {
            "" | "html" => true,
            "text" => false,
            o => return Err(format!("smtp.outputformat must be html or text, not '{o}'")),
        };
        let tls = match (c.tls, port) {
            (false, _) => Security::Plain,
            (true, 465) => Security::Implicit,
            (true, _) => Security::StartTls,
        };
        let tls_config = if tls == Security::Plain {
            None
        } else {
            let ca = (!c.cacert.is_empty()).then_some(c.cacert.as_str());
            Some(Arc::new(crate::common::tls_client_config(c.checkcert, ca)?))
        };
        Ok(SmtpSink {
            addr,
            host,
            tls,
            tls_config,
            auth,
            user: c.user.clone(),
            password: c.password.clone(),
            identity: c.identity.clone(),
            from_header: c.from.trim().to_string(),
            from_addr,
            to_header: c
                .to
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            to_addrs,
            html,
            hostname: crate::alert::hostname(),
            seq: AtomicU64::new(0),
        })
    }

    /// The whole message (headers and body, CRLF line ends, not yet dot-stuffed).
    pub fn message(&self, a: &Alert) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let host = if self.hostname.is_empty() { "harrier" } else { &self.hostname };
        let subject = format!("[{}] {}", a.priority.as_str(), a.rule);
        let mut m = String::new();
        m.push_str(&format!("Date: {}\r\n", rfc5322_date(now)));
        m.push_str(&format!("From: {}\r\n", self.from_header));
        m.push_str(&format!("To: {}\r\n", self.to_header));
        m.push_str(&format!("Subject: {}\r\n", encode_header(&subject)));
        m.push_str(&format!("Message-ID: <{now:x}.{}.{n}@{host}>\r\n", std::process::id()));
        m.push_str("MIME-Version: 1.0\r\n");
        m.push_str("X-Mailer: harrier\r\n");
        let text = text_body(a);
        if self.html {
            let boundary = format!("=_harrier_{now:x}_{n}");
            m.push_str(&format!("Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"));
            for (ty, body) in [("text/plain", text), ("text/html", html_body(a))] {
                m.push_str(&format!("--{boundary}\r\n"));
                m.push_str(&format!("Content-Type: {ty}; charset=UTF-8\r\n"));
                m.push_str("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
                m.push_str(&quoted_printable(&body));
                m.push_str("\r\n");
            }
            m.push_str(&format!("--{boundary}--\r\n"));
        } else {
            m.push_str("Content-Type: text/plain; charset=UTF-8\r\n");
            m.push_str("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
            m.push_str(&quoted_printable(&text));
            m.push_str("\r\n");
        }
        m
    }

    async fn session(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&self.addr))
            .await
            .map_err(|_| serr(format!("{}: connect timed out", self.addr)))?
            .map_err(|e| serr(format!("{}: {e}", self.addr)))?;
        tcp.set_nodelay(true).ok();
        let c = if self.tls == Security::Implicit {
            Conn::new(Box::new(self.handshake(tcp).await?))
        } else {
            Conn::new(Box::new(tcp))
        };
        self.dialogue(c, alerts).await
    }

    /// Everything after the connection is open: greeting, EHLO, STARTTLS, AUTH, the messages,
    /// QUIT.
    async fn dialogue(&self, mut c: Conn, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        c.expect(&[220], "greeting").await?;
        let mut ext = self.ehlo(&mut c).await?;
        if self.tls == Security::StartTls {
            if !has_ext(&ext, "STARTTLS") {
                return Err(SinkError::permanent(format!(
                    "smtp: {} does not offer STARTTLS (set smtp.tls: false for plain SMTP)",
                    self.addr
                )));
            }
            c.cmd("STARTTLS", &[220]).await?;
            let tcp = c.into_tcp().ok_or_else(|| serr("STARTTLS on a TLS connection"))?;
            c = Conn::new(Box::new(self.handshake(tcp).await?));
            ext = self.ehlo(&mut c).await?;
        }
        self.authenticate(&mut c, &ext).await?;
        for a in alerts {
            c.cmd(&format!("MAIL FROM:<{}>", self.from_addr), &[250]).await?;
            for to in &self.to_addrs {
                c.cmd(&format!("RCPT TO:<{to}>"), &[250, 251]).await?;
            }
            c.cmd("DATA", &[354]).await?;
            let mut data = dot_stuff(&self.message(a));
            data.push_str(".\r\n");
            c.write(data.as_bytes()).await?;
            c.expect(&[250], "end of data").await?;
        }
        let _ = c.cmd("QUIT", &[221]).await;
        Ok(())
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SinkError> {
        let cfg = self.tls_config.clone().ok_or_else(|| serr("TLS is not configured"))?;
        let name = rustls_pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| SinkError::permanent(format!("smtp: bad server name '{}': {e}", self.host)))?;
        tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(|e| serr(format!("TLS handshake with {}: {e}", self.addr)))
    }

    /// EHLO (HELO if refused); the extension lines (`STARTTLS`, `AUTH PLAIN LOGIN`, …).
    async fn ehlo(&self, c: &mut Conn) -> Result<Vec<String>, SinkError> {
        let me = if self.hostname.is_empty() { "harrier" } else { &self.hostname };
        c.write(format!("EHLO {me}\r\n").as_bytes()).await?;
        let (code, lines) = c.reply().await?;
        if code == 250 {
            return Ok(lines.into_iter().skip(1).collect());
        }
        c.cmd(&format!("HELO {me}"), &[250]).await?;
        Ok(Vec::new())
    }

    async fn authenticate(&self, c: &mut Conn, ext: &[String]) -> Result<(), SinkError> {
        if self.auth != Auth::None && !has_ext(ext, "AUTH") {
            return Err(SinkError::permanent(format!(
                "smtp: {} offers no AUTH (over this connection); smtp.authmechanism: none skips it",
                self.addr
            )));
        }
        match self.auth {
            Auth::None => Ok(()),
            Auth::Plain => {
                let token = format!("{}\0{}\0{}", self.identity, self.user, self.password);
                c.cmd_secret(&format!("AUTH PLAIN {}", base64(token.as_bytes())), &[235]).await
            }
            Auth::Login => {
                c.cmd("AUTH LOGIN", &[334]).await?;
                c.cmd_secret(&base64(self.user.as_bytes()), &[334]).await?;
                c.cmd_secret(&base64(self.password.as_bytes()), &[235]).await
            }
        }
    }
}

fn has_ext(ext: &[String], kw: &str) -> bool {
    ext.iter().any(|e| e.split_whitespace().next().is_some_and(|k| k.eq_ignore_ascii_case(kw)))
}

fn serr(m: impl std::fmt::Display) -> SinkError {
    SinkError::transient(format!("smtp: {m}"))
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    fn into_tcp(self: Box<Self>) -> Option<TcpStream>;
}
impl Stream for TcpStream {
    fn into_tcp(self: Box<Self>) -> Option<TcpStream> {
        Some(*self)
    }
}
impl Stream for tokio_rustls::client::TlsStream<TcpStream> {
    fn into_tcp(self: Box<Self>) -> Option<TcpStream> {
        None
    }
}

/// The most lines one reply may have (an EHLO reply has one per extension).
const MAX_REPLY_LINES: usize = 1000;

/// The code of a reply line: three digits (RFC 5321 §4.2), then the end, a space or `-`.
fn reply_code(l: &str) -> Option<u16> {
    let b = l.as_bytes();
    let digits = b.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !matches!(b.get(3), None | Some(b' ' | b'-')) {
        return None;
    }
    digits.iter().try_fold(0u16, |n, d| Some(n * 10 + u16::from(d - b'0')))
}

/// The start of a server's text, for error messages.
fn excerpt(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// An in-memory connection for tests and the fuzz target: reads return the script, at most
/// `chunk` bytes at a time, then end of file; writes are discarded.
pub(crate) struct Scripted {
    input: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl Scripted {
    pub(crate) fn new(input: &[u8], chunk: usize) -> Scripted {
        Scripted { input: input.to_vec(), pos: 0, chunk: chunk.max(1) }
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = self.chunk.min(buf.remaining()).min(self.input.len() - self.pos);
        buf.put_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        std::task::Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        b: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Stream for Scripted {
    fn into_tcp(self: Box<Self>) -> Option<TcpStream> {
        None
    }
}

impl SmtpSink {
    /// The session after the connection is open, against a scripted server (`replies`, read
    /// `chunk` bytes at a time).
    pub(crate) async fn scripted_session(
        &self,
        replies: &[u8],
        chunk: usize,
        alerts: &[Arc<Alert>],
    ) -> Result<(), SinkError> {
        self.dialogue(Conn::new(Box::new(Scripted::new(replies, chunk))), alerts).await
    }
}

/// One SMTP connection with its own line buffer (so STARTTLS can take the socket back).
struct Conn {
    s: Box<dyn Stream>,
    buf: Vec<u8>,
}

impl Conn {
    fn new(s: Box<dyn Stream>) -> Conn {
        Conn { s, buf: Vec::new() }
    }

    fn into_tcp(self) -> Option<TcpStream> {
        if !self.buf.is_empty() {
            return None; // the server spoke before the handshake: not safe to go on
        }
        self.s.into_tcp()
    }

    async fn write(&mut self, b: &[u8]) -> Result<(), SinkError> {
        self.s.write_all(b).await.map_err(serr)?;
        self.s.flush().await.map_err(serr)
    }

    async fn line(&mut self) -> Result<String, SinkError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let l: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(String::from_utf8_lossy(&l).trim_end().to_string());
            }
            if self.buf.len() > 64 * 1024 {
                return Err(serr("reply line too long"));
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(30), self.s.read(&mut chunk))
                .await
                .map_err(|_| serr("no reply in 30 s"))?
                .map_err(serr)?;
            if n == 0 {
                return Err(serr("connection closed by the server"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A whole (possibly multi-line) reply: its code and the text of each line.
    async fn reply(&mut self) -> Result<(u16, Vec<String>), SinkError> {
        let mut lines = Vec::new();
        loop {
            let l = self.line().await?;
            let code = reply_code(&l).ok_or_else(|| serr(format!("bad reply '{}'", excerpt(&l))))?;
            let more = l.as_bytes().get(3) == Some(&b'-');
            lines.push(l.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok((code, lines));
            }
            // Returning early would leave the rest to be read as the next command's reply.
            if lines.len() >= MAX_REPLY_LINES {
                return Err(serr(format!("reply of more than {MAX_REPLY_LINES} lines")));
            }
        }
    }

    async fn expect(&mut self, ok: &[u16], what: &str) -> Result<(), SinkError> {
        let (code, lines) = self.reply().await?;
        if ok.contains(&code) {
            return Ok(());
        }
        let msg = format!("smtp: {what}: {code} {}", lines.join(" "));
        Err(if (500..600).contains(&code) { SinkError::permanent(msg) } else { SinkError::transient(msg) })
    }

    async fn cmd(&mut self, cmd: &str, ok: &[u16]) -> Result<(), SinkError> {
        self.write(format!("{cmd}\r\n").as_bytes()).await?;
        let what = cmd.split(':').next().unwrap_or(cmd).to_string();
        self.expect(ok, &what).await
    }

    /// A command whose text must not appear in errors (credentials).
    async fn cmd_secret(&mut self, cmd: &str, ok: &[u16]) -> Result<(), SinkError> {
        self.write(format!("{cmd}\r\n").as_bytes()).await?;
        self.expect(ok, "AUTH").await
    }
}

impl Sink for SmtpSink {
    fn kind(&self) -> &'static str {
        "smtp"
    }
    fn max_batch(&self) -> usize {
        32
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(self.session(alerts))
    }
}

/// `Tue, 05 Mar 2024 14:03:09 +0000`.
pub fn rfc5322_date(ns: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, mo, d, h, mi, s, _) = crate::alert::utc_parts(ns);
    let wd = DAYS[((ns / 1_000_000_000 / 86_400) % 7) as usize];
    let mon = MONTHS[(mo.clamp(1, 12) - 1) as usize];
    format!("{wd}, {d:02} {mon} {y} {h:02}:{mi:02}:{s:02} +0000")
}

/// A header value: as is when it is printable ASCII, else an RFC 2047 encoded word (UTF-8,
/// base64), split so each word stays short.
pub fn encode_header(s: &str) -> String {
    let s: String = s.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
    if s.chars().all(|c| (' '..='~').contains(&c)) {
        return s;
    }
    let mut words = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if cur.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words.iter().map(|w| format!("=?UTF-8?B?{}?=", base64(w.as_bytes()))).collect::<Vec<_>>().join("\r\n ")
}

/// Quoted-printable (RFC 2045): lines of at most 76 characters, CRLF line ends.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        let bytes = line.as_bytes();
        let mut col = 0;
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let plain = (b'!'..=b'~').contains(&b) && b != b'=' || (b == b' ' || b == b'\t') && !last;
            let piece = if plain { (b as char).to_string() } else { format!("={b:02X}") };
            if col + piece.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            out.push_str(&piece);
            col += piece.len();
        }
    }
    out
}

/// A line starting with `.` gets another one (RFC 5321 §4.5.2); line ends become CRLF.
pub fn dot_stuff(m: &str) -> String {
    let mut out = String::with_capacity(m.len() + 16);
    for line in m.split("\r\n") {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    // split leaves an empty piece after the final CRLF
    if m.ends_with("\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

fn text_body(a: &Alert) -> String {
    let mut t = format!("{}\n\n", a.output);
    for (k, v) in facts(a) {
        t.push_str(&format!("{k}: {v}\n"));
    }
    t
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html_body(a: &Alert) -> String {
    let color = crate::common::color_hex(a.priority);
    let mut h = String::from("<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n");
    h.push_str(&format!(
        "<p style=\"border-left: 6px solid #{color}; padding-left: 8px\">{}</p>\n<table>\n",
        html_escape(&a.output)
    ));
    for (k, v) in facts(a) {
        h.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            html_escape(&k),
            html_escape(&v)
        ));
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests;
