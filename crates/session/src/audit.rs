//! The whole session audit loop: kernel capture → per-shell line rebuilding → redaction → a JSON
//! Lines audit log (and any other consumer of the records, e.g. alerts).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::{
    AuditRecord, Capture, CaptureConfig, CaptureStats, HostProcs, Limits, Redactor, TermEvent, Tracker,
    TrackerStats,
};

/// `session_audit:` settings.
#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    /// The audit log (appended, created mode 0600); `None` writes to stdout.
    pub file: Option<PathBuf>,
    /// Redaction patterns (regexes) replacing the defaults when not empty.
    pub redact: Vec<String>,
    pub capture: CaptureConfig,
    pub limits: Limits,
    /// Container runtimes asked for the pod of a shell's container (`None`: no lookups).
    pub containers: Option<harrier_containers::RuntimeConfig>,
}

/// What went wrong starting the audit.
#[derive(Debug)]
pub struct AuditError(pub String);

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuditError {}

/// What [`run`] hands its observer.
pub enum Item<'a> {
    /// The programs are attached: terminal input from now on is captured.
    Started,
    /// A kernel record, as received (tests use it to prove what left the kernel).
    Event(&'a TermEvent),
    /// An audit record, after it was written to the log.
    Record(&'a AuditRecord),
}

/// Counters at the end of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunStats {
    pub kernel: CaptureStats,
    pub tracker: TrackerStats,
    pub records: u64,
}

/// The audit log: one JSON object per line, flushed per record, commands redacted.
pub struct AuditLog {
    out: Box<dyn Write + Send>,
    redactor: Redactor,
}

impl AuditLog {
    pub fn open(file: Option<&std::path::Path>, redactor: Redactor) -> Result<Self, AuditError> {
        let out: Box<dyn Write + Send> = match file {
            None => Box::new(std::io::stdout()),
            Some(p) => {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(p)
                    .map_err(|e| AuditError(format!("session_audit.file {}: {e}", p.display())))?;
                Box::new(f)
            }
        };
        Ok(AuditLog { out, redactor })
    }

    pub fn write(&mut self, r: &AuditRecord) -> std::io::Result<()> {
        self.out.write_all(r.to_json_line(&self.redactor).as_bytes())?;
        self.out.flush()
    }
}

/// Run until `stop` is set: capture, rebuild, write every record, hand items to `observe`.
pub fn run(
    cfg: &AuditConfig,
    stop: &AtomicBool,
    observe: &mut dyn FnMut(Item<'_>),
) -> Result<RunStats, AuditError> {
    let redactor = if cfg.redact.is_empty() {
        Redactor::with_defaults()
    } else {
        Redactor::new(&cfg.redact).map_err(|e| AuditError(e.to_string()))?
    };
    let mut log = AuditLog::open(cfg.file.as_deref(), redactor)?;
    let mut cap = Capture::open(&cfg.capture).map_err(|e| AuditError(format!("session capture: {e}")))?;
    let pods = cfg.containers.as_ref().and_then(crate::pods::ContainerPods::start);
    let mut tracker = Tracker::new(HostProcs::new(pods), cfg.limits.clone());
    observe(Item::Started);
    let mut stats = RunStats::default();
    let mut last_report = Instant::now();
    let mut reported_drops = 0;
    tracing::info!(
        file = %cfg.file.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "stdout".into()),
        "session audit started"
    );
    let mut write_failed = false;
    let mut emit = |r: &AuditRecord, stats: &mut RunStats, observe: &mut dyn FnMut(Item<'_>)| {
        if let Err(e) = log.write(r) {
            if !write_failed {
                tracing::error!("session audit log: {e}");
                write_failed = true;
            }
        } else {
            write_failed = false;
            stats.records += 1;
        }
        observe(Item::Record(r));
    };
    while !stop.load(Ordering::Relaxed) {
        // records held for a pending pod lookup are released within a few tens of ms
        let timeout = Duration::from_millis(if tracker.has_held() { 20 } else { 100 });
        cap.poll(timeout, &mut |ev| {
            observe(Item::Event(&ev));
            for r in tracker.handle(&ev) {
                emit(&r, &mut stats, observe);
            }
        })
        .map_err(|e| AuditError(e.to_string()))?;
        for r in tracker.tick() {
            emit(&r, &mut stats, observe);
        }
        if last_report.elapsed() >= Duration::from_secs(60) {
            last_report = Instant::now();
            let k = cap.stats();
            let drops = k.dropped() + tracker.stats.dropped_commands + tracker.stats.dropped_shells;
            if drops > reported_drops {
                tracing::warn!(
                    ring_full = k.ring_full,
                    rate_limited = k.rate_limited,
                    dropped_commands = tracker.stats.dropped_commands,
                    dropped_shells = tracker.stats.dropped_shells,
                    "session audit dropped terminal input (limits)"
                );
                reported_drops = drops;
            }
        }
    }
    for r in tracker.flush() {
        emit(&r, &mut stats, observe);
    }
    stats.kernel = cap.stats();
    stats.tracker = tracker.stats;
    tracing::info!(
        records = stats.records,
        commands = stats.tracker.commands,
        secrets_withheld = stats.kernel.secrets,
        dropped = stats.kernel.dropped(),
        "session audit stopped"
    );
    Ok(stats)
}
