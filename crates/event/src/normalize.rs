//! Normaliser: turns a stream of raw events (any schema version, enter+exit pairs) into the newest-schema,
//! exit-only events Harrier's pipeline consumes.
//!
//! Rules (the same outcome as libscap's capture converter, implemented generically by parameter *name*):
//! * `EF_UNUSED` event types are dropped.
//! * An enter event of a syscall that has an exit event (any version) is stored per thread id and
//!   dropped (in [`NormalizeMode::ExitOnly`]).
//! * An exit event that is an old version, or has fewer/more parameters than the current schema, is
//!   rewritten as the current exit event of the same name. Each parameter of the current schema is taken,
//!   by name, from the exit event itself, else from the stored enter event of the same thread and syscall,
//!   else left empty (zero length = "no value"). Integers of a different width are sign/zero-extended or
//!   truncated to the width of the current type.
//! * Current exit events with the full parameter count pass through unchanged (zero copy).
//! * Everything else passes through: meta events (procinfo, container, useradded, …), scheduler and
//!   tracepoint events, plugin and async events, unknown ids. Old container events (ids 228 and 272) are
//!   rewritten as the current container JSON event (324).
//!
//! Numbering: the normaliser never renumbers. Use the reader's event ordinal (see
//! `harrier_scap::Reader::event_index`) as `evt.num`; it is assigned before normalisation, so it lines up
//! with `sysdig -r` whether or not enter events are kept.

use std::collections::HashMap;

use crate::buf::EventBuf;
use crate::event::Event;
use crate::schema::{event_info, Direction, EventInfo, ParamType};
use crate::table::ids;

/// What the normaliser emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NormalizeMode {
    /// Exit-only, newest schema (Harrier's pipeline).
    #[default]
    ExitOnly,
    /// Like `ExitOnly` but enter events (and unused ones) are emitted too, unchanged: one output per input.
    KeepEnter,
    /// Like `ExitOnly` (container events converted, unused events dropped), and the enter half of
    /// each syscall is emitted too, unchanged, before its (normalised) exit: Falco evaluates rules
    /// on both directions of a capture that holds enter events. Consumers must not apply those
    /// enter halves to the state (see [`crate::EventInfo::is_syscall_enter`]).
    WithEnter,
    /// Emit every event unchanged (no conversion at all).
    PassThrough,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NormalizeStats {
    pub input: u64,
    pub passed: u64,
    pub converted: u64,
    pub dropped_enter: u64,
    pub dropped_unused: u64,
    /// Exit events converted without a matching stored enter event.
    pub missing_enter: u64,
    /// Times the per-thread enter store hit its size cap and was cleared.
    pub stash_overflows: u64,
}

/// Hasher for thread ids: one multiply-rotate (tids are not attacker-chosen keys worth SipHash here,
/// and the map is size-capped).
#[derive(Default, Clone, Copy)]
struct TidHasher(u64);

impl std::hash::Hasher for TidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95).rotate_left(29);
    }
}

type TidMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<TidHasher>>;

struct Stash {
    etype: u16,
    bytes: Vec<u8>,
}

/// Per-thread store of enter events plus an output buffer; no allocation per event after warm-up
/// (except the first enter event of a new thread id).
pub struct Normalizer {
    mode: NormalizeMode,
    stash: TidMap<Stash>,
    pool: Vec<Vec<u8>>,
    buf: EventBuf,
    scratch: Vec<u8>,
    max_threads: usize,
    stats: NormalizeStats,
    /// Per current exit id: whether exits of this type have arrived complete (current schema, all
    /// parameters), in which case their enter events need not be stored. Sticky once an exit of
    /// the type needed conversion.
    exit_seen: Vec<ExitSeen>,
    /// Per (newest) exit id: whether the consumer wants this syscall normalised (see
    /// [`Normalizer::only_for`]); `None`: every syscall.
    wanted: Option<Box<[bool]>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExitSeen {
    Unknown,
    Complete,
    NeedsEnter,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new(NormalizeMode::ExitOnly)
    }
}

/// Default cap on the number of threads with a pending enter event.
pub const DEFAULT_MAX_THREADS: usize = 1 << 16;

impl Normalizer {
    pub fn new(mode: NormalizeMode) -> Self {
        Normalizer {
            mode,
            stash: TidMap::default(),
            pool: Vec::new(),
            buf: EventBuf::new(),
            scratch: Vec::new(),
            max_threads: DEFAULT_MAX_THREADS,
            stats: NormalizeStats::default(),
            exit_seen: vec![ExitSeen::Unknown; crate::table::EVENT_MAX as usize],
            wanted: None,
        }
    }

