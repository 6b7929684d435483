//! The recorded audit events (`../shared/reference/k8s_audit`) through Falco's official
//! `k8s_audit_rules.yaml`, evaluated directly with the engine (the CLI test runs the same through
//! `harrier -c falco.yaml`).

use harrier_engine::{Ruleset, Source};
use harrier_k8saudit::{parse_payload, AuditAccessor, Counters};
use std::path::{Path, PathBuf};

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

pub fn official_ruleset() -> Ruleset {
    let mut loader = harrier_rules::Loader::new(harrier_rules::LoaderOptions {
        plugins: Some(harrier_rules::native_plugins()),
        ..Default::default()
    });
    loader.load_file(reference().join("falco-rules/plugins/k8saudit/k8s_audit_rules.yaml"));
    let loaded = loader.finish(Some(&harrier_engine::Checker));
    assert!(!loaded.has_errors(), "{}", loaded.to_text());
    let (rs, errors) = Ruleset::compile(&loaded.rules);
    assert!(errors.is_empty(), "{errors:?}");
    rs
}

/// (file, the rule Falco raises once per event of the file; `None`: the official rules raise nothing)
pub const EXPECTED: &[(&str, Option<&str>)] = &[
    ("anonymous_creates_namespace_foo.json", Some("Anonymous Request Allowed")),
    ("attach_pod.json", Some("Attach/Exec Pod")),
    ("create_cluster_role_wildcard_verbs.json", Some("ClusterRole With Wildcard Created")),
    ("create_clusterrole.json", Some("K8s ClusterRole Created")),
    ("create_configmap_no_sensitive_values.json", Some("K8s ConfigMap Created")),
    ("create_configmap_sensitive_values.json", Some("Create/Modify Configmap With Private Credentials")),
    // Secrets in kube-system are excluded by the rule (`ka.target.namespace!=kube-system`).
    ("create_kube_system_secret.json", None),
    ("create_nginx_pod_hostnetwork.json", Some("Create HostNetwork Pod")),
    ("create_nginx_pod_privileged.json", Some("Create Privileged Pod")),
    // `allowed_k8s_containers` allows every image until a user narrows it (see the next test).
    ("create_nginx_pod_unprivileged.json", None),
    ("create_nginx_service_nodeport.json", Some("Create NodePort Service")),
    ("create_serviceaccount_kube_system_namespace.json", Some("Service Account Created in Kube Namespace")),
    ("delete_namespace_foo.json", Some("K8s Namespace Deleted")),
    ("delete_secret.json", Some("K8s Secret Deleted")),
    ("exec_pod.json", Some("Attach/Exec Pod")),
];

fn events_of(file: &str) -> Vec<harrier_k8saudit::AuditEvent> {
    let text = std::fs::read_to_string(reference().join("k8s_audit").join(file)).unwrap();
    let c = Counters::default();
    let mut evs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        parse_payload(line.as_bytes(), 262144, &mut evs, &c).unwrap();
    }
    evs
}

fn fired(rs: &Ruleset, evs: &[harrier_k8saudit::AuditEvent]) -> Vec<String> {
    let mut fired = Vec::new();
    for (i, ev) in evs.iter().enumerate() {
        let acc = AuditAccessor::new(ev, i as u64 + 1);
        rs.evaluate_source(Source::K8sAudit, &acc, |r| fired.push(r.name.clone()));
    }
    fired
}

#[test]
fn recorded_events_raise_the_expected_rules() {
    let rs = official_ruleset();
    let mut report = String::new();
    let mut bad = Vec::new();
    for (file, rule) in EXPECTED {
        let evs = events_of(file);
        assert!(!evs.is_empty(), "{file}");
        let fired = fired(&rs, &evs);
        report.push_str(&format!("{file}: {} events → {fired:?}\n", evs.len()));
        let ok = match rule {
            Some(rule) => fired.len() == evs.len() && fired.iter().all(|f| f == rule),
            None => fired.is_empty(),
        };
        if !ok {
            bad.push(format!("{file}: expected {rule:?} once per event"));
        }
    }
    println!("{report}");
    assert!(bad.is_empty(), "{bad:#?}\n{report}");
}

#[test]
fn narrowed_allow_list_raises_create_disallowed_pod() {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("allow_only_apache.yaml");
    std::fs::write(
        &extra,
        "- macro: allowed_k8s_containers\n  condition: (ka.req.pod.containers.image.repository in (apache))\n",
    )
    .unwrap();
    let mut loader = harrier_rules::Loader::new(Default::default());
    loader.load_file(reference().join("falco-rules/plugins/k8saudit/k8s_audit_rules.yaml"));
    loader.load_file(&extra);
    let loaded = loader.finish(Some(&harrier_engine::Checker));
    assert!(!loaded.has_errors(), "{}", loaded.to_text());
    let (rs, _) = Ruleset::compile(&loaded.rules);
    assert_eq!(fired(&rs, &events_of("create_nginx_pod_unprivileged.json")), vec!["Create Disallowed Pod"]);
    // nginx is allowed by an allow-list naming it (`in` on a list: every value in the set).
    let extra2 = dir.path().join("allow_nginx.yaml");
    std::fs::write(
        &extra2,
        "- macro: allowed_k8s_containers\n  condition: (ka.req.pod.containers.image.repository in (apache, nginx))\n",
    )
    .unwrap();
    let mut loader = harrier_rules::Loader::new(Default::default());
    loader.load_file(reference().join("falco-rules/plugins/k8saudit/k8s_audit_rules.yaml"));
    loader.load_file(&extra2);
    let (rs, _) = Ruleset::compile(&loader.finish(Some(&harrier_engine::Checker)).rules);
    assert!(fired(&rs, &events_of("create_nginx_pod_unprivileged.json")).is_empty());
}
