//! The screen: per event type, the string-field tests that the candidate rules' guards
//! ([`crate::compile::Guard`]) need, evaluated once per event for all of them, so that a rule
//! whose guard fails is skipped without walking its condition.
//!
//! Each field the guards test gets a byte trie of their strings: one walk along the field's
//! value marks every clause with an exact string equal to the value or a prefix of it (a second
//! trie, of reversed suffixes, walks the value backwards; substrings are searched one by one, and
//! a value is compared with each string a `!=` test needs it to differ from). A rule is
//! then evaluated only when each of its clauses is marked. Guards are necessary conditions
//! derived from the checks the rule would evaluate on the same values, so skipping never changes
//! which rules match (tested against evaluation without screens in this crate's `tests/cache.rs`
//! and on the reference captures in `harrier-pipeline`'s `tests/screen.rs`).

use std::collections::HashMap;

use crate::compile::{AtomTest, Clause, Guard, Scratch, NO_SLOT};
use crate::values::{BoundField, EventAccessor, Value};

/// What a candidate rule needs from the screen.
#[derive(Debug)]
enum RuleGuard {
    /// Nothing: always evaluated.
    Always,
    /// Cannot match events of this type.
    Never,
    /// These clauses must all be marked.
    Clauses(Box<[u32]>),
}

#[derive(Debug, Default)]
struct TrieNode {
    kids: Vec<(u8, u32)>,
    /// Clauses holding for values that start with the bytes leading here.
    prefix: Vec<u32>,
    /// Clauses holding for values equal to the bytes leading here.
    exact: Vec<u32>,
}

/// Strings of one kind of test: a byte trie, built as [`TrieNode`]s and then laid out flat
/// ([`Trie::freeze`]): a screen's tries hold every string its rules test (long name lists among
/// them), so a node is 20 bytes and its edges and clauses live in shared arrays.
#[derive(Debug, Default)]
struct Trie {
    /// While building; empty once frozen.
    nodes: Vec<TrieNode>,
    flat: Vec<Flat>,
    edges: Vec<(u8, u32)>,
    /// Per node: its prefix clauses, then its exact clauses.
    lists: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Flat {
    kids: u32,
    nkids: u32,
    list: u32,
    nprefix: u32,
    nexact: u32,
}

/// The tests of one field.
#[derive(Debug)]
struct FieldTrie {
    field: BoundField,
    slot: u32,
    /// Exact strings and prefixes.
    fwd: Trie,
    /// Suffixes, reversed.
    rev: Trie,
    /// Substrings, each with its clauses.
    contains: Vec<(Box<[u8]>, Vec<u32>)>,
    /// Strings a value must differ from, each with its clauses.
    differs: Vec<(Box<[u8]>, Vec<u32>)>,
    /// A searcher per substring of `contains`, made by [`FieldTrie::seal`] (on these short
    /// values, prebuilt searchers one by one beat one automaton over all of them).
    finders: Vec<memchr::memmem::Finder<'static>>,
}

#[inline]
fn mark(marks: &mut [u64], clauses: &[u32]) {
    for &c in clauses {
        if let Some(w) = marks.get_mut(c as usize / 64) {
            *w |= 1 << (c % 64);
        }
    }
}

impl Trie {
    fn new() -> Trie {
        Trie { nodes: vec![TrieNode::default()], ..Trie::default() }
    }

    /// The node for `bytes`, made if missing.
    fn node(&mut self, bytes: impl Iterator<Item = u8>) -> &mut TrieNode {
        let mut n = 0usize;
        for b in bytes {
            n = match self.nodes[n].kids.iter().find(|k| k.0 == b) {
                Some(&(_, next)) => next as usize,
                None => {
                    let next = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    self.nodes[n].kids.push((b, next as u32));
                    next
                }
            };
        }
        &mut self.nodes[n]
    }

