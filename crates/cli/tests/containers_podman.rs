//! Podman end to end (root, real runtime): podman's API service started here on a private socket
//! (`podman system service --time=0 unix://…`) with its own storage root, run root and
//! containers.conf, a container from a local busybox image started with Kubernetes labels, and
//! `harrier run` pointed at that socket with `-o container_engines.podman.sockets=[…]` (the
//! other runtimes switched off). A TTY shell exec'd into the container (`podman exec -it` under
//! tmux) raises the default rule "Terminal shell in container" with the true container id, name,
//! image and labels, and the other container fields (full id, type, labels, image id, start time)
//! come from podman's inspect document.
//!
//! (Not asserted here: a podman container that exits at once. The churn benchmark measures those,
//! `cargo bench -p harrier-containers --bench churn`; under heavy load their lookup can lose the
//! race with `podman run --rm` removing the container, so a test of it would be flaky.)
//!
//! podman on this machine (no systemd, no CAP_SYS_RESOURCE, cgroups v1 hybrid) needs the
//! cgroupfs manager, the file events logger, runc instead of crun, explicit ulimits and no
//! network namespace set up (support/runtimes.rs writes that containers.conf). The test fails
//! (not skips) when podman cannot run.

mod support;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{field, run_ok, unique, Harrier, Podman, TmuxShell, PODMAN_IMAGE as IMAGE};

/// The default rules file.
fn default_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/harrier_rules.yaml")
}

#[test]
fn podman_tty_shell_alert_has_the_true_container_metadata() {
    let pm = Podman::start();
    let u = unique();
    let name = format!("web-{u}");
    let (pod, ns) = (format!("pod-{u}"), format!("ns-{u}"));
    let id = run_ok(
        pm.podman()
            .args(["run", "-d", "--name", &name])
            .args(["--label", &format!("io.kubernetes.pod.name={pod}")])
            .args(["--label", &format!("io.kubernetes.pod.namespace={ns}")])
            .args(["--label", "app=harrier-test"])
            .args([IMAGE, "sleep", "3600"]),
        "podman run",
    );
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "podman run prints the full id: {id:?}");

    // The default rules, plus one rule that prints the other container fields.
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("extra.yaml");
    std::fs::write(
        &extra,
        format!(
            "- rule: test podman fields\n  desc: d\n  condition: evt.type in (execve, execveat) and container.id = \
             {short} and proc.name = cat\n  output: \"%container.full_id %container.image %container.type \
             %container.label[app] %container.privileged %container.image.id %container.start_ts\"\n  \
             priority: NOTICE\n",
            short = &id[..12]
        ),
    )
    .unwrap();
    let socket = format!("container_engines.podman.sockets=[{}]", pm.socket.display());
    let h = Harrier::start(
        &[
            "-r",
            default_rules().to_str().unwrap(),
            "-r",
            extra.to_str().unwrap(),
            "-o",
            &socket,
            "-o",
            "container_engines.containerd.sockets=[]",
            "-o",
            "container_engines.docker.sockets=[]",
            "-o",
            "container_engines.cri.sockets=[]",
        ],
        &[],
    );
    let mut log = String::new();
    assert!(
        h.logged("container metadata from podman", Duration::from_secs(10), &mut log),
        "no start-up line naming podman:\n{log}"
    );
    assert!(log.contains(&pm.socket.display().to_string()), "the start-up line names the socket:\n{log}");

    // An interactive shell with a TTY: podman exec -it under tmux.
    let shell = TmuxShell::start(&format!("{} exec -it {name} /bin/sh", pm.command_line()));
    let a = h.wait_alert(
        |a| a["rule"] == "Terminal shell in container" && field(a, "container.id") == &id[..12],
        Duration::from_secs(15),
    );
    drop(shell);
    let a = a.expect("a 'Terminal shell in container' alert for the podman container");
    assert_eq!(field(&a, "container.name"), name.as_str(), "{a}");
    assert_eq!(field(&a, "container.image.repository"), "localhost/harrier-bb", "{a}");
    assert_eq!(field(&a, "container.image.tag"), "latest", "{a}");
    assert_eq!(field(&a, "k8s.pod.name"), pod.as_str(), "{a}");
    assert_eq!(field(&a, "k8s.ns.name"), ns.as_str(), "{a}");
    assert_eq!(field(&a, "proc.name"), "sh", "{a}");
    assert!(field(&a, "proc.tty").as_i64().is_some_and(|t| t != 0), "{a}");
    let out = a["output"].as_str().unwrap_or_default();
    assert!(out.contains(&format!("container_name={name} image=localhost/harrier-bb:latest")), "{out}");

    // The other container fields, from podman's inspect document.
    run_ok(pm.podman().args(["exec", &name, "cat", "/etc/group"]), "podman exec cat");
    let a =
        h.wait_alert(|a| a["rule"] == "test podman fields", Duration::from_secs(10)).expect("fields alert");
    assert_eq!(field(&a, "container.full_id"), id.as_str());
    assert_eq!(field(&a, "container.image"), IMAGE);
    assert_eq!(field(&a, "container.type"), "podman");
    assert_eq!(field(&a, "container.label[app]"), "harrier-test");
    assert_eq!(field(&a, "container.privileged"), false);
    assert_eq!(field(&a, "container.image.id").as_str().map(str::len), Some(64), "{a}");
    assert!(field(&a, "container.start_ts").as_u64().is_some_and(|t| t > 0), "{a}");
}
