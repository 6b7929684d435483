//! `harrier profile` on synthetic captures (no root): learn from normal activity, replay an attack
//! with `profile:` enabled (profile alerts in the output), then show, accept and diff; a damaged
//! model file is reported and the replay still runs the rules.

mod common;
mod synth;

use common::*;
use std::process::Command;
use synth::*;

fn bin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_harrier")).args(args).output().unwrap()
}

fn normal(s: &mut Synth) -> u64 {
    s.process(1, 0, "/sbin/init", &[]);
    s.process(60, 1, "/usr/sbin/nginx", &["-g", "daemon off;"]);
    s.open(60, 10, "/var/log/nginx/access.log", flags::APPEND);
    s.connect(60, 12, [10, 0, 0, 20], 8080, false);
    s.spawn(60, Cmd::new("/usr/bin/logger", &["reload"]));
    60
}

/// The Falco form (`-c` config, `engine.kind=replay`).
fn replay_with(cap: &std::path::Path, cfg: &std::path::Path) -> std::process::Output {
    let file = format!("engine.replay.capture_file={}", cap.display());
    bin(&["-c", cfg.to_str().unwrap(), "-o", "engine.kind=replay", "-o", &file])
}

#[test]
fn learn_replay_show_accept_diff() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = Synth::new();
    normal(&mut s);
    let learn_cap = d.join("normal.scap");
    s.write(&learn_cap);
    let mut s = Synth::new();
    let ng = normal(&mut s);
    let p = s.spawn(ng, Cmd::new("/tmp/.x/implant", &[]));
    s.connect(p, 3, [203, 0, 113, 7], 4444, false);
    let attack_cap = d.join("attack.scap");
    s.write(&attack_cap);

    let pf = d.join("p.json");
    let o = bin(&["profile", "learn", learn_cap.to_str().unwrap(), "--file", pf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = d.join("before.json");
    std::fs::copy(&pf, &before).unwrap();

    let cfg = d.join("c.yaml");
    std::fs::write(&cfg, format!("json_output: true\nprofile:\n  enabled: true\n  file: {}\n", pf.display()))
        .unwrap();
    let o = replay_with(&attack_cap, &cfg);
    assert!(o.status.success(), "{}", stderr(&o));
    let alerts: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|a: &serde_json::Value| a["source"] == "profile")
        .collect();
    let items: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["output_fields"]["profile.kind"].as_str().unwrap().to_string(),
                a["output_fields"]["profile.item"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |k: &str, i: &str| items.iter().any(|(a, b)| a == k && b == i);
    assert!(has("exec", "/tmp/.x/implant"), "{items:?}\n{}", stderr(&o));
    assert!(has("spawn", "/usr/sbin/nginx -> /tmp/.x/implant"), "{items:?}");
    assert!(has("connect", "203.0.113.7:4444/tcp"), "{items:?}");
    assert!(
        !items.iter().any(|(_, i)| i.contains("logger") || i.contains("10.0.0.20")),
        "learned things: {items:?}"
    );
    let wl = alerts[0]["output_fields"]["profile.workload"].as_str().unwrap().to_string();

    let o = bin(&["profile", "show", "--file", pf.to_str().unwrap()]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains("PENDING exec /tmp/.x/implant"), "{text}");
    assert!(text.contains("/usr/bin/logger"), "{text}");

    let o = bin(&[
        "profile",
        "accept",
        "--file",
        pf.to_str().unwrap(),
        "--workload",
        &wl,
        "--kind",
        "exec",
        "--item",
        "/tmp/.x/implant",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = bin(&["profile", "diff", before.to_str().unwrap(), pf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "differences found");
    assert!(stdout(&o).contains("+ ") && stdout(&o).contains("exec  /tmp/.x/implant"), "{}", stdout(&o));
    let o = bin(&["profile", "accept", "--file", pf.to_str().unwrap(), "--workload", "nope"]);
    assert!(!o.status.success() && stderr(&o).contains("no workload 'nope'"));

    // A damaged model: reported, the replay runs (and profiles still work).
    let bad = d.join("bad-model.json");
    std::fs::write(&bad, "{]").unwrap();
    std::fs::write(
        &cfg,
        format!(
            "json_output: true\nprofile:\n  enabled: true\n  file: {}\n  scorer:\n    model: {}\n",
            pf.display(),
            bad.display()
        ),
    )
    .unwrap();
    let o = replay_with(&attack_cap, &cfg);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad-model.json") && stderr(&o).contains("scorer is off"), "{}", stderr(&o));
    // A damaged profile file: a clear error from show.
    std::fs::write(&pf, "not json").unwrap();
    let o = bin(&["profile", "show", "--file", pf.to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("not a profile file"), "{}", stderr(&o));
}