    /// Lay the built nodes out flat (node ids stay the same).
    fn freeze(&mut self) {
        let nodes = std::mem::take(&mut self.nodes);
        self.flat = Vec::with_capacity(nodes.len());
        for n in &nodes {
            // u32 throughout: clause ids are u32 already, and a list is never cut (a clause left
            // unmarked would skip a rule that may match)
            self.flat.push(Flat {
                kids: self.edges.len() as u32,
                nkids: n.kids.len() as u32,
                list: self.lists.len() as u32,
                nprefix: n.prefix.len() as u32,
                nexact: n.exact.len() as u32,
            });
            self.edges.extend_from_slice(&n.kids);
            self.lists.extend_from_slice(&n.prefix);
            self.lists.extend_from_slice(&n.exact);
        }
    }

    fn is_empty(&self) -> bool {
        self.flat.len() <= 1 && self.lists.is_empty()
    }

    /// Mark the clauses of the prefixes of `v` (bytes in walking order), and with `exact` those
    /// of `v` itself.
    fn walk(&self, v: impl Iterator<Item = u8>, exact: bool, marks: &mut [u64]) {
        let list = |at: u32, n: u32| self.lists.get(at as usize..at as usize + n as usize).unwrap_or(&[]);
        let mut n = 0usize;
        for b in v {
            let Some(&node) = self.flat.get(n) else { return };
            mark(marks, list(node.list, node.nprefix));
            let kids = self.edges.get(node.kids as usize..(node.kids + node.nkids) as usize).unwrap_or(&[]);
            match kids.iter().find(|k| k.0 == b) {
                Some(&(_, next)) => n = next as usize,
                None => return,
            }
        }
        let Some(&node) = self.flat.get(n) else { return };
        mark(marks, list(node.list, node.nprefix));
        if exact {
            mark(marks, list(node.list + node.nprefix, node.nexact));
        }
    }
}

fn add(list: &mut Vec<u32>, clause: u32) {
    if !list.contains(&clause) {
        list.push(clause);
    }
}

/// Add `clause` to the clauses of string `b` in `list`.
fn keyed(list: &mut Vec<(Box<[u8]>, Vec<u32>)>, b: &[u8], clause: u32) {
    match list.iter_mut().find(|(n, _)| &n[..] == b) {
        Some((_, cs)) => add(cs, clause),
        None => list.push((b.into(), vec![clause])),
    }
}

impl FieldTrie {
    fn new(field: BoundField, slot: u32) -> FieldTrie {
        FieldTrie {
            field,
            slot,
            fwd: Trie::new(),
            rev: Trie::new(),
            contains: Vec::new(),
            differs: Vec::new(),
            finders: Vec::new(),
        }
    }

    fn insert(&mut self, test: &AtomTest, clause: u32) {
        match test {
            AtomTest::Exact(b) => add(&mut self.fwd.node(b.iter().copied()).exact, clause),
            AtomTest::Prefix(b) => add(&mut self.fwd.node(b.iter().copied()).prefix, clause),
            AtomTest::Suffix(b) => add(&mut self.rev.node(b.iter().rev().copied()).prefix, clause),
            AtomTest::Contains(b) => keyed(&mut self.contains, b, clause),
            AtomTest::Differs(b) => keyed(&mut self.differs, b, clause),
        }
    }

    /// Freeze the tries and make the substring searchers once every test is in.
    fn seal(&mut self) {
        self.fwd.freeze();
        self.rev.freeze();
        self.finders =
            self.contains.iter().map(|(n, _)| memchr::memmem::Finder::new(n).into_owned()).collect();
    }

