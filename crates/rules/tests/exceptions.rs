mod common;
use common::*;

const BASE: &str = "
- rule: r
  desc: d
  condition: evt.type = open
  output: o
  priority: WARNING
";

fn with_exc(exc: &str) -> String {
    format!("{BASE}  exceptions:\n{exc}")
}

#[test]
fn list_fields_default_comps() {
    let rs = ok(&with_exc(
        "    - name: e1
      fields: [proc.name, fd.name]
      values:
        - [cat, /etc/passwd]
        - [my tool, /tmp/a b]
",
    ));
    assert_eq!(
        cond(&rs, "r"),
        "(evt.type = open) and not (( proc.name = cat and  fd.name = /etc/passwd) or ( proc.name = \"my tool\" and  fd.name = \"/tmp/a b\"))"
    );
    assert_eq!(rs.rule("r").unwrap().exception_fields, ["proc.name", "fd.name"]);
}

#[test]
fn list_fields_explicit_comps_list_values_and_list_names() {
    let rs = ok(&format!(
        "- list: shells
  items: [sh, bash]
{}",
        with_exc(
            "    - name: e1
      fields: [proc.name, proc.pname, fd.directory]
      comps: [in, startswith, pmatch]
      values:
        - [shells, run, [/tmp, /var/tmp]]
"
        )
    ));
    // the list name is wrapped in parentheses for a list operator, then substituted
    assert_eq!(
        cond(&rs, "r"),
        "(evt.type = open) and not (( proc.name in ( sh, bash ) and  proc.pname startswith run and  fd.directory pmatch (/tmp, /var/tmp)))"
    );
}

#[test]
fn scalar_fields_default_in() {
    let rs = ok(&with_exc(
        "    - name: e1
      fields: proc.name
      values: [cat, my tool]
",
    ));
    assert_eq!(cond(&rs, "r"), "(evt.type = open) and not (proc.name in (cat, \"my tool\"))");
}

#[test]
fn scalar_fields_with_pmatch_and_several_exceptions() {
    let rs = ok(&with_exc(
        "    - name: e1
      fields: fd.name
      comps: pmatch
      values: [/tmp]
    - name: e2
      fields: [proc.name]
      values: [[cat]]
",
    ));
    assert_eq!(
        cond(&rs, "r"),
        "(evt.type = open) and not (fd.name pmatch (/tmp)) and not (( proc.name = cat))"
    );
}

#[test]
fn numeric_values_and_empty_values() {
    let rs = ok(&with_exc(
        "    - name: e1
      fields: [fd.sport, proc.name]
      values:
        - [8080, nginx]
    - name: e2
      fields: [proc.name]
",
    ));
    assert_eq!(cond(&rs, "r"), "(evt.type = open) and not (( fd.sport = 8080 and  proc.name = nginx))");
}

#[test]
fn fields_values_length_mismatch() {
    err(
        &with_exc(
            "    - name: e1
      fields: [proc.name, fd.name]
      values:
        - [cat]
",
        ),
        "LOAD_ERR_VALIDATE",
        "Fields and values lists must have equal length",
    );
}

#[test]
fn fields_comps_length_mismatch() {
    let rs = err(
        &with_exc(
            "    - name: e1
      fields: [proc.name, fd.name]
      comps: [=]
      values: []
",
        ),
        "LOAD_ERR_VALIDATE",
        "Fields and comps lists must have equal length",
    );
    let loc = &first_error(&rs).context.locations;
    assert_eq!(loc.last().unwrap().item_type.as_str(), "exception");
    assert_eq!(loc.last().unwrap().item_name, "e1");
}

#[test]
fn unsupported_comparison_operator() {
    err(
        &with_exc(
            "    - name: e1
      fields: [proc.name]
      comps: [like]
      values: [[a]]
",
        ),
        "LOAD_ERR_VALIDATE",
        "'like' is not a supported comparison operator",
    );
}

#[test]
fn scalar_fields_need_list_comp() {
    err(
        &with_exc(
            "    - name: e1
      fields: proc.name
      comps: =
      values: [a]
",
        ),
        "LOAD_ERR_VALIDATE",
        "When fields is a single value, comps must be one of (in, pmatch, intersects)",
    );
    err(
        &with_exc(
            "    - name: e1
      fields: proc.name
      comps: [in]
      values: [a]
",
        ),
        "LOAD_ERR_VALIDATE",
        "Fields and comps must both be strings",
    );
}

