//! Alert delivery: Falco's alert formats and its local outputs (stdout, file, program, behind the
//! synchronous [`Output`] trait), and the forwarding stage: the [`Router`] with per-sink filters
//! and bounded, spilling, retrying queues ([`queue`]), the network sinks (one folder each), the
//! falcosidekick-compatible configuration ([`config`]) and the ingest server ([`forward`]).

/// An output whose client this build left out (its cargo feature is off): the type exists so
/// the constructor can refuse the section by name ("built without the `X` feature"); no value
/// of it can be made. (Unused in a build with every feature.)
#[allow(unused_macros)]
macro_rules! left_out_sink {
    ($sink:ident, $config:ty, $feature:literal) => {
        pub enum $sink {}

        impl $sink {
            pub fn new(_c: &$config) -> Result<Self, String> {
                // The caller prefixes the section ("nats: …").
                Err(crate::not_built($feature, ""))
            }
        }

        impl crate::sink::Sink for $sink {
            fn kind(&self) -> &'static str {
                match *self {}
            }
            fn deliver<'a>(
                &'a self,
                _alerts: &'a [std::sync::Arc<harrier_engine::Alert>],
            ) -> crate::sink::BoxFut<'a, Result<(), crate::sink::SinkError>> {
                match *self {}
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use left_out_sink;

pub mod alert;
pub mod cloud;
pub mod common;
pub mod config;
pub mod configcheck;
pub mod entries;
pub mod filter;
pub mod forward;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod queue;
pub mod router;
pub mod sink;

pub mod aws;

pub mod discord;
pub mod elasticsearch;
pub mod hooks;
pub mod kafka;
pub mod loki;
pub mod mattermost;
pub mod nats;
pub mod prometheus;
pub mod redis;
#[cfg(feature = "aws")]
pub use aws::s3;
pub mod slack;
pub mod smtp;
pub mod syslog;
pub mod teams;
pub mod webhook;

pub mod alertmanager;
pub mod mqtt;
pub mod otlp;
pub mod pagerduty;
pub mod splunk;

#[cfg(test)]
mod router_tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use alert::{alert_from_json, test_alert};
pub use config::{enabled_outputs, Config, EnabledOutput};
pub use filter::AlertFilter;
pub use forward::run_forwarder;
pub use queue::{FsyncPolicy, QueueConfig, SinkStats, Spool, WhenFull};
pub use router::{Accepted, RouteConfig, Router};
pub use sink::{BoxFut, HttpOptions, HttpTarget, Sink, SinkError};

use harrier_engine::Alert;

/// The error for an output (or other part) whose code this build left out: which cargo feature
/// brings it back (`what` empty: the caller names it). `scripts/run.sh` builds a lean binary; the
/// container image has every feature.
pub fn not_built(feature: &str, what: &str) -> String {
    let what = if what.is_empty() { String::new() } else { format!("{what}: ") };
    format!(
        "{what}this harrier was built without the `{feature}` feature; rebuild with \
         `cargo build --release -p harrier --features {feature}` (or use the container image, which has every feature)"
    )
}
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

/// How alerts are written (Falco's `json_output`, `json_include_*`, `time_format_iso_8601`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertFormat {
    pub json: bool,
    pub include_output: bool,
    pub include_tags: bool,
    pub iso8601: bool,
}

impl Default for AlertFormat {
    fn default() -> Self {
        AlertFormat { json: false, include_output: true, include_tags: true, iso8601: false }
    }
}

impl AlertFormat {
    /// One line, without the newline.
    pub fn format(&self, a: &Alert) -> String {
        if self.json {
            let mut v = a.to_json_value(self.include_output, self.include_tags);
            if self.include_output {
                // Falco's JSON `output` is the whole text line, time and priority included.
                if let Some(m) = v.as_object_mut() {
                    m.insert("output".into(), a.text_line(self.iso8601).into());
                }
            }
            v.to_string()
        } else {
            a.text_line(self.iso8601)
        }
    }
}

