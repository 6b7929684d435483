//! Captures through the rules and the observer's extractor, for training the scorer, learning
//! profiles from recorded workloads and the experiment (`harrier profile train|score|learn`).

use crate::obs::{Extractor, Observation};
use harrier_engine::{Alert, Ruleset};
use harrier_event::NormalizeMode;
use harrier_pipeline::{Detector, Discard, EventObserver, ScapSource};
use harrier_state::SyscallEvent;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// An observer that keeps every observation (offline only: it allocates per kept event).
struct Keep(Extractor, Arc<Mutex<Vec<Observation>>>);

impl EventObserver for Keep {
    fn name(&self) -> &str {
        "keep"
    }
    fn observe(&mut self, ev: &SyscallEvent<'_>, matched: Option<&str>, _out: &mut dyn FnMut(Alert)) {
        if let Some(o) = self.0.observe(ev, matched) {
            self.1.lock().unwrap_or_else(|e| e.into_inner()).push(o);
        }
    }
}

/// Every observation of a capture (with the first rule that matched each), and the alert count.
pub fn observe_capture(path: &Path, rules: Arc<Ruleset>) -> Result<(Vec<Observation>, u64), String> {
    let mut src =
        ScapSource::open(path, NormalizeMode::WithEnter).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut det = Detector::new(rules, "offline", Discard);
    let kept = Arc::new(Mutex::new(Vec::new()));
    det.set_observer(Box::new(Keep(Extractor::new(), kept.clone())));
    det.run(&mut src).map_err(|e| format!("{}: {e}", path.display()))?;
    let alerts = det.stats.alerts;
    drop(det);
    let v = std::mem::take(&mut *kept.lock().unwrap_or_else(|e| e.into_inner()));
    Ok((v, alerts))
}

/// Training examples: in attack captures, the events a rule matched (labelled with that rule);
/// in benign captures, every observation (benign, whatever the rules said).
pub fn examples(attack: &[Observation], benign: &[Observation]) -> Vec<crate::Example> {
    attack
        .iter()
        .filter(|o| o.matched.is_some())
        .map(|o| crate::Example::from_observation(o, true))
        .chain(benign.iter().map(|o| crate::Example::from_observation(o, false)))
        .collect()
}
