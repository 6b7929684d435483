//! The state tracker: applies events to the thread, fd and user tables.
//!
//! Events are exit-side (see `harrier_event::Normalizer`). The tracker is called once per event,
//! *before* the rules look at it, so a rule on `open` sees the new fd and a rule on `execve` sees
//! the new program. Two removals are deferred to the next event so that rules still see what is
//! going away: the fd of a `close`, and the thread of a `procexit`.

use crate::container::container_from_cgroups;
use crate::fd::{FdInfo, FdKind, IpTuple, L4Proto};
use crate::thread::{ThreadInfo, ThreadTable};
use harrier_event::consts::{af, open_flags, AT_FDCWD};
use harrier_event::{Event, SockAddr, SockTuple};
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Clone flags (`PPM_CL_*`) the tracker needs.
pub mod clone_flags {
    pub const CLONE_FILES: u32 = 1 << 0;
    pub const CLONE_FS: u32 = 1 << 1;
    pub const CLONE_PARENT: u32 = 1 << 8;
    pub const CLONE_THREAD: u32 = 1 << 13;
    pub const CLONE_VFORK: u32 = 1 << 27;
}

/// `flags` parameter of execve exit events (`PPM_EXE_*`).
pub mod exe_flags {
    pub const WRITABLE: u32 = 1 << 0;
    pub const UPPER_LAYER: u32 = 1 << 1;
    pub const FROM_MEMFD: u32 = 1 << 2;
    pub const LOWER_LAYER: u32 = 1 << 3;
}

const FCNTL_F_DUPFD: u64 = 1;
const FCNTL_F_DUPFD_CLOEXEC: u64 = 26;

/// A user of the machine (from the capture's user list or `/etc/passwd`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: String,
    pub shell: String,
}

pub use harrier_containers::ContainerInfo;
use harrier_containers::LookupHandle;

/// Names of the events [`State::apply`] acts on (every arm of its dispatch).
pub const STATE_EVENTS: &[&str] = &[
    "accept",
    "accept4",
    "bind",
    "bpf",
    "capset",
    "chdir",
    "clone",
    "clone3",
    "close",
    "connect",
    "container",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "fchdir",
    "fcntl",
    "fork",
    "groupadded",
    "inotify_init",
    "inotify_init1",
    "io_uring_setup",
    "memfd_create",
    "open",
    "open_by_handle_at",
    "openat",
    "openat2",
    "pidfd_open",
    "pipe",
    "pipe2",
    "procexit",
    "recvfrom",
    "recvmsg",
    "sendmsg",
    "sendto",
    "setgid",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setsid",
    "setuid",
    "signalfd",
    "signalfd4",
    "socket",
    "socketpair",
    "timerfd_create",
    "useradded",
    "userfaultfd",
    "vfork",
];

/// A flag per event id, computed once from the event names (one table lookup per event instead
/// of name matching).
fn id_flag(cell: &'static std::sync::OnceLock<Vec<bool>>, id: u16, pred: fn(&str) -> bool) -> bool {
    let t = cell.get_or_init(|| {
        let mut t = vec![false; harrier_event::EVENT_MAX as usize];
        for info in harrier_event::all_events() {
            if let Some(slot) = t.get_mut(info.id as usize) {
                *slot = pred(info.name);
            }
        }
        t
    });
    t.get(id as usize).copied().unwrap_or(false)
}

/// Whether events of this id change the tables ([`State::apply`] needs no more than the thread
/// id of the others: it may be given them as recorded, not normalised).
pub fn changes_state(id: u16) -> bool {
    static TABLE: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    id_flag(&TABLE, id, |n| STATE_EVENTS.contains(&n))
}

/// Whether events of this id may put a thread in a new container (clone and exec families).
fn is_clone_or_exec(id: u16) -> bool {
    static TABLE: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    id_flag(&TABLE, id, |n| matches!(n, "clone" | "clone3" | "fork" | "vfork" | "execve" | "execveat"))
}

/// Counters of what the tracker could not do (never silent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub events: u64,
    /// Events whose thread was unknown (a placeholder entry was created).
    pub unknown_threads: u64,
    /// fds referenced but not in the table.
    pub unknown_fds: u64,
    /// Events with a missing or malformed parameter the tracker needed.
    pub malformed: u64,
    /// Threads forgotten because they no longer exist on the host (live capture; see
    /// [`State::purge_exited_threads`]).
    pub purged_threads: u64,
}

/// All the state.
#[derive(Debug, Default)]
pub struct State {
    pub threads: ThreadTable,
    pub users: FxHashMap<u32, User>,
    pub groups: FxHashMap<u32, String>,
    pub containers: FxHashMap<String, ContainerInfo>,
    pub hostname: String,
    pub boot_ts: u64,
    /// First event timestamp seen (for `evt.reltime`).
    pub first_ts: u64,
    pub stats: TrackerStats,
    /// Removal deferred to the next event: (process key, fd).
    pending_close: Option<(i64, i64)>,
    /// Thread exit deferred to the next event: (tid, reaper).
    pending_exit: Option<(i64, i64)>,
    /// A successful set*uid/set*gid deferred to the next event: (tid, uid, gid). Rules see the
    /// call with the caller's credentials (as Falco's rules see the enter event).
    pending_creds: Option<(i64, Option<u32>, Option<u32>)>,
    /// Compatibility with Debian's sysdig 0.29 (`sysdig -r FILE FILTER`), used only by Harrier's
    /// selection mode (`harrier replay FILE --filter EXPR`), never for rules. Where sysdig 0.29 and
    /// current libsinsp differ, rules follow current Falco; with this switch the tracker and the field
    /// extractor reproduce sysdig 0.29 instead:
    /// * the fd of an exit event is the fd of the thread's last enter event (sysdig 0.29's exit
    ///   events carry no fd), so an exit without its enter event uses a stale fd (0 for a new thread);
    ///   an fd the tables do not know reads as an unknown fd with an empty name (`fd.typechar=o`,
    ///   `fd.name=""`, `fd.directory=/`) instead of no fd at all;
    /// * `mmap`/`mmap2` have no fd fields (sysdig 0.29's event table did not mark them as using one);
    /// * an IP socket that is neither connected nor bound has no addresses, ports or `fd.l4proto`, and
    ///   reads as `fd.is_server=true`;
    /// * a thread (CLONE_THREAD) created by a clone seen from the caller's side has the calling thread
    ///   as its parent thread (`proc.pname`, `proc.pcmdline`, `proc.pexe` read that thread), while
    ///   `proc.ppid` and `proc.aname`/`proc.apid` still follow the process tree.
    pub sysdig029: bool,
    /// Runtime metadata lookups (live capture): containers first seen in a cgroup path get a
    /// pending record in [`State::containers`] and a lookup request; answers replace the record.
    pub lookup: Option<LookupHandle>,
    /// The thread whose container each pending lookup is for (short id → tid).
    lookup_tid: FxHashMap<String, i64>,
    /// Containers whose lookup ended since [`State::take_started_containers`] was last called:
    /// (short id, a thread in it).
    started: Vec<(String, i64)>,
    /// When [`State::purge_exited_threads`] last looked at /proc.
    last_thread_purge: Option<std::time::Instant>,
}

/// How often live capture checks its thread table against /proc.
pub const THREAD_PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

