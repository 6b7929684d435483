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
    // The capture holds enter events: as in Falco, the rule fires on both halves of each open
    // (the enter half has no file yet), at the times Falco's own test suite expects.
    assert_eq!(
        lines,
        [
            "16:17:57.881781397: Warning An open was seen (command=cat /dev/null file=<NA>)",
            "16:17:57.881785348: Warning An open was seen (command=cat /dev/null file=/etc/ld.so.cache)",
            "16:17:57.881796705: Warning An open was seen (command=cat /dev/null file=<NA>)",
            "16:17:57.881799840: Warning An open was seen (command=cat /dev/null file=/lib/x86_64-linux-gnu/libc.so.6)",
            "16:17:57.882003104: Warning An open was seen (command=cat /dev/null file=<NA>)",
            "16:17:57.882008208: Warning An open was seen (command=cat /dev/null file=/usr/lib/locale/locale-archive)",
            "16:17:57.882045694: Warning An open was seen (command=cat /dev/null file=<NA>)",
            "16:17:57.882054739: Warning An open was seen (command=cat /dev/null file=/dev/null)",
        ]
    );
    assert!(out.contains("Events detected: 8"), "{out}");
    assert!(out.contains("   WARNING: 8") && out.contains("   open_from_cat: 8"), "{out}");
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
    assert_eq!(alerts.len(), 8);
    let a = &alerts[7];
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
    // Both halves of the four opens match first_rule; only the exit of /dev/null's open has the
    // file, so second_rule matches once, and only when every rule is reported.
    assert_eq!(names(&first), ["first_rule"; 8]);
    let mut expected = vec!["first_rule"; 8];
    expected.push("second_rule");
    assert_eq!(names(&all), expected);
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
    assert!(stdout(&o).contains("Events detected: 8"), "{}", stdout(&o));
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
    assert_eq!(f.lines().count(), 8);
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

/// Counts that Falco's own regression suite (falcosecurity/testing, legacy tests) asserts on the
/// reference captures, with rules of the same conditions written here: captures that hold enter
/// events are evaluated on both directions, `evt.dir = <` keeps exits only, a generic syscall
/// event is named after its syscall (`madvise`), and `base_syscalls.all` is accepted.
#[test]
fn counts_like_falco_on_captures_with_enter_events() {
    let dir = tempfile::tempdir().unwrap();
    let counts = |rules: &str, cap: &str, opts: &[&str]| -> std::collections::BTreeMap<String, u64> {
        let r = write_rules(dir.path(), "counts.yaml", rules);
        let mut o = vec!["json_output=true", "base_syscalls.all=true"];
        o.extend_from_slice(opts);
        let out = replay(&[&r], &capture(cap), &o);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut m = std::collections::BTreeMap::new();
        for a in json_alerts(&out) {
            *m.entry(a["rule"].as_str().unwrap().to_string()).or_default() += 1;
        }
        m
    };
    let cat = r#"
- macro: by_cat
  condition: proc.name = cat
- rule: cat_opens
  desc: d
  condition: evt.type = open and by_cat
  output: "open (%proc.cmdline)"
  priority: WARNING
- rule: cat_execs
  desc: d
  condition: evt.type = execve and by_cat
  output: "exec (%proc.cmdline)"
  priority: ERROR
- rule: cat_access
  desc: d
  condition: evt.type = access and by_cat
  output: "access (%proc.cmdline)"
  priority: INFO
"#;
    let m = counts(cat, "cat_write.scap", &["priority=warning"]);
    assert_eq!(m.get("cat_opens"), Some(&8), "{m:?}");
    assert_eq!(m.get("cat_execs"), Some(&1), "{m:?}");
    assert_eq!(m.get("cat_access"), None, "below the minimum priority: {m:?}");

    let order = r#"
- rule: null_opened
  desc: d
  condition: evt.type = open and fd.name = /dev/null
  output: "opened %fd.name"
  priority: INFO
- rule: null_anything
  desc: d
  condition: fd.name = /dev/null
  output: "touched %fd.name"
  priority: INFO
  warn_evttypes: false
"#;
    let m = counts(order, "cat_write.scap", &[]);
    assert_eq!((m.get("null_opened"), m.get("null_anything")), (Some(&1), Some(&6)), "{m:?}");

    let sys = r#"
- rule: madvise_exits
  desc: d
  condition: evt.type = madvise and evt.dir = <
  output: "madvise (%proc.cmdline %evt.type)"
  priority: INFO
- rule: null_open_exits
  desc: d
  condition: evt.type = open and evt.dir = < and fd.name = /dev/null
  output: "open %fd.name"
  priority: INFO
"#;
    let m = counts(sys, "syscall.scap", &[]);
    assert_eq!((m.get("madvise_exits"), m.get("null_open_exits")), (Some(&2), Some(&2)), "{m:?}");
}

