//! `node:capture`: the next seconds of one container's (or, on the host, one process tree's)
//! events, written to a `.scap` file with the project's capture writer (`harrier_scap::Writer`,
//! the same one `harrier capture` uses), so `harrier -e FILE` and sysdig read it.
//!
//! Two halves: [`Captures::start`] runs on the response worker (opens the file 0600 with
//! `O_EXCL|O_NOFOLLOW`, writes a header with the target's processes from /proc, starts a writer
//! thread); [`CaptureTap`] is an [`EventObserver`] on the detector's thread that copies the
//! target's events to that thread through a bounded queue. With no capture running the tap costs
//! one atomic load per event; a full queue drops (and counts) rather than slowing detection.
//! Each capture ends at its duration or its size cap, whichever comes first; the number running
//! at once is capped too.

use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harrier_engine::Alert;
use harrier_pipeline::EventObserver;
use harrier_scap::{Header, Writer, WriterOptions};
use harrier_state::SyscallEvent;

/// Default directory for capture files.
pub const DEFAULT_DIR: &str = "/var/lib/harrier/captures";

/// Capture limits (config keys `response.capture_*`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub dir: PathBuf,
    /// Largest capture file (uncompressed bytes); the capture ends there.
    pub max_bytes: u64,
    /// Captures running at once; more are refused (failed outcome) until one ends.
    pub max_concurrent: usize,
    /// `duration` when a rule gives none (Talon's default: 5 s).
    pub default_duration: Duration,
    /// Longest `duration` a rule may ask for (longer is cut to this).
    pub max_duration: Duration,
    /// Events waiting for the writer thread, per capture; beyond that they are dropped and counted.
    pub queue: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dir: PathBuf::from(DEFAULT_DIR),
            max_bytes: 64 << 20,
            max_concurrent: 4,
            default_duration: Duration::from_secs(5),
            max_duration: Duration::from_secs(60),
            queue: 16_384,
        }
    }
}

/// Whose events a capture keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Threads whose container id (short, 12 hex) is this.
    Container(String),
    /// The process with this pid and its descendants (host processes).
    Process(i64),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Container(c) => format!("container {c}"),
            Target::Process(p) => format!("process {p} and its descendants"),
        }
    }

    fn file_part(&self) -> String {
        match self {
            // The id comes from the alert: never let it name another directory.
            Target::Container(c) => sanitize(c, 64),
            Target::Process(p) => format!("pid{p}"),
        }
    }

    fn keeps(&self, ev: &SyscallEvent<'_>) -> bool {
        let threads = &ev.state.threads;
        let Some(t) = threads.get(ev.ev.tid() as i64) else { return false };
        match self {
            Target::Container(c) => t.container_id == *c,
            Target::Process(p) => t.pid == *p || t.tid == *p || threads.ancestors(t.tid).any(|a| a.pid == *p),
        }
    }
}

/// One event on its way to the writer thread.
struct Msg {
    raw: Vec<u8>,
    cpu: u16,
    flags: u32,
}

struct Active {
    target: Target,
    tx: SyncSender<Msg>,
    done: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

struct Shared {
    settings: Settings,
    /// Captures running (the tap's fast path reads only this).
    running: AtomicUsize,
    list: Mutex<Vec<Active>>,
    /// A tap is attached to a detector (`harrier run`): captures can see events.
    tapped: AtomicBool,
}

/// What a finished capture wrote (also logged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished {
    pub path: PathBuf,
    pub events: u64,
    pub bytes: u64,
    pub dropped: u64,
    /// Ended at the size cap rather than the duration.
    pub capped: bool,
    pub error: Option<String>,
}

/// The registry of running captures, shared by the responder and the tap.
#[derive(Clone)]
pub struct Captures {
    shared: Arc<Shared>,
    /// Finished captures, for tests and `harrier respond` reporting (last 64).
    finished: Arc<Mutex<Vec<Finished>>>,
}