fn ipv4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn ipv6(a: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

fn fmt_endpoint(out: &mut String, ip: IpAddr, port: u16) {
    use std::fmt::Write;
    match ip {
        IpAddr::V4(v4) => {
            let _ = write!(out, "{v4}:{port}");
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}:{port}");
        }
    }
}

/// Falco's socket fd name: `client_ip:client_port->server_ip:server_port`.
pub fn tuple_name(t: &IpTuple) -> String {
    let mut s = String::with_capacity(48);
    fmt_endpoint(&mut s, t.sip, t.sport);
    s.push_str("->");
    fmt_endpoint(&mut s, t.dip, t.dport);
    s
}

/// Join `path` onto `base` and normalise `.`/`..`/duplicate slashes, as the kernel would resolve
/// it lexically. An absolute `path` ignores `base`.
pub fn resolve_path(base: &str, path: &str) -> String {
    let absolute = path.starts_with('/');
    let base = if absolute { "" } else { base.trim_end_matches('/') };
    // A base in resolved form (the cwd, a directory fd's name: absolute, no empty, "." or ".."
    // component; none for an absolute path) is copied whole instead of component by component.
    let base_clean = absolute || base.strip_prefix('/').is_some_and(|b| clean_components(b.as_bytes()));
    // One allocation per call: this runs for every open by a relative path.
    let mut out = String::with_capacity(base.len() + path.len() + 1);
    let mut rest = base;
    if base_clean {
        out.push_str(base);
        rest = "";
        // Fast path (most opens): a clean name is appended as it is, without splitting it.
        let rel = path.strip_prefix('/').unwrap_or(path).trim_end_matches('/');
        if clean_components(rel.as_bytes()) {
            out.push('/');
            out.push_str(rel);
            return out;
        }
    }
    // Components are written straight into the result ("/c" each); ".." cuts the last one off.
    for comp in rest.split('/').chain(path.split('/')) {
        match comp {
            "" | "." => {}
            ".." => {
                let cut = out.rfind('/').unwrap_or(0);
                out.truncate(cut);
            }
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether every `/`-separated component of `p` is a name: not empty, `.` or `..` (an empty `p`
/// is not clean).
fn clean_components(p: &[u8]) -> bool {
    let mut start = 0;
    for i in 0..=p.len() {
        if i == p.len() || p[i] == b'/' {
            let c = &p[start..i];
            if c.is_empty() || c == b"." || c == b".." {
                return false;
            }
            start = i + 1;
        }
    }
    true
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

fn socket_l4(sock_type: u32, proto: u32) -> L4Proto {
    // Linux SOCK_* (low 4 bits; the rest are SOCK_NONBLOCK/SOCK_CLOEXEC) and IPPROTO_*.
    match (sock_type & 0xf, proto) {
        (_, 1) | (_, 58) => L4Proto::Icmp,
        (1, _) => L4Proto::Tcp,
        (2, _) => L4Proto::Udp,
        (3, _) => L4Proto::Raw,
        _ => L4Proto::Unknown,
    }
}

/// Parameters of an event, looked up by name once per event type.
struct P<'a, 'e> {
    ev: &'a Event<'e>,
}

impl<'e> P<'_, 'e> {
    fn idx(&self, name: &str) -> Option<usize> {
        self.ev.param_index(name)
    }
    fn i64(&self, name: &str) -> Option<i64> {
        self.ev.param_i64(self.idx(name)?)
    }
    fn u64(&self, name: &str) -> Option<u64> {
        self.ev.param_u64(self.idx(name)?)
    }
    fn u32(&self, name: &str) -> Option<u32> {
        self.ev.param_u32(self.idx(name)?)
    }
    fn str(&self, name: &str) -> Option<&'e str> {
        self.ev.param_str(self.idx(name)?)
    }
    fn bytes(&self, name: &str) -> Option<&'e [u8]> {
        self.ev.param(self.idx(name)?)
    }
    fn tuple(&self, name: &str) -> Option<SockTuple<'e>> {
        self.ev.param_socktuple(self.idx(name)?)
    }
    fn addr(&self, name: &str) -> Option<SockAddr<'e>> {
        self.ev.param_sockaddr(self.idx(name)?)
    }
    /// The syscall's return value: the `res` parameter, or the first parameter of fd-creating
    /// events whose result is the new fd (`fd` in open, socket, accept…).
    fn res(&self) -> Option<i64> {
        self.i64("res").or_else(|| self.i64("fd"))
    }
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    /// The thread of `tid`, created as a placeholder when unknown (counted).
    fn thread_mut(&mut self, tid: i64) -> &mut ThreadInfo {
        if self.threads.get(tid).is_none() {
            self.stats.unknown_threads += 1;
            self.threads.insert(ThreadInfo::unknown(tid));
            if self.threads.get(tid).is_none() {
                // The table is full: make room (counted as an eviction).
                self.threads.force_insert(ThreadInfo::unknown(tid));
            }
        }
        self.threads.get_mut(tid).expect("force_insert always inserts")
    }

    /// The process (main thread) that holds `tid`'s fds and cwd.
    pub fn process_mut(&mut self, tid: i64) -> Option<&mut ThreadInfo> {
        let key = self.threads.process_key(tid)?;
        self.threads.get_mut(key)
    }

    /// The cwd of `tid`'s process.
    pub fn cwd(&self, tid: i64) -> &str {
        self.threads.process_of(tid).map(|p| p.cwd.as_str()).unwrap_or("/")
    }

    /// Look up an fd of `tid`'s process.
    pub fn fd(&self, tid: i64, fd: i64) -> Option<&FdInfo> {
        self.threads.process_of(tid)?.fds.get(fd)
    }

    /// The user record for a uid.
    pub fn user(&self, uid: u32) -> Option<&User> {
        self.users.get(&uid)
    }

    /// The container of a thread, if it runs in one and its metadata is known.
    pub fn container_of(&self, t: &ThreadInfo) -> Option<&ContainerInfo> {
        if t.container_id.is_empty() {
            return None;
        }
        self.containers.get(&t.container_id)
    }

    /// Whether the container of a thread is still being looked up.
    pub fn container_pending(&self, t: &ThreadInfo) -> bool {
        self.container_of(t).is_some_and(|c| c.pending)
    }

    /// Look container metadata up in the runtimes from now on (live capture). Containers of the
    /// threads already known are requested at once.
    pub fn enable_runtime_lookup(&mut self, handle: LookupHandle) {
        self.lookup = Some(handle);
        self.note_all_containers();
    }

    /// Ask about every known thread's container not asked about yet (after a /proc seed).
    pub fn note_all_containers(&mut self) {
        let tids: Vec<i64> = self.threads.iter().map(|t| t.tid).collect();
        for tid in tids {
            self.note_container(tid);
        }
    }

    /// A thread's container, if new, gets a pending record and a lookup request.
    fn note_container(&mut self, tid: i64) {
        let Some(t) = self.threads.get(tid) else { return };
        if t.container_id.is_empty() || self.containers.contains_key(&t.container_id) {
            return;
        }
        let Some(c) = container_from_cgroups(t.cgroups.iter().map(String::as_str)) else { return };
        let Some(lookup) = &self.lookup else { return };
        if lookup.request(&c.full_id, Some(c.runtime)) {
            let mut info = ContainerInfo::from_ids(&c.full_id, c.runtime, c.pod_uid.as_deref());
            info.pending = true;
            self.lookup_tid.insert(info.id.clone(), tid);
            self.containers.insert(info.id.clone(), info);
        }
        // A full queue: no record, so the next clone/exec in this container asks again.
    }

    /// Apply the lookup answers that arrived.
    pub fn take_answers(&mut self) {
        let Some(lookup) = &self.lookup else { return };
        let containers = &mut self.containers;
        let (lookup_tid, started) = (&mut self.lookup_tid, &mut self.started);
        lookup.drain(|a| {
            let short: String = a.full_id.chars().take(12).collect();
            let prev = containers.remove(&short);
            let info = match (a.info, prev) {
                (Some(mut c), prev) => {
                    if c.pod_uid.is_empty() {
                        c.pod_uid = prev.map(|p| p.pod_uid).unwrap_or_default();
                    }
                    c.pending = false;
                    c
                }
                (None, Some(mut p)) => {
                    p.pending = false;
                    p
                }
                (None, None) => return,
            };
            if let Some(tid) = lookup_tid.remove(&short) {
                started.push((short.clone(), tid));
            }
            containers.insert(short, info);
        });
    }

    /// Containers whose metadata lookup ended (found, or given up: ids only) since the last call,
    /// each with the thread that made Harrier notice it: the moment Falco's `container` event
    /// reports a new container.
    pub fn take_started_containers(&mut self) -> Vec<(String, i64)> {
        std::mem::take(&mut self.started)
    }

    /// Whether [`State::take_started_containers`] has something.
    pub fn has_started_containers(&self) -> bool {
        !self.started.is_empty()
    }

    /// Forget containers no thread runs in any more (live capture keeps the table bounded).
    pub fn purge_containers(&mut self) {
        if self.containers.is_empty() {
            return;
        }
        let live: rustc_hash::FxHashSet<&str> =
            self.threads.iter().map(|t| t.container_id.as_str()).collect();
        let gone: Vec<String> =
            self.containers.keys().filter(|k| !live.contains(k.as_str())).cloned().collect();
        for k in gone {
            self.containers.remove(&k);
        }
    }

    /// Live capture: forget threads that no longer exist on the host, at most once every
    /// [`THREAD_PURGE_INTERVAL`]. A thread whose exit the tables never applied would otherwise
    /// stay for good: the parent's side of a `clone` reported after the child already ran and
    /// exited (a short-lived child on another CPU) creates the child again, events read after
    /// their thread's exit create a placeholder, and an exit lost in a kernel drop is never seen.
    /// Under process churn that is steady memory growth (issue 22's soak). Returns how many went.
    pub fn purge_exited_threads(&mut self) -> usize {
        let now = std::time::Instant::now();
        if self.last_thread_purge.is_some_and(|t| now.duration_since(t) < THREAD_PURGE_INTERVAL) {
            return 0;
        }
        self.last_thread_purge = Some(now);
        self.purge_threads_in(std::path::Path::new("/proc"))
    }

    /// [`State::purge_exited_threads`] against the procfs at `proc_root`, now. Without a readable
    /// procfs (`<proc_root>/self` missing) nothing is removed.
    pub fn purge_threads_in(&mut self, proc_root: &std::path::Path) -> usize {
        if !proc_root.join("self").exists() {
            return 0;
        }
        // /proc/<tid> answers for every thread id, listed or not.
        let gone: Vec<i64> = self
            .threads
            .iter()
            .filter(|t| t.tid > 0 && !proc_root.join(t.tid.to_string()).exists())
            .map(|t| t.tid)
            .collect();
        for &tid in &gone {
            self.threads.remove_exited(tid, None);
        }
        self.stats.purged_threads += gone.len() as u64;
        gone.len()
    }

    fn set_container_from_cgroups(t: &mut ThreadInfo) {
        t.container_id = container_from_cgroups(t.cgroups.iter().map(String::as_str))
            .map(|c| c.short_id().to_string())
            .unwrap_or_default();
    }

    /// Resolve a path argument of `tid` relative to `dirfd` (AT_FDCWD = the cwd).
    pub fn resolve_at(&self, tid: i64, dirfd: i64, path: &str) -> String {
        if path.starts_with('/') {
            return resolve_path("/", path);
        }
        let base = if dirfd == AT_FDCWD {
            self.cwd(tid)
        } else {
            match self.fd(tid, dirfd) {
                Some(f) => f.name.as_str(),
                None => return path.to_string(),
            }
        };
        resolve_path(base, path)
    }

    fn flush_deferred(&mut self) {
        if let Some((tid, uid, gid)) = self.pending_creds.take() {
            self.set_creds(tid, uid, gid);
        }
        if let Some((pkey, fd)) = self.pending_close.take() {
            if let Some(p) = self.threads.get_mut(pkey) {
                p.fds.remove(fd);
            }
        }
        if let Some((tid, reaper)) = self.pending_exit.take() {
            self.threads.remove_exited(tid, Some(reaper));
        }
    }

    fn set_creds(&mut self, tid: i64, uid: Option<u32>, gid: Option<u32>) {
        let Some(t) = self.threads.get_mut(tid) else { return };
        if let Some(u) = uid {
            t.uid = u;
        }
        if let Some(g) = gid {
            t.gid = g;
        }
    }

    /// A successful credential change: at once in sysdig 0.29 mode (its exit event shows the new
    /// ids), else after this event's rules (they judge the caller).
    fn change_creds(&mut self, tid: i64, uid: Option<u32>, gid: Option<u32>) {
        self.thread_mut(tid);
        if self.sysdig029 {
            self.set_creds(tid, uid, gid);
        } else {
            self.pending_creds = Some((tid, uid, gid));
        }
    }

    /// Apply one event. Call before evaluating rules on it.
    pub fn apply(&mut self, ev: &Event<'_>) {
        if self.lookup.is_some() {
            self.take_answers();
        }
        self.apply_event(ev);
        if self.lookup.is_some() && is_clone_or_exec(ev.info().id) {
            self.note_container(ev.tid() as i64);
        }
    }

    fn apply_event(&mut self, ev: &Event<'_>) {
        self.flush_deferred();
        self.stats.events += 1;
        if self.first_ts == 0 {
            self.first_ts = ev.ts();
        }
        let info = ev.info();
        let tid = ev.tid() as i64;
        if info.dir == harrier_event::Direction::Enter && info.newest_exit.is_some() {
            // Enter events (kept only for sysdig-compatible filtering) change nothing but the
            // thread's last enter fd: their parameters arrive again, merged, with the exit event.
            if info.is_syscall() {
                let fd = if info.has_flag(harrier_event::ef::USES_FD) {
                    harrier_event::fd_param_index(info.id).and_then(|i| ev.param_i64(i)).unwrap_or(-1)
                } else {
                    -1
                };
                match self.threads.get_mut(tid) {
                    Some(t) => t.last_enter_fd = fd,
                    None => self.thread_mut(tid).last_enter_fd = fd,
                }
            }
            return;
        }
        if !changes_state(info.id) {
            // Most events (reads, writes, polls…) only tell us the thread exists.
            if info.is_syscall() && self.threads.get(tid).is_none() {
                self.thread_mut(tid);
            }
            return;
        }
        let p = P { ev };
        match info.name {
            "clone" | "clone3" | "fork" | "vfork" => self.on_clone(tid, &p),
            "execve" | "execveat" => self.on_execve(tid, &p),
            "procexit" => {
                let reaper = p.i64("reaper_tid").filter(|r| *r > 0).unwrap_or(1);
                self.pending_exit = Some((tid, reaper));
            }
            "open" | "openat" | "openat2" | "creat" | "open_by_handle_at" => self.on_open(tid, &p),
            "socket" => self.on_socket(tid, &p),
            "connect" => self.on_connect(tid, &p),
            "accept" | "accept4" => self.on_accept(tid, &p),
            "bind" => self.on_bind(tid, &p),
            "sendto" | "sendmsg" | "recvfrom" | "recvmsg" => self.on_data(tid, &p),
            "close" => {
                if let (Some(fd), Some(res)) = (p.i64("fd"), p.res()) {
                    if res >= 0 {
                        if let Some(key) = self.threads.process_key(tid) {
                            self.pending_close = Some((key, fd));
                        }
                    }
                }
            }
            "dup" | "dup2" | "dup3" => {
                if let (Some(old), Some(new)) = (p.i64("oldfd"), p.res()) {
                    self.dup_fd(tid, old, new, info.name == "dup3" && p.u32("flags").unwrap_or(0) != 0);
                }
            }
            "fcntl" => {
                let cmd = p.u64("cmd").unwrap_or(0);
                if cmd == FCNTL_F_DUPFD || cmd == FCNTL_F_DUPFD_CLOEXEC {
                    if let (Some(old), Some(new)) = (p.i64("fd"), p.res()) {
                        self.dup_fd(tid, old, new, cmd == FCNTL_F_DUPFD_CLOEXEC);
                    }
                }
            }
            "pipe" | "pipe2" => {
                if p.res().unwrap_or(-1) >= 0 {
                    let ino = p.u64("ino").unwrap_or(0);
                    for name in ["fd1", "fd2"] {
                        if let Some(fd) = p.i64(name) {
                            let f = FdInfo { kind: FdKind::Fifo, ino, ..Default::default() };
                            self.add_fd(tid, fd, f);
                        }
                    }
                }
            }
            "socketpair" => {
                if p.res().unwrap_or(-1) >= 0 {
                    for name in ["fd1", "fd2"] {
                        if let Some(fd) = p.i64(name) {
                            self.add_fd(tid, fd, FdInfo { kind: FdKind::UnixSock, ..Default::default() });
                        }
                    }
                }
            }
            "eventfd" | "eventfd2" => self.simple_fd(tid, &p, FdKind::Event, ""),
            "signalfd" | "signalfd4" => self.simple_fd(tid, &p, FdKind::SignalFd, ""),
            "timerfd_create" => self.simple_fd(tid, &p, FdKind::TimerFd, ""),
            "inotify_init" | "inotify_init1" => self.simple_fd(tid, &p, FdKind::Inotify, ""),
            "epoll_create" | "epoll_create1" => self.simple_fd(tid, &p, FdKind::EventPoll, ""),
            "userfaultfd" => self.simple_fd(tid, &p, FdKind::UserFaultFd, ""),
            "io_uring_setup" => self.simple_fd(tid, &p, FdKind::IoUring, ""),
            "pidfd_open" => self.simple_fd(tid, &p, FdKind::PidFd, ""),
            "bpf" => {
                // Only commands that return an fd create one (program/map loads).
                self.simple_fd(tid, &p, FdKind::Bpf, "")
            }
            "memfd_create" => {
                let name = format!("memfd:{}", p.str("name").unwrap_or(""));
                self.simple_fd(tid, &p, FdKind::Memfd, &name)
            }
            "chdir" => {
                if p.res() == Some(0) {
                    if let Some(path) = p.str("path") {
                        let new = self.resolve_at(tid, AT_FDCWD, path);
                        if let Some(proc_) = self.process_mut(tid) {
                            proc_.cwd = new;
                        }
                    }
                }
            }
            "fchdir" => {
                if p.res() == Some(0) {
                    if let Some(dir) = p.i64("fd").and_then(|fd| self.fd(tid, fd)).map(|f| f.name.clone()) {
                        if let Some(proc_) = self.process_mut(tid) {
                            proc_.cwd = dir;
                        }
                    }
                }
            }
            "setuid" | "setresuid" | "setreuid" => {
                if p.res() == Some(0) {
                    let uid = p.u32("uid").or_else(|| p.u32("euid")).filter(|u| *u != u32::MAX);
                    if uid.is_some() {
                        self.change_creds(tid, uid, None);
                    }
                }
            }
            "setgid" | "setresgid" | "setregid" => {
                if p.res() == Some(0) {
                    let gid = p.u32("gid").or_else(|| p.u32("egid")).filter(|g| *g != u32::MAX);
                    if gid.is_some() {
                        self.change_creds(tid, None, gid);
                    }
                }
            }
            "capset" => {
                if p.res() == Some(0) {
                    let (i, pe, e) =
                        (p.u64("cap_inheritable"), p.u64("cap_permitted"), p.u64("cap_effective"));
                    let t = self.thread_mut(tid);
                    t.cap_inheritable = i.unwrap_or(t.cap_inheritable);
                    t.cap_permitted = pe.unwrap_or(t.cap_permitted);
                    t.cap_effective = e.unwrap_or(t.cap_effective);
                }
            }
            "setsid" => {
                if let Some(sid) = p.res().filter(|r| *r > 0) {
                    self.thread_mut(tid).sid = sid;
                }
            }
            "useradded" => {
                if let (Some(uid), Some(gid)) = (p.u32("uid"), p.u32("gid")) {
                    let u = User {
                        uid,
                        gid,
                        name: p.str("name").unwrap_or("").to_string(),
                        home: p.str("home").unwrap_or("").to_string(),
                        shell: p.str("shell").unwrap_or("").to_string(),
                    };
                    self.users.insert(uid, u);
                }
            }
            "groupadded" => {
                if let Some(gid) = p.u32("gid") {
                    self.groups.insert(gid, p.str("name").unwrap_or("").to_string());
                }
            }
            "container" => self.on_container(&p),
            _ => {
                // Any other event still tells us the thread exists.
                if info.is_syscall() && self.threads.get(tid).is_none() {
                    self.thread_mut(tid);
                }
            }
        }
    }

    fn add_fd(&mut self, tid: i64, fd: i64, info: FdInfo) {
        if fd < 0 {
            return;
        }
        self.thread_mut(tid);
        if let Some(p) = self.process_mut(tid) {
            p.fds.insert(fd, info);
        }
    }

    fn simple_fd(&mut self, tid: i64, p: &P<'_, '_>, kind: FdKind, name: &str) {
        if let Some(fd) = p.res().filter(|r| *r >= 0) {
            self.add_fd(tid, fd, FdInfo { kind, name: name.to_string(), ..Default::default() });
        }
    }

    fn dup_fd(&mut self, tid: i64, old: i64, new: i64, cloexec: bool) {
        if new < 0 || old == new {
            return;
        }
        match self.fd(tid, old).cloned() {
            Some(mut f) => {
                f.flags &= !open_flags::CLOEXEC;
                if cloexec {
                    f.flags |= open_flags::CLOEXEC;
                }
                self.add_fd(tid, new, f);
            }
            None => self.stats.unknown_fds += 1,
        }
    }

    fn on_open(&mut self, tid: i64, p: &P<'_, '_>) {
        let Some(fd) = p.i64("fd") else {
            self.stats.malformed += 1;
            return;
        };
        if fd < 0 {
            return;
        }
        let raw = p.str("name").or_else(|| p.str("path")).unwrap_or("");
        let dirfd = p.i64("dirfd").unwrap_or(AT_FDCWD);
        let name = self.resolve_at(tid, dirfd, raw);
        let mut flags = p.u32("flags").unwrap_or(0);
        if p.ev.info().name == "creat" {
            flags |= open_flags::CREAT | open_flags::WRONLY | open_flags::TRUNC;
        }
        let kind = if flags & open_flags::DIRECTORY != 0 { FdKind::Directory } else { FdKind::File };
        let f = FdInfo {
            kind,
            name,
            name_raw: raw.to_string(),
            flags,
            dev: p.u32("dev").unwrap_or(0),
            ino: p.u64("ino").unwrap_or(0),
            ..Default::default()
        };
        self.add_fd(tid, fd, f);
    }

    fn on_socket(&mut self, tid: i64, p: &P<'_, '_>) {
        let Some(fd) = p.res().filter(|r| *r >= 0) else { return };
        let domain = p.u32("domain").unwrap_or(0) as u8;
        let l4 = socket_l4(p.u32("type").unwrap_or(0), p.u32("proto").unwrap_or(0));
        let unspecified = |v6: bool| {
            if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            }
        };
        let f = match domain {
            af::INET | af::INET6 => {
                let v6 = domain == af::INET6;
                FdInfo {
                    kind: if v6 { FdKind::Ipv6Sock } else { FdKind::Ipv4Sock },
                    tuple: Some(IpTuple {
                        sip: unspecified(v6),
                        dip: unspecified(v6),
                        sport: 0,
                        dport: 0,
                        l4proto: l4,
                    }),
                    ..Default::default()
                }
            }
            af::UNIX => FdInfo { kind: FdKind::UnixSock, ..Default::default() },
            af::NETLINK => FdInfo { kind: FdKind::Netlink, ..Default::default() },
            _ => FdInfo { kind: FdKind::Unsupported, ..Default::default() },
        };
        self.add_fd(tid, fd, f);
    }

    /// Fill an fd from a socket tuple. `client_is_source`: the tuple's source side is the client.
    fn apply_tuple(f: &mut FdInfo, t: &SockTuple<'_>, is_client: bool) {
        let l4 = f.tuple.map(|t| t.l4proto).unwrap_or(L4Proto::Tcp);
        let tuple = match *t {
            SockTuple::Inet { sip, dip, sport, dport } => {
                f.kind = FdKind::Ipv4Sock;
                Some(IpTuple { sip: ipv4(sip), dip: ipv4(dip), sport, dport, l4proto: l4 })
            }
            SockTuple::Inet6 { sip, dip, sport, dport } => {
                let (s, d) = (ipv6(sip), ipv6(dip));
                f.kind = if s.is_ipv4() && d.is_ipv4() { FdKind::Ipv4Sock } else { FdKind::Ipv6Sock };
                Some(IpTuple { sip: s, dip: d, sport, dport, l4proto: l4 })
            }
            SockTuple::Unix { path, .. } => {
                f.kind = FdKind::UnixSock;
                let path = String::from_utf8_lossy(path).into_owned();
                if !path.is_empty() {
                    f.name = path.clone();
                    f.unix_path = Some(path);
                }
                None
            }
            SockTuple::Other { .. } => None,
        };
        if let Some(tu) = tuple {
            let name = tuple_name(&tu);
            if !f.name.is_empty() && f.name != name {
                f.name_changed = true;
            }
            f.name = name;
            f.tuple = Some(tu);
        }
        f.is_client = Some(is_client);
    }

    fn on_connect(&mut self, tid: i64, p: &P<'_, '_>) {
        let Some(fd) = p.i64("fd") else { return };
        let tuple = p.tuple("tuple");
        let addr = p.addr("addr");
        self.thread_mut(tid);
        let Some(proc_) = self.process_mut(tid) else { return };
        let f = match proc_.fds.get_mut(fd) {
            Some(f) => f,
            None => {
                proc_.fds.insert(fd, FdInfo { kind: FdKind::Unknown, ..Default::default() });
                match proc_.fds.get_mut(fd) {
                    Some(f) => f,
                    None => return,
                }
            }
        };
        match (tuple, addr) {
            (Some(t), _) if !matches!(t, SockTuple::Other { .. }) => Self::apply_tuple(f, &t, true),
            (_, Some(SockAddr::Inet { addr, port })) => {
                let l4 = f.tuple.map(|t| t.l4proto).unwrap_or(L4Proto::Tcp);
                let sip = f.tuple.map(|t| t.sip).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                let sport = f.tuple.map(|t| t.sport).unwrap_or(0);
                let tu = IpTuple { sip, dip: ipv4(addr), sport, dport: port, l4proto: l4 };
                f.kind = FdKind::Ipv4Sock;
                f.name = tuple_name(&tu);
                f.tuple = Some(tu);
                f.is_client = Some(true);
            }
            (_, Some(SockAddr::Unix { path })) => {
                f.kind = FdKind::UnixSock;
                f.name = String::from_utf8_lossy(path).into_owned();
                f.is_client = Some(true);
            }
            _ => {}
        }
    }

    fn on_accept(&mut self, tid: i64, p: &P<'_, '_>) {
        let Some(fd) = p.res().filter(|r| *r >= 0) else { return };
        let mut f = FdInfo { kind: FdKind::Ipv4Sock, ..Default::default() };
        if let Some(t) = p.tuple("tuple") {
            f.tuple = Some(IpTuple {
                sip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                dip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                sport: 0,
                dport: 0,
                l4proto: L4Proto::Tcp,
            });
            Self::apply_tuple(&mut f, &t, false);
        }
        self.add_fd(tid, fd, f);
    }

    fn on_bind(&mut self, tid: i64, p: &P<'_, '_>) {
        if p.res() != Some(0) {
            return;
        }
        let (Some(fd), Some(addr)) = (p.i64("fd"), p.addr("addr")) else { return };
        self.thread_mut(tid);
        let Some(proc_) = self.process_mut(tid) else { return };
        let Some(f) = proc_.fds.get_mut(fd) else { return };
        let l4 = f.tuple.map(|t| t.l4proto).unwrap_or(L4Proto::Tcp);
        let (ip, port, kind) = match addr {
            SockAddr::Inet { addr, port } => (ipv4(addr), port, FdKind::Ipv4ServSock),
            SockAddr::Inet6 { addr, port } => (ipv6(addr), port, FdKind::Ipv6ServSock),
            SockAddr::Unix { path } => {
                f.name = String::from_utf8_lossy(path).into_owned();
                return;
            }
            SockAddr::Other { .. } => return,
        };
        f.kind = kind;
        f.tuple = Some(IpTuple { sip: ip, dip: ip, sport: port, dport: port, l4proto: l4 });
        f.is_client = Some(false);
        let mut name = String::new();
        fmt_endpoint(&mut name, ip, port);
        f.name = name;
    }

    /// send/recv on an unconnected (UDP) socket: learn the peer from the tuple.
    fn on_data(&mut self, tid: i64, p: &P<'_, '_>) {
        let (Some(fd), Some(t)) = (p.i64("fd"), p.tuple("tuple")) else { return };
        let is_send = p.ev.info().name.starts_with("send");
        let Some(proc_) = self.process_mut(tid) else { return };
        let Some(f) = proc_.fds.get_mut(fd) else { return };
        if f.tuple.is_some_and(|tu| tu.dport != 0 || tu.sport != 0) && f.is_client.is_some() {
            return;
        }
        Self::apply_tuple(f, &t, is_send);
    }

    fn on_clone(&mut self, tid: i64, p: &P<'_, '_>) {
        let Some(res) = p.res() else {
            self.stats.malformed += 1;
            return;
        };
        if res < 0 {
            return;
        }
        let flags = p.u32("flags").unwrap_or(0);
        let is_thread = flags & clone_flags::CLONE_THREAD != 0;
        let ts = p.ev.ts();
        if res == 0 {
            // Child side: the event describes the new thread itself.
            let mut t = self.thread_from_clone_params(tid, p);
            t.clone_ts = ts;
            if !is_thread {
                t.pid = tid;
            }
            // Inherit what the params do not carry from the parent (or an earlier parent-side copy).
            let prev = self.threads.get(tid).cloned();
            let parent =
                if is_thread { self.threads.get(t.pid).cloned() } else { self.threads.get(t.ptid).cloned() };
            if self.sysdig029 && is_thread {
                if let Some(prev) = prev.as_ref() {
                    t.ptid = prev.ptid;
                }
            }
            if let Some(src) = prev.as_ref().or(parent.as_ref()) {
                inherit(&mut t, src);
                if !is_thread && prev.is_none() {
                    t.fds = parent.as_ref().map(|pp| self.fds_of(pp.tid)).unwrap_or_default();
                } else if let Some(prev) = prev {
                    t.fds = prev.fds;
                }
            }
            Self::set_container_from_cgroups(&mut t);
            self.threads.force_insert(t);
        } else {
            // Parent side: make sure the parent is known, and create the child if it has not run yet.
            let parent = {
                let mut t = self.thread_from_clone_params(tid, p);
                if let Some(prev) = self.threads.get(tid) {
                    t.fds = prev.fds.clone();
                    t.clone_ts = prev.clone_ts;
                    inherit(&mut t, prev);
                }
                Self::set_container_from_cgroups(&mut t);
                t
            };
            let child_tid = res;
            let parent_pid = parent.pid;
            let fds = if is_thread { Default::default() } else { self.fds_of(tid) };
            // sysdig 0.29 does not refresh a caller it already knows from the clone's parameters.
            if !(self.sysdig029 && self.threads.get(tid).is_some()) {
                self.threads.force_insert(parent.clone());
            }
            if self.threads.get(child_tid).is_none() {
                let mut c = parent;
                c.tid = child_tid;
                c.clone_ts = ts;
                if is_thread {
                    c.fds = Default::default();
                    if self.sysdig029 {
                        c.ptid = tid;
                    }
                } else {
                    c.pid = child_tid;
                    c.ptid = if flags & clone_flags::CLONE_PARENT != 0 { c.ptid } else { parent_pid };
                    c.fds = fds;
                }
                c.vtid = -1;
                self.threads.force_insert(c);
            }
        }
    }

    /// A copy of the fd table of `tid`'s process (for fork).
    fn fds_of(&self, tid: i64) -> crate::fd::FdTable {
        self.threads.process_of(tid).map(|p| p.fds.clone()).unwrap_or_default()
    }

    fn thread_from_clone_params(&self, tid: i64, p: &P<'_, '_>) -> ThreadInfo {
        ThreadInfo {
            tid,
            pid: p.i64("pid").unwrap_or(tid),
            ptid: p.i64("ptid").unwrap_or(-1),
            comm: p.str("comm").or_else(|| p.str("exe")).unwrap_or("").to_string(),
            exe: p.str("exe").unwrap_or("").to_string(),
            args: p.bytes("args").map(split_nul).unwrap_or_default(),
            cwd: p.str("cwd").unwrap_or("").to_string(),
            fdlimit: p.u64("fdlimit").unwrap_or(0),
            flags: p.u32("flags").unwrap_or(0),
            uid: p.u32("uid").unwrap_or(0),
            gid: p.u32("gid").unwrap_or(0),
            vtid: p.i64("vtid").unwrap_or(tid),
            vpid: p.i64("vpid").unwrap_or(tid),
            vmsize_kb: p.u32("vm_size").unwrap_or(0),
            vmrss_kb: p.u32("vm_rss").unwrap_or(0),
            vmswap_kb: p.u32("vm_swap").unwrap_or(0),
            cgroups: p.bytes("cgroups").map(split_nul).unwrap_or_default(),
            pidns_init_start_ts: p.u64("pidns_init_start_ts").unwrap_or(0),
            ..Default::default()
        }
    }

    fn on_execve(&mut self, tid: i64, p: &P<'_, '_>) {
        match p.res() {
            Some(0) => {}
            _ => return,
        }
        self.thread_mut(tid);
        // A multithreaded exec: the kernel makes the calling thread the leader (tid becomes pid).
        let pid = p.i64("pid").unwrap_or(tid);
        let exe = p.str("exe").unwrap_or("").to_string();
        let comm = p.str("comm").map(str::to_string);
        let args = p.bytes("args").map(split_nul).unwrap_or_default();
        let env = p.bytes("env").map(split_nul);
        let cwd = p.str("cwd").filter(|c| !c.is_empty()).map(str::to_string);
        let cgroups = p.bytes("cgroups").map(split_nul);
        let exepath = p
            .str("trusted_exepath")
            .filter(|s| !s.is_empty())
            .or_else(|| p.str("filename").filter(|s| !s.is_empty()))
            .map(|s| s.to_string());
        let flags = p.u32("flags");
        let old_fds = if pid != tid { self.threads.get(pid).map(|m| m.fds.clone()) } else { None };
        let ptid = p.i64("ptid").filter(|v| *v > 0);
        let cur_ptid = self.thread_mut(tid).ptid;
        self.threads.set_lineage(tid, pid, ptid.unwrap_or(cur_ptid));
        let t = self.thread_mut(tid);
        if let Some(fds) = old_fds {
            t.fds = fds;
        }
        t.comm = comm.unwrap_or_else(|| exe.rsplit('/').next().unwrap_or(&exe).to_string());
        // Old captures carry no executable path: leave it unknown rather than guess.
        t.exepath = exepath.unwrap_or_default();
        t.exe = exe;
        t.args = args;
        if let Some(env) = env {
            t.env = env;
        }
        if let Some(cwd) = cwd {
            t.cwd = cwd;
        }
        if let Some(cg) = cgroups {
            t.cgroups = cg;
        }
        if let Some(v) = p.u32("tty") {
            t.tty = v;
        }
        if let Some(v) = p.i64("vpgid") {
            t.vpgid = v;
        }
        if let Some(v) = p.i64("pgid") {
            t.pgid = v;
        }
        if let Some(v) = p.u32("loginuid") {
            t.loginuid = v;
        }
        if let Some(v) = p.u32("uid") {
            t.uid = v;
        }
        if let Some(v) = p.u32("gid") {
            t.gid = v;
        }
        if let Some(v) = p.u64("fdlimit") {
            t.fdlimit = v;
        }
        if let Some(v) = p.u64("cap_inheritable") {
            t.cap_inheritable = v;
        }
        if let Some(v) = p.u64("cap_permitted") {
            t.cap_permitted = v;
        }
        if let Some(v) = p.u64("cap_effective") {
            t.cap_effective = v;
        }
        if let Some(v) = p.u64("exe_ino") {
            t.exe_ino = v;
        }
        if let Some(v) = p.u64("exe_ino_ctime") {
            t.exe_ino_ctime = v;
        }
        if let Some(v) = p.u64("exe_ino_mtime") {
            t.exe_ino_mtime = v;
        }
        if let Some(f) = flags {
            t.exe_writable = f & exe_flags::WRITABLE != 0;
            t.exe_upper_layer = f & exe_flags::UPPER_LAYER != 0;
            t.exe_from_memfd = f & exe_flags::FROM_MEMFD != 0;
            t.exe_lower_layer = f & exe_flags::LOWER_LAYER != 0;
        }
        t.fds.close_on_exec(open_flags::CLOEXEC);
        Self::set_container_from_cgroups(t);
        if pid != tid {
            // The old leader is replaced by the exec'ing thread.
            self.threads.remove_exited(pid, None);
        }
    }

    fn on_container(&mut self, p: &P<'_, '_>) {
        let Some(json) = p.str("json") else { return };
        if let Some(c) = crate::container_json::parse_container_json(json) {
            self.containers.insert(c.id.clone(), c);
        }
    }
}

