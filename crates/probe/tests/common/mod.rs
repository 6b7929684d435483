//! Helpers for the live-kernel tests: load the probe (failing the test with the probe's message
//! when eBPF cannot load), run a child that performs syscalls, collect the child's events.
#![allow(dead_code)]

use harrier_event::Event;
use harrier_probe::{Probe, ProbeConfig};
use std::time::{Duration, Instant};

/// An owned copy of an event.
#[derive(Clone)]
pub struct Ev {
    pub raw: Vec<u8>,
}

impl Ev {
    pub fn ev(&self) -> Event<'_> {
        Event::new(&self.raw, 0, 0).expect("valid event")
    }
    pub fn name(&self) -> &'static str {
        self.ev().info().name
    }
    pub fn tid(&self) -> u64 {
        self.ev().tid()
    }
    fn idx(&self, p: &str) -> usize {
        let e = self.ev();
        e.param_index(p).unwrap_or_else(|| panic!("{} has no parameter {p}", e.info().name))
    }
    pub fn i64(&self, p: &str) -> i64 {
        let e = self.ev();
        e.param_i64(self.idx(p)).unwrap_or_else(|| panic!("{}.{p} empty", self.name()))
    }
    pub fn u64(&self, p: &str) -> u64 {
        let e = self.ev();
        e.param_u64(self.idx(p)).unwrap_or_else(|| panic!("{}.{p} empty", self.name()))
    }
    pub fn u32(&self, p: &str) -> u32 {
        let e = self.ev();
        e.param_u32(self.idx(p)).unwrap_or_else(|| panic!("{}.{p} empty", self.name()))
    }
    pub fn str(&self, p: &str) -> String {
        let e = self.ev();
        e.param_str(self.idx(p)).unwrap_or_else(|| panic!("{}.{p} empty", self.name())).to_string()
    }
    pub fn bytes(&self, p: &str) -> Vec<u8> {
        let e = self.ev();
        e.param(self.idx(p)).map(|b| b.to_vec()).unwrap_or_default()
    }
    pub fn list(&self, p: &str) -> Vec<String> {
        let b = self.bytes(p);
        let b = b.strip_suffix(&[0]).unwrap_or(&b);
        if b.is_empty() {
            return Vec::new();
        }
        b.split(|&c| c == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    }
}

pub fn load(extra: &[&str]) -> Probe {
    let names: Vec<&str> = extra.to_vec();
    let cfg = ProbeConfig { syscalls: &names, with_state_events: true, ..Default::default() };
    match Probe::load(&cfg) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Fork a child that runs `f` (raw syscalls only: no allocation, no locks) and `_exit(0)`s.
/// Returns its pid after it has exited.
pub fn run_child(f: impl FnOnce()) -> i32 {
    // SAFETY: the child only runs `f` (async-signal-safe syscalls by contract) and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        f();
        unsafe { libc::_exit(0) };
    }
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    pid
}

/// Poll until `done` says the collected events are complete (or 5 s), keeping events whose
/// thread is one of `tids()` (checked per event, so children of the child can be followed).
pub fn collect(
    probe: &mut Probe,
    mut keep: impl FnMut(&Event<'_>) -> bool,
    mut done: impl FnMut(&[Ev]) -> bool,
) -> Vec<Ev> {
    let mut out = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        probe
            .poll(Duration::from_millis(20), &mut |e| {
                if keep(e) {
                    out.push(Ev { raw: e.raw().to_vec() });
                }
            })
            .expect("poll");
        if done(&out) {
            // one more short drain for stragglers
            let _ = probe.poll(Duration::from_millis(5), &mut |e| {
                if keep(e) {
                    out.push(Ev { raw: e.raw().to_vec() });
                }
            });
            break;
        }
    }
    out
}

/// Events of one pid until its procexit.
pub fn events_of(probe: &mut Probe, pid: i32) -> Vec<Ev> {
    collect(probe, |e| e.tid() == pid as u64, |v| v.iter().any(|e| e.name() == "procexit"))
}

pub fn find<'a>(v: &'a [Ev], name: &str) -> &'a Ev {
    v.iter().find(|e| e.name() == name).unwrap_or_else(|| {
        panic!("no {name} event; got {:?}", v.iter().map(|e| e.name()).collect::<Vec<_>>())
    })
}

pub fn cstr(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s).unwrap()
}
