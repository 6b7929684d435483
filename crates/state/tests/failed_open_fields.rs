//! The live probe's in-kernel pre-filter drops failed opens that no rule can match; which rules
//! can is decided by `harrier_engine::prefilter` on what it assumes of a failed open's
//! descriptor fields (Falco's view: `fd.num` -1, `fd.typechar` from the event type, the path
//! forms read from the event, the rest absent) and on a failed open changing no state. Both are
//! checked here against the real state tracking and field extraction on the reference captures
//! and synthetic events: every failed open has exactly those fields (both extraction paths), and
//! the events after it find the same descriptors and cwd whether the failed opens were applied
//! or not.

use harrier_engine::prefilter::{failed_open_typechar, FD_ABSENT, FD_FROM_EVENT, OPEN_FAMILY};
use harrier_engine::values::One;
use harrier_engine::{BoundField, EventAccessor, FieldId, Values};
use harrier_event::{Event, EventBuf, NormalizeMode, Normalizer};
use harrier_scap::Reader;
use harrier_state::{State, SyscallEvent};
use std::path::Path;

/// Both states (every event / no failed opens) and the counters of one run.
struct Check {
    full: State,
    filtered: State,
    touched: Vec<i64>,
    failed: u64,
    compared: u64,
    fields: Vec<BoundField>,
    from_event: Vec<BoundField>,
    vals: Values,
    /// (fd.name, fd.nameraw, fd.directory) of each failed open, in order
    names: Vec<(String, String, String)>,
}

fn bound(names: &[&str]) -> Vec<BoundField> {
    names
        .iter()
        .map(|n| BoundField::new(FieldId::from_name(n).unwrap_or_else(|| panic!("{n} is a field"))))
        .collect()
}

fn text(v: Option<harrier_engine::Value<'_>>) -> String {
    match v {
        Some(harrier_engine::Value::Str(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("a string, not {other:?}"),
    }
}

impl Check {
    fn new() -> Check {
        Check {
            full: State::new(),
            filtered: State::new(),
            touched: Vec::new(),
            failed: 0,
            compared: 0,
            fields: bound(FD_ABSENT),
            from_event: bound(FD_FROM_EVENT),
            vals: Values::new(),
            names: Vec::new(),
        }
    }

    fn event(&mut self, what: &str, num: u64, ev: &Event<'_>) {
        let tid = ev.tid() as i64;
        let is_failed_open = OPEN_FAMILY.contains(&ev.info().name)
            && ev.param_index("fd").and_then(|i| ev.param_i64(i)).is_some_and(|fd| fd < 0);
        self.full.apply(ev);
        if !is_failed_open {
            self.filtered.apply(ev);
            // every other event meets the same process state in both
            if self.touched.contains(&tid) {
                for fd in 0..256 {
                    let a = self.full.fd(tid, fd).map(|f| (f.name.clone(), f.kind.type_char()));
                    let b = self.filtered.fd(tid, fd).map(|f| (f.name.clone(), f.kind.type_char()));
                    assert_eq!(a, b, "{what}: fd {fd} of {tid} differs without failed opens");
                }
                assert_eq!(self.full.cwd(tid), self.filtered.cwd(tid), "{what}: cwd");
                self.compared += 1;
            }
            return;
        }
        if !self.touched.contains(&tid) {
            self.touched.push(tid);
        }
        let acc = SyscallEvent::new(&self.full, *ev, num);
        for bf in &self.fields {
            self.vals.clear();
            assert!(!acc.extract(bf, &mut self.vals), "{what}: {bf:?} present on a failed open");
            assert!(!matches!(acc.extract_one(bf), One::Value(_)), "{what}: {bf:?} (fast path)");
        }
        let has_path = ev.param_index("name").and_then(|i| ev.param_str(i)).is_some();
        let mut got = Vec::new();
        for bf in &self.from_event {
            self.vals.clear();
            let name = bf.info().name;
            let present = acc.extract(bf, &mut self.vals);
            if name.starts_with("fd.name") || name.contains("directory") || name == "fd.containername" {
                assert_eq!(present, has_path, "{what}: {name} on a failed open (path argument: {has_path})");
            } else {
                assert!(present, "{what}: {name} absent on a failed open");
            }
            // the fast path agrees (it may hand over to the full extraction)
            if let One::Value(v) = acc.extract_one(bf) {
                assert_eq!(Some(v), self.vals.get(0), "{what}: {name} fast path");
            }
            match name {
                "fd.num" => assert_eq!(self.vals.get(0), Some(harrier_engine::Value::Int(-1)), "{what}"),
                "fd.typechar" => assert_eq!(
                    text(self.vals.get(0)),
                    failed_open_typechar(ev.info().name).to_string(),
                    "{what}: {}",
                    ev.info().name
                ),
                "fd.name" | "fd.nameraw" | "fd.directory" if present => got.push(text(self.vals.get(0))),
                _ => {}
            }
        }
        if let [n, r, d] = got.as_slice() {
            self.names.push((n.clone(), r.clone(), d.clone()));
        }
        self.failed += 1;
    }
}

#[test]
fn failed_opens_on_the_reference_captures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/scap");
    assert!(dir.is_dir(), "reference captures missing at {}", dir.display());
    let mut c = Check::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut r = Reader::open(&path).unwrap();
        c.full = State::new();
        c.full.load_scap_header(r.header());
        c.filtered = State::new();
        c.filtered.load_scap_header(r.header());
        c.touched.clear();
        let mut norm = Normalizer::new(NormalizeMode::ExitOnly);
        while let Some((num, ev)) = r.next_numbered().unwrap() {
            let Some(ev) = norm.push(ev) else { continue };
            c.event(&path.display().to_string(), num, &ev);
        }
    }
    assert!(c.failed >= 1 && c.compared > 10, "{} failed opens, {} events compared", c.failed, c.compared);
}

