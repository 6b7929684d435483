mod common;
use common::*;
use harrier_rules::{Loader, LoaderOptions, PluginVersion, Priority};

fn rule(name: &str, condition: &str) -> String {
    format!("- rule: {name}\n  desc: d\n  condition: {condition}\n  output: o\n  priority: INFO\n")
}

#[test]
fn list_substitution_edge_cases() {
    let text = format!(
        "- list: base\n  items: [a, b c]\n\
         - list: derived\n  items: [base, d]\n\
         - list: empty\n  items: []\n\
         - list: one\n  items: [solo]\n\
         {}{}{}",
        rule("r1", "proc.name in (derived)"),
        rule("r2", "proc.name in (empty, x) or proc.name in (y, empty)"),
        rule("r3", "proc.name=one or proc.pname in (later)"),
    );
    let text = format!("{text}- list: later\n  items: [z]\n");
    let rs = ok(&text);
    // earlier list names inside a list are expanded; items with spaces are quoted
    assert_eq!(cond(&rs, "r1"), "proc.name in ( a, \"b c\", d )");
    // an empty list eats one adjacent comma
    assert_eq!(cond(&rs, "r2"), "proc.name in (   x) or proc.name in (y  )");
    // '=' delimits; lists are visible regardless of order
    assert_eq!(cond(&rs, "r3"), "proc.name= solo or proc.pname in ( z )");
}

#[test]
fn list_referencing_later_list_is_not_expanded() {
    let rs = ok(&format!(
        "- list: first\n  items: [second, x]\n- list: second\n  items: [y]\n{}",
        rule("r", "proc.name in (first)")
    ));
    // 'second' stays literally in 'first', and is then substituted textually in the condition
    assert_eq!(cond(&rs, "r"), "proc.name in ( y , x )");
}

#[test]
fn last_list_definition_wins() {
    let rs =
        ok(&format!("- list: l\n  items: [a]\n{}- list: l\n  items: [b]\n", rule("r", "proc.name in (l)")));
    assert_eq!(cond(&rs, "r"), "proc.name in ( b )");
}

#[test]
fn macros_resolve_on_the_ast() {
    let rs = ok(&format!(
        "- macro: m1\n  condition: evt.type = open\n- macro: m2\n  condition: m1 and fd.name = x\n{}",
        rule("r", "m2 or not m1")
    ));
    let r = rs.rule("r").unwrap();
    assert_eq!(r.condition_text, "m2 or not m1");
    assert_eq!(
        harrier_condition::canonical(&r.condition),
        "((evt.type = open and fd.name = x) or not evt.type = open)"
    );
    assert!(rs.macros.iter().all(|m| m.used));
}

#[test]
fn macro_ordering_and_undefined_macros() {
    // a macro cannot see a macro defined after it
    let rs = err(
        &format!(
            "- macro: m1\n  condition: m2\n- macro: m2\n  condition: evt.type = open\n{}",
            rule("r", "m1")
        ),
        "LOAD_ERR_VALIDATE",
        "Undefined macro 'm2' used in filter.",
    );
    let ctx = &first_error(&rs).context;
    assert_eq!(ctx.locations[1].item_type.as_str(), "macro");
    assert_eq!(ctx.locations[1].item_name, "m1");
    assert_eq!(ctx.locations.last().unwrap().item_type.as_str(), "condition expression");
    // a rule sees every macro, whatever the order
    ok(&format!("{}- macro: late\n  condition: evt.type = open\n", rule("r", "late")));
    // undefined in a rule
    let rs = err(
        &rule("r", "evt.type = open and nosuchmacro"),
        "LOAD_ERR_VALIDATE",
        "Undefined macro 'nosuchmacro' used in filter.",
    );
    assert_eq!(first_error(&rs).context.locations[1].item_name, "r");
    // a macro redefined later sees the macros defined in between
    ok(&format!(
        "- macro: a\n  condition: evt.type = open\n- macro: b\n  condition: evt.type = close\n- macro: a\n  condition: b\n{}",
        rule("r", "a")
    ));
}

#[test]
fn macro_reference_loop() {
    let rs = load(&format!(
        "- macro: a\n  condition: evt.type = open\n- macro: b\n  condition: a\n- macro: a\n  condition: b\n{}",
        rule("r", "a")
    ));
    assert_eq!(first_error(&rs).message, "reference loop in macro 'b'");
}

