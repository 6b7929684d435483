//! Liveness and readiness.
//!
//! Ready means the probe is attached and the rules are loaded (the binary says so once). Live means
//! the event loop has beaten recently: the loop beats at least once a second even when idle, so a
//! loop stuck longer than the stall limit (rule evaluation that never ends, a blocked output) makes
//! `/healthz` fail and the orchestrator restart the process.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Health {
    origin: Instant,
    ready: AtomicBool,
    /// Milliseconds since `origin` of the last beat.
    last_beat_ms: AtomicU64,
    stall_after: Duration,
}

impl Health {
    /// The loop counts as stalled when it has not beaten for `stall_after`.
    pub fn new(stall_after: Duration) -> Self {
        Health {
            origin: Instant::now(),
            ready: AtomicBool::new(false),
            last_beat_ms: AtomicU64::new(0),
            stall_after,
        }
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// The event loop is alive (call at least once a second).
    pub fn beat(&self) {
        self.last_beat_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
        if ready {
            self.beat();
        }
    }

    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Time since the last beat.
    pub fn since_beat(&self) -> Duration {
        Duration::from_millis(self.now_ms().saturating_sub(self.last_beat_ms.load(Ordering::Relaxed)))
    }

    /// Not stalled (before readiness, the loop has not started: live).
    pub fn live(&self) -> bool {
        !self.ready() || self.since_beat() < self.stall_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_is_not_live() {
        let h = Health::new(Duration::from_millis(50));
        assert!(h.live() && !h.ready());
        h.set_ready(true);
        assert!(h.live() && h.ready());
        std::thread::sleep(Duration::from_millis(80));
        assert!(!h.live(), "stalled for longer than the limit");
        h.beat();
        assert!(h.live());
    }
}