/// A value for [`exit`].
enum V {
    I(i64),
    S(&'static str),
}

/// The newest exit event `name` of thread `tid` with the given parameters (others empty).
fn exit(name: &str, tid: u64, ts: u64, vals: &[(&str, V)]) -> Vec<u8> {
    use harrier_event::schema::ParamType as P;
    let id = harrier_event::newest_exit_id(name).expect("an exit event");
    let info = &harrier_event::table::EVENTS[id as usize];
    let mut b = EventBuf::new();
    b.begin(ts, tid, id);
    for p in info.params {
        match (vals.iter().find(|(n, _)| *n == p.name).map(|x| &x.1), p.ptype) {
            (None, _) => {
                b.push_empty();
            }
            (Some(V::S(s)), _) => {
                b.push_str(s);
            }
            (Some(V::I(v)), P::Int64 | P::Uint64 | P::Errno | P::Fd | P::Pid) => {
                b.push_i64(*v);
            }
            (Some(V::I(v)), P::Int32 | P::Uint32 | P::Flags32 | P::Uid | P::Gid) => {
                b.push_u32(*v as u32);
            }
            (Some(V::I(v)), P::Int16 | P::Uint16 | P::Flags16) => {
                b.push_u16(*v as u16);
            }
            (Some(V::I(v)), _) => {
                b.push_u8(*v as u8);
            }
        }
    }
    b.finish().expect("a valid event").raw().to_vec()
}

#[test]
fn failed_opens_between_descriptor_changes() {
    use harrier_event::consts::open_flags as o;
    use V::{I, S};
    let t = 4242;
    // a directory fd used as dirfd, failed opens around closes (deferred), dups and a relative
    // open that resolves through the directory fd
    let evs = [
        exit(
            "openat",
            t,
            1,
            &[
                ("fd", I(3)),
                ("dirfd", I(-100)),
                ("name", S("/etc")),
                ("flags", I((o::RDONLY | o::DIRECTORY) as i64)),
            ],
        ),
        exit(
            "openat",
            t,
            2,
            &[("fd", I(-2)), ("dirfd", I(3)), ("name", S("shadow-missing")), ("flags", I(o::RDONLY as i64))],
        ),
        exit(
            "openat",
            t,
            3,
            &[("fd", I(4)), ("dirfd", I(3)), ("name", S("passwd")), ("flags", I(o::RDONLY as i64))],
        ),
        exit("close", t, 4, &[("res", I(0)), ("fd", I(4))]),
        exit(
            "openat",
            t,
            5,
            &[("fd", I(-13)), ("dirfd", I(-100)), ("name", S("/root/x")), ("flags", I(o::WRONLY as i64))],
        ),
        exit("dup", t, 6, &[("res", I(5)), ("oldfd", I(3))]),
        exit("open", t, 7, &[("fd", I(-2)), ("name", S("x")), ("flags", I(o::RDONLY as i64))]),
        exit("creat", t, 8, &[("fd", I(-30)), ("name", S("/ro/y"))]),
        exit(
            "openat",
            t,
            9,
            &[("fd", I(4)), ("dirfd", I(5)), ("name", S("group")), ("flags", I(o::RDONLY as i64))],
        ),
        exit("close", t, 10, &[("res", I(0)), ("fd", I(3))]),
        exit("openat2", t, 11, &[("fd", I(-2)), ("dirfd", I(3)), ("name", S("nope"))]),
        exit("close", t, 12, &[("res", I(0)), ("fd", I(5))]),
    ];
    let mut c = Check::new();
    for (i, raw) in evs.iter().enumerate() {
        let ev = Event::new(raw, 0, 0).expect("event");
        c.event("synthetic", i as u64 + 1, &ev);
    }
    assert_eq!(c.failed, 5);
    assert_eq!(c.compared, 6);
    // Falco's values: the path tried, resolved through the cwd or dirfd (fd.nameraw: as written
    // for openat/openat2, resolved for open/creat); the directory cut at the last '/'
    let cwd_x = c.full.resolve_at(t as i64, -100, "x");
    let want = [
        ("/etc/shadow-missing", "shadow-missing", "/etc"),
        ("/root/x", "/root/x", "/root"),
        (
            cwd_x.as_str(),
            cwd_x.as_str(),
            cwd_x.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d }),
        ),
        ("/ro/y", "/ro/y", "/ro"),
        // (its dirfd was closed before: the path stays as written, as for a successful open)
        ("nope", "nope", "/"),
    ];
    let got: Vec<(&str, &str, &str)> =
        c.names.iter().map(|(a, b, d)| (a.as_str(), b.as_str(), d.as_str())).collect();
    assert_eq!(got, want);
    // the relative opens resolved through the directory fd in both states
    assert_eq!(c.filtered.fd(t as i64, 4).map(|f| f.name.as_str()), Some("/etc/group"));
}
