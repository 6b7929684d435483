//! The deployment image, run as the DaemonSet runs it (root, real kernel, real containerd):
//! `deploy/image/build.sh` builds the OCI image offline from the harrier binary, a private
//! containerd imports it, and `ctr run` starts it with exactly what the DaemonSet in
//! `deploy/kubernetes/harrier.yaml` declares: host PID, its hostPath mounts, its capabilities
//! (drop ALL, add BPF/PERFMON/SYS_RESOURCE/SYS_PTRACE; not privileged), its seccomp profile, a
//! read-only root file system, its env and its ConfigMap. Then a uniquely named program reads
//! /etc/shadow on the host and the containerised Harrier must raise "Read sensitive file by
//! untrusted program" for it.
//!
//! The image is built from the test profile's binary (`CARGO_BIN_EXE_harrier`), not a release
//! build, so the test does not need a second, slow build; build.sh takes either.
//!
//! Needs root, eBPF, containerd, ctr, runc (scripts/setup-tests.sh); fails, never skips.

#[path = "support/runtimes.rs"]
mod runtimes;

use runtimes::*;
use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The objects of the plain manifest.
fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(repo().join("deploy/kubernetes/harrier.yaml")).unwrap();
    serde_yaml::Deserializer::from_str(&text).map(|d| Value::deserialize(d).unwrap()).collect()
}

use serde::Deserialize;

fn object<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in deploy/kubernetes/harrier.yaml"))
}

const OCI_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Capability numbers (linux/capability.h) of the names the manifest adds.
fn cap_bit(name: &str) -> u32 {
    match name {
        "BPF" => 39,
        "PERFMON" => 38,
        "SYS_RESOURCE" => 24,
        "SYS_PTRACE" => 19,
        "SYS_ADMIN" => 21,
        other => panic!("add the bit of CAP_{other} here"),
    }
}

/// `ctr run` arguments for the DaemonSet's pod spec. `host_paths` maps a hostPath to what stands
/// for it here (the test's private containerd directory for /run/containerd).
fn ctr_args_for(pod: &Value, objs: &[Value], dir: &Path, host_paths: &[(&str, PathBuf)]) -> Vec<String> {
    let c = &pod["containers"][0];
    let mut args = Vec::new();
    if pod["hostPID"] == true {
        args.push("--with-ns".into());
        // The host's PID namespace (this process's; /proc/1/ns may not be readable here).
        args.push(format!("pid:/proc/{}/ns/pid", std::process::id()));
    }
    let sc = &c["securityContext"];
    assert_ne!(sc["privileged"], true, "the DaemonSet must not be privileged");
    if sc["capabilities"]["drop"].as_sequence().is_some_and(|v| v.iter().any(|x| x == "ALL")) {
        // ctr has no "ALL": drop each capability of its default set (the OCI runtime defaults).
        for cap in OCI_DEFAULT_CAPS {
            args.push("--cap-drop".into());
            args.push((*cap).into());
        }
    }
    for cap in sc["capabilities"]["add"].as_sequence().unwrap() {
        args.push("--cap-add".into());
        args.push(format!("CAP_{}", cap.as_str().unwrap()));
    }
    if sc["seccompProfile"]["type"] == "RuntimeDefault" {
        args.push("--seccomp".into());
    }
    if sc["readOnlyRootFilesystem"] == true {
        args.push("--read-only".into());
    }
    for e in c["env"].as_sequence().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = match e.get("value") {
            Some(v) => v.as_str().unwrap().to_string(),
            None if e["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName" => "test-node".to_string(),
            None => panic!("env {name}: unsupported valueFrom"),
        };
        args.push("--env".into());
        args.push(format!("{name}={value}"));
    }
    let volumes = pod["volumes"].as_sequence().unwrap();
    for m in c["volumeMounts"].as_sequence().unwrap() {
        let name = m["name"].as_str().unwrap();
        let dst = m["mountPath"].as_str().unwrap();
        let ro = m["readOnly"] == true;
        let v = volumes.iter().find(|v| v["name"] == name).unwrap();
        let src: PathBuf = if let Some(hp) = v["hostPath"]["path"].as_str() {
            match host_paths.iter().find(|(p, _)| *p == hp) {
                Some((_, here)) => here.clone(),
                None => PathBuf::from(hp),
            }
        } else if let Some(cm) = v["configMap"]["name"].as_str() {
            let d = dir.join(format!("cm-{cm}"));
            std::fs::create_dir_all(&d).unwrap();
            let cmo = object(objs, "ConfigMap", cm);
            if let Some(data) = cmo["data"].as_mapping() {
                for (k, val) in data {
                    std::fs::write(d.join(k.as_str().unwrap()), val.as_str().unwrap()).unwrap();
                }
            }
            d
        } else if v.get("emptyDir").is_some() {
            let d = dir.join(format!("empty-{name}"));
            std::fs::create_dir_all(&d).unwrap();
            d
        } else {
            panic!("volume {name}: unsupported kind");
        };
        assert!(src.exists(), "volume {name}: {} does not exist here", src.display());
        args.push("--mount".into());
        args.push(format!(
            "type=bind,src={},dst={dst},options=rbind:{}",
            src.display(),
            if ro { "ro" } else { "rw" }
        ));
    }
    args
}

