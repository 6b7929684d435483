//! Safety limits: the protected list, rate limits and deduplication.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

/// What response actions never touch.
#[derive(Debug, Clone)]
pub struct Protected {
    /// Process ids (pid 1 always, Harrier's own pid always, whatever the list says).
    pub pids: Vec<u32>,
    /// Command names (`/proc/PID/comm`) or executable base names.
    pub process_names: Vec<String>,
    /// Kubernetes namespaces (`k8s.ns.name`) whose alerts are never acted on.
    pub namespaces: Vec<String>,
}

/// Names protected by default: the node's agents and Harrier itself.
pub const DEFAULT_PROTECTED_NAMES: &[&str] = &[
    "kubelet",
    "containerd",
    "containerd-shim",
    "containerd-shim-runc-v1",
    "containerd-shim-runc-v2",
    "dockerd",
    "crio",
    "conmon",
    "runc",
    "sshd",
    "systemd",
    "harrier",
];

impl Default for Protected {
    fn default() -> Self {
        Protected {
            pids: vec![1],
            process_names: DEFAULT_PROTECTED_NAMES.iter().map(|s| s.to_string()).collect(),
            namespaces: vec!["kube-system".into()],
        }
    }
}

fn own_pid() -> u32 {
    std::process::id()
}

/// The thread group (process) a task id belongs to.
fn tgid_of(pid: u32) -> Option<u32> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("Tgid:")).and_then(|v| v.trim().parse().ok())
}

impl Protected {
    /// Why `pid` must not be touched, if it must not.
    pub fn pid_reason(&self, pid: u32) -> Option<String> {
        if pid <= 1 {
            return Some(format!("pid {pid} is init"));
        }
        let me = own_pid();
        if pid == me || tgid_of(pid) == Some(me) {
            return Some(format!("pid {pid} is Harrier itself"));
        }
        if self.pids.contains(&pid) {
            return Some(format!("pid {pid} is in the protected list"));
        }
        if let Ok(comm) = fs::read_to_string(format!("/proc/{pid}/comm")) {
            let comm = comm.trim_end();
            if let Some(n) =
                self.process_names.iter().find(|n| n.chars().take(15).collect::<String>() == comm)
            {
                return Some(format!("pid {pid} is {n}, a protected process"));
            }
        }
        if let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) {
            if let Some(base) = exe.file_name().and_then(|b| b.to_str()) {
                let base = base.trim_end_matches(" (deleted)");
                if self.process_names.iter().any(|n| n == base) {
                    return Some(format!("pid {pid} runs {base}, a protected program"));
                }
            }
        }
        None
    }

    /// Why an alert from this Kubernetes namespace must not be acted on.
    pub fn namespace_reason(&self, ns: Option<&str>) -> Option<String> {
        let ns = ns?;
        self.namespaces.iter().any(|n| n == ns).then(|| format!("namespace {ns} is protected"))
    }
}

/// A token bucket per key: `burst` actions at once, refilled at `per_minute`.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    buckets: HashMap<String, Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    /// Actions refused since the last one allowed.
    suppressed: u64,
}

/// The limiter's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Rate {
    /// Allowed; carries how many were refused since the last allowed one.
    Allowed { suppressed_before: u64 },
    /// Refused; `first` is true for the first refusal since the last allowed action.
    Limited { first: bool },
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiter { per_minute, burst: burst.max(1), buckets: HashMap::new() }
    }

    pub fn check(&mut self, key: &str, now: Instant) -> Rate {
        if self.per_minute == 0 {
            return Rate::Allowed { suppressed_before: 0 };
        }
        if self.buckets.len() > 100_000 {
            let burst = self.burst as f64;
            self.buckets.retain(|_, b| b.tokens < burst || b.suppressed > 0);
        }
        let b = self.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst as f64,
            last: now,
            suppressed: 0,
        });
        let dt = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + dt * self.per_minute as f64 / 60.0).min(self.burst as f64);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            let s = std::mem::take(&mut b.suppressed);
            Rate::Allowed { suppressed_before: s }
        } else {
            b.suppressed += 1;
            Rate::Limited { first: b.suppressed == 1 }
        }
    }
}

/// Remembers (rule, action, target) keys for a time window.
#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    seen: HashMap<String, Instant>,
}

impl Dedup {
    pub fn new(window: Duration) -> Self {
        Dedup { window, seen: HashMap::new() }
    }

    /// `Some(age)` when `key` was acted on within the window; otherwise records it.
    pub fn check(&mut self, key: &str, now: Instant) -> Option<Duration> {
        if self.window.is_zero() {
            return None;
        }
        if self.seen.len() > 100_000 {
            let w = self.window;
            self.seen.retain(|_, t| now.saturating_duration_since(*t) < w);
        }
        if let Some(t) = self.seen.get(key) {
            let age = now.saturating_duration_since(*t);
            if age < self.window {
                return Some(age);
            }
        }
        self.seen.insert(key.to_string(), now);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_and_self_are_protected() {
        let p = Protected::default();
        assert!(p.pid_reason(1).unwrap().contains("init"));
        assert!(p.pid_reason(std::process::id()).unwrap().contains("Harrier itself"));
        // A live thread of this process.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            tx.send(unsafe { libc::gettid() } as u32).unwrap();
            done_rx.recv().unwrap();
        });
        let live = rx.recv().unwrap();
        assert!(p.pid_reason(live).unwrap().contains("Harrier itself"));
        done_tx.send(()).unwrap();
        h.join().unwrap();
        assert_eq!(p.namespace_reason(Some("kube-system")).unwrap(), "namespace kube-system is protected");
        assert!(p.namespace_reason(Some("default")).is_none());
    }

    #[test]
    fn rate_limit_refills() {
        let mut r = RateLimiter::new(60, 2);
        let t = Instant::now();
        assert_eq!(r.check("k", t), Rate::Allowed { suppressed_before: 0 });
        assert_eq!(r.check("k", t), Rate::Allowed { suppressed_before: 0 });
        assert_eq!(r.check("k", t), Rate::Limited { first: true });
        assert_eq!(r.check("k", t), Rate::Limited { first: false });
        assert_eq!(r.check("other", t), Rate::Allowed { suppressed_before: 0 });
        assert_eq!(r.check("k", t + Duration::from_millis(1100)), Rate::Allowed { suppressed_before: 2 });
    }

    #[test]
    fn dedup_window() {
        let mut d = Dedup::new(Duration::from_secs(5));
        let t = Instant::now();
        assert!(d.check("a", t).is_none());
        assert!(d.check("a", t + Duration::from_secs(1)).is_some());
        assert!(d.check("b", t + Duration::from_secs(1)).is_none());
        assert!(d.check("a", t + Duration::from_secs(6)).is_none());
    }
}
