//! The official Falco rule files (read from `../shared/reference/falco-rules`, never copied) must
//! load with zero errors, and their item counts must match `falco-rules-inventory.md` §1.

use std::path::PathBuf;

use harrier_rules::{Loader, LoaderOptions, Ruleset};

fn reference_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/falco-rules");
    assert!(
        dir.is_dir(),
        "reference rule files not found at {} (expected ../shared/reference/falco-rules relative to the \
         repository root); the conformance test needs them",
        dir.display()
    );
    dir
}

/// (path relative to falco-rules/, rules, rules with enabled:false, macros, lists)
const INVENTORY: &[(&str, usize, usize, usize, usize)] = &[
    ("falco_rules.yaml", 25, 0, 87, 49),
    ("falco-incubating_rules.yaml", 31, 0, 82, 54),
    ("falco-sandbox_rules.yaml", 37, 12, 183, 60),
    ("falco-deprecated_rules.yaml", 4, 4, 6, 9),
    ("application_rules.yaml", 0, 0, 21, 0),
    ("plugins/k8saudit/k8s_audit_rules.yaml", 48, 0, 45, 18),
    ("plugins/k8saudit-gke/k8s_audit_rules_gke.yaml", 1, 0, 0, 4),
    ("plugins/cloudtrail/aws_cloudtrail_rules.yaml", 22, 2, 0, 1),
    ("plugins/gcpaudit/gcp_auditlog_rules.yaml", 39, 0, 11, 0),
    ("plugins/github/github.yaml", 15, 0, 0, 0),
    ("plugins/okta/okta_rules.yaml", 21, 9, 1, 1),
];

fn load(files: &[PathBuf]) -> Ruleset {
    let mut loader = Loader::new(LoaderOptions::default());
    for f in files {
        loader.load_file(f);
    }
    loader.finish(None)
}

fn assert_no_errors(rs: &Ruleset) {
    assert!(!rs.has_errors(), "unexpected errors:\n{}", rs.to_text());
}

fn yaml_files(dir: &PathBuf, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_official_file_loads_without_errors() {
    let dir = reference_dir();
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    assert_eq!(files.len(), INVENTORY.len(), "unexpected set of reference files: {files:?}");
    let k8s = dir.join("plugins/k8saudit/k8s_audit_rules.yaml");
    for f in &files {
        // The GKE file only overrides items of the k8saudit file (Falco, too, needs that file
        // loaded first: an override of an undefined rule is an error).
        let set = if f.ends_with("k8s_audit_rules_gke.yaml") {
            vec![k8s.clone(), f.clone()]
        } else {
            vec![f.clone()]
        };
        let rs = load(&set);
        assert_no_errors(&rs);
        let rel = f.strip_prefix(&dir).unwrap().to_str().unwrap();
        let &(_, rules, disabled, macros, lists) =
            INVENTORY.iter().find(|(p, ..)| *p == rel).unwrap_or_else(|| panic!("{rel} not in inventory"));
        let res = rs.result(&f.display().to_string()).unwrap();
        assert_eq!(res.counts.rules, rules, "{rel}: rules");
        assert_eq!(res.counts.rules_disabled, disabled, "{rel}: enabled:false rules");
        assert_eq!(res.counts.macros, macros, "{rel}: macros");
        assert_eq!(res.counts.lists, lists, "{rel}: lists");
    }
}

#[test]
fn syscall_files_load_together() {
    let dir = reference_dir();
    let files: Vec<PathBuf> = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    let rs = load(&files);
    assert_no_errors(&rs);
    assert_eq!(rs.rules.len(), 25 + 31 + 37);
    assert_eq!(rs.rules.iter().filter(|r| !r.enabled).count(), 12);
    assert!(rs.rules.iter().all(|r| r.source == "syscall"));
    assert_eq!(rs.required_engine_version, Some((0, 57, 0)));
    // every macro reference was resolved
    for r in &rs.rules {
        let mut idents = Vec::new();
        harrier_condition::walk_identifiers(&r.condition, &mut |n, _| idents.push(n.to_string()));
        assert!(idents.is_empty(), "rule '{}' still references {idents:?}", r.name);
    }
}

#[test]
fn plugin_rules_with_native_plugins() {
    let dir = reference_dir();
    let mut loader =
        Loader::new(LoaderOptions { plugins: Some(harrier_rules::native_plugins()), ..Default::default() });
    for f in [
        "falco_rules.yaml",
        "plugins/k8saudit/k8s_audit_rules.yaml",
        "plugins/cloudtrail/aws_cloudtrail_rules.yaml",
        "plugins/gcpaudit/gcp_auditlog_rules.yaml",
        "plugins/github/github.yaml",
        "plugins/okta/okta_rules.yaml",
    ] {
        loader.load_file(dir.join(f));
    }
    let rs = loader.finish(None);
    assert_no_errors(&rs);
    assert_eq!(rs.rules.len(), 25 + 48 + 22 + 39 + 15 + 21);
}

#[test]
fn gke_override_appends_exception() {
    let dir = reference_dir();
    let rs = load(&[
        dir.join("plugins/k8saudit/k8s_audit_rules.yaml"),
        dir.join("plugins/k8saudit-gke/k8s_audit_rules_gke.yaml"),
    ]);
    assert_no_errors(&rs);
    let r = rs.rule("Disallowed K8s User").unwrap();
    assert!(
        r.condition_text.contains(
            "and not (( ka.user.name endswith \"@container-engine-robot.iam.gserviceaccount.com\"))"
        ) || r
            .condition_text
            .contains("ka.user.name endswith @container-engine-robot.iam.gserviceaccount.com"),
        "{}",
        r.condition_text
    );
    assert_eq!(r.exception_fields, vec!["ka.user.name".to_string()]);
}
