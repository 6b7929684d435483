//! Event sources: everything that produces events implements [`EventSource`], so replay, tests,
//! benchmarks and live capture drive exactly the same loop.

use harrier_event::{Event, NormalizeMode, NormalizeStats, Normalizer};
use harrier_scap::{Progress, Reader, ReaderStats, ScapError};
use harrier_state::State;
use std::path::Path;

/// What the consumer wants after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// An error of a source, with what it was doing.
#[derive(Debug)]
pub struct SourceError(pub String);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceError {}

impl From<ScapError> for SourceError {
    fn from(e: ScapError) -> Self {
        SourceError(e.to_string())
    }
}

/// The consumer of [`EventSource::run_idle`]: `Some((number, event))` per event, `None` when idle.
pub type IdleFn<'f> = dyn FnMut(Option<(u64, &Event<'_>)>) -> Flow + 'f;

/// A producer of syscall events.
pub trait EventSource {
    /// A short description for messages ("capture file x.scap", "live kernel").
    fn describe(&self) -> String;
    /// Seed the state tables before the first event (capture metadata, /proc…).
    fn seed(&mut self, state: &mut State);
    /// Deliver events in order, with their event number, until the end or until `f` says stop.
    fn run(&mut self, f: &mut dyn FnMut(u64, &Event<'_>) -> Flow) -> Result<(), SourceError>;

    /// Whether the events happen now on this machine, so container metadata can be asked from the
    /// running container runtimes (live sources). Captures carry their own container metadata.
    fn live_containers(&self) -> bool {
        false
    }

    /// Like [`EventSource::run`], and also call `f(None)` when no event came for a while (a live
    /// source's poll timeout), so the consumer can release work it holds (alerts waiting for
    /// container metadata). The default never calls `f(None)`.
    fn run_idle(&mut self, f: &mut IdleFn<'_>) -> Result<(), SourceError> {
        self.run(&mut |num, ev| f(Some((num, ev))))
    }
}

/// A `.scap` capture file, normalised to Harrier's exit-only events (or with enter events kept,
/// for sysdig-compatible filtering).
pub struct ScapSource {
    reader: Reader,
    normalizer: Normalizer,
    name: String,
    progress: Option<Box<dyn FnMut(Progress)>>,
    /// Report progress every this many events.
    pub progress_every: u64,
}

impl ScapSource {
    pub fn open(path: &Path, mode: NormalizeMode) -> Result<Self, SourceError> {
        let reader = Reader::open(path)
            .map_err(|e| SourceError(format!("cannot read capture {}: {e}", path.display())))?;
        Ok(ScapSource {
            reader,
            normalizer: Normalizer::new(mode),
            name: path.display().to_string(),
            progress: None,
            progress_every: 65536,
        })
    }

    pub fn from_reader(reader: Reader, name: &str, mode: NormalizeMode) -> Self {
        ScapSource {
            reader,
            normalizer: Normalizer::new(mode),
            name: name.to_string(),
            progress: None,
            progress_every: 65536,
        }
    }

    /// Call `f` with the reader's progress every [`ScapSource::progress_every`] events and at the end.
    pub fn on_progress(&mut self, f: impl FnMut(Progress) + 'static) {
        self.progress = Some(Box::new(f));
    }

    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    pub fn reader_stats(&self) -> ReaderStats {
        self.reader.stats()
    }

    pub fn normalize_stats(&self) -> NormalizeStats {
        self.normalizer.stats()
    }

    pub fn warnings(&self) -> &[String] {
        self.reader.warnings()
    }
}

impl EventSource for ScapSource {
    fn describe(&self) -> String {
        format!("capture file {}", self.name)
    }

    fn seed(&mut self, state: &mut State) {
        state.load_scap_header(self.reader.header());
    }

    fn run(&mut self, f: &mut dyn FnMut(u64, &Event<'_>) -> Flow) -> Result<(), SourceError> {
        // Every event the reader hands out is numbered by one more (`Reader::event_index`).
        let mut n: u64 = 0;
        let handle = self.reader.progress();
        let every = self.progress_every.max(1);
        let (normalizer, progress) = (&mut self.normalizer, &mut self.progress);
        self.reader
            .for_each_event(|ev| {
                n += 1;
                if let Some(out) = normalizer.push(ev) {
                    if f(n, &out) == Flow::Stop {
                        return false;
                    }
                }
                if n.is_multiple_of(every) {
                    if let Some(p) = progress.as_mut() {
                        p(handle.clone());
                    }
                }
                true
            })
            .map_err(|e| SourceError(e.to_string()))?;
        if let Some(p) = self.progress.as_mut() {
            p(self.reader.progress());
        }
        Ok(())
    }
}
