//! Terminal records to audit records: one line editor per shell process, sessions keyed by
//! (terminal, session leader), start/end records, per-session limits.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::capture::{tty_name, TermEvent, TermKind};
use crate::pods::PodLookup;
use crate::{AuditRecord, LineEditor, LineEvent, ECHO, ICANON};

/// What userspace learns about a process from /proc (or a test double).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcInfo {
    pub cwd: String,
    /// Session id (`getsid`): the session leader's pid.
    pub sid: u32,
    /// The session leader's start time (clock ticks since boot), to tell reused pids apart.
    pub sid_start: u64,
    pub container_id: String,
    /// The container's full id and the runtime its cgroup path names (for metadata lookups).
    pub container_full_id: String,
    pub container_runtime: Option<harrier_containers::Runtime>,
    pub k8s_pod_uid: String,
    /// From the container runtime's metadata (the kubelet's labels), empty when not a pod.
    pub k8s_pod_name: String,
    pub k8s_ns_name: String,
}

/// Source of per-process facts.
pub trait ProcSource {
    fn info(&self, pid: u32) -> ProcInfo;
    /// The name of `uid` as the process sees it (its root's /etc/passwd), or the number.
    fn user(&self, pid: u32, uid: u32) -> String;
    /// The pod of a container as known now (never waits; the default knows none).
    fn pod(&self, _full_id: &str, _runtime: Option<harrier_containers::Runtime>) -> PodLookup {
        PodLookup::Unknown
    }
}

/// Reads /proc.
#[derive(Debug, Default, Clone, Copy)]
pub struct Procfs;

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

impl ProcSource for Procfs {
    fn info(&self, pid: u32) -> ProcInfo {
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        // fields after "(comm) ": state(0) ppid(1) pgrp(2) session(3) ... starttime(19)
        let sid = stat_fields(pid).and_then(|f| f.get(3)?.parse().ok()).unwrap_or(0);
        let sid_start = stat_fields(sid).and_then(|f| f.get(19)?.parse().ok()).unwrap_or(0);
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let c = harrier_state::container::container_from_cgroups(cg.lines());
        ProcInfo {
            cwd,
            sid,
            sid_start,
            container_id: c.as_ref().map(|c| c.short_id().to_owned()).unwrap_or_default(),
            container_full_id: c.as_ref().map(|c| c.full_id.clone()).unwrap_or_default(),
            container_runtime: c.as_ref().map(|c| c.runtime),
            k8s_pod_uid: c.and_then(|c| c.pod_uid).unwrap_or_default(),
            ..Default::default()
        }
    }

    fn user(&self, pid: u32, uid: u32) -> String {
        let passwd = std::fs::read_to_string(format!("/proc/{pid}/root/etc/passwd")).unwrap_or_default();
        passwd
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                f.next()?;
                (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
            .next()
            .unwrap_or_else(|| uid.to_string())
    }
}

/// /proc, plus the pod of a shell's container from the container runtimes (when configured).
#[derive(Default)]
pub struct HostProcs {
    pods: Option<std::cell::RefCell<crate::pods::ContainerPods>>,
}

impl HostProcs {
    pub fn new(pods: Option<crate::pods::ContainerPods>) -> Self {
        HostProcs { pods: pods.map(std::cell::RefCell::new) }
    }
}

impl ProcSource for HostProcs {
    fn info(&self, pid: u32) -> ProcInfo {
        let i = Procfs.info(pid);
        if !i.container_full_id.is_empty() {
            // queue the lookup now, when the shell's container is first seen
            self.pod(&i.container_full_id, i.container_runtime);
        }
        i
    }

    fn user(&self, pid: u32, uid: u32) -> String {
        Procfs.user(pid, uid)
    }

    fn pod(&self, full_id: &str, runtime: Option<harrier_containers::Runtime>) -> PodLookup {
        match &self.pods {
            Some(p) => p.borrow_mut().pod(full_id, runtime),
            None => PodLookup::Unknown,
        }
    }
}

/// Limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes of commands recorded per session; later commands are counted as dropped.
    pub max_session_bytes: u64,
    /// Shell processes tracked at once; beyond that new ones are ignored (and counted).
    pub max_shells: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_session_bytes: 4 << 20, max_shells: 4096 }
    }
}

