//! The per-event field cache and check reordering: evaluation with the cache gives the same
//! results as without it and as each rule's filter alone, on randomized events; `first` still
//! stops at the first match; stale values never leak from one event (or ruleset) to the next.

use std::cell::RefCell;
use std::path::PathBuf;

use harrier_engine::compile::Scratch;
use harrier_engine::testing::{MapAccessor, TestValue};
use harrier_engine::{
    compile_condition, BoundField, Checker, EventAccessor, One, RuleMatching, Ruleset, Source, Values,
};
use harrier_rules::{Loader, LoaderOptions, Location, Priority, Rule};

fn rule(name: &str, cond: &str) -> Rule {
    Rule {
        name: name.into(),
        desc: String::new(),
        condition_text: cond.into(),
        condition: harrier_condition::parse(cond).unwrap(),
        output: format!("{name} %proc.name"),
        priority: Priority::Warning,
        source: "syscall".into(),
        tags: Vec::new(),
        enabled: true,
        location: Location::default(),
        warn_evttypes: false,
        skip_if_unknown_filter: false,
        capture: false,
        capture_duration: 0,
        exception_fields: Vec::new(),
    }
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

const NAMES: &[&str] =
    &["cat", "bash", "sshd", "nginx", "runc", "sh", "sudo", "python", "", "containerd-shim"];
const PATHS: &[&str] = &[
    "/etc/shadow",
    "/etc/passwd",
    "/etc",
    "/tmp/x",
    "/dev/null",
    "/proc/1/mem",
    "/root/.ssh/id_rsa",
    "/usr/bin/cat",
    "/var/run/docker.sock",
    "",
];
const TYPES: &[&str] = &["open", "openat", "openat2", "execve", "connect", "read", "unlink", "kcmp"];

fn random_event(rng: &mut Rng) -> MapAccessor {
    let mut e = MapAccessor::syscall(rng.pick(TYPES));
    let strs = [
        ("proc.name", NAMES),
        ("proc.pname", NAMES),
        ("proc.exe", NAMES),
        ("user.name", &["root", "alice", ""][..]),
        ("container.id", &["host", "abc123", ""][..]),
        ("fd.name", PATHS),
        ("fd.directory", PATHS),
        ("fd.typechar", &["f", "4", "u", "p"][..]),
        ("proc.cmdline", &["cat /etc/shadow", "bash -c ls", "nginx -g daemon", ""][..]),
    ];
    for (f, pool) in strs {
        if rng.chance(85) {
            e.str(f, rng.pick(pool));
        }
    }
    for f in ["evt.is_open_read", "evt.is_open_write", "container.privileged"] {
        if rng.chance(85) {
            e.bool(f, rng.chance(50));
        }
    }
    if rng.chance(85) {
        e.int("fd.num", (rng.next() % 8) as i64 - 2);
    }
    if rng.chance(85) {
        e.uint("user.uid", [0, 1000, 33][(rng.next() % 3) as usize]);
    }
    if rng.chance(70) {
        let n = (rng.next() % 4) as usize;
        let v: Vec<TestValue> = (0..n).map(|_| TestValue::Str(rng.pick(NAMES).to_string())).collect();
        e.set("proc.aname", v);
    }
    e
}

/// An accessor without the borrowed fast path (like the state crate's): every value is copied.
struct CopyOnly<'a>(&'a MapAccessor);

impl EventAccessor for CopyOnly<'_> {
    fn event_type(&self) -> Option<u16> {
        self.0.event_type
    }
    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        self.0.extract(field, out)
    }
}

/// Records every field extraction.
struct Counting<'a> {
    inner: &'a MapAccessor,
    seen: RefCell<Vec<String>>,
}

impl EventAccessor for Counting<'_> {
    fn event_type(&self) -> Option<u16> {
        self.inner.event_type
    }
    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        self.seen.borrow_mut().push(field.display_name());
        self.inner.extract(field, out)
    }
    fn extract_one(&self, field: &BoundField) -> One<'_> {
        self.seen.borrow_mut().push(field.display_name());
        self.inner.extract_one(field)
    }
}

