//! Shared by the container tests (containers.rs, containers_podman.rs, generate_containers.rs):
//! real runtimes started on private state dirs and sockets, an offline busybox image, and a
//! `harrier run` child whose alerts and log lines arrive on channels.
//!
//! Everything here fails loudly (panics with what is missing) instead of skipping: the tests need
//! root, eBPF and the runtimes scripts/setup.sh installs.
#![allow(dead_code)]

pub mod containerd;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
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

/// Panics (naming scripts/setup.sh) unless every tool is on PATH.
pub fn require_tools(tools: &[&str]) {
    for tool in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        assert!(
            found,
            "`{tool}` is not installed: run scripts/setup.sh (these tests need real container runtimes)"
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
    run_ok(
        Command::new("chroot").arg(&rootfs).args(["/bin/busybox", "--install", "-s", "/bin"]),
        "busybox --install",
    );
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

/// `harrier run` with JSON alerts; its stdout (alerts) and stderr lines delivered to channels.
/// Dropping it stops the process with SIGTERM.
pub struct Harrier {
    child: Child,
    alerts: mpsc::Receiver<serde_json::Value>,
    log: mpsc::Receiver<String>,
}

impl Harrier {
    /// `harrier run -o json_output=true ARGS…` with `env`; waits until live detection started.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Harrier {
        let mut child = Command::new(env!("CARGO_BIN_EXE_harrier"))
            .args(["run", "-o", "json_output=true"])
            .args(args)
            .envs(env.iter().copied())
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
    pub fn wait_log(&self, text: &str, within: Duration, seen: &mut String) -> bool {
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

    /// The first alert matching `pred` within `within` (alerts read before it are discarded).
    pub fn wait_alert(
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

    /// Every alert that arrives until `quiet` passes without one (or `within` ends).
    pub fn collect_alerts(&self, quiet: Duration, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.alerts.recv_timeout(left.min(quiet)) {
                Ok(v) => out.push(v),
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for Harrier {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// An output field of a JSON alert.
pub fn field<'a>(a: &'a serde_json::Value, k: &str) -> &'a serde_json::Value {
    &a["output_fields"][k]
}

/// An interactive shell with a TTY, started by `command` in a detached tmux session: types
/// `tty`, then `exit`, and ends the session when dropped.
pub struct TmuxShell {
    session: String,
}

impl TmuxShell {
    pub fn start(command: &str) -> TmuxShell {
        let session = format!("harrier{}", unique());
        run_ok(
            Command::new("tmux").args(["new-session", "-d", "-s", &session, "-x", "80", "-y", "24", command]),
            "tmux",
        );
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("tmux").args(["send-keys", "-t", &session, "tty", "Enter"]).status();
        TmuxShell { session }
    }
}

impl Drop for TmuxShell {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["send-keys", "-t", &self.session, "exit", "Enter"]).status();
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.session]).status();
    }
}
