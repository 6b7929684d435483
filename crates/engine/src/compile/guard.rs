//! Guards: for one event type, a necessary condition of a compiled filter in conjunctive form
//! whose parts are tests of plain string fields — what [`crate::screen`] evaluates once per event
//! for all the candidate rules of the type together, so that rules which cannot match are not
//! walked at all.
//!
//! A guard is derived from the compiled checks themselves, so it tests exactly the values those
//! checks see: a positive check (`=`, `in`, `startswith`, `pmatch`, `glob`, `endswith`,
//! `contains`) of a field with any-value semantics implies that some value of the field passes
//! one of the check's string tests, and a `!=` check that some value differs from its string.
//! `and` keeps its children's clauses; `or` keeps one clause from each child that can hold and
//! joins them; `not`, other operators and computed sides imply nothing, and so do tests of fields
//! other than [`CHEAP_FIELDS`]. Event-type checks are decided by the event code: a branch that
//! cannot hold for the type drops out, a filter that cannot hold at all gets [`Guard::Never`].

use super::{is_generic_code, Check, Filter, Node, Operand, Pred};
use crate::fields::FieldId;
use crate::values::{BoundField, FieldArg};

/// The fields guards may test: names and paths that event state keeps as strings, cheap to
/// read for every event. A test of another field (a rendered flag set, a command line…) is
/// left to the rule: extracting it up front for every event would cost more than it saves.
const CHEAP_FIELDS: &[FieldId] = &[
    FieldId::FdName,
    FieldId::FdDirectory,
    FieldId::FdFilename,
    FieldId::ProcName,
    FieldId::ProcPname,
    FieldId::ProcExe,
    FieldId::ProcExepath,
    FieldId::ContainerId,
];

/// What one value must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum AtomTest {
    /// Equal to these bytes.
    Exact(Box<[u8]>),
    /// Starting with these bytes (never empty: an empty string implies nothing, here and below).
    Prefix(Box<[u8]>),
    /// Ending with these bytes.
    Suffix(Box<[u8]>),
    /// Holding these bytes.
    Contains(Box<[u8]>),
    /// Different from these bytes (`container.id != host`).
    Differs(Box<[u8]>),
}

impl AtomTest {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            AtomTest::Exact(b)
            | AtomTest::Prefix(b)
            | AtomTest::Suffix(b)
            | AtomTest::Contains(b)
            | AtomTest::Differs(b) => b,
        }
    }
    /// How selective the test is, roughly: longer strings pass fewer values, exact ones fewer
    /// still.
    fn score(&self) -> usize {
        match self {
            AtomTest::Exact(b) => b.len() + 3,
            // most values differ from any one string: kept when nothing better is left
            AtomTest::Differs(_) => MIN_SCORE,
            _ => self.bytes().len(),
        }
    }
}

/// A check's implication: some value of `field` passes one of `tests`.
#[derive(Debug, Clone)]
pub(crate) struct Atom {
    pub field: BoundField,
    /// The field's cache slot in the ruleset ([`super::NO_SLOT`] when not cached).
    pub slot: u32,
    pub tests: Vec<AtomTest>,
}

/// One or more atoms, at least one of which holds (a disjunction).
pub(crate) type Clause = Vec<Atom>;

/// At most this many clauses are kept per guard (the best ones, see [`clause_rank`]).
const MAX_CLAUSES: usize = 2;

/// Clauses scoring less are dropped from a guard: a one-byte prefix (`/`) passes most events
/// and would cost more than it saves.
const MIN_SCORE: usize = 2;

/// A necessary condition of a filter for events of one type.
#[derive(Debug, Clone)]
pub(crate) enum Guard {
    /// The filter cannot hold for the type.
    Never,
    /// Every clause holds whenever the filter does (none: no bound).
    All(Vec<Clause>),
}

fn clause_score(c: &Clause) -> usize {
    c.iter().flat_map(|a| a.tests.iter()).map(AtomTest::score).min().unwrap_or(0)
}

/// Which clauses a guard keeps first: those without substring tests (a trie walk tests them,
/// shared with every other clause on the field), then the most selective.
fn clause_rank(c: &Clause) -> (bool, usize) {
    let trie_only = c.iter().flat_map(|a| a.tests.iter()).all(|t| !matches!(t, AtomTest::Contains(_)));
    (trie_only, clause_score(c))
}

impl Filter {
    /// The guard of this filter for events of type `code` (see the module documentation).
    pub(crate) fn guard(&self, code: u16) -> Guard {
        match self.root.guard(code) {
            Guard::Never => Guard::Never,
            Guard::All(mut cs) => {
                cs.retain(|c| clause_score(c) >= MIN_SCORE);
                cs.sort_by_key(|c| std::cmp::Reverse(clause_rank(c)));
                cs.truncate(MAX_CLAUSES);
                Guard::All(cs)
            }
        }
    }

