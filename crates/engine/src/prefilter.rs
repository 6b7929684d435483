//! What a rule provably cannot match, for filters that run before the rules (in the kernel).
//!
//! The live probe may drop records in the kernel only where no loaded rule could have matched
//! them. This module decides one such class from a rule's condition: **failed opens** (`open`,
//! `openat`, `openat2`, `creat` with a negative result). The condition is evaluated with
//! three-valued logic under what is known of every such event:
//!
//! * `evt.type` is the open syscall's name (checks on it are decided);
//! * the event's descriptor does not exist: as in Falco, `fd.num` is -1, `fd.typechar` comes
//!   from the event type (`f`, or `o` for `open`), `fd.name`/`fd.nameraw`/`fd.directory` and the
//!   container forms are read from the path argument (present, value unknown here), and every
//!   other `fd.*` field listed in [`FD_ABSENT`] is absent, which the engine evaluates to false in
//!   any check (`!=` too);
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
//!
//! A third analysis bounds **the paths of the opens a rule may match** ([`open_path_prefixes`]):
//! from `fd.name`/`fd.nameraw`/`fd.directory` checks (`=`, `in`, `startswith`, `pmatch`, and the
//! literal head of a `glob`), the prefixes one of which the opened path must start with. The
//! probe wakes the reader at once only for opens whose path starts with a prefix of an urgent rule
//! ([`open_urgency`]). This decides latency only, never delivery: every record still reaches the
//! rules, within the batch window at worst.

use harrier_condition::{Expr, Op, Operand, Rhs};

/// The open syscalls whose access mode the probe reads (`open`'s flags are its second
/// argument, `openat`'s its third): the ones [`read_open_keep`] is asked about.
pub const READ_ONLY_CHECKED: [&str; 2] = ["open", "openat"];

/// The syscalls whose failures [`failed_open_mask`] decides, in bit order.
pub const OPEN_FAMILY: [&str; 4] = ["open", "openat", "openat2", "creat"];

/// Fields that are absent on a failed open's exit event (no descriptor was created; the fields
/// Falco reads from the event instead are in [`FD_FROM_EVENT`]).
pub const FD_ABSENT: &[&str] =
    &["fd.type", "fd.filename", "fd.dev", "fd.dev.major", "fd.dev.minor", "fd.ino"];

/// Descriptor fields a failed open still has, read from the event: `fd.num` (-1), `fd.typechar`
/// ([`failed_open_typechar`]) and the path forms.
pub const FD_FROM_EVENT: &[&str] = &[
    "fd.num",
    "fd.typechar",
    "fd.name",
    "fd.nameraw",
    "fd.directory",
    "fd.containername",
    "fd.containerdirectory",
];

/// `fd.typechar` of a failed open of syscall `name`: libsinsp's table of fd creators gives `f`
/// for `openat`, `openat2` and `creat` and leaves `open` out (`o`, unknown).
pub fn failed_open_typechar(name: &str) -> char {
    if name == "open" {
        'o'
    } else {
        'f'
    }
}

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
    /// Only the event type (checks on `evt.type` are decided, nothing else).
    TypeOnly,
    /// A failed open (negative result, no descriptor).
    Failed,
    /// A successful open with access mode `O_RDONLY`.
    ReadOnly,
    /// An event of any type other than the open syscalls, whose descriptor (if any) is either a
    /// regular file (`fd.type` `file`, `fd.typechar` `f`) or unknown to state (every `fd.*`
    /// field but `fd.num` absent): see [`reads_unreported_files`].
    FileOrUnknownFd,
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

/// The literal values on a check's right side (`None`: a field or another computed side).
fn rhs_strs(c: &harrier_condition::Compare) -> Option<Vec<&str>> {
    match &c.right {
        Rhs::Value(v, _) => Some(vec![v.as_str()]),
        Rhs::List(vs, _) => Some(vs.iter().map(String::as_str).collect()),
        _ => None,
    }
}

/// A check under [`Assume::FileOrUnknownFd`]: a positive `fd.type`/`fd.typechar` test that
/// neither a regular file nor an absent field passes is false; everything else is unknown.
fn file_or_unknown_fd(c: &harrier_condition::Compare, name: &str) -> T {
    let file = match name {
        "fd.type" => "file",
        "fd.typechar" => "f",
        _ => return T::Unknown,
    };
    if c.modifier.is_some() {
        return T::Unknown;
    }
    let Some(values) = rhs_strs(c) else { return T::Unknown };
    match c.op {
        Op::Eq | Op::Eq2 | Op::In | Op::Intersects if !values.contains(&file) => T::False,
        _ => T::Unknown,
    }
}

