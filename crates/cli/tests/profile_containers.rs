//! Workload profiles on a real container (root, real kernel, eBPF, real containerd and runc):
//! a busybox container's entry shell runs its routine (image programs, a write in /tmp) while its
//! workload (`image:<repository>:<tag> /bin/busybox`: the entry point's executable, symbolic
//! links resolved) learns; after the window the test tells it to go on, and it copies busybox
//! into its writable upper layer and runs the copy. That is drift: a `Workload profile deviation`
//! of kind `drift`, priority Critical, naming the container's id and image. The image's programs
//! (applets of /bin/busybox: uname, never run while learning, and ls, touch) raise nothing —
//! neither drift nor a new executable — and what it did while learning raises nothing.
//!
//! Needs root, eBPF, containerd, ctr, runc and busybox (scripts/setup-tests.sh installs them);
//! fails (not skips) with a clear message when one is missing.

mod common;
mod support;
use std::time::{Duration, Instant};
use support::{field, hex_id, run_ok, unique, Containerd, Harrier};

/// Whether the container's script got to its end (`/tmp/done`).
fn h_done(ctd: &Containerd, id: &str, u: &str) -> bool {
    ctd.ctr()
        .args(["task", "exec", "--exec-id", &format!("done{u}"), id, "/bin/test", "-e", "/tmp/done"])
        .stdin(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_binary_dropped_into_a_learned_container_is_critical_drift_and_image_programs_are_not() {
    let mut ctd = Containerd::start();
    let dir = tempfile::tempdir().unwrap();
    let pfile = dir.path().join("profiles.json");
    let cfg = dir.path().join("harrier.yaml");
    std::fs::write(
        &cfg,
        format!("profile:\n  enabled: true\n  file: {}\n  learn: 3s\n  save_every: 1s\n", pfile.display()),
    )
    .unwrap();
    let h = Harrier::start(
        &["-c", cfg.to_str().unwrap()],
        &[
            ("HARRIER_CONTAINERD_SOCKET", ctd.socket.to_str().unwrap()),
            ("HARRIER_PODMAN_SOCKET", ""),
            ("HARRIER_DOCKER_SOCKET", ""),
            ("HARRIER_CRIO_SOCKET", ""),
        ],
    );
    let u = unique();
    let id = hex_id(&format!("drift{u}"));
    let dropped = format!("/root/dropped-{}", u.replace('x', ""));
    // The routine until /tmp/go exists, then the new things; explicit paths so that the shell
    // execs them (busybox's ash may run bare applet names in-process).
    let script = format!(
        r#"
        while [ ! -e /tmp/go ]; do
            /bin/ls / > /dev/null
            echo x > /tmp/usual
            /bin/sleep 0.3
        done
        /bin/cp /bin/busybox {dropped}
        {dropped} echo dropped
        /bin/uname > /dev/null
        /bin/ls / > /dev/null
        /bin/touch /tmp/done
        exec /bin/sleep 3600
        "#
    );
    ctd.run(&id, &[], None, true, &["/bin/sh", "-c", &script]);

    // Learning: wait until the container's workload is in the saved profile file, then past its
    // window (event time starts at its first observation; 3 s plus slack).
    let key = |p: &harrier_profile::ProfileSet| {
        p.workloads.keys().find(|k| k.starts_with("image:") && k.ends_with(" /bin/busybox")).cloned()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let workload = loop {
        if let Some(k) = harrier_profile::ProfileSet::load(&pfile).ok().as_ref().and_then(key) {
            break k;
        }
        let keys: Vec<String> = harrier_profile::ProfileSet::load(&pfile)
            .map(|p| {
                p.workloads
                    .keys()
                    .filter(|k| !k.starts_with("exe:") && !k.starts_with("service:"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "the container's workload was never learned (container workloads: {keys:?}); log: {:?}",
            h.log_now()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(workload.contains("bb:latest"), "workload {workload} names the image");
    std::thread::sleep(Duration::from_secs(6));
    run_ok(
        ctd.ctr().args(["task", "exec", "--exec-id", &format!("go{u}"), &id, "/bin/touch", "/tmp/go"]),
        "ctr task exec touch /tmp/go",
    );

    let mine =
        |a: &serde_json::Value| a["source"] == "profile" && field(a, "profile.workload") == workload.as_str();
    let mut alerts = Vec::new();
    let drift = h.wait_alert(|a| mine(a) && field(a, "profile.kind") == "drift", Duration::from_secs(45));
    // Everything else the workload raised (alerts before the drift one were read by wait_alert:
    // the rest arrive within a few seconds of it).
    alerts.extend(
        h.collect_alerts(Duration::from_secs(4), Duration::from_secs(20)).into_iter().filter(|a| mine(a)),
    );
    let log = h.stop().join("\n");
    let drift = drift.unwrap_or_else(|| {
        panic!("no drift alert for {dropped} in {workload}; later alerts {alerts:#?}\n{log}")
    });
    assert_eq!(field(&drift, "profile.item"), dropped.as_str(), "{drift}");
    assert_eq!(drift["priority"], "Critical", "{drift}");
    assert_eq!(drift["rule"], "Workload profile deviation", "{drift}");
    assert_eq!(field(&drift, "container.id"), &id[..12], "{drift}");
    assert_eq!(field(&drift, "proc.is_exe_upper_layer"), "true", "{drift}");
    let repo = field(&drift, "container.image.repository").as_str().unwrap_or("");
    assert!(repo.ends_with("/bb") || repo == "bb", "image repository in {drift}");
    assert!(drift["output"].as_str().unwrap().contains("drift"), "{drift}");

    // The image's programs (uname, never run while learning; ls; touch) are /bin/busybox, which
    // it learned: nothing about them is reported, drift least of all. What the dropped program
    // brings besides drift (a new executable, a new parent/child pair) is about it only.
    for a in &alerts {
        let (k, i) = (field(a, "profile.kind"), field(a, "profile.item").as_str().unwrap_or(""));
        if k == "drift" {
            assert_eq!(i, dropped, "drift raised for a program of the image: {a}");
        }
        if k == "exec" || k == "spawn" {
            assert!(i.ends_with(&dropped), "an image program was reported: {a}");
        }
        assert!(i != "/tmp", "a learned directory was reported: {a}");
    }
    assert!(
        h_done(&ctd, &id, &u),
        "the container ran the image's programs after the dropped one (/tmp/done exists)"
    );
}
