//! `watch_config_files`: notice when the configuration or a rule file changes.
//!
//! The directories holding the files are watched (editors and Kubernetes ConfigMaps replace files
//! by renaming, which a watch on the file itself would miss) with inotify; when inotify cannot be
//! set up (`fs.inotify.max_user_instances` exhausted — the CrashLoopBackOff Falco users know), the
//! same directories are polled instead, with one log line saying so. Changes are debounced and
//! then confirmed by content (sha256), so a touch or an unrelated file in the same directory does
//! not reload anything.
//!
//! The inotify watches are set up with the `inotify` crate rather than `notify`'s own backend:
//! that one always asks for `IN_OPEN`, so every open of any file in a watched directory (`/etc`,
//! when a rule or config file lives there: each exec opens `/etc/ld.so.cache`) would queue a
//! kernel event and wake Harrier. Here the directories are watched only for their entries
//! (created, deleted, renamed) and each file for its own changes: a directory watch asking for
//! any event that can happen to a file in it puts the kernel's notification path on every open,
//! read and close of every file there, even those the mask does not ask for. The polling
//! fallback is `notify`'s.

use inotify::{Inotify, WatchMask, Watches};
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// How files are being watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    Inotify,
    Polling,
}

/// A running watch; dropping it stops it.
pub struct FileWatch {
    pub mode: WatchMode,
    _backend: Backend,
    events: Arc<AtomicU64>,
    _debounce: std::thread::JoinHandle<()>,
}

impl FileWatch {
    /// Events the watch has received from the kernel (or the poller) so far.
    pub fn events_seen(&self) -> u64 {
        self.events.load(Ordering::SeqCst)
    }
}

/// Held for its `Drop`, which stops the watch.
#[allow(dead_code)]
enum Backend {
    Inotify(InotifyWatch),
    Poll(Box<dyn Watcher + Send>),
}

/// The inotify watches (the directories' and the files') and the thread reading them. Dropping it
/// removes the watches; the kernel's `IN_IGNORED` for each wakes the reader, which then sees
/// `stop` and ends.
struct InotifyWatch {
    watches: Watches,
    wds: Arc<std::sync::Mutex<Vec<inotify::WatchDescriptor>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for InotifyWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let wds = std::mem::take(&mut *self.wds.lock().unwrap_or_else(|e| e.into_inner()));
        for wd in wds {
            let _ = self.watches.remove(wd);
        }
    }
}

/// What a reload cares about in a watched directory: names created, deleted or renamed in or out
/// (editors and ConfigMaps replace a file by renaming over it), or the directory itself going
/// away. Only directory-entry events: an event that can happen to a file in the directory (open,
/// read, write, close, attributes) would make the kernel run its notification path on every
/// open, read and close of *every* file there (`/etc`, when a rule or config file lives there),
/// whether or not the mask asks for that very event — about 200 ns per open/close pair on this
/// machine kind. Changes to the files' contents are watched on the files themselves
/// ([`file_mask`]).
fn dir_mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
}

/// What a reload cares about on a watched file (the inode the path leads to, through symlinks):
/// written, its attributes, or the inode going away. Not opens, reads or closes without writing.
fn file_mask() -> WatchMask {
    WatchMask::CLOSE_WRITE
        | WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
}

/// Watch each of `files` (the inode its path leads to now). A file that does not exist (yet) is
/// skipped: its directory's watch sees it appear, and the files are watched again then.
fn watch_each_file(
    watches: &mut Watches,
    files: &[PathBuf],
    wds: &std::sync::Mutex<Vec<inotify::WatchDescriptor>>,
) {
    let mut held = wds.lock().unwrap_or_else(|e| e.into_inner());
    for f in files {
        if let Ok(wd) = watches.add(f, file_mask()) {
            if !held.contains(&wd) {
                held.push(wd);
            }
        }
    }
}

