//! Response rules in Falco Talon's format: loading, merging, errors with lines, matching.

mod common;

use common::*;
use harrier_respond::rules::{Cmp, FieldTest};
use harrier_respond::{load_files, load_strs};
use harrier_rules::Priority;
use serde_json::json;

#[test]
fn talon_files_load_with_every_feature() {
    let d = rules_dir();
    let set = load_files(&[d.join("talon_features.yaml"), d.join("talon_override.yaml")]).unwrap();
    let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Shell in a container", "Miners", "Cloud things"]);

    let shell = &set.rules[0];
    // Merged with the override file: rules appended, continue set.
    assert_eq!(shell.matcher.rules, ["Terminal shell in container", "Shell spawned by untrusted binary"]);
    assert!(!shell.continue_);
    assert_eq!(shell.matcher.priority, Some((Cmp::Ge, Priority::Notice)));
    assert_eq!(
        shell.matcher.output_fields,
        vec![vec![
            FieldTest { key: "k8s.ns.name".into(), equal: false, value: "kube-system".into() },
            FieldTest { key: "k8s.ns.name".into(), equal: false, value: "monitoring".into() },
        ]]
    );
    let mark = &shell.actions[0];
    assert_eq!(mark.actionner, "kubernetes:label");
    assert_eq!(mark.description, "Label the pod so people look at it");
    assert_eq!(mark.parameters["labels"], json!({"suspicious": "true"}));
    assert!(mark.continue_, "kubernetes:label continues by default");
    let term = &shell.actions[1];
    assert_eq!(term.actionner, "kubernetes:terminate");
    // The rule's own value wins over the definition; the override's new key is merged in.
    assert_eq!(term.parameters["grace_period_seconds"], json!(1));
    assert_eq!(term.parameters["ignore_daemonsets"], json!(true));
    assert_eq!(term.parameters["ignore_standalone_pods"], json!(true));
    assert!(!term.continue_, "kubernetes:terminate stops the rule's actions by default");

    let miners = &set.rules[1];
    assert!(miners.dry_run);
    assert!(!miners.continue_);
    assert_eq!(miners.notifiers, ["slack"]);
    assert_eq!(
        miners.matcher.tags,
        vec![vec!["mitre_execution".to_string(), "container".into()], vec!["cryptomining".into()]]
    );
    assert_eq!(miners.matcher.source.as_deref(), Some("syscall"));
    assert!(miners.actions[0].ignore_errors);
    assert_eq!(miners.actions[1].actionner, "kubernetes:log");
    assert_eq!(miners.actions[1].parameters["tail_lines"], json!(20));

    // The cloud actionners load (Talon's files load unchanged) with a warning naming them.
    let w: Vec<String> = set.warnings.iter().map(|w| w.to_string()).collect();
    assert!(w.iter().any(|w| w.contains("aws:lambda") && w.contains("not supported")), "{w:?}");
    assert!(
        w.iter().any(|w| w.contains("cilium:networkpolicy") && w.contains("talon_features.yaml:")),
        "{w:?}"
    );
}

#[test]
fn unknown_actionner_is_named_with_its_line() {
    let d = rules_dir();
    let e = load_files(&[d.join("unknown_actionner.yaml")]).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("unknown_actionner.yaml:19:"), "{msg}");
    assert!(msg.contains("unknown actionner 'kubernetes:explode'"), "{msg}");
    assert!(msg.contains("rule 'Bad rule'"), "{msg}");
}

