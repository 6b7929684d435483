//! The pre-filter's drop of read-only opens no rule can match (root, real kernel): a successful
//! read-only open of a clean absolute path outside the keep bound is dropped with its close;
//! every other open (a kept prefix or process name, a path that is not clean or not absolute, a
//! directory, a write) comes through with its close, and a descriptor number reused by a
//! reported call (`dup2`) gets its close reported even though an open of that number was
//! dropped.

mod common;
use common::*;
use harrier_probe::{OpenKeep, Prefilter, Probe, ProbeConfig};

struct Paths {
    dir: std::path::PathBuf,
}

impl Paths {
    fn new(tag: &str) -> Paths {
        let dir = std::env::temp_dir().join(format!("harrier-opendrop-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(dir.join("kept")).expect("temp dir");
        std::fs::write(dir.join("plain"), b"x").expect("write");
        std::fs::write(dir.join("kept/secret"), b"x").expect("write");
        Paths { dir }
    }
    fn s(&self, rel: &str) -> String {
        format!("{}/{rel}", self.dir.display())
    }
}

impl Drop for Paths {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Each open's path and descriptor as the probe reported it, and the descriptors of reported
/// successful closes.
fn opens_and_closes(evs: &[Ev]) -> (Vec<(String, i64)>, Vec<i64>) {
    let opens = evs.iter().filter(|e| e.name() == "openat").map(|e| (e.str("name"), e.i64("fd"))).collect();
    let closes =
        evs.iter().filter(|e| e.name() == "close" && e.i64("res") == 0).map(|e| e.i64("fd")).collect();
    (opens, closes)
}

fn comm() -> String {
    std::fs::read_to_string("/proc/thread-self/comm").expect("comm").trim_end().to_string()
}

const WATCHED: [&str; 1] = ["openat"];

/// A pre-filter on `openat` whose bound keeps these prefixes and thread names.
fn keeping<'a>(paths: &'a [String], comms: &'a [String]) -> Prefilter<'a> {
    Prefilter { watched: &WATCHED, failed_opens_wanted: &[], read_open_keep: Some(OpenKeep { paths, comms }) }
}

/// A probe on `openat` (and state events) whose bound keeps the `kept/` prefix of `p`.
fn probe_keeping(p: &Paths) -> Probe {
    let kept_prefix = vec![p.s("kept/")];
    let pf = keeping(&kept_prefix, &[]);
    let cfg = ProbeConfig {
        syscalls: &WATCHED,
        with_state_events: true,
        prefilter: Some(pf),
        ..Default::default()
    };
    Probe::load(&cfg).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn read_only_opens_no_rule_keeps_are_dropped_with_their_close() {
    let p = Paths::new("a");
    let kept_prefix = vec![p.s("kept/")];
    let mut probe = probe_keeping(&p);

    let plain = cstr(&p.s("plain"));
    let secret = cstr(&p.s("kept/secret"));
    let dotted = cstr(&p.s("./plain"));
    let dotdot = cstr(&p.s("kept/../plain"));
    let double = cstr(&p.s("kept//secret").replace("kept//", "/kept/"));
    let dir = cstr(&p.s(""));
    let rel = cstr("plain");
    let before = probe.drops().filtered;
    let pid = run_child(|| unsafe {
        let a = libc::openat(libc::AT_FDCWD, plain.as_ptr(), libc::O_RDONLY); // dropped
        let b = libc::openat(libc::AT_FDCWD, secret.as_ptr(), libc::O_RDONLY); // kept: prefix
        let c = libc::openat(libc::AT_FDCWD, dotted.as_ptr(), libc::O_RDONLY); // kept: "/./"
        let d = libc::openat(libc::AT_FDCWD, dotdot.as_ptr(), libc::O_RDONLY); // kept: ".."
        let e = libc::openat(libc::AT_FDCWD, double.as_ptr(), libc::O_RDONLY); // kept: "//"
        let f = libc::openat(libc::AT_FDCWD, dir.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY); // kept
        let g = libc::openat(f, rel.as_ptr(), libc::O_RDONLY); // kept: relative
        let h = libc::openat(libc::AT_FDCWD, plain.as_ptr(), libc::O_RDWR); // kept: write access
        for fd in [a, b, c, d, e, f, g, h] {
            libc::close(fd);
        }
        // a dropped open's number taken over by a reported dup2: its close is reported
        let x = libc::openat(libc::AT_FDCWD, plain.as_ptr(), libc::O_RDONLY); // dropped
        let y = libc::openat(libc::AT_FDCWD, secret.as_ptr(), libc::O_RDONLY); // kept
        libc::dup2(y, x);
        libc::close(x);
        libc::close(y);
    });
    let evs = events_of(&mut probe, pid);
    let (opens, closes) = opens_and_closes(&evs);
    let names: Vec<&str> = opens.iter().map(|(n, _)| n.as_str()).collect();
    let secret_s = p.s("kept/secret");
    let plain_s = p.s("plain");
    assert_eq!(
        names.iter().filter(|n| **n == plain_s).count(),
        1,
        "of the three opens of the plain path only the O_RDWR one is reported: {names:?}"
    );
    let want = [
        secret_s.as_str(),
        &p.s("./plain"),
        &p.s("kept/../plain"),
        &p.s("kept//secret").replace("kept//", "/kept/"),
        &p.s(""),
        "plain",
        &p.s("plain"), // the O_RDWR open (same path as the dropped ones)
        secret_s.as_str(),
    ];
    // every kept open, in order; the O_RDWR one is the only record of the plain path
    let mut expect: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    expect.retain(|s| !s.is_empty());
    assert_eq!(names.len(), 8, "eight opens reported: {names:?}");
    for w in &expect {
        assert!(names.contains(&w.as_str()), "{w} reported: {names:?}");
    }
    // closes: of the kept opens (7 descriptors + h) and of the dup2'd number; not of `a` or `x`
    // before it was taken over
    let kept_fds: Vec<i64> = opens.iter().map(|(_, fd)| *fd).collect();
    let dup2_target = evs.iter().find(|e| e.name() == "dup2").map(|e| e.i64("res")).expect("dup2 reported");
    let mut want_closes: Vec<i64> = kept_fds.clone();
    want_closes.push(dup2_target);
    let mut got = closes.clone();
    got.sort_unstable();
    want_closes.sort_unstable();
    assert_eq!(got, want_closes, "closes of reported descriptors only (opens {opens:?})");
    let filtered = probe.drops().filtered - before;
    assert!(filtered >= 3, "two opens and one close dropped at least (counter grew by {filtered})");

    // A kept process name keeps every open of that process; `None` keeps every open.
    let comms = vec![comm()];
    let pf2 = keeping(&kept_prefix, &comms);
    for (what, setting) in [("by name", Some(&pf2)), ("no bound", None)] {
        probe.set_prefilter(setting).expect("set_prefilter");
        let pid = run_child(|| unsafe {
            let a = libc::openat(libc::AT_FDCWD, plain.as_ptr(), libc::O_RDONLY);
            libc::close(a);
        });
        let (opens, closes) = opens_and_closes(&events_of(&mut probe, pid));
        assert_eq!(opens.len(), 1, "{what}: the open is kept: {opens:?}");
        assert_eq!(closes, vec![opens[0].1], "{what}: and its close");
    }

    // Each bound goes to the idle one of `hr_keep`'s two slots, named by the open's drop word:
    // from either slot, and with another bound in the other, the plain path drops and the kept
    // prefix keeps.
    let other_prefix = vec![p.s("plain")];
    let keeps_plain = keeping(&other_prefix, &[]);
    let keeps_kept = keeping(&kept_prefix, &[]);
    for round in 0..4 {
        let (setting, kept, dropped) = if round % 2 == 0 {
            (&keeps_kept, &secret_s, &plain_s)
        } else {
            (&keeps_plain, &plain_s, &secret_s)
        };
        probe.set_prefilter(Some(setting)).expect("set_prefilter");
        let pid = run_child(|| unsafe {
            for path in [&plain, &secret] {
                let a = libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY);
                libc::close(a);
            }
        });
        let (opens, closes) = opens_and_closes(&events_of(&mut probe, pid));
        let names: Vec<&String> = opens.iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec![kept], "round {round}: only {kept} is reported, not {dropped}");
        assert_eq!(closes, vec![opens[0].1], "round {round}: with its close only");
    }
}

/// The clean-path check reads the path 8 bytes at a time: "//", "/./", "..", a trailing '/' or
/// "/." keep the open wherever they fall in a word (and across two), while names with dots in
/// them ("/.hidden", "a.b") stay clean and drop.
#[test]
fn unclean_paths_are_kept_wherever_the_mark_falls() {
    let p = Paths::new("b");
    let mut probe = probe_keeping(&p);
    let mut clean = Vec::new();
    let mut unclean = Vec::new();
    for pad in 1..=9 {
        let d = p.s(&"d".repeat(pad));
        std::fs::create_dir_all(format!("{d}/sub")).expect("dir");
        for f in ["f", ".hidden", "a.b"] {
            std::fs::write(format!("{d}/{f}"), b"x").expect("write");
            clean.push(format!("{d}/{f}"));
        }
        for u in ["//f", "/./f", "/sub/../f", "/.", "/", "/sub/.."] {
            unclean.push(format!("{d}{u}"));
        }
    }
    let all: Vec<std::ffi::CString> = clean.iter().chain(&unclean).map(|s| cstr(s)).collect();
    let pid = run_child(|| unsafe {
        for c in &all {
            let fd = libc::openat(libc::AT_FDCWD, c.as_ptr(), libc::O_RDONLY);
            assert!(fd >= 0);
            libc::close(fd);
        }
    });
    let (opens, closes) = opens_and_closes(&events_of(&mut probe, pid));
    let mut names: Vec<String> = opens.iter().map(|(n, _)| n.clone()).collect();
    let mut want = unclean.clone();
    names.sort();
    want.sort();
    assert_eq!(names, want, "exactly the unclean paths are reported");
    assert_eq!(closes.len(), unclean.len(), "with their closes only");
}
