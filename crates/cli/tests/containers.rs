//! Containers and Kubernetes, end to end (root, real runtimes): `harrier run` against a real
//! containerd (started here on its own state dirs and socket, with runc and a local busybox image)
//! reports container and pod metadata in alerts: for a TTY shell exec'd into a container started
//! with Kubernetes labels under a kubelet-style cgroup parent, for a short-lived container, for
//! host processes (`host`), and while the runtime socket disappears and comes back.
//!
//! These tests need root, eBPF, containerd, ctr, runc, tmux and busybox (scripts/setup.sh installs
//! them). They fail (not skip) with a clear message when a runtime cannot start.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn unique() -> String {
    format!("{}{}", std::process::id(), Instant::now().elapsed().as_nanos() % 1000)
}

/// A random 64-hex container id.
fn hex_id(seed: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(seed.as_bytes());
        h.write_u64(i);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A containerd daemon on its own root, state and socket, with the local image
/// `docker.io/library/bb:latest` (busybox) imported into the `k8s.io` namespace.
struct Containerd {
    dir: tempfile::TempDir,
    daemon: Child,
    pub socket: PathBuf,
    containers: Vec<String>,
}

const IMAGE: &str = "docker.io/library/bb:latest";

impl Containerd {
    fn start() -> Containerd {
        for tool in ["containerd", "ctr", "runc", "busybox", "tmux"] {
            let found = std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
                .unwrap_or(false);
            assert!(
                found,
                "`{tool}` is not installed: run scripts/setup.sh (these tests need real container runtimes)"
            );
        }
        let dir = tempfile::Builder::new().prefix("harrier-ctd").tempdir_in("/tmp").unwrap();
        let d = dir.path();
        let socket = d.join("containerd.sock");
        let config = d.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{r}/root\"\nstate = \"{r}/state\"\n[grpc]\n  address = \"{s}\"\n\
                 [ttrpc]\n  address = \"{r}/containerd.sock.ttrpc\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\"]\n  restrict_oom_score_adj = true\n",
                r = d.display(),
                s = socket.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let c = Containerd { dir, daemon, socket, containers: Vec::new() };
        let t = Instant::now();
        loop {
            let ok = c.ctr().arg("version").output().map(|o| o.status.success()).unwrap_or(false);
            if ok {
                break;
            }
            if t.elapsed() > Duration::from_secs(20) {
                let log = std::fs::read_to_string(c.dir.path().join("containerd.log")).unwrap_or_default();
                panic!("containerd did not start within 20 s (needs root):\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        c.import_image();
        c
    }

    fn ctr(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("-a").arg(&self.socket).args(["-n", "k8s.io"]);
        cmd
    }

    /// A busybox rootfs packed as an OCI image archive (with ../shared/tools/mkoci.py) and imported.
    fn import_image(&self) {
        let d = self.dir.path();
        let rootfs = d.join("rootfs");
        for sub in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("copy /bin/busybox (busybox-static)");
        run_ok(
            Command::new("chroot").arg(&rootfs).args(["/bin/busybox", "--install", "-s", "/bin"]),
            "busybox --install",
        );
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
        let tar = d.join("rootfs.tar");
        run_ok(Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg("."), "tar rootfs");
        let mkoci = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/mkoci.py");
        assert!(mkoci.is_file(), "missing {} (builds the offline OCI image)", mkoci.display());
        let oci = d.join("bb-oci.tar");
        run_ok(Command::new("python3").arg(&mkoci).arg(&tar).arg(&oci).arg(IMAGE), "mkoci.py");
        run_ok(self.ctr().args(["image", "import"]).arg(&oci), "ctr image import");
    }

    /// `ctr run` with labels, an optional cgroup parent; `detach` for long-running containers.
    fn run(&mut self, id: &str, labels: &[(&str, &str)], cgroup: Option<&str>, detach: bool, cmd: &[&str]) {
        let mut c = self.ctr();
        c.arg("run");
        if detach {
            c.arg("-d");
        } else {
            c.arg("--rm");
        }
        for (k, v) in labels {
            c.arg("--label").arg(format!("{k}={v}"));
        }
        if let Some(cg) = cgroup {
            c.arg("--cgroup").arg(cg);
        }
        c.arg(IMAGE).arg(id).args(cmd);
        c.stdin(Stdio::null());
        run_ok(&mut c, &format!("ctr run {id}"));
        if detach {
            self.containers.push(id.to_string());
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.containers) {
            let _ = self.ctr().args(["task", "kill", "-s", "KILL", &id]).output();
            std::thread::sleep(Duration::from_millis(100));
            let _ = self.ctr().args(["task", "rm", "-f", &id]).output();
            let _ = self.ctr().args(["container", "rm", &id]).output();
        }
        let _ = self.ctr().args(["image", "rm", IMAGE]).output();
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // Overlay mounts of removed containers are gone; unmount anything left before deleting.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {}[^ ]*' /proc/mounts | xargs -r -n1 umount -l",
                self.dir.path().display()
            ))
            .status();
    }
}

/// `harrier run` with JSON alerts, its stdout and stderr lines delivered to channels.
struct Harrier {
    child: Child,
    alerts: mpsc::Receiver<serde_json::Value>,
    log: mpsc::Receiver<String>,
}

impl Harrier {
    fn start(rules: &Path, socket: &Path) -> Harrier {
        let mut child = Command::new(env!("CARGO_BIN_EXE_harrier"))
            .args(["run", "-r", rules.to_str().unwrap(), "-o", "json_output=true"])
            .env("HARRIER_CONTAINERD_SOCKET", socket)
            // Only the test's containerd: no podman, docker or CRI-O sockets.
            .env("HARRIER_PODMAN_SOCKET", "")
            .env("HARRIER_DOCKER_SOCKET", "")
            .env("HARRIER_CRIO_SOCKET", "")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start harrier run");
        let (tx, alerts) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
                    let _ = tx.send(v);
                }
            }
        });
        let (ltx, log) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = ltx.send(l);
            }
        });
        let h = Harrier { child, alerts, log };
        let mut seen = String::new();
        let started = h.wait_log("live detection started", Duration::from_secs(60), &mut seen);
        assert!(started, "harrier run did not start (eBPF must load here; run as root):\n{seen}");
        h
    }

    /// Wait for a stderr line containing `text`; everything read is appended to `seen`.
    fn wait_log(&self, text: &str, within: Duration, seen: &mut String) -> bool {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(l) = self.log.recv_timeout(left) else { return false };
            seen.push_str(&l);
            seen.push('\n');
            if l.contains(text) {
                return true;
            }
        }
        false
    }

    fn wait_alert(
        &self,
        pred: impl Fn(&serde_json::Value) -> bool,
        within: Duration,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(v) = self.alerts.recv_timeout(left) else { return None };
            if pred(&v) {
                return Some(v);
            }
        }
        None
    }
}

impl Drop for Harrier {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn field<'a>(a: &'a serde_json::Value, k: &str) -> &'a serde_json::Value {
    &a["output_fields"][k]
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
    let h = Harrier::start(&rules, &ctd.socket);
    let mut log = String::new();
    assert!(
        h.wait_log("container metadata from containerd", Duration::from_secs(5), &mut log),
        "no start-up line naming containerd:\n{log}"
    );

    // An interactive shell with a TTY, exec'd into the container under tmux.
    let session = format!("harrier{u}");
    let exec =
        format!("ctr -a {} -n k8s.io task exec -t --exec-id sh{u} {web} /bin/sh", ctd.socket.display());
    run_ok(
        Command::new("tmux").args(["new-session", "-d", "-s", &session, "-x", "80", "-y", "24", &exec]),
        "tmux",
    );
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("tmux").args(["send-keys", "-t", &session, "tty", "Enter"]).status();
    let a = h.wait_alert(|a| a["rule"] == "test terminal shell in container", Duration::from_secs(10));
    let _ = Command::new("tmux").args(["send-keys", "-t", &session, "exit", "Enter"]).status();
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
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
    let h = Harrier::start(&rules, &ctd.socket);

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
        .unwrap_or_else(|| panic!("alert for container {name}"))
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
