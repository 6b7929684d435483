//! The response stage behind the detector's alert port (`harrier run`): every alert passes
//! through unchanged; alerts some response rule takes are handed to a worker thread (the
//! detector's thread never waits on an action), and the outcome alerts come back into the
//! stream at the next alert or idle moment. The queue is bounded; alerts that do not fit are
//! counted and logged, never waited for.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use harrier_engine::Alert;
use harrier_pipeline::AlertStage;

use crate::{load_files, Config, LoadErrors, Responder};

/// The `response:` block of `harrier run`'s config.
#[derive(Debug, Clone)]
pub struct StageConfig {
    pub config: Config,
    pub rules_files: Vec<PathBuf>,
}

impl StageConfig {
    /// From the `response:` block as JSON (`file` names the config in errors); `None` when it
    /// has no `rules_files`.
    pub fn from_json(v: &serde_json::Value, file: &str) -> Result<Option<StageConfig>, String> {
        let mut config = Config::default();
        let rules_files = crate::config::apply_response_block(v, file, &mut config)?;
        Ok((!rules_files.is_empty()).then_some(StageConfig { config, rules_files }))
    }

    pub fn load_rules(&self) -> Result<crate::RuleSet, LoadErrors> {
        load_files(&self.rules_files)
    }
}

/// Alerts waiting for the worker.
const QUEUE: usize = 4096;

pub struct ResponseStage {
    responder: Arc<Responder>,
    tx: Option<SyncSender<Alert>>,
    outcomes: Receiver<Alert>,
    worker: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    last_drop_log: Option<Instant>,
}

impl ResponseStage {
    pub fn new(responder: Arc<Responder>) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Alert>(QUEUE);
        let (otx, outcomes) = mpsc::channel::<Alert>();
        let r = responder.clone();
        let worker = std::thread::Builder::new()
            .name("harrier-respond".into())
            .spawn(move || {
                for alert in rx {
                    for o in r.handle(&alert) {
                        let _ = otx.send(o.to_alert());
                    }
                }
            })
            .ok();
        ResponseStage {
            responder,
            tx: Some(tx),
            outcomes,
            worker,
            dropped: Arc::default(),
            last_drop_log: None,
        }
    }

    pub fn responder(&self) -> &Arc<Responder> {
        &self.responder
    }

    /// Alerts not acted on because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn drain(&mut self, next: &mut dyn FnMut(Alert)) {
        while let Ok(a) = self.outcomes.try_recv() {
            next(a);
        }
    }
}

impl AlertStage for ResponseStage {
    fn name(&self) -> &str {
        "response"
    }

    fn on_alert(&mut self, alert: Alert, next: &mut dyn FnMut(Alert)) {
        self.drain(next);
        if self.responder.wants(&alert) {
            if let Some(tx) = &self.tx {
                match tx.try_send(alert.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                        if self.last_drop_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                            self.last_drop_log = Some(Instant::now());
                            tracing::warn!(dropped = n, "response queue full: alerts not acted on (counted)");
                        }
                    }
                }
            }
        }
        next(alert);
    }

    fn idle(&mut self, next: &mut dyn FnMut(Alert)) {
        self.drain(next);
    }

    fn flush(&mut self, next: &mut dyn FnMut(Alert)) {
        // Let the worker finish what is queued (bounded wait), then pass its outcomes on.
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !w.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if w.is_finished() {
                let _ = w.join();
            }
        }
        self.drain(next);
    }
}
