//! Containers and Kubernetes, end to end (root, real runtimes): `harrier run` against a real
//! containerd (started here on its own state dirs and socket, with runc and a local busybox image)
//! reports container and pod metadata in alerts: for a TTY shell exec'd into a container started
//! with Kubernetes labels under a kubelet-style cgroup parent, for a short-lived container, for
//! host processes (`host`), and while the runtime socket disappears and comes back.
//!
//! These tests need root, eBPF, containerd, ctr, runc, tmux and busybox (scripts/setup-tests.sh installs
//! them). They fail (not skip) with a clear message when a runtime cannot start.

mod common;
mod support;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{field, hex_id, run_ok, unique, Containerd, Harrier, TmuxShell, IMAGE};

/// `harrier run -r RULES` that asks only the test's containerd (no podman, docker or CRI-O).
fn harrier_on(rules: &Path, ctd: &Containerd) -> Harrier {
    let socket = ctd.socket.to_str().unwrap();
    Harrier::start(
        &["-r", rules.to_str().unwrap()],
        &[
            ("HARRIER_CONTAINERD_SOCKET", socket),
            ("HARRIER_PODMAN_SOCKET", ""),
            ("HARRIER_DOCKER_SOCKET", ""),
            ("HARRIER_CRIO_SOCKET", ""),
        ],
    )
}

#[test]
fn tty_shell_in_a_kubernetes_container_and_a_short_lived_container_have_their_metadata() {
    let mut ctd = Containerd::start();
    let dir = tempfile::tempdir().unwrap();
    let u = unique();
    let (pod, ns, cname) = (format!("web-{u}"), format!("blog-{u}"), "web".to_string());
    let pod_uid = "1f0e7a4c-0000-4000-8000-000000000002";
    let web = hex_id(&format!("web{u}"));
    let short = hex_id(&format!("short{u}"));
    let rules = write_rules(
        dir.path(),
        "containers.yaml",
        &format!(
            r#"
- rule: test terminal shell in container
  desc: an interactive shell with a terminal in a container
  condition: evt.type in (execve, execveat) and container.id = {web_s} and proc.name in (sh, ash) and proc.tty != 0
  output: "shell in container %container.id (%container.name %container.image) pod=%k8s.pod.name ns=%k8s.ns.name tty=%proc.tty %container.full_id %container.image.repository %container.image.tag %container.image.id %container.privileged %container.label[io.kubernetes.container.name] %k8s.pod.uid %container.type %container.start_ts"
  priority: NOTICE
- rule: test file opened in short-lived container
  desc: d
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/passwd and container.id = {short_s}
  output: "passwd read in %container.id (%container.name %container.image) by %proc.name"
  priority: NOTICE
"#,
            web_s = &web[..12],
            short_s = &short[..12],
        ),
    );

    // The pod's container runs before Harrier starts (found by the /proc scan).
    let cgroup = format!("/kubepods/besteffort/pod{pod_uid}/{web}");
    ctd.run(
        &web,
        &[
            ("io.kubernetes.pod.name", &pod),
            ("io.kubernetes.pod.namespace", &ns),
            ("io.kubernetes.pod.uid", pod_uid),
            ("io.kubernetes.container.name", &cname),
        ],
        Some(&cgroup),
        true,
        &["sleep", "3600"],
    );
    let h = harrier_on(&rules, &ctd);
    // Printed before detection is announced: the runtimes are probed first.
    assert!(
        h.startup.contains("container metadata from containerd"),
        "no start-up line naming containerd before detection started:\n{}",
        h.startup
    );

    // An interactive shell with a TTY, exec'd into the container under tmux.
    let shell = TmuxShell::start(&format!(
        "ctr -a {} -n k8s.io task exec -t --exec-id sh{u} {web} /bin/sh",
        ctd.socket.display()
    ));
    let a = h.wait_alert(|a| a["rule"] == "test terminal shell in container", Duration::from_secs(10));
    drop(shell);
    let a = a.expect("terminal shell alert");
    assert_eq!(field(&a, "container.id"), &web[..12]);
    assert_eq!(field(&a, "container.full_id"), web.as_str());
    assert_eq!(field(&a, "container.name"), cname.as_str());
    assert_eq!(field(&a, "container.image"), IMAGE);
    assert_eq!(field(&a, "container.image.repository"), "docker.io/library/bb");
    assert_eq!(field(&a, "container.image.tag"), "latest");
    assert_eq!(field(&a, "container.image.id").as_str().map(str::len), Some(64), "{a}");
    assert_eq!(field(&a, "container.privileged"), false);
    assert_eq!(field(&a, "container.type"), "containerd");
    assert_eq!(field(&a, "k8s.pod.name"), pod.as_str());
    assert_eq!(field(&a, "k8s.ns.name"), ns.as_str());
    assert_eq!(field(&a, "k8s.pod.uid"), pod_uid);
    assert_eq!(field(&a, "container.label[io.kubernetes.container.name]"), cname.as_str());
    assert!(field(&a, "container.start_ts").as_u64().is_some_and(|t| t > 0), "{a}");
    assert!(field(&a, "proc.tty").as_i64().is_some_and(|t| t != 0), "{a}");
    let out = a["output"].as_str().unwrap_or_default();
    assert!(out.contains(&format!("pod={pod} ns={ns}")), "{out}");

    // A container whose only process opens a file and exits at once (ctr run --rm: the
    // container is removed right after): the alert still names it.
    let t0 = Instant::now();
    ctd.run(
        &short,
        &[("io.kubernetes.container.name", "shortlived"), ("io.kubernetes.pod.name", "job-1")],
        None,
        false,
        &["cat", "/etc/passwd"],
    );
    let ran = t0.elapsed();
    let a = h
        .wait_alert(|a| a["rule"] == "test file opened in short-lived container", Duration::from_secs(10))
        .expect("short-lived container alert");
    assert_eq!(field(&a, "container.id"), &short[..12]);
    assert_eq!(field(&a, "container.name"), "shortlived", "{a} (container ran {ran:?})");
    assert_eq!(field(&a, "container.image"), IMAGE);
}

