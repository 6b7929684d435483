//! A compiled set of rules, indexed per source and by event type, with Falco's enable/disable,
//! priority and `rule_matching` semantics.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use harrier_rules::{Location, Priority, Rule};

use crate::compile::{compile_condition, Filter, Scratch, NO_SLOT};
use crate::evttype::{evttypes_of, EvtTypeSet};
use crate::fields::{Source, EVENT_CODE_COUNT};
use crate::glob::Glob;
use crate::output::{Alert, OutputTemplate};
use crate::screen::Screen;
use crate::values::{BoundField, EventAccessor};

/// Falco's `rule_matching` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleMatching {
    /// Stop at the first matching rule (in load order).
    #[default]
    First,
    /// Report every matching rule.
    All,
}

/// A rule ready to evaluate.
#[derive(Debug)]
pub struct CompiledRule {
    pub name: String,
    pub desc: String,
    pub priority: Priority,
    pub source: Source,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub location: Location,
    pub condition_text: String,
    pub output: OutputTemplate,
    /// Event types the condition can match (all types when unrestricted).
    pub evttypes: EvtTypeSet,
    pub filter: Filter,
    /// Position in load order.
    pub index: usize,
    /// Whether a missing evt.type restriction should be reported.
    pub warn_evttypes: bool,
    /// Syscalls without an event of their own that the condition names (`evt.type = madvise`):
    /// reported as generic events, which a live source must be asked for by name.
    pub generic_syscalls: Vec<String>,
    /// Bit `i`: the condition may match a failed `prefilter::OPEN_FAMILY[i]` (see
    /// [`crate::prefilter`]); the live probe drops failed opens no rule may match.
    pub failed_opens: u8,
    /// Bit `i`: the condition may match a successful read-only `prefilter::OPEN_FAMILY[i]`.
    pub read_opens: u8,
    /// The path prefixes of the opens the condition may match (`None`: any path; see
    /// [`crate::prefilter::open_path_prefixes`]): the live probe wakes the reader at once only
    /// for opens an urgent rule may match.
    pub open_prefixes: Option<Vec<String>>,
    /// The successful read-only `open`/`openat` calls of clean absolute paths the condition may
    /// match (`None`: any; see [`crate::prefilter::read_open_keep`]).
    pub read_open_keep: Option<crate::prefilter::OpenKeep>,
    /// The rule reads descriptor fields on events other than opens in a way that dropping
    /// unmatched opens would change ([`crate::prefilter::reads_unreported_files`]).
    pub reads_unreported_files: bool,
}

impl CompiledRule {
    /// Whether the condition restricts event types.
    pub fn has_evttype_restriction(&self) -> bool {
        !self.evttypes.is_all()
    }
    /// Evaluate the condition alone (ignores enabled/priority).
    pub fn matches<E: EventAccessor + ?Sized>(&self, ev: &E, scratch: &mut Scratch) -> bool {
        self.filter.eval(ev, scratch)
    }
    /// Build the alert for an event this rule matched.
    pub fn alert<E: EventAccessor + ?Sized>(&self, ev: &E, time_ns: u64, hostname: &str) -> Alert {
        Alert {
            time_ns,
            rule: self.name.clone(),
            priority: self.priority,
            source: self.source.name().to_string(),
            tags: self.tags.clone(),
            output: self.output.render(ev),
            output_fields: self.output.render_fields(ev, time_ns),
            hostname: hostname.to_string(),
        }
    }
}

/// Why a rule could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleErrorKind {
    UnknownSource,
    Condition,
    Output,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub rule: String,
    pub location: Location,
    pub kind: RuleErrorKind,
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: rule '{}': {}",
            self.location.file, self.location.line, self.location.column, self.rule, self.message
        )
    }
}

#[derive(Debug, Default)]
struct SourceIndex {
    /// Rule indices per event code (syscall source).
    by_type: Vec<Vec<u32>>,
    /// Rules for events without a known code: those without an evt.type restriction.
    untyped: Vec<u32>,
    /// Every active rule of the source (sources without event types).
    all: Vec<u32>,
    /// Per event code, the screen of its candidates (see [`crate::screen`]), built when the
    /// first event of the code is evaluated: most codes never occur (enter events live, say),
    /// and a screen's tries hold every string its rules test.
    screens: Vec<OnceLock<Option<Box<Screen>>>>,
}

