//! Shared helpers for the CLI integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/reference` from the repository root. Tests that need it fail (not skip) when it is
/// missing.
pub fn reference() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    assert!(
        p.is_dir(),
        "reference data missing at {} (the conformance tests read the official Falco files from ../shared/reference)",
        p.display()
    );
    p
}

pub fn capture(name: &str) -> PathBuf {
    reference().join("scap").join(name)
}

pub fn official(name: &str) -> PathBuf {
    reference().join("falco-rules").join(name)
}

pub fn harrier(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(args)
        .env("TZ", "UTC")
        .env("FALCO_HOSTNAME", "test-host")
        .output()
        .expect("run harrier")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn write_rules(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Replay `capture` with rule files and extra `-o` options, Falco style.
pub fn replay(rules: &[&Path], capture: &Path, opts: &[&str]) -> Output {
    let mut args: Vec<String> = Vec::new();
    for r in rules {
        args.push("-r".into());
        args.push(r.display().to_string());
    }
    args.push("-o".into());
    args.push("engine.kind=replay".into());
    args.push("-o".into());
    args.push(format!("engine.replay.capture_file={}", capture.display()));
    for o in opts {
        args.push("-o".into());
        args.push(o.to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    harrier(&refs)
}

/// The JSON alert lines of an output.
pub fn json_alerts(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("valid JSON alert"))
        .collect()
}

/// A `harrier` child process that has reported it is ready, with its stdout lines (and their
/// arrival times) on a channel. Dropping it stops the process with SIGTERM.
pub struct Spawned {
    pub child: std::process::Child,
    pub stdout: std::sync::mpsc::Receiver<(std::time::Instant, String)>,
    /// The whole stderr, sent when the process closes it.
    stderr_end: std::sync::mpsc::Receiver<Result<(), String>>,
}

/// Start `harrier ARGS…` and wait until a stderr line contains `ready` (60 s at most). Panics
/// with the process's stderr when it exits or never gets ready (e.g. eBPF cannot load here).
pub fn spawn_ready(args: &[&str], ready: &str) -> Spawned {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;
    let mut child = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start harrier");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send((std::time::Instant::now(), l));
        }
    });
    let err = child.stderr.take().expect("stderr");
    let (ready_tx, ready_rx) = mpsc::channel();
    let marker = ready.to_string();
    std::thread::spawn(move || {
        let mut log = String::new();
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if l.contains(&marker) {
                let _ = ready_tx.send(Ok(()));
            }
            log.push_str(&l);
            log.push('\n');
        }
        let _ = ready_tx.send(Err(log));
    });
    match ready_rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(Ok(())) => Spawned { child, stdout: rx, stderr_end: ready_rx },
        Ok(Err(log)) => {
            let _ = child.kill();
            panic!("harrier {args:?} did not start (live capture needs root and eBPF here):\n{log}")
        }
        Err(_) => {
            let _ = child.kill();
            panic!("harrier {args:?} did not report '{ready}' within 60 s")
        }
    }
}

impl Spawned {
    /// Ask the process to stop (SIGTERM) and wait for it; returns whether it exited cleanly.
    pub fn stop(mut self) -> bool {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let ok = self.child.wait().map(|s| s.success()).unwrap_or(false);
        std::mem::forget(self);
        ok
    }

    /// Stop it (SIGTERM), wait, and return everything it wrote on stderr.
    pub fn stop_with_stderr(mut self) -> String {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let log = loop {
            match self.stderr_end.recv_timeout(std::time::Duration::from_secs(10)) {
                Ok(Ok(())) => continue,
                Ok(Err(log)) => break log,
                Err(_) => break String::new(),
            }
        };
        std::mem::forget(self);
        log
    }

    /// Wait for the process to end by itself.
    pub fn wait(mut self) -> bool {
        let ok = self.child.wait().map(|s| s.success()).unwrap_or(false);
        std::mem::forget(self);
        ok
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET over a plain socket: (status, body).
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    std::io::Write::write_fmt(&mut s, format_args!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n")).ok()?;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

pub fn poll<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_secs(secs) {
        if let Some(x) = f() {
            return Some(x);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

/// The test plugin of crates/plugins (falco_plugin SDK) built as a cdylib with `features`, in its
/// own target dir `dir` under target/.
pub fn build_test_plugin(features: &[&str], dir: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/test-plugin/Cargo.toml");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join(dir);
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .args(features.iter().flat_map(|f| ["--features", f]))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTC_WRAPPER")
        .status()
        .unwrap();
    assert!(st.success(), "building the test plugin failed");
    target.join("debug/libharrier_test_plugin.so")
}

/// A private tmux server (its own socket) giving a test a real pty; killed when dropped. `pid` is
/// the first pane's process when the server was started by [`Tmux::bash`].
pub struct Tmux {
    pub sock: PathBuf,
    pub pid: u32,
}

impl Tmux {
    /// A server at `sock` that the test starts itself.
    pub fn at(sock: PathBuf) -> Tmux {
        Tmux { sock, pid: 0 }
    }

    /// A server running `bash --norc` (prompt `t$ `, history in `dir/hist`), once the prompt shows.
    pub fn bash(dir: &Path) -> Tmux {
        let sock = dir.join("tmux.sock");
        let st = Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args(["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40"])
            .env("HISTFILE", dir.join("hist"))
            .env("PS1", "t$ ")
            .args(["--", "bash", "--norc", "--noprofile"])
            .status()
            .expect("tmux (scripts/setup-tests.sh installs it)");
        assert!(st.success());
        let mut t = Tmux::at(sock);
        t.pid = t.tmux(&["display-message", "-p", "#{pane_pid}"]).trim().parse().unwrap();
        let t0 = std::time::Instant::now();
        while !t.tmux(&["capture-pane", "-p"]).contains("t$") {
            assert!(t0.elapsed() < std::time::Duration::from_secs(10), "no bash prompt");
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        t
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let o = Command::new("tmux").arg("-S").arg(&self.sock).args(args).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Type text literally.
    pub fn text(&self, s: &str) {
        self.tmux(&["send-keys", "-l", s]);
        std::thread::sleep(std::time::Duration::from_millis(60));
    }

    /// Press keys by tmux name (Enter, BSpace, C-u, Up, Tab…).
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
            std::thread::sleep(std::time::Duration::from_millis(40));
        }
    }

    /// Type a line and press Enter, then give the shell a moment.
    pub fn line(&self, s: &str) {
        self.text(s);
        self.keys(&["Enter"]);
        std::thread::sleep(std::time::Duration::from_millis(260));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .status();
    }
}