#[test]
fn host_is_host_and_a_vanished_runtime_socket_degrades_to_ids_then_recovers() {
    let mut ctd = Containerd::start();
    let dir = tempfile::tempdir().unwrap();
    let u = unique();
    let reader = format!("hcat{u}");
    let src = ["/usr/bin/cat", "/bin/cat"].into_iter().find(|p| Path::new(p).exists()).expect("cat");
    let reader_bin = dir.path().join(&reader);
    std::fs::copy(src, &reader_bin).unwrap();
    let ids: Vec<String> = (0..4).map(|i| hex_id(&format!("c{i}{u}"))).collect();
    let list = ids.iter().map(|i| &i[..12]).collect::<Vec<_>>().join(", ");
    let rules = write_rules(
        dir.path(),
        "outage.yaml",
        &format!(
            r#"
- rule: test host read
  desc: d
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/hostname and proc.name = {reader}
  output: "host read %container.id %container.name"
  priority: NOTICE
- rule: test container read
  desc: d
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/group and container.id in ({list})
  output: "group read in %container.id (%container.name %container.image)"
  priority: NOTICE
"#
        ),
    );
    let h = harrier_on(&rules, &ctd);

    // A host process.
    run_ok(Command::new(&reader_bin).arg("/etc/hostname"), "host cat");
    let a = h.wait_alert(|a| a["rule"] == "test host read", Duration::from_secs(5)).expect("host alert");
    assert_eq!(field(&a, "container.id"), "host");
    assert_eq!(field(&a, "container.name"), "host");

    let read_in = |ctd: &mut Containerd, id: &str, name: &str| -> serde_json::Value {
        ctd.run(id, &[("io.kubernetes.container.name", name)], None, false, &["cat", "/etc/group"]);
        h.wait_alert(
            |a| a["rule"] == "test container read" && field(a, "container.id") == &id[..12],
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| {
            panic!("no alert for container {name} within 10 s; harrier's log since: {:#?}", h.log_now())
        })
    };

    // Runtime up: full metadata.
    let a = read_in(&mut ctd, &ids[0], "before");
    assert_eq!(field(&a, "container.name"), "before");

    // The socket disappears (moved away; containerd keeps running, ctr follows it).
    let moved = ctd.socket.with_extension("moved");
    std::fs::rename(&ctd.socket, &moved).unwrap();
    let real = std::mem::replace(&mut ctd.socket, moved.clone());
    let a = read_in(&mut ctd, &ids[1], "during1");
    assert_eq!(field(&a, "container.id"), &ids[1][..12], "ids are still reported");
    assert!(field(&a, "container.name").is_null(), "no metadata while the socket is gone: {a}");
    let a = read_in(&mut ctd, &ids[2], "during2");
    assert!(field(&a, "container.name").is_null(), "{a}");

    // It comes back: one warning was printed, then the recovery, and metadata flows again.
    std::fs::rename(&moved, &real).unwrap();
    ctd.socket = real;
    let mut log = String::new();
    assert!(h.wait_log("reachable again", Duration::from_secs(10), &mut log), "no recovery message:\n{log}");
    assert_eq!(log.matches("is unreachable").count(), 1, "exactly one degradation warning:\n{log}");
    let a = read_in(&mut ctd, &ids[3], "after");
    assert_eq!(field(&a, "container.name"), "after");
    assert_eq!(field(&a, "container.image"), IMAGE);
}

