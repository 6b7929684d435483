//! Every official Falco rule file (read from `../shared/reference/falco-rules`, never copied)
//! loads with the engine's checker with zero errors, and compiles into a [`Ruleset`].

use std::path::PathBuf;

use harrier_engine::{Checker, Ruleset};
use harrier_rules::{Loader, LoaderOptions};

fn reference_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/falco-rules");
    assert!(
        dir.is_dir(),
        "reference rule files not found at {}; the conformance test needs them",
        dir.display()
    );
    dir
}

fn load(files: &[PathBuf]) -> harrier_rules::Ruleset {
    let mut loader = Loader::new(LoaderOptions::default());
    for f in files {
        loader.load_file(f);
    }
    loader.finish(Some(&Checker))
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

fn check(rs: &harrier_rules::Ruleset, what: &str) -> Ruleset {
    assert!(!rs.has_errors(), "{what}: unexpected errors:\n{}", rs.to_text());
    let (compiled, errors) = Ruleset::compile(&rs.rules);
    assert!(errors.is_empty(), "{what}: compile errors: {errors:#?}");
    assert_eq!(compiled.rules().len(), rs.rules.len());
    compiled
}

#[test]
fn every_official_file_loads_with_the_engine_checker() {
    let dir = reference_dir();
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    assert_eq!(files.len(), 11, "unexpected set of reference files: {files:?}");
    let k8s = dir.join("plugins/k8saudit/k8s_audit_rules.yaml");
    for f in &files {
        let set = if f.ends_with("k8s_audit_rules_gke.yaml") {
            vec![k8s.clone(), f.clone()]
        } else {
            vec![f.clone()]
        };
        let rs = load(&set);
        check(&rs, &f.display().to_string());
    }
}

#[test]
fn syscall_files_load_together_and_are_indexed() {
    let dir = reference_dir();
    let files: Vec<PathBuf> = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    let rs = load(&files);
    let compiled = check(&rs, "syscall files");
    assert_eq!(compiled.rules().len(), 93);
    // Every official syscall rule restricts event types.
    let unrestricted: Vec<&str> = compiled.rules_without_evttype().iter().map(|r| r.name.as_str()).collect();
    assert!(unrestricted.is_empty(), "rules without evt.type restriction: {unrestricted:?}");
    let execve = harrier_engine::event_codes_for_name("execve")[0];
    assert!(compiled.candidates(harrier_engine::Source::Syscall, Some(execve)) > 0);
}

#[test]
fn plugin_files_load_with_the_engine_checker() {
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
    let rs = loader.finish(Some(&Checker));
    let compiled = check(&rs, "plugin files");
    assert_eq!(compiled.rules().len(), 25 + 48 + 22 + 39 + 15 + 21);
}

#[test]
fn official_files_give_no_engine_warnings() {
    let dir = reference_dir();
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    let k8s = dir.join("plugins/k8saudit/k8s_audit_rules.yaml");
    for f in &files {
        let set = if f.ends_with("k8s_audit_rules_gke.yaml") {
            vec![k8s.clone(), f.clone()]
        } else {
            vec![f.clone()]
        };
        let rs = load(&set);
        let engine_warnings: Vec<String> = rs
            .warnings()
            .filter(|w| {
                w.message.contains("looks like a field name") || w.message.contains("not a defined list")
            })
            .map(|w| w.message.clone())
            .collect();
        assert!(engine_warnings.is_empty(), "{}: {engine_warnings:#?}", f.display());
    }
}
