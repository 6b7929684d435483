//! Workload profiles: what each workload did during its learning window, deviations after it, and
//! the file they are kept in (JSON, versioned, written atomically).

use crate::obs::{EvClass, Observation};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The file format's name and version (`format`, `version` at the top of the file). A file of
/// another format or a newer version is refused with a clear error.
pub const FORMAT: &str = "harrier-profiles";
pub const VERSION: u32 = 1;

/// Most items one kind of one workload keeps; past it the kind is *saturated* (it learns and
/// reports nothing more: a workload that opens ten thousand distinct directories has no useful
/// profile of them).
pub const MAX_ITEMS: usize = 2048;

/// What a profile records, and what a deviation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An executable run (`proc.exepath`).
    Exec,
    /// A parent→child pair (`parent exe -> child exe`).
    Spawn,
    /// A directory written to (opened for writing).
    WriteDir,
    /// An outbound destination (`ip:port/proto`).
    Connect,
    /// A port listened on or accepted from (`port/proto`).
    Listen,
    /// A syscall family used (among the security-relevant ones the observer watches).
    Family,
    /// An executable that was not in the image (container upper layer) or was written after the
    /// workload started (host): drift.
    Drift,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Exec, Kind::Spawn, Kind::WriteDir, Kind::Connect, Kind::Listen, Kind::Family, Kind::Drift];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Spawn => "spawn",
            Kind::WriteDir => "write_dir",
            Kind::Connect => "connect",
            Kind::Listen => "listen",
            Kind::Family => "family",
            Kind::Drift => "drift",
        }
    }

    /// The position of this kind in [`Kind::ALL`].
    pub fn index(self) -> usize {
        match self {
            Kind::Exec => 0,
            Kind::Spawn => 1,
            Kind::WriteDir => 2,
            Kind::Connect => 3,
            Kind::Listen => 4,
            Kind::Family => 5,
            Kind::Drift => 6,
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How a deviation of this kind reads in an alert.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Exec => "a new executable",
            Kind::Spawn => "a new parent/child pair",
            Kind::WriteDir => "a write to a new directory",
            Kind::Connect => "a new outbound destination",
            Kind::Listen => "a new listening port",
            Kind::Family => "a new syscall family",
            Kind::Drift => "an executable not in the image or written after start (drift)",
        }
    }
}

/// A deviation seen after learning, kept for review (`harrier profile accept`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub count: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    /// The command line of the first process seen doing it.
    #[serde(default)]
    pub example: String,
}

/// One workload's profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadProfile {
    /// Event time of the first observation, ns.
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    /// Learning ends at this event time (ns); deviations are reported after it.
    pub learn_until_ns: u64,
    /// Observations learned from.
    pub learned_events: u64,
    /// What the workload does, by kind.
    #[serde(default)]
    pub items: BTreeMap<Kind, BTreeSet<String>>,
    /// Kinds that reached [`MAX_ITEMS`].
    #[serde(default)]
    pub saturated: BTreeSet<Kind>,
    /// Deviations seen after learning, not accepted yet.
    #[serde(default)]
    pub pending: BTreeMap<Kind, BTreeMap<String, Pending>>,
}

impl WorkloadProfile {
    pub fn learning(&self, ts: u64) -> bool {
        ts < self.learn_until_ns
    }

    pub fn has(&self, kind: Kind, item: &str) -> bool {
        let Some(set) = self.items.get(&kind) else { return false };
        if set.contains(item) {
            return true;
        }
        // A directory learned as a pattern (see [`learned_pattern`]), or one with a folded
        // generated name (see [`dir_matches`]).
        kind == Kind::WriteDir
            && set
                .iter()
                .any(|p| (p.contains(RANDOM) || p.contains(HEX) || p.contains('*')) && dir_matches(p, item))
    }

    /// Learn a directory written to; when it and one learned before differ only in random-looking
    /// names (see [`learned_pattern`]), the pattern is learned too.
    fn add_dir(&mut self, dir: &str) {
        if !self.add(Kind::WriteDir, dir) {
            return;
        }
        let Some(set) = self.items.get(&Kind::WriteDir) else { return };
        let found: Vec<String> =
            set.iter().filter(|d| d.as_str() != dir).filter_map(|d| learned_pattern(d, dir)).collect();
        for p in found {
            self.add(Kind::WriteDir, &p);
        }
    }

    fn add(&mut self, kind: Kind, item: &str) -> bool {
        if self.saturated.contains(&kind) {
            return false;
        }
        let set = self.items.entry(kind).or_default();
        if set.contains(item) {
            return false;
        }
        if set.len() >= MAX_ITEMS {
            self.saturated.insert(kind);
            return false;
        }
        set.insert(item.to_string());
        true
    }

    /// Move pending deviations into the profile: every one (`kind` and `item` `None`), those of a
    /// kind, or one item. Returns how many were accepted.
    pub fn accept(&mut self, kind: Option<Kind>, item: Option<&str>) -> usize {
        let mut n = 0;
        let kinds: Vec<Kind> =
            self.pending.keys().copied().filter(|k| kind.is_none_or(|x| x == *k)).collect();
        for k in kinds {
            let Some(mut map) = self.pending.remove(&k) else { continue };
            let items: Vec<String> =
                map.keys().filter(|i| item.is_none_or(|x| x == i.as_str())).cloned().collect();
            for i in items {
                map.remove(&i);
                if k != Kind::Drift {
                    self.add(k, &i);
                } else {
                    self.items.entry(k).or_default().insert(i);
                }
                n += 1;
            }
            if !map.is_empty() {
                self.pending.insert(k, map);
            }
        }
        n
    }
}

/// Every workload's profile: the file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSet {
    pub format: String,
    pub version: u32,
    /// The learning window given to new workloads, ns.
    pub learn_window_ns: u64,
    pub workloads: BTreeMap<String, WorkloadProfile>,
}

