//! The generator's container actions end to end (root, real kernel, real containerd): a containerd
//! started here on private dirs and socket, `harrier run` with the default rules asking it for
//! metadata, and `harrier generate` running every action that `--list --json` marks as needing
//! containerd (context `containerd`), pointed at the same socket with `HARRIER_CONTAINERD_SOCKET`.
//! Each action must raise the rule it names, from its own process (not the runtime's), with the
//! container's metadata; the test lists the actions that did not. Afterwards containerd holds
//! nothing of the generator's (no container, image or namespace).
//!
//! Without a reachable containerd a named container action is an error that says what was tried.

mod common;
mod support;
use common::*;
use std::process::Command;
use std::time::Duration;
use support::{field, Containerd, Harrier};

/// The generator's image repository and namespace (crates/generate/src/containers.rs).
const REPOSITORY: &str = "localhost/harrier-generate";
const NAMESPACE: &str = "harrier-generate";

fn container_actions() -> Vec<serde_json::Value> {
    let list = harrier(&["generate", "--list", "--json"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let all: Vec<serde_json::Value> = serde_json::from_str(stdout(&list).trim()).expect("JSON list");
    all.into_iter().filter(|a| a["context"] == "containerd").collect()
}

#[test]
fn every_container_action_raises_its_rule_with_container_metadata() {
    let actions = container_actions();
    let names: Vec<&str> = actions.iter().filter_map(|a| a["action"].as_str()).collect();
    assert!(names.len() >= 4, "container actions listed: {names:?}");

    let ctd = Containerd::start_bare();
    let socket = ctd.socket.to_str().unwrap().to_string();
    let env = [
        ("HARRIER_CONTAINERD_SOCKET", socket.as_str()),
        ("HARRIER_PODMAN_SOCKET", ""),
        ("HARRIER_DOCKER_SOCKET", ""),
        ("HARRIER_CRIO_SOCKET", ""),
    ];
    // The default rules; rule_matching=all: an event may also match an earlier, broader rule.
    let h = Harrier::start(&["-o", "rule_matching=all"], &env);
    let mut log = String::new();
    assert!(
        h.logged("container metadata from containerd", Duration::from_secs(10), &mut log),
        "harrier run does not see the test's containerd:\n{log}"
    );

    let gen = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .arg("generate")
        .args(&names)
        .args(["--pause-ms", "300"])
        .env("HARRIER_CONTAINERD_SOCKET", &socket)
        .output()
        .expect("run harrier generate");
    let gen_log = stderr(&gen);
    let alerts = h.collect_alerts(Duration::from_secs(3), Duration::from_secs(30));
    drop(h);
    assert!(gen.status.success(), "harrier generate failed:\n{gen_log}");

    // For each action: its rule, raised in one of the generator's containers by a process that
    // is not the runtime's own, with the container's id, image and name from containerd.
    let raised = |rule: &str| {
        alerts.iter().find(|a| {
            let s = |k: &str| field(a, k).as_str().unwrap_or_default().to_string();
            a["rule"] == rule
                && s("container.id").len() == 12
                && s("container.image.repository") == REPOSITORY
                && !s("proc.name").starts_with("runc")
        })
    };
    let mut missing = Vec::new();
    for a in &actions {
        let rule = a["rule"].as_str().unwrap_or_default();
        match raised(rule) {
            None => missing.push(format!("{} -> {rule}", a["action"])),
            Some(alert) => {
                let id = field(alert, "container.id").as_str().unwrap_or_default();
                assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{alert}");
                // containerd names a container after its full id (no Kubernetes name here).
                if let Some(name) = field(alert, "container.name").as_str() {
                    assert!(name.len() == 64 && name.starts_with(id), "{alert}");
                }
                if let Some(tag) = field(alert, "container.image.tag").as_str() {
                    assert!(!tag.is_empty(), "{alert}");
                }
            }
        }
    }
    let seen: std::collections::BTreeSet<&str> = alerts.iter().filter_map(|a| a["rule"].as_str()).collect();
    assert!(
        missing.is_empty(),
        "container actions whose rule did not fire with container metadata:\n{}\nrules seen: {seen:?}\n{gen_log}",
        missing.join("\n")
    );

    // The generator removed everything it created.
    assert!(ctd.containers_in(NAMESPACE).is_empty(), "containers left: {:?}", ctd.containers_in(NAMESPACE));
    assert!(ctd.images_in(NAMESPACE).is_empty(), "images left: {:?}", ctd.images_in(NAMESPACE));
    let namespaces = support::run_ok(
        Command::new("ctr").arg("-a").arg(&ctd.socket).args(["namespaces", "list", "-q"]),
        "ctr namespaces list",
    );
    assert!(!namespaces.lines().any(|n| n == NAMESPACE), "namespace left: {namespaces}");
}

#[test]
fn a_named_container_action_without_containerd_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("containerd.sock");
    let o = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(["generate", "container-terminal-shell", "--pause-ms", "0"])
        .env("HARRIER_CONTAINERD_SOCKET", &missing)
        .output()
        .expect("run harrier generate");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("containerd is not reachable"), "{err}");
    assert!(err.contains(&missing.display().to_string()), "names the socket it tried: {err}");
    assert!(err.contains("HARRIER_CONTAINERD_SOCKET"), "says how to point at the right one: {err}");
}
