//! Detection quality: specific default rules win over generic ones under `rule_matching: first`,
//! and alert storms are folded (first alert at once, repeats counted in a summary, nothing lost).
//! Synthetic captures replayed with `harrier replay`; no root needed.

mod common;
mod synth;

use common::*;
use synth::*;

fn login_shell(s: &mut Synth) -> u64 {
    s.process(50, 1, "/usr/sbin/sshd", &["-D"]);
    s.process(100, 50, "/usr/bin/bash", &[]).tty = TTY_PTS0 as u32;
    100
}

fn replay_with(cap: &std::path::Path, opts: &[&str]) -> Vec<serde_json::Value> {
    replay_default_rules_with(cap, opts)
}

fn rules_of(alerts: &[serde_json::Value]) -> Vec<String> {
    alerts.iter().map(|a| a["rule"].as_str().unwrap().to_string()).collect()
}

/// Writes that a generic rule (Write below etc / root home / binary directory) would also catch
/// are reported by the specific rule under `rule_matching: first`, as under `all`.
#[test]
fn specific_rules_win_under_first_match() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("/etc/cron.d/harrier-test", "Cron or systemd persistence"),
        ("/etc/systemd/system/evil.service", "Cron or systemd persistence"),
        ("/root/.bashrc", "Shell configuration modified"),
        ("/etc/profile", "Shell configuration modified"),
    ];
    for (path, rule) in cases {
        let mut s = Synth::new();
        let sh = login_shell(&mut s);
        let p = s.spawn(sh, Cmd::new("/usr/bin/tee", &["-a", path]));
        s.open(p, 3, path, flags::APPEND);
        let cap = dir.path().join("w.scap");
        s.write(&cap);
        let first = rules_of(&replay_with(&cap, &["-o", "rule_matching=first"]));
        assert_eq!(first, [rule], "{path} under first");
        let all = rules_of(&replay_with(&cap, &["-o", "rule_matching=all"]));
        assert_eq!(all[0], rule, "{path} under all: the specific rule comes first");
        assert!(all.len() >= 2, "{path}: a generic rule also matches under all ({all:?})");
    }
}

/// 200 reads of /etc/shadow by one program and 3 by another: with `fold.enabled`, each program's
/// first alert goes out, and the 199 and 2 repeats arrive as one summary each, with the count.
#[test]
fn a_storm_folds_into_first_alerts_and_counted_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Synth::new();
    let sh = login_shell(&mut s);
    let a = s.spawn(sh, Cmd::new("/usr/local/bin/scraper", &[]));
    for _ in 0..200 {
        s.open(a, 3, "/etc/shadow", flags::READ);
    }
    let b = s.spawn(sh, Cmd::new("/usr/bin/cat", &["/etc/shadow"]));
    for _ in 0..3 {
        s.open(b, 3, "/etc/shadow", flags::READ);
    }
    let cap = dir.path().join("storm.scap");
    s.write(&cap);

    let plain = replay_with(&cap, &[]);
    assert_eq!(plain.len(), 203, "without folding every alert is printed");

    let folded = replay_with(&cap, &["-o", "fold.enabled=true", "-o", "fold.window=10m"]);
    assert_eq!(folded.len(), 4, "{folded:#?}");
    let firsts: Vec<&serde_json::Value> =
        folded.iter().filter(|a| a["output_fields"].get("harrier.fold.count").is_none()).collect();
    let sums: Vec<&serde_json::Value> =
        folded.iter().filter(|a| a["output_fields"].get("harrier.fold.count").is_some()).collect();
    assert_eq!(firsts.len(), 2);
    let mut counts: Vec<u64> =
        sums.iter().map(|a| a["output_fields"]["harrier.fold.count"].as_u64().unwrap()).collect();
    counts.sort();
    assert_eq!(counts, [2, 199], "every repeat is counted in a summary");
    for s in &sums {
        assert!(s["output"].as_str().unwrap().contains("more times in 600s"), "{s}");
        assert!(s["tags"].as_array().unwrap().iter().any(|t| t == "folded"));
        assert_eq!(s["rule"], plain[0]["rule"], "a summary keeps its rule (routing, tuning)");
    }

    // Keys chosen per rule: by rule alone, the two programs are one storm.
    let cfg = dir.path().join("fold.yaml");
    std::fs::write(
        &cfg,
        "fold:\n  enabled: true\n  window: 10m\n  rules:\n    - rule: 'Read sensitive*'\n      keys: []\n",
    )
    .unwrap();
    let by_rule = harrier(&[
        "-c",
        cfg.to_str().unwrap(),
        "-r",
        default_rules_file().to_str().unwrap(),
        "-o",
        "engine.kind=replay",
        "-o",
        &format!("engine.replay.capture_file={}", cap.display()),
        "-o",
        "json_output=true",
    ]);
    assert!(by_rule.status.success(), "{}", stderr(&by_rule));
    let alerts = json_alerts(&by_rule);
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert_eq!(alerts[1]["output_fields"]["harrier.fold.count"], 202);

    let bad = harrier(&[
        "replay",
        "--quiet",
        cap.to_str().unwrap(),
        "-o",
        "fold.enabled=true",
        "-o",
        "fold.window=soon",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("fold.window"), "{}", stderr(&bad));
}

