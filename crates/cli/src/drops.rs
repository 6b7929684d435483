//! Falco's `syscall_event_drops` policy for live capture: once a second the kernel's drop counters
//! are compared with the last second's; when the share of events lost exceeds `threshold`, the
//! configured `actions` run (`ignore`, `log`, `alert`, `exit`), no more often than a token bucket
//! of `rate` tokens per second with at most `max_burst` tokens allows.

use crate::config::{ConfigError, RawConfig};

/// What to do when drops cross the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions {
    pub log: bool,
    pub alert: bool,
    pub exit: bool,
}

/// `syscall_event_drops.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct DropPolicy {
    /// Share of the last second's events lost (0–1) above which the actions run.
    pub threshold: f64,
    pub actions: Actions,
    /// Tokens added per second.
    pub rate: f64,
    pub max_burst: f64,
}

impl Default for DropPolicy {
    /// Falco's defaults: threshold 0.1, actions [log, alert], one action per 30 s, burst 1.
    fn default() -> Self {
        DropPolicy {
            threshold: 0.1,
            actions: Actions { log: true, alert: true, exit: false },
            rate: 0.03333,
            max_burst: 1.0,
        }
    }
}

fn number(raw: &RawConfig, key: &str, default: f64, ok: impl Fn(f64) -> bool) -> Result<f64, ConfigError> {
    match raw.string(key)? {
        None => Ok(default),
        Some(v) => {
            v.trim().parse::<f64>().ok().filter(|x| x.is_finite() && ok(*x)).ok_or_else(|| {
                ConfigError(format!("config key '{key}': expected a number in range, got '{v}'"))
            })
        }
    }
}

impl DropPolicy {
    pub fn from_raw(raw: &RawConfig) -> Result<DropPolicy, ConfigError> {
        let d = DropPolicy::default();
        let actions = if raw.get("syscall_event_drops.actions").is_some() {
            let mut a = Actions::default();
            for v in raw.strings("syscall_event_drops.actions")? {
                match v.as_str() {
                    "ignore" => {}
                    "log" => a.log = true,
                    "alert" => a.alert = true,
                    "exit" => a.exit = true,
                    other => {
                        return Err(ConfigError(format!(
                            "config key 'syscall_event_drops.actions': unknown action '{other}' (expected ignore, log, alert or exit)"
                        )))
                    }
                }
            }
            a
        } else {
            d.actions
        };
        Ok(DropPolicy {
            threshold: number(raw, "syscall_event_drops.threshold", d.threshold, |x| {
                (0.0..=1.0).contains(&x)
            })?,
            actions,
            rate: number(raw, "syscall_event_drops.rate", d.rate, |x| x > 0.0)?,
            max_burst: number(raw, "syscall_event_drops.max_burst", d.max_burst, |x| x >= 1.0)?,
        })
    }
}

/// The per-second check: feed it the kernel's running totals (sent, dropped); it says which actions
/// to take now.
#[derive(Debug)]
pub struct DropMonitor {
    policy: DropPolicy,
    tokens: f64,
    last_sent: u64,
    last_dropped: u64,
}

/// One second's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Verdict {
    /// Events lost since the last check.
    pub dropped: u64,
    /// Their share of the events the kernel had for us (sent + dropped).
    pub ratio: f64,
    /// The actions to run now (none when under the threshold or rate-limited).
    pub act: Actions,
}

impl DropMonitor {
    pub fn new(policy: DropPolicy) -> Self {
        let tokens = policy.max_burst;
        DropMonitor { policy, tokens, last_sent: 0, last_dropped: 0 }
    }

    /// Call about once per `elapsed_s` seconds with the totals so far.
    pub fn check(&mut self, sent: u64, dropped: u64, elapsed_s: f64) -> Verdict {
        self.tokens = (self.tokens + self.policy.rate * elapsed_s.max(0.0)).min(self.policy.max_burst);
        let d = dropped.saturating_sub(self.last_dropped);
        let s = sent.saturating_sub(self.last_sent);
        self.last_dropped = dropped;
        self.last_sent = sent;
        let mut v = Verdict { dropped: d, ratio: 0.0, act: Actions::default() };
        if d == 0 {
            return v;
        }
        v.ratio = d as f64 / (d + s) as f64;
        if v.ratio > self.policy.threshold && self.tokens >= 1.0 {
            self.tokens -= 1.0;
            v.act = self.policy.actions;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(threshold: f64, rate: f64, burst: f64) -> DropPolicy {
        DropPolicy {
            threshold,
            actions: Actions { log: true, alert: true, exit: false },
            rate,
            max_burst: burst,
        }
    }

    #[test]
    fn acts_above_the_threshold_only() {
        let mut m = DropMonitor::new(policy(0.1, 100.0, 10.0));
        // 5 dropped of 100: 5% <= 10%
        assert_eq!(m.check(95, 5, 1.0).act, Actions::default());
        // 50 more dropped with 50 more sent: 50%
        let v = m.check(145, 55, 1.0);
        assert_eq!(v.dropped, 50);
        assert!((v.ratio - 0.5).abs() < 1e-9);
        assert!(v.act.alert && v.act.log && !v.act.exit);
        // nothing new: no action
        assert_eq!(m.check(1000, 55, 1.0).act, Actions::default());
    }

    #[test]
    fn a_token_bucket_limits_how_often() {
        // Falco's defaults: one action per 30 s after the first
        let mut m = DropMonitor::new(DropPolicy::default());
        let mut acted = 0;
        let (mut sent, mut dropped) = (0, 0);
        for _ in 0..90 {
            sent += 100;
            dropped += 100;
            if m.check(sent, dropped, 1.0).act.alert {
                acted += 1;
            }
        }
        assert_eq!(acted, 3, "at t=0, ~30 s and ~60 s");
    }

    #[test]
    fn config_keys_and_errors() {
        let raw = RawConfig::parse(
            "syscall_event_drops:\n  threshold: 0.5\n  actions: [log, exit]\n  rate: 1\n  max_burst: 3\n",
        )
        .unwrap();
        let p = DropPolicy::from_raw(&raw).unwrap();
        assert_eq!(p.threshold, 0.5);
        assert_eq!(p.actions, Actions { log: true, alert: false, exit: true });
        assert_eq!((p.rate, p.max_burst), (1.0, 3.0));
        assert_eq!(DropPolicy::from_raw(&RawConfig::parse("{}").unwrap()).unwrap(), DropPolicy::default());
        for bad in [
            "syscall_event_drops:\n  actions: [page]\n",
            "syscall_event_drops:\n  threshold: 2\n",
            "syscall_event_drops:\n  rate: -1\n",
            "syscall_event_drops:\n  max_burst: x\n",
        ] {
            let e = DropPolicy::from_raw(&RawConfig::parse(bad).unwrap()).unwrap_err();
            assert!(e.0.contains("syscall_event_drops"), "{e:?}");
        }
    }
}