    /// Normalise only the syscalls whose newest exit id `wanted` accepts. The others pass
    /// through as recorded (their exits are not converted, their enter events not stored): for a
    /// consumer that reads the parameters of some syscalls only, such as the state in selection
    /// mode (`harrier replay --filter`), which needs no more than the thread id of a `read`.
    /// Enter events are stored and matched per thread exactly as before for the wanted ones.
    pub fn only_for(mut self, wanted: impl Fn(u16) -> bool) -> Self {
        self.wanted = Some((0..crate::table::EVENT_MAX).map(wanted).collect());
        self
    }

    #[inline]
    fn is_wanted(&self, exit_id: u16) -> bool {
        self.wanted.as_ref().is_none_or(|w| w.get(exit_id as usize).copied().unwrap_or(true))
    }

    /// Drop the stored enter event of `tid` (what storing another syscall's enter, or an exit,
    /// would have done to it).
    #[inline]
    fn forget(&mut self, tid: u64) {
        if !self.stash.is_empty() {
            if let Some(s) = self.stash.remove(&tid) {
                self.pool.push(s.bytes);
            }
        }
    }

    /// Bound the per-thread enter store (it is cleared, and counted, when full).
    pub fn with_max_threads(mut self, n: usize) -> Self {
        self.max_threads = n.max(1);
        self
    }

    pub fn mode(&self) -> NormalizeMode {
        self.mode
    }

    pub fn stats(&self) -> NormalizeStats {
        self.stats
    }

    /// Number of threads with a stored enter event.
    pub fn pending(&self) -> usize {
        self.stash.len()
    }

    /// Feed one event; returns the event to emit (borrowing either the input or the normaliser's buffer),
    /// or `None` when the event is consumed.
    pub fn push<'r>(&'r mut self, ev: Event<'r>) -> Option<Event<'r>> {
        self.stats.input += 1;
        if self.mode == NormalizeMode::PassThrough {
            self.stats.passed += 1;
            return Some(ev);
        }
        let keep_enter = self.mode == NormalizeMode::KeepEnter;
        let Some(info) = event_info(ev.etype()) else {
            self.stats.passed += 1;
            return Some(ev);
        };
        if info.is_unused() {
            if keep_enter {
                self.stats.passed += 1;
                return Some(ev);
            }
            self.stats.dropped_unused += 1;
            return None;
        }
        match info.dir {
            Direction::Enter => {
                if let Some(exit_id) = info.newest_exit {
                    // Captures whose exit events already carry every parameter (all captures
                    // written by current drivers) do not need the enter event: skip the copy.
                    if !self.is_wanted(exit_id) {
                        self.forget(ev.tid());
                    } else if self.exit_seen.get(exit_id as usize) != Some(&ExitSeen::Complete) {
                        self.store(&ev);
                    }
                    if keep_enter || self.mode == NormalizeMode::WithEnter {
                        self.stats.passed += 1;
                        return Some(ev);
                    }
                    self.stats.dropped_enter += 1;
                    return None;
                }
                if info.id == ids::PPME_PROCEXIT_1_E || info.id == ids::PPME_PROCEXIT_E {
                    if let Some(s) = self.stash.remove(&ev.tid()) {
                        self.pool.push(s.bytes);
                    }
                }
                if (info.id == ids::PPME_CONTAINER_E || info.id == ids::PPME_CONTAINER_JSON_E) && !keep_enter
                {
                    return self.convert_container(ev, info);
                }
                self.stats.passed += 1;
                Some(ev)
            }
            Direction::Exit => {
                let target = info.newest_exit.unwrap_or(info.id);
                if !self.is_wanted(target) {
                    self.forget(ev.tid());
                    self.stats.passed += 1;
                    return Some(ev);
                }
                // No stored enters at all (captures whose exits arrive complete): no hash probe.
                let stash = if self.stash.is_empty() { None } else { self.stash.remove(&ev.tid()) };
                let stored = match stash {
                    Some(s) if event_info(s.etype).is_some_and(|e| e.name == info.name) => Some(s),
                    Some(s) => {
                        self.pool.push(s.bytes);
                        None
                    }
                    None => None,
                };
                let complete = target == info.id && ev.nparams() == info.params.len();
                if let Some(seen) = self.exit_seen.get_mut(target as usize) {
                    if !complete {
                        *seen = ExitSeen::NeedsEnter;
                    } else if *seen == ExitSeen::Unknown {
                        *seen = ExitSeen::Complete;
                    }
                }
                if complete {
                    if let Some(s) = stored {
                        self.pool.push(s.bytes);
                    }
                    self.stats.passed += 1;
                    return Some(ev);
                }
                if stored.is_none() {
                    self.stats.missing_enter += 1;
                }
                self.stats.converted += 1;
                self.convert_exit(ev, info, target, stored)
            }
        }
    }