/// A capture that started.
#[derive(Debug, Clone)]
pub struct Started {
    pub path: PathBuf,
    pub duration: Duration,
    pub header_threads: usize,
}

fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .take(max)
        .collect();
    while out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push_str("alert");
    }
    out
}

/// `20261204T101500.123Z`.
fn stamp(ns: u64) -> String {
    let (y, mo, d, h, mi, s, n) = harrier_sinks::alert::utc_parts(ns);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{:03}Z", n / 1_000_000)
}

/// The header's part that concerns `target`: its threads and their fd tables (users, groups,
/// machine and interfaces stay).
pub fn header_for(mut h: Header, target: &Target) -> Header {
    match target {
        Target::Container(c) => {
            h.threads.retain(|t| t.cgroups.iter().any(|cg| cg.contains(c.as_str())));
        }
        Target::Process(p) => {
            let p = *p as u64;
            // The tree below p: parents come before children in pid order mostly, but not
            // always (pid wrap), so iterate to a fixed point.
            let mut keep: std::collections::HashSet<u64> = [p].into_iter().collect();
            loop {
                let before = keep.len();
                for t in &h.threads {
                    if keep.contains(&t.pid) || keep.contains(&t.ptid) {
                        keep.insert(t.pid);
                    }
                }
                if keep.len() == before {
                    break;
                }
            }
            h.threads.retain(|t| keep.contains(&t.pid));
        }
    }
    let tids: std::collections::HashSet<u64> = h.threads.iter().map(|t| t.tid).collect();
    h.fd_tables.retain(|f| tids.contains(&f.tid));
    h
}