struct Shell {
    editor: LineEditor,
    /// The shell edits lines itself (it read with ICANON off at least once): its canonical reads
    /// are input to builtins such as `read`, not commands.
    edits: bool,
    session: (u32, u32),
    user: String,
    uid: u32,
    comm: String,
    info: ProcInfo,
}

struct Session {
    id: u64,
    shells: usize,
    commands: u64,
    bytes: u64,
    dropped: u64,
    start: AuditRecord,
}

/// Counters of the userspace half.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub commands: u64,
    pub abandoned: u64,
    /// Commands dropped by the per-session byte limit.
    pub dropped_commands: u64,
    /// Shells not tracked because of `max_shells`.
    pub dropped_shells: u64,
    /// Secret reads seen (withheld by the kernel).
    pub secrets: u64,
    /// Reads after which the line was marked incomplete (input lost to limits before them).
    pub incomplete: u64,
}

/// A record waiting (briefly) for its container's pod lookup.
struct Held {
    rec: AuditRecord,
    full_id: String,
    runtime: Option<harrier_containers::Runtime>,
    until: Instant,
}

/// How long a record may wait for a pending pod lookup by default.
pub const POD_HOLD: Duration = Duration::from_millis(500);

/// Turns [`TermEvent`]s into [`AuditRecord`]s.
pub struct Tracker<P: ProcSource = Procfs> {
    proc: P,
    /// Records held while their pod lookup is pending (in order: later records queue behind).
    held: VecDeque<Held>,
    pod_hold: Duration,
    limits: Limits,
    shells: HashMap<u32, Shell>,
    sessions: HashMap<(u32, u32), Session>,
    /// CLOCK_REALTIME - CLOCK_BOOTTIME, ns.
    wall_offset: i128,
    pub stats: TrackerStats,
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec for the duration of the call.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

fn fnv(parts: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h >> 1 // fits a JSON-safe signed 64-bit integer
}

impl<P: ProcSource> Tracker<P> {
    pub fn new(proc: P, limits: Limits) -> Self {
        Tracker {
            proc,
            held: VecDeque::new(),
            pod_hold: POD_HOLD,
            limits,
            shells: HashMap::new(),
            sessions: HashMap::new(),
            wall_offset: clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_BOOTTIME),
            stats: TrackerStats::default(),
        }
    }

    fn time(&self, boot_ns: u64) -> String {
        let ns = boot_ns as i128 + self.wall_offset;
        let secs = ns.div_euclid(1_000_000_000) as i64;
        let sub = ns.rem_euclid(1_000_000_000) as u32;
        chrono::DateTime::from_timestamp(secs, sub)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default()
    }

    fn base(&self, kind: &'static str, ts: u64, sh: &Shell, sid: u64, tty: u32) -> AuditRecord {
        AuditRecord {
            kind,
            time: self.time(ts),
            time_ns: (ts as i128 + self.wall_offset).max(0) as u64,
            session_id: sid,
            command: None,
            cwd: sh.info.cwd.clone(),
            user: sh.user.clone(),
            loginuid: 0,
            tty: tty_name(tty),
            container_id: sh.info.container_id.clone(),
            k8s_pod_name: sh.info.k8s_pod_name.clone(),
            k8s_ns_name: sh.info.k8s_ns_name.clone(),
            k8s_pod_uid: sh.info.k8s_pod_uid.clone(),
            pid: 0,
            shell: sh.comm.clone(),
            uid: sh.uid,
            session_leader: sh.info.sid,
            ..Default::default()
        }
    }

    /// How long a record may wait for its container's pending pod lookup (the capture never
    /// waits: records are released by [`Tracker::tick`] or the next [`Tracker::handle`]).
    pub fn set_pod_hold(&mut self, d: Duration) {
        self.pod_hold = d;
    }

    /// Records are held for a pending pod lookup (call [`Tracker::tick`] soon).
    pub fn has_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// Records whose pod lookup answered or whose hold ran out.
    pub fn tick(&mut self) -> Vec<AuditRecord> {
        let mut out = Vec::new();
        self.release(false, &mut out);
        out
    }

    /// Every held record, with whatever is known now (at shutdown).
    pub fn flush(&mut self) -> Vec<AuditRecord> {
        let mut out = Vec::new();
        self.release(true, &mut out);
        out
    }

