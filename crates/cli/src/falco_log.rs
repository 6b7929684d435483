//! Log lines as Falco writes them on stderr: `TIME: message`, where TIME is the local time as
//! `Fri Dec 04 03:17:57 2026`, or with `time_format_iso_8601` the UTC time as
//! `2026-12-04T03:17:57+0000`; and Falco's start-up lines (version, configuration files, system,
//! rules files, event sources, how the source is opened), which tools grep for.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

static ISO8601: AtomicBool = AtomicBool::new(false);
static STDERR: AtomicBool = AtomicBool::new(true);
static SYSLOG: AtomicBool = AtomicBool::new(false);
static JSON: AtomicBool = AtomicBool::new(false);
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// A warning or error repeated within this window is written once, then counted.
const REPEAT_WINDOW: Duration = Duration::from_secs(10);

/// Install the subscriber: `HARRIER_LOG` filters (default `info`) until the configuration's
/// `log_level` is known.
pub fn init() {
    let filter = EnvFilter::try_from_env("HARRIER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (layer, handle) = reload::Layer::new(filter);
    let _ = FILTER.set(handle);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).event_format(FalcoFormat))
        .try_init();
}

/// Falco's logging keys: `log_level` (emergency … debug), `log_stderr`, `log_syslog`, and
/// Harrier's `log_format` (`text` or `json`). `HARRIER_LOG`, when set, wins over `log_level`.
pub fn configure(level: &str, stderr: bool, syslog: bool, json: bool) -> Result<(), String> {
    let directive = match level.to_ascii_lowercase().as_str() {
        "emergency" | "alert" | "critical" | "error" => "error",
        "warning" => "warn",
        "notice" | "info" => "info",
        "debug" => "debug",
        other => {
            return Err(format!(
                "config key 'log_level': unknown level '{other}' (expected emergency, alert, critical, error, warning, notice, info or debug)"
            ))
        }
    };
    if std::env::var_os("HARRIER_LOG").is_none() {
        if let Some(h) = FILTER.get() {
            let _ = h.reload(EnvFilter::new(directive));
        }
    }
    STDERR.store(stderr, Ordering::Relaxed);
    JSON.store(json, Ordering::Relaxed);
    if syslog && !SYSLOG.swap(true, Ordering::Relaxed) {
        // SAFETY: a static NUL-terminated ident; LOG_PID | LOG_NDELAY, daemon facility.
        unsafe { libc::openlog(c"harrier".as_ptr(), libc::LOG_PID | libc::LOG_NDELAY, libc::LOG_DAEMON) };
    }
    SYSLOG.store(syslog, Ordering::Relaxed);
    Ok(())
}

fn to_syslog(level: &tracing::Level, msg: &str) {
    let prio = match *level {
        tracing::Level::ERROR => libc::LOG_ERR,
        tracing::Level::WARN => libc::LOG_WARNING,
        tracing::Level::INFO => libc::LOG_INFO,
        _ => libc::LOG_DEBUG,
    };
    if let Ok(c) = std::ffi::CString::new(msg.replace('\0', " ")) {
        // SAFETY: "%s" with one NUL-terminated string argument.
        unsafe { libc::syslog(prio, c"%s".as_ptr(), c.as_ptr()) };
    }
}

/// Repeated warnings and errors: `Some(n)` — write the line, `n` repeats were held back before
/// it; `None` — hold this one back (counted).
fn repeats(key: &str) -> Option<u64> {
    static SEEN: OnceLock<Mutex<HashMap<String, (Instant, u64)>>> = OnceLock::new();
    let mut m = SEEN.get_or_init(Default::default).lock().ok()?;
    let now = Instant::now();
    if m.len() > 4096 {
        m.retain(|_, (t, _)| now.duration_since(*t) < REPEAT_WINDOW);
    }
    match m.get_mut(key) {
        Some((t, n)) if now.duration_since(*t) < REPEAT_WINDOW => {
            *n += 1;
            None
        }
        Some((t, n)) => {
            let held = *n;
            *t = now;
            *n = 0;
            Some(held)
        }
        None => {
            m.insert(key.to_string(), (now, 0));
            Some(0)
        }
    }
}

