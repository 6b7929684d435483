//! Shared by the container tests (containers.rs, containers_podman.rs, generate_containers.rs):
//! the real runtimes of [`runtimes`], and a `harrier run` child whose alerts and log lines
//! arrive on channels.
#![allow(dead_code)]

pub mod runtimes;
pub use runtimes::*;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `harrier run` with JSON alerts; its stdout (alerts) and stderr lines delivered to channels.
/// Dropping it stops the process with SIGTERM.
pub struct Harrier {
    child: Child,
    alerts: mpsc::Receiver<serde_json::Value>,
    log: mpsc::Receiver<String>,
    /// stderr up to "live detection started".
    pub startup: String,
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
        let mut h = Harrier { child, alerts, log, startup: String::new() };
        let mut seen = String::new();
        let started = h.wait_log("live detection started", Duration::from_secs(60), &mut seen);
        assert!(started, "harrier run did not start (eBPF must load here; run as root):\n{seen}");
        h.startup = seen;
        h
    }

    /// Whether stderr said `text`, at start-up or within `within` after; what was read is
    /// appended to `seen` (start-up included).
    pub fn logged(&self, text: &str, within: Duration, seen: &mut String) -> bool {
        seen.push_str(&self.startup);
        self.startup.contains(text) || self.wait_log(text, within, seen)
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

impl Harrier {
    /// The process id (for /proc sampling and signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stop with SIGTERM and return every stderr line not read yet.
    pub fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let mut out = Vec::new();
        while let Ok(l) = self.log.recv_timeout(Duration::from_secs(2)) {
            out.push(l);
        }
        out
    }

    /// Stderr lines that arrived so far (without waiting).
    pub fn log_now(&self) -> Vec<String> {
        self.log.try_iter().collect()
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
        require_tools(&["tmux"]);
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
