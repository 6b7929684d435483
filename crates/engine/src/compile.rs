//! The condition compiler: a resolved [`harrier_condition::Expr`] becomes a typed predicate tree
//! ([`Filter`]) for one source, with operator/type checking and right-hand values parsed per type.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::IpAddr;

use base64::Engine as _;
use harrier_condition::{self as ast, Expr, Modifier, Op, Pos, Rhs, TArg, TransformerKind};
use memchr::memmem;

use crate::fields::{self, flags, ArgKind, FieldType, Source};
use crate::glob::Glob;
use crate::sets::{bytes_eq, ends_with, starts_with, NumSet, PathSet, StrSet};
use crate::values::{BoundField, EventAccessor, FieldArg, One, Value, Values};

mod guard;
pub(crate) use guard::{AtomTest, Clause, Guard};

/// A compile error: where in the condition, and what is wrong / expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub pos: Pos,
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at line {} column {})", self.message, self.pos.line, self.pos.col)
    }
}

impl std::error::Error for CompileError {}

fn err<T>(pos: Pos, message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError { pos, message: message.into() })
}

/// Scratch buffers for evaluation (one per nesting level of transformers / `val()`), and the
/// per-event cache of extracted field values.
#[derive(Debug, Default)]
pub struct Scratch {
    stack: Vec<Values>,
    cache: FieldCache,
    /// Clauses of the event's screen that hold (bit per clause, see [`crate::screen`]).
    pub(crate) marks: Vec<u64>,
}

/// Values of the fields several rules of a [`crate::Ruleset`] test, extracted once per event.
///
/// Slots are dense indices assigned to distinct fields when the ruleset is compiled. A slot is
/// valid for the current event when its generation equals the cache's: starting a new event is
/// one increment, whatever the number of slots.
#[derive(Debug, Default)]
pub(crate) struct FieldCache {
    gen: u64,
    slots: Vec<CacheSlot>,
    /// Results of the condition parts several rules share (see [`Node::Memo`]), valid when their
    /// generation equals `gen`.
    memo: Vec<MemoSlot>,
}

#[derive(Debug, Default, Clone, Copy)]
struct MemoSlot {
    gen: u64,
    hit: bool,
}

#[derive(Debug, Default)]
struct CacheSlot {
    gen: u64,
    present: bool,
    vals: Values,
}

impl CacheSlot {
    /// Extract `f` into the slot unless it already holds the event's (generation `gen`) values.
    #[inline]
    fn fill<E: EventAccessor + ?Sized>(&mut self, gen: u64, ev: &E, f: &BoundField) {
        if self.gen != gen {
            self.vals.clear();
            self.present = match ev.extract_one(f) {
                One::Value(v) => {
                    self.vals.push(v);
                    true
                }
                One::Absent => false,
                One::Fallback => ev.extract(f, &mut self.vals),
            };
            self.gen = gen;
        }
    }
}

impl FieldCache {
    /// Start a new event: every slot and memo becomes stale; make sure `n` field slots and
    /// `memos` memo slots exist.
    #[inline]
    pub(crate) fn begin(&mut self, n: usize, memos: usize) {
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            // wrapped (never in practice): stale generations could look current again
            for s in self.slots.iter_mut() {
                s.gen = 0;
            }
            for m in self.memo.iter_mut() {
                m.gen = 0;
            }
            self.gen = 1;
        }
        if self.slots.len() < n {
            self.slots.resize_with(n, CacheSlot::default);
        }
        if self.memo.len() < memos {
            self.memo.resize(memos, MemoSlot::default());
        }
    }
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch { stack: Vec::new(), cache: FieldCache::default(), marks: Vec::new() }
    }
    /// Call `visit` with each value of `f` on the current event (begun with at least one
    /// buffer), through cache slot `slot` when it is one ([`NO_SLOT`]: extracted here).
    pub(crate) fn field_values<E: EventAccessor + ?Sized>(
        &mut self,
        ev: &E,
        f: &BoundField,
        slot: u32,
        mut visit: impl FnMut(Value<'_>),
    ) {
        let gen = self.cache.gen;
        if let Some(s) = self.cache.slots.get_mut(slot as usize) {
            s.fill(gen, ev, f);
            if s.present {
                s.vals.iter().for_each(visit);
            }
            return;
        }
        match ev.extract_one(f) {
            One::Value(v) => visit(v),
            One::Absent => {}
            One::Fallback => {
                let Some(vals) = self.stack.first_mut() else { return };
                vals.clear();
                if ev.extract(f, vals) {
                    vals.iter().for_each(visit);
                }
            }
        }
    }
    /// Make sure `depth` buffers exist (allocates only when growing).
    #[inline]
    pub fn ensure(&mut self, depth: usize) {
        if self.stack.len() < depth {
            self.grow(depth);
        }
    }
    #[cold]
    fn grow(&mut self, depth: usize) {
        while self.stack.len() < depth {
            self.stack.push(Values::new());
        }
    }
    /// Start evaluating a new event with a filter set needing `depth` buffers, `slots` field
    /// cache slots and `memos` memo slots.
    #[inline]
    pub(crate) fn begin(&mut self, depth: usize, slots: usize, memos: usize) {
        self.ensure(depth);
        self.cache.begin(slots, memos);
    }
}

/// No cache slot (the field is extracted at each check).
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// A compiled condition.
#[derive(Debug)]
pub struct Filter {
    root: Node,
    depth: usize,
    /// Number of leading children of a root `and` that are evt.type checks implied by the index.
    implied: usize,
    /// Cache slots the checks refer to (0 when none: compiled outside a ruleset).
    slots: usize,
    /// Memo slots its [`Node::Memo`] nodes refer to (0 when none).
    memos: usize,
}

impl Filter {
    /// Number of scratch buffers evaluation needs.
    pub fn depth(&self) -> usize {
        self.depth
    }
    /// Evaluate against one event.
    #[inline]
    pub fn eval<E: EventAccessor + ?Sized>(&self, ev: &E, scratch: &mut Scratch) -> bool {
        scratch.begin(self.depth, self.slots, self.memos);
        self.root.eval(ev, &mut scratch.stack, &mut scratch.cache)
    }

    /// Evaluate an event that the evt.type index already routed to this rule: top-level
    /// `evt.type = X` / `evt.type in (...)` checks (over known event names) are implied by the
    /// index and skipped.
    #[inline]
    pub fn eval_indexed<E: EventAccessor + ?Sized>(&self, ev: &E, scratch: &mut Scratch) -> bool {
        scratch.begin(self.depth, self.slots, self.memos);
        self.eval_in_event(ev, scratch, true)
    }

    /// Evaluate within an event already begun ([`Scratch::begin`]): cached field values are
    /// shared with the other filters evaluated on this event.
    #[inline]
    pub(crate) fn eval_in_event<E: EventAccessor + ?Sized>(
        &self,
        ev: &E,
        scratch: &mut Scratch,
        indexed: bool,
    ) -> bool {
        let Scratch { stack, cache, .. } = scratch;
        if !indexed {
            return self.root.eval(ev, stack, cache);
        }
        match &self.root {
            Node::And(cs) => {
                cs.get(self.implied..).unwrap_or(&[]).iter().all(|c| c.eval_child(ev, stack, cache))
            }
            Node::Check(k) if k.evttype => true,
            other => other.eval(ev, stack, cache),
        }
    }

    /// Evaluate without the field cache: every check extracts its field.
    pub(crate) fn eval_uncached<E: EventAccessor + ?Sized>(
        &self,
        ev: &E,
        scratch: &mut Scratch,
        indexed: bool,
    ) -> bool {
        scratch.ensure(self.depth);
        let mut none = Scratch {
            stack: std::mem::take(&mut scratch.stack),
            cache: FieldCache::default(),
            marks: Vec::new(),
        };
        let hit = self.eval_in_event(ev, &mut none, indexed);
        scratch.stack = none.stack;
        hit
    }

    /// The compiled condition in evaluation order, one node per line, indented by depth (for
    /// benchmarks and debugging: which checks a rule evaluates first).
    pub fn outline(&self) -> String {
        let mut out = String::new();
        self.root.outline(0, &mut out);
        out
    }

    /// Visit every check whose left side is a plain field, with its cache slot.
    pub(crate) fn for_each_field_slot(&mut self, f: &mut impl FnMut(&BoundField, &mut u32)) {
        self.root.for_each_field_slot(f);
    }

    pub(crate) fn set_slots(&mut self, n: usize) {
        self.slots = n;
    }

