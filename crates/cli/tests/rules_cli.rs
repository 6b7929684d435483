//! `harrier rules …`, `-V`, `-L`, `-l`, `--list`.

mod common;
use common::*;

#[test]
fn validate_official_files_text_and_json() {
    let files = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"].map(official);
    let args: Vec<&str> = std::iter::once("rules")
        .chain(std::iter::once("validate"))
        .chain(files.iter().map(|p| p.to_str().unwrap()))
        .collect();
    let o = harrier(&args);
    assert!(o.status.success(), "{}", stdout(&o));
    assert_eq!(
        stdout(&o).lines().filter(|l| l.ends_with(": Ok") || l.ends_with(": Ok, with warnings")).count(),
        3
    );

    let o = harrier(&["-V", files[0].to_str().unwrap(), "-o", "json_output=true"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let r = &v["falco_load_results"][0];
    assert_eq!(r["successful"], true);
    assert!(r["name"].as_str().unwrap().ends_with("falco_rules.yaml"));
    assert!(r["errors"].as_array().unwrap().is_empty());
}

#[test]
fn validate_reports_position_code_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(
        dir.path(),
        "bad.yaml",
        "- macro: m\n  condition: proc.name = x\n- rule: r\n  desc: d\n  condition: evt.type = open and (proc.name = cat\n  output: o\n  priority: INFO\n",
    );
    let o = harrier(&["rules", "validate", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("Invalid") && out.contains("LOAD_ERR_COMPILE_CONDITION"), "{out}");
    assert!(out.contains("bad.yaml:5:"), "position of the condition: {out}");
    let o = harrier(&["rules", "validate", "--json", f.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let e = &v["falco_load_results"][0]["errors"][0];
    assert_eq!(e["code"], "LOAD_ERR_COMPILE_CONDITION");
    let locs = e["context"]["locations"].as_array().unwrap();
    assert!(locs.iter().any(|l| l["item_type"] == "rule" && l["item_name"] == "r"), "{locs:?}");
    let ok = write_rules(
        dir.path(),
        "warn.yaml",
        "- macro: m\n  condition: proc.name = x\n- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n",
    );
    let o = harrier(&["rules", "validate", "--json", ok.to_str().unwrap()]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let w = &v["falco_load_results"][0]["warnings"];
    assert!(w.as_array().unwrap().iter().any(|w| w["code"] == "LOAD_UNUSED_MACRO"), "{w}");

    let o = harrier(&["rules", "validate", dir.path().join("nope.yaml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope.yaml"));
}

#[test]
fn check_condition_prints_canonical_form_or_positioned_error() {
    let o =
        harrier(&["rules", "check-condition", "proc.name in (bash,sh) and not fd.name startswith '/dev'"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), "(proc.name in (bash, sh) and not fd.name startswith /dev)");

    let o = harrier(&["rules", "check-condition", "proc.name = a and\n (fd.name = b"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));

    // Without --source only the grammar is checked; with it, fields and values too.
    let o = harrier(&["rules", "check-condition", "proc.nosuch = 1"]);
    assert!(o.status.success());
    let o = harrier(&["rules", "check-condition", "--source", "syscall", "proc.nosuch = 1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("proc.nosuch"), "{}", stderr(&o));
    let o = harrier(&["rules", "check-condition", "--source", "syscall", "fd.sport = abc"]);
    assert_eq!(o.status.code(), Some(1));
    let o = harrier(&["rules", "check-condition", "--source", "k8s_audit", "ka.verb = create"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = harrier(&["rules", "check-condition", "--source", "nosuch", "a.b = c"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn list_fields_and_rules() {
    let o = harrier(&["--list", "syscall"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l.starts_with("proc.aname[N]?") && l.contains("string")),
        "proc.aname listed"
    );
    assert!(out.lines().any(|l| l.starts_with("fd.sport ") && l.contains("port")));
    assert!(!out.contains("ka.verb"), "only the syscall source");
    let o = harrier(&["--list"]);
    assert!(stdout(&o).contains("ka.verb") && stdout(&o).contains("Source: okta"));
    let o = harrier(&["--list", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));

    let f = official("falco_rules.yaml");
    let o = harrier(&["-L", "-r", f.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().count(), 1 + 25, "header + 25 rules");
    let o = harrier(&["-l", "Terminal shell in container", "-r", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Priority: Notice"), "{}", stdout(&o));
    let o = harrier(&["-l", "No such rule", "-r", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn help_and_version() {
    let o = harrier(&["--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("Falco-compatible form"));
    let o = harrier(&["--version"]);
    assert!(o.status.success() && stdout(&o).contains("harrier"));
}

#[test]
fn default_rules_load_without_errors_or_warnings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let o = harrier(&["rules", "validate", dir.join("harrier_rules.yaml").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).trim().ends_with(": Ok"), "no warnings expected: {}", stdout(&o));
    // `harrier rules list` without -r lists the default rules.
    let o = harrier(&["rules", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Terminal shell in container"));
}

#[test]
fn rules_without_event_type_restriction_warn_unless_asked_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(
        dir.path(),
        "evt.yaml",
        "- rule: any\n  desc: d\n  condition: proc.name = cat\n  output: o\n  priority: INFO\n\
         - rule: quiet\n  desc: d\n  condition: proc.name = cat\n  output: o\n  priority: INFO\n  warn_evttypes: false\n\
         - rule: typed\n  desc: d\n  condition: evt.type = open and proc.name = cat\n  output: o\n  priority: INFO\n",
    );
    let o = harrier(&["rules", "validate", "--json", f.to_str().unwrap()]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let warned: Vec<&str> = v["falco_load_results"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "LOAD_NO_EVTTYPE")
        .flat_map(|w| w["context"]["locations"].as_array().unwrap().iter())
        .filter(|l| l["item_type"] == "rule")
        .map(|l| l["item_name"].as_str().unwrap())
        .collect();
    assert_eq!(warned, ["any"]);
}

#[test]
fn partial_syscall_families_warn() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(
        dir.path(),
        "fam.yaml",
        "- rule: only openat\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow\n  output: o\n  priority: INFO\n\
         - rule: whole family\n  desc: d\n  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow\n  output: o\n  priority: INFO\n",
    );
    let o = harrier(&["rules", "validate", f.to_str().unwrap()]);
    assert!(o.status.success(), "a warning, not an error");
    let out = stdout(&o);
    assert!(
        out.contains(
            "LOAD_PARTIAL_SYSCALL_FAMILY: rule 'only openat': the rule watches openat but not open, openat2"
        ),
        "{out}"
    );
    assert!(!out.contains("rule 'whole family'"), "{out}");
}

/// `-V` reports like Falco's (falcosecurity/testing's legacy validation tests): a YAML syntax
/// error is LOAD_ERR_YAML_PARSE with yaml-cpp's wording and 1-based position, an engine version
/// that is no number nor semver is LOAD_ERR_YAML_VALIDATE on the required_engine_version item,
/// and a rule of a source that is not loaded is a LOAD_UNKNOWN_SOURCE warning while the rest loads.
#[test]
fn validation_reports_use_falcos_codes_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let v = |name: &str, text: &str| -> (i32, serde_json::Value) {
        let f = write_rules(dir.path(), name, text);
        let o = harrier(&["-V", f.to_str().unwrap(), "-o", "json_output=true"]);
        let j: serde_json::Value =
            serde_json::from_str(stdout(&o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
        (o.status.code().unwrap(), j["falco_load_results"][0].clone())
    };
    let (code, r) = v("p.yaml", "this : is : not : yaml");
    assert_eq!(code, 1);
    let e = &r["errors"][0];
    assert_eq!(e["code"], "LOAD_ERR_YAML_PARSE");
    assert_eq!(e["message"], "yaml-cpp: error at line 1, column 11: illegal map value");
    assert!(e["context"]["locations"].as_array().unwrap().iter().any(|l| l["item_type"] == "rules content"));

    let (code, r) = v("s.yaml", "- list: l\n  items: [a, b\n");
    assert_eq!(code, 1);
    assert!(r["errors"][0]["message"].as_str().unwrap().ends_with(": end of sequence flow not found"), "{r}");

    let (code, r) = v("e.yaml", "- required_engine_version: not-a-number\n");
    assert_eq!(code, 1);
    let e = &r["errors"][0];
    assert_eq!(e["code"], "LOAD_ERR_YAML_VALIDATE");
    assert_eq!(
        e["message"],
        "Unable to parse engine version 'not-a-number' as a semver string. Expected \"x.y.z\" semver format."
    );
    assert!(e["context"]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["item_type"] == "required_engine_version"));

    let (code, r) = v(
        "u.yaml",
        "- rule: Rule1\n  desc: d\n  condition: x.y = 1\n  output: o\n  priority: INFO\n  source: no_such_source\n\
         - rule: Rule2\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n",
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["successful"], true);
    let w = &r["warnings"][0];
    assert_eq!(w["code"], "LOAD_UNKNOWN_SOURCE");
    assert_eq!(w["message"], "Unknown source no_such_source, skipping");
    assert!(w["context"]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["item_name"] == "Rule1" && l["item_type"] == "rule"));
}

/// The condition language's edges, as libsinsp has them: escapes by quote kind, NUL refused,
/// no case-insensitive matching on byte buffers, operators that need a blank after them, and
/// `--canonical` printing exactly libsinsp's `ast::as_string` form.
#[test]
fn condition_edges_follow_libsinsp() {
    let check = |args: &[&str]| {
        let mut a = vec!["rules", "check-condition"];
        a.extend_from_slice(args);
        let o = harrier(&a);
        (o.status.success(), stdout(&o).trim_end_matches('\n').to_string(), stderr(&o))
    };
    assert_eq!(check(&[r"proc.name = 'it\'s'"]).1, r#"proc.name = "it's""#);
    let (ok, _, err) = check(&[r#"proc.name = 'it\"s'"#]);
    assert!(!ok && err.contains(r#"invalid \" escape in '-quoted string"#), "{err}");
    let (ok, _, err) = check(&[r#"proc.name = "it\'s""#]);
    assert!(!ok && err.contains(r#"invalid \' escape in "-quoted string"#), "{err}");
    let (ok, _, err) = check(&[r#"proc.name contains "a\x00b""#]);
    assert!(!ok && err.contains("NUL"), "{err}");
    let (ok, _, err) = check(&["--source", "syscall", "evt.buffer icontains abc"]);
    assert!(!ok && err.contains("icontains"), "{err}");
    assert!(check(&["--source", "syscall", "evt.buffer bcontains 616263"]).0);
    let (ok, _, err) = check(&["fd.name contains/etc"]);
    assert!(!ok && err.contains("blank"), "{err}");
    let (ok, _, err) = check(&["evt.type=open andproc.name=cat"]);
    assert!(!ok && err.contains("after 'and'"), "{err}");

    // libsinsp's printing: quotes only where escape_str puts them, nothing for an empty value,
    // transformer arguments joined with ',' and quoted only when needed.
    for (input, printed) in [
        ("a and b or not c", "((a and b) or not c)"),
        (r#"proc.name in (a, "b c", "x,y")"#, r#"proc.name in (a, "b c", x,y)"#),
        ("proc.name = ''", "proc.name = "),
        (r#"concat(proc.name, "-", "a b") = x"#, r#"concat(proc.name,-,"a b") = x"#),
        (r#"proc.aname[""] = x"#, r#"proc.aname[""] = x"#),
        (r#"fd.name = "a\\b""#, r#"fd.name = "a\\b""#),
    ] {
        let (ok, out, err) = check(&["--canonical", input]);
        assert!(ok, "{input}: {err}");
        assert_eq!(out, printed, "{input}");
    }
}

/// `--dry-run` loads the configuration and rules and processes nothing (no probe: it works
/// without root); invalid rules or keys still fail it.
#[test]
fn dry_run_checks_configuration_and_rules_only() {
    let o = harrier(&["run", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("dry run: the configuration and 1 rule file(s) are valid"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("Opening 'syscall' source"), "{}", stderr(&o));
    let o = harrier(&["run", "--dry-run", "-o", "outputs_queue.capacity=lots"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("outputs_queue.capacity"), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let bad = write_rules(
        dir.path(),
        "bad.yaml",
        "- rule: x\n  desc: d\n  condition: proc.nme = x\n  output: o\n  priority: INFO\n",
    );
    let o = harrier(&["run", "--dry-run", "-r", bad.to_str().unwrap()]);
    assert!(!o.status.success());
}