const CONDITIONS: &[&str] = &[
    "evt.type in (open, openat, openat2) and evt.is_open_read = true and fd.typechar = f and fd.name startswith /etc \
     and not proc.name in (cat, less, more, head, tail, vi, vim, nano, grep, awk, sed, perl, python, ruby, sh, bash, zsh, dash, ksh, tcsh) \
     and not proc.pname in (sshd, sudo, su, cron, systemd) and container.id != host",
    "evt.type = openat and proc.name = cat",
    "proc.name in (cat, bash) and fd.name pmatch (/etc, /root)",
    "proc.name = bash or proc.pname = bash or fd.num < 0",
    "not (proc.name exists) or user.uid = 0",
    "proc.aname in (sshd, sudo) and proc.name != cat",
    "proc.aname = runc and not fd.name contains shadow",
    "evt.type = execve and proc.cmdline icontains NGINX",
    "fd.directory in (/etc, /tmp/x) and fd.name glob '/etc/*'",
    "proc.name = val(proc.pname)",
    "toupper(proc.name) = CAT and fd.name endswith shadow",
    "user.name = root and container.privileged = true and container.id != host",
    "fd.num >= 0 and fd.num in (0, 1, 2) and not user.uid in (33, 1000)",
    "evt.type = kcmp and proc.name = bash",
    "proc.exe exists and not proc.exe in (cat, sh) and (proc.name startswith s or proc.name startswith py or proc.pname endswith d)",
    "proc.cmdline contains anyof (shadow, daemon) and proc.name != ''",
    // guards the screen derives (crate::screen): path sets, prefixes, directories, evt.type branches
    "evt.type in (open, openat) and (fd.name in (/etc/shadow, /etc/passwd) or fd.directory = /tmp)",
    "(fd.name startswith /etc or evt.type = execve) and proc.name = cat",
    "evt.type = openat and fd.name glob '/proc/*/mem' and not proc.name = bash",
    "fd.directory pmatch (/) and not fd.name startswith /etc",
    "not evt.type = open and fd.name = /dev/null",
    "(evt.type = execve and proc.name = sh) or (evt.type = openat and fd.name pmatch (/root/.ssh, /var/run))",
    "evt.type = open and not evt.type = open and fd.name = /etc/shadow",
    "fd.name startswith '' and proc.name in (cat, sshd) and proc.pname in (bash, sudo, '')",
    "fd.name in () or proc.name = runc",
    "proc.cmdline contains shadow and proc.name != sh",
    "container.id != host and (fd.name startswith /etc or proc.name != cat)",
    "evt.type = openat and proc.name != '' and fd.directory != /etc",
    "evt.type in (open, openat) and (fd.name endswith /mem or fd.name contains .ssh or fd.directory endswith tc)",
];

fn names(rs: &Ruleset, ev: &dyn EventAccessor, scratch: &mut Scratch) -> Vec<String> {
    let mut v = Vec::new();
    rs.evaluate_with(Source::Syscall, ev, scratch, |r| v.push(r.name.clone()));
    v
}

fn check_equivalence(rs: &mut Ruleset, events: &[MapAccessor]) -> usize {
    rs.set_rule_matching(RuleMatching::All);
    let mut scratch = Scratch::new();
    let mut hits = 0;
    for e in events {
        let ev: &dyn EventAccessor = e;
        rs.set_field_cache(true);
        let cached = names(rs, ev, &mut scratch);
        let cached_copy = names(rs, &CopyOnly(e), &mut scratch);
        rs.set_field_cache(false);
        let plain = names(rs, ev, &mut scratch);
        let plain_copy = names(rs, &CopyOnly(e), &mut scratch);
        // each candidate rule alone, with a fresh scratch, and the full (unindexed) filter
        let code = e.event_type;
        let alone: Vec<String> = rs
            .rules()
            .iter()
            .filter(|r| code.is_some_and(|c| r.evttypes.contains(c)) || r.evttypes.is_all())
            .filter(|r| r.matches(e, &mut Scratch::new()))
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(cached, plain, "cache changes results for {e:?}");
        assert_eq!(cached_copy, plain, "copy path with cache differs for {e:?}");
        assert_eq!(plain_copy, plain, "copy path differs for {e:?}");
        assert_eq!(alone, plain, "rules alone differ for {e:?}");
        rs.set_screen(false);
        let unscreened = names(rs, ev, &mut scratch);
        rs.set_screen(true);
        assert_eq!(unscreened, plain, "the screen changes results for {e:?}");
        hits += plain.len();
    }
    rs.set_field_cache(true);
    hits
}

