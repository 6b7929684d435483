mod common;
use common::*;
use harrier_rules::Priority;

const BASE: &str = "
- list: bins
  items: [ls, cat]
- macro: is_open
  condition: evt.type = open
- rule: r
  desc: first
  condition: is_open
  output: seen %proc.name
  priority: WARNING
  tags: [a]
";

#[test]
fn list_override_append_and_replace() {
    let rs = ok(&format!("{BASE}\n- list: bins\n  items: [vi]\n  override:\n    items: append\n- rule: u\n  desc: d\n  condition: proc.name in (bins)\n  output: o\n  priority: INFO\n"));
    assert_eq!(cond(&rs, "u"), "proc.name in ( ls, cat, vi )");
    let rs = ok(&format!("{BASE}\n- list: bins\n  items: [vi]\n  override:\n    items: replace\n- rule: u\n  desc: d\n  condition: proc.name in (bins)\n  output: o\n  priority: INFO\n"));
    assert_eq!(cond(&rs, "u"), "proc.name in ( vi )");
}

#[test]
fn macro_override_append_and_replace() {
    let rs = ok(&format!(
        "{BASE}\n- macro: is_open\n  condition: or evt.type = openat\n  override:\n    condition: append\n"
    ));
    let m = rs.macros.iter().find(|m| m.name == "is_open").unwrap();
    assert_eq!(m.condition_text, "evt.type = open or evt.type = openat");
    let rs = ok(&format!(
        "{BASE}\n- macro: is_open\n  condition: evt.type = close\n  override:\n    condition: replace\n"
    ));
    let m = rs.macros.iter().find(|m| m.name == "is_open").unwrap();
    assert_eq!(m.condition_text, "evt.type = close");
}

#[test]
fn rule_override_append_fields() {
    let rs = ok(&format!(
        "{BASE}
- rule: r
  condition: and proc.name = cat
  output: (extra)
  desc: second
  tags: [b]
  override:
    condition: append
    output: append
    desc: append
    tags: append
"
    ));
    let r = rs.rule("r").unwrap();
    assert_eq!(r.condition_text, "is_open and proc.name = cat");
    assert_eq!(r.output, "seen %proc.name (extra)");
    assert_eq!(r.desc, "first second");
    assert_eq!(r.tags, ["a", "b"]);
}

#[test]
fn rule_override_replace_fields() {
    let rs = ok(&format!(
        "{BASE}
- rule: r
  condition: evt.type = close
  output: other
  desc: replaced
  priority: critical
  tags: [z]
  enabled: false
  override:
    condition: replace
    output: replace
    desc: replace
    priority: replace
    tags: replace
    enabled: replace
"
    ));
    let r = rs.rule("r").unwrap();
    assert_eq!(r.condition_text, "evt.type = close");
    assert_eq!(r.output, "other");
    assert_eq!(r.desc, "replaced");
    assert_eq!(r.priority, Priority::Critical);
    assert_eq!(r.tags, ["z"]);
    assert!(!r.enabled);
    // mixed append and replace in one item
    let rs = ok(&format!("{BASE}\n- rule: r\n  condition: and proc.name = x\n  priority: debug\n  override:\n    condition: append\n    priority: replace\n"));
    let r = rs.rule("r").unwrap();
    assert_eq!(r.condition_text, "is_open and proc.name = x");
    assert_eq!(r.priority, Priority::Debug);
}

#[test]
fn override_errors() {
    err(
        &format!("{BASE}\n- rule: r\n  priority: debug\n  override:\n    priority: append\n"),
        "LOAD_ERR_YAML_VALIDATE",
        "Key 'priority' cannot be appended to, use 'replace' instead",
    );
    err(
        &format!("{BASE}\n- rule: r\n  source: k8s_audit\n  override:\n    source: replace\n"),
        "LOAD_ERR_YAML_VALIDATE",
        "Key 'source' cannot be replaced",
    );
    err(
        &format!("{BASE}\n- rule: r\n  desc: x\n  override:\n    desc: merge\n"),
        "LOAD_ERR_YAML_VALIDATE",
        "Invalid override operation for key 'desc': 'merge'. Allowed values are: append replace ",
    );
    err(
        &format!("{BASE}\n- rule: r\n  desc: x\n  override:\n    desc: append\n    output: append\n"),
        "LOAD_ERR_YAML_VALIDATE",
        "An append override for 'output' was specified but 'output' is not defined",
    );
    err(
        &format!("{BASE}\n- rule: r\n  desc: x\n  output: y\n  override:\n    desc: append\n"),
        "LOAD_ERR_YAML_VALIDATE",
        "Unexpected key 'output': no corresponding entry under 'override' is defined.",
    );
    err(
        &format!("{BASE}\n- rule: r\n  desc: x\n  override:\n    desc: append\n    desc: replace\n"),
        "LOAD_ERR_YAML_VALIDATE",
        "An replace override for 'desc' was specified but 'desc' is not defined",
    );
    err(
        &format!("{BASE}\n- rule: r\n  desc: x\n  append: true\n  override:\n    desc: append\n"),
        "LOAD_ERR_YAML_VALIDATE",
        "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.",
    );
    err(
        "- rule: nope\n  desc: x\n  override:\n    desc: append\n",
        "LOAD_ERR_VALIDATE",
        "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists",
    );
    err(
        "- rule: nope\n  desc: x\n  override:\n    desc: replace\n",
        "LOAD_ERR_VALIDATE",
        "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists",
    );
    err(
        "- list: nope\n  items: [a]\n  override:\n    items: append\n",
        "LOAD_ERR_VALIDATE",
        "List uses 'append' or 'override.items: append' but no list by that name already exists",
    );
    err(
        "- macro: nope\n  condition: a\n  override:\n    condition: append\n",
        "LOAD_ERR_VALIDATE",
        "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists",
    );
    err(
        "- list: l\n  items: [a]\n- list: l\n  items: [b]\n  append: true\n  override:\n    items: append\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.",
    );
}