#[test]
fn errors_name_file_and_line() {
    let cases: &[(&str, &str, u32)] = &[
        ("- rule: R\n  match:\n    priority: '>=Loud'\n  actions:\n    - action: A\n      actionner: node:kill\n", "incorrect priority '>=Loud'", 3),
        ("- rule: R\n  continue: maybe\n  actions:\n    - action: A\n      actionner: node:kill\n", "'continue' can be 'true' or 'false' only", 2),
        ("- rule: R\n  match:\n    rules: [x]\n", "no action specified", 1),
        ("- rule: R\n  actions:\n    - action: A\n", "has no actionner", 3),
        ("\n- rule: R\n  match:\n    output_fields:\n      - 'k8s.ns.name'\n  actions:\n    - action: A\n      actionner: node:kill\n", "incorrect output field test", 5),
        ("- rule: R\n  match:\n    tags: ['bad tag!']\n  actions:\n    - action: A\n      actionner: node:kill\n", "incorrect tag", 3),
        ("- just a string\n", "must be a map", 1),
        ("- foo: bar\n", "neither 'action: NAME' nor 'rule: NAME'", 1),
        ("- rule: R\n  actions: [\n", "YAML syntax error", 3),
        ("- action: K\n  actionner: node:kill\n  parameters:\n    signal: SIGFOO\n- rule: R\n  actions:\n    - action: K\n", "unknown signal 'SIGFOO'", 7),
        ("- rule: R\n  actions:\n    - action: S\n      actionner: node:script\n      parameters:\n        command: /bin/sh\n        args: ['-c', '${proc.cmdline}']\n", "never passed to a shell", 3),
        ("- rule: R\n  actions:\n    - action: S\n      actionner: node:script\n      parameters:\n        command: rm\n", "absolute path", 3),
        ("- rule: R\n  actions:\n    - action: L\n      actionner: kubernetes:label\n", "'labels' (a map) is required", 3),
    ];
    for (text, want, line) in cases {
        let e = load_strs(&[("r.yaml", text)]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(want), "{text:?}: {msg}");
        assert!(msg.starts_with(&format!("r.yaml:{line}:")), "{text:?}: want line {line}: {msg}");
    }
}

#[test]
fn matching_follows_talon() {
    let text = r#"
- rule: R
  match:
    rules: [A, B]
    priority: ">=Warning"
    tags: ["container, shell", "network"]
    output_fields:
      - "k8s.ns.name!=kube-system, proc.name=bash"
      - "fd.name=/etc/shadow"
  actions:
    - action: X
      actionner: node:kill
"#;
    let set = load_strs(&[("m.yaml", text)]).unwrap();
    let m = &set.rules[0].matcher;
    let a =
        |rule: &str, p, tags: &[&str], f: &[(&str, serde_json::Value)]| m.matches(&alert(rule, p, tags, f));
    let bash = [("proc.name", json!("bash")), ("k8s.ns.name", json!("prod"))];
    assert!(a("A", Priority::Warning, &["container", "shell"], &bash));
    assert!(a("B", Priority::Critical, &["network"], &bash));
    assert!(!a("C", Priority::Critical, &["network"], &bash), "rule name");
    assert!(!a("A", Priority::Notice, &["network"], &bash), "priority below Warning");
    assert!(!a("A", Priority::Error, &["container"], &bash), "tag group needs both tags");
    assert!(!a(
        "A",
        Priority::Error,
        &["network"],
        &[("proc.name", json!("bash")), ("k8s.ns.name", json!("kube-system"))]
    ));
    // A null namespace is not kube-system.
    assert!(a(
        "A",
        Priority::Error,
        &["network"],
        &[("proc.name", json!("bash")), ("k8s.ns.name", json!(null))]
    ));
    // The second output_fields entry is an alternative.
    assert!(a("A", Priority::Error, &["network"], &[("fd.name", json!("/etc/shadow"))]));
    assert!(!a("A", Priority::Error, &["network"], &[("fd.name", json!("/etc/passwd"))]));

    let cmp = |p: &str, alert_p| {
        let t = format!("- rule: R\n  match:\n    priority: '{p}'\n  actions:\n    - action: X\n      actionner: node:kill\n");
        load_strs(&[("p.yaml", &t)]).unwrap().rules[0].matcher.matches(&alert("A", alert_p, &[], &[]))
    };
    assert!(cmp("Warning", Priority::Warning));
    assert!(!cmp("Warning", Priority::Error));
    assert!(cmp(">Warning", Priority::Error));
    assert!(!cmp(">Warning", Priority::Warning));
    assert!(cmp("<Warning", Priority::Notice));
    assert!(cmp("<=Warning", Priority::Warning));
    assert!(!cmp("<=Warning", Priority::Critical));

    let src = load_strs(&[("s.yaml", "- rule: R\n  match:\n    source: k8s_audit\n  actions:\n    - action: X\n      actionner: node:kill\n")]).unwrap();
    assert!(!src.rules[0].matcher.matches(&alert("A", Priority::Warning, &[], &[])));
}