    /// Mark the clauses `v` satisfies.
    fn walk(&self, v: &[u8], marks: &mut [u64]) {
        self.fwd.walk(v.iter().copied(), true, marks);
        if !self.rev.is_empty() {
            self.rev.walk(v.iter().rev().copied(), false, marks);
        }
        for (f, (_, cs)) in self.finders.iter().zip(&self.contains) {
            if f.find(v).is_some() {
                mark(marks, cs);
            }
        }
        for (s, cs) in &self.differs {
            if &s[..] != v {
                mark(marks, cs);
            }
        }
    }
}

/// The screen of one event type's candidate rules.
#[derive(Debug)]
pub(crate) struct Screen {
    fields: Vec<FieldTrie>,
    /// Words of marks (64 clauses each).
    words: usize,
    /// Per candidate rule, in candidate order.
    rules: Box<[RuleGuard]>,
}

impl Screen {
    /// The screen for candidates whose guards are `guards` (in candidate order); `None` when no
    /// guard bounds anything.
    pub(crate) fn build(guards: Vec<Guard>) -> Option<Screen> {
        if guards.iter().all(|g| matches!(g, Guard::All(c) if c.is_empty())) {
            return None;
        }
        let mut fields: Vec<FieldTrie> = Vec::new();
        let mut ids: HashMap<Vec<(usize, AtomTest)>, u32> = HashMap::new();
        let mut rules = Vec::with_capacity(guards.len());
        for g in guards {
            let clauses = match g {
                Guard::Never => {
                    rules.push(RuleGuard::Never);
                    continue;
                }
                Guard::All(c) if c.is_empty() => {
                    rules.push(RuleGuard::Always);
                    continue;
                }
                Guard::All(c) => c,
            };
            let mut mine = Vec::with_capacity(clauses.len());
            for clause in clauses {
                let key = clause_key(&clause, &mut fields);
                let next = ids.len() as u32;
                let id = *ids.entry(key.clone()).or_insert(next);
                if id == next {
                    for (fi, test) in &key {
                        fields[*fi].insert(test, id);
                    }
                }
                if !mine.contains(&id) {
                    mine.push(id);
                }
            }
            rules.push(RuleGuard::Clauses(mine.into()));
        }
        fields.iter_mut().for_each(FieldTrie::seal);
        Some(Screen { fields, words: ids.len().div_ceil(64), rules: rules.into() })
    }

    /// Mark in `scratch` the clauses the event satisfies (the event begun on `scratch`); with
    /// `cached`, field values go through (and stay in) the ruleset's cache slots.
    pub(crate) fn mark<E: EventAccessor + ?Sized>(&self, ev: &E, scratch: &mut Scratch, cached: bool) {
        let mut marks = std::mem::take(&mut scratch.marks);
        marks.clear();
        marks.resize(self.words, 0);
        for f in &self.fields {
            scratch.field_values(ev, &f.field, if cached { f.slot } else { NO_SLOT }, |v| {
                if let Value::Str(b) | Value::Bytes(b) = v {
                    f.walk(b, &mut marks);
                }
            });
        }
        scratch.marks = marks;
    }

    /// Whether candidate `pos` may match, given the marks of [`Screen::mark`].
    #[inline]
    pub(crate) fn passes(&self, pos: usize, marks: &[u64]) -> bool {
        match self.rules.get(pos) {
            Some(RuleGuard::Clauses(cs)) => {
                cs.iter().all(|&c| marks.get(c as usize / 64).is_some_and(|w| w & (1 << (c % 64)) != 0))
            }
            Some(RuleGuard::Never) => false,
            Some(RuleGuard::Always) | None => true,
        }
    }

    /// Number of candidates the screen may skip (with a guard).
    pub(crate) fn guarded(&self) -> usize {
        self.rules.iter().filter(|r| !matches!(r, RuleGuard::Always)).count()
    }
}

/// A clause as (field index, test) pairs, sorted: equal clauses get one id.
fn clause_key(clause: &Clause, fields: &mut Vec<FieldTrie>) -> Vec<(usize, AtomTest)> {
    let mut key = Vec::new();
    for atom in clause {
        let fi = match fields.iter().position(|f| f.field == atom.field) {
            Some(i) => i,
            None => {
                fields.push(FieldTrie::new(atom.field.clone(), atom.slot));
                fields.len() - 1
            }
        };
        key.extend(atom.tests.iter().map(|t| (fi, t.clone())));
    }
    key.sort();
    key.dedup();
    key
}
