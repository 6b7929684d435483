//! `harrier session` and the `session_audit:` block of `harrier run`: glue only; the capture,
//! line rebuilding, audit log and `session.*` rules are in `harrier-session`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use harrier_engine::Ruleset;
use harrier_session::audit::{self, AuditConfig, Item};
use harrier_session::{CaptureConfig, Limits, Redactor, SessionRules};
use serde_yaml::Value;

use crate::config::{ConfigError, RawConfig};

/// Where `harrier run` writes the audit log when `session_audit.file` is not set.
pub const DEFAULT_FILE: &str = "/var/log/harrier/session-audit.jsonl";

const KEYS: &[&str] =
    &["enabled", "file", "redact", "shells", "rate_limit_bytes", "max_session_bytes", "ring_buffer_bytes"];

fn number(raw: &RawConfig, key: &str, default: u64) -> Result<u64, ConfigError> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v > 0) => Ok(n.as_u64().unwrap()),
        Some(Value::String(s)) if s.parse::<u64>().is_ok_and(|v| v > 0) => Ok(s.parse().unwrap()),
        Some(v) => Err(ConfigError(format!("config key '{key}': expected a positive number, got {v:?}"))),
    }
}

/// The `session_audit:` block; `None` unless `session_audit.enabled` (or `force`, for `harrier
/// session`). Unknown keys in the block and bad redaction patterns are errors.
pub fn audit_config(raw: &RawConfig, force: bool) -> Result<Option<AuditConfig>, ConfigError> {
    if let Some(Value::Mapping(m)) = raw.get("session_audit") {
        for k in m.keys() {
            let k = k.as_str().unwrap_or("?");
            if !KEYS.contains(&k) {
                return Err(ConfigError(format!(
                    "config key 'session_audit.{k}' is unknown (known: {})",
                    KEYS.join(", ")
                )));
            }
        }
    }
    if !force && !raw.bool("session_audit.enabled", false)? {
        return Ok(None);
    }
    let file = raw.string("session_audit.file")?.map(PathBuf::from);
    let redact = raw.strings("session_audit.redact")?;
    Redactor::new(&redact).map_err(|e| ConfigError(e.to_string()))?;
    let mut capture = CaptureConfig::default();
    let shells = raw.strings("session_audit.shells")?;
    if !shells.is_empty() {
        capture.shells = shells;
    }
    capture.rate_bytes_per_sec = number(raw, "session_audit.rate_limit_bytes", capture.rate_bytes_per_sec)?;
    capture.ring_bytes =
        number(raw, "session_audit.ring_buffer_bytes", capture.ring_bytes as u64)?.min(1 << 30) as u32;
    let limits = Limits {
        max_session_bytes: number(
            raw,
            "session_audit.max_session_bytes",
            Limits::default().max_session_bytes,
        )?,
        ..Limits::default()
    };
    // the pod of a shell's container comes from the same runtimes as live detection's metadata
    let rc = crate::config::runtime_config(raw)?;
    let containers = rc.enabled.then_some(rc);
    Ok(Some(AuditConfig { file, redact, capture, limits, containers }))
}

fn redactor(cfg: &AuditConfig) -> Redactor {
    if cfg.redact.is_empty() {
        Redactor::with_defaults()
    } else {
        Redactor::new(&cfg.redact).unwrap_or_else(|_| Redactor::with_defaults())
    }
}

/// `harrier session`: run the session audit in the foreground; `source: session` rules alert
/// through the configured outputs and sinks.
pub fn run(c: crate::Common) -> u8 {
    let (raw, s) = match crate::config::from_common(&c) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier session: {e}");
            return 1;
        }
    };
    let cfg = match audit_config(&raw, true) {
        Ok(Some(x)) => x,
        Ok(None) => unreachable!("forced"),
        Err(e) => {
            eprintln!("harrier session: {e}");
            return 1;
        }
    };
    let rs = match crate::replay::session_ruleset(&c, &s) {
        Ok(r) => r,
        Err(e) => {
            eprint!("{e}");
            eprintln!("harrier session: rules are invalid; nothing was run");
            return 1;
        }
    };
    if c.dry_run {
        eprintln!("harrier session: dry run: the configuration and rules are valid");
        return 0;
    }
    let mut outs = match crate::replay::outputs(&s)
        .and_then(|o| crate::delivery::Delivery::new(o, c.config.as_deref(), false))
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("harrier session: {e}");
            return 1;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    if let Some(secs) = c.stop_after {
        let st = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(secs));
            st.store(true, Ordering::Relaxed);
        });
    }
    let mut rules = SessionRules::new(Arc::new(rs), crate::replay::hostname(), redactor(&cfg));
    eprintln!(
        "harrier session: auditing terminal sessions to {} ({} session rules); Ctrl-C to stop",
        cfg.file.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "stdout".into()),
        rules
            .rules
            .rules()
            .iter()
            .filter(|r| r.enabled && r.source == harrier_engine::fields::Source::Session)
            .count()
    );
    let res = audit::run(&cfg, &stop, &mut |item| {
        if let Item::Record(r) = item {
            rules.process(r, &mut |a| outs.send(&a));
            outs.flush();
        }
    });
    outs.finish(std::time::Duration::from_secs(5));
    match res {
        Ok(st) => {
            eprintln!(
                "harrier session: {} records ({} commands, {} alerts); secrets withheld in the kernel: {}; \
                 dropped: {} (ring full {}, rate limited {}, over session limits {})",
                st.records,
                st.tracker.commands,
                rules.alerts,
                st.kernel.secrets,
                st.kernel.dropped() + st.tracker.dropped_commands,
                st.kernel.ring_full,
                st.kernel.rate_limited,
                st.tracker.dropped_commands
            );
            0
        }
        Err(e) => {
            eprintln!("harrier session: {e}");
            1
        }
    }
}

/// The session audit beside live detection (`session_audit.enabled`): its own thread; its alerts
/// go to the live detector's port through a channel, like the k8s_audit side source.
pub struct SessionSide {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SessionSide {
    pub fn start(
        cfg: AuditConfig,
        rs: Arc<Ruleset>,
        hostname: String,
    ) -> (SessionSide, std::sync::mpsc::Receiver<harrier_engine::Alert>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(10_000);
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let mut cfg = cfg;
        if cfg.file.is_none() {
            cfg.file = Some(PathBuf::from(DEFAULT_FILE));
        }
        if let Some(dir) = cfg.file.as_ref().and_then(|f| f.parent()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let thread = std::thread::Builder::new()
            .name("session-audit".into())
            .spawn(move || {
                let mut rules = SessionRules::new(rs, hostname, redactor(&cfg));
                let res = audit::run(&cfg, &st, &mut |item| {
                    if let Item::Record(r) = item {
                        rules.process(r, &mut |a| {
                            let _ = tx.send(a);
                        });
                    }
                });
                if let Err(e) = res {
                    tracing::error!("session audit: {e}");
                }
            })
            .expect("spawn session-audit thread");
        (SessionSide { stop, thread: Some(thread) }, rx)
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SessionSide {
    fn drop(&mut self) {
        self.stop();
    }
}
