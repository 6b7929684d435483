mod common;
use common::*;
use harrier_condition::Expr;
use harrier_rules::{ConditionChecker, Loader, LoaderOptions};

#[test]
fn yaml_parse_error_has_position() {
    let rs = load("- rule: r\n  tags: [a, b\n- list: x\n");
    let e = first_error(&rs);
    assert_eq!(e.code, "LOAD_ERR_YAML_PARSE");
    assert_eq!(e.codedesc, "YAML parse error");
    let loc = e.context.location().unwrap();
    assert_eq!(loc.file, "test.yaml");
    assert!(loc.line >= 2, "{loc:?}");
    assert!(!rs.results[0].successful());
}

#[test]
fn yaml_structure_errors() {
    let rs = err("rule: r\n", "LOAD_ERR_YAML_VALIDATE", "Rules content is not yaml array of objects");
    assert_eq!(first_error(&rs).context.locations.len(), 1);
    assert_eq!(first_error(&rs).context.locations[0].item_type.as_str(), "rules content");
    err("just text\n", "LOAD_ERR_YAML_VALIDATE", "Rules content is not yaml");
    err(
        "- [a, b]\n",
        "LOAD_ERR_YAML_VALIDATE",
        "Unexpected element type. Each element should be a yaml associative array.",
    );
    // empty documents and null items are fine
    ok("");
    ok("---\n...\n");
    ok("- \n- list: a\n  items: []\n");
}

#[test]
fn invalid_utf8_and_missing_files() {
    let mut l = Loader::new(LoaderOptions::default());
    l.load_bytes("bin.yaml", b"- list: a\n  items: [\xff]\n");
    l.load_file("/nonexistent/harrier/rules.yaml");
    let rs = l.finish(None);
    assert_eq!(rs.results[0].errors[0].code, "LOAD_ERR_YAML_PARSE");
    assert_eq!(rs.results[0].errors[0].context.location().unwrap().line, 2);
    assert_eq!(rs.results[1].errors[0].code, "LOAD_ERR_FILE_READ");
}

#[test]
fn condition_parse_error_maps_to_file_position() {
    let mut l = Loader::new(LoaderOptions::default());
    l.load_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bad_condition.yaml"));
    let rs = l.finish(None);
    let e = first_error(&rs);
    assert_eq!(e.code, "LOAD_ERR_COMPILE_CONDITION");
    let locs = &e.context.locations;
    assert_eq!(locs[1].item_type.as_str(), "rule");
    assert_eq!(locs[1].item_name, "Broken");
    assert_eq!(locs[2].item_type.as_str(), "rule condition");
    assert_eq!(locs[3].item_type.as_str(), "condition expression");
    assert_eq!(locs[3].name, "\"good and proc.name =\"");
    // the error is at the end of `good and proc.name =` on line 7 (1-based), after column 14
    let loc = e.context.location().unwrap();
    assert_eq!(loc.line, 7);
    assert!(loc.column > 14, "{loc:?}");
    let text = rs.to_text();
    assert!(text.contains("bad_condition.yaml:7:"), "{text}");
    assert!(text.contains("error LOAD_ERR_COMPILE_CONDITION: rule 'Broken': "), "{text}");
    assert!(text.contains("  condition: good and proc.name ="), "{text}");
    assert!(text.contains('^'), "{text}");
}

#[test]
fn folded_condition_positions() {
    let rs = load("- rule: r\n  desc: d\n  condition: >\n    evt.type = open\n    and proc.name in (\n  output: o\n  priority: INFO\n");
    let loc = first_error(&rs).context.location().unwrap().clone();
    assert_eq!(first_error(&rs).code, "LOAD_ERR_COMPILE_CONDITION");
    assert_eq!(loc.line, 5, "{loc:?}");
}

