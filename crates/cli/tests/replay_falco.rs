//! Falco-compatible replay: `harrier -r RULES -o engine.kind=replay -o engine.replay.capture_file=F`.

mod common;
use common::*;

const CAT_RULE: &str = r#"
- rule: open_from_cat
  desc: cat opened a file
  condition: evt.type in (open, openat) and proc.name = cat
  output: "An open was seen (command=%proc.cmdline file=%fd.name)"
  priority: WARNING
  tags: [filesystem, test]
"#;

#[test]
fn cat_rule_fires_with_falco_text_lines() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_rules(dir.path(), "r.yaml", CAT_RULE);
    let o = replay(&[&r], &capture("cat_write.scap"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("An open was seen")).collect();
    assert_eq!(
        lines,
        [
            "16:17:57.881785348: Warning An open was seen (command=cat /dev/null file=/etc/ld.so.cache)",
            "16:17:57.881799840: Warning An open was seen (command=cat /dev/null file=/lib/x86_64-linux-gnu/libc.so.6)",
            "16:17:57.882008208: Warning An open was seen (command=cat /dev/null file=/usr/lib/locale/locale-archive)",
            "16:17:57.882054739: Warning An open was seen (command=cat /dev/null file=/dev/null)",
        ]
    );
    assert!(out.contains("Events detected: 4"), "{out}");
    assert!(out.contains("   WARNING: 4") && out.contains("   open_from_cat: 4"), "{out}");
}

#[test]
fn iso8601_time_format() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_rules(dir.path(), "r.yaml", CAT_RULE);
    let o = replay(&[&r], &capture("cat_write.scap"), &["time_format_iso_8601=true"]);
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l
            == "2016-08-04T16:17:57.882054739+0000: Warning An open was seen (command=cat /dev/null file=/dev/null)"),
        "{out}"
    );
}

#[test]
fn json_alerts_have_falco_fields_and_honour_include_options() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_rules(dir.path(), "r.yaml", CAT_RULE);
    let o = replay(&[&r], &capture("cat_write.scap"), &["json_output=true"]);
    let alerts = json_alerts(&o);
    assert_eq!(alerts.len(), 4);
    let a = &alerts[3];
    assert_eq!(a["rule"], "open_from_cat");
    assert_eq!(a["priority"], "Warning");
    assert_eq!(a["source"], "syscall");
    assert_eq!(a["hostname"], "test-host");
    assert_eq!(a["time"], "2016-08-04T16:17:57.882054739Z");
    assert_eq!(a["tags"], serde_json::json!(["filesystem", "test"]));
    assert_eq!(
        a["output"],
        "16:17:57.882054739: Warning An open was seen (command=cat /dev/null file=/dev/null)"
    );
    assert_eq!(a["output_fields"]["fd.name"], "/dev/null");
    assert_eq!(a["output_fields"]["proc.cmdline"], "cat /dev/null");

    let o = replay(
        &[&r],
        &capture("cat_write.scap"),
        &["json_output=true", "json_include_output_property=false", "json_include_tags_property=false"],
    );
    let a = &json_alerts(&o)[0];
    assert!(a.get("output").is_none() && a.get("tags").is_none(), "{a}");
    assert!(a.get("output_fields").is_some());
}

#[test]
fn rule_matching_first_and_all_differ() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_rules(
        dir.path(),
        "r.yaml",
        r#"
- rule: first_rule
  desc: d
  condition: evt.type = open and proc.name = cat
  output: first %fd.name
  priority: INFO
- rule: second_rule
  desc: d
  condition: evt.type = open and fd.name = /dev/null
  output: second %fd.name
  priority: INFO
"#,
    );
    let first = replay(&[&r], &capture("cat_write.scap"), &["json_output=true"]);
    let all = replay(&[&r], &capture("cat_write.scap"), &["json_output=true", "rule_matching=all"]);
    let names = |o: &std::process::Output| {
        json_alerts(o).iter().map(|a| a["rule"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(names(&first), ["first_rule"; 4]);
    assert_eq!(names(&all), ["first_rule", "first_rule", "first_rule", "first_rule", "second_rule"]);
}

#[test]
fn minimum_priority_and_tag_selection() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_rules(dir.path(), "r.yaml", CAT_RULE);
    let o = replay(&[&r], &capture("cat_write.scap"), &["priority=error"]);
    assert!(stdout(&o).contains("Events detected: 0"), "{}", stdout(&o));
    let o = replay(&[&r], &capture("cat_write.scap"), &["rules[].disable.tag=test"]);
    assert!(stdout(&o).contains("Events detected: 0"));
    let o = replay(
        &[&r],
        &capture("cat_write.scap"),
        &["rules[].disable.rule=*", "rules[].enable.tag=filesystem"],
    );
    assert!(stdout(&o).contains("Events detected: 4"), "{}", stdout(&o));
}

#[test]
fn file_and_program_outputs_receive_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_rules(dir.path(), "r.yaml", CAT_RULE);
    let file = dir.path().join("alerts.txt");
    let prog = dir.path().join("prog.txt");
    let o = replay(
        &[&r],
        &capture("cat_write.scap"),
        &[
            "file_output.enabled=true",
            &format!("file_output.filename={}", file.display()),
            "program_output.enabled=true",
            &format!("program_output.program=cat >> {}", prog.display()),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let f = std::fs::read_to_string(&file).unwrap();
    let p = std::fs::read_to_string(&prog).unwrap();
    let s: String = stdout(&o).lines().filter(|l| l.contains("An open")).map(|l| format!("{l}\n")).collect();
    assert_eq!(f.lines().count(), 4);
    assert_eq!(f, s);
    assert_eq!(p, s);
}

#[test]
fn official_syscall_rules_replay_every_capture() {
    let rules = [
        official("falco_rules.yaml"),
        official("falco-incubating_rules.yaml"),
        official("falco-sandbox_rules.yaml"),
    ];
    let refs: Vec<&std::path::Path> = rules.iter().map(|p| p.as_path()).collect();
    for entry in std::fs::read_dir(reference().join("scap")).unwrap() {
        let cap = entry.unwrap().path();
        let o = replay(&refs, &cap, &["json_output=true"]);
        assert!(o.status.success(), "{}: {}", cap.display(), stderr(&o));
        assert!(stdout(&o).contains("Events detected:"), "{}", cap.display());
        assert!(!stderr(&o).contains("error"), "{}: {}", cap.display(), stderr(&o));
    }
}

#[test]
fn bad_inputs_give_clear_errors_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_rules(dir.path(), "r.yaml", CAT_RULE);
    let o = replay(&[&r], &dir.path().join("missing.scap"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.scap"), "{}", stderr(&o));

    let bad = write_rules(
        dir.path(),
        "bad.yaml",
        "- rule: x\n  desc: d\n  condition: proc.nme = cat\n  output: o\n  priority: INFO\n",
    );
    let o = replay(&[&bad], &capture("cat_write.scap"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("LOAD_ERR_COMPILE_CONDITION") && stderr(&o).contains("proc.nme"),
        "{}",
        stderr(&o)
    );

    let junk = dir.path().join("junk.scap");
    std::fs::write(&junk, b"this is not a capture file at all").unwrap();
    let o = replay(&[&r], &junk, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));

    let o = harrier(&["-r", r.to_str().unwrap(), "-o", "json_output=perhaps", "-o", "engine.kind=replay"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("json_output"), "{}", stderr(&o));
}
