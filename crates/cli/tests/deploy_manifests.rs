//! The deployment files, checked offline:
//! * `deploy/kubernetes/harrier.yaml` validates against the Kubernetes OpenAPI schemas
//!   (PyPI `kubernetes-validate`, which ships them; strict: unknown fields are errors) for the
//!   oldest and newest Kubernetes versions we claim, and a broken copy does not;
//! * the Helm chart keeps the Falco chart's value names, and real Helm installs it: PyPI's
//!   `helm-sdkpy` ships Helm itself as a Go shared library (no `helm` binary is packaged for this
//!   machine), and `tests/support/helm_install.py` runs `helm lint` and `helm install` with it
//!   against a small local Kubernetes API server (none can run here) that checks each request
//!   against the documented API and records what Helm created. The rendered objects validate
//!   against the Kubernetes schemas, and the rendered DaemonSet has the same host mounts,
//!   capabilities, seccomp profile and probes as the plain manifest that `deploy_image.rs` runs in
//!   containerd; its configuration is accepted by `harrier --dry-run --strict-config`.
//! * `deploy/systemd/harrier.service` passes `systemd-analyze verify`.

use serde::Deserialize;
use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator() -> PathBuf {
    let venv = std::env::var("HARRIER_VENV").unwrap_or_else(|_| "/opt/harrier-venv".into());
    let p = Path::new(&venv).join("bin/kubernetes-validate");
    assert!(p.is_file(), "{} is missing: run scripts/setup-tests.sh (PyPI kubernetes-validate)", p.display());
    p
}

fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text).map(|d| Value::deserialize(d).unwrap()).collect()
}

#[test]
fn plain_manifest_validates_against_the_kubernetes_schemas() {
    let manifest = repo().join("deploy/kubernetes/harrier.yaml");
    for version in ["1.28", "1.37"] {
        let out = Command::new(validator())
            .args(["--strict", "--kubernetes-version", version])
            .arg(&manifest)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kubernetes {version}:\n{text}");
        for kind in ["namespace", "serviceaccount", "configmap", "daemonset"] {
            assert!(
                text.contains(&format!("passed for resource {kind}/harrier")),
                "{kind} not validated:\n{text}"
            );
        }
    }
    // The validator bites: a wrong type and an unknown field are rejected.
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&bad, text.replace("hostPID: true", "hostPID: \"yes\"\n      hostPIDD: true")).unwrap();
    let out = Command::new(validator()).arg("--strict").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("hostPID"));
}

#[test]
fn plain_manifest_is_least_privilege_with_probes_on_healthz() {
    let objs = docs(&repo().join("deploy/kubernetes/harrier.yaml"));
    let ds = objs.iter().find(|o| o["kind"] == "DaemonSet").unwrap();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    let add: Vec<&str> =
        sc["capabilities"]["add"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(add, ["BPF", "PERFMON", "SYS_PTRACE"]);
    assert!(!add.contains(&"SYS_ADMIN"));
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], 8765, "{probe}");
    }
    let cm = objs.iter().find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "harrier").unwrap();
    let cfg: Value = serde_yaml::from_str(cm["data"]["harrier.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(cfg["webserver"]["listen_port"], 8765);
}

#[test]
fn chart_keeps_falco_value_names() {
    let chart: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("deploy/helm/harrier/Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "harrier");
    let v: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("deploy/helm/harrier/values.yaml")).unwrap(),
    )
    .unwrap();
    for path in [
        "driver.kind",
        "driver.enabled",
        "tty",
        "customRules",
        "metrics.enabled",
        "resources.requests",
        "resources.limits",
        "tolerations",
        "healthChecks.livenessProbe.initialDelaySeconds",
        "healthChecks.readinessProbe.initialDelaySeconds",
        "services",
        "falcosidekick.enabled",
        "falcosidekick.webui.enabled",
        "image.repository",
        "image.tag",
        "nodeSelector",
        "affinity",
        "podAnnotations",
        "extra.env",
        "collectors.containerd.socket",
        "harrier.rules_files",
        "harrier.webserver.listen_port",
        "harrier.priority",
    ] {
        let mut cur = &v;
        for seg in path.split('.') {
            cur = cur.get(seg).unwrap_or_else(|| panic!("values.yaml has no {path}"));
        }
    }
    assert_eq!(v["driver"]["kind"], "modern_ebpf");
    assert_eq!(v["harrier"]["webserver"]["listen_port"], 8765);
}