/// Events whose only descriptor is a directory argument (`dirfd`): the probe never drops an
/// open with `O_DIRECTORY`, so such a descriptor opened the usual way (`opendir`, `fts`) is
/// known to state. (A directory opened by an absolute path without `O_DIRECTORY` and then
/// used as a `dirfd` has no name in state: a rule reading `fd.name` on these events sees it
/// absent, as for a descriptor opened before Harrier started.)
pub const DIRFD_EVENTS: &[&str] = &["unlinkat", "symlinkat", "mkdirat", "renameat", "renameat2", "mknodat"];

/// Whether a rule with condition `cond` and output fields `output` may give a different result
/// on an `evt` event (one that uses an existing descriptor: `read`, `dup`, `close`, …) when the
/// probe drops successful read-only opens no rule matches ([`read_open_keep`]): state then has
/// no entry for such a descriptor, so its `fd.*` fields are absent instead of those of a
/// regular file. A rule is unaffected when `evt` uses a directory descriptor only
/// ([`DIRFD_EVENTS`]); or when its condition reads no `fd.*` field but `fd.num` for `evt`
/// (checks in branches the event type decides do not count) and its output reads none; or when
/// its condition is false both for a regular file's descriptor and for an unknown one (a
/// positive `fd.type in (ipv4, ipv6)` test).
pub fn reads_unreported_files<'a>(cond: &Expr, output: impl IntoIterator<Item = &'a str>, evt: &str) -> bool {
    if DIRFD_EVENTS.contains(&evt) {
        return false;
    }
    if !fd_reads(cond, evt, 0) && !output.into_iter().any(is_fd_field) {
        return false;
    }
    eval(cond, evt, Assume::FileOrUnknownFd, 0) != T::False
}

fn is_fd_field(name: &str) -> bool {
    name.starts_with("fd.") && name != "fd.num"
}

/// Fields computed from the whole table of a process's open descriptors, on any event: the
/// count, its share of the limit, a poll's list of descriptors.
const FD_TABLE_FIELDS: &[&str] = &["proc.fdopencount", "proc.fdusage"];

/// Whether a rule reads a field computed from the whole descriptor table ([`FD_TABLE_FIELDS`],
/// `fdlist.*`), which dropped opens would change on any event.
pub fn reads_fd_table<'a>(cond: &Expr, output: impl IntoIterator<Item = &'a str>) -> bool {
    let table = |n: &str| FD_TABLE_FIELDS.contains(&n) || n.starts_with("fdlist.");
    let mut any = false;
    harrier_condition::walk_fields(cond, &mut |f| any |= table(&f.name));
    any || output.into_iter().any(table)
}