/// One deviation found by [`ProfileSet::observe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deviation {
    pub kind: Kind,
    pub item: String,
    pub workload: String,
}

/// Why a profile file could not be used.
#[derive(Debug)]
pub struct ProfileError(pub String);

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProfileError {}

/// A directory with its run-to-run noise generalised, so that pids, counters and temporary names
/// do not make every write new, while ordinary names stay themselves (`python3`, `overlay2`,
/// `x86_64-linux-gnu`, `python3.11` are not noise). Per component:
/// - all digits (`/proc/1234`) becomes `#`;
/// - a uuid (`8-4-4-4-12` hex) becomes `*`;
/// - a random-looking part after the last `-`, `.` or `_` (or the whole name) becomes `*`: sixteen
///   or more hex digits with a digit among them (a container id, a hash), or eight or more letters
///   and digits with at least two of each, interleaved (at least three letter/digit runs:
///   `8x2kp1q9`, `Xy7Qe3Ab`; not `ubuntu2204`);
/// - a name ending in eight or more digits keeps the rest: `metacopy-check*` (see
///   [`MIN_DECIMAL_DRAW`]);
/// - a temporary-file name shape, `tmp`, `tmp.` or `.tmp` followed by six or more letters, digits
///   or `_` (what `mktemp`, Python's `tempfile` and Rust's `tempfile` generate), keeps its prefix:
///   `tmp.*`, `tmp*`, `.tmp*`.
pub fn generalise_dir(dir: &str) -> String {
    let mut out = String::with_capacity(dir.len());
    for (i, c) in dir.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&generalise_component(c));
    }
    out
}

fn generalise_component(c: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) {
        return Cow::Borrowed("#");
    }
    if is_uuid(c) {
        return Cow::Borrowed("*");
    }
    for prefix in ["tmp.", ".tmp", "tmp"] {
        if let Some(rest) = c.strip_prefix(prefix) {
            if rest.len() >= 6 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Cow::Owned(format!("{prefix}*"));
            }
        }
    }
    let cut = c.rfind(['-', '.', '_']).map(|p| p + 1).unwrap_or(0);
    if looks_random(&c.as_bytes()[cut..]) {
        return Cow::Owned(format!("{}*", &c[..cut]));
    }
    let digits = c.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits >= MIN_DECIMAL_DRAW {
        return Cow::Owned(format!("{}*", &c[..c.len() - digits]));
    }
    Cow::Borrowed(c)
}

/// Shortest trailing run of digits folded as a random number: Go's `os.MkdirTemp` and
/// `os.CreateTemp` append a random 32-bit number in decimal (up to ten digits, eight or more in
/// all but 1 in 250 draws) to their pattern, e.g. the container runtimes' overlay check
/// `metacopy-check2555800505`. Version numbers and years are shorter; a date (`20240101`) folds
/// too, which is what a profile wants of a daily directory.
const MIN_DECIMAL_DRAW: usize = 8;

fn is_uuid(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, x)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *x == b'-'
            } else {
                x.is_ascii_hexdigit()
            }
        })
}

/// Letters and digits that look generated rather than named (see [`generalise_dir`]).
fn looks_random(t: &[u8]) -> bool {
    if !t.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let digits = t.iter().filter(|b| b.is_ascii_digit()).count();
    if t.len() >= 16 && digits > 0 && t.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    let letters = t.len() - digits;
    let runs = 1 + t.windows(2).filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit()).count();
    t.len() >= 8 && digits >= 2 && letters >= 2 && runs >= 3
}

/// The port of a destination or a listening socket as a profile item: ports in Linux's default
/// ephemeral range (32768–60999, `net.ipv4.ip_local_port_range`) are the ones a program gets when
/// it binds port 0, and differ from run to run: they are one item, `ephemeral`. Fixed service
/// ports (and the usual attack ports: 4444, 1337, 31337) stay themselves.
pub fn generalise_port(port: &str) -> &str {
    match port.parse::<u32>() {
        Ok(p) if (32768..=60999).contains(&p) => "ephemeral",
        _ => port,
    }
}

/// The syscall family of an event type: the first member of its family (`execveat` → `execve`),
/// the name itself for calls outside the known families.
pub fn family_of(evt: &str) -> &str {
    for f in harrier_engine::evttype::SYSCALL_FAMILIES {
        if f.required.contains(&evt) || f.optional.contains(&evt) {
            return f.required[0];
        }
    }
    evt
}

/// Shortest token that can be a generated name (Python's `tempfile` uses 8 characters, pip's
/// directories `pip-<what>-<8 characters>`; cargo's incremental session directories
/// `s-<time>-<random>-working`).
const MIN_RANDOM_TOKEN: usize = 6;

/// A token of a generated name: letters, digits and `_` only, long enough.
fn random_token(t: &str) -> bool {
    t.len() >= MIN_RANDOM_TOKEN && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Two tokens of the same place in two names that look like two draws of one generator: the
/// same length give or take one (a random number written in base 36 has six or seven digits),
/// both [`random_token`]s, a digit or `_` in one of them (words have none), and
/// differing in three positions or more (`install` and `unpack` differ in length, `reports` and
/// `receipt` have no digit, `build01` and `build02` differ in one position). A time-based part
/// (cargo's session timestamps) differs in its last few characters only, hence three, not half.
fn two_draws(a: &str, b: &str) -> bool {
    let marked = |t: &str| t.bytes().any(|b| b.is_ascii_digit() || b == b'_');
    let differ = a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len());
    a.len().abs_diff(b.len()) <= 1
        && random_token(a)
        && random_token(b)
        && (marked(a) || marked(b))
        && differ >= 3
}

