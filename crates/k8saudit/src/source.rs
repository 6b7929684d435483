//! The `k8s_audit` source: inputs feeding one bounded queue, and the rules loop that reads it.

use crate::config::{InitConfig, OpenParams};
use crate::event::{AuditEvent, Counters};
use crate::fields::AuditAccessor;
use crate::files::{self, LineCounters, ReadLimits};
use crate::queue::{Queue, Timeout};
use crate::webhook::{self, WebhookHandle};
use harrier_engine::{Alert, Ruleset, Source};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An open audit source. Events come out of [`AuditSource::next`] in arrival order.
pub struct AuditSource {
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    lines: Arc<LineCounters>,
    webhook: Option<WebhookHandle>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl AuditSource {
    /// Open the input `open_params` names (webhook bound, files checked, here: errors at start).
    pub fn open(params: &OpenParams, cfg: &InitConfig) -> Result<AuditSource, String> {
        let queue = Arc::new(Queue::new(cfg.queue_capacity));
        let counters = Arc::new(Counters::default());
        let lines = Arc::new(LineCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let limits = ReadLimits { max_event_size: cfg.max_event_size, max_line: cfg.webhook_max_batch_size };
        let mut s = AuditSource {
            queue: queue.clone(),
            counters: counters.clone(),
            lines: lines.clone(),
            webhook: None,
            stop: stop.clone(),
            threads: Vec::new(),
        };
        match params {
            OpenParams::Webhook { tls, addr, path } => {
                queue.add_producer(); // the webhook never ends by itself
                s.webhook = Some(webhook::start(*addr, path, *tls, cfg, queue, counters)?);
            }
            OpenParams::Replay(path) => {
                let list = files::replay_files(path)?;
                s.threads.push(files::spawn_replay(list, limits, queue, counters, lines));
            }
            OpenParams::Follow(path) => {
                s.threads.push(files::spawn_follow(path.clone(), limits, queue, counters, lines, stop));
            }
        }
        Ok(s)
    }

    /// Next event; `None` when the source ended (a replay reached its end) or was stopped.
    pub fn next(&self) -> Option<AuditEvent> {
        self.queue.pop()
    }

    /// Next event, waiting at most `timeout`.
    pub fn next_timeout(&self, timeout: Duration) -> Result<Option<AuditEvent>, Timeout> {
        self.queue.pop_timeout(timeout)
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Lines skipped because they were longer than the limit.
    pub fn lines_too_long(&self) -> u64 {
        self.lines.too_long.load(Ordering::Relaxed)
    }

    pub fn webhook_addr(&self) -> Option<SocketAddr> {
        self.webhook.as_ref().map(|w| w.local_addr())
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Stop the inputs; events already queued are still returned by `next`, then `None`.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut w) = self.webhook.take() {
            w.shutdown();
            self.queue.producer_done();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.queue.close();
    }

    /// Prometheus text for the counters (`harrier_k8saudit_*`), as `GET /metrics` serves it.
    pub fn metrics_text(&self) -> String {
        crate::webhook::metrics_text_with(
            &self.counters,
            self.queue_len(),
            self.queue.capacity(),
            &[("lines_too_long", self.lines_too_long())],
        )
    }
}

impl Drop for AuditSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Rules over audit events: numbering, evaluation, alerts.
pub struct AuditDetector {
    pub rules: Arc<Ruleset>,
    pub hostname: String,
    /// Events evaluated.
    pub events: u64,
    /// Alerts raised.
    pub alerts: u64,
    first_ts: Option<u64>,
}

impl AuditDetector {
    pub fn new(rules: Arc<Ruleset>, hostname: String) -> AuditDetector {
        AuditDetector { rules, hostname, events: 0, alerts: 0, first_ts: None }
    }

    /// Evaluate one event; `on_alert` gets each alert.
    pub fn process(&mut self, ev: &AuditEvent, on_alert: &mut dyn FnMut(Alert)) {
        self.events += 1;
        let first_ts = *self.first_ts.get_or_insert(ev.ts);
        let acc = AuditAccessor { ev, num: self.events, first_ts, hostname: &self.hostname };
        let rules = self.rules.clone();
        let mut n = 0;
        rules.evaluate_source(Source::K8sAudit, &acc, |r| {
            n += 1;
            on_alert(r.alert(&acc, ev.ts, &self.hostname));
        });
        self.alerts += n;
    }

    /// Run until the source ends or `stop` is set.
    pub fn run(&mut self, src: &AuditSource, stop: &AtomicBool, on_alert: &mut dyn FnMut(Alert)) {
        while !stop.load(Ordering::Relaxed) {
            match src.next_timeout(Duration::from_millis(200)) {
                Ok(Some(ev)) => self.process(&ev, on_alert),
                Ok(None) => break,
                Err(Timeout) => {}
            }
        }
    }
}