    fn store(&mut self, ev: &Event<'_>) {
        if self.stash.len() >= self.max_threads && !self.stash.contains_key(&ev.tid()) {
            self.stats.stash_overflows += 1;
            for (_, s) in self.stash.drain() {
                if self.pool.len() < 1024 {
                    self.pool.push(s.bytes);
                }
            }
        }
        let tid = ev.tid();
        let etype = ev.etype();
        let pool = &mut self.pool;
        let entry =
            self.stash.entry(tid).or_insert_with(|| Stash { etype, bytes: pool.pop().unwrap_or_default() });
        entry.etype = etype;
        entry.bytes.clear();
        entry.bytes.extend_from_slice(ev.raw());
    }

    fn convert_exit<'r>(
        &'r mut self,
        ev: Event<'r>,
        info: &'static EventInfo,
        target: u16,
        stored: Option<Stash>,
    ) -> Option<Event<'r>> {
        let tinfo = event_info(target).unwrap_or(info);
        let enter = stored.as_ref().and_then(|s| Event::new(&s.bytes, 0, 0).ok());
        self.buf.begin(ev.ts(), ev.tid(), target).set_cpu(ev.cpu()).set_flags(ev.flags());
        for (j, p) in tinfo.params.iter().enumerate() {
            // Same schema: positional; otherwise by name.
            let from_exit = if info.id == target {
                ev.param_raw(j).map(|b| (b, p.ptype))
            } else {
                info.param_index(p.name).and_then(|k| ev.param_raw(k).map(|b| (b, info.params[k].ptype)))
            };
            let from_enter = || {
                let e = enter.as_ref()?;
                let ei = e.info();
                let k = ei.param_index(p.name)?;
                e.param_raw(k).map(|b| (b, ei.params[k].ptype))
            };
            let src = match from_exit {
                Some((b, t)) if !b.is_empty() => Some((b, t)),
                _ => from_enter().filter(|(b, _)| !b.is_empty()),
            };
            match src {
                Some((b, from)) => adapt(&mut self.buf, &mut self.scratch, b, from, p.ptype),
                None => {
                    self.buf.push_empty();
                }
            }
        }
        if let Some(s) = stored {
            self.pool.push(s.bytes);
        }
        self.buf.finish().ok()
    }

    fn convert_container<'r>(&'r mut self, ev: Event<'r>, info: &'static EventInfo) -> Option<Event<'r>> {
        self.stats.converted += 1;
        self.buf
            .begin(ev.ts(), ev.tid(), ids::PPME_CONTAINER_JSON_2_E)
            .set_cpu(ev.cpu())
            .set_flags(ev.flags());
        if info.id == ids::PPME_CONTAINER_JSON_E {
            match ev.param_raw(0) {
                Some(b) => self.buf.push(b),
                None => self.buf.push_empty(),
            };
        } else {
            // id, type, name, image → {"id":"…","type":N,"name":"…","image":"…"}
            let s = &mut self.scratch;
            s.clear();
            s.extend_from_slice(b"{\"id\":\"");
            json_escape(s, ev.param_cstr(0).unwrap_or(b""));
            s.extend_from_slice(b"\",\"type\":");
            s.extend_from_slice(ev.param_u32(1).unwrap_or(0).to_string().as_bytes());
            s.extend_from_slice(b",\"name\":\"");
            json_escape(s, ev.param_cstr(2).unwrap_or(b""));
            s.extend_from_slice(b"\",\"image\":\"");
            json_escape(s, ev.param_cstr(3).unwrap_or(b""));
            s.extend_from_slice(b"\"}");
            self.buf.push_cstr(&self.scratch);
        }
        self.buf.finish().ok()
    }
}

fn json_escape(out: &mut Vec<u8>, s: &[u8]) {
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            c => out.push(c),
        }
    }
}

/// Push `b` (of type `from`) as a parameter of type `to`, converting integer widths.
fn adapt(buf: &mut EventBuf, scratch: &mut Vec<u8>, b: &[u8], from: ParamType, to: ParamType) {
    let Some(want) = to.fixed_size() else {
        buf.push(b);
        return;
    };
    if b.len() == want {
        buf.push(b);
        return;
    }
    let v: u64 = match b.len() {
        1 if from.is_signed() => b[0] as i8 as i64 as u64,
        1 => b[0] as u64,
        2 if from.is_signed() => i16::from_le_bytes([b[0], b[1]]) as i64 as u64,
        2 => u16::from_le_bytes([b[0], b[1]]) as u64,
        4 if from.is_signed() => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64 as u64,
        4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
        8 => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        _ => {
            buf.push_empty();
            return;
        }
    };
    scratch.clear();
    scratch.extend_from_slice(&v.to_le_bytes()[..want]);
    buf.push(scratch);
}
