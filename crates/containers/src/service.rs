//! The lookup service: one thread that asks the runtimes about containers, off the hot path.
//!
//! The hot path calls [`LookupHandle::request`] (a non-blocking send on a bounded queue; a full
//! queue is counted as a drop and the caller asks again later) and [`LookupHandle::drain`] (a
//! relaxed atomic load when nothing is ready). Answers are [`Answer`]s: the metadata, or `None`
//! when no runtime knows the container (ids only). Requests that failed because no runtime could
//! be reached are kept (bounded) and asked again when a runtime comes back.

use crate::{ContainerInfo, Lookup, MetadataSource, Runtime, RuntimeConfig};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most requests kept for a retry while no runtime is reachable.
const RETRY_MAX: usize = 4096;
/// How often unreachable runtimes are probed again.
const REPROBE_EVERY: Duration = Duration::from_secs(1);
/// Longest [`LookupService::start_with`] waits for the first probe of the runtimes.
const STARTUP_WAIT_MAX: Duration = Duration::from_secs(5);

/// One lookup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub full_id: String,
    /// The runtime the cgroup path names: its source is asked first.
    pub runtime: Option<Runtime>,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub full_id: String,
    /// `None`: no runtime describes this container (or none could be reached).
    pub info: Option<ContainerInfo>,
}

/// Counters of the lookup service.
#[derive(Debug, Default)]
pub struct LookupStats {
    pub requested: AtomicU64,
    /// Requests refused because the queue was full (the hot path asks again later).
    pub dropped: AtomicU64,
    pub found: AtomicU64,
    pub not_found: AtomicU64,
    /// Lookups that failed because no runtime answered.
    pub unreachable: AtomicU64,
}

/// The hot path's side of the lookup service.
#[derive(Debug)]
pub struct LookupHandle {
    tx: SyncSender<Request>,
    answers: Mutex<Receiver<Answer>>,
    ready: Arc<AtomicUsize>,
    pub stats: Arc<LookupStats>,
    /// How long an alert may wait for pending metadata.
    pub alert_wait: Duration,
}