/// A connected socket found at start-up is stored as (local, remote), without its role. Guess it from
/// the ports: the side with the lower (well-known) port is the server. The fd's tuple is always
/// written client first (`fd.cip`, `fd.name` = `client->server`).
fn set_guessed_role(f: &mut FdInfo, local_remote: IpTuple) {
    let t = local_remote;
    let local_is_server = t.sport != 0 && t.dport != 0 && t.sport < t.dport;
    let tu = if local_is_server {
        IpTuple { sip: t.dip, sport: t.dport, dip: t.sip, dport: t.sport, l4proto: t.l4proto }
    } else {
        t
    };
    f.name = tuple_name(&tu);
    f.tuple = Some(tu);
    if t.sport != 0 || t.dport != 0 {
        f.is_client = Some(!local_is_server);
    }
}

/// Copy what a new thread inherits from its parent when the clone event does not carry it.
fn inherit(t: &mut ThreadInfo, src: &ThreadInfo) {
    if t.exepath.is_empty() {
        t.exepath = src.exepath.clone();
    }
    if t.env.is_empty() {
        t.env = src.env.clone();
    }
    if t.cwd.is_empty() {
        t.cwd = src.cwd.clone();
    }
    if t.cgroups.is_empty() {
        t.cgroups = src.cgroups.clone();
    }
    if t.root.is_empty() {
        t.root = src.root.clone();
    }
    t.sid = if t.sid == 0 { src.sid } else { t.sid };
    t.vpgid = if t.vpgid == 0 { src.vpgid } else { t.vpgid };
    t.pgid = if t.pgid == 0 { src.pgid } else { t.pgid };
    t.loginuid = src.loginuid;
    t.tty = src.tty;
    t.cap_permitted = src.cap_permitted;
    t.cap_effective = src.cap_effective;
    t.cap_inheritable = src.cap_inheritable;
    t.exe_writable = src.exe_writable;
    t.exe_upper_layer = src.exe_upper_layer;
    t.exe_lower_layer = src.exe_lower_layer;
    t.exe_from_memfd = src.exe_from_memfd;
    t.exe_ino = src.exe_ino;
    t.exe_ino_ctime = src.exe_ino_ctime;
    t.exe_ino_mtime = src.exe_ino_mtime;
}

