//! The executable's overlayfs layer, live, end to end (root, real containerd): in a running
//! busybox container, a program of the image is in the lower layers (`proc.is_exe_upper_layer`
//! false, the exec's `PPM_EXE_LOWER_LAYER` bit set) and one copied into the container after it
//! started is in the writable upper layer (`proc.is_exe_upper_layer` true), which is what the
//! default rule "Executable not in the container image" fires on, and only there. Both are
//! writable by the container's root (`proc.is_exe_writable`: CAP_DAC_OVERRIDE). The layer bits
//! are checked both raw (`evt.rawarg.flags`) and as `proc.is_exe_lower_layer`.
//!
//! Needs root, eBPF, containerd, ctr, runc and busybox (scripts/setup-tests.sh installs them); fails
//! (not skips) with a clear message when one is missing.

mod common;
mod support;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{field, hex_id, run_ok, unique, Containerd, Harrier};

/// `PPM_EXE_*` bits of the execve exit's `flags`.
const EXE_UPPER_LAYER: u64 = 1 << 1;
const EXE_LOWER_LAYER: u64 = 1 << 3;

const DEFAULT_RULE: &str = "Executable not in the container image";

fn default_rules() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/harrier_rules.yaml");
    assert!(p.is_file(), "missing {}", p.display());
    p
}

/// `harrier run -r RULES…` asking only the test's containerd; every matching rule alerts
/// (`rule_matching=all`: the test rule and the default rule match the same exec).
fn harrier_on(rules: &[&Path], ctd: &Containerd) -> Harrier {
    let mut args = vec!["-o", "rule_matching=all"];
    for r in rules {
        args.push("-r");
        args.push(r.to_str().unwrap());
    }
    Harrier::start(
        &args,
        &[
            ("HARRIER_CONTAINERD_SOCKET", ctd.socket.to_str().unwrap()),
            ("HARRIER_PODMAN_SOCKET", ""),
            ("HARRIER_DOCKER_SOCKET", ""),
            ("HARRIER_CRIO_SOCKET", ""),
        ],
    )
}

/// `ctr task exec` of `cmd` in container `id`, waited for.
fn exec_in(ctd: &Containerd, id: &str, exec_id: &str, cmd: &[&str]) {
    run_ok(
        ctd.ctr()
            .args(["task", "exec", "--exec-id", exec_id, id])
            .args(cmd)
            .stdin(std::process::Stdio::null()),
        &format!("ctr task exec {cmd:?}"),
    );
}

fn flags_of(a: &serde_json::Value) -> u64 {
    let v = field(a, "evt.rawarg.flags");
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or_else(|| panic!("flags in {a}"))
}

#[test]
fn image_program_is_lower_layer_and_a_dropped_program_is_upper_layer_and_raises_the_default_rule() {
    let mut ctd = Containerd::start();
    let dir = tempfile::tempdir().unwrap();
    let u = unique();
    let id = hex_id(&format!("layers{u}"));
    let (lower_mark, upper_mark) =
        (format!("lowermark{}", u.replace('x', "")), format!("uppermark{}", u.replace('x', "")));
    let rules = write_rules(
        dir.path(),
        "layers.yaml",
        &format!(
            r#"
- rule: test exec in the layers container
  desc: a marked program run in the test container (not the shell that runs it)
  condition: evt.type in (execve, execveat) and evt.res = SUCCESS and container.id = {cid} and proc.name != sh and (proc.args contains {lower_mark} or proc.args contains {upper_mark})
  output: "exec %proc.exepath upper=%proc.is_exe_upper_layer lower=%proc.is_exe_lower_layer writable=%proc.is_exe_writable flags=%evt.rawarg.flags cmdline=%proc.cmdline"
  priority: NOTICE
"#,
            cid = &id[..12],
        ),
    );
    ctd.run(&id, &[], None, true, &["sleep", "3600"]);
    let h = harrier_on(&[&rules, &default_rules()], &ctd);
    // Every alert is kept: the default rule must be checked against all of them.
    let seen = std::cell::RefCell::new(Vec::new());
    let wait_test = |mark: &str| {
        h.wait_alert(
            |a| {
                seen.borrow_mut().push(a.clone());
                a["rule"] == "test exec in the layers container"
                    && field(a, "proc.cmdline").as_str().is_some_and(|c| c.contains(mark))
            },
            Duration::from_secs(15),
        )
    };

    // (a) a program of the image: lower layers only
    exec_in(&ctd, &id, &format!("lo{u}"), &["/bin/busybox", "echo", &lower_mark]);
    let lower = wait_test(&lower_mark).expect("alert for the image program");
    assert_eq!(field(&lower, "proc.exepath"), "/bin/busybox", "{lower}");
    assert_eq!(field(&lower, "proc.is_exe_upper_layer"), false, "{lower}");
    assert_eq!(field(&lower, "proc.is_exe_lower_layer"), true, "{lower}");
    assert_eq!(field(&lower, "proc.is_exe_writable"), true, "{lower}");
    let f = flags_of(&lower);
    assert_eq!(
        f & (EXE_UPPER_LAYER | EXE_LOWER_LAYER),
        EXE_LOWER_LAYER,
        "lower layer only: flags {f:#x} in {lower}"
    );

    // (b) the same program copied into the container's writable layer after it started
    let cmd = format!("cp /bin/busybox /root/busybox-dropped && /root/busybox-dropped echo {upper_mark}");
    exec_in(&ctd, &id, &format!("up{u}"), &["/bin/sh", "-c", &cmd]);
    let upper = wait_test(&upper_mark).expect("alert for the dropped program");
    assert_eq!(field(&upper, "proc.exepath"), "/root/busybox-dropped", "{upper}");
    assert_eq!(field(&upper, "proc.is_exe_upper_layer"), true, "{upper}");
    assert_eq!(field(&upper, "proc.is_exe_lower_layer"), false, "{upper}");
    assert_eq!(field(&upper, "proc.is_exe_writable"), true, "{upper}");
    let f = flags_of(&upper);
    assert_eq!(
        f & (EXE_UPPER_LAYER | EXE_LOWER_LAYER),
        EXE_UPPER_LAYER,
        "upper layer only: flags {f:#x} in {upper}"
    );

    // The default rule: raised for the dropped program, for nothing else the container ran
    // (the image's busybox in (a), the shell that copied it in (b)).
    let mut seen = seen.into_inner();
    seen.extend(h.collect_alerts(Duration::from_secs(3), Duration::from_secs(10)));
    let fired: Vec<&serde_json::Value> =
        seen.iter().filter(|a| a["rule"] == DEFAULT_RULE && field(a, "container.id") == &id[..12]).collect();
    assert!(
        fired.iter().any(|a| field(a, "proc.cmdline").as_str().is_some_and(|c| c.contains(&upper_mark))),
        "{DEFAULT_RULE:?} did not fire for /root/busybox-dropped; alerts: {seen:#?}"
    );
    for a in &fired {
        assert_eq!(
            field(a, "proc.exepath"),
            "/root/busybox-dropped",
            "{DEFAULT_RULE:?} fired for an image program: {a}"
        );
        assert_eq!(a["priority"], "Warning", "{a}");
    }
}
