use super::*;
use crate::testutil::{alert, free_port, need, Proc};
use harrier_rules::Priority;
use std::process::Command;
use std::time::{Duration, Instant};

/// rsyslogd on free UDP and TCP ports and a unix socket, writing what it receives to a file.
fn rsyslog() -> (Proc, u16, String) {
    let bin = need("rsyslogd");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let port = free_port();
    let conf = format!(
        r#"global(workDirectory="{d}")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
input(type="imudp" address="127.0.0.1" port="{port}")
input(type="imtcp" address="127.0.0.1" port="{port}")
input(type="imuxsock" Socket="{d}/log.sock" CreatePath="on")
template(name="raw" type="string" string="%syslogfacility-text% %syslogseverity-text% %programname% %msg%\n")
*.* action(type="omfile" file="{d}/received.log" template="raw")
"#
    );
    std::fs::write(dir.path().join("rsyslog.conf"), conf).unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["-n", "-f", &format!("{d}/rsyslog.conf"), "-i", &format!("{d}/rsyslogd.pid")]);
    let mut p = Proc::start("rsyslogd", dir, port, &mut cmd);
    p.wait_port();
    let sock = format!("{d}/log.sock");
    let end = Instant::now() + Duration::from_secs(10);
    while !std::path::Path::new(&sock).exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    (p, port, sock)
}

fn wait_lines(p: &Proc, n: usize) -> Vec<String> {
    let path = p.dir.path().join("received.log");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let s = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<String> = s.lines().map(str::to_string).collect();
        if lines.len() >= n || Instant::now() > end {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn rsyslog_receives_udp_tcp_and_local_5424_and_3164() {
    let (p, port, sock) = rsyslog();
    let cases = [
        SyslogConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            protocol: "udp".into(),
            ..Default::default()
        },
        SyslogConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            protocol: "tcp".into(),
            rfc: Some(3164),
            format: "text".into(),
            ..Default::default()
        },
        SyslogConfig {
            host: format!("unix://{sock}"),
            facility: "user".into(),
            tag: "falco".into(),
            ..Default::default()
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let s = SyslogSink::new(c).unwrap();
        s.deliver(&[Arc::new(alert(&format!("rule-{i}"), Priority::Error))]).await.unwrap();
    }
    let lines = wait_lines(&p, 3);
    assert_eq!(lines.len(), 3, "{lines:?}\n{}", p.log());
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("{needle} not in {lines:?}"))
    };
    let udp = find("rule-0");
    assert!(udp.starts_with("local0 err harrier "), "{udp}");
    let j: serde_json::Value = serde_json::from_str(udp.splitn(4, ' ').nth(3).unwrap().trim()).unwrap();
    assert_eq!(j["rule"], "rule-0");
    let tcp = lines
        .iter()
        .find(|l| l.contains("This is a test") && !l.contains('{'))
        .cloned()
        .expect("tcp text line");
    assert!(tcp.starts_with("local0 err harrier "), "{tcp}");
    let local = find("rule-2");
    assert!(local.starts_with("user err falco "), "{local}");
}

#[test]
fn formats() {
    let mut a = alert("r", Priority::Warning);
    a.time_ns = 1_470_327_477_881_781_397;
    assert!(message(&a, 5424, 16, "harrier", false, "h")
        .starts_with("<132>1 2016-08-04T16:17:57.881781Z h harrier "));
    assert!(message(&a, 3164, 1, "t", false, "h").starts_with("<12>Aug  4 16:17:57 h t["));
    assert!(SyslogSink::new(&SyslogConfig {
        host: "x".into(),
        protocol: "sctp".into(),
        ..Default::default()
    })
    .is_err());
    assert!(SyslogSink::new(&SyslogConfig { facility: "nope".into(), ..Default::default() }).is_err());
}
