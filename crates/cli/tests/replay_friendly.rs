//! `harrier replay FILE …`: rules, filter selection, writing captures.

mod common;
use common::*;

#[test]
fn filter_selects_events_like_sysdig_numbering() {
    let o = harrier(&[
        "replay",
        "--quiet",
        capture("cat_write.scap").to_str().unwrap(),
        "--filter",
        "proc.name = cat and evt.type = open",
        "-p",
        "%evt.num %evt.dir %fd.name",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8, "{out}");
    assert_eq!(lines[1], "141 < /etc/ld.so.cache");
    assert!(stderr(&o).contains("8 selected"), "{}", stderr(&o));
}

#[test]
fn bad_filter_is_a_clear_error() {
    let o = harrier(&["replay", capture("cat_write.scap").to_str().unwrap(), "--filter", "proc.name = (cat"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--filter"), "{}", stderr(&o));
}

#[test]
fn write_then_replay_gives_the_same_alerts_and_sysdig_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(
        dir.path(),
        "r.yaml",
        r#"
- rule: container_activity
  desc: d
  condition: evt.type in (open, openat, execve, connect) and container.id != host
  output: "%evt.type by %proc.name in %container.name (%container.image.repository) file=%fd.name"
  priority: NOTICE
"#,
    );
    for cap in ["run_as_user_0_container.scap", "cat_write.scap", "curl_google.scap"] {
        let input = capture(cap);
        let out = dir.path().join(format!("rt-{cap}"));
        let o = harrier(&[
            "replay",
            "--quiet",
            input.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--json",
            "-w",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let a1 = json_alerts(&o);
        let o2 = harrier(&[
            "replay",
            "--quiet",
            out.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--json",
        ]);
        assert!(o2.status.success(), "{}", stderr(&o2));
        assert_eq!(a1, json_alerts(&o2), "{cap}: same alerts after a round trip");
        let s = std::process::Command::new("sysdig")
            .arg("-r")
            .arg(&out)
            .output()
            .expect("sysdig installed (scripts/setup-tests.sh)");
        assert!(s.status.success(), "sysdig reads {cap}: {}", String::from_utf8_lossy(&s.stderr));
        assert!(!s.stdout.is_empty());
    }
}
