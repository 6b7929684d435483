//! Alerts held for container metadata: when a rule matches in a container whose runtime lookup
//! has not answered yet, the alert is rendered with what is known and held (bounded in time and
//! number). When the metadata arrives the alert is rendered again, with the container and pod
//! fields filled in and every other field exactly as it was at the event; when the wait ends
//! first it goes out as it is. Event processing never waits.

use crate::port::AlertPort;
use harrier_engine::{Alert, BoundField, EventAccessor, Ruleset, Values};
use harrier_state::fields::container_field;
use harrier_state::{ContainerInfo, State};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most alerts held at once; more go out at once (counted).
pub const HELD_MAX: usize = 4096;

/// The field values an alert was rendered from.
type Recorded = Vec<(BoundField, bool, Values)>;

/// An accessor that records what it extracts (to render the alert again later).
pub struct Recorder<'a, E: EventAccessor + ?Sized> {
    pub inner: &'a E,
    pub rec: RefCell<Recorded>,
}

impl<E: EventAccessor + ?Sized> EventAccessor for Recorder<'_, E> {
    fn event_type(&self) -> Option<u16> {
        self.inner.event_type()
    }
    fn generic_syscall(&self) -> Option<u16> {
        self.inner.generic_syscall()
    }
    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        let ok = self.inner.extract(field, out);
        let mut rec = self.rec.borrow_mut();
        if !rec.iter().any(|(f, _, _)| f == field) {
            rec.push((field.clone(), ok, out.clone()));
        }
        ok
    }
}

/// Recorded values, with the container fields taken from the metadata that arrived.
struct Replay<'a> {
    rec: &'a Recorded,
    container_id: &'a str,
    container: Option<&'a ContainerInfo>,
    ts: u64,
}

impl EventAccessor for Replay<'_> {
    fn event_type(&self) -> Option<u16> {
        None
    }
    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        if let Some(ok) = container_field(field, self.container_id, self.container, self.ts, out) {
            return ok;
        }
        match self.rec.iter().find(|(f, _, _)| f == field) {
            Some((_, ok, v)) => {
                *out = v.clone();
                *ok
            }
            None => false,
        }
    }
}

struct Held {
    deadline: Instant,
    container_id: String,
    ts: u64,
    alert: Alert,
    rec: Recorded,
    rules: Arc<Ruleset>,
    rule_index: usize,
}

/// Counters of the held-alert queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldStats {
    /// Alerts that waited for container metadata.
    pub held: u64,
    /// Of those, alerts that went out with the metadata filled in.
    pub completed: u64,
    /// Of those, alerts that went out when the wait ended (ids only).
    pub timed_out: u64,
    /// Alerts that went out at once because the queue was full.
    pub overflow: u64,
}

/// The queue of held alerts.
#[derive(Default)]
pub struct HeldAlerts {
    q: VecDeque<Held>,
    pub wait: Duration,
    pub stats: HeldStats,
}

impl HeldAlerts {
    pub fn new(wait: Duration) -> Self {
        HeldAlerts { q: VecDeque::new(), wait, stats: HeldStats::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Hold an alert; `None` when held, else the alert back (queue full).
    #[allow(clippy::too_many_arguments)]
    pub fn hold(
        &mut self,
        alert: Alert,
        rec: Recorded,
        container_id: &str,
        ts: u64,
        rules: &Arc<Ruleset>,
        rule_index: usize,
    ) -> Option<Alert> {
        if self.q.len() >= HELD_MAX {
            self.stats.overflow += 1;
            return Some(alert);
        }
        self.stats.held += 1;
        self.q.push_back(Held {
            deadline: Instant::now() + self.wait,
            container_id: container_id.to_string(),
            ts,
            alert,
            rec,
            rules: rules.clone(),
            rule_index,
        });
        None
    }

    /// Send the alerts whose metadata arrived (rendered again), and those whose wait ended
    /// (`all`: every alert, e.g. at the end of a run).
    pub fn release(&mut self, state: &State, all: bool, port: &mut dyn AlertPort) {
        if self.q.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut keep = VecDeque::with_capacity(self.q.len());
        for h in self.q.drain(..) {
            let known = state.containers.get(&h.container_id).filter(|c| !c.pending);
            let pending = state.containers.get(&h.container_id).is_some_and(|c| c.pending);
            if pending && !all && now < h.deadline {
                keep.push_back(h);
                continue;
            }
            let alert = match known {
                Some(c) => {
                    self.stats.completed += 1;
                    rerender(&h, c)
                }
                None if pending => {
                    self.stats.timed_out += 1;
                    h.alert
                }
                // The record was dropped (purged) without an answer: as it is.
                None => h.alert,
            };
            port.put(alert);
        }
        self.q = keep;
    }
}

fn rerender(h: &Held, c: &ContainerInfo) -> Alert {
    let Some(rule) = h.rules.rules().iter().find(|r| r.index == h.rule_index) else { return h.alert.clone() };
    let replay = Replay { rec: &h.rec, container_id: &h.container_id, container: Some(c), ts: h.ts };
    let mut a = rule.alert(&replay, h.alert.time_ns, &h.alert.hostname);
    a.time_ns = h.alert.time_ns;
    a
}
