//! The hot path: events from any [`EventSource`] go through the state tracker and the compiled
//! rules; matches become [`Alert`]s that leave through the detector's one [`AlertPort`] (with
//! folding, response and routing as [`AlertStage`]s behind it). Synchronous, one thread, no
//! allocation per event unless a rule matches.

pub mod held;
pub mod live;
pub mod observe;
pub mod port;
pub mod source;

pub use observe::EventObserver;
pub use port::{from_fn, AlertPort, AlertStage, Collect, Discard, FnPort, Stages};
pub use source::{EventSource, Flow, ScapSource, SourceError};

pub use harrier_containers::RuntimeConfig;
use harrier_containers::{LookupService, LookupStats};
use harrier_engine::{Filter, Ruleset, Scratch, Source};
use harrier_event::Event;
use harrier_state::{State, SyscallEvent};
use held::{HeldAlerts, HeldStats, Recorder};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    pub events: u64,
    pub alerts: u64,
    /// Alerts by rule name.
    pub by_rule: BTreeMap<String, u64>,
    /// Alerts by priority (as Falco prints it).
    pub by_priority: BTreeMap<harrier_rules::Priority, u64>,
    pub first_ts: u64,
    pub last_ts: u64,
}

/// State plus rules: what a source's events go through. Alerts leave through the port `P`.
pub struct Detector<P: AlertPort = Box<dyn AlertPort>> {
    pub state: State,
    rules: Arc<Ruleset>,
    hostname: String,
    scratch: Scratch,
    prev_ts: u64,
    pub stats: RunStats,
    /// Runtime metadata for live sources (`None`: the defaults with environment overrides).
    runtime_config: Option<RuntimeConfig>,
    held: HeldAlerts,
    since_purge: u64,
    /// Synthesised events (`container`).
    event_buf: harrier_event::EventBuf,
    /// A ruleset waiting to replace the current one (see [`Detector::rules_slot`]).
    next_rules: RulesSlot,
    /// Where alerts go.
    port: P,
    /// What sees events after the rules (see [`Detector::set_observer`], [`Detector::add_observer`]).
    observers: Vec<Box<dyn EventObserver>>,
}

/// Where another thread or a callback puts a new ruleset for a running [`Detector`]; it takes over
/// between two events, so no event is lost or evaluated twice across a reload.
pub type RulesSlot = Arc<std::sync::Mutex<Option<Arc<Ruleset>>>>;

fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Purge containers no thread runs in after this many events (live sources).
const PURGE_EVERY: u64 = 1 << 16;

impl<P: AlertPort> Detector<P> {
    /// A detector whose alerts go to `port`.
    pub fn new(rules: Arc<Ruleset>, hostname: impl Into<String>, port: P) -> Self {
        Detector {
            state: State::new(),
            rules,
            hostname: hostname.into(),
            scratch: Scratch::new(),
            prev_ts: 0,
            stats: RunStats::default(),
            runtime_config: None,
            held: HeldAlerts::new(std::time::Duration::ZERO),
            since_purge: 0,
            event_buf: harrier_event::EventBuf::new(),
            next_rules: RulesSlot::default(),
            port,
            observers: Vec::new(),
        }
    }

    /// An observer of every evaluated event (workload profiles, the learned scorer); its alerts
    /// go through the port.
    pub fn set_observer(&mut self, o: Box<dyn EventObserver>) {
        self.observers.clear();
        self.observers.push(o);
    }

    /// One more observer (response captures beside the profile stage); each sees every event,
    /// in the order added.
    pub fn add_observer(&mut self, o: Box<dyn EventObserver>) {
        self.observers.push(o);
    }

    /// The port alerts leave through.
    pub fn port(&self) -> &P {
        &self.port
    }

    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    /// The port back (after a run; held alerts should have been flushed by then).
    pub fn into_port(self) -> P {
        self.port
    }

    /// How container metadata is looked up for live sources (sockets, alert wait…). Without it,
    /// [`RuntimeConfig::from_env`] applies.
    pub fn set_runtime_config(&mut self, cfg: RuntimeConfig) {
        self.runtime_config = Some(cfg);
    }

    /// Start the runtime lookups now (done by [`Detector::run`] for live sources).
    pub fn start_runtime_lookup(&mut self) {
        if self.state.lookup.is_some() {
            return;
        }
        let cfg = self.runtime_config.clone().unwrap_or_else(RuntimeConfig::from_env);
        if !cfg.enabled {
            return;
        }
        match LookupService::start(&cfg) {
            Ok(h) => {
                self.held.wait = cfg.alert_wait;
                self.state.enable_runtime_lookup(h);
            }
            Err(e) => {
                tracing::warn!("cannot start the container metadata lookups: {e}; container ids only")
            }
        }
    }

    /// Counters of the runtime lookups (when they run).
    pub fn lookup_stats(&self) -> Option<&LookupStats> {
        self.state.lookup.as_ref().map(|l| &*l.stats)
    }