/// `e` reads a descriptor field whose value can change its result on an `evt` event.
fn fd_reads(e: &Expr, evt: &str, depth: usize) -> bool {
    if depth > 2000 {
        return true;
    }
    if eval(e, evt, Assume::TypeOnly, depth) != T::Unknown {
        return false;
    }
    match e {
        Expr::And(cs, _) | Expr::Or(cs, _) => cs.iter().any(|c| fd_reads(c, evt, depth + 1)),
        Expr::Not(c, _) => fd_reads(c, evt, depth + 1),
        Expr::Identifier(..) => true,
        _ => {
            let mut any = false;
            harrier_condition::walk_fields(e, &mut |f| any |= is_fd_field(&f.name));
            any
        }
    }
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
            if matches!(a, Assume::TypeOnly) && name != "evt.type" {
                return T::Unknown;
            }
            if matches!(a, Assume::FileOrUnknownFd) {
                return file_or_unknown_fd(c, name);
            }
            if matches!(a, Assume::Failed) && FD_ABSENT.contains(&name) {
                // An absent left side makes the check false, whatever the operator.
                return T::False;
            }
            let Some(values) = rhs_strs(c) else { return T::Unknown };
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
                // -1 on a failed open
                "fd.num" if matches!(a, Assume::Failed) => {
                    let nums: Option<Vec<i64>> = values.iter().map(|v| v.trim().parse().ok()).collect();
                    let Some(nums) = nums else { return T::Unknown };
                    match (c.op, nums.as_slice()) {
                        (Op::Eq | Op::Eq2 | Op::In, _) => bool_t(nums.contains(&-1)),
                        (Op::Ne, [n]) => bool_t(*n != -1),
                        (Op::Lt, [n]) => bool_t(-1 < *n),
                        (Op::Le, [n]) => bool_t(-1 <= *n),
                        (Op::Gt, [n]) => bool_t(-1 > *n),
                        (Op::Ge, [n]) => bool_t(-1 >= *n),
                        _ => T::Unknown,
                    }
                }
                "fd.typechar" if matches!(a, Assume::Failed) => {
                    let mut buf = [0u8; 4];
                    let ch = &*failed_open_typechar(evt).encode_utf8(&mut buf);
                    let hit = values.contains(&ch);
                    match c.op {
                        Op::Eq | Op::Eq2 | Op::In => bool_t(hit),
                        Op::Ne => bool_t(!hit),
                        _ => T::Unknown,
                    }
                }
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

/// Longest path prefix the probe compares, in bytes (a longer one is cut: more opens urgent,
/// never fewer).
pub const PATH_PREFIX_MAX: usize = 64;

/// At most this many prefixes go to the kernel; with more, the opens stay urgent whatever the path.
pub const PATH_PREFIXES_MAX: usize = 256;

/// The path prefixes of the opens ([`OPEN_FAMILY`], successful or failed) the condition may
/// match: the condition can match an open only if the opened file's name (`fd.name`) starts with
/// one of them. `None`: no bound (some open of any path may match). `Some(vec![])`: the condition
/// matches no open. The bound holds for failed opens too: their `fd.name` is the path they tried.
pub fn open_path_prefixes(cond: &Expr) -> Option<Vec<String>> {
    let mut all = Vec::new();
    for name in OPEN_FAMILY {
        all = union(all, bound(cond, name, 0)?)?;
    }
    Some(all)
}

/// Prefixes (one of which the path must start with) under which `e` may hold for an open `evt`.
fn bound(e: &Expr, evt: &str, depth: usize) -> Option<Vec<String>> {
    if depth > 2000 {
        return None;
    }
    if eval(e, evt, Assume::TypeOnly, depth) == T::False {
        return Some(Vec::new());
    }
    match e {
        Expr::And(cs, _) => {
            let mut acc: Option<Vec<String>> = None;
            for c in cs {
                if let Some(b) = bound(c, evt, depth + 1) {
                    acc = Some(match acc {
                        None => b,
                        Some(a) => intersect(&a, &b),
                    });
                }
            }
            acc
        }
        Expr::Or(cs, _) => {
            let mut acc = Vec::new();
            for c in cs {
                acc = union(acc, bound(c, evt, depth + 1)?)?;
            }
            Some(acc)
        }
        Expr::Compare(c) => compare_bound(c),
        _ => None,
    }
}

fn compare_bound(c: &harrier_condition::Compare) -> Option<Vec<String>> {
    let Operand::Field(f) = &c.left else { return None };
    if f.arg.is_some() || c.modifier.is_some() {
        return None;
    }
    let dir = match f.name.as_str() {
        // on an open, the path forms of `fs.path`/`evt.abspath` are its `fd.name`/`fd.nameraw`
        "fd.name" | "fd.nameraw" | "fs.path.name" | "fs.path.nameraw" | "evt.abspath" => false,
        "fd.directory" => true,
        _ => return None,
    };
    let values = rhs_strs(c)?;
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let p = match c.op {
            // the directory `/dev` holds the names under `/dev/`
            Op::Eq | Op::Eq2 | Op::In if dir && !v.ends_with('/') => format!("{v}/"),
            Op::Eq | Op::Eq2 | Op::In | Op::StartsWith => v.to_string(),
            // `pmatch /etc/` also matches `/etc` itself
            Op::PMatch if v.len() > 1 => v.trim_end_matches('/').to_string(),
            Op::PMatch => v.to_string(),
            Op::Glob => {
                let head = &v[..v.find(['*', '?', '[', '\\', '{']).unwrap_or(v.len())];
                if head.is_empty() {
                    return None;
                }
                head.to_string()
            }
            _ => return None,
        };
        out.push(cut(p));
    }
    Some(minimal(out))
}

