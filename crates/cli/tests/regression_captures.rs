//! Regression captures: each host action of `harrier generate`, recorded once live with
//! `harrier capture` and committed (scrubbed) in `tests/captures/`, is replayed with the default
//! rules; the rules that fire must be exactly the ones listed here (and in the README there).
//! Runs without root.
//!
//! Re-record (root, eBPF; rewrites the files, then update the table below and the README):
//!
//!     cargo test --release -p harrier --test regression_captures -- --ignored record --nocapture
//!     HARRIER_RECORD=reverse-shell,io-uring cargo test …   # only these actions

mod common;
mod synth;

use common::*;
use harrier_event::{Event, EventBuf};
use harrier_scap::{Header, Reader, Writer, WriterOptions};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use synth::replay_default_rules;

/// Each recorded action and the rules its capture raises with the default rules
/// (`rule_matching=all`). The first is the rule the action names in `harrier generate --list`.
const CAPTURES: &[(&str, &[&str])] = &[
    ("read-sensitive-file", &["Read sensitive file by untrusted program"]),
    ("write-below-etc", &["Write below etc"]),
    ("write-below-binary-dir", &["Write below binary directory"]),
    ("write-below-root", &["Write below root home"]),
    ("write-below-dev", &["Write below dev"]),
    ("search-private-keys", &["Search for private keys or passwords"]),
    ("shell-from-server", &["Shell spawned by a server process"]),
    ("reverse-shell", &["Reverse shell"]),
    ("outbound-connection", &["Unexpected outbound connection", "Reverse shell"]),
    ("exec-from-tmp", &["Execution from a temporary directory"]),
    ("exec-from-dev-shm", &["Execution from shared memory"]),
    ("fileless-memfd", &["Fileless execution via memfd"]),
    ("ptrace-attach", &["Ptrace attach or code injection"]),
    ("kernel-module", &["Kernel module load"]),
    ("bpf-program", &["BPF program load"]),
    ("setuid-non-sudo", &["Setuid to root by a non-sudo program"]),
    ("user-management", &["User or group management"]),
    ("clear-log", &["Log files cleared"]),
    ("cron-persistence", &["Cron or systemd persistence", "Write below etc"]),
    ("shell-config", &["Shell configuration modified"]),
    ("link-sensitive-file", &["Link to a sensitive file"]),
    ("decoded-script", &["Decoded or downloaded script executed"]),
    ("system-binary-network", &["System binary made a network connection"]),
    ("io-uring", &["io_uring used by an unexpected program"]),
];

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

fn capture_file(action: &str) -> PathBuf {
    captures_dir().join(format!("{action}.scap.gz"))
}

/// Replay a capture with the default rules; the rules that fired and their alerts.
fn fired(cap: &Path) -> (BTreeSet<String>, Vec<serde_json::Value>) {
    let alerts = replay_default_rules(cap);
    (alerts.iter().filter_map(|a| a["rule"].as_str().map(str::to_string)).collect(), alerts)
}