/// Start-up log lines as Falco writes them: `TIME: message`, with `time_format_iso_8601` the UTC
/// time `YYYY-MM-DDTHH:MM:SS+0000`, else `Www Mmm DD HH:MM:SS YYYY`; the version, rules files and
/// how the source is opened, which tools grep for.
#[test]
fn log_lines_carry_falcos_time_prefix_and_start_up_lines() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_rules(dir.path(), "r.yaml", CAT_RULE);
    let o = replay(&[&r], &capture("cat_write.scap"), &["time_format_iso_8601=true"]);
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("+0000: ")).collect();
    for l in &lines {
        let (t, _) = l.split_once(": ").unwrap();
        assert_eq!(t.len(), "2026-12-04T03:17:57+0000".len(), "{l}");
        assert_eq!((&t[4..5], &t[10..11], &t[19..]), ("-", "T", "+0000"), "{l}");
    }
    let text = lines.join("\n");
    for want in ["Falco version: Harrier ", "Loading rules from:", "Replaying events from the capture file: "]
    {
        assert!(text.contains(want), "{want} missing:\n{err}");
    }
    assert!(text.contains(&format!("   {}", r.display())), "{err}");

    let o = replay(&[&r], &capture("cat_write.scap"), &[]);
    let err = stderr(&o);
    let v = err.lines().find(|l| l.contains("Falco version:")).unwrap();
    // Www Mmm DD HH:MM:SS YYYY
    let (t, _) = v.split_once(": Falco version").unwrap();
    assert_eq!(t.len(), 24, "{v}");
    assert_eq!(t.split(' ').count(), 5, "{v}");
}

/// A rule enabled or disabled only by a later item with `enabled:`, and a minimum priority over
/// several files with an appended condition, count as in Falco's legacy tests (8 opens with enter
/// events; none when disabled; none at priority ERROR for a WARNING rule).
#[test]
fn enabled_overrides_and_priority_over_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = "- rule: cat_open\n  desc: d\n  condition: evt.type=open and proc.name=cat\n  output: \"open\"\n  priority: WARNING\n";
    let count = |files: &[&std::path::Path], opts: &[&str]| -> usize {
        let mut o = vec!["json_output=true"];
        o.extend_from_slice(opts);
        let out = replay(files, &capture("cat_write.scap"), &o);
        assert!(out.status.success(), "{}", stderr(&out));
        json_alerts(&out).len()
    };
    let off = write_rules(dir.path(), "off.yaml", &format!("{base}\n- rule: cat_open\n  enabled: false\n"));
    assert_eq!(count(&[&off], &[]), 0);
    let on = write_rules(
        dir.path(),
        "on.yaml",
        &format!("{}  enabled: false\n\n- rule: cat_open\n  enabled: true\n", base),
    );
    assert_eq!(count(&[&on], &[]), 8);
    let one = write_rules(dir.path(), "one.yaml", base);
    let app = write_rules(
        dir.path(),
        "app.yaml",
        "- rule: cat_open\n  append: true\n  condition: and fd.name=/tmp\n",
    );
    assert_eq!(count(&[&one, &app], &["priority=ERROR"]), 0);
    assert_eq!(count(&[&one, &app], &[]), 0, "no open of /tmp in the capture");
    assert_eq!(count(&[&one], &["priority=WARNING"]), 8);
}