/// Somewhere formatted alert lines go.
pub trait Output: Send {
    fn name(&self) -> &str;
    fn emit(&mut self, line: &str) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Reopen files (log rotation, SIGHUP).
    fn reopen(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Standard output; line-buffered unless `buffered`.
pub struct StdoutOutput {
    out: BufWriter<io::Stdout>,
    buffered: bool,
}

impl StdoutOutput {
    pub fn new(buffered: bool) -> Self {
        StdoutOutput { out: BufWriter::with_capacity(64 * 1024, io::stdout()), buffered }
    }
}

impl Output for StdoutOutput {
    fn name(&self) -> &str {
        "stdout"
    }
    fn emit(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        if !self.buffered {
            self.out.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A file, appended to. With `keep_alive` the file stays open; without it, it is opened for each
/// alert (as Falco does), so rotation needs nothing.
pub struct FileOutput {
    path: PathBuf,
    keep_alive: bool,
    file: Option<BufWriter<File>>,
}

impl FileOutput {
    pub fn new(path: impl Into<PathBuf>, keep_alive: bool) -> io::Result<Self> {
        let mut f = FileOutput { path: path.into(), keep_alive, file: None };
        // Fail early on a path that cannot be written.
        f.open()?;
        if !keep_alive {
            f.file = None;
        }
        Ok(f)
    }

    fn open(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            let file =
                OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot open {}: {e}", self.path.display()))
                })?;
            self.file = Some(BufWriter::new(file));
        }
        Ok(self.file.as_mut().expect("opened above"))
    }
}

impl Output for FileOutput {
    fn name(&self) -> &str {
        "file"
    }
    fn emit(&mut self, line: &str) -> io::Result<()> {
        let keep = self.keep_alive;
        let f = self.open()?;
        f.write_all(line.as_bytes())?;
        f.write_all(b"\n")?;
        if !keep {
            f.flush()?;
            self.file = None;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
    fn reopen(&mut self) -> io::Result<()> {
        self.flush()?;
        self.file = None;
        if self.keep_alive {
            self.open()?;
        }
        Ok(())
    }
}

/// A program run through `sh -c`, alerts written to its stdin. With `keep_alive` one process
/// receives every alert; without it, a process is started per alert.
pub struct ProgramOutput {
    command: String,
    keep_alive: bool,
    child: Option<(Child, ChildStdin)>,
}

impl ProgramOutput {
    pub fn new(command: impl Into<String>, keep_alive: bool) -> Self {
        ProgramOutput { command: command.into(), keep_alive, child: None }
    }

    fn spawn(&self) -> io::Result<(Child, ChildStdin)> {
        let mut child =
            Command::new("sh").arg("-c").arg(&self.command).stdin(Stdio::piped()).spawn().map_err(|e| {
                io::Error::new(e.kind(), format!("cannot start program '{}': {e}", self.command))
            })?;
        let stdin = child.stdin.take().ok_or_else(|| io::Error::other("program has no stdin"))?;
        Ok((child, stdin))
    }

    fn close(&mut self) -> io::Result<()> {
        if let Some((mut child, stdin)) = self.child.take() {
            drop(stdin);
            child.wait()?;
        }
        Ok(())
    }
}

impl Output for ProgramOutput {
    fn name(&self) -> &str {
        "program"
    }
    fn emit(&mut self, line: &str) -> io::Result<()> {
        if self.child.is_none() {
            self.child = Some(self.spawn()?);
        }
        let res = {
            let (_, stdin) = self.child.as_mut().expect("spawned above");
            stdin.write_all(line.as_bytes()).and_then(|_| stdin.write_all(b"\n"))
        };
        if res.is_err() {
            // The program went away: start a new one next time.
            let _ = self.close();
            return res;
        }
        if !self.keep_alive {
            self.close()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        if let Some((_, stdin)) = self.child.as_mut() {
            stdin.flush()?;
        }
        Ok(())
    }
}

impl Drop for ProgramOutput {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Every configured output; an alert goes to each. Errors are counted per output, never fatal.
pub struct Outputs {
    pub format: AlertFormat,
    outputs: Vec<Box<dyn Output>>,
    /// (output name, error count, last error).
    pub errors: Vec<(String, u64, String)>,
}

impl Outputs {
    pub fn new(format: AlertFormat) -> Self {
        Outputs { format, outputs: Vec::new(), errors: Vec::new() }
    }

    pub fn add(&mut self, o: Box<dyn Output>) {
        self.errors.push((o.name().to_string(), 0, String::new()));
        self.outputs.push(o);
    }

    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    pub fn send(&mut self, a: &Alert) {
        let line = self.format.format(a);
        for (i, o) in self.outputs.iter_mut().enumerate() {
            if let Err(e) = o.emit(&line) {
                if let Some(slot) = self.errors.get_mut(i) {
                    slot.1 += 1;
                    slot.2 = e.to_string();
                }
            }
        }
    }

    pub fn flush(&mut self) {
        for o in &mut self.outputs {
            let _ = o.flush();
        }
    }

    pub fn reopen(&mut self) {
        for o in &mut self.outputs {
            let _ = o.reopen();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harrier_rules::Priority;

    fn alert() -> Alert {
        Alert {
            time_ns: 1_470_327_477_881_781_397,
            rule: "r".into(),
            priority: Priority::Warning,
            source: "syscall".into(),
            tags: vec!["a".into()],
            output: "An open was seen (command=cat /dev/null)".into(),
            output_fields: Default::default(),
            hostname: "h".into(),
        }
    }

    #[test]
    fn text_and_json_lines() {
        let f = AlertFormat { iso8601: true, ..Default::default() };
        assert_eq!(
            f.format(&alert()),
            "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)"
        );
        let j = AlertFormat { json: true, include_tags: false, ..Default::default() }.format(&alert());
        assert!(j.contains("\"rule\":\"r\"") && !j.contains("\"tags\""), "{j}");
        let j = AlertFormat { json: true, include_output: false, ..Default::default() }.format(&alert());
        assert!(!j.contains("\"output\":") && j.contains("\"tags\""), "{j}");
    }

    #[test]
    fn file_output_appends_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("alerts.log");
        let mut o = FileOutput::new(&p, true).unwrap();
        o.emit("one").unwrap();
        o.flush().unwrap();
        std::fs::rename(&p, dir.path().join("alerts.log.1")).unwrap();
        o.reopen().unwrap();
        o.emit("two").unwrap();
        o.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("alerts.log.1")).unwrap(), "one\n");
        assert!(FileOutput::new("/nonexistent-dir/x.log", false).is_err());
    }

    #[test]
    fn program_output_receives_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        let mut o = ProgramOutput::new(format!("cat >> {}", p.display()), false);
        o.emit("a").unwrap();
        o.emit("b").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\n");
        let mut k = ProgramOutput::new(format!("cat >> {}", p.display()), true);
        k.emit("c").unwrap();
        drop(k);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\nc\n");
    }
}
