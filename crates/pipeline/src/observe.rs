//! The detector's one hook for consumers of events (not alerts): an [`EventObserver`] sees every
//! evaluated event after the rules, with the first rule that matched it, and may raise alerts
//! through the detector's port. Workload profiles and the learned scorer (`harrier-profile`) are
//! one. It runs on the detector's thread for every event: it must filter cheaply and hand any real
//! work to another thread (never block, never allocate for events it does not keep).

use harrier_engine::Alert;
use harrier_state::SyscallEvent;

pub trait EventObserver {
    /// A short name for logs.
    fn name(&self) -> &str;

    /// One event, after the rules: `matched` is the name of the first rule that matched it.
    /// Alerts the observer has ready go to `out` (they pass through the port's stages).
    fn observe(&mut self, ev: &SyscallEvent<'_>, matched: Option<&str>, out: &mut dyn FnMut(Alert));

    /// An idle moment: pass on alerts that are ready.
    fn idle(&mut self, _out: &mut dyn FnMut(Alert)) {}

    /// The end of a run: finish pending work (bounded wait) and pass on every alert.
    fn flush(&mut self, _out: &mut dyn FnMut(Alert)) {}
}
