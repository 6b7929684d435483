//! Where alerts go: Falco's local outputs (stdout, file, program) and, when the configuration
//! has forwarder blocks (falcosidekick keys, `http_output`, `syslog_output`), the router with its
//! spilling retry queues.

use harrier_engine::Alert;
use harrier_pipeline::AlertPort;
use harrier_sinks::Outputs;
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub struct Delivery {
    pub outputs: Outputs,
    router: Option<harrier_sinks::Router>,
}

impl Delivery {
    /// Local outputs, plus the router built from the forwarder blocks of `config` (if any).
    pub fn new(outputs: Outputs, config: Option<&Path>) -> Result<Delivery, String> {
        let router = match config {
            None => None,
            Some(p) => {
                let cfg = harrier_sinks::Config::load(p)?;
                let mut router = harrier_sinks::Router::with_own_runtime(2)
                    .map_err(|e| format!("cannot start the delivery runtime: {e}"))?;
                let metrics = Arc::new(harrier_sinks::metrics::Metrics::default());
                harrier_sinks::config::build_sinks(&cfg, &mut router, &metrics)?;
                // The alert store (`store:` block), batched through the same queues.
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                harrier_store::sink::add_from_config(&text, &mut router)
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                if router.is_empty() {
                    None
                } else {
                    eprintln!("harrier: forwarding alerts to {} sink(s)", router.stats().len());
                    Some(router)
                }
            }
        };
        Ok(Delivery { outputs, router })
    }

    pub fn send(&mut self, a: &Alert) {
        self.outputs.send(a);
        if let Some(r) = &self.router {
            r.send(a);
        }
    }

    pub fn flush(&mut self) {
        self.outputs.flush();
    }

    pub fn reopen(&mut self) {
        self.outputs.reopen();
    }

    /// Every sink's delivery counters (none without forwarders).
    pub fn sink_stats(&self) -> Vec<harrier_sinks::SinkStats> {
        self.router.as_ref().map(|r| r.stats()).unwrap_or_default()
    }

    /// Flush local outputs and give the forwarders up to `grace` to deliver; what is left stays
    /// in their spools for the next start.
    pub fn finish(mut self, grace: Duration) {
        self.outputs.flush();
        if let Some(r) = self.router.take() {
            for s in r.shutdown_blocking(grace) {
                if s.dropped > 0 || s.failed > 0 || s.spooled > 0 {
                    eprintln!(
                        "harrier: sink {} ({}): delivered {}, dropped {}, failed {}, spooled {}",
                        s.name, s.kind, s.delivered, s.dropped, s.failed, s.spooled
                    );
                }
            }
        }
    }
}

/// The last port of the detector: Falco's outputs and the router.
impl AlertPort for Delivery {
    fn put(&mut self, alert: Alert) {
        self.send(&alert);
    }
    fn flush(&mut self) {
        Delivery::flush(self);
    }
}

/// The delivery shared between the detector's port and the live loop's tick (drop alerts,
/// SIGHUP reopen), on the detector's thread.
pub struct SharedDelivery(pub Rc<RefCell<Delivery>>);

impl AlertPort for SharedDelivery {
    fn put(&mut self, alert: Alert) {
        self.0.borrow_mut().send(&alert);
    }
    fn flush(&mut self) {
        self.0.borrow_mut().flush();
    }
}
