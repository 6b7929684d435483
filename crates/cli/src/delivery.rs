//! Where alerts go: Falco's local outputs (stdout, file, program) and, when the configuration
//! has forwarder blocks (falcosidekick keys, `http_output`, `syslog_output`), the router with its
//! spilling retry queues.

use harrier_engine::Alert;
use harrier_sinks::Outputs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub struct Delivery {
    pub outputs: Outputs,
    router: Option<harrier_sinks::Router>,
}

impl Delivery {
    /// Local outputs, plus the router built from the forwarder blocks of `config` (if any).
    /// `default_spool`: a long-running command (`harrier run`) spools to the default directory
    /// unless the config says otherwise.
    pub fn new(outputs: Outputs, config: Option<&Path>, default_spool: bool) -> Result<Delivery, String> {
        let router = match config {
            None => None,
            Some(p) => {
                // Unknown keys were reported when the configuration was read (config.rs).
                let mut cfg = harrier_sinks::Config::load_checked(p, false, false)?.config;
                if default_spool && cfg.has_outputs() {
                    if let Some(m) = cfg.apply_default_spool() {
                        eprintln!("harrier: {m}");
                    }
                }
                let mut router = harrier_sinks::Router::with_own_runtime(2)
                    .map_err(|e| format!("cannot start the delivery runtime: {e}"))?;
                let metrics = Arc::new(harrier_sinks::metrics::Metrics::default());
                harrier_sinks::config::build_sinks(&cfg, &mut router, &metrics)?;
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
