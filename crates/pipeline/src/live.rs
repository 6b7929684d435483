//! The live kernel as an [`EventSource`]: the eBPF probe (`harrier-probe`) seeded from /proc.

use crate::source::{EventSource, Flow, SourceError};
use harrier_event::Event;
use harrier_probe::{DropCounters, Probe, ProbeConfig};
use harrier_scap::Header;
use harrier_state::State;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A periodic callback of [`LiveSource::run`].
type TickFn = Box<dyn FnMut(&Probe)>;

/// Live syscall events until a stop flag is raised or a duration has passed.
pub struct LiveSource {
    probe: Probe,
    stop: Arc<AtomicBool>,
    duration: Option<Duration>,
    header: Option<Header>,
    /// How long one poll waits for the first record (bounds the latency of an idle ring).
    pub poll_timeout: Duration,
    tick: Option<(Duration, TickFn)>,
}

impl LiveSource {
    /// Load and attach the probe. The probe runs from here on, so the /proc scan of
    /// [`EventSource::seed`] leaves no gap.
    pub fn open(cfg: &ProbeConfig<'_>) -> Result<Self, SourceError> {
        let probe = Probe::load(cfg).map_err(|e| SourceError(e.to_string()))?;
        Ok(LiveSource {
            probe,
            stop: Arc::new(AtomicBool::new(false)),
            duration: None,
            header: None,
            poll_timeout: Duration::from_millis(50),
            tick: None,
        })
    }

    /// Call `f` with the probe about every `every` while [`EventSource::run`] runs, also when no
    /// event arrives (drop accounting, statistics, reopening outputs).
    pub fn on_tick(&mut self, every: Duration, f: impl FnMut(&Probe) + 'static) {
        self.tick = Some((every, Box::new(f)));
    }

    /// Raise this flag (from a signal handler thread, another thread…) to end [`EventSource::run`].
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// End [`EventSource::run`] after this long.
    pub fn set_duration(&mut self, d: Option<Duration>) {
        self.duration = d;
    }

    /// The start-up state seeded from /proc (after [`EventSource::seed`]), for capture writers.
    pub fn header(&mut self) -> &Header {
        self.header.get_or_insert_with(harrier_probe::procfs::scan)
    }

    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// Records lost in the kernel, by class.
    pub fn drops(&self) -> DropCounters {
        self.probe.drops()
    }
}

impl EventSource for LiveSource {
    fn describe(&self) -> String {
        "live kernel (eBPF)".to_string()
    }

    fn seed(&mut self, state: &mut State) {
        let h = self.header();
        state.load_scap_header(h);
    }

    fn run(&mut self, f: &mut dyn FnMut(u64, &Event<'_>) -> Flow) -> Result<(), SourceError> {
        self.run_idle(&mut |x| match x {
            Some((num, ev)) => f(num, ev),
            None => Flow::Continue,
        })
    }

    fn live_containers(&self) -> bool {
        true
    }

    fn run_idle(&mut self, f: &mut crate::source::IdleFn<'_>) -> Result<(), SourceError> {
        let start = Instant::now();
        let mut last_tick = start;
        let mut n: u64 = 0;
        let mut stop = false;
        while !stop {
            if self.stop.load(Ordering::Relaxed) || self.duration.is_some_and(|d| start.elapsed() >= d) {
                break;
            }
            if let Some((every, tick)) = self.tick.as_mut() {
                if last_tick.elapsed() >= *every {
                    last_tick = Instant::now();
                    tick(&self.probe);
                }
            }
            self.probe
                .poll(self.poll_timeout, &mut |ev| {
                    if stop {
                        return;
                    }
                    n += 1;
                    if f(Some((n, ev))) == Flow::Stop {
                        stop = true;
                    }
                })
                .map_err(|e| SourceError(e.to_string()))?;
            // Between polls (at most `poll_timeout` apart when idle).
            if !stop && f(None) == Flow::Stop {
                stop = true;
            }
        }
        Ok(())
    }
}