    /// Fill the pod of `r` if known; true while its lookup is pending.
    fn fill_pod(&self, r: &mut AuditRecord, full_id: &str, rt: Option<harrier_containers::Runtime>) -> bool {
        if full_id.is_empty() || !r.k8s_pod_name.is_empty() || !r.k8s_ns_name.is_empty() {
            return false;
        }
        match self.proc.pod(full_id, rt) {
            PodLookup::Known(p) => {
                r.k8s_pod_name = p.name;
                r.k8s_ns_name = p.namespace;
                false
            }
            PodLookup::Pending => true,
            PodLookup::Unknown => false,
        }
    }

    fn release(&mut self, force: bool, out: &mut Vec<AuditRecord>) {
        let now = Instant::now();
        while let Some(mut h) = self.held.pop_front() {
            let pending = self.fill_pod(&mut h.rec, &h.full_id, h.runtime);
            if pending && !force && now < h.until {
                self.held.push_front(h);
                break;
            }
            out.push(h.rec);
        }
    }

    fn emit(
        &mut self,
        mut rec: AuditRecord,
        full_id: &str,
        rt: Option<harrier_containers::Runtime>,
        out: &mut Vec<AuditRecord>,
    ) {
        let pending = self.fill_pod(&mut rec, full_id, rt);
        if pending || !self.held.is_empty() {
            let until = Instant::now() + self.pod_hold;
            self.held.push_back(Held { rec, full_id: full_id.to_owned(), runtime: rt, until });
            self.release(false, out);
        } else {
            out.push(rec);
        }
    }

    /// Handle one kernel record; returns the audit records it completes, in order (never waits;
    /// a record of a container whose pod lookup is pending may come from a later call).
    pub fn handle(&mut self, ev: &TermEvent) -> Vec<AuditRecord> {
        let mut out = Vec::new();
        self.release(false, &mut out);
        match &ev.kind {
            TermKind::Exit => self.exit(ev, &mut out),
            TermKind::Interrupt => {
                if let Some(sh) = self.shells.get_mut(&ev.pid) {
                    sh.editor.interrupt();
                    self.stats.abandoned += 1;
                }
            }
            TermKind::Secret(_) => {
                self.stats.secrets += 1;
            }
            TermKind::Output(data) => {
                if let Some(sh) = self.shells.get_mut(&ev.pid) {
                    sh.editor.completion(data);
                }
            }
            TermKind::Input(data) => {
                // Defence in depth: the kernel never sends these bytes, but if a record ever claimed
                // a canonical no-echo mode it is dropped here too.
                if crate::is_secret_input(ev.lflag) {
                    self.stats.secrets += 1;
                    return out;
                }
                if !self.shells.contains_key(&ev.pid) && !self.start_shell(ev, &mut out) {
                    return out;
                }
                let canonical = ev.lflag & ICANON != 0 && ev.lflag & ECHO != 0;
                let sh = self.shells.get_mut(&ev.pid).expect("just inserted");
                if ev.lost || ev.truncated {
                    sh.editor.mark_incomplete();
                    self.stats.incomplete += 1;
                }
                if !canonical {
                    sh.edits = true;
                } else if sh.edits {
                    return out; // input to `read` in a line-editing shell, not a command
                }
                for le in sh.editor.feed(data) {
                    match le {
                        LineEvent::Abandoned => self.stats.abandoned += 1,
                        LineEvent::Submitted { line, truncated } => {
                            self.command(ev, line, truncated, &mut out)
                        }
                    }
                }
            }
        }
        out
    }

    fn start_shell(&mut self, ev: &TermEvent, out: &mut Vec<AuditRecord>) -> bool {
        if self.shells.len() >= self.limits.max_shells {
            self.stats.dropped_shells += 1;
            return false;
        }
        let info = self.proc.info(ev.pid);
        let key = (ev.tty, info.sid);
        let sh = Shell {
            editor: LineEditor::new(),
            edits: false,
            session: key,
            user: self.proc.user(ev.pid, ev.uid),
            uid: ev.uid,
            comm: ev.comm.clone(),
            info,
        };
        if let Some(s) = self.sessions.get_mut(&key) {
            s.shells += 1;
        } else {
            let id = fnv(&[ev.tty as u64, sh.info.sid as u64, sh.info.sid_start]);
            let mut start = self.base("session_start", ev.ts, &sh, id, ev.tty);
            start.loginuid = ev.loginuid;
            start.pid = ev.pid;
            let (full, rt) = (sh.info.container_full_id.clone(), sh.info.container_runtime);
            self.sessions.insert(
                key,
                Session { id, shells: 1, commands: 0, bytes: 0, dropped: 0, start: start.clone() },
            );
            self.emit(start, &full, rt, out);
        }
        self.shells.insert(ev.pid, sh);
        true
    }

