//! Entry points for the fuzz targets (`crates/respond/fuzz`): response rules files and alert
//! field substitution, with the invariants the responder relies on checked. Not a stable API.

use harrier_engine::Alert;

/// A response rules file: loads or gives errors with lines inside the file; never panics.
pub fn load_rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines = text.lines().count() as u32 + 1;
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
