//! SMTP against a real aiosmtpd server (Debian's `python3-aiosmtpd`, run by `/usr/bin/python3`)
//! with a small handler that parses each received message with Python's `email` package and saves
//! what it saw as JSON (envelope, headers, decoded parts, whether AUTH and TLS were used).

use super::*;
use crate::testutil::{alert, free_port};
use harrier_rules::Priority;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const SERVER: &str = r#"
import asyncio, email, email.policy, email.utils, json, os, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, outdir, user, password, cert, key = sys.argv[1:7]

class Saver:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            if not part.is_multipart():
                parts[part.get_content_type()] = part.get_content()
        date = email.utils.parsedate_to_datetime(msg["date"])
        rec = {
            "mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]), "from": str(msg["from"]), "to": str(msg["to"]),
            "message_id": str(msg["message-id"]), "date_age_s": time.time() - date.timestamp(),
            "date_utc": date.utcoffset().total_seconds() == 0,
            "content_type": msg.get_content_type(), "parts": parts,
            "authenticated": bool(session.authenticated), "tls": session.ssl is not None,
        }
        n = time.time_ns()
        tmp = os.path.join(outdir, f".{n}.tmp")
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(outdir, f"{n}.json"))
        return "250 Message accepted"

def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == password.encode()
    return AuthResult(success=ok, handled=False)

kw = {}
if user:
    kw.update(authenticator=auth, auth_require_tls=False)
if cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    kw.update(tls_context=ctx, require_starttls=True)
c = Controller(Saver(), hostname="127.0.0.1", port=int(port), **kw)
c.start()
print("ready", flush=True)
try:
    sys.stdin.read()
finally:
    c.stop()
"#;