/// The directory pattern two learned directories are instances of, if they differ only in
/// generated names: the same number of components, and where components differ, the same tokens
/// (split at `-` and `.`) except tokens that are [`two_draws`] of one generator (or folded `*`),
/// which become [`RANDOM`]. `/tmp/pip-build-env-kq3jxbnw/lib` and `/tmp/pip-build-env-a8zzpmrt/lib`
/// give `/tmp/pip-build-env-<random>/lib`. This is how a workload's own temporary-name scheme is learned
/// (whatever program it is) without folding ordinary names: a name is only generalised after the
/// workload was seen drawing two different ones of the same shape while learning.
pub fn learned_pattern(a: &str, b: &str) -> Option<String> {
    let (ca, cb): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    if ca.len() != cb.len() {
        return None;
    }
    let mut out = Vec::with_capacity(ca.len());
    let mut generalised = false;
    for (x, y) in ca.iter().zip(&cb) {
        if x == y {
            out.push(x.to_string());
            continue;
        }
        let tx: Vec<&str> = x.split(['-', '.']).collect();
        let ty: Vec<&str> = y.split(['-', '.']).collect();
        if tx.len() != ty.len() || separators(x) != separators(y) {
            return None;
        }
        let mut comp = String::with_capacity(x.len());
        let seps = separators(x);
        for (i, (p, q)) in tx.iter().zip(&ty).enumerate() {
            if i > 0 {
                comp.push(seps[i - 1] as char);
            }
            if p == q {
                comp.push_str(p);
            } else if [*p, *q].iter().any(|t| *t == "*" || *t == RANDOM) || two_draws(p, q) {
                comp.push_str(RANDOM);
                generalised = true;
            } else if tx.len() == 1 && fan_out(p, q) {
                comp.push_str(HEX);
                generalised = true;
            } else {
                return None;
            }
        }
        out.push(comp);
    }
    generalised.then(|| out.join("/"))
}

/// A learned pattern's placeholder for a generated token (a folded name's `*` matches only tokens
/// that were [`drawn`] by a generator: `/data/cache/*` is not a pattern for `/data/cache/secrets`).
pub const RANDOM: &str = "<random>";

/// A learned pattern's placeholder for a hashed fan-out directory: object stores and caches spread
/// their files over directories named by the first hex digits of a hash (git's `objects/9c`,
/// ccache's, squid's), so a workload writes to a new one of them every so often.
pub const HEX: &str = "<hex>";

/// The longest fan-out directory name (most use two hex digits, some one, three or four).
const MAX_FAN_OUT: usize = 4;

