//! The k8s_audit source through the binary, configured as Falco users do. The headline: the 15
//! recorded audit events (`../shared/reference/k8s_audit`) through the exact falco.yaml shape that
//! falcosecurity/testing's k8saudit suite generates (k8saudit + json plugins, `open_params` = the
//! file, `load_plugins`, `--enable-source k8s_audit`, `-o json_output=true`), with the official
//! `k8s_audit_rules.yaml`: the expected rule fires once per event, with `source` = k8s_audit.

mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

fn rules() -> PathBuf {
    reference().join("falco-rules/plugins/k8saudit/k8s_audit_rules.yaml")
}

/// What falcosecurity/testing's `NewPluginConfig` writes (same template, same blank lines).
fn suite_config(dir: &Path, open_params: &Path) -> PathBuf {
    let text = format!(
        "\nstdout_output:\n  enabled: true\nplugins:\n  - name: k8saudit\n    library_path: libk8saudit.so\n    open_params: {}\n  - name: json\n    library_path: libjson.so\nload_plugins:\n  - k8saudit\n\n  - json\n\n",
        open_params.display()
    );
    let p = dir.join("plugin-config.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn harrier(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harrier")).args(args).env("HARRIER_LOG", "info").output().unwrap()
}

const EXPECTED: &[(&str, Option<&str>)] = &[
    ("anonymous_creates_namespace_foo.json", Some("Anonymous Request Allowed")),
    ("attach_pod.json", Some("Attach/Exec Pod")),
    ("create_cluster_role_wildcard_verbs.json", Some("ClusterRole With Wildcard Created")),
    ("create_clusterrole.json", Some("K8s ClusterRole Created")),
    ("create_configmap_no_sensitive_values.json", Some("K8s ConfigMap Created")),
    ("create_configmap_sensitive_values.json", Some("Create/Modify Configmap With Private Credentials")),
    ("create_kube_system_secret.json", None),
    ("create_nginx_pod_hostnetwork.json", Some("Create HostNetwork Pod")),
    ("create_nginx_pod_privileged.json", Some("Create Privileged Pod")),
    ("create_nginx_pod_unprivileged.json", None),
    ("create_nginx_service_nodeport.json", Some("Create NodePort Service")),
    ("create_serviceaccount_kube_system_namespace.json", Some("Service Account Created in Kube Namespace")),
    ("delete_namespace_foo.json", Some("K8s Namespace Deleted")),
    ("delete_secret.json", Some("K8s Secret Deleted")),
    ("exec_pod.json", Some("Attach/Exec Pod")),
];