impl State {
    /// Seed the tables from a capture file's header blocks (machine info, users, groups, process
    /// list, fd lists).
    pub fn load_scap_header(&mut self, h: &harrier_scap::Header) {
        use harrier_scap::meta::FdKind as SK;
        if let Some(m) = &h.machine {
            self.hostname = m.hostname.clone();
            self.boot_ts = m.boot_ts_epoch;
        }
        for u in &h.users {
            self.users.insert(
                u.uid,
                User {
                    uid: u.uid,
                    gid: u.gid,
                    name: u.name.clone(),
                    home: u.homedir.clone(),
                    shell: u.shell.clone(),
                },
            );
        }
        for g in &h.groups {
            self.groups.insert(g.gid, g.name.clone());
        }
        for st in &h.threads {
            let mut t = ThreadInfo {
                tid: st.tid as i64,
                pid: st.pid as i64,
                ptid: st.ptid as i64,
                sid: st.sid as i64,
                vpgid: st.vpgid as i64,
                pgid: st.pgid,
                vtid: st.vtid,
                vpid: st.vpid,
                comm: st.comm.clone(),
                exe: st.exe.clone(),
                exepath: st.exepath.clone(),
                args: st.args.clone(),
                env: st.env.clone(),
                cwd: st.cwd.clone(),
                root: st.root.clone(),
                uid: st.uid,
                gid: st.gid,
                loginuid: st.loginuid,
                tty: st.tty,
                fdlimit: st.fdlimit,
                flags: st.flags,
                cap_permitted: st.cap_permitted,
                cap_effective: st.cap_effective,
                cap_inheritable: st.cap_inheritable,
                exe_writable: st.exe_writable,
                exe_upper_layer: st.exe_upper_layer,
                exe_lower_layer: st.exe_lower_layer,
                exe_from_memfd: st.exe_from_memfd,
                exe_ino: st.exe_ino,
                exe_ino_ctime: st.exe_ino_ctime,
                exe_ino_mtime: st.exe_ino_mtime,
                pidns_init_start_ts: st.pidns_init_start_ts,
                vmsize_kb: st.vmsize_kb,
                vmrss_kb: st.vmrss_kb,
                vmswap_kb: st.vmswap_kb,
                cgroups: st.cgroups.clone(),
                ..Default::default()
            };
            Self::set_container_from_cgroups(&mut t);
            self.threads.force_insert(t);
        }
        for table in &h.fd_tables {
            let tid = table.tid as i64;
            let Some(key) = self.threads.process_key(tid) else { continue };
            for e in &table.fds {
                let mut f = FdInfo { ino: e.ino, ..Default::default() };
                match &e.kind {
                    SK::Ipv4Sock { sip, dip, sport, dport, l4proto } => {
                        f.kind = FdKind::Ipv4Sock;
                        let tu = IpTuple {
                            sip: ipv4(*sip),
                            dip: ipv4(*dip),
                            sport: *sport,
                            dport: *dport,
                            l4proto: L4Proto::from_scap(*l4proto),
                        };
                        set_guessed_role(&mut f, tu);
                    }
                    SK::Ipv6Sock { sip, dip, sport, dport, l4proto } => {
                        f.kind = FdKind::Ipv6Sock;
                        let tu = IpTuple {
                            sip: ipv6(*sip),
                            dip: ipv6(*dip),
                            sport: *sport,
                            dport: *dport,
                            l4proto: L4Proto::from_scap(*l4proto),
                        };
                        set_guessed_role(&mut f, tu);
                    }
                    SK::Ipv4ServSock { ip, port, l4proto } => {
                        let ip = ipv4(*ip);
                        f.kind = FdKind::Ipv4ServSock;
                        f.tuple = Some(IpTuple {
                            sip: ip,
                            dip: ip,
                            sport: *port,
                            dport: *port,
                            l4proto: L4Proto::from_scap(*l4proto),
                        });
                        fmt_endpoint(&mut f.name, ip, *port);
                        f.is_client = Some(false);
                    }
                    SK::Ipv6ServSock { ip, port, l4proto } => {
                        let ip = ipv6(*ip);
                        f.kind = FdKind::Ipv6ServSock;
                        f.tuple = Some(IpTuple {
                            sip: ip,
                            dip: ip,
                            sport: *port,
                            dport: *port,
                            l4proto: L4Proto::from_scap(*l4proto),
                        });
                        fmt_endpoint(&mut f.name, ip, *port);
                        f.is_client = Some(false);
                    }
                    SK::UnixSock { path, .. } => {
                        f.kind = FdKind::UnixSock;
                        f.name = path.clone();
                    }
                    SK::File { open_flags, path, dev } => {
                        f.kind = FdKind::File;
                        f.name = path.clone();
                        f.name_raw = path.clone();
                        f.flags = *open_flags;
                        f.dev = dev.unwrap_or(0);
                    }
                    SK::Named { fd_type, name } => {
                        f.kind = FdKind::from_scap(*fd_type);
                        f.name = name.clone();
                    }
                }
                if let Some(p) = self.threads.get_mut(key) {
                    p.fds.insert(e.fd, f);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use harrier_event::ids;

    #[test]
    fn state_event_table() {
        for name in STATE_EVENTS {
            assert!(!harrier_event::ids_by_name(name).is_empty(), "{name} is an event name");
        }
        assert!(changes_state(ids::PPME_SYSCALL_OPENAT_2_X));
        assert!(changes_state(ids::PPME_SYSCALL_EXECVE_19_X));
        assert!(changes_state(ids::PPME_PROCEXIT_1_E));
        assert!(!changes_state(ids::PPME_SYSCALL_READ_X));
        assert!(!changes_state(u16::MAX));
    }

    use super::*;

    #[test]
    fn paths_resolve_lexically() {
        assert_eq!(resolve_path("/home/u", "a.txt"), "/home/u/a.txt");
        assert_eq!(resolve_path("/home/u/", "../x/./y"), "/home/x/y");
        assert_eq!(resolve_path("/home/u", "/etc//shadow"), "/etc/shadow");
        assert_eq!(resolve_path("/", ".."), "/");
        assert_eq!(resolve_path("/a", ""), "/a");
    }

    /// The one-pass resolution gives what folding a component list gives, on every combination
    /// of awkward pieces (empty, ".", "..", repeated and trailing slashes, absolute paths).
    #[test]
    fn resolve_path_equals_component_folding() {
        fn folded(base: &str, path: &str) -> String {
            let mut parts: Vec<&str> = Vec::new();
            let joined_base = if path.starts_with('/') { "" } else { base };
            for comp in joined_base.split('/').chain(path.split('/')) {
                match comp {
                    "" | "." => {}
                    ".." => {
                        parts.pop();
                    }
                    c => parts.push(c),
                }
            }
            if parts.is_empty() {
                return "/".into();
            }
            parts.iter().map(|p| format!("/{p}")).collect()
        }
        let pieces = ["", "/", "a", "bb", ".", "..", "//", "a.b", "..."];
        let mut n = 0;
        let mut words: Vec<String> = vec![String::new()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for w in &words {
                for p in pieces {
                    next.push(format!("{w}{p}"));
                    next.push(format!("{w}{p}/"));
                }
            }
            words = next;
        }
        // and bases in resolved form, which take the copy-whole path
        let resolved: Vec<String> = ["/", "/a", "/a/bb", "/a/bb/", "/a.b/.../a", "/..a/b.", "rel/a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for base in words.iter().step_by(53).chain(&resolved) {
            for path in &words {
                assert_eq!(resolve_path(base, path), folded(base, path), "{base:?} + {path:?}");
                n += 1;
            }
        }
        assert!(n > 100_000, "{n}");
    }

    #[test]
    fn socket_names() {
        let t = IpTuple {
            sip: "10.0.0.1".parse().unwrap(),
            dip: "10.0.0.2".parse().unwrap(),
            sport: 4000,
            dport: 80,
            l4proto: L4Proto::Tcp,
        };
        assert_eq!(tuple_name(&t), "10.0.0.1:4000->10.0.0.2:80");
        assert_eq!(socket_l4(1 | 0x80000, 0), L4Proto::Tcp);
        assert_eq!(socket_l4(2, 17), L4Proto::Udp);
        assert_eq!(socket_l4(3, 1), L4Proto::Icmp);
    }

    #[test]
    fn nul_separated_lists() {
        assert_eq!(split_nul(b"a\0bc\0"), vec!["a".to_string(), "bc".to_string()]);
        assert_eq!(split_nul(b""), Vec::<String>::new());
        assert_eq!(split_nul(b"x"), vec!["x".to_string()]);
    }

    /// Threads gone from the host are forgotten, with their main thread; live ones, their fds
    /// and a process whose leader exited but whose other thread runs stay. No procfs: nothing.
    #[test]
    fn purge_forgets_threads_gone_from_proc() {
        let root = std::env::temp_dir().join(format!("harrier-purge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut st = State::new();
        let th = |tid: i64, pid: i64, ptid: i64| ThreadInfo { tid, pid, ptid, ..Default::default() };
        for t in [
            th(1, 1, 0),
            th(10, 10, 1),
            th(11, 10, 1),
            th(20, 20, 10),
            th(21, 20, 10),
            th(30, 30, 1),
            th(31, 30, 1),
        ] {
            st.threads.insert(t);
        }
        st.threads.get_mut(10).unwrap().fds.insert(3, FdInfo::default());
        // 30 exited as a leader while 31 runs: kept (dead) for its fd table.
        st.threads.remove_exited(30, Some(1));
        assert_eq!(st.purge_threads_in(&root), 0, "no procfs: nothing removed");
        assert_eq!(st.threads.len(), 7);
        for d in ["self", "1", "10", "11", "30", "31"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        assert_eq!(st.purge_threads_in(&root), 2);
        let mut left: Vec<i64> = st.threads.iter().map(|t| t.tid).collect();
        left.sort();
        assert_eq!(left, [1, 10, 11, 30, 31]);
        assert!(st.fd(11, 3).is_some(), "live threads keep their process's fds");
        assert_eq!(st.stats.purged_threads, 2);
        // The whole of process 30 goes once its last thread has.
        std::fs::remove_dir(root.join("31")).unwrap();
        std::fs::remove_dir(root.join("30")).unwrap();
        assert_eq!(st.purge_threads_in(&root), 2);
        assert!(st.threads.get(30).is_none() && st.threads.get(31).is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
