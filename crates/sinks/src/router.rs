//! The router: alerts from the detector go to every sink whose minimum priority and filter they
//! pass, each sink behind its own bounded queue ([`crate::queue`]).
//!
//! The hot path ([`Router::send`]) only evaluates the route filters and hands an `Arc<Alert>`
//! over a bounded channel per matching sink: it never waits for a slow sink unless that sink
//! declares `when_full: block` and its memory and spool are full. Sinks run on a tokio runtime.
//! A sink with a spool is written to by the caller itself: when `send` returns, the alert is in
//! that sink's spool (write-ahead), so a kill right after loses nothing.

use crate::filter::AlertFilter;
use crate::queue::{Queue, QueueConfig, SinkStats, WhenFull};
use crate::sink::Sink;
use harrier_engine::Alert;
use harrier_rules::Priority;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// How one sink instance is routed.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Unique name (also the spool file name).
    pub name: String,
    /// Alerts less severe than this are not sent (`minimumpriority`).
    pub min_priority: Priority,
    /// A condition over the alert (see [`crate::filter`]).
    pub filter: Option<String>,
    pub queue: QueueConfig,
}

impl RouteConfig {
    pub fn new(name: impl Into<String>) -> Self {
        RouteConfig {
            name: name.into(),
            min_priority: Priority::Debug,
            filter: None,
            queue: QueueConfig::default(),
        }
    }
}

struct Route {
    name: String,
    kind: &'static str,
    min_priority: Priority,
    filter: Option<AlertFilter>,
    when_full: WhenFull,
    tx: Option<mpsc::Sender<Arc<Alert>>>,
    queue: Arc<Queue>,
    intake: Option<tokio::task::JoinHandle<()>>,
    deliver: Option<tokio::task::JoinHandle<()>>,
}

/// What [`Router::accept`] did with one alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Sinks that took it (with a spool: it is on disk).
    pub taken: usize,
    /// Sinks that wanted it but dropped it (counted in their `dropped`).
    pub refused: usize,
}

/// Every configured sink and its queue.
pub struct Router {
    handle: tokio::runtime::Handle,
    own_rt: Option<tokio::runtime::Runtime>,
    routes: Vec<Route>,
    /// Added to every alert's output fields (falcosidekick's `customfields`).
    pub custom_fields: BTreeMap<String, String>,
}

impl Router {
    /// A router whose sinks run on an existing runtime.
    pub fn new(handle: tokio::runtime::Handle) -> Router {
        Router { handle, own_rt: None, routes: Vec::new(), custom_fields: BTreeMap::new() }
    }

    /// A router with its own runtime (`threads` I/O threads), for callers without one (the CLI).
    pub fn with_own_runtime(threads: usize) -> std::io::Result<Router> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("harrier-sinks")
            .enable_all()
            .build()?;
        let mut r = Router::new(rt.handle().clone());
        r.own_rt = Some(rt);
        Ok(r)
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Add a sink. Fails on a duplicate name, a bad filter or a spool that cannot be opened.
    pub fn add(&mut self, sink: Arc<dyn Sink>, cfg: RouteConfig) -> Result<(), String> {
        if self.routes.iter().any(|r| r.name == cfg.name) {
            return Err(format!("two sinks are named '{}'", cfg.name));
        }
        let filter = match &cfg.filter {
            Some(f) if !f.trim().is_empty() => {
                Some(AlertFilter::compile(f).map_err(|e| format!("sink '{}': {e}", cfg.name))?)
            }
            _ => None,
        };
        let kind = sink.kind();
        let mut cfg = cfg;
        if let Some(own) = sink.timeout() {
            // The queue cancels an attempt at its timeout: keep it above the output's own, so
            // the output's setting decides (and reports) a slow receiver.
            let need = own + Duration::from_secs(1);
            if cfg.queue.timeout < need {
                if cfg.queue.timeout_set {
                    return Err(format!(
                        "sink '{}': its timeout ({} ms) is not below queue.timeout_ms ({} ms), which would cancel every slow attempt first; raise queue.timeout_ms above {} or lower the output's timeout",
                        cfg.name,
                        own.as_millis(),
                        cfg.queue.timeout.as_millis(),
                        need.as_millis() - 1
                    ));
                }
                cfg.queue.timeout = need;
            }
        }
        let queue = Queue::new(&cfg.name, sink, cfg.queue.clone())
            .map_err(|e| format!("sink '{}': {e}", cfg.name))?;
        let (tx, rx) = mpsc::channel(cfg.queue.channel.max(1));
        let intake = self.handle.spawn(queue.clone().intake(rx));
        let deliver = self.handle.spawn(queue.clone().deliver());
        self.routes.push(Route {
            name: cfg.name,
            kind,
            min_priority: cfg.min_priority,
            filter,
            when_full: cfg.queue.when_full,
            tx: Some(tx),
            queue,
            intake: Some(intake),
            deliver: Some(deliver),
        });
        Ok(())
    }

    fn decorate(&self, a: &Alert) -> Arc<Alert> {
        let mut a = a.clone();
        for (k, v) in &self.custom_fields {
            a.output_fields.insert(k.clone(), serde_json::Value::from(v.as_str()));
        }
        Arc::new(a)
    }

    fn wants(r: &Route, a: &Alert) -> bool {
        r.tx.is_some() && a.priority <= r.min_priority && r.filter.as_ref().is_none_or(|f| f.matches(a))
    }