/// `p` cut to [`PATH_PREFIX_MAX`] bytes (at a character boundary) and at a NUL (a kernel path
/// never holds one).
fn cut(mut p: String) -> String {
    if let Some(i) = p.find('\0') {
        p.truncate(i);
    }
    if p.len() > PATH_PREFIX_MAX {
        let mut i = PATH_PREFIX_MAX;
        while !p.is_char_boundary(i) {
            i -= 1;
        }
        p.truncate(i);
    }
    p
}

/// Paths starting with one of `a` and one of `b`.
fn intersect(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for p in a {
        for q in b {
            if p.starts_with(q.as_str()) {
                out.push(p.clone());
            } else if q.starts_with(p.as_str()) {
                out.push(q.clone());
            }
        }
    }
    minimal(out)
}

/// `a` and `b` together; `None` past [`PATH_PREFIXES_MAX`] prefixes (no bound worth keeping).
fn union(mut a: Vec<String>, b: Vec<String>) -> Option<Vec<String>> {
    a.extend(b);
    let a = minimal(a);
    (a.len() <= PATH_PREFIXES_MAX).then_some(a)
}

/// The longest thread name the kernel keeps (`TASK_COMM_LEN` less its NUL): a longer
/// `proc.name` value is compared by its first this many bytes.
pub const COMM_MAX: usize = 15;

/// What a rule may match among **successful read-only opens of clean absolute paths** (no `//`,
/// no `.` or `..` component, no `..` anywhere, no trailing `/`; for such a path `fd.name`,
/// `fd.nameraw` and the path argument are the same string): such an open may match only if its
/// path starts with one of `paths`, or the opening thread's name is one of `comms`. The probe
/// drops the others in the kernel ([`read_open_keep`]); an empty `OpenKeep` matches none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenKeep {
    /// Path prefixes (an exact name is kept as a prefix: a superset).
    pub paths: Vec<String>,
    /// `proc.name` values, each cut to [`COMM_MAX`] bytes as the kernel cuts a thread's name.
    pub comms: Vec<String>,
}

impl OpenKeep {
    fn size(&self) -> usize {
        self.paths.len() + self.comms.len()
    }

    /// Whether the probe keeps a successful read-only open of `path` by thread `comm`: the path
    /// is not clean and absolute ([`clean_absolute`]), or starts with one of `paths` (as the
    /// probe compares them: cut to [`PATH_PREFIX_MAX`] bytes), or is a directory on the way to
    /// one (`/etc` for `/etc/shadow`: later opens relative to it resolve against its name), or
    /// `comm` is one of `comms`.
    pub fn keeps(&self, path: &[u8], comm: &[u8]) -> bool {
        let comm = &comm[..comm.len().min(COMM_MAX)];
        !clean_absolute(path)
            || self.paths.iter().any(|p| {
                let p = p.as_bytes();
                path.starts_with(&p[..p.len().min(PATH_PREFIX_MAX)])
                    || (p.len() > path.len() && p.starts_with(path) && p[path.len()] == b'/')
            })
            || self.comms.iter().any(|c| c.as_bytes() == comm)
    }

    /// Both bounds together (`None` past [`PATH_PREFIXES_MAX`] entries).
    pub fn union(self, other: OpenKeep) -> Option<OpenKeep> {
        let paths = union(self.paths, other.paths)?;
        let mut comms = self.comms;
        comms.extend(other.comms);
        comms.sort();
        comms.dedup();
        (comms.len() <= PATH_PREFIXES_MAX).then_some(OpenKeep { paths, comms })
    }
}

/// The longest path the probe checks for cleanliness, with its NUL (a longer one is kept).
pub const CLEAN_MAX: usize = 256;

/// A path whose `fd.name` is the path itself: absolute, no `//`, no `..` anywhere, no `/./`, not
/// ending in `/` or `/.`, at most [`CLEAN_MAX`] bytes with its NUL (the probe's check, in the
/// same terms).
pub fn clean_absolute(path: &[u8]) -> bool {
    path.len() >= 2
        && path.len() < CLEAN_MAX
        && path[0] == b'/'
        && !path.contains(&0)
        && !path.windows(2).any(|w| w == b"//" || w == b"..")
        && !path.windows(3).any(|w| w == b"/./")
        && !path.ends_with(b"/")
        && !path.ends_with(b"/.")
}

