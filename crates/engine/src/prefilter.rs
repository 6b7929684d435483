//! What a rule provably cannot match, for filters that run before the rules (in the kernel).
//!
//! The live probe may drop records in the kernel only where no loaded rule could have matched
//! them. This module decides one such class from a rule's condition: **failed opens** (`open`,
//! `openat`, `openat2`, `creat` with a negative result). The condition is evaluated with
//! three-valued logic under what is known of every such event:
//!
//! * `evt.type` is the open syscall's name (checks on it are decided);
//! * the event's descriptor does not exist, so every `fd.*` field listed in [`FD_ABSENT`] is
//!   absent, and the engine evaluates any check on an absent field to false (`!=` too);
//! * `evt.rawres` is negative, `evt.failed` is true, `evt.res` is not `SUCCESS`.
//!
//! A second class decides how soon records must reach the rules: **successful read-only opens**
//! (`open`, `openat` with access mode `O_RDONLY`), under which `evt.is_open_write` is false and
//! `evt.rawres` is not negative. Rules at a high priority that cannot match them let the probe
//! treat such opens as ordinary (batched) rather than urgent records.
//!
//! Every other check is unknown; `and`/`or`/`not` combine as in Kleene logic. A rule "may match"
//! unless its condition evaluates to false. The assumptions about absent fields are checked
//! against the real field extraction in `harrier-state`'s tests (`failed_open_fields_are_absent`).

use harrier_condition::{Expr, Op, Operand, Rhs};

/// The syscalls whose failures [`failed_open_mask`] decides, in bit order.
pub const OPEN_FAMILY: [&str; 4] = ["open", "openat", "openat2", "creat"];

/// Fields that are absent on a failed open's exit event (no descriptor was created).
pub const FD_ABSENT: &[&str] = &[
    "fd.num",
    "fd.type",
    "fd.typechar",
    "fd.name",
    "fd.nameraw",
    "fd.directory",
    "fd.filename",
    "fd.containername",
    "fd.containerdirectory",
    "fd.dev",
    "fd.dev.major",
    "fd.dev.minor",
    "fd.ino",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    False,
    True,
    Unknown,
}

impl T {
    fn not(self) -> T {
        match self {
            T::False => T::True,
            T::True => T::False,
            T::Unknown => T::Unknown,
        }
    }
}

/// What is known of the event a condition is evaluated against.
#[derive(Clone, Copy)]
enum Assume {
    /// A failed open (negative result, no descriptor).
    Failed,
    /// A successful open with access mode `O_RDONLY`.
    ReadOnly,
}

/// Bit `i` set: the condition may match a successful read-only `OPEN_FAMILY[i]`.
pub fn read_open_mask(cond: &Expr) -> u8 {
    let mut m = 0;
    for (i, name) in OPEN_FAMILY.iter().enumerate() {
        if eval(cond, name, Assume::ReadOnly, 0) != T::False {
            m |= 1 << i;
        }
    }
    m
}

/// Bit `i` set: the condition may match a failed `OPEN_FAMILY[i]` (0 for a rule of another
/// source is the caller's business: only syscall rules are asked).
pub fn failed_open_mask(cond: &Expr) -> u8 {
    let mut m = 0;
    for (i, name) in OPEN_FAMILY.iter().enumerate() {
        if eval(cond, name, Assume::Failed, 0) != T::False {
            m |= 1 << i;
        }
    }
    m
}

