//! The deployment files, checked offline:
//! * `deploy/kubernetes/harrier.yaml` validates against the Kubernetes OpenAPI schemas
//!   (PyPI `kubernetes-validate`, which ships them; strict: unknown fields are errors) for the
//!   oldest and newest Kubernetes versions we claim, and a broken copy does not;
//! * the Helm chart keeps the Falco chart's value names, and its DaemonSet template declares the
//!   same host mounts, capabilities, seccomp profile and probes as the plain manifest that
//!   `deploy_image.rs` runs in containerd. (`helm` itself cannot be installed here: it is in no
//!   Debian, PyPI or npm package for Linux, and building it needs the Go module proxy, which this
//!   machine cannot reach; so the chart is not rendered by these tests.)
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

#[test]
fn chart_daemonset_declares_what_the_plain_manifest_does() {
    let tpl = std::fs::read_to_string(repo().join("deploy/helm/harrier/templates/daemonset.yaml")).unwrap();
    let values: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("deploy/helm/harrier/values.yaml")).unwrap(),
    )
    .unwrap();
    let objs = docs(&repo().join("deploy/kubernetes/harrier.yaml"));
    let pod = &objs.iter().find(|o| o["kind"] == "DaemonSet").unwrap()["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert!(tpl.contains("hostPID: true"));
    // Host paths: literal in the template, or the directory of a default socket value.
    let sockets: Vec<String> = ["containerd", "crio"]
        .iter()
        .map(|r| {
            let s = values["collectors"][r]["socket"].as_str().unwrap();
            Path::new(s).parent().unwrap().display().to_string()
        })
        .collect();
    for v in pod["volumes"].as_sequence().unwrap() {
        if let Some(p) = v["hostPath"]["path"].as_str() {
            assert!(
                tpl.contains(&format!("path: {p}\n")) || sockets.iter().any(|s| s == p),
                "chart lacks hostPath {p}"
            );
        }
    }
    for m in c["volumeMounts"].as_sequence().unwrap() {
        let p = m["mountPath"].as_str().unwrap();
        let socket_dir = sockets.iter().any(|s| format!("/host{s}") == p);
        assert!(tpl.contains(&format!("mountPath: {p}\n")) || socket_dir, "chart lacks mount {p}");
    }
    let add: Vec<String> = c["securityContext"]["capabilities"]["add"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|x| format!("\"{}\"", x.as_str().unwrap()))
        .collect();
    assert!(tpl.contains(&format!("(list {})", add.join(" "))), "chart capabilities differ from {add:?}");
    assert!(
        tpl.contains("drop: [ALL]")
            && tpl.contains("type: RuntimeDefault")
            && tpl.contains("readOnlyRootFilesystem: true")
    );
    assert!(
        tpl.contains("livenessProbe:")
            && tpl.contains("readinessProbe:")
            && tpl.contains("k8s_healthz_endpoint")
    );
    assert_eq!(values["harrier"]["webserver"]["k8s_healthz_endpoint"], "/healthz");
    // The chart's config passthrough carries the plain manifest's config keys.
    let cm = objs.iter().find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "harrier").unwrap();
    let cfg: Value = serde_yaml::from_str(cm["data"]["harrier.yaml"].as_str().unwrap()).unwrap();
    for (k, v) in cfg.as_mapping().unwrap() {
        if k == "metrics" {
            continue; // set by the chart from metrics.enabled
        }
        assert_eq!(
            values["harrier"].get(k),
            Some(v),
            "harrier.{k:?} differs between the chart and the manifest"
        );
    }
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
