//! `watch_config_files`: notice when the configuration or a rule file changes.
//!
//! The directories holding the files are watched (editors and Kubernetes ConfigMaps replace files
//! by renaming, which a watch on the file itself would miss) with inotify; when inotify cannot be
//! set up (`fs.inotify.max_user_instances` exhausted — the CrashLoopBackOff Falco users know), the
//! same directories are polled instead, with one log line saying so. Changes are debounced and
//! then confirmed by content (sha256), so a touch or an unrelated file in the same directory does
//! not reload anything.

use notify::{RecursiveMode, Watcher};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
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
    _watcher: Box<dyn Watcher + Send>,
    _debounce: std::thread::JoinHandle<()>,
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

fn dirs_of(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| {
            let abs =
                if f.is_absolute() { f.clone() } else { std::env::current_dir().unwrap_or_default().join(f) };
            abs.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"))
        })
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
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if !matches!(ev.kind, notify::EventKind::Access(_)) {
                let _ = tx.send(());
            }
        }
    };
    let dirs = dirs_of(files);
    let (mut watcher, mode): (Box<dyn Watcher + Send>, WatchMode) = match force_poll {
        false => match notify::RecommendedWatcher::new(handler.clone(), notify::Config::default()) {
            Ok(w) => (Box::new(w), WatchMode::Inotify),
            Err(e) => {
                tracing::warn!(
                    "watch_config_files: inotify is not available ({e}); polling the configuration and rule files every {} ms instead (raise fs.inotify.max_user_instances to use inotify)",
                    poll_every.as_millis()
                );
                (poll_watcher(handler, poll_every)?, WatchMode::Polling)
            }
        },
        true => (poll_watcher(handler, poll_every)?, WatchMode::Polling),
    };
    for d in &dirs {
        if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
            if mode == WatchMode::Inotify {
                // Out of watches (fs.inotify.max_user_watches): tell, and poll instead.
                tracing::warn!(
                    "watch_config_files: cannot watch {} with inotify ({e}); polling instead",
                    d.display()
                );
                return watch_files(files, debounce, poll_every, true, on_change);
            }
            return Err(format!("watch_config_files: cannot watch {}: {e}", d.display()));
        }
    }
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
    Ok(FileWatch { mode, _watcher: watcher, _debounce: debounce_thread })
}

fn poll_watcher(
    handler: impl notify::EventHandler,
    every: Duration,
) -> Result<Box<dyn Watcher + Send>, String> {
    let cfg = notify::Config::default().with_poll_interval(every).with_compare_contents(true);
    notify::PollWatcher::new(handler, cfg)
        .map(|w| Box::new(w) as Box<dyn Watcher + Send>)
        .map_err(|e| format!("watch_config_files: cannot poll: {e}"))
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

    fn check(force_poll: bool) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("rules.yaml");
        std::fs::write(&f, "a").unwrap();
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let w = watch_files(
            std::slice::from_ref(&f),
            Duration::from_millis(50),
            Duration::from_millis(100),
            force_poll,
            move || {
                n2.fetch_add(1, Ordering::SeqCst);
            },
        )
        .unwrap();
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
}
