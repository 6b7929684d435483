//! node:capture inside `harrier run` (root, live eBPF, a private containerd with runc and a local
//! busybox image, as in containers.rs): a rule fires on a process in a real container; the
//! response records the next seconds of that container's events — and only its — to a `.scap`
//! file (0600, named after the rule, the container and the time) that `harrier replay` and
//! sysdig read back.

mod common;
mod support;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{field, hex_id, unique, Containerd, Harrier};

#[test]
fn container_events_after_the_alert_are_captured_and_replayed() {
    let mut ctd = Containerd::start();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("captures");
    let u = unique();
    let id = hex_id(&format!("cap{u}"));
    let short = &id[..12];
    // A host process doing the same thing at the same time must not end up in the capture.
    let marker = format!("/tmp/harrier-capture-marker-{u}");
    std::fs::write(&marker, "x").unwrap();

    let rules = write_rules(
        dir.path(),
        "detect.yaml",
        &format!(
            "- rule: Container reads passwd\n  desc: test\n  condition: evt.type in (open, openat, openat2) and container.id = {short} and fd.name = /etc/passwd\n  output: \"%proc.name read %fd.name (container=%container.id pid=%proc.pid)\"\n  priority: WARNING\n"
        ),
    );
    let response = write_rules(
        dir.path(),
        "response.yaml",
        "- rule: Record what follows\n  match:\n    rules: [Container reads passwd]\n  actions:\n    - action: Capture\n      actionner: node:capture\n      parameters:\n        duration: 3\n",
    );
    let config = write_rules(
        dir.path(),
        "harrier.yaml",
        &format!(
            "response:\n  rules_files: [{}]\n  capture_dir: {}\n  capture_max_bytes: 8000000\n  deduplication:\n    time_window_seconds: 60\n",
            response.display(),
            out_dir.display()
        ),
    );
    let socket = ctd.socket.to_str().unwrap().to_string();
    let h = Harrier::start(
        &["-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()],
        &[
            ("HARRIER_CONTAINERD_SOCKET", socket.as_str()),
            ("HARRIER_PODMAN_SOCKET", ""),
            ("HARRIER_DOCKER_SOCKET", ""),
            ("HARRIER_CRIO_SOCKET", ""),
        ],
    );
    std::thread::sleep(Duration::from_millis(1000));

    // The container reads /etc/passwd (the alert), then keeps running distinct commands.
    ctd.run(
        &id,
        &[],
        None,
        true,
        &["sh", "-c", "sleep 1; cat /etc/passwd; while :; do ls /etc >/dev/null; sleep 0.1; done"],
    );
    let stop_host = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s2, m2) = (stop_host.clone(), marker.clone());
    let host_loop = std::thread::spawn(move || {
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = Command::new("cat").arg(&m2).output();
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    let outcome = h
        .wait_alert(
            |a| a["source"] == "response" && field(a, "response.actionner") == "node:capture",
            Duration::from_secs(30),
        )
        .unwrap_or_else(|| panic!("no node:capture outcome; log:\n{}", h.log_now().join("\n")));
    assert_eq!(field(&outcome, "response.status"), "done", "{outcome}");
    println!("outcome: {}", field(&outcome, "response.detail"));

    // The file: named after the rule and container, 0600, complete after the duration.
    let t = Instant::now();
    let file = loop {
        let found: Vec<_> =
            std::fs::read_dir(&out_dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        if let Some(f) = found.into_iter().find(|p| p.extension().is_some_and(|e| e == "scap")) {
            break f;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no capture file in {}", out_dir.display());
        std::thread::sleep(Duration::from_millis(50));
    };
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("Container_reads_passwd_") && name.contains(short), "{name}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "capture file mode");
    let mut seen = String::new();
    assert!(
        h.wait_log("node:capture of container", Duration::from_secs(15), &mut seen),
        "the capture did not finish:\n{seen}"
    );
    stop_host.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = host_loop.join();
    h.stop();

    // Harrier replays it: the container's commands after the alert are there (ls runs every
    // 100 ms for the 3 s), each event belongs to the container, the host's cat is not there.
    let all = harrier(&[
        "replay",
        file.to_str().unwrap(),
        "--quiet",
        "--filter",
        "evt.num > 0",
        "-p",
        "%container.id %proc.name %evt.type",
    ]);
    assert!(all.status.success(), "{}", stderr(&all));
    let text = stdout(&all);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 50, "few events in the capture:\n{text}");
    // Every event is the container's. A process that exited between the alert and the /proc
    // read leaves an exit event of a thread the capture's header does not know (`<NA>`): those
    // are tolerated, never another container's or the host's.
    let foreign: Vec<&&str> =
        lines.iter().filter(|l| !l.starts_with(short) && !l.starts_with("<NA> ")).collect();
    assert!(
        foreign.is_empty(),
        "events of other containers or the host: {:?}",
        &foreign[..foreign.len().min(10)]
    );
    // How many depends on how long the /proc walk takes on a busy machine, so only their kind is
    // checked: an exit, never anything that did something.
    let unknown: Vec<&&str> =
        lines.iter().filter(|l| l.starts_with("<NA> ") && !l.ends_with(" procexit")).collect();
    assert!(
        unknown.is_empty(),
        "events other than exits of threads the capture does not know: {:?}\n{text}",
        &unknown[..unknown.len().min(10)]
    );
    let execs: Vec<&&str> = lines.iter().filter(|l| l.ends_with(" execve")).collect();
    println!(
        "{} events, {} execs in the capture, e.g. {:?}",
        lines.len(),
        execs.len(),
        &execs[..execs.len().min(3)]
    );
    assert!(
        execs.len() >= 10,
        "the container's commands after the alert (saw {}):\n{}",
        execs.len(),
        &text[..text.len().min(3000)]
    );
    // And sysdig reads it too.
    let sd = Command::new("sysdig")
        .args(["-r", file.to_str().unwrap(), "-p", "%proc.name %evt.type", "evt.type=execve and evt.dir=<"])
        .output()
        .expect("sysdig is installed (scripts/setup-tests.sh)");
    assert!(sd.status.success(), "sysdig: {}", String::from_utf8_lossy(&sd.stderr));
    let sds = String::from_utf8_lossy(&sd.stdout);
    println!("sysdig: {} execs, e.g. {:?}", sds.lines().count(), sds.lines().next());
    assert!(
        sds.lines().count() >= execs.len() / 2 && sds.lines().count() >= 10,
        "sysdig sees the execs:\n{sds}"
    );
}