/// `time_format_iso_8601` for log lines (set once the configuration is read).
pub fn set_iso8601(on: bool) {
    ISO8601.store(on, Ordering::Relaxed);
}

/// The time prefix of a log line, as Falco's logger writes it.
pub fn time_prefix() -> String {
    // SAFETY: time(NULL), and localtime_r/gmtime_r/strftime into buffers we own.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        let (fmt, ok) = if ISO8601.load(Ordering::Relaxed) {
            (c"%FT%T%z", !libc::gmtime_r(&t, &mut tm).is_null())
        } else {
            (c"%a %b %d %H:%M:%S %Y", !libc::localtime_r(&t, &mut tm).is_null())
        };
        if !ok {
            return String::new();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// The `tracing` line format: `TIME: message`, warnings and errors marked.
pub struct FalcoFormat;

impl<S, N> FormatEvent<S, N> for FalcoFormat
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();
        let mut msg = String::new();
        ctx.field_format().format_fields(Writer::new(&mut msg), event)?;
        let mut suffix = String::new();
        if level <= tracing::Level::WARN {
            match repeats(&msg) {
                None => return Ok(()),
                Some(0) => {}
                Some(n) => {
                    suffix = format!(" (and {n} more like it in the last {} s)", REPEAT_WINDOW.as_secs())
                }
            }
        }
        if SYSLOG.load(Ordering::Relaxed) {
            to_syslog(&level, &format!("{msg}{suffix}"));
        }
        if !STDERR.load(Ordering::Relaxed) {
            return Ok(());
        }
        if JSON.load(Ordering::Relaxed) {
            let lvl = match level {
                tracing::Level::ERROR => "error",
                tracing::Level::WARN => "warning",
                tracing::Level::INFO => "info",
                _ => "debug",
            };
            let line =
                serde_json::json!({"time": time_prefix(), "level": lvl, "message": format!("{msg}{suffix}")});
            return writeln!(w, "{line}");
        }
        write!(w, "{}: ", time_prefix())?;
        match level {
            tracing::Level::ERROR => w.write_str("Error: ")?,
            tracing::Level::WARN => w.write_str("Warning: ")?,
            _ => {}
        }
        writeln!(w, "{msg}{suffix}")
    }
}

/// How the syscall source is opened (the last start-up line).
pub enum Opening<'a> {
    Live,
    Replay(&'a Path),
    /// `--dry-run`: nothing is opened.
    Nothing,
}

/// Falco's start-up lines.
pub fn startup(config: Option<&Path>, rules: &[PathBuf], opening: Opening<'_>) {
    tracing::info!(
        "Falco version: Harrier {} ({}), Falco rules engine {}.{}.{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        harrier_rules::ENGINE_VERSION.0,
        harrier_rules::ENGINE_VERSION.1,
        harrier_rules::ENGINE_VERSION.2
    );
    if let Some(c) = config {
        tracing::info!("Falco initialized with configuration files:");
        tracing::info!("   {}", c.display());
    }
    if let Ok(v) = std::fs::read_to_string("/proc/version") {
        tracing::info!("System info: {}", v.trim());
    }
    tracing::info!("Loading rules from:");
    for r in rules {
        tracing::info!("   {}", r.display());
    }
    tracing::info!("Loaded event sources: syscall");
    tracing::info!("Enabled event sources: syscall");
    match opening {
        Opening::Live => tracing::info!("Opening 'syscall' source with modern BPF probe."),
        Opening::Replay(p) => tracing::info!("Replaying events from the capture file: {}", p.display()),
        Opening::Nothing => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_lines_are_held_back_and_counted() {
        let key = "test: the sink nats is down";
        assert_eq!(repeats(key), Some(0), "the first is written");
        assert_eq!(repeats(key), None);
        assert_eq!(repeats(key), None);
        assert_eq!(repeats("test: another message"), Some(0));
    }

    #[test]
    fn falco_log_levels() {
        assert!(configure("notice", true, false, false).is_ok());
        assert!(configure("WARNING", true, false, false).is_ok());
        assert!(configure("verbose", true, false, false).unwrap_err().contains("log_level"));
    }
}