/// Watch `dirs` (directory entries) and `files` (contents) with inotify; each event batch sends
/// one message on `tx`, after the files are watched again (a rename over a file gives the path
/// a new inode, which the old watch does not follow).
fn inotify_watch(
    dirs: &[PathBuf],
    files: &[PathBuf],
    tx: mpsc::Sender<()>,
    events: Arc<AtomicU64>,
) -> Result<InotifyWatch, String> {
    let mut ino = Inotify::init().map_err(|e| format!("inotify is not available ({e})"))?;
    let mut watches = ino.watches();
    let wds = Arc::new(std::sync::Mutex::new(Vec::new()));
    for d in dirs {
        match watches.add(d, dir_mask()) {
            Ok(wd) => wds.lock().unwrap_or_else(|e| e.into_inner()).push(wd),
            Err(e) => {
                for wd in wds.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
                    let _ = watches.remove(wd);
                }
                return Err(format!("cannot watch {} with inotify ({e})", d.display()));
            }
        }
    }
    watch_each_file(&mut watches, files, &wds);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let (mut rewatch, wds2, files) = (watches.clone(), wds.clone(), files.to_vec());
    std::thread::Builder::new()
        .name("harrier-inotify".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::SeqCst) {
                let n = match ino.read_events_blocking(&mut buf) {
                    Ok(evs) => {
                        // a watch the kernel dropped (its inode gone): no longer ours to remove
                        let mut n = 0;
                        let mut held = wds2.lock().unwrap_or_else(|e| e.into_inner());
                        for e in evs {
                            if e.mask.contains(inotify::EventMask::IGNORED) {
                                held.retain(|w| *w != e.wd);
                            } else {
                                n += 1;
                            }
                        }
                        n
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::warn!("watch_config_files: reading inotify events failed ({e}); changes to the configuration and rule files are no longer noticed");
                        return;
                    }
                };
                if n > 0 && !stop2.load(Ordering::SeqCst) {
                    watch_each_file(&mut rewatch, &files, &wds2);
                    events.fetch_add(n as u64, Ordering::SeqCst);
                    let _ = tx.send(());
                }
            }
        })
        .map_err(|e| format!("cannot start the inotify thread: {e}"))?;
    Ok(InotifyWatch { watches, wds, stop })
}

/// Content fingerprints of a set of files.
#[derive(Debug, Clone, Default)]
pub struct Fingerprints {
    seen: BTreeMap<PathBuf, Option<String>>,
}

impl Fingerprints {
    pub fn new(files: &[PathBuf]) -> Self {
        Fingerprints { seen: files.iter().map(|f| (f.clone(), crate::metrics::sha256_file(f))).collect() }
    }

    /// The files whose content changed since the last call (or since `new`).
    pub fn changed(&mut self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for (f, old) in self.seen.iter_mut() {
            let now = crate::metrics::sha256_file(f);
            if now != *old {
                *old = now;
                out.push(f.clone());
            }
        }
        out
    }

    /// The files fingerprinted.
    pub fn files(&self) -> Vec<PathBuf> {
        self.seen.keys().cloned().collect()
    }

    /// The current digests (file, sha256), for the metrics.
    pub fn digests(&self) -> Vec<(String, String)> {
        self.seen.iter().filter_map(|(f, d)| d.clone().map(|d| (f.display().to_string(), d))).collect()
    }
}

fn abs_files(files: &[PathBuf]) -> Vec<PathBuf> {
    files
        .iter()
        .map(
            |f| if f.is_absolute() { f.clone() } else { std::env::current_dir().unwrap_or_default().join(f) },
        )
        .collect()
}

/// The directories of `files` (absolute paths).
fn dirs_of(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|abs| abs.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/")))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Watch `files`; `on_change` runs (on a thread of the watch) after changes settle for
/// `debounce`. `force_poll` skips inotify (tests and filesystems without it); `poll_every` is the
/// polling interval of the fallback.
pub fn watch_files(
    files: &[PathBuf],
    debounce: Duration,
    poll_every: Duration,
    force_poll: bool,
    on_change: impl Fn() + Send + 'static,
) -> Result<FileWatch, String> {
    let (tx, rx) = mpsc::channel::<()>();
    let events = Arc::new(AtomicU64::new(0));
    let files = abs_files(files);
    let dirs = dirs_of(&files);
    let (backend, mode) = if force_poll {
        (Backend::Poll(poll_watch(&dirs, tx, events.clone(), poll_every)?), WatchMode::Polling)
    } else {
        match inotify_watch(&dirs, &files, tx.clone(), events.clone()) {
            Ok(w) => (Backend::Inotify(w), WatchMode::Inotify),
            Err(e) => {
                // No inotify instance (`fs.inotify.max_user_instances` exhausted) or out of
                // watches (`fs.inotify.max_user_watches`): tell, and poll instead.
                tracing::warn!(
                    "watch_config_files: {e}; polling the configuration and rule files every {} ms instead (raise fs.inotify.max_user_instances / max_user_watches to use inotify)",
                    poll_every.as_millis()
                );
                (Backend::Poll(poll_watch(&dirs, tx, events.clone(), poll_every)?), WatchMode::Polling)
            }
        }
    };
    let debounce_thread = std::thread::Builder::new()
        .name("harrier-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Let the burst of events of one save settle.
                while rx.recv_timeout(debounce).is_ok() {}
                on_change();
            }
        })
        .map_err(|e| format!("watch_config_files: cannot start its thread: {e}"))?;
    Ok(FileWatch { mode, _backend: backend, events, _debounce: debounce_thread })
}