/// The compiled rules.
#[derive(Debug)]
pub struct Ruleset {
    rules: Vec<CompiledRule>,
    matching: RuleMatching,
    min_priority: Priority,
    index: Vec<SourceIndex>,
    depth: usize,
    /// Number of cache slots: distinct fields tested by more than one check of the ruleset.
    slots: usize,
    /// Number of memo slots: condition parts shared by several rules.
    memos: usize,
    /// Whether evaluation shares extracted field values (and shared parts' results) across the
    /// rules of an event.
    cache: bool,
    /// Whether the per-type screens skip rules whose guard fails (see [`crate::screen`]).
    screen: bool,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

#[inline]
fn source_slot(s: Source) -> usize {
    s.slot()
}

/// Give a cache slot to every distinct plain field that more than one check tests (a field
/// tested once per ruleset gains nothing from being cached). Returns the number of slots.
fn assign_slots(rules: &mut [CompiledRule]) -> usize {
    let mut counts: HashMap<BoundField, u32> = HashMap::new();
    for r in rules.iter_mut() {
        r.filter.for_each_field_slot(&mut |f, _| *counts.entry(f.clone()).or_default() += 1);
    }
    let mut ids: HashMap<BoundField, u32> = HashMap::new();
    for (f, n) in counts {
        if n > 1 {
            let id = ids.len() as u32;
            ids.insert(f, id);
        }
    }
    for r in rules.iter_mut() {
        r.filter.for_each_field_slot(&mut |f, slot| *slot = ids.get(f).copied().unwrap_or(NO_SLOT));
        r.filter.set_slots(ids.len());
    }
    ids.len()
}

/// Give a memo slot to every condition part (a check or group, see `Filter::share_keys`) that
/// occurs more than once in the ruleset: macros used by many rules, common exceptions. Each is
/// then evaluated at most once per event. Returns the number of memo slots.
fn assign_memos(rules: &mut [CompiledRule]) -> usize {
    let mut counts: HashMap<u128, u32> = HashMap::new();
    let mut keys = Vec::new();
    for r in rules.iter() {
        keys.clear();
        r.filter.share_keys(&mut keys);
        for k in &keys {
            *counts.entry(*k).or_default() += 1;
        }
    }
    let mut shared: Vec<u128> = counts.into_iter().filter(|&(_, n)| n > 1).map(|(k, _)| k).collect();
    shared.sort_unstable();
    let ids: HashMap<u128, u32> = shared.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
    for r in rules.iter_mut() {
        r.filter.set_memos(&ids, ids.len());
    }
    ids.len()
}

/// The union of [`crate::prefilter::read_open_keep`] over `open` and `openat`, for the ones the
/// rule's event types hold.
fn read_open_keep_of(
    cond: &harrier_condition::Expr,
    evttypes: &EvtTypeSet,
) -> Option<crate::prefilter::OpenKeep> {
    let mut acc = crate::prefilter::OpenKeep::default();
    for name in crate::prefilter::READ_ONLY_CHECKED {
        if evttypes.is_all() || crate::event_codes_for_name(name).iter().any(|c| evttypes.contains(*c)) {
            acc = acc.union(crate::prefilter::read_open_keep(cond, name)?)?;
        }
    }
    Some(acc)
}

/// The names of the event types, other than the open syscalls, whose descriptor fields state
/// reads from its table of open descriptors: events that use an existing descriptor (`read`,
/// `close`, `connect`, …) or copy one (`dup`, `fcntl`); not those that have none (`execve`,
/// `rename`) or only create a new one (`socket`, `pipe`). `None`: every type (no restriction).
fn fd_table_types(evttypes: &EvtTypeSet) -> Option<Vec<&'static str>> {
    use harrier_event::schema::ef;
    if evttypes.is_all() {
        return None;
    }
    let mut out: Vec<&'static str> = Vec::new();
    for c in evttypes.codes() {
        let i = harrier_event::schema::event_info(c)?;
        if crate::prefilter::OPEN_FAMILY.contains(&i.name) || out.contains(&i.name) {
            continue;
        }
        if i.has_flag(ef::USES_FD)
            || (i.has_flag(ef::CREATES_FD) && (i.name.starts_with("dup") || i.name == "fcntl"))
        {
            out.push(i.name);
        }
    }
    Some(out)
}