impl LookupHandle {
    /// Ask for a container; `false` when the queue is full (counted; ask again later).
    pub fn request(&self, full_id: &str, runtime: Option<Runtime>) -> bool {
        match self.tx.try_send(Request { full_id: full_id.to_string(), runtime }) {
            Ok(()) => {
                self.stats.requested.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Whether answers are waiting (one atomic load).
    #[inline]
    pub fn has_answers(&self) -> bool {
        self.ready.load(Ordering::Acquire) > 0
    }

    /// Hand every waiting answer to `f`.
    pub fn drain(&self, mut f: impl FnMut(Answer)) {
        if !self.has_answers() {
            return;
        }
        let Ok(rx) = self.answers.lock() else { return };
        while let Ok(a) = rx.try_recv() {
            self.ready.fetch_sub(1, Ordering::AcqRel);
            f(a);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }
}

/// Starts the lookup thread.
pub struct LookupService;

impl LookupService {
    /// Start with the runtimes of `cfg` (see [`crate::default_sources`]).
    pub fn start(cfg: &RuntimeConfig) -> std::io::Result<LookupHandle> {
        Self::start_with(cfg, crate::default_sources(cfg))
    }

    /// Start with explicit sources. The thread probes them, prints one start-up line (which
    /// runtimes answer, or which sockets were tried and how to point Harrier at the right one)
    /// and serves requests until the handle is dropped.
    pub fn start_with(
        cfg: &RuntimeConfig,
        sources: Vec<Box<dyn MetadataSource>>,
    ) -> std::io::Result<LookupHandle> {
        let (tx, rx) = mpsc::sync_channel::<Request>(cfg.queue_capacity.max(1));
        let (atx, arx) = mpsc::channel::<Answer>();
        let ready = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(LookupStats::default());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let mut worker = Worker {
            rt,
            up: vec![None; sources.len()],
            sources,
            answers: atx,
            ready: ready.clone(),
            stats: stats.clone(),
            retry: Vec::new(),
            log: cfg.log,
        };
        // The first probe (and containerd's event subscription, which describes containers that
        // live for a moment) is waited for, so containers started once `start` returns are seen;
        // bounded, so a runtime that hangs cannot hold detection back.
        let (probed_tx, probed) = mpsc::channel::<()>();
        std::thread::Builder::new().name("harrier-containers".into()).spawn(move || {
            worker.startup_probe();
            let _ = probed_tx.send(());
            worker.run(rx)
        })?;
        let bound = cfg.lookup_timeout.saturating_mul(2).clamp(Duration::from_millis(500), STARTUP_WAIT_MAX);
        let _ = probed.recv_timeout(bound);
        Ok(LookupHandle { tx, answers: Mutex::new(arx), ready, stats, alert_wait: cfg.alert_wait })
    }
}

struct Worker {
    rt: tokio::runtime::Runtime,
    sources: Vec<Box<dyn MetadataSource>>,
    /// Reachability as last seen (None: never probed).
    up: Vec<Option<bool>>,
    answers: mpsc::Sender<Answer>,
    ready: Arc<AtomicUsize>,
    stats: Arc<LookupStats>,
    retry: Vec<Request>,
    log: bool,
}

fn socket_list(s: &dyn MetadataSource) -> String {
    s.sockets().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

impl Worker {
    fn run(&mut self, rx: Receiver<Request>) {
        let mut last_probe = Instant::now();
        loop {
            match rx.recv_timeout(REPROBE_EVERY) {
                Ok(req) => self.handle(req),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if last_probe.elapsed() >= REPROBE_EVERY {
                last_probe = Instant::now();
                self.reprobe();
            }
        }
    }

    fn startup_probe(&mut self) {
        let mut found = Vec::new();
        for i in 0..self.sources.len() {
            let ok = self.sources[i].probe(&self.rt);
            self.up[i] = Some(ok);
            if ok {
                found.push(format!(
                    "{} ({})",
                    self.sources[i].runtime().as_str(),
                    socket_list(&*self.sources[i])
                ));
            }
        }
        if !self.log {
            return;
        }
        if found.is_empty() {
            let tried: Vec<String> = self
                .sources
                .iter()
                .map(|s| format!("{} at {}", s.runtime().as_str(), socket_list(&**s)))
                .collect();
            tracing::warn!(
                "no container runtime reachable (tried {}); container ids are still reported, \
                 names, images and pod metadata are not. Point Harrier at the runtime's socket with \
                 HARRIER_CONTAINERD_SOCKET, HARRIER_PODMAN_SOCKET, HARRIER_DOCKER_SOCKET or \
                 HARRIER_CRIO_SOCKET (start podman's API with `podman system service`)",
                if tried.is_empty() { "none configured".to_string() } else { tried.join("; ") }
            );
        } else {
            tracing::info!("container metadata from {}", found.join(", "));
        }
    }

    fn set_up(&mut self, i: usize, ok: bool, why: &str) {
        let was = self.up[i];
        self.up[i] = Some(ok);
        if !self.log || was == Some(ok) {
            return;
        }
        let s = &self.sources[i];
        if ok {
            tracing::info!(
                "{} at {} is reachable again; container metadata restored",
                s.runtime().as_str(),
                socket_list(&**s)
            );
        } else if was == Some(true) {
            tracing::warn!(
                "{} at {} is unreachable ({why}); containers report ids only until it returns",
                s.runtime().as_str(),
                socket_list(&**s)
            );
        }
    }

    fn reprobe(&mut self) {
        let mut back = false;
        for i in 0..self.sources.len() {
            if self.up[i] != Some(true) && self.sources[i].probe(&self.rt) {
                self.set_up(i, true, "");
                back = true;
            }
        }
        if back && !self.retry.is_empty() {
            for req in std::mem::take(&mut self.retry) {
                self.handle(req);
            }
        }
    }

    fn handle(&mut self, req: Request) {
        let mut order: Vec<usize> = (0..self.sources.len()).collect();
        order.sort_by_key(|&i| Some(self.sources[i].runtime()) != req.runtime);
        let mut answered = false;
        let mut info = None;
        for i in order {
            match self.sources[i].lookup(&self.rt, &req.full_id) {
                Lookup::Found(c) => {
                    self.set_up(i, true, "");
                    info = Some(*c);
                    break;
                }
                Lookup::NotFound => {
                    self.set_up(i, true, "");
                    answered = true;
                }
                Lookup::Unreachable(why) => self.set_up(i, false, &why),
            }
        }
        tracing::debug!(
            "container {}: {}",
            req.full_id,
            if info.is_some() {
                "described"
            } else if answered {
                "unknown to every runtime"
            } else {
                "no runtime reachable"
            }
        );
        let counter = match (&info, answered) {
            (Some(_), _) => &self.stats.found,
            (None, true) => &self.stats.not_found,
            (None, false) => {
                if self.retry.len() < RETRY_MAX && !self.retry.contains(&req) {
                    self.retry.push(req.clone());
                }
                &self.stats.unreachable
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if self.answers.send(Answer { full_id: req.full_id, info }).is_ok() {
            self.ready.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::AtomicBool;

    struct Fake {
        up: Arc<AtomicBool>,
    }

    impl MetadataSource for Fake {
        fn runtime(&self) -> Runtime {
            Runtime::Containerd
        }
        fn sockets(&self) -> Vec<PathBuf> {
            vec![PathBuf::from("/fake.sock")]
        }
        fn probe(&mut self, _: &tokio::runtime::Runtime) -> bool {
            self.up.load(Ordering::SeqCst)
        }
        fn lookup(&mut self, _: &tokio::runtime::Runtime, id: &str) -> Lookup {
            if !self.up.load(Ordering::SeqCst) {
                return Lookup::Unreachable("down".into());
            }
            if id == "missing" {
                return Lookup::NotFound;
            }
            let mut c = ContainerInfo::from_ids(id, Runtime::Containerd, None);
            c.name = format!("name-{id}");
            Lookup::Found(Box::new(c))
        }
    }

    fn wait(h: &LookupHandle, n: usize) -> Vec<Answer> {
        let mut out = Vec::new();
        let t = Instant::now();
        while out.len() < n && t.elapsed() < Duration::from_secs(5) {
            h.drain(|a| out.push(a));
            std::thread::sleep(Duration::from_millis(2));
        }
        out
    }

    #[test]
    fn answers_degrades_and_retries_when_the_runtime_returns() {
        let up = Arc::new(AtomicBool::new(true));
        let cfg = RuntimeConfig { log: false, ..Default::default() };
        let h = LookupService::start_with(&cfg, vec![Box::new(Fake { up: up.clone() })]).unwrap();
        assert!(h.request("a1", Some(Runtime::Containerd)));
        assert!(h.request("missing", None));
        let a = wait(&h, 2);
        assert_eq!(a[0].info.as_ref().unwrap().name, "name-a1");
        assert!(a[1].info.is_none());
        up.store(false, Ordering::SeqCst);
        assert!(h.request("b2", None));
        let a = wait(&h, 1);
        assert!(a[0].info.is_none(), "ids only while the runtime is down");
        up.store(true, Ordering::SeqCst);
        let a = wait(&h, 1);
        assert_eq!(a.first().and_then(|a| a.info.as_ref()).map(|c| c.name.as_str()), Some("name-b2"));
        assert_eq!(h.stats.unreachable.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_full_queue_is_a_counted_drop() {
        let cfg = RuntimeConfig { log: false, queue_capacity: 1, ..Default::default() };
        // No sources: the thread answers quickly, but a burst still overflows a queue of one.
        let h = LookupService::start_with(&cfg, Vec::new()).unwrap();
        let sent = (0..1000).filter(|i| h.request(&format!("{i}"), None)).count();
        assert_eq!(sent as u64 + h.dropped(), 1000);
    }
}