/// `harrier tune` on a recorded storm proposes an exception that silences it, with all its
/// evidence; loaded as an overlay after the default rules, the storm is gone and the one-off read
/// by another program still raises its alert.
#[test]
fn tune_silences_a_recorded_storm_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Synth::new();
    let sh = login_shell(&mut s);
    let agent = s.spawn(sh, Cmd::new("/usr/local/bin/backup-agent", &["--nightly"]));
    for _ in 0..50 {
        s.open(agent, 3, "/etc/shadow", flags::READ);
    }
    let thief = s.spawn(sh, Cmd::new("/usr/bin/cat", &["/etc/shadow"]));
    s.open(thief, 3, "/etc/shadow", flags::READ);
    let cap = dir.path().join("storm.scap");
    s.write(&cap);

    let before = replay_with(&cap, &[]);
    assert_eq!(before.len(), 51);
    let alerts = dir.path().join("alerts.jsonl");
    std::fs::write(&alerts, before.iter().map(|a| format!("{a}\n")).collect::<String>() + "garbage line\n")
        .unwrap();
    let overlay = dir.path().join("tuned.yaml");
    let o = harrier(&["tune", "--alerts", alerts.to_str().unwrap(), "--write", overlay.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = stdout(&o);
    let squeezed = summary.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squeezed.contains("✓ silence 50 proc.name = backup-agent"), "{summary}");
    assert!(squeezed.contains("· keep 1 proc.name=cat"), "{summary}");
    assert!(stderr(&o).contains("1 line(s)"), "the garbage line is reported: {}", stderr(&o));
    let y = std::fs::read_to_string(&overlay).unwrap();
    assert!(y.contains("backup-agent") && y.contains("exceptions: append"), "{y}");
    assert!(!y.contains("\"cat\""), "the one-off is not excepted: {y}");

    let rules = default_rules_file();
    let o = harrier(&[
        "replay",
        "--quiet",
        cap.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--rules",
        overlay.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = json_alerts(&o);
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_eq!(after[0]["output_fields"]["proc.name"], "cat");

    let o = harrier(&["tune", "--alerts", alerts.to_str().unwrap(), "--json"]);
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(j["proposals"][0]["silences"], 50);
    assert_eq!(j["alerts"], 51);
}

/// `harrier rules explain` on a real alert of the default rules: the checks its fields decide are
/// marked, the macro is opened, and an exception that would silence it is proposed.
#[test]
fn explain_shows_which_checks_held_and_how_to_silence() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Synth::new();
    let sh = login_shell(&mut s);
    let p = s.spawn(sh, Cmd::new("/usr/local/bin/scraper", &["--all"]));
    s.open(p, 3, "/etc/shadow", flags::READ);
    let cap = dir.path().join("one.scap");
    s.write(&cap);
    let alerts = replay_with(&cap, &[]);
    assert_eq!(alerts.len(), 1);
    let f = dir.path().join("alert.json");
    std::fs::write(&f, alerts[0].to_string()).unwrap();

    let o = harrier(&["rules", "explain", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("Rule: Read sensitive file by untrusted program"), "{text}");
    assert!(text.contains("✓ fd.name in ("), "the sensitive-file check held: {text}");
    assert!(text.contains("? macro harrier_open_read"), "evt.type is not an output field: {text}");
    assert!(text.contains("exceptions: append") && text.contains("\"scraper\""), "{text}");

    let o = harrier(&["rules", "explain", "--json", f.to_str().unwrap()]);
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(j["rule"], "Read sensitive file by untrusted program");

    std::fs::write(&f, "{\"rule\": \"No such rule\"}").unwrap();
    let o = harrier(&["rules", "explain", f.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not in the loaded rules"), "{}", stderr(&o));
}

/// `harrier tune --store URL` reads the alert store (what `harrier ui` and the `store:` sink
/// keep) and proposes the same exception as from a file.
#[test]
fn tune_reads_the_alert_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Synth::new();
    let sh = login_shell(&mut s);
    let agent = s.spawn(sh, Cmd::new("/usr/local/bin/inventory", &[]));
    for _ in 0..12 {
        s.open(agent, 3, "/etc/shadow", flags::READ);
    }
    let cap = dir.path().join("s.scap");
    s.write(&cap);
    let alerts = replay_with(&cap, &[]);
    let db = dir.path().join("alerts.db");
    let url = format!("sqlite:{}", db.display());
    let store = harrier_store::open(&url).unwrap();
    let parsed: Vec<harrier_engine::Alert> =
        alerts.iter().map(|a| harrier_sinks::alert_from_json(a).expect("a Falco alert")).collect();
    store.insert(&parsed).unwrap();
    drop(store);
    let o = harrier(&["tune", "--store", &url, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(j["alerts"], 12);
    assert_eq!(j["proposals"][0]["silences"], 12);
    assert!(j["proposals"][0]["values"].to_string().contains("inventory"), "{j}");
    let o = harrier(&["tune"]);
    assert!(!o.status.success(), "--alerts or --store is required");
}