impl Captures {
    pub fn new(settings: Settings) -> Self {
        Captures {
            shared: Arc::new(Shared {
                settings,
                running: AtomicUsize::new(0),
                list: Mutex::new(Vec::new()),
                tapped: AtomicBool::new(false),
            }),
            finished: Arc::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// The observer to attach to the detector (`Detector::add_observer`).
    pub fn tap(&self) -> CaptureTap {
        self.shared.tapped.store(true, Ordering::Relaxed);
        CaptureTap { shared: self.shared.clone() }
    }

    /// Captures running now.
    pub fn running(&self) -> usize {
        self.shared.running.load(Ordering::Relaxed)
    }

    /// Captures that ended (newest last).
    pub fn finished(&self) -> Vec<Finished> {
        self.finished.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Start capturing `target`'s events for `duration` (cut to the configured maximum) into a
    /// new file in `dir` named after `rule`, the target and the time.
    pub fn start(
        &self,
        target: Target,
        rule: &str,
        duration: Option<Duration>,
        dir: Option<&Path>,
        max_bytes: Option<u64>,
    ) -> Result<Started, String> {
        let s = &self.shared.settings;
        if !self.shared.tapped.load(Ordering::Relaxed) {
            return Err("node:capture records the events `harrier run` sees; this process has no event stream (use it in harrier run's response rules)".into());
        }
        let duration = duration.unwrap_or(s.default_duration).min(s.max_duration);
        if duration.is_zero() {
            return Err("duration must be at least 1 second".into());
        }
        let cap = max_bytes.unwrap_or(s.max_bytes).min(s.max_bytes);
        {
            let list = self.shared.list.lock().unwrap_or_else(|e| e.into_inner());
            let live: Vec<&Active> = list.iter().filter(|a| !a.done.load(Ordering::Relaxed)).collect();
            if live.iter().any(|a| a.target == target) {
                return Err(format!("{} is already being captured", target.describe()));
            }
            if live.len() >= s.max_concurrent {
                return Err(format!(
                    "{} captures are running (response.capture_max_concurrent); not capturing {}",
                    live.len(),
                    target.describe()
                ));
            }
        }
        let dir = dir.unwrap_or(&s.dir);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let name = format!("{}_{}_{}.scap", sanitize(rule, 64), target.file_part(), stamp(crate::now_ns()));
        let path = dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        // Listen first, then read /proc: events from here on queue up while the header is
        // written, so no process of the target falls between the two.
        let (tx, rx) = mpsc::sync_channel::<Msg>(s.queue.max(16));
        let done = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let desc = target.describe();
        {
            let mut list = self.shared.list.lock().unwrap_or_else(|e| e.into_inner());
            list.push(Active { target: target.clone(), tx, done: done.clone(), dropped: dropped.clone() });
            self.shared.running.fetch_add(1, Ordering::Relaxed);
        }
        let unregister = |done: &Arc<AtomicBool>| {
            done.store(true, Ordering::Relaxed);
            let mut list = self.shared.list.lock().unwrap_or_else(|e| e.into_inner());
            let before = list.len();
            list.retain(|a| !Arc::ptr_eq(&a.done, done));
            self.shared.running.fetch_sub(before - list.len(), Ordering::Relaxed);
        };
        let header = header_for(harrier_probe::procfs::scan(), &target);
        let header_threads = header.threads.len();
        if let Target::Process(p) = target {
            if header_threads == 0 {
                unregister(&done);
                let _ = std::fs::remove_file(&path);
                return Err(format!("target gone: process {p} has exited"));
            }
        }
        let mut w = Writer::new(file, WriterOptions::default());
        if let Err(e) = w.write_header(&header) {
            unregister(&done);
            let _ = std::fs::remove_file(&path);
            return Err(format!("cannot write {}: {e}", path.display()));
        }
        let deadline = Instant::now() + duration;
        let (done2, dropped2, shared, finished, path2) =
            (done.clone(), dropped.clone(), self.shared.clone(), self.finished.clone(), path.clone());
        let spawned = std::thread::Builder::new().name("harrier-capture".into()).spawn(move || {
            let mut f = Finished { path: path2, ..Default::default() };
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match rx.recv_timeout(left) {
                    Ok(m) => {
                        // Block overhead: 8 head + 4 tail + 2 cpu (+4 flags) + padding.
                        if w.bytes_written() + m.raw.len() as u64 + 24 > cap {
                            f.capped = true;
                            break;
                        }
                        let ev = match harrier_event::Event::new(&m.raw, m.cpu, m.flags) {
                            Ok(ev) => ev,
                            Err(_) => continue,
                        };
                        if let Err(e) = w.write_event(&ev) {
                            f.error = Some(e.to_string());
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            // The tap stops sending; what is still queued is not written (the duration is over).
            done2.store(true, Ordering::Relaxed);
            drop(rx);
            f.events = w.events_written();
            f.bytes = w.bytes_written();
            if let Err(e) = w.finish() {
                f.error.get_or_insert(e.to_string());
            }
            f.dropped = dropped2.load(Ordering::Relaxed);
            {
                let mut list = shared.list.lock().unwrap_or_else(|e| e.into_inner());
                let before = list.len();
                list.retain(|a| !Arc::ptr_eq(&a.done, &done2));
                shared.running.fetch_sub(before - list.len(), Ordering::Relaxed);
            }
            match &f.error {
                None => tracing::info!(
                    path = %f.path.display(),
                    events = f.events,
                    bytes = f.bytes,
                    dropped = f.dropped,
                    capped = f.capped,
                    "node:capture of {desc} finished"
                ),
                Some(e) => tracing::error!(path = %f.path.display(), "node:capture of {desc} failed: {e}"),
            }
            let mut fin = finished.lock().unwrap_or_else(|e| e.into_inner());
            if fin.len() >= 64 {
                fin.remove(0);
            }
            fin.push(f);
        });
        if let Err(e) = spawned {
            unregister(&done);
            return Err(format!("cannot start the capture thread: {e}"));
        }
        Ok(Started { path, duration, header_threads })
    }

    /// Wait (bounded) until no capture runs; for tests and shutdown.
    pub fn wait_idle(&self, within: Duration) -> bool {
        let t = Instant::now();
        while self.running() > 0 {
            if t.elapsed() > within {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

/// The detector-side half: copies running captures' events to their writer threads.
pub struct CaptureTap {
    shared: Arc<Shared>,
}

impl EventObserver for CaptureTap {
    fn name(&self) -> &str {
        "capture"
    }

    fn observe(&mut self, ev: &SyscallEvent<'_>, _matched: Option<&str>, _out: &mut dyn FnMut(Alert)) {
        if self.shared.running.load(Ordering::Relaxed) == 0 {
            return;
        }
        let list = self.shared.list.lock().unwrap_or_else(|e| e.into_inner());
        for a in list.iter() {
            if a.done.load(Ordering::Relaxed) || !a.target.keeps(ev) {
                continue;
            }
            let m = Msg { raw: ev.ev.raw().to_vec(), cpu: ev.ev.cpu(), flags: ev.ev.flags() };
            match a.tx.try_send(m) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    a.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harrier_scap::ThreadInfo;

    fn t(tid: u64, pid: u64, ptid: u64, cg: &str) -> ThreadInfo {
        ThreadInfo { tid, pid, ptid, cgroups: vec![format!("cpu={cg}")], ..Default::default() }
    }

    #[test]
    fn header_keeps_only_the_target() {
        let h = Header {
            threads: vec![
                t(1, 1, 0, "/"),
                t(10, 10, 1, "/system.slice/containerd/abcdef012345abcdef"),
                t(11, 10, 1, "/system.slice/containerd/abcdef012345abcdef"),
                t(20, 20, 1, "/user.slice"),
                t(21, 21, 20, "/user.slice"),
                t(22, 22, 21, "/user.slice"),
                t(30, 30, 1, "/user.slice"),
            ],
            fd_tables: vec![
                harrier_scap::FdTable { tid: 10, fds: vec![] },
                harrier_scap::FdTable { tid: 30, fds: vec![] },
            ],
            ..Default::default()
        };
        let c = header_for(h.clone(), &Target::Container("abcdef012345".into()));
        assert_eq!(c.threads.iter().map(|t| t.tid).collect::<Vec<_>>(), [10, 11]);
        assert_eq!(c.fd_tables.len(), 1);
        let p = header_for(h, &Target::Process(20));
        assert_eq!(p.threads.iter().map(|t| t.tid).collect::<Vec<_>>(), [20, 21, 22]);
        assert!(p.fd_tables.is_empty());
    }

    #[test]
    fn names_are_safe() {
        assert_eq!(sanitize("Read ../../etc/shadow", 64), "Read_.._.._etc_shadow");
        assert_eq!(sanitize("..x", 64), "_.x");
        assert_eq!(sanitize("", 64), "alert");
        assert_eq!(stamp(1_764_842_100_123_000_000), "20251204T095500.123Z");
    }

    #[test]
    fn refuses_without_an_event_stream_and_beyond_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let c = Captures::new(Settings { dir: dir.path().into(), max_concurrent: 1, ..Default::default() });
        let e = c.start(Target::Container("abcdef012345".into()), "r", None, None, None).unwrap_err();
        assert!(e.contains("harrier run"), "{e}");
        let _tap = c.tap();
        let d = Some(Duration::from_secs(2));
        let s = c.start(Target::Container("abcdef012345".into()), "r", d, None, None).unwrap();
        let mode = std::fs::metadata(&s.path).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
        let e = c.start(Target::Container("abcdef012345".into()), "r", d, None, None).unwrap_err();
        assert!(e.contains("already"), "{e}");
        let e = c.start(Target::Container("0123456789ab".into()), "r", d, None, None).unwrap_err();
        assert!(e.contains("capture_max_concurrent"), "{e}");
        let gone = c.start(Target::Process(i32::MAX as i64), "r", d, None, None);
        assert!(gone.is_err());
        assert!(c.wait_idle(Duration::from_secs(10)));
        let f = c.finished();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].events, 0);
        // A header-only capture: the section header block, then the process list.
        let bytes = std::fs::read(&s.path).unwrap();
        assert_eq!(&bytes[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
    }
}