    fn command(&mut self, ev: &TermEvent, line: String, truncated: bool, out: &mut Vec<AuditRecord>) {
        if line.trim().is_empty() {
            return;
        }
        let Some(sh) = self.shells.get_mut(&ev.pid) else { return };
        // The cwd where the command was typed (a `cd` takes effect after this).
        let cwd = std::fs::read_link(format!("/proc/{}/cwd", ev.pid)).ok();
        if let Some(c) = cwd {
            sh.info.cwd = c.to_string_lossy().into_owned();
        }
        if line.trim() == "history -c" {
            sh.editor.clear_history();
        }
        let Some(sess) = self.sessions.get_mut(&sh.session) else { return };
        sess.bytes += line.len() as u64;
        if sess.bytes > self.limits.max_session_bytes {
            sess.dropped += 1;
            self.stats.dropped_commands += 1;
            return;
        }
        sess.commands += 1;
        self.stats.commands += 1;
        let id = sess.id;
        let sh = &self.shells[&ev.pid];
        let mut r = self.base("command", ev.ts, sh, id, ev.tty);
        r.command = Some(line);
        r.truncated = truncated;
        r.loginuid = ev.loginuid;
        r.pid = ev.pid;
        let (full, rt) = (sh.info.container_full_id.clone(), sh.info.container_runtime);
        self.emit(r, &full, rt, out);
    }

    fn exit(&mut self, ev: &TermEvent, out: &mut Vec<AuditRecord>) {
        let Some(sh) = self.shells.remove(&ev.pid) else { return };
        let Some(sess) = self.sessions.get_mut(&sh.session) else { return };
        sess.shells -= 1;
        if sess.shells > 0 {
            return;
        }
        let sess = self.sessions.remove(&sh.session).expect("present");
        let mut end = sess.start;
        end.kind = "session_end";
        end.time = self.time(ev.ts);
        end.time_ns = (ev.ts as i128 + self.wall_offset).max(0) as u64;
        end.commands = sess.commands;
        end.dropped = sess.dropped;
        end.pid = ev.pid;
        self.emit(end, &sh.info.container_full_id, sh.info.container_runtime, out);
    }