#[test]
fn unused_macros_and_lists_warn() {
    let rs = ok(&format!(
        "- list: used\n  items: [a]\n- list: unused\n  items: [b]\n- macro: m\n  condition: evt.type = open\n- macro: lonely\n  condition: evt.type = close\n{}",
        rule("r", "m and proc.name in (used)")
    ));
    let w: Vec<_> = rs
        .warnings()
        .map(|w| (w.code, w.message.as_str(), w.context.locations[1].item_name.as_str()))
        .collect();
    assert!(
        w.contains(&("LOAD_UNUSED_MACRO", "Macro not referred to by any other rule/macro", "lonely")),
        "{w:?}"
    );
    assert!(
        w.contains(&("LOAD_UNUSED_LIST", "List not referred to by any other rule/macro", "unused")),
        "{w:?}"
    );
    assert_eq!(w.len(), 2, "{w:?}");
}

#[test]
fn required_engine_version_forms() {
    for v in ["2", "10", "57", "0.31.0", "0.50.0", "0.57.0"] {
        ok(&format!("- required_engine_version: {v}\n"));
    }
    ok("- required_engine_version: '0.57.0'\n");
    let rs = err(
        "- required_engine_version: 0.58.0\n",
        "LOAD_ERR_VALIDATE",
        "Rules require engine version 0.58.0, but engine version is 0.57.0",
    );
    assert_eq!(first_error(&rs).context.locations[1].item_type.as_str(), "required_engine_version");
    err(
        "- required_engine_version: 58\n",
        "LOAD_ERR_VALIDATE",
        "Rules require engine version 0.58.0, but engine version is 0.57.0",
    );
    err(
        "- required_engine_version: 1.0.0\n",
        "LOAD_ERR_VALIDATE",
        "Rules require engine version 1.0.0, but engine version is 0.57.0",
    );
    err(
        "- required_engine_version: latest\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Unable to parse engine version 'latest' as a semver string. Expected \"x.y.z\" semver format.",
    );
    let rs = ok("- required_engine_version: 2\n- required_engine_version: 0.31.0\n");
    assert_eq!(rs.required_engine_version, Some((0, 31, 0)));
}

fn plugins(text: &str, have: &[(&str, &str)]) -> harrier_rules::Ruleset {
    let opts = LoaderOptions {
        plugins: Some(have.iter().map(|(n, v)| PluginVersion::new(n, v)).collect()),
        ..Default::default()
    };
    load_with(&[("p.yaml", text)], opts, None)
}

#[test]
fn required_plugin_versions_with_alternatives() {
    let text = "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.7.0\n    alternatives:\n      - name: k8saudit-eks\n        version: 0.2.0\n  - name: json\n    version: 0.7.0\n";
    assert!(!plugins(text, &[("k8saudit", "0.7.1"), ("json", "0.7.0")]).has_errors());
    assert!(!plugins(text, &[("k8saudit-eks", "0.4.0"), ("json", "0.9.0")]).has_errors());
    let rs = plugins(text, &[("k8saudit", "0.6.0"), ("json", "0.7.0")]);
    assert_eq!(
        first_error(&rs).message,
        "Plugin requirement not satisfied, must load one of: k8saudit (>= 0.7.0), k8saudit-eks (>= 0.2.0)"
    );
    let rs = plugins(text, &[("k8saudit", "0.7.0")]);
    assert_eq!(first_error(&rs).message, "Plugin 'json' is required but not loaded");
    let rs = plugins(text, &[("k8saudit", "0.7.0"), ("json", "1.0.0")]);
    assert_eq!(
        first_error(&rs).message,
        "Plugin 'json' version '1.0.0' is not compatible with required plugin version '0.7.0'"
    );
    // no plugin set given: not checked
    assert!(!load(text).has_errors());
    // validation of the entries themselves
    err(
        "- required_plugin_versions:\n  - name: a\n    version: one\n",
        "LOAD_ERR_VALIDATE",
        "Invalid required version 'one' for plugin 'a'",
    );
    err(
        "- required_plugin_versions:\n  - name: a\n    version: 0.1.0\n    alternatives:\n      - name: a\n        version: 0.2.0\n",
        "LOAD_ERR_VALIDATE",
        "Defined multiple alternative version requirements for plugin 'a'",
    );
    err(
        "- required_plugin_versions: x\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Value of required_plugin_versions must be a sequence",
    );
    err(
        "- required_plugin_versions:\n  - name: a\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Item has no mapping for key 'version'",
    );
}

#[test]
fn priorities() {
    for (s, p) in [
        ("EMERGENCY", Priority::Emergency),
        ("alert", Priority::Alert),
        ("Critical", Priority::Critical),
        ("ERROR", Priority::Error),
        ("warning", Priority::Warning),
        ("NOTICE", Priority::Notice),
        ("INFO", Priority::Informational),
        ("informational", Priority::Informational),
        ("Debug", Priority::Debug),
    ] {
        assert_eq!(s.parse::<Priority>().unwrap(), p);
    }
    assert!("warn".parse::<Priority>().is_err());
    assert_eq!(Priority::Informational.to_string(), "Informational");
    assert_eq!(Priority::Warning.to_string(), "Warning");
    let rs = err(
        "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: LOUD\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Invalid priority",
    );
    assert_eq!(first_error(&rs).context.locations.last().unwrap().item_type.as_str(), "rule priority");
}

