#![allow(dead_code)]

use harrier_rules::{ConditionChecker, Diagnostic, Loader, LoaderOptions, Ruleset};

pub fn load(text: &str) -> Ruleset {
    load_many(&[("test.yaml", text)])
}

pub fn load_many(files: &[(&str, &str)]) -> Ruleset {
    load_with(files, LoaderOptions::default(), None)
}

pub fn load_with(
    files: &[(&str, &str)],
    opts: LoaderOptions,
    checker: Option<&dyn ConditionChecker>,
) -> Ruleset {
    let mut l = Loader::new(opts);
    for (n, t) in files {
        l.load_str(n, t);
    }
    l.finish(checker)
}

pub fn ok(text: &str) -> Ruleset {
    let rs = load(text);
    assert!(!rs.has_errors(), "unexpected errors:\n{}", rs.to_text());
    rs
}

pub fn first_error(rs: &Ruleset) -> &Diagnostic {
    rs.errors().next().unwrap_or_else(|| panic!("expected an error:\n{}", rs.to_text()))
}

/// Assert exactly one error with this code and message.
pub fn err(text: &str, code: &str, msg: &str) -> Ruleset {
    let rs = load(text);
    let errs: Vec<_> = rs.errors().collect();
    assert_eq!(errs.len(), 1, "expected one error, got:\n{}", rs.to_text());
    assert_eq!(errs[0].code, code, "{}", rs.to_text());
    assert_eq!(errs[0].message, msg, "{}", rs.to_text());
    rs
}

pub fn cond(rs: &Ruleset, rule: &str) -> String {
    rs.rule(rule).unwrap_or_else(|| panic!("no rule {rule}")).condition_text.clone()
}

pub fn warning_codes(rs: &Ruleset) -> Vec<&'static str> {
    rs.warnings().map(|w| w.code).collect()
}
