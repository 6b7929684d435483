//! Real container runtimes for tests and benchmarks, each on private state dirs and a private
//! socket: [`Containerd`] (with runc) and [`Podman`] (its API service), with an offline busybox
//! image; plus small process helpers. Standalone (std, tempfile): the container tests use it
//! through `support`, and `crates/containers/benches/churn.rs` includes it by path.
//!
//! Everything here fails loudly (panics naming what is missing) instead of skipping: it needs
//! root and the runtimes scripts/setup-tests.sh installs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A per-call unique tag (process id and a counter), for names that must not collide when tests
/// run in parallel.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A random 64-hex container id.
pub fn hex_id(seed: &str) -> String {
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

/// Run a command to completion; panics with its output when it fails. Returns stdout.
pub fn run_ok(cmd: &mut Command, what: &str) -> String {
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

/// Panics (naming scripts/setup-tests.sh) unless every tool is on PATH.
pub fn require_tools(tools: &[&str]) {
    for tool in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        assert!(
            found,
            "`{tool}` is not installed: run scripts/setup-tests.sh (these tests need real container runtimes)"
        );
    }
}

/// A busybox root file system (from busybox-static, with /etc/passwd and /etc/group) packed as
/// `dir/rootfs.tar`.
pub fn busybox_rootfs_tar(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for sub in ["bin", "proc", "sys", "dev", "etc", "tmp", "root", "mnt"] {
        std::fs::create_dir_all(rootfs.join(sub)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy /bin/busybox (busybox-static)");
    // The applet links, made here rather than by running the fresh copy (`busybox --install`):
    // a file just written can be "text file busy" while a parallel test's fork still holds the
    // writing fd.
    let applets = run_ok(Command::new("/bin/busybox").arg("--list"), "busybox --list");
    for a in applets.lines().map(str::trim).filter(|a| !a.is_empty() && *a != "busybox") {
        let link = rootfs.join("bin").join(a);
        if !link.exists() {
            std::os::unix::fs::symlink("/bin/busybox", &link).expect("applet link");
        }
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    let tar = dir.join("rootfs.tar");
    run_ok(Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg("."), "tar rootfs");
    tar
}

/// The busybox root file system as an OCI image archive named `reference` (built with
/// ../shared/tools/mkoci.py), at `dir/image-oci.tar`.
pub fn busybox_oci_image(dir: &Path, reference: &str) -> PathBuf {
    let tar = busybox_rootfs_tar(dir);
    let mkoci = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/mkoci.py");
    assert!(mkoci.is_file(), "missing {} (builds the offline OCI image)", mkoci.display());
    let oci = dir.join("image-oci.tar");
    run_ok(Command::new("python3").arg(&mkoci).arg(&tar).arg(&oci).arg(reference), "mkoci.py");
    oci
}

/// Lazily unmount whatever is still mounted below `dir` (overlays, shm) before it is deleted.
pub fn unmount_below(dir: &Path) {
    let prefix = format!("{}/", dir.display());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut points: Vec<&str> =
        mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| m.starts_with(&prefix)).collect();
    // Deepest first.
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in points {
        let _ = Command::new("umount").arg("-l").arg(m).status();
    }
}

/// The busybox image imported into the test containerd.
pub const IMAGE: &str = "docker.io/library/bb:latest";

/// A real containerd: its own root, state, config and socket below a temporary directory, runc,
/// and the local busybox image [`IMAGE`] imported into the `k8s.io` namespace. Dropping it
/// removes the containers it started, stops the daemon and unmounts what is left.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    daemon: Child,
    pub socket: PathBuf,
    containers: Vec<String>,
}

impl Containerd {
    /// Start the daemon and import [`IMAGE`].
    pub fn start() -> Containerd {
        let c = Self::start_bare();
        let oci = busybox_oci_image(c.dir.path(), IMAGE);
        run_ok(c.ctr().args(["image", "import"]).arg(&oci), "ctr image import");
        c
    }

    /// Start the daemon, with no image.
    pub fn start_bare() -> Containerd {
        require_tools(&["containerd", "ctr", "runc", "busybox"]);
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
        c
    }

    /// `ctr` on this daemon, in the `k8s.io` namespace.
    pub fn ctr(&self) -> Command {
        self.ctr_in("k8s.io")
    }

    /// `ctr` on this daemon, in `namespace`.
    pub fn ctr_in(&self, namespace: &str) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("-a").arg(&self.socket).args(["-n", namespace]);
        cmd
    }

    /// `ctr run` with labels, an optional cgroup parent; `detach` for long-running containers
    /// (removed on drop), otherwise `--rm` (waits for the command).
    pub fn run(
        &mut self,
        id: &str,
        labels: &[(&str, &str)],
        cgroup: Option<&str>,
        detach: bool,
        cmd: &[&str],
    ) {
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

    /// Every container id in `namespace`.
    pub fn containers_in(&self, namespace: &str) -> Vec<String> {
        let out = self.ctr_in(namespace).args(["containers", "list", "-q"]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Every image reference in `namespace`.
    pub fn images_in(&self, namespace: &str) -> Vec<String> {
        let out = self.ctr_in(namespace).args(["images", "list", "-q"]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
            .unwrap_or_default()
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
        unmount_below(self.dir.path());
    }
}

/// The busybox image imported into the test podman.
pub const PODMAN_IMAGE: &str = "localhost/harrier-bb:latest";

/// The podman settings this machine needs: no systemd (cgroupfs manager, file events logger),
/// no CAP_SYS_RESOURCE (explicit ulimits), cgroups v1 hybrid (runc: crun refuses), no CNI (no
/// network namespace set up).
const CONTAINERS_CONF: &str = r#"[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"#;

/// podman with private storage and its API service on a private socket. Dropping it removes the
/// containers and the image, stops the service and unmounts what is left.
pub struct Podman {
    pub dir: tempfile::TempDir,
    service: Child,
    pub socket: PathBuf,
}

impl Podman {
    pub fn start() -> Podman {
        require_tools(&["podman", "conmon", "runc", "busybox"]);
        let dir = tempfile::Builder::new().prefix("harrier-podman").tempdir_in("/tmp").unwrap();
        std::fs::write(dir.path().join("containers.conf"), CONTAINERS_CONF).unwrap();
        let socket = dir.path().join("podman.sock");
        let log = std::fs::File::create(dir.path().join("service.log")).unwrap();
        let service = Self::command(dir.path())
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start podman system service");
        let p = Podman { dir, service, socket };
        let t = Instant::now();
        while !p.pings() {
            if t.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(p.dir.path().join("service.log")).unwrap_or_default();
                panic!("podman's API service did not answer on {} within 30 s:\n{log}", p.socket.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let tar = busybox_rootfs_tar(p.dir.path());
        run_ok(p.podman().arg("import").arg(&tar).arg(PODMAN_IMAGE), "podman import");
        p
    }

    /// The podman CLI on the storage below `d` (a [`Podman::dir`]).
    pub fn command(d: &Path) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "overlay"]);
        c
    }

    /// The podman CLI on this instance's storage.
    pub fn podman(&self) -> Command {
        let mut c = Self::command(self.dir.path());
        c.stdin(Stdio::null());
        c
    }

    /// The shell command line of [`Podman::podman`] (for tmux).
    pub fn command_line(&self) -> String {
        let c = self.podman();
        let env = format!("CONTAINERS_CONF={}", self.dir.path().join("containers.conf").display());
        let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        format!("env {env} podman {}", args.join(" "))
    }

    /// `GET /_ping` on the API socket answers OK.
    pub fn pings(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.socket) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n").is_err() {
            return false;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.starts_with("HTTP/1.") && out.contains(" 200 ")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman().args(["rm", "-a", "-f", "-t", "0"]).output();
        let _ = self.podman().args(["rmi", "-a", "-f"]).output();
        let _ = self.service.kill();
        let _ = self.service.wait();
        unmount_below(self.dir.path());
    }
}