    /// Shells tracked now.
    pub fn shells(&self) -> usize {
        self.shells.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl ProcSource for Fake {
        fn info(&self, pid: u32) -> ProcInfo {
            let pod = |s: &str| if pid == 12 { s.to_owned() } else { String::new() };
            ProcInfo {
                cwd: "/root".into(),
                sid: pid,
                sid_start: 7,
                container_id: pod("0123456789ab"),
                k8s_pod_name: pod("web-1"),
                k8s_ns_name: pod("shop"),
                ..Default::default()
            }
        }
        fn user(&self, _pid: u32, uid: u32) -> String {
            format!("u{uid}")
        }
    }

    fn ev(pid: u32, lflag: u32, kind: TermKind) -> TermEvent {
        TermEvent {
            ts: 1,
            pid,
            tid: pid,
            ppid: 1,
            uid: 1000,
            loginuid: 1000,
            audit_session: 3,
            tty: 136 << 20 | 4,
            lflag,
            comm: "bash".into(),
            truncated: false,
            lost: false,
            kind,
        }
    }

    fn commands(recs: &[AuditRecord]) -> Vec<String> {
        recs.iter().filter_map(|r| r.command.clone()).collect()
    }

    #[test]
    fn editing_shell_start_commands_end() {
        let mut t = Tracker::new(Fake, Limits::default());
        let mut recs = Vec::new();
        for chunk in [&b"cd /t"[..], b"mp\r", b"echo x\x7fy\r"] {
            recs.extend(t.handle(&ev(10, 0, TermKind::Input(chunk.to_vec()))));
        }
        // `read -s`: the kernel sends only the length; `read x` (canonical, echo) is not a command
        recs.extend(t.handle(&ev(10, ICANON, TermKind::Secret(8))));
        recs.extend(t.handle(&ev(10, ICANON | ECHO, TermKind::Input(b"answer\n".to_vec()))));
        recs.extend(t.handle(&ev(10, 0, TermKind::Input(b"rm -rf /x".to_vec()))));
        recs.extend(t.handle(&ev(10, 0, TermKind::Interrupt)));
        recs.extend(t.handle(&ev(10, 0, TermKind::Input(b"ls\r".to_vec()))));
        recs.extend(t.handle(&ev(10, 0, TermKind::Exit)));
        assert_eq!(recs.first().unwrap().kind, "session_start");
        assert_eq!(commands(&recs), ["cd /tmp", "echo y", "ls"]);
        let end = recs.last().unwrap();
        assert_eq!((end.kind, end.commands, end.session_id), ("session_end", 3, recs[0].session_id));
        assert_eq!(recs[1].user, "u1000");
        assert_eq!(recs[1].tty, "pts/4");
        assert_eq!(t.stats.secrets, 1);
        assert_eq!(t.stats.abandoned, 1);
        assert_eq!(t.shells(), 0);
    }

    #[test]
    fn canonical_shell_lines_are_commands() {
        let mut t = Tracker::new(Fake, Limits::default());
        let recs = t.handle(&ev(11, ICANON | ECHO, TermKind::Input(b"export X=1\n".to_vec())));
        assert_eq!(commands(&recs), ["export X=1"]);
        // a forged secret-mode input record is still dropped
        let recs = t.handle(&ev(11, ICANON, TermKind::Input(b"hunter2\n".to_vec())));
        assert!(recs.is_empty());
    }

    #[test]
    fn session_byte_limit_drops_and_counts() {
        let mut t = Tracker::new(Fake, Limits { max_session_bytes: 10, max_shells: 1 });
        let recs = t.handle(&ev(12, 0, TermKind::Input(b"echo 1234\recho 5678\r".to_vec())));
        assert_eq!(commands(&recs), ["echo 1234"]);
        let c = recs.iter().find(|r| r.kind == "command").unwrap();
        assert_eq!(
            (c.container_id.as_str(), c.k8s_pod_name.as_str(), c.k8s_ns_name.as_str()),
            ("0123456789ab", "web-1", "shop")
        );
        assert_eq!(recs[0].k8s_pod_name, "web-1", "session_start carries the pod too");
        assert_eq!(t.stats.dropped_commands, 1);
        assert!(t.handle(&ev(13, 0, TermKind::Input(b"ls\r".to_vec()))).is_empty(), "max_shells");
        assert_eq!(t.stats.dropped_shells, 1);
    }
}

#[cfg(test)]
mod pod_tests {
    use super::*;
    use crate::pods::ContainerPods;
    use harrier_containers::{ContainerInfo, Lookup, MetadataSource, Runtime, RuntimeConfig};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;

    const FULL: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// A runtime whose lookups hang until the test releases them.
    struct Hanging {
        release: Arc<AtomicBool>,
        asked: Arc<AtomicU32>,
    }
    impl MetadataSource for Hanging {
        fn runtime(&self) -> Runtime {
            Runtime::Containerd
        }
        fn sockets(&self) -> Vec<PathBuf> {
            Vec::new()
        }
        fn probe(&mut self, _rt: &tokio::runtime::Runtime) -> bool {
            true
        }
        fn lookup(&mut self, _rt: &tokio::runtime::Runtime, full_id: &str) -> Lookup {
            self.asked.fetch_add(1, Ordering::SeqCst);
            while !self.release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut i = ContainerInfo::from_ids(full_id, Runtime::Containerd, None);
            i.pod_name = "web-1".into();
            i.pod_namespace = "shop".into();
            Lookup::Found(Box::new(i))
        }
    }

    struct InContainer(std::rc::Rc<HostProcs>);
    impl ProcSource for InContainer {
        fn info(&self, _pid: u32) -> ProcInfo {
            let i = ProcInfo {
                sid: 20,
                container_id: FULL[..12].into(),
                container_full_id: FULL.into(),
                container_runtime: Some(Runtime::Containerd),
                ..Default::default()
            };
            self.0.pod(FULL, i.container_runtime);
            i
        }
        fn user(&self, _pid: u32, uid: u32) -> String {
            uid.to_string()
        }
        fn pod(&self, full_id: &str, rt: Option<Runtime>) -> PodLookup {
            self.0.pod(full_id, rt)
        }
    }