    /// Route one alert (synchronous; for the detector thread). Returns how many sinks took it.
    pub fn send(&self, a: &Alert) -> usize {
        let mut shared: Option<Arc<Alert>> = None;
        let mut n = 0;
        for r in &self.routes {
            if !Self::wants(r, a) {
                continue;
            }
            let arc = shared.get_or_insert_with(|| self.decorate(a)).clone();
            let Some(tx) = r.tx.as_ref() else { continue };
            r.queue.stats.accepted.fetch_add(1, Relaxed);
            if r.queue.durable {
                if r.queue.offer_blocking(arc) {
                    n += 1;
                }
                continue;
            }
            match tx.try_send(arc) {
                Ok(()) => n += 1,
                Err(TrySendError::Full(arc)) if r.when_full == WhenFull::Block => {
                    let ok = if tokio::runtime::Handle::try_current().is_err() {
                        tx.blocking_send(arc).is_ok()
                    } else {
                        // On a runtime thread: cannot park it on the channel, poll instead.
                        let mut arc = arc;
                        loop {
                            match tx.try_send(arc) {
                                Ok(()) => break true,
                                Err(TrySendError::Full(back)) => {
                                    arc = back;
                                    std::thread::sleep(Duration::from_millis(1));
                                }
                                Err(TrySendError::Closed(_)) => break false,
                            }
                        }
                    };
                    if ok {
                        n += 1;
                    } else {
                        r.queue.stats.dropped.fetch_add(1, Relaxed);
                    }
                }
                Err(_) => {
                    r.queue.stats.dropped.fetch_add(1, Relaxed);
                }
            }
        }
        n
    }

    /// Route one alert from async code (the forwarder); `block` sinks wait without blocking a thread.
    pub async fn send_async(&self, a: &Alert) -> usize {
        self.accept(a).await.taken
    }

    /// Route one alert from async code and say how it went: how many sinks took it and how
    /// many wanted it but could not keep it (full, or the spool could not be written). With
    /// spools, `taken` sinks hold it on disk when this returns.
    pub async fn accept(&self, a: &Alert) -> Accepted {
        let mut shared: Option<Arc<Alert>> = None;
        let mut res = Accepted::default();
        for r in &self.routes {
            if !Self::wants(r, a) {
                continue;
            }
            let arc = shared.get_or_insert_with(|| self.decorate(a)).clone();
            let Some(tx) = r.tx.as_ref() else { continue };
            r.queue.stats.accepted.fetch_add(1, Relaxed);
            let ok = if r.queue.durable {
                // Spool writes are short page-cache writes (or an fsync under `always`).
                r.queue.offer_wait(arc).await
            } else {
                let ok = match r.when_full {
                    WhenFull::Block => tx.send(arc).await.is_ok(),
                    WhenFull::DropNewest => tx.try_send(arc).is_ok(),
                };
                if !ok {
                    r.queue.stats.dropped.fetch_add(1, Relaxed);
                }
                ok
            };
            if ok {
                res.taken += 1;
            } else {
                res.refused += 1;
            }
        }
        res
    }

    /// Counters of every sink.
    pub fn stats(&self) -> Vec<SinkStats> {
        self.routes.iter().map(|r| r.queue.stats.snapshot(&r.name, r.kind)).collect()
    }

    /// Total alerts dropped over all sinks.
    pub fn dropped(&self) -> u64 {
        self.routes.iter().map(|r| r.queue.stats.dropped.load(Relaxed)).sum()
    }

    /// Whether every queue is empty (all delivered or failed).
    pub fn is_idle(&self) -> bool {
        self.routes
            .iter()
            .all(|r| r.queue.is_idle() && r.tx.as_ref().is_none_or(|t| t.capacity() == t.max_capacity()))
    }

    /// Stop accepting alerts, deliver what is queued for up to `grace`, then stop the sinks and
    /// move what is left in memory to each spool (delivered after the next start).
    pub async fn shutdown(mut self, grace: Duration) -> Vec<SinkStats> {
        for r in &mut self.routes {
            r.tx = None;
            if r.queue.durable {
                r.queue.close();
            }
        }
        let end = Instant::now() + grace;
        for r in &mut self.routes {
            if let Some(h) = r.intake.take() {
                let _ = tokio::time::timeout(end.saturating_duration_since(Instant::now()), h).await;
            }
        }
        while Instant::now() < end && !self.routes.iter().all(|r| r.queue.is_idle()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for r in &mut self.routes {
            r.queue.stop_and_persist();
            if let Some(h) = r.deliver.take() {
                // An attempt in flight ends within the sink timeout.
                if tokio::time::timeout(r.queue.cfg.timeout + Duration::from_millis(100), h).await.is_err() {
                    // Still stuck: nothing more to wait for.
                }
            }
            r.queue.stop_and_persist();
        }
        let stats = self.stats();
        if let Some(rt) = self.own_rt.take() {
            rt.shutdown_background();
        }
        stats
    }

    /// [`Router::shutdown`] from synchronous code (needs the router's own runtime or a handle
    /// that is not the caller's).
    pub fn shutdown_blocking(self, grace: Duration) -> Vec<SinkStats> {
        let h = self.handle.clone();
        h.block_on(self.shutdown(grace))
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        for r in &mut self.routes {
            r.tx = None;
            if let Some(h) = r.deliver.take() {
                h.abort();
            }
            if let Some(h) = r.intake.take() {
                h.abort();
            }
        }
        if let Some(rt) = self.own_rt.take() {
            rt.shutdown_background();
        }
    }
}