#[test]
fn image_runs_in_containerd_as_the_daemonset_and_detects_a_sensitive_read_on_the_host() {
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { geteuid() }, 0, "this test needs root (containerd, eBPF)");
    let ctd = Containerd::start_bare();
    let dir = ctd.dir.path().to_path_buf();
    let image = dir.join("harrier-image.tar");
    let reference = format!("docker.io/library/harrier-test:{}", unique());
    run_ok(
        Command::new("bash").arg(repo().join("deploy/image/build.sh")).args([
            "--binary",
            env!("CARGO_BIN_EXE_harrier"),
            "--tag",
            &reference,
            "--out",
            image.to_str().unwrap(),
        ]),
        "deploy/image/build.sh",
    );
    run_ok(ctd.ctr().args(["image", "import"]).arg(&image), "ctr image import");

    let objs = manifest();
    let ds = object(&objs, "DaemonSet", "harrier");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    // DirectoryOrCreate: CRI-O is not running here, kubelet would create the empty directory.
    std::fs::create_dir_all(dir.join("no-crio")).unwrap();
    let args = ctr_args_for(
        pod,
        &objs,
        &dir,
        &[("/run/containerd", dir.clone()), ("/run/crio", dir.join("no-crio"))],
    );
    let id = format!("harrier-ds-{}", unique());
    let log = dir.join("harrier.log");
    let mut cmd = ctd.ctr();
    cmd.args(["run", "-d", "--log-uri"]).arg(format!("file://{}", log.display()));
    cmd.args(&args);
    cmd.arg(&reference).arg(&id);
    cmd.arg("/usr/bin/harrier");
    for a in c["args"].as_sequence().unwrap() {
        cmd.arg(a.as_str().unwrap());
    }
    cmd.stdin(Stdio::null());
    run_ok(&mut cmd, "ctr run (the DaemonSet's container)");
    let _guard = Task { ctd: &ctd, id: id.clone() };

    // Started: the probe attached inside the container, with the DaemonSet's capabilities only.
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("live detection started") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "harrier did not start in the container:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The containerised process holds exactly the DaemonSet's capabilities.
    let tasks = run_ok(ctd.ctr().args(["task", "ls"]), "ctr task ls");
    let pid: u32 = tasks
        .lines()
        .find(|l| l.starts_with(&id))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid for {id} in:\n{tasks}"));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    let want: u64 = c["securityContext"]["capabilities"]["add"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|x| 1u64 << cap_bit(x.as_str().unwrap()))
        .sum();
    assert_eq!(cap_eff, want, "CapEff of the containerised harrier: {cap_eff:#x}, want {want:#x}");

    // `harrier doctor` inside the running container: the probe loads with these capabilities and
    // the runtime socket the DaemonSet mounts (with its env pointing at it) answers.
    let out = ctd
        .ctr()
        .args(["task", "exec", "--exec-id", &format!("doctor-{}", unique()), &id])
        .args(["/usr/bin/harrier", "doctor", "--json", "--check", "probe", "--check", "runtimes"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("doctor in the container: {e}\n{text}{}", String::from_utf8_lossy(&out.stderr))
    });
    let status = |check: &str, subject: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check && f["subject"] == subject)
            .map(|f| f["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {check}/{subject} in {v:#}"))
    };
    assert_eq!(status("probe", "eBPF programs"), "ok", "{v:#}");
    assert_eq!(status("runtimes", "containerd"), "ok", "{v:#}");

    // A sensitive read on the host, by a program only this test runs.
    let name = format!("shdw{}", std::process::id() % 100000);
    let prog = dir.join(&name);
    std::fs::copy("/bin/cat", &prog).unwrap();
    let t = Instant::now();
    let alert = loop {
        let _ = Command::new(&prog).arg("/etc/shadow").stdout(Stdio::null()).status();
        std::thread::sleep(Duration::from_millis(500));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let hit = text
            .lines()
            .filter_map(|l| l.find('{').map(|i| &l[i..]))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|a| {
                a["rule"] == "Read sensitive file by untrusted program"
                    && a["output_fields"]["proc.name"] == name.as_str()
            });
        if let Some(a) = hit {
            break a;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no alert for {name} reading /etc/shadow:\n{text}");
    };
    assert_eq!(alert["output_fields"]["fd.name"], "/etc/shadow", "{alert}");
    assert_eq!(alert["hostname"], "test-node", "FALCO_HOSTNAME from the DaemonSet's env: {alert}");
    assert_eq!(alert["output_fields"]["container.id"], "host", "{alert}");
    drop(_guard);
    ctd.ctr().args(["image", "rm", &reference]).output().ok();
}

struct Task<'a> {
    ctd: &'a Containerd,
    id: String,
}

impl Drop for Task<'_> {
    fn drop(&mut self) {
        let _ = self.ctd.ctr().args(["task", "kill", "-s", "KILL", &self.id]).output();
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.ctd.ctr().args(["task", "rm", "-f", &self.id]).output();
        let _ = self.ctd.ctr().args(["container", "rm", &self.id]).output();
    }
}

extern "C" {
    fn geteuid() -> u32;
}
