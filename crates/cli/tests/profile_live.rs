//! Workload profiles live (root, real kernel, eBPF): a workload of this test learns for a few
//! seconds, then runs a binary it never ran (copied in after it started: drift too), writes to a
//! new directory and connects to a new destination; each raises a `profile` alert with
//! `profile.kind`, `profile.item` and `profile.workload`. The workload is a session led by a
//! uniquely named copy of bash, so its key (`exe:<that path>`) selects this test's processes only.
//! A damaged profile file is reported and detection starts anyway.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// The run's configuration: profiles on (4 s of learning), and `/metrics` served on `port`.
fn config(dir: &std::path::Path, profile_file: &std::path::Path, port: u16) -> std::path::PathBuf {
    let cfg = dir.join("harrier.yaml");
    std::fs::write(
        &cfg,
        format!(
            "json_output: true\njson_include_output_fields_property: true\nprofile:\n  enabled: true\n  file: {}\n  learn: 4s\n  save_every: 1s\n\
             webserver:\n  enabled: true\n  listen_address: 127.0.0.1\n  listen_port: {port}\n  prometheus_metrics_enabled: true\n\
             metrics:\n  enabled: true\n  interval: 1s\n  output_file: {}\n",
            profile_file.display(),
            dir.join("metrics.jsonl").display(),
        ),
    )
    .unwrap();
    cfg
}