    fn input(data: &[u8]) -> TermEvent {
        TermEvent {
            ts: 1,
            pid: 20,
            tid: 20,
            ppid: 1,
            uid: 0,
            loginuid: 0,
            audit_session: 1,
            tty: 136 << 20 | 2,
            lflag: 0,
            comm: "sh".into(),
            truncated: false,
            lost: false,
            kind: TermKind::Input(data.to_vec()),
        }
    }

    #[test]
    fn a_hanging_pod_lookup_does_not_hold_records_and_later_ones_get_the_pod() {
        let release = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(AtomicU32::new(0));
        let src = Hanging { release: release.clone(), asked: asked.clone() };
        let cfg = RuntimeConfig { log: false, ..Default::default() };
        let handle = harrier_containers::LookupService::start_with(&cfg, vec![Box::new(src)]).unwrap();
        // the lookup timeout is long: nothing may wait for it
        let pods = ContainerPods::with_handle(handle, Duration::from_secs(2));
        let mut t =
            Tracker::new(InContainer(std::rc::Rc::new(HostProcs::new(Some(pods)))), Limits::default());
        t.set_pod_hold(Duration::from_millis(50));
        let mut recs = t.handle(&input(b"cd /tmp\r"));
        // the record is held at most the hold, while the lookup still hangs
        while recs.len() < 2 {
            assert!(!release.load(Ordering::SeqCst));
            std::thread::sleep(Duration::from_millis(5));
            recs.extend(t.tick());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while asked.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the lookup was never asked");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1, "asked once per container");
        assert_eq!(recs[0].kind, "session_start");
        assert_eq!(recs[1].command.as_deref(), Some("cd /tmp"));
        assert_eq!((recs[1].container_id.as_str(), recs[1].k8s_pod_name.as_str()), (&FULL[..12], ""));
        // more commands while it hangs: out without waiting, still no pod
        recs = t.handle(&input(b"ls\r"));
        while recs.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
            recs.extend(t.tick());
        }
        assert_eq!(recs[0].command.as_deref(), Some("ls"));
        assert!(!release.load(Ordering::SeqCst));
        // the runtime answers: a later command of the same shell carries the pod
        release.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut r = t.handle(&input(b"pwd\r"));
            while r.is_empty() {
                std::thread::sleep(Duration::from_millis(5));
                r.extend(t.tick());
            }
            if r[0].k8s_pod_name == "web-1" {
                assert_eq!(r[0].k8s_ns_name, "shop");
                break;
            }
            assert!(Instant::now() < deadline, "the pod never arrived");
            std::thread::sleep(Duration::from_millis(20));
        }
        let end = {
            let mut e = TermEvent { kind: TermKind::Exit, ..input(b"") };
            e.ts = 2;
            t.handle(&e)
        };
        assert_eq!(end[0].kind, "session_end");
        assert_eq!(end[0].k8s_pod_name, "web-1", "session_end gets the pod once known");
    }