/// A fan-out directory name: 1–4 hex digits (all-digit ones were already folded to `#`).
fn hex_name(t: &str) -> bool {
    t == "#" || (t.len() <= MAX_FAN_OUT && !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Two whole directory names that are two buckets of one fan-out: both [`hex_name`]s of the same
/// length (or one all-digit, folded to `#`), with a digit in one of them so words do not count
/// (`de` and `ca` in a locale directory stay names).
fn fan_out(a: &str, b: &str) -> bool {
    let digit = |t: &str| t == "#" || t.bytes().any(|b| b.is_ascii_digit());
    hex_name(a) && hex_name(b) && (a.len() == b.len() || a == "#" || b == "#") && (digit(a) || digit(b))
}

/// A token in the place of a folded generated name (`*`) that was itself drawn by the generator:
/// letters, digits and `_` only, six or more, with a letter and a digit or `_` (Python's tempfile
/// names, e.g. pip's `pip-unpack-rgbh1etz`, which has too few digits to be folded itself). Words
/// (`secrets`) never are.
fn drawn(t: &str) -> bool {
    random_token(t)
        && t.bytes().any(|b| b.is_ascii_alphabetic())
        && t.bytes().any(|b| b.is_ascii_digit() || b == b'_')
}

fn separators(c: &str) -> Vec<u8> {
    c.bytes().filter(|b| *b == b'-' || *b == b'.').collect()
}

/// Whether a directory is an instance of a learned pattern: [`RANDOM`] tokens match a generated
/// token ([`random_token`]) or a folded one (`*`: a draw with enough digits to be folded, where the
/// draws seen while learning had too few), a folded `*` a token [`drawn`] by a generator, a [`HEX`]
/// component a fan-out directory name ([`hex_name`]); everything else matches itself.
fn dir_matches(pattern: &str, dir: &str) -> bool {
    let mut pc = pattern.split('/');
    let mut dc = dir.split('/');
    loop {
        match (pc.next(), dc.next()) {
            (None, None) => return true,
            (Some(p), Some(d)) => {
                if p == d {
                    continue;
                }
                if p == HEX {
                    if hex_name(d) {
                        continue;
                    }
                    return false;
                }
                if separators(p) != separators(d) {
                    return false;
                }
                let ok = p.split(['-', '.']).zip(d.split(['-', '.'])).all(|(x, y)| {
                    x == y || (x == RANDOM && (random_token(y) || y == "*")) || (x == "*" && drawn(y))
                });
                if !ok {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A spawn pair's parent when it is the container runtime (see [`container_runtime`]).
pub const RUNTIME: &str = "<container runtime>";

/// An executable of the container runtime, which starts a container's first process and the
/// processes exec'd into it: which of its processes is the parent at that exec is a race (runc's
/// `create` may have exited and the shim adopted `runc init`, or not yet), so a spawn pair names
/// the runtime, not the binary.
fn container_runtime(exe: &str) -> bool {
    let base = exe.rsplit('/').next().unwrap_or(exe);
    base.starts_with("containerd-shim")
        || matches!(base, "runc" | "crun" | "conmon" | "youki" | "runsc" | "docker-init")
        || exe.starts_with("/memfd:runc")
}

/// Host drift: the executable's inode changed this long after the workload was first seen.
const DRIFT_SLACK_NS: u64 = 1_000_000_000;

impl ProfileSet {
    pub fn new(learn_window_ns: u64) -> ProfileSet {
        ProfileSet { format: FORMAT.into(), version: VERSION, learn_window_ns, workloads: BTreeMap::new() }
    }

    /// What an observation says about its workload: (kind, item) pairs.
    pub fn items_of(&self, o: &Observation) -> Vec<(Kind, String)> {
        let mut v = Vec::with_capacity(3);
        v.push((Kind::Family, family_of(o.evt).to_string()));
        match o.class {
            EvClass::Exec => {
                let exe = o.get("proc.exepath");
                if !exe.is_empty() {
                    v.push((Kind::Exec, exe.to_string()));
                    let pexe = o.get("proc.pexepath");
                    if !pexe.is_empty() {
                        let pexe = if container_runtime(pexe) { RUNTIME } else { pexe };
                        v.push((Kind::Spawn, format!("{pexe} -> {exe}")));
                    }
                }
            }
            EvClass::Open => {
                if o.get("evt.is_open_write") == "true" {
                    let dir = o.get("fd.directory");
                    if !dir.is_empty() {
                        v.push((Kind::WriteDir, generalise_dir(dir)));
                    }
                }
            }
            EvClass::Connect => {
                let (ip, port) = (o.get("fd.sip"), o.get("fd.sport"));
                let t = o.get("fd.typechar");
                if !ip.is_empty() && (t == "4" || t == "6") {
                    let port = generalise_port(port);
                    v.push((Kind::Connect, format!("{ip}:{port}/{}", o.get("fd.l4proto"))));
                }
            }
            EvClass::Listen => {
                let port = o.get("fd.sport");
                if !port.is_empty() && port != "0" {
                    v.push((Kind::Listen, format!("{}/{}", generalise_port(port), o.get("fd.l4proto"))));
                }
            }
            EvClass::Send | EvClass::Other => {}
        }
        v
    }

    /// Whether the observed executable drifted (see [`Kind::Drift`]).
    fn drifted(o: &Observation, p: &WorkloadProfile) -> bool {
        if o.class != EvClass::Exec {
            return false;
        }
        if o.get("proc.is_exe_upper_layer") == "true" {
            return true;
        }
        o.get("container.id").is_empty_or_host()
            && o.exe_ctime > 0
            && p.first_seen_ns > 0
            && o.exe_ctime > p.first_seen_ns + DRIFT_SLACK_NS
    }

    /// Learn from or check one observation; deviations are returned once per (workload, kind,
    /// item) until accepted (repeats are counted in the pending entry).
    pub fn observe(&mut self, o: &Observation) -> Vec<Deviation> {
        if o.workload.is_empty() {
            return Vec::new();
        }
        let items = self.items_of(o);
        let window = self.learn_window_ns;
        let p = self.workloads.entry(o.workload.clone()).or_insert_with(|| WorkloadProfile {
            first_seen_ns: o.ts,
            learn_until_ns: o.ts.saturating_add(window),
            ..Default::default()
        });
        p.last_seen_ns = p.last_seen_ns.max(o.ts);
        let drift = Self::drifted(o, p).then(|| o.get("proc.exepath").to_string());
        let mut out = Vec::new();
        if p.learning(o.ts) {
            p.learned_events += 1;
            for (k, i) in &items {
                if *k == Kind::WriteDir {
                    p.add_dir(i);
                } else {
                    p.add(*k, i);
                }
            }
            // A host workload that runs programs it wrote itself (a build, a package manager's
            // maintainer scripts) does so routinely: the paths it does that from while learning
            // are learned. In a container, drift is never learned (only `accept` takes it).
            if let Some(d) = &drift {
                if o.get("container.id").is_empty_or_host() {
                    p.add(Kind::Drift, d);
                }
            }
            return out;
        }
        let all = items.into_iter().chain(drift.map(|d| (Kind::Drift, d)));
        for (k, i) in all {
            if p.has(k, &i) || (k != Kind::Drift && p.saturated.contains(&k)) {
                continue;
            }
            let pend = p.pending.entry(k).or_default();
            match pend.get_mut(&i) {
                Some(e) => {
                    e.count += 1;
                    e.last_ns = o.ts;
                }
                None => {
                    if pend.len() >= MAX_ITEMS {
                        continue;
                    }
                    pend.insert(
                        i.clone(),
                        Pending {
                            count: 1,
                            first_ns: o.ts,
                            last_ns: o.ts,
                            example: o.get("proc.cmdline").to_string(),
                        },
                    );
                    out.push(Deviation { kind: k, item: i, workload: o.workload.clone() });
                }
            }
        }
        out
    }

    /// End every workload's learning now (deviations are reported from the next event).
    pub fn end_learning(&mut self) {
        for p in self.workloads.values_mut() {
            p.learn_until_ns = 0;
        }
    }

    /// Read a profile file: a clear error for anything but a profile file of a known version.
    pub fn load(path: &Path) -> Result<ProfileSet, ProfileError> {
        let data = std::fs::read(path)
            .map_err(|e| ProfileError(format!("cannot read the profile file {}: {e}", path.display())))?;
        Self::parse(&data).map_err(|e| ProfileError(format!("{}: {e}", path.display())))
    }

    /// Parse a profile file's bytes.
    pub fn parse(data: &[u8]) -> Result<ProfileSet, ProfileError> {
        let v: serde_json::Value = serde_json::from_slice(data)
            .map_err(|e| ProfileError(format!("not a profile file (invalid JSON: {e})")))?;
        let format = v.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != FORMAT {
            return Err(ProfileError(format!("not a profile file (format '{format}', expected '{FORMAT}')")));
        }
        let version = v.get("version").and_then(|f| f.as_u64()).unwrap_or(0);
        if version == 0 || version > VERSION as u64 {
            return Err(ProfileError(format!(
                "profile file version {version} is not supported (this Harrier reads version {VERSION})"
            )));
        }
        serde_json::from_value(v).map_err(|e| ProfileError(format!("damaged profile file: {e}")))
    }

    /// Write the file atomically (a temporary file beside it, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), ProfileError> {
        let err = |e: std::io::Error| {
            ProfileError(format!("cannot write the profile file {}: {e}", path.display()))
        };
        let data = serde_json::to_vec_pretty(self).map_err(|e| ProfileError(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &data).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// What `b` has that `a` has not, per workload: (workload, kind, item, `+` added / `-` gone).
    pub fn diff(a: &ProfileSet, b: &ProfileSet) -> Vec<(String, Kind, String, char)> {
        let empty = WorkloadProfile::default();
        let names: BTreeSet<&String> = a.workloads.keys().chain(b.workloads.keys()).collect();
        let mut out = Vec::new();
        for w in names {
            let pa = a.workloads.get(w).unwrap_or(&empty);
            let pb = b.workloads.get(w).unwrap_or(&empty);
            for k in Kind::ALL {
                let none = BTreeSet::new();
                let sa = pa.items.get(&k).unwrap_or(&none);
                let sb = pb.items.get(&k).unwrap_or(&none);
                for i in sb.difference(sa) {
                    out.push((w.clone(), k, i.clone(), '+'));
                }
                for i in sa.difference(sb) {
                    out.push((w.clone(), k, i.clone(), '-'));
                }
            }
        }
        out
    }
}

trait HostId {
    fn is_empty_or_host(&self) -> bool;
}

impl HostId for str {
    fn is_empty_or_host(&self) -> bool {
        self.is_empty() || self == "host"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn exec(ts: u64, w: &str, pexe: &str, exe: &str) -> Observation {
        let mut o = Observation::from_pairs(
            "execve",
            w,
            &[("proc.exepath", exe), ("proc.pexepath", pexe), ("proc.cmdline", exe)],
        );
        o.ts = ts;
        o
    }

    fn open_w(ts: u64, w: &str, dir: &str) -> Observation {
        let mut o =
            Observation::from_pairs("openat", w, &[("evt.is_open_write", "true"), ("fd.directory", dir)]);
        o.ts = ts;
        o
    }

    fn connect(ts: u64, w: &str, ip: &str, port: &str) -> Observation {
        let mut o = Observation::from_pairs(
            "connect",
            w,
            &[("fd.sip", ip), ("fd.sport", port), ("fd.typechar", "4"), ("fd.l4proto", "tcp")],
        );
        o.ts = ts;
        o
    }

    fn kinds(d: &[Deviation]) -> Vec<(Kind, &str)> {
        d.iter().map(|d| (d.kind, d.item.as_str())).collect()
    }

    #[test]
    fn learns_during_the_window_then_reports_each_new_thing_once() {
        let mut p = ProfileSet::new(60 * S);
        let w = "service:web.service";
        assert!(p.observe(&exec(S, w, "/usr/sbin/nginx", "/usr/bin/logger")).is_empty());
        assert!(p.observe(&open_w(2 * S, w, "/var/log/nginx")).is_empty());
        assert!(p.observe(&connect(3 * S, w, "10.0.0.5", "5432")).is_empty());
        // After the window: known things are quiet.
        assert!(p.observe(&exec(100 * S, w, "/usr/sbin/nginx", "/usr/bin/logger")).is_empty());
        assert!(p.observe(&open_w(100 * S, w, "/var/log/nginx")).is_empty());
        assert!(p.observe(&connect(100 * S, w, "10.0.0.5", "5432")).is_empty());
        // New things: each is reported once.
        let d = p.observe(&exec(101 * S, w, "/usr/sbin/nginx", "/bin/sh"));
        assert_eq!(kinds(&d), [(Kind::Exec, "/bin/sh"), (Kind::Spawn, "/usr/sbin/nginx -> /bin/sh")]);
        assert_eq!(d[0].workload, w);
        assert!(p.observe(&exec(102 * S, w, "/usr/sbin/nginx", "/bin/sh")).is_empty(), "once");
        assert_eq!(kinds(&p.observe(&open_w(103 * S, w, "/usr/bin"))), [(Kind::WriteDir, "/usr/bin")]);
        assert_eq!(
            kinds(&p.observe(&connect(104 * S, w, "203.0.113.9", "4444"))),
            [(Kind::Connect, "203.0.113.9:4444/tcp")]
        );
        let pend = &p.workloads[w].pending[&Kind::Exec]["/bin/sh"];
        assert_eq!((pend.count, pend.first_ns, pend.last_ns), (2, 101 * S, 102 * S));
        // Another workload learns on its own clock.
        assert!(p.observe(&exec(200 * S, "exe:/usr/bin/cron", "/usr/sbin/cron", "/bin/sh")).is_empty());
    }

    #[test]
    fn families_and_pid_directories_generalise() {
        let mut p = ProfileSet::new(10 * S);
        let w = "exe:/usr/bin/app";
        p.observe(&open_w(S, w, "/proc/1234/task/77"));
        p.observe(&exec(S, w, "/usr/bin/app", "/usr/bin/env"));
        assert!(p.observe(&open_w(20 * S, w, "/proc/99/task/5")).is_empty(), "pids generalised");
        let mut x = exec(21 * S, w, "/usr/bin/app", "/usr/bin/env");
        x.evt = "execveat";
        assert!(p.observe(&x).is_empty(), "execveat is the execve family");
        let mut r = Observation::from_pairs("renameat2", w, &[]);
        r.ts = 22 * S;
        assert_eq!(kinds(&p.observe(&r)), [(Kind::Family, "rename")]);
        assert_eq!(generalise_port("45678"), "ephemeral");
        assert_eq!(generalise_port("4444"), "4444");
        assert_eq!(generalise_port("31337"), "31337");
        assert_eq!(generalise_port("443"), "443");
    }

    #[test]
    fn random_directory_parts_fold_and_names_stay() {
        let folded = [
            ("/var/lib/x/0042", "/var/lib/x/#"),
            ("/tmp/tmp.Xy7Qe3Ab/out", "/tmp/tmp.*/out"),
            ("/tmp/.tmpAbC123/work", "/tmp/.tmp*/work"),
            ("/tmp/tmpk2j4l9x_", "/tmp/tmp*"),
            ("/tmp/tmpabcdefgh", "/tmp/tmp*"),
            ("/tmp/pip-build-env-8x2kp1q9", "/tmp/pip-build-env-*"),
            ("/tmp/pip-ab12cd34", "/tmp/pip-*"),
            ("/run/x/123e4567-e89b-12d3-a456-426614174000/y", "/run/x/*/y"),
            ("/data/cache/3f9a0c11d2e4b5a6", "/data/cache/*"),
            ("/tmp/o/metacopy-check2555800505/l1", "/tmp/o/metacopy-check*/l1"),
            ("/tmp/o/metacopy-check25558005", "/tmp/o/metacopy-check*"),
        ];
        for (d, want) in folded {
            assert_eq!(generalise_dir(d), want, "{d}");
        }
        assert_eq!(
            generalise_dir(&format!("/var/lib/c/{}/userdata", "ab12".repeat(16))),
            "/var/lib/c/*/userdata"
        );
        // Ordinary names with digits in them are not noise.
        for d in [
            "/usr/lib/python3.11/site-packages",
            "/usr/lib/python3/dist-packages",
            "/var/lib/docker/overlay2/l",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/ld-linux-x86-64.so.2",
            "/etc/nginx",
            "/var/lib/dpkg",
            "/usr/share/ubuntu2204",
            "/sys/fs/cgroup2/k8s.io",
            "/usr/lib/gcc/x86_64-linux-gnu/13",
            "/var/cache/deadbeef",
            "/tmp/tmpfiles.d",
            "/opt/app-v2.10.3",
            "/tmp/o/metacopy-check2555800",
        ] {
            let want = d.replace("/13", "/#");
            assert_eq!(generalise_dir(d), want, "{d}");
        }
    }

    #[test]
    fn hashed_fan_out_directories_seen_twice_while_learning_become_a_pattern() {
        let objects = |d: &str| format!("/home/u/src/.git/objects/{d}");
        assert_eq!(learned_pattern(&objects("9c"), &objects("ad")), Some(objects("<hex>")));
        assert_eq!(learned_pattern(&objects("#"), &objects("ad")), Some(objects("<hex>")));
        assert_eq!(learned_pattern("/var/spool/q/3/f", "/var/spool/q/3/a").as_deref(), None, "no digit");
        for (a, b) in [
            ("/usr/share/locale/de", "/usr/share/locale/ca"),
            ("/srv/a1", "/srv/a1b"),
            ("/srv/abcde1", "/srv/abcde2"),
            ("/srv/9c/x", "/srv/ad/y"),
            ("/srv/9c-x", "/srv/ad-x"),
        ] {
            assert_eq!(learned_pattern(a, b), None, "{a} {b}");
        }
        let mut p = ProfileSet::new(10 * S);
        let w = "exe:/usr/bin/git";
        for d in ["9c", "04", "e1"] {
            p.observe(&open_w(S, w, &objects(d)));
        }
        assert!(p.workloads[w].items[&Kind::WriteDir].contains(&objects("<hex>")));
        for d in ["ad", "ff", "17", "3b"] {
            assert!(p.observe(&open_w(20 * S, w, &objects(d))).is_empty(), "{d}");
        }
        for d in ["hooks", "abcde", "info", "pack"] {
            let dir = objects(d);
            assert_eq!(kinds(&p.observe(&open_w(21 * S, w, &dir))), [(Kind::WriteDir, dir.as_str())], "{d}");
        }
    }

    #[test]
    fn generated_names_seen_twice_while_learning_become_a_pattern() {
        // Two draws of one generator: learned as a pattern.
        assert_eq!(
            learned_pattern("/tmp/pip-build-env-kq3jxbnw/lib", "/tmp/pip-build-env-a8zzpmrt/lib").as_deref(),
            Some("/tmp/pip-build-env-<random>/lib")
        );
        assert_eq!(
            learned_pattern("/tmp/pip-unpack-ab_dxqwe", "/tmp/pip-unpack-zzk2l_po").as_deref(),
            Some("/tmp/pip-unpack-<random>")
        );
        assert_eq!(
            learned_pattern(
                "/w/target/debug/incremental/hello-0abc/s-h2k3j4l5m6-1x2y3z4-working",
                "/w/target/debug/incremental/hello-0abc/s-h2k3jaq8w7-p7q6r5-working"
            )
            .as_deref(),
            Some("/w/target/debug/incremental/hello-0abc/s-<random>-<random>-working")
        );
        // Ordinary names: not a pattern.
        for (a, b) in [
            ("/tmp/pip-install-abcdefgh", "/tmp/pip-unpack-abcdefgh"),
            ("/var/lib/build01", "/var/lib/build02"),
            ("/usr/lib/python3.11", "/usr/lib/python3.12"),
            ("/etc/nginx", "/etc/apache"),
            ("/srv/data/usual", "/srv/data/new"),
            ("/srv/reports", "/srv/receipt"),
            ("/srv/x/abcdefgh", "/srv/x/qwertyui"),
            ("/opt/ubuntu2204", "/opt/ubuntu2004"),
            ("/a/b", "/a/b/c"),
        ] {
            assert_eq!(learned_pattern(a, b), None, "{a} {b}");
        }
        // In a profile: learned while learning, matched after it; other names still alert.
        let mut p = ProfileSet::new(10 * S);
        let w = "exe:/usr/bin/pip";
        p.observe(&open_w(S, w, "/tmp/pip-build-env-kq3jxbnw/overlay"));
        p.observe(&open_w(2 * S, w, "/tmp/pip-build-env-a8zzpmrt/overlay"));
        assert!(p.workloads[w].items[&Kind::WriteDir].contains("/tmp/pip-build-env-<random>/overlay"));
        assert!(p.observe(&open_w(20 * S, w, "/tmp/pip-build-env-ue_3mzqa/overlay")).is_empty());
        for d in
            ["/tmp/pip-build-env-x/overlay", "/tmp/pip-build-env-kq3jxbnw/bin", "/tmp/evil-kq3jxbnw/overlay"]
        {
            assert_eq!(kinds(&p.observe(&open_w(21 * S, w, d))), [(Kind::WriteDir, d)], "{d}");
        }
        // A folded name matches another draw of its generator (even one with too few digits to
        // be folded itself), not any word in its place.
        let mut p = ProfileSet::new(10 * S);
        p.observe(&open_w(S, w, "/data/cache/3f9a0c11d2e4b5a6"));
        p.observe(&open_w(S, w, "/tmp/pip-unpack-x8k2m9qa"));
        assert!(p.workloads[w].items[&Kind::WriteDir].contains("/tmp/pip-unpack-*"));
        assert!(p.observe(&open_w(20 * S, w, "/data/cache/0b1c2d3e4f5a6b7c")).is_empty());
        assert!(p.observe(&open_w(20 * S, w, "/tmp/pip-unpack-rgbh1etz")).is_empty());
        assert!(p.observe(&open_w(20 * S, w, "/tmp/pip-unpack-rg_hqetz")).is_empty());
        for d in [
            "/data/cache/secrets",
            "/tmp/pip-unpack-payloads",
            "/tmp/pip-unpack-a1",
            "/tmp/pip-install-rgbh1etz",
        ] {
            assert_eq!(kinds(&p.observe(&open_w(21 * S, w, d))), [(Kind::WriteDir, d)], "{d}");
        }
        // Draws with too few digits to be folded, learned as a pattern, match a later draw that
        // had enough to be folded.
        let mut p = ProfileSet::new(10 * S);
        p.observe(&open_w(S, w, "/tmp/pip-unpack-rgbhketz"));
        p.observe(&open_w(S, w, "/tmp/pip-unpack-ab1dxqwe"));
        assert!(p.workloads[w].items[&Kind::WriteDir].contains("/tmp/pip-unpack-<random>"));
        assert!(p.observe(&open_w(20 * S, w, "/tmp/pip-unpack-x8k2m9qa")).is_empty());
        assert_eq!(p.observe(&open_w(20 * S, w, "/tmp/pip-install-x8k2m9qa")).len(), 1);
        // One draw only while learning: nothing generalised.
        let mut p = ProfileSet::new(10 * S);
        p.observe(&open_w(S, w, "/tmp/pip-unpack-kq3jxbnw"));
        assert_eq!(p.workloads[w].items[&Kind::WriteDir].len(), 1);
        assert_eq!(p.observe(&open_w(20 * S, w, "/tmp/pip-unpack-a8zzpmrt")).len(), 1);
    }

    #[test]
    fn the_container_runtime_as_parent_is_one_parent_whichever_of_its_binaries() {
        let mut p = ProfileSet::new(10 * S);
        let w = "image:bb:latest /bin/busybox";
        p.observe(&exec(S, w, "/usr/bin/runc", "/bin/busybox"));
        assert!(p.workloads[w].items[&Kind::Spawn].contains("<container runtime> -> /bin/busybox"));
        // runc create exited before the exec and the shim adopted the process; crun, conmon.
        for parent in ["/usr/bin/containerd-shim-runc-v2", "/usr/bin/crun", "/usr/libexec/podman/conmon"] {
            assert!(p.observe(&exec(20 * S, w, parent, "/bin/busybox")).is_empty(), "{parent}");
        }
        // Any other parent is still itself.
        let got = p.observe(&exec(20 * S, w, "/usr/bin/python3", "/bin/busybox"));
        assert_eq!(kinds(&got), [(Kind::Spawn, "/usr/bin/python3 -> /bin/busybox")]);
    }

    #[test]
    fn drift_is_reported_for_upper_layer_executables_even_when_their_path_is_known() {
        let mut p = ProfileSet::new(10 * S);
        let w = "image:nginx:1.25 /usr/sbin/nginx";
        p.observe(&exec(S, w, "/usr/sbin/nginx", "/usr/bin/id"));
        let mut o = exec(20 * S, w, "/usr/sbin/nginx", "/usr/bin/id");
        o.fields[crate::obs::slot("proc.is_exe_upper_layer").unwrap()] = "true".into();
        o.fields[crate::obs::slot("container.id").unwrap()] = "abc".into();
        assert_eq!(kinds(&p.observe(&o)), [(Kind::Drift, "/usr/bin/id")]);
        // Host: an executable whose inode changed after the workload was first seen.
        let h = "service:app.service";
        p.observe(&exec(S, h, "/usr/bin/app", "/usr/bin/app-helper"));
        let mut o = exec(30 * S, h, "/usr/bin/app", "/usr/bin/app-helper");
        o.exe_ctime = 25 * S;
        assert_eq!(kinds(&p.observe(&o)), [(Kind::Drift, "/usr/bin/app-helper")]);
        let mut o = exec(31 * S, h, "/usr/bin/app", "/usr/bin/app-helper2");
        o.exe_ctime = S / 2;
        assert_eq!(
            kinds(&p.observe(&o)),
            [(Kind::Exec, "/usr/bin/app-helper2"), (Kind::Spawn, "/usr/bin/app -> /usr/bin/app-helper2")],
            "older binary: no drift"
        );
    }

    #[test]
    fn host_drift_seen_while_learning_is_learned_container_drift_never_is() {
        let mut p = ProfileSet::new(10 * S);
        // A build on the host: the program it writes and runs while learning…
        let h = "exe:/usr/bin/make";
        p.observe(&exec(S, h, "/usr/bin/make", "/usr/bin/cc"));
        let mut built = exec(3 * S, h, "/usr/bin/make", "/src/hello");
        built.exe_ctime = 2 * S + S / 2;
        assert!(p.observe(&built).is_empty());
        assert!(p.workloads[h].has(Kind::Drift, "/src/hello"));
        // …rebuilt and run again after the window: routine, no alert; a new path still alerts.
        built.ts = 40 * S;
        built.exe_ctime = 39 * S;
        assert!(p.observe(&built).is_empty());
        let mut other = exec(41 * S, h, "/usr/bin/make", "/tmp/x");
        other.exe_ctime = 40 * S;
        assert!(kinds(&p.observe(&other)).contains(&(Kind::Drift, "/tmp/x")));
        // In a container, an upper-layer program run while learning is not learned.
        let c = "image:bb:latest /bin/sh";
        let mut up = exec(S, c, "/bin/sh", "/root/dropped");
        up.fields[crate::obs::slot("proc.is_exe_upper_layer").unwrap()] = "true".into();
        up.fields[crate::obs::slot("container.id").unwrap()] = "abc".into();
        assert!(p.observe(&up).is_empty());
        assert!(!p.workloads[c].has(Kind::Drift, "/root/dropped"));
        up.ts = 20 * S;
        assert_eq!(kinds(&p.observe(&up)), [(Kind::Drift, "/root/dropped")]);
    }

    #[test]
    fn accept_moves_pending_into_the_profile() {
        let mut p = ProfileSet::new(10 * S);
        let w = "exe:/usr/bin/app";
        p.observe(&exec(S, w, "/usr/bin/app", "/usr/bin/env"));
        assert_eq!(p.observe(&exec(20 * S, w, "/usr/bin/app", "/bin/ls")).len(), 2);
        let d = p.observe(&connect(20 * S, w, "10.1.1.1", "443"));
        assert_eq!(kinds(&d), [(Kind::Family, "connect"), (Kind::Connect, "10.1.1.1:443/tcp")]);
        let wp = p.workloads.get_mut(w).unwrap();
        assert_eq!(wp.accept(Some(Kind::Exec), Some("/bin/ls")), 1);
        assert!(wp.has(Kind::Exec, "/bin/ls"));
        assert!(!wp.has(Kind::Connect, "10.1.1.1:443/tcp"));
        assert_eq!(wp.accept(None, None), 3, "the spawn pair, the family and the destination");
        assert!(wp.pending.is_empty());
        assert!(wp.has(Kind::Connect, "10.1.1.1:443/tcp"));
        // Accepted things are quiet, even if their pending entries are gone.
        assert!(p.observe(&exec(30 * S, w, "/usr/bin/app", "/bin/ls")).is_empty());
    }

    #[test]
    fn saturated_kinds_stop_learning_and_reporting() {
        let mut p = ProfileSet::new(1_000_000 * S);
        let w = "exe:/usr/bin/crawler";
        for i in 0..MAX_ITEMS + 5 {
            p.observe(&open_w(S + i as u64, w, &format!("/data/d{i}")));
        }
        assert!(p.workloads[w].saturated.contains(&Kind::WriteDir));
        assert_eq!(p.workloads[w].items[&Kind::WriteDir].len(), MAX_ITEMS);
        p.end_learning();
        assert!(p.observe(&open_w(2_000_000 * S, w, "/elsewhere")).is_empty());
    }

    #[test]
    fn the_file_round_trips_and_bad_files_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        let mut p = ProfileSet::new(10 * S);
        p.observe(&exec(S, "exe:/a", "/a", "/b"));
        p.observe(&exec(20 * S, "exe:/a", "/a", "/c"));
        p.save(&f).unwrap();
        let q = ProfileSet::load(&f).unwrap();
        assert_eq!(p, q);
        assert!(!dir.path().join("p.tmp").exists());

        let bad = |data: &str| ProfileSet::parse(data.as_bytes()).unwrap_err().to_string();
        assert!(bad("{").contains("invalid JSON"), "{}", bad("{"));
        assert!(bad(r#"{"format":"other","version":1}"#).contains("expected 'harrier-profiles'"));
        assert!(bad(r#"{"format":"harrier-profiles","version":9}"#).contains("version 9 is not supported"));
        assert!(bad(r#"{"format":"harrier-profiles","version":1,"workloads":3}"#).contains("damaged"));
        let e = ProfileSet::load(&dir.path().join("missing.json")).unwrap_err().to_string();
        assert!(e.contains("cannot read the profile file"), "{e}");
    }

    #[test]
    fn diff_lists_added_and_removed_items() {
        let mut a = ProfileSet::new(10 * S);
        a.observe(&exec(S, "exe:/a", "/a", "/b"));
        let mut b = a.clone();
        b.workloads.get_mut("exe:/a").unwrap().items.get_mut(&Kind::Exec).unwrap().insert("/x".into());
        b.workloads.get_mut("exe:/a").unwrap().items.get_mut(&Kind::Exec).unwrap().remove("/b");
        let d = ProfileSet::diff(&a, &b);
        assert!(d.contains(&("exe:/a".into(), Kind::Exec, "/x".into(), '+')));
        assert!(d.contains(&("exe:/a".into(), Kind::Exec, "/b".into(), '-')));
        assert_eq!(d.len(), 2);
    }
}
