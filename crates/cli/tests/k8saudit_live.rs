//! Both sources in one process (root, real kernel): `harrier run` with a falco.yaml loading the
//! k8saudit plugin watches syscalls and takes audit events on its webhook; alerts of both go
//! through the same outputs, each with its `source`. Fails (not skips) without eBPF.

mod common;
use common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

fn post(port: u16, body: &str) -> String {
    // The webhook comes up beside the probe: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("webhook not listening: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let req = format!(
        "POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp
}

#[test]
fn syscalls_and_k8s_audit_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("hk8s{}", std::process::id() % 100_000);
    let bin = dir.path().join(&name);
    std::fs::copy("/bin/true", &bin).unwrap();
    let sys_rules = write_rules(
        dir.path(),
        "sys.yaml",
        &format!(
            "- rule: Test binary ran\n  desc: t\n  condition: evt.type = execve and evt.dir = < and proc.name = {name}\n  output: ran %proc.name\n  priority: WARNING\n"
        ),
    );
    let k8s_rules = official("plugins/k8saudit/k8s_audit_rules.yaml");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = dir.path().join("falco.yaml");
    std::fs::write(
        &cfg,
        format!(
            "plugins:\n  - name: k8saudit\n    library_path: libk8saudit.so\n    open_params: http://127.0.0.1:{port}/k8s-audit\n  - name: json\n    library_path: libjson.so\nload_plugins: [k8saudit, json]\n"
        ),
    )
    .unwrap();
    let run = spawn_ready(
        &[
            "run",
            "-c",
            cfg.to_str().unwrap(),
            "-r",
            sys_rules.to_str().unwrap(),
            "-r",
            k8s_rules.to_str().unwrap(),
            "-o",
            "json_output=true",
        ],
        "live detection started",
    );
    let ev = std::fs::read_to_string(reference().join("k8s_audit/create_nginx_pod_privileged.json")).unwrap();
    let resp = post(port, &format!(r#"{{"kind":"EventList","items":[{}]}}"#, ev.trim()));
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    std::process::Command::new(&bin).status().unwrap();

    let (mut k8s, mut sys) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while (k8s.is_none() || sys.is_none()) && Instant::now() < deadline {
        let Ok((_, line)) = run.stdout.recv_timeout(Duration::from_millis(500)) else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        match v["rule"].as_str() {
            Some("Create Privileged Pod") => k8s = Some(v),
            Some("Test binary ran") => sys = Some(v),
            _ => {}
        }
    }
    assert!(run.stop(), "clean exit");
    let k8s = k8s.expect("audit alert");
    let sys = sys.expect("syscall alert");
    assert_eq!(k8s["source"], "k8s_audit");
    assert_eq!(sys["source"], "syscall");
    assert!(Path::new(&bin).exists());
}

#[test]
fn a_hosted_plugins_own_source_beside_syscalls_with_its_metrics() {
    let so = build_test_plugin(&["own-source"], "test-plugin-own-source");
    let dir = tempfile::tempdir().unwrap();
    let name = format!("hplg{}", std::process::id() % 100_000);
    let bin = dir.path().join(&name);
    std::fs::copy("/bin/true", &bin).unwrap();
    let rules = write_rules(
        dir.path(),
        "r.yaml",
        &format!(
            "- rule: Test binary ran\n  desc: t\n  condition: evt.type = execve and proc.name = {name}\n  output: ran %proc.name\n  priority: WARNING\n\n\
             - rule: Plugin event 7\n  desc: t\n  condition: test.num = 7\n  output: seven %test.data\n  priority: WARNING\n  source: harrier_test\n"
        ),
    );
    let port = free_port();
    let cfg = dir.path().join("falco.yaml");
    std::fs::write(
        &cfg,
        format!(
            "plugins:\n  - name: harrier-test\n    library_path: {}\n    init_config: ''\n    open_params: '40'\nload_plugins: [harrier-test]\n\
             webserver:\n  enabled: true\n  listen_address: 127.0.0.1\n  listen_port: {port}\n  prometheus_metrics_enabled: true\n\
             metrics:\n  enabled: true\n  interval: 1s\n",
            so.display()
        ),
    )
    .unwrap();
    let run = spawn_ready(
        &["run", "-c", cfg.to_str().unwrap(), "-r", rules.to_str().unwrap(), "-o", "json_output=true"],
        "live detection started",
    );
    std::process::Command::new(&bin).status().unwrap();
    let (mut plugin, mut sys) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while (plugin.is_none() || sys.is_none()) && Instant::now() < deadline {
        let Ok((_, line)) = run.stdout.recv_timeout(Duration::from_millis(500)) else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        match v["rule"].as_str() {
            Some("Plugin event 7") => plugin = Some(v),
            Some("Test binary ran") => sys = Some(v),
            _ => {}
        }
    }
    let metrics = poll(10, || {
        get(port, "/metrics")
            .map(|(_, b)| b)
            .filter(|b| b.contains("falcosecurity_plugins_harrier_test_events_emitted_total 40"))
    });
    assert!(run.stop(), "clean exit");
    let plugin = plugin.expect("the plugin source's alert");
    assert_eq!(plugin["source"], "harrier_test");
    assert_eq!(plugin["output_fields"]["test.data"], "event-7");
    assert_eq!(sys.expect("the syscall alert")["source"], "syscall");
    assert!(metrics.is_some(), "the plugin's metric on /metrics");
}