    /// Structural keys of the parts of this condition that may be shared with other rules
    /// (see [`Node::share_keys`]).
    pub(crate) fn share_keys(&self, out: &mut Vec<u128>) {
        self.root.share_keys(true, out);
    }

    /// Memoize the parts whose key `ids` maps to a memo slot; `memos` is the number of slots.
    pub(crate) fn set_memos(&mut self, ids: &HashMap<u128, u32>, memos: usize) {
        let root = std::mem::replace(&mut self.root, Node::And(Box::default()));
        self.root = root.memoize(true, ids).0;
        self.memos = memos;
    }
}

#[derive(Debug)]
enum Node {
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Check(Box<Check>),
    /// A part several rules of a ruleset share (a macro's checks, a common exception…):
    /// evaluated once per event, its result kept in memo slot `.0` for the other rules.
    Memo(u32, Box<Node>),
}

impl Node {
    fn eval<E: EventAccessor + ?Sized>(&self, ev: &E, stack: &mut [Values], cache: &mut FieldCache) -> bool {
        match self {
            Node::And(cs) => cs.iter().all(|c| c.eval_child(ev, stack, cache)),
            Node::Or(cs) => cs.iter().any(|c| c.eval_child(ev, stack, cache)),
            Node::Not(c) => !c.eval_child(ev, stack, cache),
            Node::Check(c) => c.eval(ev, stack, cache),
            Node::Memo(id, inner) => {
                let gen = cache.gen;
                if let Some(m) = cache.memo.get(*id as usize) {
                    if m.gen == gen {
                        return m.hit;
                    }
                } else {
                    // evaluated without memo slots (uncached evaluation)
                    return inner.eval(ev, stack, cache);
                }
                let hit = inner.eval(ev, stack, cache);
                if let Some(m) = cache.memo.get_mut(*id as usize) {
                    *m = MemoSlot { gen, hit };
                }
                hit
            }
        }
    }

    /// Structural key: equal keys mean the same test (checks compare by everything they hold,
    /// including their cache slot, which is the same for the same field across a ruleset).
    /// Memo wrappers are transparent. A group's key is made from its children's keys, so the
    /// passes below compute every key once, bottom-up.
    fn key(&self) -> u128 {
        match self {
            Node::And(cs) | Node::Or(cs) => {
                let keys: Vec<u128> = cs.iter().map(Node::key).collect();
                self.group_key(&keys)
            }
            Node::Not(c) => self.group_key(&[c.key()]),
            Node::Memo(_, inner) => inner.key(),
            Node::Check(c) => check_key(c),
        }
    }

    /// The key of this and/or/not node given its children's keys.
    fn group_key(&self, child_keys: &[u128]) -> u128 {
        use std::hash::Hash;
        let mut h = KeyHasher::default();
        let kind: u8 = match self {
            Node::Or(_) => 1,
            Node::And(_) => 2,
            _ => 3,
        };
        kind.hash(&mut h);
        child_keys.len().hash(&mut h);
        for k in child_keys {
            k.hash(&mut h);
        }
        h.finish128()
    }

    /// Push the key of every node worth sharing (all but the evt.type checks the index implies
    /// and the root group); returns this node's key.
    fn share_keys(&self, root: bool, out: &mut Vec<u128>) -> u128 {
        let key = match self {
            Node::Check(c) if c.evttype => return check_key(c),
            Node::And(cs) | Node::Or(cs) => {
                let keys: Vec<u128> = cs.iter().map(|c| c.share_keys(false, out)).collect();
                let k = self.group_key(&keys);
                if root {
                    return k;
                }
                k
            }
            Node::Not(c) => {
                let k = c.share_keys(false, out);
                self.group_key(&[k])
            }
            Node::Memo(_, inner) => return inner.share_keys(root, out),
            Node::Check(c) => check_key(c),
        };
        out.push(key);
        key
    }

    /// Wrap the nodes whose key has a memo slot (see [`Node::share_keys`] for which count);
    /// returns the node and its key.
    fn memoize(self, root: bool, ids: &HashMap<u128, u32>) -> (Node, u128) {
        let (node, key, eligible) = match self {
            Node::Check(c) if c.evttype => {
                let k = check_key(&c);
                return (Node::Check(c), k);
            }
            Node::Memo(..) => {
                let k = self.key();
                return (self, k);
            }
            Node::And(cs) => {
                let (cs, keys): (Vec<Node>, Vec<u128>) =
                    cs.into_vec().into_iter().map(|c| c.memoize(false, ids)).unzip();
                let n = Node::And(cs.into());
                let k = n.group_key(&keys);
                (n, k, !root)
            }
            Node::Or(cs) => {
                let (cs, keys): (Vec<Node>, Vec<u128>) =
                    cs.into_vec().into_iter().map(|c| c.memoize(false, ids)).unzip();
                let n = Node::Or(cs.into());
                let k = n.group_key(&keys);
                (n, k, !root)
            }
            Node::Not(c) => {
                let (c, ck) = c.memoize(false, ids);
                let n = Node::Not(Box::new(c));
                let k = n.group_key(&[ck]);
                (n, k, true)
            }
            Node::Check(c) => {
                let k = check_key(&c);
                (Node::Check(c), k, true)
            }
        };
        match ids.get(&key).filter(|_| eligible) {
            Some(&id) => (Node::Memo(id, Box::new(node)), key),
            None => (node, key),
        }
    }
    /// A child of and/or/not: checks are evaluated in the parent's loop, groups recurse.
    #[inline(always)]
    fn eval_child<E: EventAccessor + ?Sized>(
        &self,
        ev: &E,
        stack: &mut [Values],
        cache: &mut FieldCache,
    ) -> bool {
        match self {
            Node::Check(c) => c.eval(ev, stack, cache),
            group => group.eval(ev, stack, cache),
        }
    }
    fn outline(&self, depth: usize, out: &mut String) {
        use std::fmt::Write;
        let pad = "  ".repeat(depth);
        match self {
            Node::And(cs) | Node::Or(cs) => {
                let _ = writeln!(out, "{pad}{}", if matches!(self, Node::And(_)) { "and" } else { "or" });
                cs.iter().for_each(|c| c.outline(depth + 1, out));
            }
            Node::Not(c) => {
                let _ = writeln!(out, "{pad}not");
                c.outline(depth + 1, out);
            }
            Node::Memo(id, c) => {
                let _ = writeln!(out, "{pad}memo {id}");
                c.outline(depth + 1, out);
            }
            Node::Check(c) => {
                let lhs = match &c.lhs {
                    Operand::Field(f) => f.info().name.to_string(),
                    Operand::Transform(_) => "<transform>".into(),
                };
                let mut pred = format!("{:?}", c.pred);
                pred.truncate(60);
                let _ = writeln!(
                    out,
                    "{pad}{lhs}{} {pred} slot={} cost={}",
                    if c.negate { " NOT" } else { "" },
                    c.slot as i64,
                    c.cost()
                );
            }
        }
    }
    fn depth(&self) -> usize {
        match self {
            Node::And(cs) | Node::Or(cs) => cs.iter().map(Node::depth).max().unwrap_or(0),
            Node::Not(c) | Node::Memo(_, c) => c.depth(),
            Node::Check(c) => c.depth(),
        }
    }
    fn for_each_field_slot(&mut self, f: &mut impl FnMut(&BoundField, &mut u32)) {
        match self {
            Node::And(cs) | Node::Or(cs) => cs.iter_mut().for_each(|c| c.for_each_field_slot(f)),
            Node::Not(c) | Node::Memo(_, c) => c.for_each_field_slot(f),
            Node::Check(c) => {
                if let Operand::Field(bf) = &c.lhs {
                    f(bf, &mut c.slot);
                }
            }
        }
    }
    /// Evaluation order key inside `and`/`or`: (class, estimated cost). Classes: evt.type checks
    /// implied by the index (0), positive checks (1), nested groups (2), negations (3), which
    /// rarely decide an `and` (they are mostly exceptions that hold).
    fn order_key(&self) -> (u8, u32) {
        match self {
            Node::Check(c) if c.evttype => (0, 0),
            Node::Check(c) if c.negate => (3, c.cost()),
            Node::Check(c) => (1, c.cost()),
            Node::And(_) | Node::Or(_) => (2, self.cost()),
            Node::Not(_) => (3, self.cost()),
            Node::Memo(_, inner) => inner.order_key(),
        }
    }
    fn cost(&self) -> u32 {
        match self {
            Node::And(cs) | Node::Or(cs) => cs.iter().fold(0u32, |a, c| a.saturating_add(c.cost())),
            Node::Not(c) | Node::Memo(_, c) => c.cost(),
            Node::Check(c) => c.cost(),
        }
    }
}

