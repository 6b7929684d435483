//! The `smtp` output's client (the `smtp` cargo feature).

use super::*;
use crate::common::facts;
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Executor, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

pub struct SmtpSink {
    addr: String,
    host: String,
    port: u16,
    tls: Tls,
    auth: Option<(Credentials, Mechanism)>,
    hello: ClientId,
    from: Mailbox,
    to: Vec<Mailbox>,
    html: bool,
}

/// `Name <addr>` or a bare address, as lettre's mailbox (it refuses anything that is not one).
fn mailbox(s: &str) -> Result<Mailbox, String> {
    s.trim().parse::<Mailbox>().map_err(|e| format!("smtp: '{}' is not an e-mail address ({e})", s.trim()))
}

impl SmtpSink {
    pub fn new(c: &SmtpConfig) -> Result<Self, String> {
        let addr = c.hostport.trim().to_string();
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_string(), p.parse::<u16>().ok()?)))
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| format!("smtp.hostport must be host:port, not '{addr}'"))?;
        if c.from.trim().is_empty() || c.from.contains(['\r', '\n']) {
            return Err("smtp.from is required (one address)".into());
        }
        let from = mailbox(&c.from)?;
        let to_text: Vec<&str> = c.to.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
        if to_text.is_empty() || c.to.contains(['\r', '\n']) {
            return Err("smtp.to is required (comma-separated addresses)".into());
        }
        let to = to_text.into_iter().map(mailbox).collect::<Result<Vec<_>, _>>()?;
        let mechanism = match c.authmechanism.to_ascii_lowercase().as_str() {
            "" | "plain" if c.user.is_empty() => None,
            "" | "plain" => Some(Mechanism::Plain),
            "login" => Some(Mechanism::Login),
            "none" => None,
            o => return Err(format!("smtp.authmechanism '{o}' is not supported (plain, login or none)")),
        };
        let html = match c.outputformat.to_ascii_lowercase().as_str() {
            "" | "html" => true,
            "text" => false,
            o => return Err(format!("smtp.outputformat must be html or text, not '{o}'")),
        };
        if mechanism == Some(Mechanism::Plain) && !c.identity.is_empty() && c.identity != c.user {
            // lettre's PLAIN sends an empty authorization identity (the server then uses `user`).
            tracing::warn!(
                identity = %c.identity,
                "smtp.identity differs from smtp.user and is not sent: AUTH PLAIN authorizes as smtp.user"
            );
        }
        let tls = if c.tls {
            let mut p = TlsParameters::builder(host.clone()).dangerous_accept_invalid_certs(!c.checkcert);
            if !c.cacert.is_empty() {
                let pem = std::fs::read(&c.cacert)
                    .map_err(|e| format!("smtp.cacert: cannot read {}: {e}", c.cacert))?;
                let ca = Certificate::from_pem(&pem)
                    .map_err(|e| format!("smtp.cacert: bad PEM in {}: {e}", c.cacert))?;
                p = p.add_root_certificate(ca);
            }
            let p = p.build_rustls().map_err(|e| format!("smtp: TLS settings: {e}"))?;
            if port == 465 {
                Tls::Wrapper(p)
            } else {
                Tls::Required(p)
            }
        } else {
            Tls::None
        };
        let auth = mechanism.map(|m| (Credentials::new(c.user.clone(), c.password.clone()), m));
        let hello = match crate::alert::hostname() {
            h if h.is_empty() => ClientId::Domain("harrier".into()),
            h => ClientId::Domain(h),
        };
        Ok(SmtpSink { addr, host, port, tls, auth, hello, from, to, html })
    }

    /// The message for one alert (control characters in the subject become spaces).
    pub fn message(&self, a: &Alert) -> Result<Message, String> {
        let subject: String = format!("[{}] {}", a.priority.as_str(), a.rule)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut b = Message::builder().from(self.from.clone()).subject(subject).message_id(None);
        for t in &self.to {
            b = b.to(t.clone());
        }
        let text = text_body(a);
        let m = if self.html {
            b.multipart(MultiPart::alternative_plain_html(text, html_body(a)))
        } else {
            b.singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text))
        };
        m.map_err(|e| format!("smtp: cannot build the message: {e}"))
    }

    /// One session per batch: connect (TLS as configured), AUTH, one transaction per alert, QUIT.
    async fn session(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        let timeout = Some(Duration::from_secs(30));
        let conn = match &self.tls {
            Tls::Wrapper(_) => {
                Tokio1Executor::connect(&self.host, self.port, timeout, &self.hello, &self.tls).await
            }
            // Our own socket, with Nagle off: lettre's leaves it on, and every SMTP command then
            // waits for the server's delayed ACK (about 40 ms each, 20 alerts/s).
            tls => self.plain_connect(tls).await,
        };
        let mut conn = conn
            .map_err(|e| match (&self.tls, self.error(e)) {
                // lettre reports a failed handshake (an untrusted certificate) as a connection error
                (Tls::Wrapper(_) | Tls::Required(_), e) if !e.permanent => SinkError::transient(format!(
                    "{} (connection or TLS handshake; smtp.cacert adds a CA, smtp.checkcert: false skips the check)",
                    e.message
                )),
                (_, e) => e,
            })?;
        let r = self.transactions(&mut conn, alerts).await;
        match r {
            Ok(()) => {
                let _ = conn.quit().await;
            }
            Err(_) => conn.abort().await,
        }
        r
    }

    async fn plain_connect(&self, tls: &Tls) -> Result<AsyncSmtpConnection, lettre::transport::smtp::Error> {
        let addr = (self.host.as_str(), self.port);
        let tcp = match tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(addr))
            .await
        {
            Ok(Ok(t)) => t,
            // Through lettre, for its error kinds.
            _ => return Tokio1Executor::connect(&self.host, self.port, None, &self.hello, &Tls::None).await,
        };
        tcp.set_nodelay(true).ok();
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?;
        if let Tls::Required(p) = tls {
            conn.starttls(p.clone(), &self.hello).await?;
        }
        Ok(conn)
    }

    async fn transactions(
        &self,
        conn: &mut AsyncSmtpConnection,
        alerts: &[Arc<Alert>],
    ) -> Result<(), SinkError> {
        if let Some((cred, mech)) = &self.auth {
            conn.auth(std::slice::from_ref(mech), cred).await.map_err(|e| self.error(e))?;
        }
        for a in alerts {
            let m = self.message(a).map_err(SinkError::permanent)?;
            conn.send(m.envelope(), &m.formatted()).await.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// 5xx replies and a server that cannot do what the configuration asks (no STARTTLS, no
    /// matching AUTH mechanism) are permanent; the rest is retried.
    fn error(&self, e: lettre::transport::smtp::Error) -> SinkError {
        let addr = &self.addr;
        let text = e.to_string();
        if e.is_permanent() {
            SinkError::permanent(format!("smtp: {addr}: {text}"))
        } else if e.is_tls() {
            SinkError::transient(format!("smtp: TLS with {addr}: {text}"))
        } else if e.is_client() {
            let hint = if text.contains("STARTTLS") {
                " (smtp.tls: false sends plain SMTP)"
            } else if text.contains("authentication") {
                " (smtp.authmechanism: none skips AUTH)"
            } else {
                ""
            };
            SinkError::permanent(format!("smtp: {addr}: {text}{hint}"))
        } else {
            SinkError::transient(format!("smtp: {addr}: {text}"))
        }
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
#[path = "tests.rs"]
mod tests;
