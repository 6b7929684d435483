//! Per-sink delivery queue: bounded memory, a disk spool, retries with exponential backoff, and
//! a declared policy when both are full.
//!
//! Guarantee: **at-least-once per sink.** When the sink has a spool (the default for
//! `harrier run` and `harrier forward`), the spool is a write-ahead log: every alert is appended
//! to it *before* the router returns (before the forward ingest answers 2xx), and memory only
//! holds a cache of the spool's head for fast delivery. A `kill -9` therefore loses nothing the
//! spool accepted; what survives a power loss depends on the [`FsyncPolicy`] (`never`: the
//! kernel's page cache writes it back; `interval`: at most that long is at risk; `always`: an
//! `fdatasync` per alert). Without a spool everything is in memory and a kill loses it. A batch
//! that failed (timeout, 5xx) is sent again, so receivers may see duplicates; they are counted as
//! `redelivered`. Order is kept per sink.
//!
//! Spool layout, per sink under the spool directory: `NAME.spool` (append-only, one Falco JSON
//! alert per line) and `NAME.ack` (the byte offset up to which the sink has acknowledged, 8 bytes
//! little-endian). When everything is acknowledged the segment is truncated to zero. A torn last
//! line (crash mid-write) is cut on open; a line that does not parse is skipped and counted. The
//! segment is locked (`flock`) while open, so two processes never share one spool. A write that
//! fails (disk full) leaves no partial line behind and the alert is handled as "full"
//! (`when_full`).

use crate::alert::alert_from_json;
use crate::sink::Sink;
use harrier_engine::Alert;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

/// What happens to a new alert when memory and spool are both full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// The producer waits (the detector thread blocks on this sink).
    Block,
    /// The new alert is dropped and counted.
    #[default]
    DropNewest,
}

impl std::str::FromStr for WhenFull {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "block" => Ok(WhenFull::Block),
            "drop_newest" | "drop" => Ok(WhenFull::DropNewest),
            _ => Err(format!("when_full must be 'block' or 'drop_newest', not '{s}'")),
        }
    }
}

/// When spool writes are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Page-cache writes only: survives a process kill, not a power loss (the default).
    #[default]
    Never,
    /// `fdatasync` at most this often while there are unsynced writes.
    Interval(Duration),
    /// `fdatasync` after every alert (slow; for power-loss safety).
    Always,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never" => Ok(FsyncPolicy::Never),
            "always" => Ok(FsyncPolicy::Always),
            "interval" => Ok(FsyncPolicy::Interval(Duration::from_secs(1))),
            _ => Err(format!("fsync must be 'never', 'interval' or 'always', not '{s}'")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Alerts held in memory, the attempt in flight included. 0: every alert goes through the spool.
    pub memory: usize,
    /// Capacity of the hand-over channel from the hot path (absorbs bursts while the queue
    /// writes to the spool). Memory use is bounded by `memory + channel` alerts.
    pub channel: usize,
    /// Directory for the spool; `None` keeps everything in memory.
    pub spool_dir: Option<PathBuf>,
    /// Spool size limit in bytes.
    pub spool_max_bytes: u64,
    pub when_full: WhenFull,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Time limit of one delivery attempt. An output with a longer timeout of its own
    /// ([`crate::Sink::timeout`]) raises it to that plus a second when the route is added.
    pub timeout: Duration,
    /// `timeout` was set by the user (`queue.timeout_ms`): an output whose own timeout is longer
    /// is refused at start instead.
    pub timeout_set: bool,
    /// When spool writes are synced to disk.
    pub fsync: FsyncPolicy,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            memory: 1024,
            channel: 1024,
            spool_dir: None,
            spool_max_bytes: 256 << 20,
            when_full: WhenFull::DropNewest,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            timeout_set: false,
            fsync: FsyncPolicy::Never,
        }
    }
}