fn eval(e: &Expr, evt: &str, a: Assume, depth: usize) -> T {
    if depth > 2000 {
        return T::Unknown;
    }
    match e {
        Expr::And(cs, _) => {
            let mut acc = T::True;
            for c in cs {
                match eval(c, evt, a, depth + 1) {
                    T::False => return T::False,
                    T::Unknown => acc = T::Unknown,
                    T::True => {}
                }
            }
            acc
        }
        Expr::Or(cs, _) => {
            let mut acc = T::False;
            for c in cs {
                match eval(c, evt, a, depth + 1) {
                    T::True => return T::True,
                    T::Unknown => acc = T::Unknown,
                    T::False => {}
                }
            }
            acc
        }
        Expr::Not(c, _) => eval(c, evt, a, depth + 1).not(),
        Expr::Identifier(..) => T::Unknown,
        Expr::Exists(Operand::Field(f), _)
            if matches!(a, Assume::Failed) && f.arg.is_none() && FD_ABSENT.contains(&f.name.as_str()) =>
        {
            T::False
        }
        Expr::Exists(..) => T::Unknown,
        Expr::Compare(c) => {
            let Operand::Field(f) = &c.left else { return T::Unknown };
            if f.arg.is_some() {
                return T::Unknown;
            }
            let name = f.name.as_str();
            if matches!(a, Assume::Failed) && FD_ABSENT.contains(&name) {
                // An absent left side makes the check false, whatever the operator.
                return T::False;
            }
            let values: Vec<&str> = match &c.right {
                Rhs::Value(v, _) => vec![v.as_str()],
                Rhs::List(vs, _) => vs.iter().map(String::as_str).collect(),
                _ => return T::Unknown,
            };
            if c.modifier.is_some() {
                return T::Unknown;
            }
            match name {
                "evt.type" => {
                    let hit = values.contains(&evt);
                    match c.op {
                        Op::Eq | Op::Eq2 | Op::In | Op::Intersects => bool_t(hit),
                        Op::Ne => bool_t(!hit),
                        _ => T::Unknown,
                    }
                }
                "evt.rawres" | "evt.failed" | "evt.res" if matches!(a, Assume::ReadOnly) => T::Unknown,
                // the field is false on a read-only open
                "evt.is_open_write" if matches!(a, Assume::ReadOnly) => match (c.op, bool_lit(&values)) {
                    (Op::Eq | Op::Eq2, Some(b)) => bool_t(!b),
                    (Op::Ne, Some(b)) => bool_t(b),
                    _ => T::Unknown,
                },
                "evt.rawres" => {
                    // negative (at most -1); decided only against non-negative bounds
                    let nums: Option<Vec<i64>> = values.iter().map(|v| v.trim().parse().ok()).collect();
                    let Some(nums) = nums else { return T::Unknown };
                    let all = |p: fn(i64) -> bool| nums.iter().all(|n| p(*n));
                    match c.op {
                        Op::Ge | Op::Eq | Op::Eq2 | Op::In if all(|n| n >= 0) => T::False,
                        Op::Gt if all(|n| n >= -1) => T::False,
                        Op::Lt if all(|n| n >= 0) => T::True,
                        Op::Le if all(|n| n >= -1) => T::True,
                        Op::Ne if all(|n| n >= 0) => T::True,
                        _ => T::Unknown,
                    }
                }
                // the field is true on a failed call
                "evt.failed" => match (c.op, bool_lit(&values)) {
                    (Op::Eq | Op::Eq2, Some(b)) => bool_t(b),
                    (Op::Ne, Some(b)) => bool_t(!b),
                    _ => T::Unknown,
                },
                "evt.res" => match (c.op, values.as_slice()) {
                    (Op::Eq | Op::Eq2, ["SUCCESS"]) => T::False,
                    (Op::Ne, ["SUCCESS"]) => T::True,
                    _ => T::Unknown,
                },
                _ => T::Unknown,
            }
        }
    }
}

/// A single `true`/`false` literal (other spellings are left undecided).
fn bool_lit(values: &[&str]) -> Option<bool> {
    match values {
        [v] if v.eq_ignore_ascii_case("true") => Some(true),
        [v] if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn bool_t(b: bool) -> T {
    if b {
        T::True
    } else {
        T::False
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(cond: &str) -> u8 {
        failed_open_mask(&harrier_condition::parse(cond).expect("parses"))
    }

    #[test]
    fn descriptor_checks_cannot_match_a_failed_open() {
        let open_read =
            "evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0";
        assert_eq!(mask(open_read), 0);
        assert_eq!(mask(&format!("({open_read}) and fd.name startswith /etc")), 0);
        // the official "failed open" macro needs fd.num=-1, absent on a failed open here
        assert_eq!(
            mask("evt.type in (open,openat,openat2) and fd.typechar='f' and fd.num=-1 and evt.res startswith E"),
            0
        );
        assert_eq!(mask("evt.type=openat and not fd.name startswith /tmp and fd.name exists"), 0);
        assert_eq!(mask("evt.type=openat and evt.rawres >= 0"), 0);
        assert_eq!(mask("evt.type=creat and evt.failed=false"), 0);
    }

    #[test]
    fn read_only_opens() {
        let m = |c: &str| read_open_mask(&harrier_condition::parse(c).expect("parses"));
        let open_write =
            "evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0";
        assert_eq!(m(open_write), 0);
        assert_eq!(m(&format!("{open_write} and fd.name endswith release_agent")), 0);
        assert_eq!(m("evt.type=openat and evt.is_open_write=false"), 0b0010);
        assert_eq!(m("evt.type=openat and fd.name startswith /etc"), 0b0010);
        assert_eq!(m("evt.type=openat and not evt.is_open_write=true"), 0b0010);
        assert_eq!(m("evt.type=execve"), 0);
    }

    #[test]
    fn conditions_that_can_match_a_failed_open_keep_it() {
        // by type only, by process only, negated descriptor checks, failures asked for
        assert_eq!(mask("evt.type=openat"), 0b0010);
        assert_eq!(mask("evt.type in (open, creat) and proc.name=cat"), 0b1001);
        assert_eq!(mask("evt.type=openat2 and not fd.name startswith /etc"), 0b0100);
        assert_eq!(mask("evt.type=openat and evt.rawres < 0"), 0b0010);
        assert_eq!(mask("evt.type=openat and evt.failed=true"), 0b0010);
        assert_eq!(mask("evt.type=openat and evt.res=ENOENT"), 0b0010);
        assert_eq!(mask("evt.type=openat and (fd.num>=0 or fs.path.name startswith /etc)"), 0b0010);
        // no type restriction: every failed open may match
        assert_eq!(mask("proc.name=cat"), 0b1111);
        assert_eq!(mask("some_macro"), 0b1111);
        // other syscalls only
        assert_eq!(mask("evt.type in (execve, connect)"), 0);
        assert_eq!(mask("evt.type != openat and fd.num >= 0"), 0);
        assert_eq!(mask("evt.type != openat"), 0b1101);
    }
}