/// Poll `dirs` (the fallback when inotify cannot be used).
fn poll_watch(
    dirs: &[PathBuf],
    tx: mpsc::Sender<()>,
    events: Arc<AtomicU64>,
    every: Duration,
) -> Result<Box<dyn Watcher + Send>, String> {
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if !matches!(ev.kind, notify::EventKind::Access(_)) {
                events.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(());
            }
        }
    };
    let cfg = notify::Config::default().with_poll_interval(every).with_compare_contents(true);
    let mut w = notify::PollWatcher::new(handler, cfg)
        .map_err(|e| format!("watch_config_files: cannot poll: {e}"))?;
    for d in dirs {
        w.watch(d, RecursiveMode::NonRecursive)
            .map_err(|e| format!("watch_config_files: cannot watch {}: {e}", d.display()))?;
    }
    Ok(Box::new(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn wait_for(n: &AtomicUsize, at_least: usize) -> bool {
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if n.load(Ordering::SeqCst) >= at_least {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A watch of `f` counting its change callbacks.
    fn counting_watch(f: &Path, force_poll: bool) -> (FileWatch, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let w = watch_files(
            &[f.to_path_buf()],
            Duration::from_millis(50),
            Duration::from_millis(100),
            force_poll,
            move || {
                n2.fetch_add(1, Ordering::SeqCst);
            },
        )
        .unwrap();
        (w, n)
    }

    fn check(force_poll: bool) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("rules.yaml");
        std::fs::write(&f, "a").unwrap();
        let (w, n) = counting_watch(&f, force_poll);
        assert_eq!(w.mode, if force_poll { WatchMode::Polling } else { WatchMode::Inotify });
        let mut fp = Fingerprints::new(std::slice::from_ref(&f));
        std::thread::sleep(Duration::from_millis(150));
        // Replaced by rename, as editors and ConfigMaps do.
        let tmp = dir.path().join(".rules.yaml.swp");
        std::fs::write(&tmp, "b").unwrap();
        std::fs::rename(&tmp, &f).unwrap();
        assert!(wait_for(&n, 1), "the change was seen ({force_poll})");
        assert_eq!(fp.changed(), std::slice::from_ref(&f));
        assert!(fp.changed().is_empty(), "no change since");
    }

    #[test]
    fn inotify_sees_a_rename_over_the_file() {
        check(false);
    }

    #[test]
    fn polling_sees_it_too() {
        check(true);
    }

    #[test]
    fn opens_and_reads_in_the_watched_directory_queue_no_event() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("rules.yaml");
        let other = dir.path().join("passwd");
        std::fs::write(&f, "a").unwrap();
        std::fs::write(&other, "x").unwrap();
        let (w, n) = counting_watch(&f, false);
        assert_eq!(w.mode, WatchMode::Inotify);
        // What every process on the node does to files in a directory like /etc; writing another
        // file there is not a change of a watched one either.
        for _ in 0..200 {
            let _ = std::fs::read(&other).unwrap();
            std::fs::write(&other, "y").unwrap();
            let _ = std::fs::read(&f).unwrap();
            let _ = std::fs::metadata(&other).unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(w.events_seen(), 0, "reads and opens reached the watch");
        assert_eq!(n.load(Ordering::SeqCst), 0);
        // The watch is live: a write in place is seen.
        std::fs::write(&f, "b").unwrap();
        assert!(wait_for(&n, 1), "the write was seen");
        assert!(w.events_seen() > 0);
        drop(w);
    }

    #[test]
    fn a_write_in_place_after_a_rename_over_the_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("rules.yaml");
        std::fs::write(&f, "a").unwrap();
        let (_w, n) = counting_watch(&f, false);
        let tmp = dir.path().join("rules.yaml.new");
        std::fs::write(&tmp, "b").unwrap();
        std::fs::rename(&tmp, &f).unwrap();
        assert!(wait_for(&n, 1), "the rename was seen");
        std::thread::sleep(Duration::from_millis(150));
        let before = n.load(Ordering::SeqCst);
        // The path now leads to another inode: its own watch must follow it.
        std::fs::write(&f, "c").unwrap();
        assert!(wait_for(&n, before + 1), "a write in place to the renamed-in file was missed");
    }

    /// The kernel runs its notification path on every open, read and close of every file in a
    /// directory whose watch asks for any event that can happen to a file in it. The watch of a
    /// rule file's directory must ask for none (read from the kernel's own view of the watches,
    /// `/proc/self/fdinfo` of the inotify descriptor); the file's watch asks for writes.
    #[test]
    fn the_directory_watch_asks_for_no_event_of_the_files_in_it() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("rules.yaml");
        std::fs::write(&f, "a").unwrap();
        let (w, _n) = counting_watch(&f, false);
        assert_eq!(w.mode, WatchMode::Inotify);
        // inotify's fdinfo: "inotify wd:1 ino:1a2b sdev:... mask:... ..." (hex fields).
        let mut masks = std::collections::HashMap::new();
        for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            let is_inotify =
                std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:inotify");
            let info =
                std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.file_name().to_string_lossy()));
            for line in info.iter().flat_map(|i| i.lines()).filter(|_| is_inotify) {
                let field = |k: &str| {
                    line.split_whitespace()
                        .find_map(|t| t.strip_prefix(k))
                        .and_then(|v| u64::from_str_radix(v, 16).ok())
                };
                if let (Some(ino), Some(mask)) = (field("ino:"), field("mask:")) {
                    masks.insert(ino, mask as u32);
                }
            }
        }
        let dir_mask = masks[&std::fs::metadata(dir.path()).unwrap().ino()];
        let on_child = WatchMask::ACCESS.bits()
            | WatchMask::MODIFY.bits()
            | WatchMask::ATTRIB.bits()
            | WatchMask::CLOSE_WRITE.bits()
            | WatchMask::CLOSE_NOWRITE.bits()
            | WatchMask::OPEN.bits();
        assert_eq!(dir_mask & on_child, 0, "directory watch mask {dir_mask:#x}");
        assert_ne!(dir_mask & WatchMask::MOVED_TO.bits(), 0, "renames into the directory are watched");
        let file_mask = masks[&std::fs::metadata(&f).unwrap().ino()];
        assert_ne!(file_mask & WatchMask::CLOSE_WRITE.bits(), 0, "file watch mask {file_mask:#x}");
        assert_eq!(
            file_mask & (WatchMask::OPEN.bits() | WatchMask::ACCESS.bits() | WatchMask::CLOSE_NOWRITE.bits()),
            0
        );
    }

    /// How the kubelet updates a mounted ConfigMap: the file is a symlink through `..data`, a
    /// symlink to a timestamped directory; an update writes a new directory, points a new
    /// `..data_tmp` at it, renames that over `..data` and removes the old directory.
    #[test]
    fn a_configmap_update_is_seen_each_time() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("..v1")).unwrap();
        std::fs::write(d.join("..v1/rules.yaml"), "a").unwrap();
        symlink("..v1", d.join("..data")).unwrap();
        symlink("..data/rules.yaml", d.join("rules.yaml")).unwrap();
        let f = d.join("rules.yaml");
        let (_w, n) = counting_watch(&f, false);
        let mut fp = Fingerprints::new(std::slice::from_ref(&f));
        for (i, old) in [(2, "..v1"), (3, "..v2")] {
            std::thread::sleep(Duration::from_millis(150));
            let before = n.load(Ordering::SeqCst);
            let new = format!("..v{i}");
            std::fs::create_dir(d.join(&new)).unwrap();
            std::fs::write(d.join(&new).join("rules.yaml"), format!("v{i}")).unwrap();
            symlink(&new, d.join("..data_tmp")).unwrap();
            std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
            std::fs::remove_dir_all(d.join(old)).unwrap();
            assert!(wait_for(&n, before + 1), "update {i} was not seen");
            assert_eq!(fp.changed(), std::slice::from_ref(&f), "update {i}");
        }
    }
}