impl Ruleset {
    /// Compile loaded rules. Rules that fail are left out and reported.
    pub fn compile(rules: &[Rule]) -> (Ruleset, Vec<RuleError>) {
        let mut out = Vec::with_capacity(rules.len());
        let mut errors = Vec::new();
        for r in rules {
            let e = |kind, message: String| RuleError {
                rule: r.name.clone(),
                location: r.location.clone(),
                kind,
                message,
            };
            let Some(source) = Source::from_name(&r.source) else {
                errors.push(e(RuleErrorKind::UnknownSource, format!("unknown source '{}'", r.source)));
                continue;
            };
            let filter = match compile_condition(source, &r.condition) {
                Ok((f, _)) => f,
                Err(ce) => {
                    errors.push(e(RuleErrorKind::Condition, ce.to_string()));
                    continue;
                }
            };
            let output = match OutputTemplate::compile(source, &r.output) {
                Ok(o) => o,
                Err(m) => {
                    errors.push(e(RuleErrorKind::Output, m));
                    continue;
                }
            };
            let evttypes =
                if source.has_event_types() { evttypes_of(&r.condition) } else { EvtTypeSet::all() };
            let reads_unreported_files = source.has_event_types()
                && (crate::prefilter::reads_fd_table(&r.condition, output.field_names())
                    || fd_table_types(&evttypes).is_none_or(|types| {
                        types.iter().any(|t| {
                            crate::prefilter::reads_unreported_files(&r.condition, output.field_names(), t)
                        })
                    }));
            let index = out.len();
            out.push(CompiledRule {
                name: r.name.clone(),
                desc: r.desc.clone(),
                priority: r.priority,
                source,
                tags: r.tags.clone(),
                enabled: r.enabled,
                location: r.location.clone(),
                condition_text: r.condition_text.clone(),
                output,
                evttypes,
                filter,
                index,
                warn_evttypes: r.warn_evttypes,
                generic_syscalls: if source.has_event_types() {
                    crate::evttype::generic_names_of(&r.condition)
                } else {
                    Vec::new()
                },
                failed_opens: if source.has_event_types() {
                    crate::prefilter::failed_open_mask(&r.condition)
                } else {
                    0
                },
                read_opens: if source.has_event_types() {
                    crate::prefilter::read_open_mask(&r.condition)
                } else {
                    0
                },
                open_prefixes: if source.has_event_types() {
                    crate::prefilter::open_path_prefixes(&r.condition)
                } else {
                    Some(Vec::new())
                },
                read_open_keep: if source.has_event_types() {
                    read_open_keep_of(&r.condition, &evttypes)
                } else {
                    Some(Default::default())
                },
                reads_unreported_files,
            });
        }
        let mut rs = Ruleset {
            rules: out,
            matching: RuleMatching::First,
            min_priority: Priority::Debug,
            index: Vec::new(),
            depth: 1,
            slots: 0,
            memos: 0,
            cache: true,
            screen: true,
        };
        rs.slots = assign_slots(&mut rs.rules);
        rs.memos = assign_memos(&mut rs.rules);
        rs.rebuild();
        (rs, errors)
    }

    fn rebuild(&mut self) {
        self.depth = self.rules.iter().map(|r| r.filter.depth()).max().unwrap_or(1).max(1);
        let mut index: Vec<SourceIndex> = Source::all().iter().map(|_| SourceIndex::default()).collect();
        for si in index.iter_mut() {
            si.by_type = vec![Vec::new(); EVENT_CODE_COUNT as usize];
        }
        for r in &self.rules {
            if !r.enabled || r.priority > self.min_priority {
                continue;
            }
            let si = &mut index[source_slot(r.source)];
            let i = r.index as u32;
            si.all.push(i);
            if r.source.has_event_types() {
                for c in r.evttypes.codes() {
                    si.by_type[c as usize].push(i);
                }
                if r.evttypes.is_all() {
                    si.untyped.push(i);
                }
            }
        }
        for si in index.iter_mut() {
            for v in si.by_type.iter_mut() {
                v.shrink_to_fit();
            }
            si.screens = si.by_type.iter().map(|_| OnceLock::new()).collect();
        }
        self.index = index;
    }

