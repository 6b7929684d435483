//! A real containerd for tests: its own root, state, config and socket below a temporary
//! directory, runc, and the local busybox image [`IMAGE`] imported into the `k8s.io` namespace.
//! Dropping it removes the containers it started, stops the daemon and unmounts what is left.

use super::{busybox_oci_image, require_tools, run_ok, unmount_below};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "docker.io/library/bb:latest";

pub struct Containerd {
    pub dir: tempfile::TempDir,
    daemon: Child,
    pub socket: PathBuf,
    containers: Vec<String>,
}

impl Containerd {
    pub fn start() -> Containerd {
        require_tools(&["containerd", "ctr", "runc", "busybox", "tmux"]);
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
        let oci = busybox_oci_image(c.dir.path(), IMAGE);
        run_ok(c.ctr().args(["image", "import"]).arg(&oci), "ctr image import");
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