    /// The guard for events of type `code` in words, one clause per line (for benchmarks and
    /// debugging: why a rule is or is not screened).
    pub fn guard_outline(&self, code: u16) -> String {
        match self.guard(code) {
            Guard::Never => "never".into(),
            Guard::All(cs) if cs.is_empty() => "unbounded".into(),
            Guard::All(cs) => cs
                .iter()
                .map(|c| {
                    let atoms: Vec<String> = c
                        .iter()
                        .map(|a| {
                            let mut t: Vec<String> = a
                                .tests
                                .iter()
                                .map(|t| match t {
                                    AtomTest::Exact(b) => format!("={}", String::from_utf8_lossy(b)),
                                    AtomTest::Prefix(b) => format!("^{}", String::from_utf8_lossy(b)),
                                    AtomTest::Suffix(b) => format!("${}", String::from_utf8_lossy(b)),
                                    AtomTest::Contains(b) => format!("~{}", String::from_utf8_lossy(b)),
                                    AtomTest::Differs(b) => format!("!={}", String::from_utf8_lossy(b)),
                                })
                                .collect();
                            if t.len() > 4 {
                                let n = t.len();
                                t.truncate(3);
                                t.push(format!("…{n} in all"));
                            }
                            format!("{} {}", a.field.display_name(), t.join(" "))
                        })
                        .collect();
                    format!("any of: {}", atoms.join(" | "))
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

impl Node {
    /// The value of this node decided from the event type alone, if it is.
    fn decided(&self, code: u16) -> Option<bool> {
        match self {
            Node::Check(c) => c.decided(code),
            Node::Memo(_, n) => n.decided(code),
            Node::Not(n) => n.decided(code).map(|b| !b),
            Node::And(cs) => {
                let mut all = true;
                for c in cs.iter() {
                    match c.decided(code) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => all = false,
                    }
                }
                all.then_some(true)
            }
            Node::Or(cs) => {
                let mut none = true;
                for c in cs.iter() {
                    match c.decided(code) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => none = false,
                    }
                }
                none.then_some(false)
            }
        }
    }

    fn guard(&self, code: u16) -> Guard {
        match self {
            Node::Memo(_, n) => n.guard(code),
            Node::Check(c) => match c.decided(code) {
                Some(true) => Guard::All(Vec::new()),
                Some(false) => Guard::Never,
                None => Guard::All(c.atom().map(|a| vec![vec![a]]).unwrap_or_default()),
            },
            Node::Not(n) => match n.decided(code) {
                Some(true) => Guard::Never,
                _ => Guard::All(Vec::new()),
            },
            Node::And(cs) => {
                let mut clauses = Vec::new();
                for c in cs.iter() {
                    match c.guard(code) {
                        Guard::Never => return Guard::Never,
                        Guard::All(cl) => clauses.extend(cl),
                    }
                }
                if clauses.len() > 2 * MAX_CLAUSES {
                    clauses.sort_by_key(|c| std::cmp::Reverse(clause_rank(c)));
                    clauses.truncate(2 * MAX_CLAUSES);
                }
                Guard::All(clauses)
            }
            Node::Or(cs) => {
                let mut joined: Clause = Vec::new();
                let mut possible = false;
                for c in cs.iter() {
                    match c.guard(code) {
                        Guard::Never => {}
                        Guard::All(cl) => {
                            possible = true;
                            // the most selective clause of the branch stands for it
                            match cl.into_iter().max_by_key(clause_score) {
                                Some(best) => joined.extend(best),
                                // a branch without a bound: the `or` has none
                                None => return Guard::All(Vec::new()),
                            }
                        }
                    }
                }
                if possible {
                    Guard::All(vec![joined])
                } else {
                    Guard::Never
                }
            }
        }
    }
}

impl Check {
    fn decided(&self, code: u16) -> Option<bool> {
        let codes = self.codes.as_ref()?;
        if !self.evttype || is_generic_code(code) {
            return None;
        }
        Some(codes.events.contains(code) != self.negate)
    }

    /// What this check implies about its field, if it is a positive string test of a plain
    /// field with any-value semantics (the cases where "the check holds" equals "some value
    /// of the field passes one of the tests").
    fn atom(&self) -> Option<Atom> {
        if !self.fast || self.all || self.evttype {
            return None;
        }
        let Operand::Field(f) = &self.lhs else { return None };
        if f.arg != FieldArg::None || !CHEAP_FIELDS.contains(&f.id) {
            return None;
        }
        if self.negate {
            // `!=`: some value differs (an absent field fails `!=` too)
            return match &self.pred {
                Pred::StrEq(s) => Some(Atom {
                    field: f.clone(),
                    slot: self.slot,
                    tests: vec![AtomTest::Differs(s.clone())],
                }),
                _ => None,
            };
        }
        let tests: Vec<AtomTest> = match &self.pred {
            Pred::StrEq(s) => vec![AtomTest::Exact(s.clone())],
            Pred::StartsWith(s) => vec![AtomTest::Prefix(s.clone())],
            Pred::EndsWith(s) => vec![AtomTest::Suffix(s.clone())],
            Pred::Contains(f) => vec![AtomTest::Contains(f.needle().into())],
            Pred::StrSet(s) => s.items().iter().map(|i| AtomTest::Exact(i.clone())).collect(),
            // every value a path set matches starts with one of its (trimmed) paths
            Pred::PMatch(p) => p.paths().iter().map(|i| AtomTest::Prefix(i.clone())).collect(),
            Pred::Glob(g) => vec![AtomTest::Prefix(g.literal_head()?.into())],
            _ => return None,
        };
        // an empty prefix (or an empty set) says nothing useful / cannot be represented
        if tests.is_empty() || tests.iter().any(|t| !matches!(t, AtomTest::Exact(_)) && t.bytes().is_empty())
        {
            return None;
        }
        Some(Atom { field: f.clone(), slot: self.slot, tests })
    }
}