#[test]
fn recorded_events_through_the_testing_suite_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = Vec::new();
    for (file, rule) in EXPECTED {
        let input = reference().join("k8s_audit").join(file);
        let events =
            std::fs::read_to_string(&input).unwrap().lines().filter(|l| !l.trim().is_empty()).count();
        let cfg = suite_config(dir.path(), &input);
        let out = harrier(&[
            "-c",
            cfg.to_str().unwrap(),
            "--enable-source",
            "k8s_audit",
            "-o",
            "json_output=true",
            "-r",
            rules().to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{file}: {stderr}");
        let alerts: Vec<serde_json::Value> =
            stdout.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
        for a in &alerts {
            assert_eq!(a["source"], "k8s_audit", "{a}");
            assert!(a["output_fields"].is_object());
        }
        let names: Vec<&str> = alerts.iter().map(|a| a["rule"].as_str().unwrap()).collect();
        let ok = match rule {
            Some(r) => names.len() == events && names.iter().all(|n| n == r),
            None => names.is_empty(),
        };
        if !ok {
            bad.push(format!("{file}: expected {rule:?} × {events}, got {names:?}\n{stderr}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn alert_fields_and_time_come_from_the_audit_event() {
    let dir = tempfile::tempdir().unwrap();
    let input = reference().join("k8s_audit/create_nginx_pod_privileged.json");
    let cfg = suite_config(dir.path(), &input);
    let out = harrier(&[
        "-c",
        cfg.to_str().unwrap(),
        "--enable-source",
        "k8s_audit",
        "-o",
        "json_output=true",
        "-r",
        rules().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let a: serde_json::Value =
        serde_json::from_str(stdout.lines().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert_eq!(a["rule"], "Create Privileged Pod");
    assert_eq!(a["priority"], "Warning");
    // The event time is stageTimestamp.
    let ev: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
    let stage = ev["stageTimestamp"].as_str().unwrap();
    assert_eq!(&a["time"].as_str().unwrap()[..19], &stage[..19], "{a}");
    assert_eq!(a["output_fields"]["ka.user.name"], ev["user"]["username"]);
    assert!(
        a["output"].as_str().unwrap().contains("images=[nginx]")
            || a["output"].as_str().unwrap().contains("nginx"),
        "{a}"
    );
}

#[test]
fn not_audit_data_gives_falcos_message_and_bad_configs_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.json");
    std::fs::write(&input, "{\"kind\": 0}\n").unwrap();
    let cfg = suite_config(dir.path(), &input);
    let out = harrier(&[
        "-c",
        cfg.to_str().unwrap(),
        "--enable-source",
        "k8s_audit",
        "-r",
        rules().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("data not recognized as a k8s audit event"), "{stderr}");

    // Unknown plugin with a missing library: a clear error, exit 1, before anything runs.
    let cfg = dir.path().join("unknown.yaml");
    std::fs::write(&cfg, "plugins:\n  - name: cloudtrail\n    library_path: /nonexistent/libcloudtrail.so\n")
        .unwrap();
    let out = harrier(&[
        "-c",
        cfg.to_str().unwrap(),
        "--enable-source",
        "k8s_audit",
        "-r",
        rules().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cloudtrail") && stderr.contains("not found"), "{stderr}");

    // load_plugins naming a plugin that is not configured.
    let cfg = dir.path().join("load.yaml");
    std::fs::write(&cfg, "plugins: []\nload_plugins: [k8saudit]\n").unwrap();
    let out = harrier(&["-c", cfg.to_str().unwrap(), "-r", rules().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Cannot load plugin 'k8saudit'"));

    // A source that nothing provides.
    let cfg = suite_config(dir.path(), &input);
    let out =
        harrier(&["-c", cfg.to_str().unwrap(), "--enable-source", "okta", "-r", rules().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown event source: okta"));
}

#[test]
fn list_plugins_and_plugin_info() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = suite_config(dir.path(), Path::new("/dev/null"));
    let out = harrier(&["-c", cfg.to_str().unwrap(), "--list-plugins"]);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("2 Plugins:\nName: k8saudit\n"), "{s}");
    assert!(s.contains("Event Sourcing (ID=1, source='k8s_audit')") && s.contains("Name: json"), "{s}");
    let out = harrier(&["-c", cfg.to_str().unwrap(), "--plugin-info", "k8saudit"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("webhookMaxBatchSize") && s.contains("Configured open params: /dev/null"), "{s}");
    let out = harrier(&["--plugin-info", "nope"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn webhook_source_from_falco_yaml_until_stopped() {
    // The default open_params would bind 9765; an ephemeral port keeps parallel tests apart.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("falco.yaml");
    std::fs::write(
        &cfg,
        format!(
            "json_output: true\nplugins:\n  - name: k8saudit\n    library_path: libk8saudit.so\n    init_config:\n      maxEventSize: 262144\n    open_params: http://127.0.0.1:{port}/k8s-audit\n  - name: json\n    library_path: libjson.so\nload_plugins: [k8saudit, json]\n"
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args([
            "-c",
            cfg.to_str().unwrap(),
            "--enable-source",
            "k8s_audit",
            "-M",
            "6",
            "-r",
            rules().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let body =
        std::fs::read_to_string(reference().join("k8s_audit/create_nginx_pod_privileged.json")).unwrap();
    let body = format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#, body.trim());
    let mut sent = false;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let req = format!(
                "POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).unwrap();
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
            sent = true;
            break;
        }
    }
    assert!(sent, "webhook never came up");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout.lines().filter(|l| l.contains("\"rule\":\"Create Privileged Pod\"")).count(),
        1,
        "{stdout}"
    );
}

#[test]
fn audit_events_written_to_and_replayed_from_scap() {
    let dir = tempfile::tempdir().unwrap();
    let input = reference().join("k8s_audit/create_configmap_sensitive_values.json");
    let cfg = suite_config(dir.path(), &input);
    let scap = dir.path().join("audit.scap");
    let out = harrier(&["k8saudit-capture", "-c", cfg.to_str().unwrap(), "-w", scap.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote 6 k8s audit events"));
    let out = harrier(&[
        "-c",
        cfg.to_str().unwrap(),
        "--enable-source",
        "k8s_audit",
        "-o",
        "engine.kind=replay",
        "-o",
        &format!("engine.replay.capture_file={}", scap.display()),
        "-o",
        "json_output=true",
        "-r",
        rules().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let n = stdout
        .lines()
        .filter(|l| l.contains("\"rule\":\"Create/Modify Configmap With Private Credentials\""))
        .count();
    assert_eq!(n, 6, "{stdout}");
    assert!(stdout.lines().filter(|l| l.starts_with('{')).all(|l| l.contains("\"source\":\"k8s_audit\"")));
}

/// The test plugin of crates/plugins (falco_plugin SDK), built as a cdylib.
fn test_plugin_so() -> PathBuf {
    common::build_test_plugin(&[], "test-plugin")
}

#[test]
fn hosted_plugin_sourcing_k8s_audit_runs_through_the_native_fields() {
    let so = test_plugin_so();
    let dir = tempfile::tempdir().unwrap();
    let input = reference().join("k8s_audit/create_nginx_pod_privileged.json");
    let cfg = dir.path().join("falco.yaml");
    std::fs::write(
        &cfg,
        format!(
            "plugins:\n  - name: k8saudit-test\n    library_path: {}\n    init_config: ''\n    open_params: file:{}\nload_plugins: [k8saudit-test]\n",
            so.display(),
            input.display()
        ),
    )
    .unwrap();
    let out = harrier(&[
        "-c",
        cfg.to_str().unwrap(),
        "--enable-source",
        "k8s_audit",
        "-o",
        "json_output=true",
        "-r",
        rules().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.contains("\"rule\":\"Create Privileged Pod\"")).count(),
        1,
        "{stdout}"
    );
    let out = harrier(&["-c", cfg.to_str().unwrap(), "--list-plugins"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("Name: harrier-test") && s.contains("Event Sourcing (ID=999, source='k8s_audit')"),
        "{s}"
    );

    // A plugin whose init fails: a clear error at start, exit 1, no crash.
    std::fs::write(
        &cfg,
        format!(
            "plugins:\n  - name: k8saudit-test\n    library_path: {}\n    init_config: fail\n",
            so.display()
        ),
    )
    .unwrap();
    let out = harrier(&[
        "-c",
        cfg.to_str().unwrap(),
        "--enable-source",
        "k8s_audit",
        "-r",
        rules().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("init refused: fail"), "{e}");
}

#[test]
fn rules_over_a_hosted_plugins_own_source_use_its_fields() {
    let so = common::build_test_plugin(&["own-source"], "test-plugin-own-source");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("falco.yaml");
    std::fs::write(
        &cfg,
        format!(
            "json_output: true\nplugins:\n  - name: harrier-test\n    library_path: {}\n    init_config: ''\n    open_params: '40'\nload_plugins: [harrier-test]\n",
            so.display()
        ),
    )
    .unwrap();
    // Rules on the plugin's source: its string, number and list fields, generic evt.* fields,
    // and the plugin's fields in the output.
    let rules = dir.path().join("rules.yaml");
    let text = [
        "- required_plugin_versions:",
        "    - name: harrier-test",
        "      version: 0.1.0",
        "- rule: Tens",
        "  desc: every tenth event",
        "  condition: test.num in (0, 10, 20, 30) and test.words intersects (event, x)",
        "  output: tenth (data=%test.data num=%test.num source=%evt.source plugin=%evt.pluginname)",
        "  priority: WARNING",
        "  source: harrier_test",
        "- rule: Glob",
        "  desc: by glob",
        "  condition: test.data glob 'event-3?' and not test.num > 35",
        "  output: thirties %test.data",
        "  priority: NOTICE",
        "  source: harrier_test",
        "- rule: Syscall rule",
        "  desc: not for plugin events",
        "  condition: evt.type = open",
        "  output: o",
        "  priority: ERROR",
    ];
    std::fs::write(&rules, text.join("\n") + "\n").unwrap();
    let out =
        harrier(&["-c", cfg.to_str().unwrap(), "--disable-source", "syscall", "-r", rules.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let alerts: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tens: Vec<&serde_json::Value> = alerts.iter().filter(|a| a["rule"] == "Tens").collect();
    assert_eq!(tens.len(), 4, "{alerts:?}\n{err}");
    assert_eq!(tens[1]["output_fields"]["test.num"], 10);
    assert_eq!(tens[1]["output_fields"]["test.data"], "event-10");
    assert_eq!(tens[1]["source"], "harrier_test");
    assert!(
        tens[1]["output"].as_str().unwrap().contains("source=harrier_test plugin=harrier-test"),
        "{}",
        tens[1]
    );
    let glob: Vec<&str> = alerts
        .iter()
        .filter(|a| a["rule"] == "Glob")
        .map(|a| a["output_fields"]["test.data"].as_str().unwrap())
        .collect();
    // event-30 matched "Tens" first (rule_matching: first).
    assert_eq!(glob, ["event-31", "event-32", "event-33", "event-34", "event-35"]);
    assert!(!alerts.iter().any(|a| a["rule"] == "Syscall rule"));

    // -V with the config validates rules on the plugin's source (the plugin is loaded, as in Falco).
    let out = harrier(&["-c", cfg.to_str().unwrap(), "-V", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    // A field the plugin does not declare is a compile error naming it, as in Falco.
    std::fs::write(
        &rules,
        "- rule: Bad\n  desc: d\n  condition: test.nope = 1\n  output: o\n  priority: INFO\n  source: harrier_test\n",
    )
    .unwrap();
    let out =
        harrier(&["-c", cfg.to_str().unwrap(), "--disable-source", "syscall", "-r", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("test.nope"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