#[test]
fn cache_gives_the_same_results_as_uncached_evaluation() {
    let rules: Vec<Rule> = CONDITIONS.iter().enumerate().map(|(i, c)| rule(&format!("r{i}"), c)).collect();
    let (mut rs, errors) = Ruleset::compile(&rules);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(rs.cached_fields() >= 5, "shared fields get cache slots: {}", rs.cached_fields());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let events: Vec<MapAccessor> = (0..3000).map(|_| random_event(&mut rng)).collect();
    let hits = check_equivalence(&mut rs, &events);
    assert!(hits > 300, "the random events exercise matches too ({hits})");
}

#[test]
fn reordered_checks_give_the_same_results_as_written_order() {
    // a filter compiled alone (no cache) against a hand-evaluated reference for a few orders
    let mut rng = Rng(12345);
    for _ in 0..500 {
        let e = random_event(&mut rng);
        let a = "fd.name startswith /etc and not proc.name in (cat, sh) and user.uid = 0";
        let b = "user.uid = 0 and not proc.name in (cat, sh) and fd.name startswith /etc";
        let f =
            |c: &str| compile_condition(Source::Syscall, &harrier_condition::parse(c).unwrap()).unwrap().0;
        let (fa, fb) = (f(a), f(b));
        let mut s = Scratch::new();
        let starts = matches!(e.extract_one(&name_field("fd.name")), One::Value(harrier_engine::Value::Str(x)) if x.starts_with(b"/etc"));
        let in_set = matches!(e.extract_one(&name_field("proc.name")), One::Value(harrier_engine::Value::Str(x)) if x == b"cat" || x == b"sh");
        let name_present = !matches!(e.extract_one(&name_field("proc.name")), One::Absent);
        let root =
            matches!(e.extract_one(&name_field("user.uid")), One::Value(harrier_engine::Value::Uint(0)));
        // `not X` is true when X is false, including when the field is absent
        let expected = starts && !(name_present && in_set) && root;
        assert_eq!(fa.eval(&e, &mut s), expected);
        assert_eq!(fb.eval(&e, &mut s), expected);
    }
}

fn name_field(name: &str) -> BoundField {
    let id = harrier_engine::FieldId::from_name(name).unwrap();
    BoundField::new(id)
}

#[test]
fn official_rules_give_the_same_results_with_and_without_the_cache() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/falco-rules");
    let mut loader = Loader::new(LoaderOptions::default());
    for f in ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"] {
        loader.load_file(dir.join(f));
    }
    let loaded = loader.finish(Some(&Checker));
    assert!(!loaded.has_errors());
    let (mut rs, errors) = Ruleset::compile(&loaded.rules);
    assert!(errors.is_empty());
    assert!(rs.cached_fields() > 10, "{}", rs.cached_fields());
    let mut rng = Rng(42);
    let events: Vec<MapAccessor> = (0..1500).map(|_| random_event(&mut rng)).collect();
    check_equivalence(&mut rs, &events);
}

#[test]
fn first_match_stops_evaluation() {
    let (mut rs, _) = Ruleset::compile(&[
        rule("a", "proc.name = cat and user.uid = 0"),
        rule("b", "proc.name = cat and fd.name startswith /etc"),
        // icontains gives the screen no guard: proc.cmdline is extracted by rule c alone
        rule("c", "proc.name = cat and proc.cmdline icontains shadow"),
    ]);
    let mut e = MapAccessor::syscall("openat");
    e.str("proc.name", "cat")
        .uint("user.uid", 0)
        .str("fd.name", "/etc/shadow")
        .str("proc.cmdline", "cat shadow");
    let mut scratch = Scratch::new();
    // the screen extracts its guards' fields (proc.name, fd.name) before any rule runs: once
    // more without the cache, and fd.name even though `first` stops at rule a
    for (cache, screen) in [(true, false), (false, false), (true, true), (false, true)] {
        rs.set_field_cache(cache);
        rs.set_screen(screen);
        rs.set_rule_matching(RuleMatching::First);
        let ev = Counting { inner: &e, seen: RefCell::new(Vec::new()) };
        assert_eq!(names(&rs, &ev, &mut scratch), vec!["a"]);
        let seen = ev.seen.borrow();
        assert!(!seen.iter().any(|f| f == "proc.cmdline"), "later rules ran: {seen:?}");
        assert_eq!(seen.iter().any(|f| f == "fd.name"), screen, "{seen:?}");
        rs.set_rule_matching(RuleMatching::All);
        let ev = Counting { inner: &e, seen: RefCell::new(Vec::new()) };
        assert_eq!(names(&rs, &ev, &mut scratch), vec!["a", "b", "c"]);
        let n = ev.seen.borrow().iter().filter(|f| *f == "proc.name").count();
        // proc.name is tested by all three rules: extracted once with the cache
        assert_eq!(n, if cache { 1 } else { 3 + screen as usize });
    }
}