/// The value of a `/metrics` line `name` (with its labels, exactly), if present.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn a_learned_workload_doing_something_new_raises_profile_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let pfile = d.join("profiles.json");
    let mport = free_port();
    let cfg = config(&d, &pfile, mport);
    let leader = d.join(format!("wl-bash-{}", std::process::id()));
    std::fs::copy("/bin/bash", &leader).unwrap();
    std::fs::create_dir_all(d.join("usual")).unwrap();
    std::fs::create_dir_all(d.join("new")).unwrap();
    // The new destination is another address: ports a program gets by binding port 0 are one
    // profile item (`ephemeral`), so a new port alone on the same address is not new.
    let listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let usual = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let usual_port = usual.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().chain(std::iter::empty()) {
            drop(s);
        }
    });
    std::thread::spawn(move || {
        for s in usual.incoming() {
            drop(s);
        }
    });
    let run = spawn_ready(&["run", "-c", cfg.to_str().unwrap()], "live detection started");
    let script = format!(
        r#"
        # Learning: the usual things, for 2 s.
        for i in 1 2 3 4; do
            /usr/bin/true
            echo x > {d}/usual/f$i
            exec 3<>/dev/tcp/127.0.0.1/{usual_port}; exec 3>&-
            sleep 0.5
        done
        # Past the 4 s window: something new of each kind.
        sleep 4
        cp /usr/bin/id {d}/newbin
        {d}/newbin > /dev/null
        echo x > {d}/new/f
        exec 3<>/dev/tcp/127.0.0.2/{port}; exec 3>&-
        sleep 1
        "#,
        d = d.display()
    );
    let st = Command::new("setsid").arg("-w").arg(&leader).arg("-c").arg(&script).status().unwrap();
    assert!(st.success(), "workload script failed");
    let workload = format!("exe:{}", leader.display());
    let want = [
        ("exec", format!("{}/newbin", d.display())),
        ("drift", format!("{}/newbin", d.display())),
        ("write_dir", harrier_profile::profile::generalise_dir(&format!("{}/new", d.display()))),
        (
            "connect",
            format!("127.0.0.2:{}/tcp", harrier_profile::profile::generalise_port(&port.to_string())),
        ),
    ];
    let mut mine: Vec<serde_json::Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(45);
    while Instant::now() < deadline {
        while let Ok((_, line)) = run.stdout.try_recv() {
            let Ok(a) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if a["source"] == "profile" && a["output_fields"]["profile.workload"] == workload.as_str() {
                mine.push(a);
            }
        }
        let has = |k: &str, i: &str| {
            mine.iter()
                .any(|a| a["output_fields"]["profile.kind"] == k && a["output_fields"]["profile.item"] == i)
        };
        if want.iter().all(|(k, i)| has(k, i)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The stage's counters on /metrics (refreshed every second): events it was shown, the
    // workload past its window, the deviations it raised by kind, the queue it never filled.
    // The families are refreshed at different moments: wait until every one has its value.
    let wanted = [
        ("harrier_profile_deviations_total{kind=\"drift\"}", 1.0),
        ("harrier_profile_events_seen_total", 1000.0),
        ("harrier_profile_observations_queued_total", 10.0),
        ("harrier_profile_workloads{state=\"enforcing\"}", 1.0),
        ("harrier_profile_deviations_total{kind=\"exec\"}", 1.0),
        ("harrier_profile_deviations_total{kind=\"write_dir\"}", 1.0),
        ("harrier_profile_deviations_total{kind=\"connect\"}", 1.0),
    ];
    let text = poll(15, || {
        get(mport, "/metrics")
            .map(|(_, b)| b)
            .filter(|b| wanted.iter().all(|(name, min)| metric(b, name).is_some_and(|n| n >= *min)))
    });
    let log = run.stop_with_stderr();
    let text = text.unwrap_or_else(|| {
        let last = get(mport, "/metrics").map(|(_, b)| b).unwrap_or_default();
        panic!("the harrier_profile_* families never all reached their values on /metrics:\n{last}\n{log}")
    });
    for (name, min) in wanted {
        let v = metric(&text, name).unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"));
        assert!(v >= min, "{name} = {v}, expected at least {min}");
    }
    // Counters that exist even at zero: drops of the queue, the scorer (off here).
    assert_eq!(metric(&text, "harrier_profile_scored_events_total"), Some(0.0), "{text}");
    assert!(metric(&text, "harrier_profile_queue_drops_total").is_some(), "{text}");
    assert!(metric(&text, "harrier_profile_workloads{state=\"learning\"}").is_some(), "{text}");
    let got: Vec<(String, String)> = mine
        .iter()
        .map(|a| {
            (
                a["output_fields"]["profile.kind"].as_str().unwrap_or("").to_string(),
                a["output_fields"]["profile.item"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (k, i) in &want {
        assert!(got.iter().any(|(gk, gi)| gk == k && gi == i), "no {k} alert for {i}; got {got:?}\n{log}");
    }
    // What it learned raised nothing.
    for (k, i) in &got {
        assert!(!i.contains("/usual") && !i.starts_with("127.0.0.1:"), "learned {k} {i} reported");
        assert_ne!(i, "/usr/bin/true", "learned executable reported");
    }
    let a = mine.iter().find(|a| a["output_fields"]["profile.kind"] == "exec").unwrap();
    assert_eq!(a["rule"], "Workload profile deviation");
    assert!(a["output"].as_str().unwrap().contains("a new executable"));
    assert!(log.contains("profile stage:"), "counters reported at stop:\n{log}");
    // The profile file was written and holds the workload with its pending deviations.
    let saved = harrier_profile::ProfileSet::load(&pfile).unwrap();
    let wp = &saved.workloads[&workload];
    assert!(wp.has(harrier_profile::Kind::Exec, "/usr/bin/true"));
    assert!(!wp.pending.is_empty());
}

#[test]
fn a_damaged_profile_file_is_reported_and_detection_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pfile = dir.path().join("profiles.json");
    std::fs::write(&pfile, b"{\"format\": \"harrier-profiles\", \"version\": 1, \"workloads\": [").unwrap();
    let cfg = config(dir.path(), &pfile, free_port());
    let run = spawn_ready(&["run", "-c", cfg.to_str().unwrap()], "live detection started");
    std::thread::sleep(Duration::from_millis(500));
    let log = run.stop_with_stderr();
    assert!(log.contains("profiles.json") && log.contains("workload profiles are off"), "{log}");
    assert!(log.contains(": stopped:"), "detection ran and stopped cleanly:\n{log}");
    // The damaged file is left for inspection.
    assert!(std::fs::read_to_string(&pfile).unwrap().ends_with('['));
}
