//! File inputs: JSON Lines replayed to the end, and `file://` followed like `tail -F`.
//!
//! Each line is one payload (an `Event`, an `EventList` or an array), as for the webhook. Lines may
//! be as long as `webhookMaxBatchSize` (a line can hold a whole batch); a longer line is skipped
//! and counted, and reading goes on (the plugin's Go scanner stops the whole stream at 64 KiB).
//!
//! Follow mode starts at the end of the file (existing content is skipped, as in the plugin) and
//! polls every 200 ms: new complete lines are read; a file that shrank was truncated (read again
//! from 0); a different inode at the path means rotation or re-creation (the old file is read to its
//! end, then the new one from 0); a missing file is waited for. Polling instead of inotify keeps it
//! working on every filesystem (NFS, overlay, bind mounts) at a cost of at most 200 ms latency.

use crate::event::{parse_payload, AuditEvent, Counters};
use crate::queue::Queue;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often follow mode looks at the file.
pub const POLL: Duration = Duration::from_millis(200);

/// Limits for the readers.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub max_event_size: usize,
    pub max_line: usize,
}

/// Counts lines skipped for length (in addition to the parser's [`Counters`]).
#[derive(Debug, Default)]
pub struct LineCounters {
    pub too_long: AtomicU64,
}

/// Read one line of at most `max` bytes into `buf` (without the newline). Returns `Ok(None)` at
/// end of input, `Ok(Some(false))` for a line that was too long (its rest is skipped).
pub fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if any { Some(!too_long) } else { None });
        }
        any = true;
        let (chunk, done) = match memchr_nl(avail) {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(avail.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(!too_long));
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Parse every line of `r` into events, calling `emit` with each line's events.
pub fn read_jsonl<R: BufRead>(
    mut r: R,
    limits: ReadLimits,
    counters: &Counters,
    lines: &LineCounters,
    mut emit: impl FnMut(Vec<AuditEvent>) -> bool,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some(ok) = read_line_capped(&mut r, &mut buf, limits.max_line)? {
        if !ok {
            lines.too_long.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("k8saudit: line longer than {} bytes skipped", limits.max_line);
            continue;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut evs = Vec::new();
        let _ = parse_payload(&buf, limits.max_event_size, &mut evs, counters);
        if !evs.is_empty() && !emit(evs) {
            break;
        }
    }
    Ok(())
}

/// The files of a replay: the file itself, or a directory's regular files by modification time.
pub fn replay_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let md = std::fs::metadata(path).map_err(|e| format!("k8saudit: cannot open {}: {e}", path.display()))?;
    if !md.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for e in std::fs::read_dir(path).map_err(|e| format!("k8saudit: cannot read {}: {e}", path.display()))? {
        let Ok(e) = e else { continue };
        let Ok(md) = e.metadata() else { continue };
        if md.is_file() {
            files.push((md.modified().ok(), e.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// Replay `files` into the queue, then end this producer.
pub fn spawn_replay(
    files: Vec<PathBuf>,
    limits: ReadLimits,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    lines: Arc<LineCounters>,
) -> std::thread::JoinHandle<()> {
    queue.add_producer();
    std::thread::Builder::new()
        .name("k8saudit-replay".into())
        .spawn(move || {
            for f in &files {
                let file = match File::open(f) {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::error!("k8saudit: cannot open {}: {e}", f.display());
                        continue;
                    }
                };
                let r = read_jsonl(
                    BufReader::with_capacity(256 * 1024, file),
                    limits,
                    &counters,
                    &lines,
                    |evs| queue.push_batch_blocking(evs).is_ok(),
                );
                if let Err(e) = r {
                    tracing::error!("k8saudit: reading {}: {e}", f.display());
                }
            }
            queue.producer_done();
        })
        .expect("spawn k8saudit replay thread")
}

/// Follow `path` like `tail -F` until `stop` is set.
pub fn spawn_follow(
    path: PathBuf,
    limits: ReadLimits,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    lines: Arc<LineCounters>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    queue.add_producer();
    std::thread::Builder::new()
        .name("k8saudit-follow".into())
        .spawn(move || {
            let mut f = Follower::new(path, limits);
            while !stop.load(Ordering::Relaxed) {
                let ok = f.poll(&counters, &lines, &mut |evs| queue.push_batch_blocking(evs).is_ok());
                if !ok {
                    break;
                }
                std::thread::sleep(POLL);
            }
            queue.producer_done();
        })
        .expect("spawn k8saudit follow thread")
}

/// The state of `tail -F` on one path.
pub struct Follower {
    path: PathBuf,
    limits: ReadLimits,
    file: Option<(File, u64, u64)>, // (file, inode, dev)
    offset: u64,
    partial: Vec<u8>,
    started: bool,
}

impl Follower {
    pub fn new(path: PathBuf, limits: ReadLimits) -> Follower {
        Follower { path, limits, file: None, offset: 0, partial: Vec::new(), started: false }
    }

    /// One look at the file: read what is new. `emit` returns false to stop.
    pub fn poll(
        &mut self,
        counters: &Counters,
        lines: &LineCounters,
        emit: &mut dyn FnMut(Vec<AuditEvent>) -> bool,
    ) -> bool {
        // Drain what the current file has.
        if !self.drain(counters, lines, emit) {
            return false;
        }
        let md = std::fs::metadata(&self.path).ok();
        match (&self.file, md) {
            (_, None) => {} // removed or renamed away: keep what we have, wait for a new one
            (None, Some(md)) => {
                // First sight: start at the end (existing content skipped) on the first poll,
                // at 0 for a file that appears later.
                let start = if self.started { 0 } else { md.len() };
                self.open(start);
            }
            (Some((_, ino, dev)), Some(md)) => {
                if md.ino() != *ino || md.dev() != *dev {
                    // Rotated or re-created: finish the old file (a writer may have added lines
                    // since the drain above), then take the new one from its start.
                    if !self.drain(counters, lines, emit) {
                        return false;
                    }
                    self.partial.clear();
                    self.open(0);
                    return self.drain(counters, lines, emit);
                } else if md.len() < self.offset {
                    // Truncated (copytruncate): read again from the start.
                    self.offset = 0;
                    self.partial.clear();
                    if let Some((f, _, _)) = &mut self.file {
                        let _ = f.seek(SeekFrom::Start(0));
                    }
                    return self.drain(counters, lines, emit);
                }
            }
        }
        self.started = true;
        true
    }

    fn open(&mut self, at: u64) {
        self.started = true;
        match File::open(&self.path) {
            Ok(mut f) => {
                let Ok(md) = f.metadata() else { return };
                let at = at.min(md.len());
                if f.seek(SeekFrom::Start(at)).is_ok() {
                    self.offset = at;
                    self.file = Some((f, md.ino(), md.dev()));
                }
            }
            Err(e) => tracing::debug!("k8saudit follow {}: {e}", self.path.display()),
        }
    }

    fn drain(
        &mut self,
        counters: &Counters,
        lines: &LineCounters,
        emit: &mut dyn FnMut(Vec<AuditEvent>) -> bool,
    ) -> bool {
        let Some((f, _, _)) = &mut self.file else { return true };
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = match f.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!("k8saudit follow {}: {e}", self.path.display());
                    return true;
                }
            };
            self.offset += n as u64;
            let mut rest = &chunk[..n];
            while let Some(i) = memchr_nl(rest) {
                let line_too_long = self.partial.len() + i > self.limits.max_line;
                if line_too_long {
                    lines.too_long.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("k8saudit: line longer than {} bytes skipped", self.limits.max_line);
                } else {
                    self.partial.extend_from_slice(&rest[..i]);
                    if !self.partial.iter().all(u8::is_ascii_whitespace) {
                        let mut evs = Vec::new();
                        let _ = parse_payload(&self.partial, self.limits.max_event_size, &mut evs, counters);
                        if !evs.is_empty() && !emit(evs) {
                            return false;
                        }
                    }
                }
                self.partial.clear();
                rest = &rest[i + 1..];
            }
            // Keep an incomplete line (bounded: past the limit only its length matters).
            if self.partial.len() + rest.len() <= self.limits.max_line {
                self.partial.extend_from_slice(rest);
            } else {
                self.partial.resize(self.limits.max_line + 1, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn capped_lines() {
        let mut r = Cursor::new(b"abc\n0123456789\nxy".to_vec());
        let mut b = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut b, 5).unwrap(), Some(true));
        assert_eq!(b, b"abc");
        assert_eq!(read_line_capped(&mut r, &mut b, 5).unwrap(), Some(false));
        assert_eq!(read_line_capped(&mut r, &mut b, 5).unwrap(), Some(true));
        assert_eq!(b, b"xy");
        assert_eq!(read_line_capped(&mut r, &mut b, 5).unwrap(), None);
    }
}
