//! The in-kernel pre-filter (root, real kernel): it drops exactly the records no rule can match
//! and state tracking ignores, keeps everything else, and follows a reload of the rules.

mod common;
use common::*;
use harrier_probe::{prefilter_words, Prefilter, Probe, ProbeConfig};

/// A child making one of each kind of call the pre-filter decides on, then exiting. The paths
/// name this test process so other processes' events cannot be confused with them.
fn workload(probe: &mut Probe, tag: &str) -> Vec<Ev> {
    let dir = std::env::temp_dir().join(format!("harrier-prefilter-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ok = cstr(dir.join("present").to_str().unwrap());
    std::fs::write(dir.join("present"), b"x").expect("write");
    let missing = cstr(dir.join("missing").to_str().unwrap());
    let pid = run_child(|| unsafe {
        let fd = libc::openat(libc::AT_FDCWD, ok.as_ptr(), libc::O_RDONLY); // ok
        libc::openat(libc::AT_FDCWD, missing.as_ptr(), libc::O_RDONLY); // fails: ENOENT
        libc::fcntl(fd, libc::F_GETFL); // not a dup
        let d1 = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 50); // a dup: 50
        libc::fcntl(-1, libc::F_DUPFD, 60); // a failed dup
        let d2 = libc::dup(fd); // ok
        libc::dup(-1); // fails: EBADF
        libc::close(d1);
        libc::close(d2);
        libc::close(-1); // fails: EBADF
        libc::close(fd);
    });
    let evs = events_of(probe, pid);
    let _ = std::fs::remove_dir_all(&dir);
    evs
}

fn count(evs: &[Ev], name: &str, failed: bool) -> usize {
    evs.iter()
        .filter(|e| e.name() == name)
        .filter(|e| {
            let res = match name {
                "openat" | "dup" | "fcntl" => e.i64(if name == "openat" { "fd" } else { "res" }),
                _ => e.i64("res"),
            };
            (res < 0) == failed
        })
        .count()
}

fn fcntl_cmds(evs: &[Ev]) -> Vec<u64> {
    let mut v: Vec<u64> = evs.iter().filter(|e| e.name() == "fcntl").map(|e| e.u64("cmd")).collect();
    v.sort_unstable();
    v
}

#[test]
fn prefilter_drops_only_what_no_rule_or_state_uses() {
    // A rule on openat that cannot match failures (e.g. one that tests fd.name); close, dup and
    // fcntl captured for state only.
    let watched = ["openat"];
    let p = Prefilter { watched: &watched, failed_opens_wanted: &[], read_open_keep: None };
    let cfg =
        ProbeConfig { syscalls: &watched, with_state_events: true, prefilter: Some(p), ..Default::default() };
    let mut probe = Probe::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let before = probe.drops().filtered;
    let evs = workload(&mut probe, "a");
    // kept: what state tracking uses and the successful open the rule may match
    assert_eq!(count(&evs, "openat", false), 1, "successful openat kept");
    assert_eq!(count(&evs, "dup", false), 1, "successful dup kept");
    assert_eq!(count(&evs, "close", false), 3, "successful closes kept");
    assert_eq!(fcntl_cmds(&evs), [26], "only the successful F_DUPFD_CLOEXEC (PPM code 26) is kept");
    // dropped: the failures and the non-dup fcntl
    assert_eq!(count(&evs, "openat", true), 0, "failed openat dropped");
    assert_eq!(count(&evs, "dup", true), 0, "failed dup dropped");
    assert_eq!(count(&evs, "close", true), 0, "failed close dropped");
    // failed openat, F_GETFL, failed F_DUPFD, failed dup, failed close: at least these five
    let filtered = probe.drops().filtered - before;
    assert!(filtered >= 5, "filtered counter grew by {filtered}");

    // Reloaded rules that match failed openats and watch close: those come through again.
    let watched2 = ["openat", "close"];
    let p2 = Prefilter { watched: &watched2, failed_opens_wanted: &["openat"], read_open_keep: None };
    probe.set_prefilter(Some(&p2)).expect("set_prefilter");
    let evs = workload(&mut probe, "b");
    assert_eq!(count(&evs, "openat", true), 1, "failed openat kept for a rule that may match it");
    assert_eq!(count(&evs, "close", true), 1, "failed close kept when a rule watches close");
    assert_eq!(count(&evs, "dup", true), 0, "dup is still state only");
    assert_eq!(fcntl_cmds(&evs), [26]);

    // No pre-filter: everything the probe captures arrives.
    probe.set_prefilter(None).expect("set_prefilter");
    let evs = workload(&mut probe, "c");
    assert_eq!(count(&evs, "openat", true), 1);
    assert_eq!(count(&evs, "dup", true), 1);
    assert_eq!(count(&evs, "close", true), 1);
    assert_eq!(fcntl_cmds(&evs), [1, 4, 26], "F_DUPFD (failed), F_GETFL, F_DUPFD_CLOEXEC in PPM codes");
}

#[test]
fn prefilter_words_follow_the_rules() {
    let captured = ["openat", "open", "close", "fcntl", "execve", "connect"];
    let w = |p: Option<&Prefilter<'_>>| {
        let mut v = prefilter_words(&captured, p);
        v.sort_unstable();
        v
    };
    let nr = |n: &str| harrier_probe::syscalls::by_name(n).unwrap().nr;
    use harrier_probe::abi::prefilter::{FAILED, FCNTL_NODUP};
    // without a pre-filter every filterable syscall is written as "keep everything"
    let mut none = vec![(nr("openat"), 0), (nr("open"), 0), (nr("close"), 0), (nr("fcntl"), 0)];
    none.sort_unstable();
    assert_eq!(w(None), none);
    // rules watch openat (not its failures) and close; open and fcntl are state only
    let p = Prefilter { watched: &["openat", "close"], failed_opens_wanted: &["open"], read_open_keep: None };
    let mut exp =
        vec![(nr("openat"), FAILED), (nr("open"), 0), (nr("close"), 0), (nr("fcntl"), FAILED | FCNTL_NODUP)];
    exp.sort_unstable();
    assert_eq!(w(Some(&p)), exp);
}