/// aiosmtpd on a free port, killed on drop; messages land in `dir/mail`.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(user: &str, password: &str, tls: Option<(&Path, &Path)>) -> Server {
        let py = Path::new("/usr/bin/python3");
        let ok = Command::new(py).args(["-c", "import aiosmtpd"]).status().map(|s| s.success());
        assert!(
            matches!(ok, Ok(true)),
            "Debian's python3-aiosmtpd is not installed: run scripts/setup-tests.sh (it must be /usr/bin/python3's)"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mail")).unwrap();
        let script = dir.path().join("smtpd.py");
        std::fs::write(&script, SERVER).unwrap();
        let port = free_port();
        let (cert, key) =
            tls.map(|(c, k)| (c.display().to_string(), k.display().to_string())).unwrap_or_default();
        let mut child = Command::new(py)
            .arg("-u")
            .arg(&script)
            .args([&port.to_string(), &dir.path().join("mail").display().to_string(), user, password])
            .args([&cert, &key])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut l = String::new();
        std::io::BufRead::read_line(&mut out, &mut l).unwrap();
        assert_eq!(l.trim(), "ready", "aiosmtpd did not start");
        Server { child, port, dir }
    }

    fn mails(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("mail"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    fn wait_mails(&self, n: usize) -> Vec<serde_json::Value> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let m = self.mails();
            if m.len() >= n || Instant::now() > end {
                return m;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cfg(port: u16) -> SmtpConfig {
    SmtpConfig {
        hostport: format!("127.0.0.1:{port}"),
        tls: false,
        from: "Harrier <harrier@example.org>".into(),
        to: "soc@example.org, Oncall <oncall@example.net>".into(),
        ..Default::default()
    }
}

#[test]
fn bad_configs_are_refused_and_messages_are_safe() {
    for (bad, why) in [
        (SmtpConfig { hostport: "nohost".into(), ..cfg(1) }, "hostport"),
        (SmtpConfig { hostport: ":25".into(), ..cfg(1) }, "hostport"),
        (SmtpConfig { from: String::new(), ..cfg(1) }, "smtp.from"),
        (SmtpConfig { to: " , ".into(), ..cfg(1) }, "smtp.to"),
        (SmtpConfig { to: "not-an-address".into(), ..cfg(1) }, "not an e-mail"),
        (SmtpConfig { from: "a@b\r\nBcc: x@y".into(), ..cfg(1) }, "smtp.from"),
        (SmtpConfig { authmechanism: "oauthbearer".into(), ..cfg(1) }, "not supported"),
        (SmtpConfig { outputformat: "pdf".into(), ..cfg(1) }, "outputformat"),
        (SmtpConfig { tls: true, cacert: "/nonexistent/ca.pem".into(), ..cfg(1) }, "smtp.cacert"),
    ] {
        let e = SmtpSink::new(&bad).err().unwrap_or_default();
        assert!(e.contains(why), "{e}");
    }
    // A rule name cannot add headers; non-ASCII text is encoded, so the message is 7-bit.
    let s = SmtpSink::new(&cfg(25)).unwrap();
    let mut a = alert("x\r\nBcc: evil@example.org", Priority::Error);
    a.output = "é\n.dot".into();
    let m = String::from_utf8(s.message(&a).unwrap().formatted()).unwrap();
    let head = m.split("\r\n\r\n").next().unwrap();
    assert!(!head.contains("\r\nBcc:"), "{m}");
    assert!(m.is_ascii(), "{m}");
    assert!(m.contains("Subject: [Error] x  Bcc: evil@example.org\r\n"), "{m}");
}

#[tokio::test]
async fn html_and_text_mail_with_auth_plain_reach_aiosmtpd() {
    let srv = Server::start("alice", "s3cret", None);
    let mut a = alert("Write below etc", Priority::Critical);
    a.output_fields.insert("proc.cmdline".into(), "sh -c 'x\n.hidden'".into());
    let a = Arc::new(a);
    let s = SmtpSink::new(&SmtpConfig { user: "alice".into(), password: "s3cret".into(), ..cfg(srv.port) })
        .unwrap();
    s.deliver(&[a.clone(), Arc::new(alert("Second", Priority::Notice))]).await.unwrap();
    let m = srv.wait_mails(2);
    assert_eq!(m.len(), 2, "{m:?}");
    let m0 = &m[0];
    assert_eq!(m0["mail_from"], "harrier@example.org");
    assert_eq!(m0["rcpt_tos"], serde_json::json!(["soc@example.org", "oncall@example.net"]));
    assert_eq!(m0["subject"], "[Critical] Write below etc");
    assert_eq!(m0["to"], "soc@example.org, Oncall <oncall@example.net>");
    assert_eq!(m0["authenticated"], true);
    assert_eq!(m0["content_type"], "multipart/alternative");
    assert!(m0["date_utc"].as_bool().unwrap() && m0["date_age_s"].as_f64().unwrap().abs() < 600.0, "{m0}");
    let mid = m0["message_id"].as_str().unwrap();
    assert!(mid.starts_with('<') && mid.ends_with('>') && mid.contains('@'), "{mid}");
    assert_ne!(m0["message_id"], m[1]["message_id"]);
    let text = m0["parts"]["text/plain"].as_str().unwrap().replace("\r\n", "\n");
    assert!(text.starts_with(&a.output), "{text}");
    assert!(text.contains("rule: Write below etc") && text.contains("k8s.ns.name: prod"), "{text}");
    assert!(text.contains("x\n.hidden"), "dot-stuffing undone by the server: {text}");
    let html = m0["parts"]["text/html"].as_str().unwrap();
    assert!(html.contains("<th align=\"left\">priority</th><td>Critical</td>"), "{html}");
    assert!(html.contains("sh -c &#x27;x") || html.contains("sh -c 'x"), "{html}");
    assert_eq!(m[1]["subject"], "[Notice] Second");

    // Text only, AUTH LOGIN.
    let s = SmtpSink::new(&SmtpConfig {
        user: "alice".into(),
        password: "s3cret".into(),
        authmechanism: "login".into(),
        outputformat: "text".into(),
        to: "one@example.org".into(),
        ..cfg(srv.port)
    })
    .unwrap();
    s.deliver(std::slice::from_ref(&a)).await.unwrap();
    let m = srv.wait_mails(3);
    assert_eq!(m[2]["content_type"], "text/plain");
    assert_eq!(m[2]["rcpt_tos"], serde_json::json!(["one@example.org"]));
    assert_eq!(m[2]["authenticated"], true);

    // A wrong password is refused (535): permanent, nothing sent.
    let bad = SmtpSink::new(&SmtpConfig { user: "alice".into(), password: "nope".into(), ..cfg(srv.port) })
        .unwrap();
    let e = bad.deliver(std::slice::from_ref(&a)).await.unwrap_err();
    assert!(e.permanent && e.message.contains("535"), "{e:?}");
    // tls: true against a server without STARTTLS: permanent, says why.
    let e = SmtpSink::new(&SmtpConfig { tls: true, ..cfg(srv.port) })
        .unwrap()
        .deliver(std::slice::from_ref(&a))
        .await
        .unwrap_err();
    assert!(e.permanent && e.message.contains("STARTTLS"), "{e:?}");
    assert_eq!(srv.mails().len(), 3);
    // AUTH asked of a server that offers none: permanent, says how to skip it.
    let plain = Server::start("", "", None);
    let e = SmtpSink::new(&SmtpConfig { user: "alice".into(), password: "s3cret".into(), ..cfg(plain.port) })
        .unwrap()
        .deliver(std::slice::from_ref(&a))
        .await
        .unwrap_err();
    assert!(e.permanent && e.message.contains("authmechanism: none"), "{e:?}");
    assert!(plain.mails().is_empty());
    // Nobody listening: transient.
    let e = SmtpSink::new(&cfg(free_port())).unwrap().deliver(std::slice::from_ref(&a)).await.unwrap_err();
    assert!(!e.permanent, "{e:?}");
}

#[tokio::test]
async fn starttls_with_a_custom_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::testutil::TestCa::new();
    let (cert, key) = ca.server_cert(dir.path(), "localhost");
    let srv = Server::start("bob", "pw", Some((&cert, &key)));
    let base = SmtpConfig {
        hostport: format!("localhost:{}", srv.port),
        tls: true,
        user: "bob".into(),
        password: "pw".into(),
        ..cfg(srv.port)
    };
    let a = Arc::new(alert("Over TLS", Priority::Error));
    // The server's CA is not trusted: the handshake fails (retried later), nothing sent.
    let e = SmtpSink::new(&base).unwrap().deliver(std::slice::from_ref(&a)).await.unwrap_err();
    assert!(e.message.contains("TLS") && !e.permanent, "{e:?}");
    let s =
        SmtpSink::new(&SmtpConfig { cacert: ca.cert_file(dir.path()).display().to_string(), ..base.clone() })
            .unwrap();
    s.deliver(std::slice::from_ref(&a)).await.unwrap();
    let m = srv.wait_mails(1);
    assert_eq!(m.len(), 1);
    assert_eq!((m[0]["tls"].as_bool(), m[0]["authenticated"].as_bool()), (Some(true), Some(true)));
    assert_eq!(m[0]["subject"], "[Error] Over TLS");
    // checkcert: false accepts the unknown CA.
    SmtpSink::new(&SmtpConfig { checkcert: false, ..base }).unwrap().deliver(&[a]).await.unwrap();
    assert_eq!(srv.wait_mails(2).len(), 2);
}