/// The structural key of a check: everything it holds (see [`Node::key`]).
fn check_key(c: &Check) -> u128 {
    use std::fmt::Write;
    use std::hash::Hash;
    let mut h = KeyHasher::default();
    4u8.hash(&mut h);
    let _ = write!(h, "{c:?}");
    h.finish128()
}

/// Two independent 64-bit FNV-1a style streams: a 128-bit structural key (collisions between
/// the few thousand nodes of a ruleset are not a practical concern at this width).
#[derive(Default)]
struct KeyHasher {
    a: u64,
    b: u64,
    started: bool,
}

impl KeyHasher {
    fn finish128(&self) -> u128 {
        ((self.a as u128) << 64) | self.b as u128
    }
}

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.a ^ self.b.rotate_left(32)
    }
    fn write(&mut self, bytes: &[u8]) {
        if !self.started {
            self.a = 0xcbf2_9ce4_8422_2325;
            self.b = 0x6c62_272e_07bb_0142;
            self.started = true;
        }
        for &x in bytes {
            self.a = (self.a ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3);
            self.b = (self.b ^ x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(23);
        }
    }
}

impl std::fmt::Write for KeyHasher {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        std::hash::Hasher::write(self, s.as_bytes());
        Ok(())
    }
}

/// Type of an operand after transformers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperandType {
    pub ty: FieldType,
    pub list: bool,
}

/// Left side (or `val()`/transformer right side) of a check.
#[derive(Debug)]
pub(crate) enum Operand {
    Field(BoundField),
    Transform(Box<Tf>),
}

#[derive(Debug)]
pub(crate) struct Tf {
    kind: TransformerKind,
    args: Vec<TfArg>,
    /// `join` separator.
    sep: Box<[u8]>,
    /// `getopt` option string and wanted option.
    optstring: Box<[u8]>,
    opt: u8,
    /// Input is a list field (for `len`).
    list_input: bool,
}

#[derive(Debug)]
enum TfArg {
    Operand(Operand),
    Lit(Box<[u8]>),
}

impl Operand {
    fn depth(&self) -> usize {
        match self {
            Operand::Field(_) => 0,
            Operand::Transform(t) => {
                1 + t
                    .args
                    .iter()
                    .map(|a| match a {
                        TfArg::Operand(o) => o.depth(),
                        TfArg::Lit(_) => 0,
                    })
                    .max()
                    .unwrap_or(0)
            }
        }
    }
}

/// Extract an operand's values into `out`; `stack` holds the buffers for nested transformers.
pub(crate) fn extract<E: EventAccessor + ?Sized>(
    op: &Operand,
    ev: &E,
    out: &mut Values,
    stack: &mut [Values],
) -> bool {
    match op {
        Operand::Field(f) => ev.extract(f, out),
        Operand::Transform(t) => {
            let Some((tmp, rest)) = stack.split_first_mut() else { return false };
            apply_transform(t, ev, out, tmp, rest)
        }
    }
}

fn apply_transform<E: EventAccessor + ?Sized>(
    t: &Tf,
    ev: &E,
    out: &mut Values,
    tmp: &mut Values,
    rest: &mut [Values],
) -> bool {
    match t.kind {
        TransformerKind::Join | TransformerKind::Concat => {
            let sep: &[u8] = if t.kind == TransformerKind::Join { &t.sep } else { &[] };
            let mut ok = true;
            out.push_str_with(|buf| {
                let mut first = true;
                for a in &t.args {
                    match a {
                        TfArg::Lit(l) => {
                            if !first {
                                buf.extend_from_slice(sep);
                            }
                            first = false;
                            buf.extend_from_slice(l);
                        }
                        TfArg::Operand(o) => {
                            tmp.clear();
                            if !extract(o, ev, tmp, rest) {
                                ok = false;
                                return;
                            }
                            for v in tmp.iter() {
                                if !first {
                                    buf.extend_from_slice(sep);
                                }
                                first = false;
                                render_value(v, buf);
                            }
                        }
                    }
                }
            });
            if !ok {
                out.pop();
            }
            ok
        }
        _ => {
            let Some(TfArg::Operand(input)) = t.args.first() else { return false };
            tmp.clear();
            if !extract(input, ev, tmp, rest) {
                return false;
            }
            match t.kind {
                TransformerKind::ToLower | TransformerKind::ToUpper => {
                    let upper = t.kind == TransformerKind::ToUpper;
                    for v in tmp.iter() {
                        if let Value::Str(s) | Value::Bytes(s) = v {
                            out.push_str_with(|buf| {
                                buf.extend(s.iter().map(|b| {
                                    if upper {
                                        b.to_ascii_uppercase()
                                    } else {
                                        b.to_ascii_lowercase()
                                    }
                                }))
                            });
                        }
                    }
                    true
                }
                TransformerKind::B64 => {
                    let eng = base64::engine::GeneralPurpose::new(
                        &base64::alphabet::STANDARD,
                        base64::engine::GeneralPurposeConfig::new()
                            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
                    );
                    let mut any = false;
                    for v in tmp.iter() {
                        let (s, is_str) = match v {
                            Value::Str(s) => (s, true),
                            Value::Bytes(s) => (s, false),
                            _ => continue,
                        };
                        let mut ok = true;
                        let write = |buf: &mut Vec<u8>| {
                            let start = buf.len();
                            if eng.decode_vec(s, buf).is_err() {
                                buf.truncate(start);
                                ok = false;
                            }
                        };
                        if is_str {
                            out.push_str_with(write);
                        } else {
                            out.push_bytes_with(write);
                        }
                        if ok {
                            any = true;
                        } else {
                            out.pop();
                        }
                    }
                    any
                }
                TransformerKind::Basename => {
                    for v in tmp.iter() {
                        if let Value::Str(s) | Value::Bytes(s) = v {
                            let base = match memchr::memrchr(b'/', s) {
                                Some(i) => &s[i + 1..],
                                None => s,
                            };
                            out.push_str_bytes(base);
                        }
                    }
                    true
                }
                TransformerKind::Len => {
                    if t.list_input {
                        out.push_uint(tmp.len() as u64);
                    } else {
                        for v in tmp.iter() {
                            match v {
                                Value::Str(s) | Value::Bytes(s) => out.push_uint(s.len() as u64),
                                _ => out.push_uint(1),
                            }
                        }
                    }
                    true
                }
                TransformerKind::Getopt => {
                    let mut found = false;
                    for v in tmp.iter() {
                        if let Value::Str(s) | Value::Bytes(s) = v {
                            if let Some(r) = getopt(s, &t.optstring, t.opt) {
                                out.push_str_bytes(r);
                                found = true;
                            }
                        }
                    }
                    found
                }
                TransformerKind::Join | TransformerKind::Concat => false,
            }
        }
    }
}

/// POSIX-style getopt over a blank-separated argument string: the argument of option `opt`
/// (empty for a flag), last occurrence wins; scanning stops at `--` or the first operand.
pub fn getopt<'a>(args: &'a [u8], optstring: &[u8], opt: u8) -> Option<&'a [u8]> {
    let toks: Vec<&[u8]> = args.split(|b| b.is_ascii_whitespace()).filter(|t| !t.is_empty()).collect();
    let mut res = None;
    let mut i = 0;
    while i < toks.len() {
        let tok = toks[i];
        if tok == b"--" || tok.len() < 2 || tok[0] != b'-' {
            break;
        }
        let chars = &tok[1..];
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            let Some(p) = optstring.iter().position(|&o| o == c && o != b':') else {
                j += 1;
                continue;
            };
            if optstring.get(p + 1) == Some(&b':') {
                let arg: Option<&[u8]> = if j + 1 < chars.len() {
                    Some(&chars[j + 1..])
                } else if i + 1 < toks.len() {
                    i += 1;
                    Some(toks[i])
                } else {
                    None
                };
                if c == opt {
                    res = arg.or(res);
                }
                break;
            }
            if c == opt {
                res = Some(&b""[..]);
            }
            j += 1;
        }
        i += 1;
    }
    res
}