#[test]
fn multi_document_fixture_file() {
    let mut l = Loader::new(LoaderOptions::default());
    l.load_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/two_docs.yaml"));
    let rs = l.finish(None);
    assert!(!rs.has_errors(), "{}", rs.to_text());
    let r = rs.rule("Editor started").unwrap();
    assert_eq!(r.condition_text, "spawned and proc.name in ( vi, nano, emacs )");
    assert_eq!(r.priority, Priority::Notice);
    assert_eq!(r.source, "syscall");
    assert_eq!(r.tags, ["process", "test"]);
    assert_eq!(r.output, "editor %proc.name started by %user.name");
    assert_eq!((r.location.line, r.location.column), (10, 3));
    let c = rs.results[0].counts;
    assert_eq!((c.rules, c.macros, c.lists), (1, 1, 1));
}

#[test]
fn state_persists_across_files_and_compile_runs_per_file() {
    let a = "- list: l\n  items: [a]\n- macro: m\n  condition: evt.type = open\n";
    let b = format!(
        "{}- list: l\n  items: [b]\n  override:\n    items: append\n",
        rule("r", "m and proc.name in (l)")
    );
    let rs = load_many(&[("a.yaml", a), ("b.yaml", &b)]);
    assert!(!rs.has_errors(), "{}", rs.to_text());
    assert_eq!(cond(&rs, "r"), "m and proc.name in ( a, b )");
    // unused warnings belong to the file whose compile found them
    assert!(rs.results[0].warnings.iter().any(|w| w.code == "LOAD_UNUSED_MACRO"));
    // a rule using a macro that only a later file defines fails when its own file is compiled
    let rs = load_many(&[
        ("a.yaml", &rule("r", "later")),
        ("b.yaml", "- macro: later\n  condition: evt.type = open\n"),
    ]);
    assert_eq!(rs.results[0].errors[0].message, "Undefined macro 'later' used in filter.");
    assert!(rs.results[1].errors.is_empty());
    assert_eq!(rs.rules.len(), 1);
}

#[test]
fn unknown_items_and_keys() {
    let rs = ok("- thing: x\n- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  colour: blue\n");
    let w: Vec<_> = rs.warnings().map(|w| (w.code, w.message.as_str())).collect();
    assert!(w.contains(&("LOAD_UNKNOWN_ITEM", "Unknown top level item")), "{w:?}");
    assert!(w.iter().any(|(c, m)| *c == "LOAD_UNKNOWN_KEY" && m.contains("'colour'")), "{w:?}");
}

#[test]
fn item_validation_messages() {
    err(
        "- rule: r\n  desc: d\n  output: o\n  priority: INFO\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Item has no mapping for key 'condition'",
    );
    err(
        "- rule: r\n  desc: d\n  condition: evt.type = open\n  priority: INFO\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Item has no mapping for key 'output'",
    );
    err(
        "- rule: r\n  desc: d\n  condition:\n  output: o\n  priority: INFO\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Mapping for key 'condition' is empty",
    );
    err(
        "- rule: r\n  desc: d\n  condition: [a]\n  output: o\n  priority: INFO\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Value is not a scalar value",
    );
    err(
        "- rule: r\n  desc: d\n  condition: ''\n  output: o\n  priority: INFO\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Value must be non-empty",
    );
    err("- list: l\n  items: a\n", "LOAD_ERR_YAML_VALIDATE", "Value is not a sequence");
    err("- list: l\n  items: [[a]]\n", "LOAD_ERR_YAML_VALIDATE", "sequence value is not scalar");
    err(
        "- rule: r\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  enabled: maybe\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Can't decode YAML scalar value",
    );
    let rs = ok("- macro: bad-name\n  condition: evt.type = open\n- list: 'bad name'\n  items: []\n");
    assert!(warning_codes(&rs).contains(&"LOAD_INVALID_MACRO_NAME"));
    assert!(warning_codes(&rs).contains(&"LOAD_INVALID_LIST_NAME"));
    // the first error stops the file, earlier items stay
    let rs = load("- list: kept\n  items: [a]\n- list: broken\n- list: never\n  items: [b]\n");
    assert_eq!(rs.errors().count(), 1);
    assert_eq!(rs.results[0].counts.lists, 2);
}

#[test]
fn skip_fields_accepted() {
    let rs = ok("- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  warn_evttypes: false\n  skip-if-unknown-filter: true\n  capture: true\n  capture_duration: 5000\n  source: syscall\n");
    let r = rs.rule("r").unwrap();
    assert!(!r.warn_evttypes && r.skip_if_unknown_filter && r.capture);
    assert_eq!(r.capture_duration, 5000);
}