/// Counters of one sink (all monotonic except the gauges `in_memory` and `spooled`).
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub delivered: AtomicU64,
    /// Dropped because memory and spool were full (`drop_newest`), or the hand-over channel was.
    pub dropped: AtomicU64,
    /// Rejected by the receiver as invalid (not retried).
    pub failed: AtomicU64,
    /// Failed attempts (each retried after a backoff).
    pub retries: AtomicU64,
    /// Alerts delivered again after an attempt that may have reached the receiver.
    pub redelivered: AtomicU64,
    pub spilled: AtomicU64,
    /// Spool lines that could not be read back.
    pub corrupt: AtomicU64,
    pub in_memory: AtomicU64,
    pub spooled: AtomicU64,
    pub last_error: Mutex<String>,
}

/// A copy of a sink's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStats {
    pub name: String,
    pub kind: String,
    pub accepted: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub failed: u64,
    pub retries: u64,
    pub redelivered: u64,
    pub spilled: u64,
    pub corrupt: u64,
    pub in_memory: u64,
    pub spooled: u64,
    pub last_error: String,
}

impl Stats {
    pub fn snapshot(&self, name: &str, kind: &str) -> SinkStats {
        SinkStats {
            name: name.into(),
            kind: kind.into(),
            accepted: self.accepted.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            failed: self.failed.load(Relaxed),
            retries: self.retries.load(Relaxed),
            redelivered: self.redelivered.load(Relaxed),
            spilled: self.spilled.load(Relaxed),
            corrupt: self.corrupt.load(Relaxed),
            in_memory: self.in_memory.load(Relaxed),
            spooled: self.spooled.load(Relaxed),
            last_error: self.last_error.lock().map(|s| s.clone()).unwrap_or_default(),
        }
    }
}

/// The on-disk segment of one sink.
pub struct Spool {
    data: File,
    ack_file: File,
    path: PathBuf,
    len: u64,
    ack: u64,
    /// Alerts not yet acknowledged.
    count: u64,
    /// Writes not yet synced, and when the last sync was.
    dirty: bool,
    synced: Instant,
}

