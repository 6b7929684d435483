//! Event-type sets of rules, computed from conditions the way Falco does: `evt.type = X`,
//! `evt.type in (...)`, `!=` and `not` through `and`/`or`; any other check allows every type.

use harrier_condition::{Expr, Op, Operand, Rhs};

use crate::fields::{event_codes_for_name, EVENT_CODE_COUNT};

const WORDS: usize = (EVENT_CODE_COUNT as usize).div_ceil(64);

/// A set of PPM event codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EvtTypeSet([u64; WORDS]);

impl EvtTypeSet {
    pub fn empty() -> EvtTypeSet {
        EvtTypeSet([0; WORDS])
    }
    /// Every event code.
    pub fn all() -> EvtTypeSet {
        let mut s = EvtTypeSet::empty();
        for c in 0..EVENT_CODE_COUNT {
            s.insert(c);
        }
        s
    }
    pub fn insert(&mut self, code: u16) {
        if let Some(w) = self.0.get_mut(code as usize / 64) {
            *w |= 1 << (code % 64);
        }
    }
    pub fn contains(&self, code: u16) -> bool {
        self.0.get(code as usize / 64).is_some_and(|w| w & (1 << (code % 64)) != 0)
    }
    pub fn union(&self, o: &EvtTypeSet) -> EvtTypeSet {
        let mut r = *self;
        for (a, b) in r.0.iter_mut().zip(o.0.iter()) {
            *a |= b;
        }
        r
    }
    pub fn intersect(&self, o: &EvtTypeSet) -> EvtTypeSet {
        let mut r = *self;
        for (a, b) in r.0.iter_mut().zip(o.0.iter()) {
            *a &= b;
        }
        r
    }
    pub fn complement(&self) -> EvtTypeSet {
        let all = EvtTypeSet::all();
        let mut r = *self;
        for (a, b) in r.0.iter_mut().zip(all.0.iter()) {
            *a = !*a & b;
        }
        r
    }
    pub fn is_all(&self) -> bool {
        *self == EvtTypeSet::all()
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    pub fn codes(&self) -> impl Iterator<Item = u16> + '_ {
        (0..EVENT_CODE_COUNT).filter(move |c| self.contains(*c))
    }
    fn from_names<'a>(names: impl IntoIterator<Item = &'a String>) -> EvtTypeSet {
        let mut s = EvtTypeSet::empty();
        for n in names {
            for &c in event_codes_for_name(n) {
                s.insert(c);
            }
        }
        s
    }
}

/// The event types a condition can match.
pub fn evttypes_of(expr: &Expr) -> EvtTypeSet {
    resolve(expr, false, 0)
}

fn resolve(e: &Expr, neg: bool, depth: usize) -> EvtTypeSet {
    if depth > 2000 {
        return EvtTypeSet::all();
    }
    match e {
        Expr::And(cs, _) | Expr::Or(cs, _) => {
            // and = intersection, or = union; under negation they swap (De Morgan).
            let intersect = matches!(e, Expr::And(..)) != neg;
            let mut it = cs.iter().map(|c| resolve(c, neg, depth + 1));
            let first = it.next().unwrap_or_else(EvtTypeSet::all);
            it.fold(first, |acc, s| if intersect { acc.intersect(&s) } else { acc.union(&s) })
        }
        Expr::Not(c, _) => resolve(c, !neg, depth + 1),
        Expr::Compare(c) if c.modifier.is_none() => {
            let Operand::Field(f) = &c.left else { return EvtTypeSet::all() };
            if f.name != "evt.type" || f.arg.is_some() {
                return EvtTypeSet::all();
            }
            let names: Vec<&String> = match &c.right {
                Rhs::Value(v, _) => vec![v],
                Rhs::List(vs, _) => vs.iter().collect(),
                Rhs::ListRef(v, _) => vec![v],
                _ => return EvtTypeSet::all(),
            };
            let set = EvtTypeSet::from_names(names);
            match c.op {
                Op::Eq | Op::Eq2 | Op::In | Op::Intersects => {
                    if neg {
                        set.complement()
                    } else {
                        set
                    }
                }
                Op::Ne => {
                    if neg {
                        set
                    } else {
                        set.complement()
                    }
                }
                _ => EvtTypeSet::all(),
            }
        }
        _ => EvtTypeSet::all(),
    }
}