#[test]
fn each_capture_raises_exactly_its_rules() {
    let mut problems = Vec::new();
    for (action, expected) in CAPTURES {
        let cap = capture_file(action);
        assert!(cap.is_file(), "missing regression capture {}", cap.display());
        let (got, alerts) = fired(&cap);
        let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        if got != want {
            let outputs: Vec<String> = alerts.iter().map(|a| format!("    {}", a["output"])).collect();
            problems.push(format!("{action}: expected {want:?}, got {got:?}\n{}", outputs.join("\n")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every event of a capture belongs to the generator's process tree (nothing else that ran on
/// the recording machine).
#[test]
fn captures_hold_only_the_generator_tree() {
    let filter = format!("not (proc.name = {GEN_NAME} or proc.aname = {GEN_NAME})");
    for (action, _) in CAPTURES {
        let cap = capture_file(action);
        let o = harrier(&["replay", "--quiet", cap.to_str().unwrap(), "--filter", &filter]);
        assert!(o.status.success(), "{action}: {}", stderr(&o));
        assert!(stdout(&o).trim().is_empty(), "{action}: events from outside the generator:\n{}", stdout(&o));
        assert!(stderr(&o).contains(" 0 selected"), "{action}: {}", stderr(&o));
    }
}

#[test]
fn every_host_action_has_a_capture() {
    let o = harrier(&["generate", "--list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list: Vec<serde_json::Value> = serde_json::from_str(stdout(&o).trim()).unwrap();
    let table: BTreeMap<&str, &str> = CAPTURES.iter().map(|(a, r)| (*a, r[0])).collect();
    let mut problems = Vec::new();
    for a in list.iter().filter(|a| a["context"] == "host") {
        let name = a["action"].as_str().unwrap();
        match table.get(name) {
            None => {
                problems.push(format!("{name}: no regression capture (record it, see the file's header)"))
            }
            Some(rule) if a["rule"] != *rule => {
                problems.push(format!("{name}: generator names {}, the table {rule}", a["rule"]))
            }
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The committed files hold nothing of the recording machine beyond the generator's own
/// activity: no environment, no cgroups, no interfaces, no I/O payloads, a neutral host name,
/// and only the generator's processes (plus its scrubbed parent) in the process table.
#[test]
fn committed_captures_are_scrubbed() {
    for (action, _) in CAPTURES {
        let path = capture_file(action);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < 64 << 10, "{action}: {size} bytes; keep regression captures small");
        let mut r = Reader::open(&path).unwrap();
        let h = r.header().clone();
        assert_eq!(h.machine.as_ref().map(|m| m.hostname.as_str()), Some(SCRUBBED_HOST), "{action}");
        assert!(h.interfaces.is_empty(), "{action}: interfaces");
        assert!(h.threads.len() <= 2, "{action}: {} header threads", h.threads.len());
        for t in &h.threads {
            assert!(t.env.is_empty() && t.args.is_empty() && t.cgroups.is_empty(), "{action}: thread {t:?}");
        }
        let mut n = 0;
        while let Some(ev) = r.next_event().unwrap() {
            n += 1;
            for name in SCRUBBED_PARAMS {
                if let Some(i) = ev.param_index(name) {
                    assert!(
                        ev.param_raw(i).is_none_or(<[u8]>::is_empty),
                        "{action}: event {n} ({}) keeps its {name}",
                        ev.info().name
                    );
                }
            }
        }
        assert!(n > 0, "{action}: no events");
    }
}

// ------------------------------------------------------------------ recording and scrubbing

const SCRUBBED_HOST: &str = "harrier-recorder";
/// Parameters emptied in every event: the environment, cgroup paths and I/O payloads.
const SCRUBBED_PARAMS: &[&str] = &["env", "cgroups", "data"];
/// The name the generator runs under while recording (a symbolic link to harrier).
const GEN_NAME: &str = "hgen";

/// Write `raw` to `out` (gzip) keeping only the events of the process tree rooted at `root`,
/// the tree's parent thread in the process table (args, environment, cwd and cgroups emptied),
/// no interfaces, only the users and groups those processes run as, and events with their
/// environment, cgroups and payloads emptied. Returns (events kept, events read).
fn scrub(raw: &Path, out: &Path, root: u64) -> (u64, u64) {
    // Pass 1: the tree (clone results and child-side clones of members) and the root's parent.
    let mut tree: HashSet<u64> = HashSet::from([root]);
    let mut root_parent: Option<u64> = None;
    let mut r = Reader::open(raw).expect("raw capture");
    while let Some(ev) = r.next_event().expect("raw event") {
        let name = ev.info().name;
        if !matches!(name, "clone" | "clone3" | "fork" | "vfork" | "execve" | "execveat") {
            continue;
        }
        let get = |n: &str| ev.param_index(n).and_then(|i| ev.param_i64(i));
        let (tid, res) = (ev.tid(), get("res").unwrap_or(-1));
        if name.starts_with("exec") {
            if tid == root && root_parent.is_none() {
                root_parent = get("ptid").filter(|p| *p > 0).map(|p| p as u64);
            }
        } else if res > 0 && tree.contains(&tid) {
            tree.insert(res as u64);
        } else if res == 0 {
            let parent = get("ptid").unwrap_or(-1) as u64;
            let pid = get("pid").unwrap_or(-1) as u64;
            if tid == root {
                root_parent = Some(parent);
            } else if tree.contains(&parent) || tree.contains(&pid) {
                tree.insert(tid);
            }
        }
    }

    // Pass 2: header and events.
    let mut r = Reader::open(raw).expect("raw capture");
    let full: Header = r.take_header();
    let parent = root_parent.and_then(|p| full.threads.iter().find(|t| t.tid == p).cloned());
    let mut threads = Vec::new();
    if let Some(mut p) = parent {
        p.args.clear();
        p.env.clear();
        p.cgroups.clear();
        p.cwd = "/".into();
        threads.push(p);
    }
    let uids: BTreeSet<u32> = [0, 65534].into_iter().chain(threads.iter().map(|t| t.uid)).collect();
    let header = Header {
        section: full.section.clone(),
        machine: full.machine.clone().map(|mut m| {
            m.hostname = SCRUBBED_HOST.into();
            m
        }),
        interfaces: Vec::new(),
        users: full.users.iter().filter(|u| uids.contains(&u.uid)).cloned().collect(),
        groups: full.groups.iter().filter(|g| uids.contains(&g.gid)).cloned().collect(),
        fd_tables: Vec::new(),
        threads,
    };
    let mut w = Writer::create(out, WriterOptions { gzip: true, level: 9 }).expect("create capture");
    w.write_header(&header).expect("header");
    let mut buf = EventBuf::new();
    let (mut kept, mut seen) = (0, 0);
    while let Some(ev) = r.next_event().expect("raw event") {
        seen += 1;
        if !tree.contains(&ev.tid()) {
            continue;
        }
        let ev: Event<'_> = ev;
        buf.begin(ev.ts(), ev.tid(), ev.etype()).set_cpu(ev.cpu()).set_flags(ev.flags());
        for (i, p) in ev.info().params.iter().enumerate().take(ev.nparams()) {
            if SCRUBBED_PARAMS.contains(&p.name) {
                buf.push_empty();
            } else {
                buf.push(ev.param_raw(i).unwrap_or_default());
            }
        }
        w.write_event(&buf.finish().expect("rebuilt event")).expect("event");
        kept += 1;
    }
    w.finish().expect("capture written");
    (kept, seen)
}

/// Record every host action of the generator (root, eBPF). See the file's header.
#[test]
#[ignore = "records the regression captures (root, eBPF); run by hand"]
fn record() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1));
    assert_eq!(euid, Some("0"), "recording needs root (live capture)");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_harrier"));
    let only: Option<Vec<String>> =
        std::env::var("HARRIER_RECORD").ok().map(|v| v.split(',').map(str::to_string).collect());
    let dir = tempfile::tempdir().unwrap();
    let gen = dir.path().join(GEN_NAME);
    std::os::unix::fs::symlink(&bin, &gen).unwrap();
    std::fs::create_dir_all(captures_dir()).unwrap();
    let me = std::process::id();
    let filter = format!(
        "proc.name = {GEN_NAME} or proc.aname = {GEN_NAME} \
         or (proc.ppid = {me} and evt.type in (clone, clone3, fork, vfork))"
    );
    for (action, expected) in CAPTURES {
        if only.as_ref().is_some_and(|o| !o.iter().any(|a| a == action)) {
            continue;
        }
        let raw = dir.path().join(format!("{action}.raw.scap"));
        let cap = spawn_ready(&["capture", "-w", raw.to_str().unwrap(), "--filter", &filter], "capturing to");
        let mut child = std::process::Command::new(&gen)
            .args(["generate", action, "--pause-ms", "0"])
            .current_dir("/")
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .spawn()
            .expect("start the generator");
        let root = child.id() as u64;
        let st = child.wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert!(cap.stop(), "{action}: capture stops cleanly");
        assert!(st.success(), "{action}: the generator failed");
        let out = capture_file(action);
        let (kept, seen) = scrub(&raw, &out, root);
        let (got, _) = fired(&out);
        let size = std::fs::metadata(&out).unwrap().len();
        eprintln!("{action}: {kept} of {seen} events kept, {size} bytes; fired {got:?}");
        assert!(got.contains(expected[0]), "{action}: {} did not fire: {got:?}", expected[0]);
    }
}