    /// Bit `i`: some active syscall rule may match a failed `prefilter::OPEN_FAMILY[i]`.
    pub fn failed_open_interest(&self) -> u8 {
        self.rules
            .iter()
            .filter(|r| r.enabled && r.priority <= self.min_priority && r.source == Source::Syscall)
            .fold(0, |m, r| m | r.failed_opens)
    }

    /// What the live probe may drop of successful read-only `open`/`openat` calls
    /// ([`crate::prefilter::READ_ONLY_CHECKED`]): those of clean absolute paths outside the
    /// returned bound (see [`crate::prefilter::OpenKeep`]). `None`: nothing, because some active
    /// syscall rule may match such an open of any path, or reads descriptor fields on later
    /// events ([`CompiledRule::reads_unreported_files`]).
    pub fn read_open_drop(&self) -> Option<crate::prefilter::OpenKeep> {
        let mut acc = crate::prefilter::OpenKeep::default();
        for r in self.rules.iter() {
            if !r.enabled || r.priority > self.min_priority || r.source != Source::Syscall {
                continue;
            }
            if r.reads_unreported_files {
                return None;
            }
            acc = acc.union(r.read_open_keep.clone()?)?;
        }
        Some(acc)
    }

    /// The rules that keep [`Ruleset::read_open_drop`] from dropping anything, with why (for the
    /// start-up log and `harrier doctor`).
    pub fn read_open_drop_blockers(&self) -> Vec<(&str, &'static str)> {
        self.rules
            .iter()
            .filter(|r| r.enabled && r.priority <= self.min_priority && r.source == Source::Syscall)
            .filter_map(|r| {
                if r.reads_unreported_files {
                    Some((r.name.as_str(), "reads descriptor fields on events other than opens"))
                } else if r.read_open_keep.is_none() {
                    Some((r.name.as_str(), "may match a read-only open of any path"))
                } else {
                    None
                }
            })
            .collect()
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }
    pub fn rule(&self, name: &str) -> Option<&CompiledRule> {
        self.rules.iter().find(|r| r.name == name)
    }
    pub fn set_rule_matching(&mut self, m: RuleMatching) {
        self.matching = m;
    }
    /// Share extracted field values across the candidate rules of an event (on by default).
    /// Results are the same either way; off, every check extracts its field.
    pub fn set_field_cache(&mut self, on: bool) {
        self.cache = on;
    }
    /// Skip, per event, the candidate rules whose guard fails (on by default; see
    /// [`crate::screen`]). Results are the same either way.
    pub fn set_screen(&mut self, on: bool) {
        self.screen = on;
    }
    /// Number of candidate rules of an event code of the syscall source that its screen may
    /// skip (those with a guard).
    pub fn screened(&self, source: Source, code: u16) -> usize {
        self.screen_for(source, code).map_or(0, |s| s.guarded())
    }

    /// The screen of an event code's candidates, built on first use.
    fn screen_for(&self, source: Source, code: u16) -> Option<&Screen> {
        let si = self.index.get(source_slot(source))?;
        let cell = si.screens.get(code as usize)?;
        cell.get_or_init(|| {
            let cands = si.by_type.get(code as usize).filter(|c| !c.is_empty())?;
            let guards = cands.iter().map(|&i| self.rules[i as usize].filter.guard(code)).collect();
            Screen::build(guards).map(Box::new)
        })
        .as_deref()
    }
    /// Number of condition parts (checks and groups) several rules share, each evaluated at most
    /// once per event when the field cache is on.
    pub fn shared_parts(&self) -> usize {
        self.memos
    }
    /// Number of distinct fields whose values are shared across the rules of an event.
    pub fn cached_fields(&self) -> usize {
        self.slots
    }
    /// Only rules at least this severe are evaluated (Falco's `priority` option).
    pub fn set_min_priority(&mut self, p: Priority) {
        self.min_priority = p;
        self.rebuild();
    }
    /// Enable or disable rules whose name matches `pattern` (`*` and `?` wildcards).
    /// Returns how many rules matched.
    pub fn set_enabled_by_name(&mut self, pattern: &str, enabled: bool) -> usize {
        let g = Glob::new(pattern.as_bytes(), false);
        let mut n = 0;
        for r in &mut self.rules {
            if g.matches(r.name.as_bytes()) {
                r.enabled = enabled;
                n += 1;
            }
        }
        self.rebuild();
        n
    }
    /// Enable or disable every rule carrying `tag`.
    pub fn set_enabled_by_tag(&mut self, tag: &str, enabled: bool) -> usize {
        let mut n = 0;
        for r in &mut self.rules {
            if r.tags.iter().any(|t| t == tag) {
                r.enabled = enabled;
                n += 1;
            }
        }
        self.rebuild();
        n
    }
    /// Falco's `-t`: only rules with at least one of the tags stay enabled.
    pub fn enable_only_tags(&mut self, tags: &[&str]) {
        for r in &mut self.rules {
            r.enabled = r.tags.iter().any(|t| tags.contains(&t.as_str()));
        }
        self.rebuild();
    }
    /// Falco's `-T`: disable rules with any of the tags.
    pub fn disable_tags(&mut self, tags: &[&str]) {
        for r in &mut self.rules {
            if r.tags.iter().any(|t| tags.contains(&t.as_str())) {
                r.enabled = false;
            }
        }
        self.rebuild();
    }
    /// Syscall rules without an evt.type restriction that asked to be warned about it
    /// (Falco's `LOAD_NO_EVTTYPE`).
    pub fn rules_without_evttype(&self) -> Vec<&CompiledRule> {
        self.rules
            .iter()
            .filter(|r| r.source.has_event_types() && r.evttypes.is_all() && r.warn_evttypes)
            .collect()
    }
    /// Number of active candidate rules for an event code of the syscall source.
    pub fn candidates(&self, source: Source, code: Option<u16>) -> usize {
        self.candidate_list(source, code).len()
    }