/// Falco's `container` event: once per new container, when its runtime lookup ends, with the
/// runtime's metadata — for a container already running at start-up and for one that lives a
/// moment — so rules on metadata only the runtime knows do not depend on the timing of the
/// container's first syscalls.
#[test]
fn each_new_container_raises_one_container_event_with_its_metadata() {
    let mut ctd = Containerd::start();
    let dir = tempfile::tempdir().unwrap();
    let u = unique();
    let early = hex_id(&format!("early{u}"));
    let brief = hex_id(&format!("brief{u}"));
    let rules = write_rules(
        dir.path(),
        "container_event.yaml",
        &format!(
            r#"
- rule: test container seen
  desc: a new container (the container event)
  condition: evt.type = container and container.id in ({}, {})
  output: "container %container.id name=%container.name image=%container.image privileged=%container.privileged"
  priority: NOTICE
"#,
            &early[..12],
            &brief[..12]
        ),
    );
    ctd.run(&early, &[("io.kubernetes.container.name", "early")], None, true, &["sleep", "3600"]);
    let h = harrier_on(&rules, &ctd);
    ctd.run(&brief, &[("io.kubernetes.container.name", "brief")], None, false, &["true"]);
    let alerts = h.collect_alerts(Duration::from_secs(3), Duration::from_secs(20));
    let seen: Vec<(String, String)> = alerts
        .iter()
        .filter(|a| a["rule"] == "test container seen")
        .map(|a| {
            let s = |k| field(a, k).as_str().unwrap_or_default().to_string();
            (s("container.id"), s("container.name"))
        })
        .collect();
    for (id, name) in [(&early, "early"), (&brief, "brief")] {
        let n = seen.iter().filter(|(i, _)| *i == id[..12]).count();
        assert_eq!(n, 1, "one container event for {name}: {seen:?}");
        assert!(seen.contains(&(id[..12].to_string(), name.to_string())), "{name} has its name: {seen:?}");
    }
    let a = alerts.iter().find(|a| a["rule"] == "test container seen").unwrap();
    assert_eq!(field(a, "container.image"), IMAGE, "{a}");
    assert_eq!(field(a, "container.privileged"), false, "{a}");
}