impl Spool {
    pub fn open(dir: &Path, name: &str) -> io::Result<Spool> {
        std::fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create spool directory {}: {e}", dir.display()))
        })?;
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        let path = dir.join(format!("{safe}.spool"));
        let data =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(
                |e| io::Error::new(e.kind(), format!("cannot open spool {}: {e}", path.display())),
            )?;
        // A queue being shut down (a configuration reload) may still hold it for a moment.
        let mut tries = 0;
        let locked = loop {
            match data.try_lock() {
                Err(std::fs::TryLockError::WouldBlock) if tries < 40 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other,
            }
        };
        match locked {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                    "spool {} is in use by another Harrier process (give each process its own 'spooldir')",
                    path.display()
                ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io::Error::new(e.kind(), format!("cannot lock spool {}: {e}", path.display())))
            }
        }
        let ack_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(format!("{safe}.ack")))?;
        let mut len = data.metadata()?.len();
        // Cut a torn last line.
        if len > 0 {
            let mut pos = len;
            let mut buf = [0u8; 4096];
            loop {
                let start = pos.saturating_sub(buf.len() as u64);
                let n = (pos - start) as usize;
                data.read_exact_at(&mut buf[..n], start)?;
                if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
                    len = start + i as u64 + 1;
                    break;
                }
                if start == 0 {
                    len = 0;
                    break;
                }
                pos = start;
            }
            data.set_len(len)?;
        }
        let mut ab = [0u8; 8];
        let ack = match ack_file.read_exact_at(&mut ab, 0) {
            Ok(()) => u64::from_le_bytes(ab),
            Err(_) => 0,
        };
        let ack = if ack > len { 0 } else { ack };
        let mut s = Spool { data, ack_file, path, len, ack, count: 0, dirty: false, synced: Instant::now() };
        s.count = s.count_pending()?;
        Ok(s)
    }

    fn count_pending(&mut self) -> io::Result<u64> {
        let mut f = &self.data;
        f.seek(SeekFrom::Start(self.ack))?;
        let mut n = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let k = f.read(&mut buf)?;
            if k == 0 {
                break;
            }
            n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        Ok(n)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn pending(&self) -> u64 {
        self.count
    }
    pub fn bytes(&self) -> u64 {
        self.len - self.ack
    }

    /// Append one alert; returns the offset after it. On error nothing is left behind.
    pub fn append(&mut self, a: &Alert) -> io::Result<u64> {
        let mut line = a.to_json_value(true, true).to_string().into_bytes();
        line.push(b'\n');
        if let Err(e) = self.data.write_all_at(&line, self.len) {
            // Never leave a partial line behind.
            let _ = self.data.set_len(self.len);
            return Err(e);
        }
        self.len += line.len() as u64;
        self.count += 1;
        self.dirty = true;
        Ok(self.len)
    }

    /// Sync written data to disk if `policy` asks for it now (`force`: any unsynced write).
    pub fn sync(&mut self, policy: FsyncPolicy, force: bool) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let due = match policy {
            FsyncPolicy::Never => false,
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval(d) => force || self.synced.elapsed() >= d,
        };
        if due {
            self.data.sync_data()?;
            self.dirty = false;
            self.synced = Instant::now();
        }
        Ok(())
    }

    /// Up to `max` alerts from the acknowledged offset, and the offset after them.
    pub fn peek(&mut self, max: usize, corrupt: &AtomicU64) -> io::Result<(Vec<Alert>, u64, u64)> {
        let (items, off, lines) = self.read(max, corrupt)?;
        Ok((items.into_iter().map(|i| i.0).collect(), off, lines))
    }

    /// Up to `max` alerts from the acknowledged offset, each with the offset after it and the
    /// number of lines it accounts for (itself and unreadable lines before it); and the offset
    /// and line count after the last line read.
    #[allow(clippy::type_complexity)]
    fn read(&mut self, max: usize, corrupt: &AtomicU64) -> io::Result<(Vec<(Alert, u64, u64)>, u64, u64)> {
        let mut f = &self.data;
        f.seek(SeekFrom::Start(self.ack))?;
        let mut r = BufReader::new(f.take(self.len - self.ack));
        let mut out = Vec::new();
        let mut off = self.ack;
        let mut lines = 0;
        let mut pending_lines = 0;
        let mut line = Vec::new();
        while out.len() < max {
            line.clear();
            let n = r.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            off += n as u64;
            lines += 1;
            pending_lines += 1;
            match serde_json::from_slice(&line).map_err(|e| e.to_string()).and_then(|v| alert_from_json(&v)) {
                Ok(a) => {
                    out.push((a, off, pending_lines));
                    pending_lines = 0;
                }
                Err(_) => {
                    corrupt.fetch_add(1, Relaxed);
                }
            }
        }
        Ok((out, off, lines))
    }

    /// Acknowledge up to `off` (`lines` alerts); truncates the segment when all is acknowledged.
    pub fn ack(&mut self, off: u64, lines: u64) -> io::Result<()> {
        self.ack = off.min(self.len);
        self.count = self.count.saturating_sub(lines);
        if self.ack == self.len {
            self.data.set_len(0)?;
            self.len = 0;
            self.ack = 0;
            self.count = 0;
        }
        self.ack_file.write_all_at(&self.ack.to_le_bytes(), 0)
    }
}

/// An alert held in memory; with a spool, also the spool offset after it and the spool lines it
/// accounts for (so delivering it acknowledges them).
struct Item {
    a: Arc<Alert>,
    off: u64,
    lines: u64,
}