    /// Counters of alerts held for container metadata.
    pub fn held_stats(&self) -> HeldStats {
        self.held.stats
    }

    /// Let time pass without an event: a waiting ruleset takes over, answers are applied, held
    /// alerts whose metadata came (or whose wait ended) go out, and the port's stages release
    /// what is due.
    pub fn idle(&mut self) {
        if let Ok(mut next) = self.next_rules.try_lock() {
            if let Some(rs) = next.take() {
                self.rules = rs;
            }
        }
        if self.state.lookup.is_some() {
            self.state.take_answers();
            self.container_events();
            self.held.release(&self.state, false, &mut self.port);
            if self.since_purge >= PURGE_EVERY {
                self.since_purge = 0;
                self.state.purge_containers();
                // Threads whose exit was never applied (issue 22: memory grew under churn).
                self.state.purge_exited_threads();
            }
        }
        for o in &mut self.observers {
            let port = &mut self.port;
            o.idle(&mut |a| port.put(a));
        }
        self.port.idle();
    }

    /// Send every held alert now and flush the port (end of a run).
    pub fn flush_held(&mut self) {
        self.state.take_answers();
        self.container_events();
        self.held.release(&self.state, true, &mut self.port);
        for o in &mut self.observers {
            let port = &mut self.port;
            o.flush(&mut |a| port.put(a));
        }
        self.port.flush();
    }

    /// Replace the rules (reload): state stays.
    pub fn set_rules(&mut self, rules: Arc<Ruleset>) {
        self.rules = rules;
    }

    /// A slot for a new ruleset: whatever is put there replaces the rules at the next idle moment
    /// of [`Detector::run`] (between two events; alerts held for container metadata keep the
    /// ruleset that raised them).
    pub fn rules_slot(&self) -> RulesSlot {
        self.next_rules.clone()
    }

    pub fn rules(&self) -> &Ruleset {
        &self.rules
    }

    /// Process one event: update state, evaluate the rules, alerts to the port. The enter half of
    /// a syscall (captures that hold them, read with `NormalizeMode::WithEnter`) is evaluated as
    /// Falco does, but changes no state: its exit carries the change.
    pub fn process(&mut self, num: u64, ev: &Event<'_>) {
        if ev.info().is_syscall_enter() {
            self.process_applied(num, ev);
            return;
        }
        self.state.apply(ev);
        if self.state.has_started_containers() {
            self.container_events();
        }
        self.process_applied(num, ev);
    }

    /// Live sources: a `container` event (Falco's, with the container's JSON) for each container
    /// whose runtime lookup just ended, evaluated like any event, so rules on what only the
    /// runtime knows (`evt.type = container and container.privileged = true`, image, mounts)
    /// fire once per new container whatever the timing of its first syscalls. The metadata is
    /// already in the state; the event only carries it for outputs (`evt.arg.json`).
    fn container_events(&mut self) {
        for (id, tid) in self.state.take_started_containers() {
            let Some(info) = self.state.containers.get(&id) else { continue };
            let json = harrier_state::container_json::container_json(info);
            // The thread that revealed the container, else another of its threads; a container
            // whose processes are all gone gets a placeholder thread for the event's duration.
            let threads = &self.state.threads;
            let found = Some(tid)
                .filter(|t| threads.get(*t).is_some_and(|t| t.container_id == id))
                .or_else(|| threads.iter().find(|t| t.container_id == id && !t.dead).map(|t| t.tid));
            let tid = match found {
                Some(t) => t,
                None if threads.get(tid).is_none() => {
                    let t = harrier_state::thread::ThreadInfo {
                        container_id: id.clone(),
                        dead: true,
                        ..harrier_state::thread::ThreadInfo::unknown(tid)
                    };
                    self.state.threads.force_insert(t);
                    tid
                }
                None => continue,
            };
            let placeholder = found.is_none();
            let ts = if self.prev_ts != 0 { self.prev_ts } else { wall_clock_ns() };
            let mut buf = std::mem::take(&mut self.event_buf);
            buf.begin(ts, tid as u64, harrier_event::ids::PPME_CONTAINER_JSON_2_E).push(json.as_bytes());
            if let Ok(ev) = buf.finish() {
                self.process_applied(0, &ev);
            }
            self.event_buf = buf;
            if placeholder {
                self.state.threads.remove_exited(tid, None);
            }
        }
    }

