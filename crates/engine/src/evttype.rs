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
    pub(crate) fn from_names<'a>(names: impl IntoIterator<Item = &'a String>) -> EvtTypeSet {
        let mut s = EvtTypeSet::empty();
        for n in names {
            for &c in event_codes_for_name(n) {
                s.insert(c);
            }
        }
        s
    }
}

/// An `evt.type` check over event names as code tests: the event codes of those names, and for
/// the generic syscall events (`evt.type` named after the syscall code in their first
/// parameter, or the generic events' own name when the code has none) the syscall codes whose
/// name is in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeCodes {
    pub events: EvtTypeSet,
    generic: Box<[u64]>,
    /// Whether a generic event whose syscall code has no name (outside the code table) matches.
    generic_unnamed: bool,
}

impl TypeCodes {
    pub(crate) fn from_names(names: &[String]) -> TypeCodes {
        let n = harrier_event::ppm_sc::PPM_SC_NAMES.len();
        let mut generic = vec![0u64; n.div_ceil(64)].into_boxed_slice();
        let unnamed = event_info_name(harrier_event::ids::PPME_GENERIC_E);
        let generic_unnamed = names.iter().any(|x| x == unnamed);
        // Codes past the table inside the last word have no name either.
        for code in 0..generic.len() * 64 {
            let hit = match harrier_event::ppm_sc_name(code as u16) {
                Some(name) => names.iter().any(|x| x == name),
                None => generic_unnamed,
            };
            if hit {
                generic[code / 64] |= 1 << (code % 64);
            }
        }
        TypeCodes { events: EvtTypeSet::from_names(names), generic, generic_unnamed }
    }

    /// Whether a generic event of syscall code `sc` is named in the list.
    #[inline]
    pub(crate) fn generic_contains(&self, sc: u16) -> bool {
        match self.generic.get(sc as usize / 64) {
            Some(w) => w & (1 << (sc % 64)) != 0,
            None => self.generic_unnamed,
        }
    }
}

fn event_info_name(id: u16) -> &'static str {
    harrier_event::event_info(id).map_or("syscall", |i| i.name)
}

/// Names compared with `evt.type` (`=`, `in`) that have no event of their own: syscalls reported
/// as generic events (`madvise`). A live source must collect them for the rule to see them.
pub fn generic_names_of(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    collect_generic(expr, &mut out, 0);
    out
}

fn collect_generic(e: &Expr, out: &mut Vec<String>, depth: usize) {
    if depth > 2000 {
        return;
    }
    match e {
        Expr::And(cs, _) | Expr::Or(cs, _) => cs.iter().for_each(|c| collect_generic(c, out, depth + 1)),
        Expr::Not(c, _) => collect_generic(c, out, depth + 1),
        Expr::Compare(c) if matches!(c.op, Op::Eq | Op::Eq2 | Op::In | Op::Intersects) => {
            let Operand::Field(f) = &c.left else { return };
            if f.name != "evt.type" {
                return;
            }
            let names: Vec<&String> = match &c.right {
                Rhs::Value(v, _) => vec![v],
                Rhs::List(vs, _) => vs.iter().collect(),
                _ => return,
            };
            for n in names {
                if harrier_event::ids_by_name(n).is_empty() && !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
        _ => {}
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

/// A syscall family: calls that do the same thing for an attacker. A rule watching one member
/// should watch all the required ones. `optional` members need not be watched, but watching one
/// of them means the required ones should be watched too (`creat` only writes, so a read rule
/// need not name it).
pub struct SyscallFamily {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

const fn fam(required: &'static [&'static str]) -> SyscallFamily {
    SyscallFamily { required, optional: &[] }
}

pub const SYSCALL_FAMILIES: &[SyscallFamily] = &[
    fam(&["execve", "execveat"]),
    SyscallFamily { required: &["open", "openat", "openat2"], optional: &["creat"] },
    fam(&["rename", "renameat", "renameat2"]),
    fam(&["link", "linkat"]),
    fam(&["symlink", "symlinkat"]),
    fam(&["unlink", "unlinkat"]),
    fam(&["mkdir", "mkdirat"]),
    fam(&["chmod", "fchmod", "fchmodat"]),
    fam(&["chown", "lchown", "fchown", "fchownat"]),
    fam(&["clone", "clone3", "fork", "vfork"]),
    fam(&["dup", "dup2", "dup3"]),
    fam(&["accept", "accept4"]),
    fam(&["sendto", "sendmsg"]),
    fam(&["init_module", "finit_module"]),
    fam(&["setuid", "setreuid", "setresuid"]),
    fam(&["setgid", "setregid", "setresgid"]),
    fam(&["pipe", "pipe2"]),
    fam(&["umount", "umount2"]),
];

/// For each family the set touches but does not cover, (present members, missing required
/// members). A set matching every event type covers everything.
pub fn partial_families(set: &EvtTypeSet) -> Vec<(Vec<&'static str>, Vec<&'static str>)> {
    if set.is_all() {
        return Vec::new();
    }
    let has = |n: &str| event_codes_for_name(n).iter().any(|&c| set.contains(c));
    SYSCALL_FAMILIES
        .iter()
        .filter_map(|f| {
            let present: Vec<&'static str> =
                f.required.iter().chain(f.optional).copied().filter(|n| has(n)).collect();
            let missing: Vec<&'static str> = f.required.iter().copied().filter(|n| !has(n)).collect();
            (!present.is_empty() && !missing.is_empty()).then_some((present, missing))
        })
        .collect()
}

#[cfg(test)]
mod family_tests {
    use super::*;

    fn set(names: &[&str]) -> EvtTypeSet {
        let mut s = EvtTypeSet::empty();
        for n in names {
            for &c in event_codes_for_name(n) {
                s.insert(c);
            }
        }
        s
    }

    #[test]
    fn partial_families_name_what_is_missing() {
        assert_eq!(partial_families(&set(&["openat"])), vec![(vec!["openat"], vec!["open", "openat2"])]);
        assert!(partial_families(&set(&["open", "openat", "openat2"])).is_empty(), "creat is optional");
        assert_eq!(
            partial_families(&set(&["creat"])),
            vec![(vec!["creat"], vec!["open", "openat", "openat2"])]
        );
        assert!(partial_families(&set(&["connect"])).is_empty(), "connect alone is a TCP rule");
        assert_eq!(partial_families(&set(&["connect", "sendto"])), vec![(vec!["sendto"], vec!["sendmsg"])]);
        assert_eq!(partial_families(&set(&["execve"])), vec![(vec!["execve"], vec!["execveat"])]);
        assert!(partial_families(&EvtTypeSet::all()).is_empty());
        assert!(partial_families(&set(&["read"])).is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `evt.type` checks over known names are compiled to a bit test on the event code: the set
    /// of a name must hold exactly the codes whose event has that name (what the string test saw).
    #[test]
    fn codes_of_a_name_are_exactly_the_events_of_that_name() {
        let mut tested = 0;
        for code in 0..EVENT_CODE_COUNT {
            let Some(info) = harrier_event::event_info(code) else { continue };
            let set = EvtTypeSet::from_names([&info.name.to_string()]);
            assert!(set.contains(code), "{} ({code}) missing from its own name's set", info.name);
            for other in set.codes() {
                let o = harrier_event::event_info(other).map(|i| i.name);
                assert_eq!(o, Some(info.name), "code {other} in the set of {}", info.name);
            }
            tested += 1;
        }
        assert!(tested > 100, "only {tested} event codes in the schema");
    }
}