struct State {
    mem: VecDeque<Item>,
    /// Alerts taken from `mem` for the attempt in flight (they count against the memory bound).
    inflight: usize,
    spool: Option<Spool>,
    /// With a spool: the spool offset up to which `mem` holds the alerts (when it equals the
    /// spool's end, a new alert is also kept in memory; otherwise it is read back later).
    mem_tail: u64,
    closed: bool,
}

/// The shared part of a sink's queue.
pub(crate) struct Queue {
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) cfg: QueueConfig,
    pub(crate) stats: Arc<Stats>,
    state: Mutex<State>,
    /// With a spool, alerts are written to it by the producer itself (no hand-over channel).
    pub(crate) durable: bool,
    /// Wakes the delivery task.
    pub(crate) work: Notify,
    /// Wakes a blocked intake when space was freed.
    pub(crate) space: Notify,
    stop: AtomicBool,
    stop_notify: Notify,
}

pub(crate) enum Offer {
    Taken,
    Dropped,
    Full(Arc<Alert>),
}

/// Alerts of one attempt; with a spool, acknowledging them moves the spool's acknowledged
/// offset to `off` (`lines` alerts).
struct Batch {
    items: Vec<Item>,
}

impl Queue {
    pub(crate) fn new(name: &str, sink: Arc<dyn Sink>, cfg: QueueConfig) -> io::Result<Arc<Queue>> {
        let spool = match &cfg.spool_dir {
            Some(d) => Some(Spool::open(d, name)?),
            None => None,
        };
        let stats = Arc::new(Stats::default());
        if let Some(s) = &spool {
            stats.spooled.store(s.pending(), Relaxed);
        }
        let durable = spool.is_some();
        let mem_tail = spool.as_ref().map_or(0, |s| s.ack);
        Ok(Arc::new(Queue {
            sink,
            cfg,
            stats,
            state: Mutex::new(State { mem: VecDeque::new(), inflight: 0, spool, mem_tail, closed: false }),
            durable,
            work: Notify::new(),
            space: Notify::new(),
            stop: AtomicBool::new(false),
            stop_notify: Notify::new(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_error(&self, e: &str) {
        if let Ok(mut s) = self.stats.last_error.lock() {
            s.clear();
            s.push_str(e);
        }
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }

    /// Take one alert: into memory, or (with a spool) into the spool first. `Full` when it could
    /// not be kept and the policy is `block` (the caller waits and offers it again).
    pub(crate) fn offer(&self, a: Arc<Alert>) -> Offer {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(sp) = st.spool.as_mut() else {
            if st.mem.len() + st.inflight < self.cfg.memory {
                st.mem.push_back(Item { a, off: 0, lines: 0 });
                self.stats.in_memory.store(st.mem.len() as u64, Relaxed);
                return Offer::Taken;
            }
            return self.full(a);
        };
        if sp.bytes() >= self.cfg.spool_max_bytes {
            let m = format!("spool {} is full ({} bytes)", sp.path().display(), sp.bytes());
            self.set_error(&m);
            return self.full(a);
        }
        let before = sp.len;
        match sp.append(&a) {
            Ok(off) => {
                self.stats.spilled.fetch_add(1, Relaxed);
                self.stats.spooled.store(sp.pending(), Relaxed);
                if let Err(e) = sp.sync(self.cfg.fsync, false) {
                    let m = format!("spool {}: fsync: {e}", sp.path().display());
                    self.set_error(&m);
                }
                if st.mem_tail == before && st.mem.len() + st.inflight < self.cfg.memory {
                    st.mem.push_back(Item { a, off, lines: 1 });
                    st.mem_tail = off;
                    self.stats.in_memory.store(st.mem.len() as u64, Relaxed);
                }
                Offer::Taken
            }
            Err(e) => {
                let m = format!("spool {}: {e}", sp.path().display());
                tracing::warn!(sink = self.sink.kind(), "{m}");
                self.set_error(&m);
                self.full(a)
            }
        }
    }

    fn full(&self, a: Arc<Alert>) -> Offer {
        match self.cfg.when_full {
            WhenFull::DropNewest => Offer::Dropped,
            WhenFull::Block => Offer::Full(a),
        }
    }

    /// Moves alerts from the hand-over channel into memory (queues without a spool).
    pub(crate) async fn intake(self: Arc<Self>, mut rx: mpsc::Receiver<Arc<Alert>>) {
        while let Some(a) = rx.recv().await {
            self.offer_wait(a).await;
        }
        self.lock().closed = true;
        self.work.notify_one();
    }

    /// Offer, waiting for space under `block`; counts a drop. Returns whether it was taken.
    pub(crate) async fn offer_wait(&self, a: Arc<Alert>) -> bool {
        let mut a = a;
        let taken = loop {
            match self.offer(a) {
                Offer::Taken => break true,
                Offer::Dropped => {
                    self.stats.dropped.fetch_add(1, Relaxed);
                    break false;
                }
                Offer::Full(back) => {
                    a = back;
                    if self.stopped() {
                        // Shutting down with nowhere to put it: count it.
                        self.stats.dropped.fetch_add(1, Relaxed);
                        break false;
                    }
                    let _ = tokio::time::timeout(Duration::from_millis(50), self.space.notified()).await;
                }
            }
        };
        self.work.notify_one();
        taken
    }

    /// [`Queue::offer_wait`] for a thread that may block.
    pub(crate) fn offer_blocking(&self, a: Arc<Alert>) -> bool {
        let mut a = a;
        let taken = loop {
            match self.offer(a) {
                Offer::Taken => break true,
                Offer::Dropped => {
                    self.stats.dropped.fetch_add(1, Relaxed);
                    break false;
                }
                Offer::Full(back) => {
                    a = back;
                    if self.stopped() {
                        self.stats.dropped.fetch_add(1, Relaxed);
                        break false;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        self.work.notify_one();
        taken
    }

    /// Marks the producer side closed (no more offers): the delivery task ends once empty.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.work.notify_one();
    }

    fn next_batch(&self) -> Option<Batch> {
        let max = self.sink.max_batch().max(1);
        let mut st = self.lock();
        let st = &mut *st;
        if !st.mem.is_empty() {
            let n = st.mem.len().min(max);
            let items: Vec<_> = st.mem.drain(..n).collect();
            st.inflight = n;
            self.stats.in_memory.store(st.mem.len() as u64, Relaxed);
            return Some(Batch { items });
        }
        let sp = st.spool.as_mut()?;
        if sp.pending() == 0 {
            return None;
        }
        match sp.read(max, &self.stats.corrupt) {
            Ok((v, off, lines)) if v.is_empty() => {
                // Only unreadable lines: skip them.
                let _ = sp.ack(off, lines);
                self.stats.spooled.store(sp.pending(), Relaxed);
                st.mem_tail = sp.ack;
                None
            }
            Ok((v, off, _)) => {
                // Memory is empty: it continues after this batch.
                st.mem_tail = off;
                let items =
                    v.into_iter().map(|(a, off, lines)| Item { a: Arc::new(a), off, lines }).collect();
                Some(Batch { items })
            }
            Err(e) => {
                let m = format!("spool {}: {e}", sp.path().display());
                self.set_error(&m);
                None
            }
        }
    }

    /// The batch was delivered (or permanently rejected): acknowledge it.
    fn finish(&self, b: &Batch) {
        let mut guard = self.lock();
        guard.inflight = 0;
        let st = &mut *guard;
        if let (Some(sp), Some(last)) = (st.spool.as_mut(), b.items.last()) {
            let lines = b.items.iter().map(|i| i.lines).sum();
            if let Err(e) = sp.ack(last.off, lines) {
                let m = format!("spool {}: {e}", sp.path().display());
                self.set_error(&m);
            }
            if sp.len == 0 {
                st.mem_tail = 0;
            }
            self.stats.spooled.store(sp.pending(), Relaxed);
        }
        drop(guard);
        self.space.notify_waiters();
    }

    /// The attempt failed: the batch goes back to the head of memory.
    fn put_back(&self, b: Batch) {
        let mut st = self.lock();
        st.inflight = 0;
        for i in b.items.into_iter().rev() {
            st.mem.push_front(i);
        }
        self.stats.in_memory.store(st.mem.len() as u64, Relaxed);
    }

    fn sync_now(&self) {
        let mut st = self.lock();
        if let Some(sp) = st.spool.as_mut() {
            if let Err(e) = sp.sync(self.cfg.fsync, true) {
                let m = format!("spool {}: fsync: {e}", sp.path().display());
                drop(st);
                self.set_error(&m);
            }
        }
    }

    /// Delivers, oldest first, until closed and empty or stopped.
    pub(crate) async fn deliver(self: Arc<Self>) {
        let mut backoff = self.cfg.backoff_initial;
        let mut attempted_head: usize = 0;
        let tick = match self.cfg.fsync {
            FsyncPolicy::Interval(d) => d.min(Duration::from_secs(1)),
            _ => Duration::from_secs(1),
        };
        loop {
            if self.stop.load(Relaxed) {
                break;
            }
            let Some(batch) = self.next_batch() else {
                if self.lock().closed {
                    break;
                }
                tokio::select! {
                    _ = self.work.notified() => {}
                    _ = self.stop_notify.notified() => {}
                    // Spool reads can fail transiently; look again now and then (and sync).
                    _ = tokio::time::sleep(tick) => self.sync_now(),
                }
                continue;
            };
            let n = batch.items.len();
            let items: Vec<Arc<Alert>> = batch.items.iter().map(|i| i.a.clone()).collect();
            let res = tokio::time::timeout(self.cfg.timeout, self.sink.deliver(&items)).await;
            drop(items);
            let res = match res {
                Ok(r) => r,
                Err(_) => Err(crate::SinkError::transient(format!("timed out after {:?}", self.cfg.timeout))),
            };
            match res {
                Ok(()) => {
                    self.stats.delivered.fetch_add(n as u64, Relaxed);
                    let again = attempted_head.min(n);
                    self.stats.redelivered.fetch_add(again as u64, Relaxed);
                    attempted_head -= again;
                    backoff = self.cfg.backoff_initial;
                    self.finish(&batch);
                }
                Err(e) if e.permanent => {
                    self.stats.failed.fetch_add(n as u64, Relaxed);
                    attempted_head -= attempted_head.min(n);
                    self.set_error(&e.message);
                    self.finish(&batch);
                }
                Err(e) => {
                    self.stats.retries.fetch_add(1, Relaxed);
                    self.set_error(&e.message);
                    attempted_head = attempted_head.max(n);
                    self.put_back(batch);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.stop_notify.notified() => {}
                    }
                    backoff = (backoff * 2).min(self.cfg.backoff_max);
                }
            }
        }
        self.sync_now();
    }

    /// Stop delivering. With a spool everything undelivered is already in it (synced here if
    /// the policy syncs at all); without one, what is in memory is lost (and stays counted as
    /// `in_memory`).
    pub(crate) fn stop_and_persist(&self) {
        self.stop.store(true, Relaxed);
        self.stop_notify.notify_waiters();
        self.space.notify_waiters();
        self.sync_now();
        let st = self.lock();
        if let Some(sp) = st.spool.as_ref() {
            self.stats.spooled.store(sp.pending(), Relaxed);
        }
        self.stats.in_memory.store(st.mem.len() as u64, Relaxed);
    }

    pub(crate) fn is_idle(&self) -> bool {
        let st = self.lock();
        st.mem.is_empty() && st.inflight == 0 && st.spool.as_ref().is_none_or(|s| s.pending() == 0)
    }
}