    #[test]
    fn a_record_waits_briefly_for_a_pending_lookup_in_order() {
        let release = Arc::new(AtomicBool::new(true));
        let asked = Arc::new(AtomicU32::new(0));
        let src = Hanging { release, asked };
        let cfg = RuntimeConfig { log: false, ..Default::default() };
        let handle = harrier_containers::LookupService::start_with(&cfg, vec![Box::new(src)]).unwrap();
        let pods = ContainerPods::with_handle(handle, Duration::from_secs(2));
        let mut t =
            Tracker::new(InContainer(std::rc::Rc::new(HostProcs::new(Some(pods)))), Limits::default());
        t.set_pod_hold(Duration::from_secs(30));
        let mut recs = t.handle(&input(b"cd /tmp\recho a\r"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while recs.len() < 3 {
            assert!(Instant::now() < deadline, "held past the answer");
            std::thread::sleep(Duration::from_millis(5));
            recs.extend(t.tick());
        }
        let kinds: Vec<_> =
            recs.iter().map(|r| (r.kind, r.command.clone(), r.k8s_pod_name.clone())).collect();
        assert_eq!(
            kinds,
            [
                ("session_start", None, "web-1".to_string()),
                ("command", Some("cd /tmp".to_string()), "web-1".to_string()),
                ("command", Some("echo a".to_string()), "web-1".to_string()),
            ]
        );
        assert!(t.flush().is_empty());
    }

    /// What a scripted runtime does for one lookup.
    enum Step {
        /// The runtime answers and does not know the container ("no runtime described it").
        NotFound,
        /// The runtime cannot be reached ("no runtime answered").
        Unreachable,
        /// The lookup hangs until the flag is set, then the runtime does not know the container.
        HangThenNotFound(Arc<AtomicBool>),
        /// The runtime describes the container as pod `web-1` in `shop`.
        Found,
    }

    /// A runtime that plays `script`, one step per lookup, and notes when each lookup started.
    /// Its health probe always fails, so the lookup service never asks again by itself: only the
    /// session's back-off can.
    struct Scripted {
        script: Arc<std::sync::Mutex<VecDeque<Step>>>,
        calls: Arc<std::sync::Mutex<Vec<Instant>>>,
    }
    impl MetadataSource for Scripted {
        fn runtime(&self) -> Runtime {
            Runtime::Containerd
        }
        fn sockets(&self) -> Vec<PathBuf> {
            Vec::new()
        }
        fn probe(&mut self, _rt: &tokio::runtime::Runtime) -> bool {
            false
        }
        fn lookup(&mut self, _rt: &tokio::runtime::Runtime, full_id: &str) -> Lookup {
            self.calls.lock().unwrap().push(Instant::now());
            let step = self.script.lock().unwrap().pop_front().expect("asked more often than scripted");
            match step {
                Step::NotFound => Lookup::NotFound,
                Step::Unreachable => Lookup::Unreachable("connection refused".into()),
                Step::HangThenNotFound(release) => {
                    while !release.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Lookup::NotFound
                }
                Step::Found => {
                    let mut i = ContainerInfo::from_ids(full_id, Runtime::Containerd, None);
                    i.pod_name = "web-1".into();
                    i.pod_namespace = "shop".into();
                    Lookup::Found(Box::new(i))
                }
            }
        }
    }

    struct Retry {
        t: Tracker<InContainer>,
        procs: std::rc::Rc<HostProcs>,
        calls: Arc<std::sync::Mutex<Vec<Instant>>>,
        stats: Arc<harrier_containers::service::LookupStats>,
    }

    /// A tracker over a scripted runtime: lookups time out after `wait`, the first back-off is
    /// `backoff`, records wait at most 20 ms for a pending lookup.
    fn scripted(script: Vec<Step>, wait: Duration, backoff: Duration) -> Retry {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let src = Scripted { script: Arc::new(std::sync::Mutex::new(script.into())), calls: calls.clone() };
        let cfg = RuntimeConfig { log: false, ..Default::default() };
        let handle = harrier_containers::LookupService::start_with(&cfg, vec![Box::new(src)]).unwrap();
        let stats = handle.stats.clone();
        let pods = ContainerPods::with_handle(handle, wait).with_backoff(backoff);
        let procs = std::rc::Rc::new(HostProcs::new(Some(pods)));
        let mut t = Tracker::new(InContainer(procs.clone()), Limits::default());
        t.set_pod_hold(Duration::from_millis(20));
        Retry { t, procs, calls, stats }
    }

    impl Retry {
        /// Type `line` and Enter; the records it gives (after any hold).
        fn run(&mut self, line: &str) -> Vec<AuditRecord> {
            let mut recs = self.t.handle(&input(format!("{line}\r").as_bytes()));
            let deadline = Instant::now() + Duration::from_secs(10);
            while !recs.iter().any(|r| r.kind == "command") {
                assert!(Instant::now() < deadline, "no record for {line:?}");
                std::thread::sleep(Duration::from_millis(2));
                recs.extend(self.t.tick());
            }
            recs
        }

        fn calls(&self) -> Vec<Instant> {
            self.calls.lock().unwrap().clone()
        }

        fn timeouts(&self) -> u64 {
            self.procs.pods.as_ref().unwrap().borrow().timeouts
        }

        /// Type commands until one carries the pod; every earlier command has none.
        fn until_pod(&mut self) -> usize {
            let deadline = Instant::now() + Duration::from_secs(20);
            for n in 0.. {
                let recs = self.run(&format!("echo {n}"));
                let c = recs.iter().find(|r| r.kind == "command").unwrap();
                assert_eq!(c.command.as_deref(), Some(format!("echo {n}").as_str()));
                assert_eq!(c.container_id, &FULL[..12]);
                if !c.k8s_pod_name.is_empty() {
                    assert_eq!((c.k8s_pod_name.as_str(), c.k8s_ns_name.as_str()), ("web-1", "shop"));
                    return n;
                }
                assert!(c.k8s_ns_name.is_empty());
                assert!(Instant::now() < deadline, "the pod never arrived");
                std::thread::sleep(Duration::from_millis(10));
            }
            unreachable!()
        }

        /// The later records (a command and the session's end) carry the pod too.
        fn later_records_carry_the_pod(&mut self) {
            let recs = self.run("pwd");
            let c = recs.iter().find(|r| r.kind == "command").unwrap();
            assert_eq!((c.k8s_pod_name.as_str(), c.k8s_ns_name.as_str()), ("web-1", "shop"));
            let mut e = TermEvent { kind: TermKind::Exit, ..input(b"") };
            e.ts = 2;
            let end = self.t.handle(&e);
            assert_eq!(end[0].kind, "session_end");
            assert_eq!(end[0].k8s_pod_name, "web-1");
        }
    }

    fn load(c: &std::sync::atomic::AtomicU64) -> u64 {
        c.load(Ordering::SeqCst)
    }

    #[test]
    fn a_lookup_no_runtime_described_is_retried_after_the_backoff() {
        let backoff = Duration::from_millis(300);
        let mut r = scripted(vec![Step::NotFound, Step::Found], Duration::from_secs(2), backoff);
        let first = r.run("cd /tmp");
        assert_eq!(first[0].kind, "session_start");
        assert!(first.iter().all(|x| x.k8s_pod_name.is_empty()));
        let without = r.until_pod();
        assert!(without >= 1, "the first answer said it knows no such container");
        let calls = r.calls();
        // asked twice in all: once at first sight, once after the back-off (not on every record
        // typed in between)
        assert_eq!(calls.len(), 2, "asked {} times", calls.len());
        assert!(calls[1] - calls[0] >= backoff, "asked again {:?} after the first", calls[1] - calls[0]);
        assert_eq!((load(&r.stats.not_found), load(&r.stats.found)), (1, 1));
        assert_eq!(r.timeouts(), 0);
        r.later_records_carry_the_pod();
        assert_eq!(r.calls().len(), 2, "a known pod is not asked again");
    }

    #[test]
    fn a_lookup_no_runtime_answered_is_retried_after_the_backoff() {
        let backoff = Duration::from_millis(300);
        let mut r = scripted(vec![Step::Unreachable, Step::Found], Duration::from_secs(2), backoff);
        r.run("cd /tmp");
        let without = r.until_pod();
        assert!(without >= 1, "the runtime could not be reached the first time");
        let calls = r.calls();
        assert_eq!(calls.len(), 2, "asked {} times", calls.len());
        assert!(calls[1] - calls[0] >= backoff, "asked again {:?} after the first", calls[1] - calls[0]);
        assert_eq!((load(&r.stats.unreachable), load(&r.stats.found)), (1, 1));
        r.later_records_carry_the_pod();
        assert_eq!(r.calls().len(), 2);
    }

    #[test]
    fn a_lookup_that_times_out_is_retried_after_the_backoff() {
        let (wait, backoff) = (Duration::from_millis(100), Duration::from_millis(300));
        let release = Arc::new(AtomicBool::new(false));
        let mut r = scripted(vec![Step::HangThenNotFound(release.clone()), Step::Found], wait, backoff);
        let asked = Instant::now();
        r.run("cd /tmp");
        // commands while the first lookup hangs, until it counts as timed out
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut n = 0;
        while r.timeouts() == 0 {
            assert!(Instant::now() < deadline, "the hanging lookup never timed out");
            let recs = r.run(&format!("true {n}"));
            assert!(recs.iter().all(|x| x.k8s_pod_name.is_empty()));
            n += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(r.calls().len(), 1);
        // the late "not found" answer arrives; the lookup is asked again after the back-off
        release.store(true, Ordering::SeqCst);
        r.until_pod();
        let calls = r.calls();
        assert_eq!(calls.len(), 2, "asked {} times", calls.len());
        assert!(calls[1] - asked >= wait + backoff, "asked again {:?} after the first", calls[1] - asked);
        assert_eq!(r.timeouts(), 1);
        r.later_records_carry_the_pod();
    }
}