#[test]
fn legacy_append() {
    let rs = load(&format!(
        "{BASE}
- list: bins
  items: [vi]
  append: true
- macro: is_open
  condition: or evt.type = openat
  append: true
- rule: r
  condition: and proc.name in (bins)
  append: true
"
    ));
    assert!(!rs.has_errors(), "{}", rs.to_text());
    assert_eq!(cond(&rs, "r"), "is_open and proc.name in ( ls, cat, vi )");
    let m = rs.macros.iter().find(|m| m.name == "is_open").unwrap();
    assert_eq!(m.condition_text, "evt.type = open or evt.type = openat");
    assert_eq!(warning_codes(&rs).iter().filter(|c| **c == "LOAD_DEPRECATED_ITEM").count(), 3);
    let w = rs.warnings().find(|w| w.code == "LOAD_DEPRECATED_ITEM").unwrap();
    assert_eq!(w.message, "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.");

    err(
        "- rule: nope\n  condition: a\n  append: true\n",
        "LOAD_ERR_VALIDATE",
        "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists",
    );
    err(
        &format!("{BASE}\n- rule: r\n  append: true\n"),
        "LOAD_ERR_VALIDATE",
        "Appended rule must have exceptions or condition property",
    );
    err(
        "- list: nope\n  items: [a]\n  append: true\n",
        "LOAD_ERR_VALIDATE",
        "List uses 'append' or 'override.items: append' but no list by that name already exists",
    );
    err(
        "- macro: nope\n  condition: a\n  append: true\n",
        "LOAD_ERR_VALIDATE",
        "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists",
    );
}

#[test]
fn enabled_toggling() {
    let rs = ok(&format!("{BASE}\n- rule: r\n  enabled: false\n"));
    assert!(!rs.rule("r").unwrap().enabled);
    assert!(warning_codes(&rs).contains(&"LOAD_DEPRECATED_ITEM"));
    let rs = ok(&format!("{BASE}\n- rule: r\n  enabled: false\n- rule: r\n  enabled: true\n"));
    assert!(rs.rule("r").unwrap().enabled);
    let rs = ok(&format!("{BASE}\n- rule: r\n  enabled: false\n  override:\n    enabled: replace\n"));
    assert!(!rs.rule("r").unwrap().enabled);
    err(
        "- rule: nope\n  enabled: false\n",
        "LOAD_ERR_VALIDATE",
        "Rule has 'enabled' key but no rule by that name already exists",
    );
    err("- rule: nope\n  tags: [x]\n", "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'enabled'");
    // a disabled rule is still compiled and returned
    let rs = ok("- rule: d\n  desc: x\n  condition: evt.type = open\n  output: o\n  priority: info\n  enabled: false\n");
    assert_eq!(rs.rules.len(), 1);
    assert!(!rs.rules[0].enabled);
    assert_eq!(rs.results[0].counts.rules_disabled, 1);
}

#[test]
fn last_definition_wins_and_keeps_position() {
    let rs = ok("- rule: a\n  desc: 1\n  condition: evt.type = open\n  output: o\n  priority: info\n\
         - rule: b\n  desc: 2\n  condition: evt.type = close\n  output: o\n  priority: info\n\
         - rule: a\n  desc: 3\n  condition: evt.type = read\n  output: o\n  priority: error\n");
    assert_eq!(rs.rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(rs.rule("a").unwrap().desc, "3");
    assert_eq!(cond(&rs, "a"), "evt.type = read");
    err(
        "- rule: a\n  desc: 1\n  condition: evt.type = open\n  output: o\n  priority: info\n\
         - rule: a\n  desc: 1\n  condition: ka.verb = get\n  output: o\n  priority: info\n  source: k8s_audit\n",
        "LOAD_ERR_VALIDATE",
        "Rule has been re-defined with a different source",
    );
}