    fn candidate_list(&self, source: Source, code: Option<u16>) -> &[u32] {
        let Some(si) = self.index.get(source_slot(source)) else { return &[] };
        if !source.has_event_types() {
            return &si.all;
        }
        match code {
            Some(c) => si.by_type.get(c as usize).map(Vec::as_slice).unwrap_or(&si.untyped),
            None => &si.untyped,
        }
    }

    /// Evaluate an event of a source by name; unknown sources match nothing.
    pub fn evaluate<E: EventAccessor + ?Sized>(
        &self,
        source: &str,
        ev: &E,
        on_match: impl FnMut(&CompiledRule),
    ) {
        if let Some(s) = Source::from_name(source) {
            self.evaluate_source(s, ev, on_match);
        }
    }

    /// Evaluate an event: call `on_match` for the matching rules, in load order (only the first
    /// with [`RuleMatching::First`]).
    pub fn evaluate_source<E: EventAccessor + ?Sized>(
        &self,
        source: Source,
        ev: &E,
        mut on_match: impl FnMut(&CompiledRule),
    ) {
        if self.candidate_list(source, ev.event_type()).is_empty() {
            return;
        }
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => self.evaluate_with(source, ev, &mut scratch, &mut on_match),
            Err(_) => self.evaluate_with(source, ev, &mut Scratch::new(), &mut on_match),
        });
    }

    /// Evaluate with caller-provided scratch buffers (no thread-local access).
    pub fn evaluate_with<E: EventAccessor + ?Sized>(
        &self,
        source: Source,
        ev: &E,
        scratch: &mut Scratch,
        mut on_match: impl FnMut(&CompiledRule),
    ) {
        let code = ev.event_type();
        let indexed = source.has_event_types() && code.is_some_and(|c| c < EVENT_CODE_COUNT);
        let candidates = self.candidate_list(source, code);
        if candidates.is_empty() {
            return;
        }
        // one cache generation for the whole event (0 slots: every check extracts)
        if self.cache {
            scratch.begin(self.depth, self.slots, self.memos);
        } else {
            scratch.begin(self.depth, 0, 0);
        }
        let cached = self.cache;
        let screen = match code {
            Some(c) if indexed && self.screen => self.screen_for(source, c),
            _ => None,
        };
        if let Some(s) = screen {
            s.mark(ev, scratch, cached);
        }
        for (pos, &i) in candidates.iter().enumerate() {
            if screen.is_some_and(|s| !s.passes(pos, &scratch.marks)) {
                continue;
            }
            let Some(r) = self.rules.get(i as usize) else { continue };
            let hit = if cached {
                r.filter.eval_in_event(ev, scratch, indexed)
            } else {
                r.filter.eval_uncached(ev, scratch, indexed)
            };
            if hit {
                on_match(r);
                if self.matching == RuleMatching::First {
                    break;
                }
            }
        }
    }
}
