//! Configuration mistakes are loud (issues 22 and 13): a falco.yaml key Harrier does not know,
//! or one in the wrong place, is reported with file, line, column and the nearest valid key;
//! `--strict-config` makes that an error; a wrong-typed key is refused with the expected type.

use std::process::Command;

fn harrier(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_harrier")).args(args).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn unknown_and_misplaced_keys_are_reported_and_strict_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("falco.yaml");
    std::fs::write(
        &cfg,
        "json_output: true\njson_outptu: true\nnats:\n  hostport: nats://127.0.0.1:1\n  spooldir: /tmp/x\nengine:\n  kind: replay\n  replay:\n    capture_file: /nonexistent.scap\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let (_, e) = harrier(&["-c", c]);
    let file = cfg.display().to_string();
    assert!(
        e.contains(&format!("{file}:2:1: unknown key 'json_outptu' (did you mean 'json_output'?)")),
        "{e}"
    );
    assert!(
        e.contains(&format!("{file}:5:3: unknown key 'nats.spooldir' ('spooldir' is a top-level key")),
        "{e}"
    );
    // Without --strict-config it went on (and failed later on the missing capture, not the config).
    assert!(e.contains("nonexistent.scap"), "{e}");
    let (ok, e) = harrier(&["-c", c, "--strict-config"]);
    assert!(!ok);
    assert!(e.contains("--strict-config") && e.contains("json_outptu"), "{e}");
    assert!(!e.contains("nonexistent.scap"), "nothing starts half-configured: {e}");
}

#[test]
fn wrong_types_are_refused_with_position_and_expected_type() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("falco.yaml");
    std::fs::write(&cfg, "priority: warning\njson_output: yes please\n").unwrap();
    let (ok, e) = harrier(&["-c", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        e.contains(&format!(
            "{}:2:1: config key 'json_output': expected true or false, got yes please",
            cfg.display()
        )),
        "{e}"
    );
    std::fs::write(&cfg, "slack:\n  webhookurl: http://127.0.0.1:1/\n  minimumpriority: [a]\n").unwrap();
    let (ok, e) = harrier(&["-c", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        e.contains(&format!(
            "{}:3:3: slack.minimumpriority: invalid type: sequence, expected a string",
            cfg.display()
        )),
        "{e}"
    );
}