/// The successful read-only `evt` opens (`open` or `openat`) of clean absolute paths the
/// condition may match (see [`OpenKeep`]); `None`: no bound (any may match).
pub fn read_open_keep(cond: &Expr, evt: &str) -> Option<OpenKeep> {
    keep(cond, evt, 0)
}

fn keep(e: &Expr, evt: &str, depth: usize) -> Option<OpenKeep> {
    if depth > 2000 {
        return None;
    }
    if eval(e, evt, Assume::ReadOnly, depth) == T::False {
        return Some(OpenKeep::default());
    }
    match e {
        Expr::And(cs, _) => {
            // path bounds narrow each other; a bound by name is taken alone (the smallest)
            let mut paths: Option<Vec<String>> = None;
            let mut by_name: Option<OpenKeep> = None;
            for c in cs {
                let Some(k) = keep(c, evt, depth + 1) else { continue };
                if k.comms.is_empty() {
                    paths = Some(match paths {
                        None => k.paths,
                        Some(a) => intersect(&a, &k.paths),
                    });
                } else if by_name.as_ref().is_none_or(|b| k.size() < b.size()) {
                    by_name = Some(k);
                }
            }
            paths.map(|paths| OpenKeep { paths, comms: Vec::new() }).or(by_name)
        }
        Expr::Or(cs, _) => {
            let mut acc = OpenKeep::default();
            for c in cs {
                acc = acc.union(keep(c, evt, depth + 1)?)?;
            }
            Some(acc)
        }
        Expr::Compare(c) => compare_keep(c),
        _ => None,
    }
}

fn compare_keep(c: &harrier_condition::Compare) -> Option<OpenKeep> {
    let Operand::Field(f) = &c.left else { return None };
    if f.arg.is_some() || c.modifier.is_some() {
        return None;
    }
    let values = rhs_strs(c)?;
    match (f.name.as_str(), c.op) {
        ("proc.name", Op::Eq | Op::Eq2 | Op::In) => {
            let mut comms = Vec::with_capacity(values.len());
            for v in values {
                let n = v.len().min(COMM_MAX);
                // cut inside a character: the kernel's bytes are not a `String` (no bound)
                comms.push(v.get(..n)?.to_string());
            }
            comms.sort();
            comms.dedup();
            (comms.len() <= PATH_PREFIXES_MAX).then_some(OpenKeep { paths: Vec::new(), comms })
        }
        // a clean path holds no `..`: a test that needs one cannot pass
        (
            "fd.name" | "fd.nameraw" | "fd.directory" | "fs.path.name" | "fs.path.nameraw" | "evt.abspath",
            Op::Contains | Op::EndsWith | Op::Glob,
        ) if values.iter().all(|v| needs_dotdot(v, c.op == Op::Glob)) => Some(OpenKeep::default()),
        _ => compare_bound(c).map(|paths| OpenKeep { paths, comms: Vec::new() }),
    }
}

/// Every string the value (a glob pattern with `glob`) matches or contains holds `..`.
fn needs_dotdot(v: &str, glob: bool) -> bool {
    v.contains("..") && !(glob && v.contains(['[', '\\', '{']))
}

/// Sorted, without duplicates and without prefixes covered by a shorter one.
fn minimal(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for p in v {
        // sorted: a covering prefix sorts before everything it covers
        if !out.last().is_some_and(|q| p.starts_with(q.as_str())) {
            out.push(p);
        }
    }
    out
}

/// What an urgent rule (high priority, or any rule when responses are loaded) tells the probe
/// about opens: which [`OPEN_FAMILY`] syscalls its event types hold (bit `i`), which of them it
/// may match read-only or failed (`Ruleset` rules' `read_opens | failed_opens`), and the path
/// prefixes of the opens it may match ([`open_path_prefixes`]).
#[derive(Debug, Clone, Copy)]
pub struct UrgentOpenRule<'a> {
    pub opens: u8,
    pub read_or_failed: u8,
    pub prefixes: Option<&'a [String]>,
}

/// Which opens the probe must deliver at once. An open syscall not named in `writes` nor
/// `by_path` is urgent whenever an urgent rule watches it (the probe's default); one named is
/// urgent only when the call succeeded and (`writes`) it opened for writing, or (`by_path`) its
/// path starts with one of `prefixes` (a relative one: the opened file's top-level directory is
/// a prefix's first component).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpenUrgency {
    pub writes: Vec<&'static str>,
    pub by_path: Vec<&'static str>,
    pub prefixes: Vec<String>,
}

