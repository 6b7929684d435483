//! Selection conformance with Debian's sysdig 0.29: for every reference capture and every filter
//! below, `harrier replay FILE --filter F -p %evt.num` must print exactly the event numbers that
//! `sysdig -r FILE -p %evt.num F` prints.
//!
//! The filters are written in sysdig 0.29's dialect (no `regex`, no `val()`, brackets when `and`/`or`
//! mix). The test FAILS — it never skips — when sysdig or the reference captures are missing: run
//! `scripts/setup-tests.sh` (installs sysdig) and make sure `../shared/reference/scap` exists next to the
//! project root (or set `HARRIER_REFERENCE` to the reference folder).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const CAPTURES: &[&str] = &[
    "cat_write.scap",
    "curl_google.scap",
    "open-multiple-files.scap",
    "run_as_user_0_container.scap",
    "sample.scap",
    "syscall.scap",
];

/// Filters in sysdig 0.29's dialect, by area.
const FILTERS: &[&str] = &[
    // no-op: which events sysdig shows and how it numbers them
    "evt.num>0",
    // process
    "proc.name=cat",
    "proc.name in (bash, sh, curl, sudo, cat, ls)",
    "proc.pname=bash",
    "proc.pname!=bash",
    "proc.cmdline contains cat",
    "proc.args contains google",
    "proc.args=\"\"",
    "proc.pid>20000",
    "proc.ppid<1000",
    "proc.ppid>=1000",
    "proc.aname=bash",
    "proc.aname[2]=sshd",
    "proc.exe endswith cat",
    "proc.exe startswith /usr",
    "thread.tid>=20000",
    // fd
    "fd.name contains /etc",
    "fd.name=/etc/ld.so.cache",
    "fd.typechar=f",
    "fd.typechar=4",
    "fd.type=ipv4",
    "fd.type=ipv6",
    "fd.type=file",
    "fd.type in (unix, pipe)",
    "fd.directory=/etc",
    "fd.filename startswith ld",
    "fd.num=3",
    "fd.num>=0",
    "fd.l4proto=tcp",
    "fd.l4proto=udp",
    "fd.sip exists",
    "fd.cip=10.0.2.2",
    "fd.sip=2001:4860:4860::8888",
    "fd.sport=53",
    "fd.cport>1024",
    "fd.is_server=true",
    "fd.is_server=false",
    "fd.sockfamily=ip",
    "fd.sockfamily=unix",
    // network
    "fd.net=10.0.2.0/24",
    "evt.type=connect",
    "fd.port in (53, 80, 443)",
    // user / group
    "user.name=root",
    "user.name!=root",
    "user.uid=0",
    "user.uid!=0",
    "group.name=root",
    // container
    "container.id=host",
    "container.id!=host",
    "container.name contains a",
    "container.image exists",
    "container.image=nginx",
    // evt
    "evt.type in (open, openat, close, read, write)",
    "evt.dir=<",
    "evt.dir=>",
    "evt.res=SUCCESS",
    "evt.res!=SUCCESS",
    "evt.rawres<0",
    "evt.rawres>=0",
    "evt.failed=true",
    "evt.failed=false",
    "evt.arg.fd contains /etc",
    "evt.arg.name contains /etc",
    "evt.arg.res=0",
    "evt.arg.flags contains O_RDONLY",
    "evt.is_open_read=true",
    // operators
    "proc.name icontains CAT",
    "fd.name glob /etc/*",
    "fd.name pmatch (/etc, /usr/lib)",
    "fd.name exists",
    "not fd.name exists",
    "not proc.name=cat",
    "(proc.name=cat or proc.name=bash) and evt.dir=<",
    "evt.type=execve and evt.dir=<",
    "evt.type=clone and evt.dir=<",
];

/// (capture, filter) pairs where Harrier deliberately differs from sysdig 0.29, each with the reason.
const EXCLUDED: &[(&str, &str, &str)] = &[];

fn reference_dir() -> PathBuf {
    let dir = match std::env::var_os("HARRIER_REFERENCE") {
        Some(p) => PathBuf::from(p).join("scap"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/scap"),
    };
    for c in CAPTURES {
        assert!(
            dir.join(c).is_file(),
            "reference capture {} not found in {} — this conformance test needs ../shared/reference/scap \
             (or HARRIER_REFERENCE); run scripts/setup-tests.sh",
            c,
            dir.display()
        );
    }
    dir
}

fn check_sysdig() {
    let ok = Command::new("sysdig").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(
        ok,
        "sysdig not found on PATH: this conformance test needs Debian's sysdig 0.29 — run scripts/setup-tests.sh"
    );
}

fn nums(stdout: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn run_sysdig(file: &Path, filter: &str) -> Result<Vec<u64>, String> {
    let out = Command::new("sysdig")
        .arg("-r")
        .arg(file)
        .args(["-p", "*%evt.num", filter])
        .output()
        .map_err(|e| format!("cannot run sysdig: {e}"))?;
    if !out.status.success() {
        return Err(format!("sysdig rejected the filter: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(nums(&out.stdout))
}

fn run_harrier(file: &Path, filter: &str) -> Result<Vec<u64>, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .arg("replay")
        .arg(file)
        .args(["--quiet", "--filter", filter, "-p", "%evt.num"])
        .output()
        .map_err(|e| format!("cannot run harrier: {e}"))?;
    if !out.status.success() {
        return Err(format!("harrier failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(nums(&out.stdout))
}

/// What differs between two sorted number lists, shortly.
fn describe(sysdig: &[u64], harrier: &[u64]) -> String {
    let s: std::collections::BTreeSet<_> = sysdig.iter().collect();
    let h: std::collections::BTreeSet<_> = harrier.iter().collect();
    let missing: Vec<_> = s.difference(&h).take(12).collect();
    let extra: Vec<_> = h.difference(&s).take(12).collect();
    format!(
        "sysdig {} events, harrier {}; only sysdig (first): {:?}; only harrier (first): {:?}",
        sysdig.len(),
        harrier.len(),
        missing,
        extra
    )
}

#[test]
fn selection_matches_sysdig_029() {
    check_sysdig();
    let dir = reference_dir();
    assert!(FILTERS.len() >= 30);
    let pairs: Vec<(&str, &str)> =
        CAPTURES.iter().flat_map(|c| FILTERS.iter().map(move |f| (*c, *f))).collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<String>::new());
    // Per filter: events sysdig selected over all captures (every filter must select something).
    let selected = Mutex::new(std::collections::HashMap::<&str, usize>::new());
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(2, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(cap, filter)) = pairs.get(i) else { break };
                let file = dir.join(cap);
                let res = run_sysdig(&file, filter).and_then(|want| Ok((want, run_harrier(&file, filter)?)));
                match res {
                    Ok((want, got)) => {
                        *selected.lock().unwrap().entry(filter).or_default() += want.len();
                        let excluded = EXCLUDED.iter().any(|(c, f, _)| *c == cap && *f == filter);
                        if want != got && !excluded {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{cap} | {filter} | {}", describe(&want, &got)));
                        }
                    }
                    Err(e) => failures.lock().unwrap().push(format!("{cap} | {filter} | {e}")),
                }
            });
        }
    });
    let selected = selected.into_inner().unwrap();
    let mut failures = failures.into_inner().unwrap();
    for f in FILTERS {
        if selected.get(f).copied().unwrap_or(0) == 0 {
            failures
                .push(format!("(all) | {f} | sysdig selects nothing in any capture: not a useful filter"));
        }
    }
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} (capture, filter) pairs differ from sysdig 0.29:\n{}",
        failures.len(),
        pairs.len(),
        failures.join("\n")
    );
}
