//! Falco's `base_syscalls` keys: which syscalls live capture collects beyond what the rules need.
//!
//! * `base_syscalls.all: true` — every syscall the probe can report;
//! * `base_syscalls.custom_set: [name, …, !name]` — these too (a `!name` is removed); with a custom
//!   set, the syscalls state tracking needs are only added when `base_syscalls.repair: true`, as in
//!   Falco (the user took charge of the set);
//! * `base_syscalls.repair: true` — add what state tracking needs.
//!
//! Syscalls Harrier's probe has no handler for (e.g. `madvise`) are named in a warning and not
//! collected live; captures holding them replay with rules on them firing (generic events are
//! named after their syscall).

use crate::config::{ConfigError, RawConfig};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseSyscalls {
    pub custom_set: Vec<String>,
    pub repair: bool,
    pub all: bool,
}

impl BaseSyscalls {
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        Ok(BaseSyscalls {
            custom_set: raw.strings("base_syscalls.custom_set")?,
            repair: raw.bool("base_syscalls.repair", false)?,
            all: raw.bool("base_syscalls.all", false)?,
        })
    }
}

/// What live capture collects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Event names for the probe.
    pub syscalls: Vec<&'static str>,
    /// Whether the probe adds the state-tracking syscalls.
    pub with_state_events: bool,
    /// Names the configuration asked for that the probe cannot collect.
    pub unsupported: Vec<String>,
}

/// The syscalls to collect: the rules' (`None`: every one), then `base`.
pub fn select(
    base: &BaseSyscalls,
    rules: Option<Vec<&'static str>>,
    supported: &[&'static str],
) -> Selection {
    let mut set: Vec<&'static str> = match rules {
        _ if base.all => supported.to_vec(),
        None => supported.to_vec(),
        Some(r) => r,
    };
    let mut unsupported = Vec::new();
    let mut removed = Vec::new();
    for name in &base.custom_set {
        let (neg, n) = match name.strip_prefix('!') {
            Some(n) => (true, n.trim()),
            None => (false, name.trim()),
        };
        if neg {
            removed.push(n.to_string());
            continue;
        }
        match supported.iter().find(|s| **s == n) {
            Some(s) if !set.contains(s) => set.push(s),
            Some(_) => {}
            None => unsupported.push(n.to_string()),
        }
    }
    set.retain(|s| !removed.iter().any(|r| r == s));
    let with_state_events = base.custom_set.is_empty() || base.repair || base.all;
    Selection { syscalls: set, with_state_events, unsupported }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUP: &[&str] = &["execve", "openat", "connect", "ptrace", "clone"];

    #[test]
    fn rules_then_custom_set_then_removals() {
        let base = BaseSyscalls {
            custom_set: vec!["ptrace".into(), "madvise".into(), "!connect".into()],
            ..Default::default()
        };
        let s = select(&base, Some(vec!["openat", "connect"]), SUP);
        assert_eq!(s.syscalls, ["openat", "ptrace"]);
        assert_eq!(s.unsupported, ["madvise"]);
        assert!(!s.with_state_events, "a custom set without repair is the user's whole set");
        let s = select(&BaseSyscalls { repair: true, ..base.clone() }, Some(vec!["openat"]), SUP);
        assert!(s.with_state_events);
    }

    #[test]
    fn all_collects_everything_supported() {
        let base = BaseSyscalls { all: true, ..Default::default() };
        let s = select(&base, Some(vec!["openat"]), SUP);
        assert_eq!(s.syscalls, SUP);
        assert!(s.with_state_events);
        let s = select(&BaseSyscalls::default(), Some(vec!["openat"]), SUP);
        assert_eq!((s.syscalls, s.with_state_events), (vec!["openat"], true));
    }
}