    /// Evaluate an event the state has already seen (see [`State::apply`]).
    pub fn process_applied(&mut self, num: u64, ev: &Event<'_>) {
        let st = &mut self.stats;
        st.events += 1;
        if st.first_ts == 0 {
            st.first_ts = ev.ts();
        }
        st.last_ts = ev.ts();
        let acc = SyscallEvent::after(&self.state, *ev, num, self.prev_ts);
        let host =
            if self.hostname.is_empty() { self.state.hostname.as_str() } else { self.hostname.as_str() };
        let rules = &self.rules;
        let held = &mut self.held;
        let port = &mut self.port;
        let lookups = self.state.lookup.is_some();
        let mut matched: Option<usize> = None;
        rules.evaluate_with(Source::Syscall, &acc, &mut self.scratch, |r| {
            // In a container whose metadata is being looked up: hold the alert for a short while.
            let pending = if lookups {
                acc.state.threads.get(ev.tid() as i64).filter(|t| acc.state.container_pending(t))
            } else {
                None
            };
            let alert = match pending {
                None => Some(r.alert(&acc, ev.ts(), host)),
                Some(t) => {
                    let recorder = Recorder { inner: &acc, rec: Default::default() };
                    let alert = r.alert(&recorder, ev.ts(), host);
                    held.hold(alert, recorder.rec.into_inner(), &t.container_id, ev.ts(), rules, r.index)
                }
            };
            st.alerts += 1;
            if matched.is_none() {
                matched = Some(r.index);
            }
            *st.by_rule.entry(r.name.clone()).or_default() += 1;
            *st.by_priority.entry(r.priority).or_default() += 1;
            if let Some(alert) = alert {
                port.put(alert);
            }
        });
        if !self.observers.is_empty() {
            let name = matched.and_then(|i| rules.rules().get(i)).map(|r| r.name.as_str());
            for o in &mut self.observers {
                o.observe(&acc, name, &mut |a| port.put(a));
            }
        }
        self.prev_ts = ev.ts();
        if lookups {
            self.since_purge += 1;
            if !self.held.is_empty() {
                self.held.release(&self.state, false, &mut self.port);
            }
        }
    }

    /// Run a whole source; at its end, held alerts go out and the port is flushed.
    pub fn run(&mut self, src: &mut dyn EventSource) -> Result<(), SourceError> {
        src.seed(&mut self.state);
        if src.live_containers() {
            // Started already (before detection was announced): the seeded threads' containers.
            self.start_runtime_lookup();
            self.state.note_all_containers();
        }
        let res = src.run_idle(&mut |x| {
            match x {
                Some((num, ev)) => self.process(num, ev),
                None => self.idle(),
            }
            Flow::Continue
        });
        self.flush_held();
        res
    }
}

/// Run a single filter over a source (sysdig-style selection): call `on_match` with the event
/// number of every matching event, and the state and event for rendering.
///
/// This is `sysdig -r FILE FILTER` (Debian's sysdig 0.29) semantics, not rule evaluation:
/// * the state runs in [`State::sysdig029`] compatibility mode (see there);
/// * the source should deliver events as recorded: a normalised copy (enter events kept) updates
///   the state, while the filter sees the recorded event, with the parameters the capture has
///   (an already normalised source works too);
/// * every event updates the state but some are never shown, whatever the filter: events the
///   source delivers with number 0 (types sysdig does not number), internal meta events
///   (`procinfo`, `scapevent`, `drop`, …: category `internal`) and container metadata events.
pub fn filter_source(
    src: &mut dyn EventSource,
    filter: Option<&Filter>,
    on_match: &mut dyn FnMut(&SyscallEvent<'_>),
) -> Result<u64, SourceError> {
    let mut state = State::new();
    state.sysdig029 = true;
    src.seed(&mut state);
    // The state reads the parameters of the syscalls that change it only: the others (reads,
    // writes, polls…) are neither converted nor paired with their enter events.
    let mut normalizer = harrier_event::Normalizer::new(harrier_event::NormalizeMode::KeepEnter)
        .only_for(harrier_state::tracker::changes_state);
    let mut scratch = Scratch::new();
    scratch.ensure(filter.map(|f| f.depth()).unwrap_or(1));
    let mut prev_ts = 0;
    let mut n = 0;
    src.run(&mut |num, ev| {
        if let Some(norm) = normalizer.push(*ev) {
            state.apply(&norm);
        }
        n += 1;
        let acc = SyscallEvent::after(&state, *ev, num, prev_ts);
        if sysdig_shows(num, ev) && filter.is_none_or(|f| f.eval(&acc, &mut scratch)) {
            on_match(&acc);
        }
        prev_ts = ev.ts();
        Flow::Continue
    })?;
    Ok(n)
}

/// Whether `sysdig -r` would ever print this event (see [`filter_source`]).
fn sysdig_shows(num: u64, ev: &Event<'_>) -> bool {
    static HIDDEN: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    let hidden = HIDDEN.get_or_init(|| {
        let mut t = vec![true; harrier_event::EVENT_MAX as usize];
        for info in harrier_event::all_events() {
            if let Some(h) = t.get_mut(info.id as usize) {
                *h = info.category & harrier_event::cat::INTERNAL != 0 || info.name == "container";
            }
        }
        t
    });
    // Ids outside the table: the schema's unknown entry (not internal, not a container event).
    num != 0 && !hidden.get(ev.etype() as usize).copied().unwrap_or(false)
}