/// Write a value as text (used by `join`/`concat` and output rendering).
pub fn render_value(v: Value<'_>, buf: &mut Vec<u8>) {
    match v {
        Value::Str(s) => buf.extend_from_slice(s),
        Value::Bytes(b) => buf.extend(b.iter().map(|&c| if (0x20..0x7f).contains(&c) { c } else { b'.' })),
        Value::Int(i) => {
            let _ = write!(buf, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(buf, "{u}");
        }
        Value::Bool(b) => buf.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Ip(ip) => {
            let _ = write!(buf, "{ip}");
        }
        Value::Net(ip, p) => {
            let _ = write!(buf, "{ip}/{p}");
        }
        Value::Double(d) => {
            let _ = write!(buf, "{d}");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ord4 {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Ord4 {
    fn from_op(op: Op) -> Option<Ord4> {
        Some(match op {
            Op::Lt => Ord4::Lt,
            Op::Le => Ord4::Le,
            Op::Gt => Ord4::Gt,
            Op::Ge => Ord4::Ge,
            _ => return None,
        })
    }
    #[inline]
    fn test(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Ord4::Lt => o == Less,
            Ord4::Le => o != Greater,
            Ord4::Gt => o == Greater,
            Ord4::Ge => o != Less,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum IpMatch {
    Addr(IpAddr),
    Net(IpAddr, u8),
}

impl IpMatch {
    fn test(&self, v: Value<'_>) -> bool {
        match (*self, v) {
            (IpMatch::Addr(a), Value::Ip(x)) => a == x,
            (IpMatch::Addr(a), Value::Net(x, _)) => a == x,
            (IpMatch::Net(n, p), Value::Ip(x)) => net_contains(n, p, x),
            (IpMatch::Net(n, p), Value::Net(x, q)) => q >= p && net_contains(n, p, x),
            _ => false,
        }
    }
}

fn net_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(x)) => {
            let p = prefix.min(32) as u32;
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            (u32::from(n) & mask) == (u32::from(x) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(x)) => {
            let p = prefix.min(128) as u32;
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            (u128::from(n) & mask) == (u128::from(x) & mask)
        }
        (IpAddr::V4(_), IpAddr::V6(x)) => match x.to_ipv4_mapped() {
            Some(x4) => net_contains(net, prefix, IpAddr::V4(x4)),
            None => false,
        },
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

/// A predicate on one extracted value.
#[derive(Debug)]
enum Pred {
    Exists,
    StrEq(Box<[u8]>),
    StrCmp(Ord4, Box<[u8]>),
    Contains(Box<memmem::Finder<'static>>),
    IContains(Box<[u8]>),
    StartsWith(Box<[u8]>),
    EndsWith(Box<[u8]>),
    Glob(Glob),
    Regex(regex::bytes::Regex),
    StrSet(StrSet),
    PMatch(PathSet),
    NumEq(i128),
    NumCmp(Ord4, i128),
    NumSet(NumSet),
    FloatEq(f64),
    FloatCmp(Ord4, f64),
    BoolEq(bool),
    BoolSet {
        t: bool,
        f: bool,
    },
    Ip(IpMatch),
    IpSet(Box<[IpMatch]>),
    /// `op modifier (v1, v2…)`: element predicates with their negation flag.
    Modifier(Modifier, Box<[(Pred, bool)]>),
    /// Right side computed from the event (`val()` or a transformer).
    Dynamic(Op, Operand),
}

#[inline]
fn as_bytes(v: Value<'_>) -> Option<&[u8]> {
    match v {
        Value::Str(s) | Value::Bytes(s) => Some(s),
        _ => None,
    }
}

#[inline]
fn num_cmp(v: Value<'_>, n: i128) -> Option<std::cmp::Ordering> {
    match v {
        Value::Int(i) => Some((i as i128).cmp(&n)),
        Value::Uint(u) => Some((u as i128).cmp(&n)),
        Value::Double(d) => double_cmp(d, n),
        Value::Bool(b) => Some((b as i128).cmp(&n)),
        _ => None,
    }
}

/// Kept out of line: LLVM otherwise hoists the i128 -> f64 conversion (a library call) above the
/// match, paying it on every integer comparison (about 4% of a filtered replay).
#[cold]
#[inline(never)]
fn double_cmp(d: f64, n: i128) -> Option<std::cmp::Ordering> {
    d.partial_cmp(&(n as f64))
}

fn float_of(v: Value<'_>) -> Option<f64> {
    match v {
        Value::Int(i) => Some(i as f64),
        Value::Uint(u) => Some(u as f64),
        Value::Double(d) => Some(d),
        _ => None,
    }
}

fn icontains(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > hay.len() {
        return false;
    }
    let first = needle[0];
    (0..=hay.len() - needle.len()).any(|i| {
        hay[i].to_ascii_lowercase() == first && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}

impl Pred {
    #[inline(always)]
    fn test(&self, v: Value<'_>) -> bool {
        match self {
            Pred::Exists => true,
            Pred::StrEq(s) => as_bytes(v).is_some_and(|x| bytes_eq(x, s)),
            Pred::StrCmp(o, s) => as_bytes(v).is_some_and(|x| o.test(x.cmp(s))),
            Pred::Contains(f) => as_bytes(v).is_some_and(|x| f.find(x).is_some()),
            Pred::IContains(n) => as_bytes(v).is_some_and(|x| icontains(x, n)),
            Pred::StartsWith(s) => as_bytes(v).is_some_and(|x| starts_with(x, s)),
            Pred::EndsWith(s) => as_bytes(v).is_some_and(|x| ends_with(x, s)),
            Pred::Glob(g) => as_bytes(v).is_some_and(|x| g.matches(x)),
            Pred::Regex(r) => as_bytes(v).is_some_and(|x| r.is_match(x)),
            Pred::StrSet(s) => as_bytes(v).is_some_and(|x| s.contains(x)),
            Pred::PMatch(p) => as_bytes(v).is_some_and(|x| p.matches(x)),
            Pred::NumEq(n) => num_cmp(v, *n) == Some(std::cmp::Ordering::Equal),
            Pred::NumCmp(o, n) => num_cmp(v, *n).is_some_and(|c| o.test(c)),
            Pred::NumSet(s) => match v {
                Value::Int(i) => s.contains(i as i128),
                Value::Uint(u) => s.contains(u as i128),
                Value::Double(d) => s.contains_f64(d),
                _ => false,
            },
            Pred::FloatEq(f) => float_of(v) == Some(*f),
            Pred::FloatCmp(o, f) => float_of(v).and_then(|x| x.partial_cmp(f)).is_some_and(|c| o.test(c)),
            Pred::BoolEq(b) => matches!(v, Value::Bool(x) if x == *b),
            Pred::BoolSet { t, f } => match v {
                Value::Bool(true) => *t,
                Value::Bool(false) => *f,
                _ => false,
            },
            Pred::Ip(m) => m.test(v),
            Pred::IpSet(ms) => ms.iter().any(|m| m.test(v)),
            Pred::Modifier(m, preds) => {
                let n = preds.iter().filter(|(p, neg)| p.test(v) != *neg).count();
                match m {
                    Modifier::AnyOf => n >= 1,
                    Modifier::AllOf => !preds.is_empty() && n == preds.len(),
                    Modifier::OneOf => n == 1,
                }
            }
            Pred::Dynamic(..) => false,
        }
    }
}

/// Compare two event values with an operator (for `val()` / transformer right sides).
fn dyn_test(op: Op, l: Value<'_>, r: Value<'_>) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (as_bytes(l), as_bytes(r)) {
        (Some(a), Some(b)) => match op {
            Op::Contains => return memmem::find(a, b).is_some(),
            Op::IContains => return icontains(a, b),
            Op::StartsWith => return a.starts_with(b),
            Op::EndsWith => return a.ends_with(b),
            _ => Some(a.cmp(b)),
        },
        (None, None) => match (l, r) {
            (Value::Ip(a), Value::Ip(b)) => {
                return matches!(op, Op::Eq | Op::Eq2 | Op::In | Op::Intersects) == (a == b)
            }
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(&b)),
            (Value::Double(_), _) | (_, Value::Double(_)) => match (float_of(l), float_of(r)) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => None,
            },
            _ => match (num_cmp(l, 0), num_cmp(r, 0)) {
                (Some(_), Some(_)) => {
                    let a = match l {
                        Value::Int(i) => i as i128,
                        Value::Uint(u) => u as i128,
                        Value::Bool(b) => b as i128,
                        _ => return false,
                    };
                    num_cmp(r, a).map(Ordering::reverse)
                }
                _ => None,
            },
        },
        _ => None,
    };
    let Some(o) = ord else { return false };
    match op {
        Op::Eq | Op::Eq2 | Op::In | Op::Intersects => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        _ => Ord4::from_op(op).is_some_and(|x| x.test(o)),
    }
}

/// A check. `repr(C)` keeps the fields every evaluation reads (slot, flags, type codes, the
/// predicate's tag and literal) in the first cache line: checks are boxed one by one, and a
/// second line per check was a measurable share of evaluation (cache misses on `pred`).
#[derive(Debug)]
#[repr(C)]
struct Check {
    /// Cache slot of the left-hand field ([`NO_SLOT`] when not cached).
    slot: u32,
    /// `!=`: each value's result is negated (absence stays false).
    negate: bool,
    /// List field with `in`: every value must match (otherwise any value).
    all: bool,
    /// A positive `evt.type = X` / `evt.type in (...)` check over known event names.
    evttype: bool,
    /// The borrowed single-value path applies (plain field, literal right side, any-semantics).
    fast: bool,
    /// For `evttype` checks: the event codes whose name is in the list, so that the check is a
    /// bit test on the event code instead of a string-set lookup of the name; generic events,
    /// whose name comes from their syscall code, test that code when the accessor gives it
    /// ([`EventAccessor::generic_syscall`]); sources without event codes take the string path.
    codes: Option<Box<crate::evttype::TypeCodes>>,
    pred: Pred,
    lhs: Operand,
}

impl Check {
    fn new(lhs: Operand, pred: Pred, negate: bool, all: bool, evttype: bool) -> Check {
        let fast = matches!(lhs, Operand::Field(_)) && !all && !matches!(pred, Pred::Dynamic(..));
        Check { lhs, pred, negate, all, evttype, fast, slot: NO_SLOT, codes: None }
    }

    /// Rough relative cost, to evaluate cheap checks first.
    fn cost(&self) -> u32 {
        let lhs = match &self.lhs {
            Operand::Field(f) => {
                let info = f.info();
                if info.is_list() || (f.arg == FieldArg::None && info.name.starts_with("proc.a")) {
                    4
                } else {
                    1
                }
            }
            Operand::Transform(_) => 20,
        };
        lhs + self.pred.cost()
    }
}

impl Pred {
    fn cost(&self) -> u32 {
        match self {
            Pred::Exists
            | Pred::NumEq(_)
            | Pred::NumCmp(..)
            | Pred::NumSet(_)
            | Pred::FloatEq(_)
            | Pred::FloatCmp(..)
            | Pred::BoolEq(_)
            | Pred::BoolSet { .. }
            | Pred::Ip(_) => 1,
            Pred::StrEq(_) | Pred::StartsWith(_) | Pred::EndsWith(_) | Pred::StrCmp(..) => 2,
            Pred::StrSet(_) | Pred::IpSet(_) => 3,
            Pred::PMatch(_) => 5,
            Pred::Contains(_) => 6,
            Pred::IContains(_) | Pred::Glob(_) => 8,
            Pred::Regex(_) => 15,
            Pred::Modifier(_, ps) => ps.iter().fold(0u32, |a, (p, _)| a.saturating_add(p.cost())),
            Pred::Dynamic(..) => 20,
        }
    }
}

impl Check {
    fn depth(&self) -> usize {
        let l = 1 + self.lhs.depth();
        match &self.pred {
            Pred::Dynamic(_, r) => l.max(2 + r.depth()),
            _ => l,
        }
    }

    #[inline(always)]
    fn eval<E: EventAccessor + ?Sized>(&self, ev: &E, stack: &mut [Values], cache: &mut FieldCache) -> bool {
        if let Some(codes) = &self.codes {
            if let Some(code) = ev.event_type() {
                if !is_generic_code(code) {
                    return codes.events.contains(code) != self.negate;
                }
                if let Some(sc) = ev.generic_syscall() {
                    return codes.generic_contains(sc) != self.negate;
                }
            }
        }
        // hot path: a field already extracted for this event by another check, one value
        if self.fast {
            if let Some(slot) = cache.slots.get(self.slot as usize) {
                if slot.gen == cache.gen {
                    if !slot.present {
                        return false;
                    }
                    if let Some(v) = slot.vals.only() {
                        return self.pred.test(v) != self.negate;
                    }
                }
            }
        }
        // hot path: a plain field tested once, borrowed without copying
        if self.fast && self.slot == NO_SLOT {
            if let Operand::Field(f) = &self.lhs {
                match ev.extract_one(f) {
                    One::Value(v) => return self.pred.test(v) != self.negate,
                    One::Absent => return false,
                    One::Fallback => {}
                }
            }
        }
        self.eval_other(ev, stack, cache)
    }

    /// Cached fields, the copying path, transformers and computed right sides.
    #[inline(never)]
    fn eval_other<E: EventAccessor + ?Sized>(
        &self,
        ev: &E,
        stack: &mut [Values],
        cache: &mut FieldCache,
    ) -> bool {
        if let Operand::Field(f) = &self.lhs {
            if let Some(slot) = cache.slots.get_mut(self.slot as usize) {
                slot.fill(cache.gen, ev, f);
                if !slot.present {
                    return false;
                }
                if self.fast && slot.vals.len() == 1 {
                    return slot.vals.get(0).is_some_and(|v| self.pred.test(v) != self.negate);
                }
                return self.test_values(&slot.vals, ev, stack);
            }
            if self.fast {
                match ev.extract_one(f) {
                    One::Fallback => {}
                    One::Absent => return false,
                    One::Value(v) => return self.pred.test(v) != self.negate,
                }
            }
        }
        let Some((vals, rest)) = stack.split_first_mut() else { return false };
        vals.clear();
        let present = match &self.lhs {
            Operand::Field(f) => ev.extract(f, vals),
            other => extract(other, ev, vals, rest),
        };
        present && self.test_values(vals, ev, rest)
    }

    /// The check over the extracted values of a present left side; `rest` holds the buffers
    /// for a computed right side.
    #[inline]
    fn test_values<E: EventAccessor + ?Sized>(&self, vals: &Values, ev: &E, rest: &mut [Values]) -> bool {
        match &self.pred {
            Pred::Exists => true,
            Pred::Dynamic(op, rhs) => {
                let Some((rv, rest2)) = rest.split_first_mut() else { return false };
                rv.clear();
                if !extract(rhs, ev, rv, rest2) || rv.is_empty() || vals.is_empty() {
                    return false;
                }
                let op = if *op == Op::Ne { Op::Eq } else { *op };
                let test = |l: Value<'_>| rv.iter().any(|r| dyn_test(op, l, r)) != self.negate;
                if self.all {
                    vals.iter().all(test)
                } else {
                    vals.iter().any(test)
                }
            }
            pred => {
                if vals.is_empty() {
                    return false;
                }
                if self.all {
                    vals.iter().all(|v| pred.test(v) != self.negate)
                } else {
                    vals.iter().any(|v| pred.test(v) != self.negate)
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------

/// Where a field is used (some fields are limited to filters or outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Filter,
    Output,
}

/// Resolve and bind a field reference for a source.
pub fn bind_field(
    source: Source,
    name: &str,
    arg: Option<&str>,
    pos: Pos,
    usage: Usage,
) -> Result<(BoundField, OperandType), CompileError> {
    let r = fields::resolve(source, name).map_err(|m| CompileError { pos, message: m })?;
    let info = r.info;
    if usage == Usage::Filter && info.has(flags::TABLE_ONLY) {
        return err(pos, format!("field {name} can only be used in outputs, not in conditions"));
    }
    if usage == Usage::Output && info.has(flags::FILTER_ONLY) {
        return err(pos, format!("field {name} can only be used in conditions, not in outputs"));
    }
    let arg: Option<String> = match (r.dotted_arg, arg) {
        (Some(_), Some(_)) => {
            return err(pos, format!("field {name} cannot take both a dotted and a bracket argument"))
        }
        (Some(d), None) => Some(d),
        (None, a) => a.map(str::to_string),
    };
    let fname = info.name;
    let parsed = match (info.arg, arg) {
        (ArgKind::None, None) => FieldArg::None,
        (ArgKind::None, Some(a)) => {
            return err(pos, format!("field {fname} does not take an argument (got '{a}')"));
        }
        (k, None) if k.required() => {
            return err(pos, format!("field {fname} requires an argument, e.g. {fname}[...]"));
        }
        (_, None) => FieldArg::None,
        (ArgKind::IndexRequired | ArgKind::IndexAllowed, Some(a)) => match parse_index(&a) {
            Some(i) => FieldArg::Index(i),
            None => return err(pos, format!("field {fname} expects a numeric index argument, got '{a}'")),
        },
        (ArgKind::KeyRequired | ArgKind::KeyAllowed, Some(a)) => FieldArg::Key(a.into()),
        (ArgKind::IndexOrKeyRequired, Some(a)) => match parse_index(&a) {
            Some(i) => FieldArg::Index(i),
            None => FieldArg::Key(a.into()),
        },
    };
    let mut ty = info.ty;
    if info.has(flags::EVT_PARAM) {
        if let FieldArg::Key(k) = &parsed {
            match fields::event_param_type(k) {
                Some(pt) => {
                    if info.has(flags::RAW_PARAM) {
                        ty = FieldType::from_param_type(pt);
                    }
                }
                None => return err(pos, format!("unknown event argument {k} (in field {name})")),
            }
        } else if info.has(flags::RAW_PARAM) {
            return err(pos, format!("field {fname} must name the argument, e.g. {fname}.res"));
        }
    }
    let bf = BoundField::from_info(info, parsed, ty);
    Ok((bf, OperandType { ty, list: info.is_list() }))
}

fn parse_index(s: &str) -> Option<i64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<i64>().ok()
}

struct Ctx<'w> {
    source: Source,
    warnings: &'w mut Vec<String>,
}

/// Compile a condition for a source. Returns the filter and warnings.
pub fn compile_condition(source: Source, expr: &Expr) -> Result<(Filter, Vec<String>), CompileError> {
    let mut warnings = Vec::new();
    let root = {
        let mut ctx = Ctx { source, warnings: &mut warnings };
        compile_expr(&mut ctx, expr, 0)?
    };
    let depth = root.depth();
    let implied = match &root {
        Node::And(cs) => cs.iter().take_while(|c| matches!(c, Node::Check(k) if k.evttype)).count(),
        _ => 0,
    };
    Ok((Filter { root, depth, implied, slots: 0, memos: 0 }, warnings))
}

const MAX_DEPTH: usize = 1000;

fn compile_expr(ctx: &mut Ctx<'_>, e: &Expr, depth: usize) -> Result<Node, CompileError> {
    if depth > MAX_DEPTH {
        return err(e.pos(), "condition is nested too deeply");
    }
    Ok(match e {
        // Nested and/or of the same kind are flattened (macros expand to nested groups), which
        // keeps evaluation shallow and lets the evt.type index elide more checks.
        Expr::And(cs, _) => {
            let mut out = Vec::with_capacity(cs.len());
            for c in cs {
                match compile_expr(ctx, c, depth + 1)? {
                    Node::And(inner) => out.extend(inner.into_vec()),
                    n => out.push(n),
                }
            }
            order_children(&mut out, true);
            Node::And(out.into())
        }
        Expr::Or(cs, _) => {
            let mut out = Vec::with_capacity(cs.len());
            for c in cs {
                match compile_expr(ctx, c, depth + 1)? {
                    Node::Or(inner) => out.extend(inner.into_vec()),
                    n => out.push(n),
                }
            }
            order_children(&mut out, false);
            Node::Or(out.into())
        }
        Expr::Not(c, _) => Node::Not(Box::new(compile_expr(ctx, c, depth + 1)?)),
        Expr::Identifier(name, pos) => return err(*pos, format!("Undefined macro '{name}' used in filter.")),
        Expr::Exists(..) | Expr::Compare(_) => compile_leaf(ctx, e, depth)?,
    })
}

/// A check. Kept out of `compile_expr` so that its recursive frame stays small (deep nesting).
#[inline(never)]
fn compile_leaf(ctx: &mut Ctx<'_>, e: &Expr, depth: usize) -> Result<Node, CompileError> {
    Ok(match e {
        Expr::Exists(op, _) => {
            let (lhs, _) = compile_operand(ctx, op, false, depth)?;
            Node::Check(Box::new(Check::new(lhs, Pred::Exists, false, false, false)))
        }
        Expr::Compare(c) => Node::Check(Box::new(compile_compare(ctx, c, depth)?)),
        _ => return err(e.pos(), "internal: not a check"),
    })
}

/// Reorder the children of an `and` (`and` true) or an `or`: they have no side effects, so
/// cheap and deciding checks can run first (stable sort). Kept out of `compile_expr` so that its
/// recursive frame stays small.
#[inline(never)]
fn order_children(nodes: &mut [Node], and: bool) {
    if and {
        nodes.sort_by_cached_key(Node::order_key);
    } else {
        nodes.sort_by_cached_key(Node::cost);
    }
}

fn compile_operand(
    ctx: &mut Ctx<'_>,
    op: &ast::Operand,
    rhs: bool,
    depth: usize,
) -> Result<(Operand, OperandType), CompileError> {
    match op {
        ast::Operand::Field(fr) => compile_field_ref(ctx, fr, rhs, false),
        ast::Operand::Transformer(t) => compile_transformer(ctx, t, depth + 1),
    }
}

fn compile_field_ref(
    ctx: &mut Ctx<'_>,
    fr: &ast::FieldRef,
    rhs: bool,
    in_transformer: bool,
) -> Result<(Operand, OperandType), CompileError> {
    let (bf, ot) = bind_field(ctx.source, &fr.name, fr.arg.as_deref(), fr.pos, Usage::Filter)?;
    let info = bf.info();
    if rhs && info.has(flags::NO_RHS) && bf.arg == FieldArg::None {
        return err(fr.pos, format!("field {} cannot be used on the right-hand side (val())", fr.name));
    }
    if in_transformer
        && info.has(flags::NO_TRANSFORMER)
        && (bf.arg == FieldArg::None || info.has(flags::RAW_PARAM))
    {
        return err(fr.pos, format!("field {} does not support transformers", fr.name));
    }
    Ok((Operand::Field(bf), ot))
}

fn compile_targ(
    ctx: &mut Ctx<'_>,
    a: &TArg,
    depth: usize,
) -> Result<(TfArg, Option<OperandType>), CompileError> {
    Ok(match a {
        TArg::Field(fr) => {
            let (o, t) = compile_field_ref(ctx, fr, false, true)?;
            (TfArg::Operand(o), Some(t))
        }
        TArg::Transformer(t) => {
            let (o, ty) = compile_transformer(ctx, t, depth + 1)?;
            (TfArg::Operand(o), Some(ty))
        }
        TArg::Str(s, _) | TArg::Num(s, _) => (TfArg::Lit(s.as_bytes().into()), None),
        TArg::List(_, pos) => return err(*pos, "a list is only allowed as the second argument of join()"),
    })
}

fn compile_transformer(
    ctx: &mut Ctx<'_>,
    t: &ast::Transformer,
    depth: usize,
) -> Result<(Operand, OperandType), CompileError> {
    if depth > MAX_DEPTH {
        return err(t.pos, "transformers are nested too deeply");
    }
    let name = t.kind.name();
    if t.arg.is_some() && t.kind != TransformerKind::Getopt {
        return err(t.pos, format!("transformer '{name}' does not support field arguments"));
    }
    let mut tf = Tf {
        kind: t.kind,
        args: Vec::new(),
        sep: Box::default(),
        optstring: Box::default(),
        opt: 0,
        list_input: false,
    };
    let out_ty = match t.kind {
        TransformerKind::Join => {
            let (sep, rest) = match t.args.split_first() {
                Some((TArg::Str(s, _), rest)) => (s, rest),
                _ => return err(t.pos, "join() expects a quoted separator string as first argument"),
            };
            tf.sep = sep.as_bytes().into();
            let items: Vec<&TArg> = match rest {
                [TArg::List(items, _)] => items.iter().collect(),
                [] => return err(t.pos, "join() expects a list of values to join, e.g. join(\",\", (a, b))"),
                other => other.iter().collect(),
            };
            for a in items {
                tf.args.push(compile_targ(ctx, a, depth)?.0);
            }
            OperandType { ty: FieldType::String, list: false }
        }
        TransformerKind::Concat => {
            if t.args.len() < 2 {
                return err(t.pos, "concat() expects at least two arguments");
            }
            for a in &t.args {
                match a {
                    TArg::List(items, _) => {
                        for i in items {
                            tf.args.push(compile_targ(ctx, i, depth)?.0);
                        }
                    }
                    _ => tf.args.push(compile_targ(ctx, a, depth)?.0),
                }
            }
            OperandType { ty: FieldType::String, list: false }
        }
        _ => {
            let expected = if t.kind == TransformerKind::Getopt { 2 } else { 1 };
            if t.args.len() != expected {
                return err(
                    t.pos,
                    format!("transformer '{name}' expects {expected} argument(s), got {}", t.args.len()),
                );
            }
            let (input, ity) = compile_targ(ctx, &t.args[0], depth)?;
            let Some(ity) = ity else {
                return err(
                    t.pos,
                    format!("transformer '{name}' expects a field or a transformer as argument"),
                );
            };
            tf.args.push(input);
            match t.kind {
                TransformerKind::ToLower | TransformerKind::ToUpper | TransformerKind::Basename => {
                    if !ity.ty.is_string() {
                        return err(
                            t.pos,
                            format!("transformer '{name}' needs a string field, got type {}", ity.ty.name()),
                        );
                    }
                    OperandType { ty: FieldType::String, list: ity.list }
                }
                TransformerKind::B64 => {
                    if !(ity.ty.is_string() || ity.ty == FieldType::ByteBuf) {
                        return err(
                            t.pos,
                            format!(
                                "transformer 'b64' needs a string or bytebuf field, got type {}",
                                ity.ty.name()
                            ),
                        );
                    }
                    OperandType {
                        ty: if ity.ty == FieldType::ByteBuf { FieldType::ByteBuf } else { FieldType::String },
                        list: ity.list,
                    }
                }
                TransformerKind::Len => {
                    if !(ity.list || ity.ty.is_string() || ity.ty == FieldType::ByteBuf) {
                        return err(
                            t.pos,
                            format!(
                                "transformer 'len' needs a string, bytebuf or list field, got type {}",
                                ity.ty.name()
                            ),
                        );
                    }
                    tf.list_input = ity.list;
                    OperandType { ty: FieldType::Uint64, list: false }
                }
                TransformerKind::Getopt => {
                    if !ity.ty.is_string() {
                        return err(
                            t.pos,
                            format!("transformer 'getopt' needs a string field, got type {}", ity.ty.name()),
                        );
                    }
                    let TArg::Str(optstring, _) = &t.args[1] else {
                        return err(t.pos, "getopt() expects a quoted option string as second argument");
                    };
                    tf.optstring = optstring.as_bytes().into();
                    let opt =
                        match t.arg.as_deref().map(str::as_bytes) {
                            Some([c]) if *c != b':' => *c,
                            Some(_) => return err(t.pos, "getopt() expects a single option letter in [...]"),
                            None => return err(
                                t.pos,
                                "getopt() needs the option to extract, e.g. getopt(proc.args, \"nt:\")[t]",
                            ),
                        };
                    if !optstring.as_bytes().contains(&opt) {
                        return err(
                            t.pos,
                            format!(
                                "option '{}' is not in the getopt option string \"{optstring}\"",
                                opt as char
                            ),
                        );
                    }
                    tf.opt = opt;
                    OperandType { ty: FieldType::String, list: false }
                }
                TransformerKind::Join | TransformerKind::Concat => unreachable_type(),
            }
        }
    };
    Ok((Operand::Transform(Box::new(tf)), out_ty))
}

#[inline]
fn unreachable_type() -> OperandType {
    OperandType { ty: FieldType::String, list: false }
}

fn is_string_op(op: Op) -> bool {
    matches!(
        op,
        Op::Eq
            | Op::Eq2
            | Op::Ne
            | Op::Contains
            | Op::IContains
            | Op::BContains
            | Op::StartsWith
            | Op::BStartsWith
            | Op::EndsWith
            | Op::Glob
            | Op::IGlob
            | Op::Regex
    )
}

fn op_allowed(op: Op, ty: FieldType) -> bool {
    use Op::*;
    match ty {
        FieldType::String | FieldType::Path => !matches!(op, BContains | BStartsWith),
        // As libsinsp: no case-insensitive matching on byte buffers.
        FieldType::ByteBuf => matches!(
            op,
            Eq | Eq2 | Ne | Contains | StartsWith | EndsWith | BContains | BStartsWith | In | Intersects
        ),
        t if t.is_numeric() => matches!(op, Eq | Eq2 | Ne | Lt | Le | Gt | Ge | In | Intersects),
        _ => matches!(op, Eq | Eq2 | Ne | In | Intersects),
    }
}

fn operand_name(op: &ast::Operand) -> String {
    match op {
        ast::Operand::Field(f) => match &f.arg {
            Some(a) => format!("{}[{}]", f.name, a),
            None => f.name.clone(),
        },
        ast::Operand::Transformer(t) => format!("{}(...)", t.kind.name()),
    }
}

fn compile_compare(ctx: &mut Ctx<'_>, c: &ast::Compare, depth: usize) -> Result<Check, CompileError> {
    let (lhs, lt) = compile_operand(ctx, &c.left, false, depth)?;
    let fname = operand_name(&c.left);
    let op = c.op;
    if lt.list && !matches!(op, Op::In | Op::Intersects) {
        return err(
            c.pos,
            format!(
                "operator '{}' is not supported on list field {fname}; use 'in', 'intersects' or 'exists'",
                op.as_str()
            ),
        );
    }
    if !op_allowed(op, lt.ty) {
        return err(
            c.pos,
            format!("operator '{}' is not supported on field {fname} of type {}", op.as_str(), lt.ty.name()),
        );
    }
    let negate = op == Op::Ne;
    let all = lt.list && op == Op::In;

    if let Some(m) = c.modifier {
        if !is_string_op(op) {
            return err(
                c.pos,
                format!("modifier '{}' can only follow a string operator, not '{}'", m.as_str(), op.as_str()),
            );
        }
        let items: Vec<(String, Pos)> = match &c.right {
            Rhs::List(vs, p) => vs.iter().map(|v| (v.clone(), *p)).collect(),
            Rhs::ListRef(name, p) => {
                ctx.warnings
                    .push(format!("'{name}' after '{}' is not a defined list; taken as a value", m.as_str()));
                vec![(name.clone(), *p)]
            }
            Rhs::Value(v, p) => vec![(v.clone(), *p)],
            _ => return err(c.pos, format!("modifier '{}' expects a list of values", m.as_str())),
        };
        let eop = if op == Op::Ne { Op::Eq } else { op };
        let mut preds = Vec::with_capacity(items.len());
        for (v, p) in &items {
            preds.push((single_pred(ctx, eop, lt.ty, v, *p, &fname)?, negate));
        }
        return Ok(Check::new(lhs, Pred::Modifier(m, preds.into()), false, false, false));
    }

    let pred = match &c.right {
        Rhs::Val(fr) => {
            let (r, rt) = compile_field_ref(ctx, fr, true, false)?;
            dynamic_pred(c, op, lt, rt, r, &fname)?
        }
        Rhs::Transformer(t) => {
            let (r, rt) = compile_transformer(ctx, t, depth + 1)?;
            dynamic_pred(c, op, lt, rt, r, &fname)?
        }
        Rhs::Value(v, p) => {
            if op.is_list_op() {
                list_pred(ctx, op, lt.ty, std::slice::from_ref(v), *p, &fname)?
            } else {
                if fields::resolve(ctx.source, v).is_ok() && v.contains('.') {
                    ctx.warnings.push(format!(
                        "'{v}' compared with {fname} is a string that looks like a field name; use val({v}) to compare with the field"
                    ));
                }
                single_pred(ctx, op, lt.ty, v, *p, &fname)?
            }
        }
        Rhs::List(vs, p) => {
            if !op.is_list_op() {
                return err(*p, format!("operator '{}' expects a single value, not a list", op.as_str()));
            }
            list_pred(ctx, op, lt.ty, vs, *p, &fname)?
        }
        Rhs::ListRef(name, p) => {
            if !op.is_list_op() {
                return err(*p, format!("operator '{}' expects a single value, not a list", op.as_str()));
            }
            ctx.warnings.push(format!("'{name}' is not a defined list; taken as a single value"));
            list_pred(ctx, op, lt.ty, std::slice::from_ref(name), *p, &fname)?
        }
    };
    let evttype = matches!(&lhs, Operand::Field(f) if f.id == crate::fields::FieldId::EvtType && f.arg == FieldArg::None)
        && matches!(op, Op::Eq | Op::Eq2 | Op::In | Op::Intersects)
        && match &c.right {
            Rhs::Value(v, _) => fields::is_event_name(v),
            Rhs::List(vs, _) => vs.iter().all(|v| fields::is_event_name(v)),
            _ => false,
        };
    let mut check = Check::new(lhs, pred, negate, all, evttype);
    if evttype {
        let names = match &c.right {
            Rhs::Value(v, _) => std::slice::from_ref(v),
            Rhs::List(vs, _) => vs.as_slice(),
            _ => &[],
        };
        check.codes = Some(Box::new(crate::evttype::TypeCodes::from_names(names)));
    }
    Ok(check)
}

/// The generic syscall events, whose `evt.type` is the name of the syscall in their parameter.
fn is_generic_code(code: u16) -> bool {
    code == harrier_event::ids::PPME_GENERIC_E || code == harrier_event::ids::PPME_GENERIC_X
}

fn dynamic_pred(
    c: &ast::Compare,
    op: Op,
    lt: OperandType,
    rt: OperandType,
    r: Operand,
    fname: &str,
) -> Result<Pred, CompileError> {
    if matches!(op, Op::Regex | Op::Glob | Op::IGlob | Op::PMatch | Op::BContains | Op::BStartsWith) {
        return err(
            c.pos,
            format!(
                "operator '{}' needs a literal right-hand value, not val() or a transformer",
                op.as_str()
            ),
        );
    }
    if !lt.ty.compatible(rt.ty) {
        return err(
            c.pos,
            format!(
                "cannot compare {fname} of type {} with a right-hand side of type {}",
                lt.ty.name(),
                rt.ty.name()
            ),
        );
    }
    Ok(Pred::Dynamic(op, r))
}

fn parse_int(v: &str) -> Option<i128> {
    let s = v.trim();
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        i128::from_str_radix(h, 16).ok()?
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        body.parse::<i128>().ok()?
    };
    Some(if neg { -n } else { n })
}

fn parse_typed_int(v: &str, ty: FieldType, pos: Pos, fname: &str) -> Result<i128, CompileError> {
    let Some(n) = parse_int(v) else {
        return err(pos, format!("expected a number for {fname} (type {}), got '{v}'", ty.name()));
    };
    if let Some((lo, hi)) = ty.int_range() {
        if n < lo || n > hi {
            return err(pos, format!("value {v} is out of range for {fname} (type {})", ty.name()));
        }
    }
    Ok(n)
}

fn parse_ip_match(v: &str, ty: FieldType, pos: Pos, fname: &str) -> Result<IpMatch, CompileError> {
    let s = v.trim();
    if let Some((a, p)) = s.split_once('/') {
        let ip: IpAddr = a.parse().map_err(|_| CompileError {
            pos,
            message: format!("expected an IP network (CIDR) for {fname}, got '{v}'"),
        })?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let p: u8 = p.parse().ok().filter(|&p| p <= max).ok_or_else(|| CompileError {
            pos,
            message: format!("invalid prefix length in '{v}' for {fname}"),
        })?;
        return Ok(IpMatch::Net(ip, p));
    }
    let ip: IpAddr = s.parse().map_err(|_| CompileError {
        pos,
        message: format!(
            "expected an IP address{} for {fname}, got '{v}'",
            if ty == FieldType::IpNet { " or network" } else { "" }
        ),
    })?;
    Ok(if ty == FieldType::IpNet {
        IpMatch::Net(ip, if ip.is_ipv4() { 32 } else { 128 })
    } else {
        IpMatch::Addr(ip)
    })
}

fn parse_bool(v: &str, pos: Pos, fname: &str) -> Result<bool, CompileError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => err(pos, format!("expected true or false for {fname} (type bool), got '{v}'")),
    }
}

fn parse_hex(v: &str, pos: Pos, op: Op) -> Result<Box<[u8]>, CompileError> {
    let s = v.trim().as_bytes();
    if !s.len().is_multiple_of(2) || !s.iter().all(u8::is_ascii_hexdigit) {
        return err(pos, format!("'{}' expects an even-length hexadecimal string, got '{v}'", op.as_str()));
    }
    let hv = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
    Ok(s.chunks(2).map(|p| hv(p[0]) << 4 | hv(p[1])).collect())
}

/// Predicate for a single right-hand value.
fn single_pred(
    ctx: &mut Ctx<'_>,
    op: Op,
    ty: FieldType,
    v: &str,
    pos: Pos,
    fname: &str,
) -> Result<Pred, CompileError> {
    let _ = &ctx;
    if op.is_list_op() {
        return list_pred(ctx, op, ty, &[v.to_string()], pos, fname);
    }
    let b = || -> Box<[u8]> { v.as_bytes().into() };
    Ok(match ty {
        FieldType::String | FieldType::Path | FieldType::ByteBuf => match op {
            Op::Eq | Op::Eq2 | Op::Ne => Pred::StrEq(b()),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => Pred::StrCmp(Ord4::from_op(op).unwrap_or(Ord4::Lt), b()),
            Op::Contains => Pred::Contains(Box::new(memmem::Finder::new(v.as_bytes()).into_owned())),
            Op::IContains => Pred::IContains(v.to_ascii_lowercase().into_bytes().into()),
            Op::StartsWith => Pred::StartsWith(b()),
            Op::EndsWith => Pred::EndsWith(b()),
            Op::Glob => Pred::Glob(Glob::new(v.as_bytes(), false)),
            Op::IGlob => Pred::Glob(Glob::new(v.as_bytes(), true)),
            Op::Regex => {
                let re = regex::bytes::RegexBuilder::new(&format!("^(?:{v})$"))
                    .size_limit(1 << 22)
                    .build()
                    .map_err(|e| CompileError {
                    pos,
                    message: format!("invalid regular expression '{v}': {e}"),
                })?;
                Pred::Regex(re)
            }
            Op::BContains => {
                Pred::Contains(Box::new(memmem::Finder::new(&parse_hex(v, pos, op)?).into_owned()))
            }
            Op::BStartsWith => Pred::StartsWith(parse_hex(v, pos, op)?),
            Op::In | Op::Intersects | Op::PMatch => {
                return err(pos, "internal: list operator on a single value")
            }
        },
        FieldType::Double => {
            let n = parse_typed_int(v, ty, pos, fname)? as f64;
            match Ord4::from_op(op) {
                Some(o) => Pred::FloatCmp(o, n),
                None => Pred::FloatEq(n),
            }
        }
        t if t.is_integer() => {
            let n = parse_typed_int(v, ty, pos, fname)?;
            match Ord4::from_op(op) {
                Some(o) => Pred::NumCmp(o, n),
                None => Pred::NumEq(n),
            }
        }
        FieldType::Bool => Pred::BoolEq(parse_bool(v, pos, fname)?),
        FieldType::Ip | FieldType::IpNet => Pred::Ip(parse_ip_match(v, ty, pos, fname)?),
        _ => return err(pos, format!("unsupported field type {} for {fname}", ty.name())),
    })
}

/// Predicate for `in` / `intersects` / `pmatch` with literal values.
fn list_pred(
    ctx: &mut Ctx<'_>,
    op: Op,
    ty: FieldType,
    vs: &[String],
    pos: Pos,
    fname: &str,
) -> Result<Pred, CompileError> {
    let _ = &ctx;
    if op == Op::PMatch {
        if !ty.is_string() {
            return err(
                pos,
                format!("operator 'pmatch' needs a string field, {fname} has type {}", ty.name()),
            );
        }
        return Ok(Pred::PMatch(PathSet::new(vs.iter().map(|v| v.as_bytes().into()).collect())));
    }
    Ok(match ty {
        FieldType::String | FieldType::Path | FieldType::ByteBuf => {
            Pred::StrSet(StrSet::new(vs.iter().map(|v| v.as_bytes().into()).collect()))
        }
        FieldType::Double => {
            let mut ns = Vec::with_capacity(vs.len());
            for v in vs {
                ns.push(parse_typed_int(v, ty, pos, fname)?);
            }
            Pred::NumSet(NumSet::new(ns))
        }
        t if t.is_integer() => {
            let mut ns = Vec::with_capacity(vs.len());
            for v in vs {
                ns.push(parse_typed_int(v, ty, pos, fname)?);
            }
            Pred::NumSet(NumSet::new(ns))
        }
        FieldType::Bool => {
            let (mut t, mut f) = (false, false);
            for v in vs {
                if parse_bool(v, pos, fname)? {
                    t = true
                } else {
                    f = true
                }
            }
            Pred::BoolSet { t, f }
        }
        FieldType::Ip | FieldType::IpNet => {
            let mut ms = Vec::with_capacity(vs.len());
            for v in vs {
                ms.push(parse_ip_match(v, ty, pos, fname)?);
            }
            Pred::IpSet(ms.into())
        }
        _ => return err(pos, format!("unsupported field type {} for {fname}", ty.name())),
    })
}