/// The probe's open urgency for the urgent rules given.
pub fn open_urgency<'a>(rules: impl IntoIterator<Item = UrgentOpenRule<'a>>) -> OpenUrgency {
    // per syscall: some rule needs every open urgent / some rule is bounded by writes / by path
    let mut full = [false; 4];
    let mut writes = [false; 4];
    let mut by_path = [false; 4];
    let mut prefixes = Vec::new();
    for r in rules {
        for i in 0..OPEN_FAMILY.len() {
            if r.opens & (1 << i) == 0 {
                continue;
            }
            match r.prefixes {
                Some([]) => {}
                Some(p) => {
                    by_path[i] = true;
                    prefixes.extend(p.iter().cloned());
                }
                // the probe checks the access mode of open and openat only
                None if i < 2 && r.read_or_failed & (1 << i) == 0 => writes[i] = true,
                None => full[i] = true,
            }
        }
    }
    let prefixes = minimal(prefixes);
    if prefixes.len() > PATH_PREFIXES_MAX {
        for i in 0..OPEN_FAMILY.len() {
            full[i] |= by_path[i];
        }
    }
    let pick = |m: &[bool; 4]| -> Vec<&'static str> {
        (0..OPEN_FAMILY.len()).filter(|&i| m[i] && !full[i]).map(|i| OPEN_FAMILY[i]).collect()
    };
    let by_path = pick(&by_path);
    OpenUrgency {
        writes: pick(&writes),
        prefixes: if by_path.is_empty() { Vec::new() } else { prefixes },
        by_path,
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
        // the official "failed open" macro: fd.num is -1 and fd.typechar 'f' there, except 'o'
        // for open (as in Falco)
        assert_eq!(
            mask("evt.type in (open,openat,openat2) and fd.typechar='f' and fd.num=-1 and evt.res startswith E"),
            0b0110
        );
        assert_eq!(mask("evt.type in (open,openat,creat) and fd.typechar in (o, d) and fd.num < 0"), 0b0001);
        assert_eq!(mask("evt.type=openat and (fd.num > -1 or fd.num != -1 or fd.num in (0, 1))"), 0);
        assert_eq!(mask("evt.type=openat and fd.num <= -1 and fd.typechar != o"), 0b0010);
        // the path forms are present (read from the event), their values unknown
        assert_eq!(mask("evt.type=openat and not fd.name startswith /tmp and fd.name exists"), 0b0010);
        assert_eq!(mask("evt.type=openat and fd.nameraw contains '../'"), 0b0010);
        // no descriptor behind it: its type, file name, device and inode are absent
        assert_eq!(mask("evt.type=openat and (fd.type=file or fd.filename exists or fd.ino > 0)"), 0);
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

    fn prefixes(cond: &str) -> Option<Vec<String>> {
        open_path_prefixes(&harrier_condition::parse(cond).expect("parses"))
    }

    fn v(xs: &[&str]) -> Option<Vec<String>> {
        Some(xs.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn path_prefixes_of_open_rules() {
        assert_eq!(prefixes("evt.type=openat and fd.name startswith /dev/"), v(&["/dev/"]));
        // the official sandbox device rule's shape
        let device = "(evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0) \
             and container.id != host and (fd.name startswith /dev/sd or fd.name startswith /dev/nvme \
             or fd.name = /dev/mem or fd.name = /dev/kmem) and not proc.name=dd";
        assert_eq!(prefixes(device), v(&["/dev/kmem", "/dev/mem", "/dev/nvme", "/dev/sd"]));
        assert_eq!(
            prefixes("evt.type=open and fd.name in (/etc/shadow, /etc/sudoers)"),
            v(&["/etc/shadow", "/etc/sudoers"])
        );
        assert_eq!(prefixes("evt.type=open and fd.directory in (/etc, /root/)"), v(&["/etc/", "/root/"]));
        assert_eq!(prefixes("evt.type=open and fd.name pmatch (/etc/, /var/run)"), v(&["/etc", "/var/run"]));
        assert_eq!(prefixes("evt.type=open and fd.name glob '/proc/*/mem'"), v(&["/proc/"]));
        // a shorter prefix covers a longer one; both sides of an `and` narrow
        assert_eq!(
            prefixes("evt.type=open and fd.name startswith /dev or fd.name startswith /dev/sd"),
            v(&["/dev"])
        );
        assert_eq!(prefixes("fd.name startswith /dev and fd.name startswith /dev/sd"), v(&["/dev/sd"]));
        assert_eq!(prefixes("fd.name startswith /dev and fd.name startswith /etc"), v(&[]));
        // a branch for another syscall does not widen the opens'
        assert_eq!(
            prefixes("(evt.type=openat and fd.name startswith /dev/) or evt.type=execve"),
            v(&["/dev/"])
        );
        // long prefixes are cut (more urgent opens, never fewer)
        let long = format!("/{}", "a".repeat(100));
        assert_eq!(prefixes(&format!("fd.name startswith {long}")).unwrap()[0].len(), PATH_PREFIX_MAX);
        // not about opens at all
        assert_eq!(prefixes("evt.type=execve and proc.name=sh"), v(&[]));
    }

    #[test]
    fn rules_without_a_path_bound_have_none() {
        assert_eq!(prefixes("evt.type=openat"), None);
        assert_eq!(prefixes("evt.type=openat and proc.name=cat"), None);
        assert_eq!(prefixes("evt.type=openat and fd.name endswith release_agent"), None);
        assert_eq!(prefixes("evt.type=openat and fd.name contains /dev/"), None);
        assert_eq!(prefixes("evt.type=openat and not fd.name startswith /dev/"), None);
        assert_eq!(prefixes("evt.type=openat and (fd.name startswith /dev/ or proc.name=cat)"), None);
        assert_eq!(prefixes("evt.type=openat and fd.name glob '*.so'"), None);
        assert_eq!(prefixes("evt.type=openat and tolower(fd.name) startswith /dev/"), None);
        assert_eq!(prefixes("evt.type=openat and fd.name icontains /dev/"), None);
        assert_eq!(prefixes("some_macro and fd.name startswith /dev/"), v(&["/dev/"]));
        assert_eq!(prefixes("some_macro"), None);
    }

    #[test]
    fn urgency_of_opens() {
        let dev = vec!["/dev/".to_string()];
        let openat = 0b0010;
        let rule = |opens, read_or_failed, prefixes| UrgentOpenRule { opens, read_or_failed, prefixes };
        // a path-bounded urgent rule: openat urgent only by path
        let u = open_urgency([rule(openat, openat, Some(dev.as_slice()))]);
        assert_eq!(u, OpenUrgency { writes: vec![], by_path: vec!["openat"], prefixes: dev.clone() });
        // with a writes-only urgent rule beside it: by path or by write access
        let u = open_urgency([rule(openat, openat, Some(dev.as_slice())), rule(0b0011, 0, None)]);
        assert_eq!(u.writes, ["open", "openat"]);
        assert_eq!(u.by_path, ["openat"]);
        // an urgent rule on opens without a path bound keeps every open urgent (today's behaviour)
        let u = open_urgency([rule(openat, openat, Some(dev.as_slice())), rule(openat, openat, None)]);
        assert_eq!(u, OpenUrgency::default());
        // writes-only cannot be checked on openat2 and creat: they stay urgent
        let u = open_urgency([rule(0b1100, 0, None)]);
        assert_eq!(u, OpenUrgency::default());
        // a rule that cannot match an open changes nothing
        let none: Vec<String> = Vec::new();
        let u = open_urgency([
            rule(openat, 0, Some(none.as_slice())),
            rule(openat, openat, Some(dev.as_slice())),
        ]);
        assert_eq!(u.by_path, ["openat"]);
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

    fn keep(cond: &str) -> Option<OpenKeep> {
        let e = harrier_condition::parse(cond).expect("parses");
        let mut acc = OpenKeep::default();
        for name in READ_ONLY_CHECKED {
            acc = acc.union(read_open_keep(&e, name)?)?;
        }
        Some(acc)
    }

    fn k(paths: &[&str], comms: &[&str]) -> Option<OpenKeep> {
        Some(OpenKeep {
            paths: paths.iter().map(|s| s.to_string()).collect(),
            comms: comms.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn read_open_bounds() {
        let open = "evt.type in (open, openat) and evt.dir = <";
        assert_eq!(
            keep(&format!("{open} and fd.name in (/etc/shadow, /etc/sudoers)")),
            k(&["/etc/shadow", "/etc/sudoers"], &[])
        );
        assert_eq!(keep(&format!("{open} and fd.directory = /etc/pam.d")), k(&["/etc/pam.d/"], &[]));
        // a name bound; a long name is cut as the kernel cuts a thread's name
        assert_eq!(
            keep(&format!("{open} and proc.name in (tar, a_very_long_process_name)")),
            k(&[], &["a_very_long_pro", "tar"])
        );
        // `and`: path bounds narrow each other, else the smaller bound stands
        assert_eq!(
            keep(&format!("{open} and fd.name startswith /etc and fd.name startswith /etc/ssh")),
            k(&["/etc/ssh"], &[])
        );
        assert_eq!(
            keep(&format!("{open} and proc.name = sshd and fd.name startswith /usr/lib")),
            k(&["/usr/lib"], &[])
        );
        // `or`: both
        assert_eq!(
            keep(&format!("{open} and (fd.name startswith /root or proc.name = cat)")),
            k(&["/root"], &["cat"])
        );
        // no clean path holds `..`: the traversal shape matches none
        assert_eq!(
            keep(&format!("{open} and fd.nameraw contains '../' and fd.nameraw glob '*../*../*'")),
            k(&[], &[])
        );
        // write-only rules match no read-only open
        assert_eq!(keep(&format!("{open} and evt.is_open_write = true")), k(&[], &[]));
        // unbounded: a file name, a negation, a substring
        assert_eq!(keep(&format!("{open} and fd.filename = passwd")), None);
        assert_eq!(keep(&format!("{open} and not fd.name startswith /tmp")), None);
        assert_eq!(keep(&format!("{open} and fd.name contains ssh")), None);
        assert_eq!(keep(&format!("{open} and (fd.name startswith /etc or fd.name endswith .pem)")), None);
        // other event types only: nothing to keep
        assert_eq!(keep("evt.type = execve and proc.name = sh"), k(&[], &[]));
        let table =
            |c: &str, o: &[&str]| reads_fd_table(&harrier_condition::parse(c).unwrap(), o.iter().copied());
        assert!(table("evt.type = execve and proc.fdopencount > 100", &[]));
        assert!(table("evt.type = poll", &["fdlist.names"]));
        assert!(!table("evt.type = execve and proc.name = sh", &["proc.cmdline", "fd.num"]));
        // the path forms of fs.path on an open (Harrier's default "Log files cleared" shape)
        assert_eq!(
            keep(&format!("{open} and evt.arg.flags contains O_TRUNC and (fd.name startswith /var/log/ or fs.path.name startswith /var/log/)")),
            k(&["/var/log/"], &[])
        );
    }

    #[test]
    fn clean_paths_and_what_keeps_an_open() {
        for p in ["/etc/shadow", "/a", "/home/u/.bashrc", "/x/.y/z", "/a/b.c"] {
            assert!(clean_absolute(p.as_bytes()), "{p}");
        }
        for p in [
            "",
            "/",
            "etc/shadow",
            "./x",
            "/tmp/../etc/shadow",
            "/a//b",
            "/a/./b",
            "/a/",
            "/a/.",
            "/a/b..c",
            "/a\0b",
        ] {
            assert!(!clean_absolute(p.replace("\\0", "\0").as_bytes()), "{p}");
        }
        assert!(!clean_absolute(format!("/{}", "a".repeat(CLEAN_MAX)).as_bytes()));
        let kp = k(&["/etc/pam.d/", "/etc/shadow"], &["sshd"]).unwrap();
        assert!(kp.keeps(b"/etc/shadow", b"cat"));
        assert!(kp.keeps(b"/etc/shadow-", b"cat"), "an exact name is kept as a prefix");
        assert!(kp.keeps(b"/usr/lib/x.so", b"sshd"));
        assert!(kp.keeps(b"/tmp/../etc/shadow", b"cat"), "not clean");
        assert!(kp.keeps(b"shadow", b"cat"), "relative");
        assert!(!kp.keeps(b"/usr/lib/x.so", b"cat"));
        assert!(!kp.keeps(b"/etc/pam.conf", b"sshd-session"), "names are compared whole");
        assert!(kp.keeps(b"/etc", b"cat") && kp.keeps(b"/etc/pam.d", b"cat"), "directories on the way");
        assert!(!kp.keeps(b"/et", b"cat") && !kp.keeps(b"/etc/pam", b"cat"));
    }
}