/// Objects real Helm created when installing the chart with `values` (JSON), or Helm's error.
fn helm_install(values: serde_json::Value) -> Result<Vec<Value>, String> {
    let venv = std::env::var("HARRIER_VENV").unwrap_or_else(|_| "/opt/harrier-venv".into());
    let python = Path::new(&venv).join("bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/helm_install.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(repo().join("deploy/helm/harrier"))
        .args(["harrier", "security"])
        .arg(values.to_string())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup-tests.sh)", python.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("No module named 'helm_sdkpy'"), "run scripts/setup-tests.sh (PyPI helm-sdkpy)");
    let res: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("helm_install.py printed no JSON ({e}):\n{stderr}"));
    // Helm's lint (real Helm) finds no error; severities: 1 info, 2 warning, 3 error.
    for m in res["lint"]["Messages"].as_array().into_iter().flatten() {
        assert!(m["Severity"].as_i64().unwrap_or(3) < 3, "helm lint: {m}");
    }
    if !out.status.success() {
        return Err(format!("{} (server refused: {})", res["error"], res["server_errors"]));
    }
    assert_eq!(res["server_errors"], serde_json::json!([]), "the API server refused a request");
    Ok(res["objects"].as_array().unwrap().iter().map(|o| serde_yaml::to_value(o).unwrap()).collect())
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among {:?}", kinds(objs)))
}

fn kinds(objs: &[Value]) -> Vec<String> {
    objs.iter()
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
        .collect()
}

fn strs(v: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        v.as_sequence().into_iter().flatten().map(|x| x.as_str().unwrap().to_string()).collect();
    out.sort();
    out
}

