//! Log lines as Falco writes them on stderr: `TIME: message`, where TIME is the local time as
//! `Fri Dec 04 03:17:57 2026`, or with `time_format_iso_8601` the UTC time as
//! `2026-12-04T03:17:57+0000`; and Falco's start-up lines (version, configuration files, system,
//! rules files, event sources, how the source is opened), which tools grep for.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

static ISO8601: AtomicBool = AtomicBool::new(false);

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
        write!(w, "{}: ", time_prefix())?;
        match *event.metadata().level() {
            tracing::Level::ERROR => w.write_str("Error: ")?,
            tracing::Level::WARN => w.write_str("Warning: ")?,
            _ => {}
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
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
