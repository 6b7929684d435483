//! Entry points for the fuzz targets (`crates/respond/fuzz`): response rules files and alert
//! field substitution, with the invariants the responder relies on checked. Not a stable API.

use harrier_engine::Alert;

/// A response rules file: loads or gives errors with lines inside the file; never panics.
pub fn load_rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Lines as YAML counts them: a lone CR breaks a line too.
    let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() as u32 + 2;
    match crate::rules::load_strs(&[("fuzz.yaml", text)]) {
        Ok(set) => {
            for r in &set.rules {
                assert!(!r.actions.is_empty());
                assert!(r.actions.iter().all(|a| crate::actionners::lookup(&a.actionner).is_some()));
            }
        }
        Err(e) => {
            assert!(!e.0.is_empty());
            for x in &e.0 {
                assert!(x.location.line <= lines, "line {} beyond the file", x.location.line);
            }
        }
    }
}

/// Alert field substitution for `node:script`: whatever the field holds, one argument stays
/// one argument.
pub fn substitute(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (tmpl, value) = text.split_once('\n').unwrap_or((&text, ""));
    let mut alert = Alert {
        time_ns: 0,
        rule: "r".into(),
        priority: harrier_rules::Priority::Warning,
        source: "syscall".into(),
        tags: vec![],
        output: String::new(),
        output_fields: Default::default(),
        hostname: String::new(),
    };
    alert.output_fields.insert("proc.cmdline".into(), serde_json::json!(value));
    let out = crate::node::script::substitute(tmpl, &alert);
    assert!(out.len() <= tmpl.len() + value.len() * tmpl.matches("${").count() + 64);
}

/// Every target briefly in the unit tests: seeds, the corpus kept in the repository, then
/// mutations for `HARRIER_FUZZ_SECS` (see `harrier-fuzzrun`).
#[cfg(test)]
mod brief_fuzz {
    const RULES: &str = "- action: Terminate the pod\n  actionner: kubernetes:terminate\n  parameters:\n    grace_period_seconds: 5\n- rule: Shells\n  match:\n    rules:\n      - Terminal shell in container\n    priority: \">=Warning\"\n    output_fields:\n      - k8s.ns.name!=kube-system\n  actions:\n    - action: Terminate the pod\n    - action: Label\n      actionner: kubernetes:label\n      parameters:\n        labels:\n          suspicious: \"true\"\n  continue: false\n";
    #[test]
    fn rules() {
        harrier_fuzzrun::run(
            env!("CARGO_MANIFEST_DIR"),
            "rules",
            &[RULES.as_bytes().to_vec(), b"- rule: x\n  actions: []\n".to_vec()],
            super::load_rules,
        );
    }
    #[test]
    fn substitute() {
        harrier_fuzzrun::run(
            env!("CARGO_MANIFEST_DIR"),
            "substitute",
            &[b"echo ${proc.cmdline} > /tmp/x\nrm -rf /; $(id) `x` 'q' \"".to_vec(), b"${\n${${".to_vec()],
            super::substitute,
        );
    }
}
