//! Terminal records to audit records: one line editor per shell process, sessions keyed by
//! (terminal, session leader), start/end records, per-session limits.

use std::collections::HashMap;

use crate::capture::{tty_name, TermEvent, TermKind};
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
        let mut i = Procfs.info(pid);
        if let (false, Some(pods)) = (i.container_full_id.is_empty(), &self.pods) {
            let pod = pods.borrow_mut().pod(&i.container_full_id, i.container_runtime);
            i.k8s_pod_name = pod.name;
            i.k8s_ns_name = pod.namespace;
        }
        i
    }

    fn user(&self, pid: u32, uid: u32) -> String {
        Procfs.user(pid, uid)
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

/// Turns [`TermEvent`]s into [`AuditRecord`]s.
pub struct Tracker<P: ProcSource = Procfs> {
    proc: P,
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

    /// Handle one kernel record; returns the audit records it completes, in order.
    pub fn handle(&mut self, ev: &TermEvent) -> Vec<AuditRecord> {
        let mut out = Vec::new();
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
            out.push(start.clone());
            self.sessions.insert(key, Session { id, shells: 1, commands: 0, bytes: 0, dropped: 0, start });
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
        out.push(r);
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
        out.push(end);
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