#[test]
fn chart_installs_with_real_helm_and_matches_the_plain_manifest() {
    let objs = helm_install(serde_json::json!({})).unwrap();
    let mut created = kinds(&objs);
    created.sort();
    assert_eq!(
        created,
        ["ConfigMap/harrier", "ConfigMap/harrier-rules", "DaemonSet/harrier", "ServiceAccount/harrier"],
        "objects created by helm install"
    );
    for o in &objs {
        assert_eq!(o["metadata"]["namespace"], "security", "{o:?}");
        assert_eq!(o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm");
    }

    // Every rendered object validates against the Kubernetes schemas (strict).
    let d = tempfile::tempdir().unwrap();
    let rendered = d.path().join("rendered.yaml");
    let text: Vec<String> = objs.iter().map(|o| serde_yaml::to_string(o).unwrap()).collect();
    std::fs::write(&rendered, text.join("---\n")).unwrap();
    for version in ["1.28", "1.37"] {
        let out = Command::new(validator())
            .args(["--strict", "--kubernetes-version", version])
            .arg(&rendered)
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kubernetes {version}:\n{t}");
        assert!(t.contains("passed for resource daemonset/harrier"), "{t}");
    }

    // The rendered DaemonSet runs the pod the plain manifest runs (which deploy_image.rs runs).
    let plain = docs(&repo().join("deploy/kubernetes/harrier.yaml"));
    let want = &plain.iter().find(|o| o["kind"] == "DaemonSet").unwrap()["spec"]["template"]["spec"];
    let got = &find(&objs, "DaemonSet", "harrier")["spec"]["template"]["spec"];
    assert_eq!(got["hostPID"], true);
    let host_paths = |pod: &Value| {
        let mut v: Vec<String> = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|v| v["hostPath"]["path"].as_str().map(String::from))
            .collect();
        v.sort();
        v
    };
    assert_eq!(host_paths(got), host_paths(want), "host paths");
    let mounts = |pod: &Value| {
        let mut v: Vec<(String, bool)> = pod["containers"][0]["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|m| (m["mountPath"].as_str().unwrap().to_string(), m["readOnly"] == true))
            .collect();
        v.sort();
        v
    };
    let (gm, wm) = (mounts(got), mounts(want));
    for m in &wm {
        assert!(gm.contains(m), "the chart lacks mount {m:?}: {gm:?}");
    }
    let (gc, wc) = (&got["containers"][0], &want["containers"][0]);
    let (gs, ws) = (&gc["securityContext"], &wc["securityContext"]);
    assert_eq!(strs(&gs["capabilities"]["add"]), strs(&ws["capabilities"]["add"]), "capabilities");
    assert_eq!(strs(&gs["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(gs["privileged"], false);
    assert_eq!(gs["allowPrivilegeEscalation"], false);
    assert_eq!(gs["readOnlyRootFilesystem"], true);
    let seccomp = |p: &Value, c: &Value| {
        c["securityContext"]["seccompProfile"]["type"]
            .as_str()
            .or(p["securityContext"]["seccompProfile"]["type"].as_str())
            .map(String::from)
    };
    assert_eq!(seccomp(got, gc).as_deref(), Some("RuntimeDefault"));
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(gc[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(gc[probe]["httpGet"]["port"], wc[probe]["httpGet"]["port"], "{probe}");
    }

    // The configuration Helm rendered carries the plain manifest's keys, and Harrier accepts it.
    let cfg_text = find(&objs, "ConfigMap", "harrier")["data"]["harrier.yaml"].as_str().unwrap().to_string();
    let cfg: Value = serde_yaml::from_str(&cfg_text).unwrap();
    let plain_cm =
        plain.iter().find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "harrier").unwrap();
    let plain_cfg: Value = serde_yaml::from_str(plain_cm["data"]["harrier.yaml"].as_str().unwrap()).unwrap();
    for (k, v) in plain_cfg.as_mapping().unwrap() {
        if k == "metrics" || k == "rules_files" {
            continue; // metrics from metrics.enabled; rules directories are the chart's mounts
        }
        // Blocks: each of the manifest's keys has the same value (the chart may add keys).
        match v.as_mapping() {
            Some(block) => {
                for (sub, sv) in block {
                    assert_eq!(
                        cfg[k].get(sub),
                        Some(sv),
                        "{k:?}.{sub:?} differs between the chart and the manifest"
                    );
                }
            }
            None => assert_eq!(cfg.get(k), Some(v), "{k:?} differs between the chart and the manifest"),
        }
    }
    let cfg_file = d.path().join("harrier.yaml");
    let custom = d.path().join("custom-rules.d");
    std::fs::create_dir(&custom).unwrap();
    let local = cfg_text
        .replace("/etc/harrier/custom-rules.d", &custom.display().to_string())
        .replace("/etc/harrier/rules.d", &repo().join("rules").display().to_string());
    std::fs::write(&cfg_file, local).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .arg("-c")
        .arg(&cfg_file)
        .args(["--strict-config", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "harrier refuses the chart's config:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn chart_values_change_what_helm_installs() {
    // Metrics on: the config enables them and a scrape-annotated Service appears.
    let objs = helm_install(serde_json::json!({"metrics": {"enabled": true}})).unwrap();
    let svc = find(&objs, "Service", "harrier-metrics");
    assert_eq!(svc["metadata"]["annotations"]["prometheus.io/scrape"], "true");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8765);
    let cfg: Value =
        serde_yaml::from_str(find(&objs, "ConfigMap", "harrier")["data"]["harrier.yaml"].as_str().unwrap())
            .unwrap();
    assert_eq!(cfg["metrics"]["enabled"], true);

    // Custom rules land in the rules ConfigMap the pod mounts.
    let rule = "- rule: Site rule\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n";
    let objs = helm_install(serde_json::json!({"customRules": {"site.yaml": rule}})).unwrap();
    let rules = find(&objs, "ConfigMap", "harrier-rules");
    assert_eq!(rules["data"]["site.yaml"].as_str().map(str::trim_end), Some(rule.trim_end()));
    let pod = &find(&objs, "DaemonSet", "harrier")["spec"]["template"]["spec"];
    let mounted =
        pod["volumes"].as_sequence().unwrap().iter().any(|v| v["configMap"]["name"] == "harrier-rules");
    assert!(mounted, "the custom rules ConfigMap is not mounted: {pod:?}");

    // A driver Harrier does not have is refused at install time, with the reason.
    let err = helm_install(serde_json::json!({"driver": {"kind": "kmod"}})).unwrap_err();
    assert!(err.contains("kmod"), "{err}");
}

#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/harrier.service")).unwrap();
    for opt in [
        "CapabilityBoundingSet=CAP_BPF CAP_PERFMON",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ExecReload=/bin/kill -HUP",
    ] {
        assert!(unit.contains(opt), "the unit lacks {opt}");
    }
    let analyze =
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].into_iter().find(|p| Path::new(p).is_file());
    let analyze =
        analyze.expect("systemd-analyze is missing (Debian package systemd; scripts/setup-tests.sh)");
    // verify checks that ExecStart's program exists: point it at the binary under test.
    let d = tempfile::tempdir().unwrap();
    let copy = d.path().join("harrier.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/harrier", env!("CARGO_BIN_EXE_harrier"))).unwrap();
    let out = Command::new(analyze).arg("verify").arg(&copy).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !text.contains("Unknown"), "systemd-analyze verify:\n{text}");
    // And it does reject a unit with a misspelt option.
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/harrier", env!("CARGO_BIN_EXE_harrier"))
            .replace("NoNewPrivileges", "NoNewPrivilege"),
    )
    .unwrap();
    let out = Command::new(analyze).arg("verify").arg(&copy).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("NoNewPrivilege"), "systemd-analyze did not flag a misspelt option:\n{text}");
}