#[test]
fn cached_values_do_not_leak_across_events_or_rulesets() {
    let (rs1, _) =
        Ruleset::compile(&[rule("a", "proc.name = cat"), rule("b", "proc.name = cat and user.uid = 0")]);
    let (rs2, _) = Ruleset::compile(&[
        rule("x", "user.uid = 0 and fd.name = /etc"),
        rule("y", "fd.name = /etc or user.uid = 1"),
        rule("z", "proc.name = bash"),
    ]);
    let mut cat = MapAccessor::syscall("openat");
    cat.str("proc.name", "cat").uint("user.uid", 0);
    let mut bash = MapAccessor::syscall("openat");
    bash.str("proc.name", "bash").uint("user.uid", 1).str("fd.name", "/etc");
    let mut scratch = Scratch::new();
    let mut rs1 = rs1;
    let mut rs2 = rs2;
    rs1.set_rule_matching(RuleMatching::All);
    rs2.set_rule_matching(RuleMatching::All);
    for _ in 0..3 {
        assert_eq!(names(&rs1, &cat, &mut scratch), vec!["a", "b"]);
        assert_eq!(names(&rs1, &bash, &mut scratch), Vec::<String>::new());
        assert_eq!(names(&rs2, &cat, &mut scratch), Vec::<String>::new());
        assert_eq!(names(&rs2, &bash, &mut scratch), vec!["y", "z"]);
        // a rule's filter alone after an evaluation starts afresh too
        assert!(rs1.rule("a").unwrap().matches(&cat, &mut scratch));
        assert!(!rs1.rule("a").unwrap().matches(&bash, &mut scratch));
        assert!(rs2.rule("z").unwrap().filter.eval(&bash, &mut scratch));
        assert!(!rs2.rule("z").unwrap().filter.eval(&cat, &mut scratch));
    }
}

/// Parts several rules share (a macro, a common exception) are evaluated once per event and
/// their result reused: the shared part's fields are extracted once, and a result from one
/// event never answers for the next.
#[test]
fn shared_parts_are_evaluated_once_per_event_and_never_reused_across_events() {
    let shared = "(proc.name in (bash, sh) and not fd.name startswith /tmp)";
    let rules = [
        rule("a", &format!("evt.type = openat and {shared} and user.uid = 0")),
        rule("b", &format!("evt.type = openat and {shared} and user.uid = 1000")),
        rule("c", &format!("evt.type = openat and not {shared} and fd.num >= 0")),
    ];
    let (mut rs, errors) = Ruleset::compile(&rules);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(rs.shared_parts() >= 1, "the shared group gets a memo slot");
    rs.set_rule_matching(RuleMatching::All);
    let mut scratch = Scratch::new();
    let ev = |name: &str, path: &str, uid: u64| {
        let mut e = MapAccessor::syscall("openat");
        e.str("proc.name", name).str("fd.name", path).uint("user.uid", uid).int("fd.num", 3);
        e
    };
    // alternate the shared part's value from event to event
    let cases = [
        (ev("bash", "/etc/x", 0), vec!["a"]),
        (ev("cat", "/etc/x", 0), vec!["c"]),
        (ev("sh", "/etc/x", 1000), vec!["b"]),
        (ev("sh", "/tmp/x", 1000), vec!["c"]),
        (ev("bash", "/root/y", 1000), vec!["b"]),
    ];
    for (e, want) in &cases {
        let counting = Counting { inner: e, seen: RefCell::new(Vec::new()) };
        let got = names(&rs, &counting, &mut scratch);
        assert_eq!(&got, want, "for {e:?}");
        let seen = counting.seen.borrow();
        let n = seen.iter().filter(|f| *f == "proc.name").count();
        assert!(n <= 1, "proc.name extracted {n} times for one event: {seen:?}");
    }
    // the same answers without the cache (and memo)
    rs.set_field_cache(false);
    for (e, want) in &cases {
        assert_eq!(&names(&rs, e, &mut scratch), want, "uncached, for {e:?}");
    }
}
