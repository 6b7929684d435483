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
    /// A checked sidekick configuration (and the config text, for the `store:` block) whose
    /// router is not started yet ([`Delivery::prepare`]).
    pending: Option<(harrier_sinks::Config, String)>,
}

impl Delivery {
    /// Local outputs, plus the router built from the forwarder blocks of `config` (if any).
    /// `default_spool`: a long-running command (`harrier run`) spools to the default directory
    /// unless the config says otherwise.
    pub fn new(outputs: Outputs, config: Option<&Path>, default_spool: bool) -> Result<Delivery, String> {
        let mut d = Delivery::prepare(outputs, config, default_spool)?;
        d.start()?;
        Ok(d)
    }

    /// Like [`Delivery::new`], but the router (which opens and locks the spools) is only built by
    /// [`Delivery::start`]: for a configuration reload, where the running outputs must release
    /// their spools first. The sink configuration is checked here (built once without spools).
    pub fn prepare(outputs: Outputs, config: Option<&Path>, default_spool: bool) -> Result<Delivery, String> {
        let pending = match config {
            None => None,
            Some(p) => {
                // Unknown keys were reported when the configuration was read (config.rs).
                let mut cfg = harrier_sinks::Config::load_checked(p, false, false)?.config;
                if default_spool && cfg.has_outputs() {
                    if let Some(m) = cfg.apply_default_spool() {
                        tracing::info!("{m}");
                    }
                }
                // Check every sink now, so a bad configuration is refused before anything stops.
                let mut probe = cfg.clone();
                probe.spooldir = "none".into();
                let mut router = harrier_sinks::Router::with_own_runtime(1)
                    .map_err(|e| format!("cannot start the delivery runtime: {e}"))?;
                let metrics = Arc::new(harrier_sinks::metrics::Metrics::default());
                harrier_sinks::config::build_sinks(&probe, &mut router, &metrics)?;
                // The alert store (`store:` block), batched through the same queues: checked here.
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                let has_store = crate::store_glue::add_store_sink(&text, &mut router)
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                (cfg.has_outputs() || has_store).then_some((cfg, text))
            }
        };
        Ok(Delivery { outputs, router: None, pending })
    }

    /// Build the router of a prepared configuration (opens the spools).
    pub fn start(&mut self) -> Result<(), String> {
        let Some((cfg, text)) = self.pending.take() else { return Ok(()) };
        let mut router = harrier_sinks::Router::with_own_runtime(2)
            .map_err(|e| format!("cannot start the delivery runtime: {e}"))?;
        let metrics = Arc::new(harrier_sinks::metrics::Metrics::default());
        harrier_sinks::config::build_sinks(&cfg, &mut router, &metrics)?;
        crate::store_glue::add_store_sink(&text, &mut router)?;
        if !router.is_empty() {
            tracing::info!(
                "forwarding alerts to {} sink(s), spool {}",
                router.stats().len(),
                cfg.spool_dir().map_or("off (memory only)".to_string(), |d| d.display().to_string())
            );
            self.router = Some(router);
        }
        Ok(())
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
                    tracing::warn!(
                        "sink {} ({}): delivered {}, dropped {}, failed {}, spooled {}",
                        s.name,
                        s.kind,
                        s.delivered,
                        s.dropped,
                        s.failed,
                        s.spooled
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
