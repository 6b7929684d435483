//! Session audit inside a container (root, real kernel, a real containerd started here with runc
//! and a local busybox image): `ctr task exec -t` opens busybox ash on a pty inside a container
//! that runs under a kubelet-style cgroup; what is typed there is recorded with the container id
//! and pod uid, name and namespace (from containerd's metadata), exactly as ash ran it, and a `read -s` secret appears nowhere. Only records of
//! this test's container are looked at. Needs containerd, ctr, runc, busybox, tmux
//! (scripts/setup-tests.sh).

mod common;
mod support;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{hex_id, unique, Containerd};

fn commands(log: &Path, cid: &str) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "command" && r["container_id"] == cid)
        .collect()
}

#[test]
fn busybox_ash_in_a_container_through_exec_tty() {
    let mut ctd = Containerd::start();
    let dir = tempfile::tempdir().unwrap();
    let u = unique();
    let id = hex_id(&format!("sess{u}"));
    let pod_uid = "1f0e7a4c-0000-4000-8000-0000000000a5";
    ctd.run(
        &id,
        &[
            ("io.kubernetes.pod.name", "audited"),
            ("io.kubernetes.pod.namespace", "shop"),
            ("io.kubernetes.pod.uid", pod_uid),
        ],
        Some(&format!("/kubepods/besteffort/pod{pod_uid}/{id}")),
        true,
        &["sleep", "3600"],
    );
    let log = dir.path().join("audit.jsonl");
    let log_arg = format!("session_audit.file={}", log.display());
    // the pod name and namespace come from this containerd's metadata (the kubelet's labels)
    let sock_arg = format!("container_engines.containerd.sockets=[{}]", ctd.socket.display());
    let run = spawn_ready(&["session", "-o", &log_arg, "-o", &sock_arg], "session audit started");

    let t = Tmux::at(dir.path().join("tmux.sock"));
    let exec = format!("ctr -a {} -n k8s.io task exec -t --exec-id sh{u} {id} /bin/sh", ctd.socket.display());
    let st = Command::new("tmux")
        .arg("-S")
        .arg(&t.sock)
        .args(["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", &exec])
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = Instant::now();
    while !t.tmux(&["capture-pane", "-p"]).contains('#') {
        assert!(t0.elapsed() < Duration::from_secs(20), "no shell prompt in the container");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cid = &id[..12];
    let secret = format!("hunter2-{u}");
    let mut want: Vec<&str> = Vec::new();
    let wait = |want: &mut Vec<&str>, c: &'static str| {
        want.push(c);
        let t0 = Instant::now();
        while commands(&log, cid).len() < want.len() {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "waiting for {c:?}: {:?}\n{}",
                commands(&log, cid),
                t.tmux(&["capture-pane", "-p"])
            );
            std::thread::sleep(Duration::from_millis(40));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    t.text("cd /tmp");
    t.keys(&["Enter"]);
    wait(&mut want, "cd /tmp");
    t.text("export X=1");
    t.keys(&["Enter"]);
    wait(&mut want, "export X=1");
    t.text("echo hi > f");
    t.keys(&["Enter"]);
    wait(&mut want, "echo hi > f");
    t.text("for i in 1 2; do echo $i; done");
    t.keys(&["Enter"]);
    wait(&mut want, "for i in 1 2; do echo $i; done");
    t.text("cat fx");
    t.keys(&["BSpace", "Left", "Left"]);
    t.text(" ");
    t.keys(&["End", "Enter"]);
    wait(&mut want, "cat  f");
    t.keys(&["Up", "Enter"]);
    wait(&mut want, "cat  f");
    t.text("echo never-run");
    t.keys(&["C-c"]);
    std::thread::sleep(Duration::from_millis(200));
    t.text("read -s S");
    t.keys(&["Enter"]);
    wait(&mut want, "read -s S");
    std::thread::sleep(Duration::from_millis(300));
    t.text(&secret);
    t.keys(&["Enter"]);
    t.text("exit");
    t.keys(&["Enter"]);
    wait(&mut want, "exit");
    let stderr = run.stop_with_stderr();

    let recs = commands(&log, cid);
    let got: Vec<&str> = recs.iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert_eq!(got, want);
    for r in &recs {
        assert_eq!(r["k8s_pod_uid"], pod_uid);
        assert_eq!(
            (r["k8s_pod_name"].as_str(), r["k8s_ns_name"].as_str()),
            (Some("audited"), Some("shop")),
            "{r}"
        );
        assert_eq!(r["uid"], 0);
        assert!(r["tty"].as_str().unwrap().starts_with("pts/"), "{r}");
    }
    assert_eq!(recs[3]["cwd"], "/tmp", "cwd inside the container");
    let all = std::fs::read_to_string(&log).unwrap();
    assert!(!all.contains(&secret) && !stderr.contains(&secret), "the secret was recorded");
    assert!(!all.contains("never-run"));
}