#[test]
fn json_shape() {
    let rs = load("- macro: m\n  condition: evt.type = open\n- rule: r\n  desc: d\n  condition: evt.type = open and undefined_one\n  output: o\n  priority: INFO\n");
    let v = rs.to_json_value();
    let results = v["falco_load_results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["name"], "test.yaml");
    assert_eq!(r["successful"], false);
    let e = &r["errors"][0];
    assert_eq!(e["code"], "LOAD_ERR_VALIDATE");
    assert_eq!(e["codedesc"], "Error validating rule/macro/list/exception objects");
    assert_eq!(e["message"], "Undefined macro 'undefined_one' used in filter.");
    let locs = e["context"]["locations"].as_array().unwrap();
    assert_eq!(locs[0]["item_type"], "rules content");
    assert_eq!(locs[0]["position"]["name"], "test.yaml");
    assert_eq!(locs[1]["item_type"], "rule");
    assert_eq!(locs[1]["item_name"], "r");
    // yaml-cpp convention: 0-based line/column, byte offset
    assert_eq!(locs[1]["position"]["line"], 2);
    assert_eq!(locs[1]["position"]["column"], 2);
    assert_eq!(locs[1]["position"]["offset"], 42);
    for k in ["line", "column", "offset", "name"] {
        assert!(locs[1]["position"].get(k).is_some());
    }
    assert!(e["context"]["snippet"].as_str().unwrap().contains('^'));
    assert!(r["warnings"].is_array());
    // round trip through text
    let parsed: serde_json::Value = serde_json::from_str(&rs.to_json()).unwrap();
    assert_eq!(parsed, v);
}

struct Checker;

impl ConditionChecker for Checker {
    fn knows_source(&self, source: &str) -> bool {
        source == "syscall"
    }
    fn check_condition(&self, _source: &str, expr: &Expr) -> Result<Vec<String>, String> {
        let mut bad = None;
        harrier_condition::walk_fields(expr, &mut |f| {
            if f.name.starts_with("nope.") {
                bad = Some(format!("filter_check called with nonexistent field {}", f.name));
            }
        });
        match bad {
            Some(b) => Err(b),
            None => Ok(vec![]),
        }
    }
    fn check_output(&self, _source: &str, output: &str) -> Result<(), String> {
        if output.contains("%bad") {
            Err("invalid formatting token bad".into())
        } else {
            Ok(())
        }
    }
    fn is_field_defined(&self, _source: &str, field: &str) -> bool {
        !field.starts_with("nope.")
    }
}

fn checked(text: &str) -> harrier_rules::Ruleset {
    load_with(&[("c.yaml", text)], LoaderOptions::default(), Some(&Checker))
}

fn r(name: &str, cond: &str, output: &str, extra: &str) -> String {
    format!(
        "- rule: {name}\n  desc: d\n  condition: {cond}\n  output: \"{output}\"\n  priority: INFO\n{extra}"
    )
}

#[test]
fn checker_integration() {
    // unknown source: warning, rule skipped
    let rs = checked(&r("k", "ka.verb = get", "o", "  source: k8s_audit\n"));
    assert!(!rs.has_errors());
    let w = rs.warnings().find(|w| w.code == "LOAD_UNKNOWN_SOURCE").unwrap();
    assert_eq!(w.message, "Unknown source k8s_audit, skipping");
    assert!(rs.rules.is_empty());
    // condition error
    let rs = checked(&r("bad", "nope.field = 1", "o", ""));
    let e = first_error(&rs);
    assert_eq!(e.code, "LOAD_ERR_COMPILE_CONDITION");
    assert_eq!(e.message, "filter_check called with nonexistent field nope.field");
    assert_eq!(e.context.locations[1].item_name, "bad");
    // output error
    let rs = checked(&r("out", "evt.type = open", "%bad", ""));
    assert_eq!(first_error(&rs).code, "LOAD_ERR_COMPILE_OUTPUT");
    assert_eq!(first_error(&rs).context.locations.last().unwrap().item_type.as_str(), "rule output");
    // skip-if-unknown-filter downgrades to a warning and skips the rule
    let rs = checked(&r("skip", "nope.field = 1", "o", "  skip-if-unknown-filter: true\n"));
    assert!(!rs.has_errors());
    assert!(warning_codes(&rs).contains(&"LOAD_UNKNOWN_FILTER"));
    assert!(rs.rules.is_empty());
    // exception fields are validated against the source
    let rs = checked(&r(
        "ex",
        "evt.type = open",
        "o",
        "  exceptions:\n    - name: e\n      fields: [nope.x]\n      values: [[1]]\n",
    ));
    assert_eq!(first_error(&rs).message, "'nope.x' is not a supported filter field");
    // a disabled rule is still checked
    let rs = checked(&r("dis", "nope.field = 1", "o", "  enabled: false\n"));
    assert!(rs.has_errors());
}