#[test]
fn scalar_fields_values_must_be_strings() {
    err(
        &with_exc(
            "    - name: e1
      fields: proc.name
      values: [[a, b]]
",
        ),
        "LOAD_ERR_VALIDATE",
        "Expected values array to contain a list of strings",
    );
}

#[test]
fn structural_errors() {
    err(
        &with_exc(
            "    - name: e1
      values: [[a]]
",
        ),
        "LOAD_ERR_YAML_VALIDATE",
        "Item has no mapping for key 'fields'",
    );
    err(&with_exc("    - fields: [a]\n"), "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'name'");
    err(
        &with_exc("    - name: e1\n      fields: [proc.name]\n      values: x\n"),
        "LOAD_ERR_YAML_VALIDATE",
        "Rule exception values must be a sequence",
    );
    err(&format!("{BASE}  exceptions: 3\n"), "LOAD_ERR_YAML_VALIDATE", "Rule exceptions must be a sequence");
    err(&with_exc("    - just a string\n"), "LOAD_ERR_YAML_VALIDATE", "Rule exception must be a mapping");
    err(
        &with_exc("    - name: e1\n      fields: []\n      values: []\n"),
        "LOAD_ERR_VALIDATE",
        "Rule exception item must have fields property with a list of fields",
    );
}

#[test]
fn duplicate_exception_names_warn() {
    let rs = ok(&with_exc(
        "    - name: e1
      fields: [proc.name]
      values: [[a]]
    - name: e1
      fields: [proc.name]
      values: [[b]]
",
    ));
    assert!(warning_codes(&rs).contains(&"LOAD_EXCEPTION_NAME_NOT_UNIQUE"));
}

#[test]
fn append_exception_values_legacy_and_override() {
    let base = with_exc(
        "    - name: e1
      fields: [proc.name]
      values: [[a]]
",
    );
    // legacy append: values added to an existing exception, a new exception added
    let rs = ok(&format!(
        "{base}
- rule: r
  append: true
  exceptions:
    - name: e1
      values: [[b]]
    - name: e2
      fields: fd.name
      values: [/x]
"
    ));
    assert_eq!(
        cond(&rs, "r"),
        "(evt.type = open) and not (( proc.name = a) or ( proc.name = b)) and not (fd.name in (/x))"
    );
    // override form
    let rs = ok(&format!(
        "{base}
- rule: r
  exceptions:
    - name: e1
      values: [[c]]
  override:
    exceptions: append
"
    ));
    assert_eq!(cond(&rs, "r"), "(evt.type = open) and not (( proc.name = a) or ( proc.name = c))");
    // replace
    let rs = ok(&format!(
        "{base}
- rule: r
  exceptions:
    - name: other
      fields: [fd.name]
      values: [[z]]
  override:
    exceptions: replace
"
    ));
    assert_eq!(cond(&rs, "r"), "(evt.type = open) and not (( fd.name = z))");
}

#[test]
fn append_exception_errors() {
    let base = with_exc(
        "    - name: e1
      fields: [proc.name]
      values: [[a]]
",
    );
    err(
        &format!("{base}\n- rule: r\n  append: true\n  exceptions:\n    - name: e1\n      fields: [fd.name]\n      values: [[b]]\n"),
        "LOAD_ERR_VALIDATE",
        "Can not append exception fields to existing exception, only values",
    );
    err(
        &format!("{base}\n- rule: r\n  append: true\n  exceptions:\n    - name: e1\n      comps: [=]\n      values: [[b]]\n"),
        "LOAD_ERR_VALIDATE",
        "Can not append exception comps to existing exception, only values",
    );
    err(
        &format!(
            "{base}\n- rule: r\n  append: true\n  exceptions:\n    - name: unknown\n      values: [[b]]\n"
        ),
        "LOAD_ERR_VALIDATE",
        "Rule exception must have fields property with a list of fields",
    );
    err(
        &format!("{base}\n- rule: r\n  append: true\n  exceptions:\n    - name: unknown\n      fields: [fd.name]\n"),
        "LOAD_ERR_VALIDATE",
        "Rule exception must have values property with a list of values",
    );
    let rs = load(&format!("{base}\n- rule: r\n  append: true\n  exceptions:\n    - name: e1\n"));
    assert!(warning_codes(&rs).contains(&"LOAD_APPEND_NO_VALUES"));
}
