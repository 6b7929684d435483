//! Syscall field extraction: [`SyscallEvent`] implements the engine's `EventAccessor` over one
//! event and the state tables, for every `evt.*`, `proc.*`, `thread.*`, `user.*`, `group.*`,
//! `fd.*`, `fs.path.*`, `container.*` and `k8s.*` field that has a meaning for syscall events.
//!
//! Values are written straight into the engine's reusable buffer: no allocation per extraction.

use crate::fd::{FdInfo, FdKind};
use crate::names;
use crate::thread::ThreadInfo;
use crate::tracker::{ContainerInfo, State};
use harrier_engine::output::{format_time_hms, format_time_iso8601};
use harrier_engine::prefilter::{failed_open_typechar, OPEN_FAMILY};
use harrier_engine::values::One;
use harrier_engine::{BoundField, EventAccessor, FieldArg, FieldId as F, Value, Values};
use harrier_event::{ef, Direction, Event, ParamType, SockAddr, SockTuple};
use std::cell::Cell;
use std::io::Write as _;
use std::net::IpAddr;

/// One syscall event seen through the state.
///
/// The event's thread and descriptor are looked up once, on first use, and kept for the
/// accessor's life (the state is borrowed, so they cannot change): the rules of one event test
/// a dozen `proc.*`/`fd.*` fields, each of which needs them.
pub struct SyscallEvent<'a> {
    pub state: &'a State,
    pub ev: Event<'a>,
    /// `evt.num`.
    pub num: u64,
    /// Timestamp of the previous event (`evt.deltatime`), 0 if none.
    pub prev_ts: u64,
    thread_memo: Cell<Option<Option<&'a ThreadInfo>>>,
    fd_memo: Cell<Option<Option<&'a FdInfo>>>,
}

impl<'a> SyscallEvent<'a> {
    pub fn new(state: &'a State, ev: Event<'a>, num: u64) -> Self {
        Self::after(state, ev, num, 0)
    }

    /// An event whose predecessor's timestamp was `prev_ts` (for `evt.deltatime`).
    pub fn after(state: &'a State, ev: Event<'a>, num: u64, prev_ts: u64) -> Self {
        SyscallEvent { state, ev, num, prev_ts, thread_memo: Cell::new(None), fd_memo: Cell::new(None) }
    }

    fn tid(&self) -> i64 {
        self.ev.tid() as i64
    }

    #[inline]
    fn thread(&self) -> Option<&'a ThreadInfo> {
        if let Some(t) = self.thread_memo.get() {
            return t;
        }
        let t = self.state.threads.get(self.tid());
        self.thread_memo.set(Some(t));
        t
    }

    fn process(&self) -> Option<&'a ThreadInfo> {
        self.state.threads.process_of(self.tid())
    }

    fn parent(&self) -> Option<&'a ThreadInfo> {
        self.state.threads.parent_of(self.tid())
    }

    fn is_exit(&self) -> bool {
        self.ev.info().dir == Direction::Exit
    }

    fn pi(&self, name: &str) -> Option<usize> {
        self.ev.param_index(name)
    }

    fn p_i64(&self, name: &str) -> Option<i64> {
        self.ev.param_i64(self.pi(name)?)
    }

    /// The `fd` parameter (its index looked up once per event type).
    fn p_fd(&self) -> Option<i64> {
        self.ev.param_i64(harrier_event::fd_param_index(self.ev.etype())?)
    }

    fn p_str(&self, name: &str) -> Option<&'a str> {
        self.ev.param_str(self.pi(name)?)
    }

    /// The return value: `res`, or the new fd of fd-creating exit events.
    fn res(&self) -> Option<i64> {
        if !self.is_exit() {
            return None;
        }
        self.p_i64("res").or_else(|| {
            let info = self.ev.info();
            if info.has_flag(ef::CREATES_FD) {
                self.p_fd()
            } else {
                None
            }
        })
    }

    /// The fd number this event is about.
    pub fn fd_num(&self) -> Option<i64> {
        if self.state.sysdig029 {
            return match self.fd_view()? {
                FdView::Known(n, _) | FdView::Unknown(n, _) => Some(n),
                FdView::Creator(_) | FdView::FailedOpen => Some(-1),
            };
        }
        let info = self.ev.info();
        if info.has_flag(ef::CREATES_FD) && self.is_exit() {
            let first = info.params.first()?;
            if matches!(first.ptype, ParamType::Fd | ParamType::Errno | ParamType::Int64) {
                return self.ev.param_i64(0).filter(|v| *v >= 0);
            }
            return self.p_fd().filter(|v| *v >= 0);
        }
        if info.has_flag(ef::USES_FD) {
            return self.p_fd().filter(|v| *v >= 0);
        }
        None
    }

    /// The fd this event is about, as the state knows it.
    #[inline]
    pub fn fd(&self) -> Option<&'a FdInfo> {
        if let Some(f) = self.fd_memo.get() {
            return f;
        }
        let f = self.fd_lookup();
        self.fd_memo.set(Some(f));
        f
    }

    fn fd_lookup(&self) -> Option<&'a FdInfo> {
        if self.state.sysdig029 {
            return match self.fd_view()? {
                FdView::Known(_, f) => Some(f),
                _ => None,
            };
        }
        let fd = self.fd_num()?;
        self.state.fd(self.tid(), fd)
    }

    /// `Some(fd.typechar)` on the exit of an open that failed (`open`, `openat`, `openat2`,
    /// `creat` with a negative result). Falco has no descriptor then and reads `fd.name`,
    /// `fd.nameraw` and `fd.directory` from the path argument, and `fd.typechar` from the event
    /// type: `f`, except `o` for `open`, which libsinsp's table of creators leaves out.
    fn failed_open(&self) -> Option<u8> {
        let shape = fd_shape(self.ev.etype());
        // (sysdig 0.29 compatibility has its own view of it: `fd_view`)
        if shape.failed_open == 0 || !self.is_exit() || self.state.sysdig029 {
            return None;
        }
        let n = self.ev.param_i64(shape.new_fd_param?)?;
        (n < 0).then_some(shape.failed_open)
    }

    /// `fd.num` when the state has none: -1 on the exit of an fd-creating syscall that failed
    /// (libsinsp's last-event fd, never set by a failed creator).
    fn failed_creator_num(&self) -> Option<i64> {
        let shape = fd_shape(self.ev.etype());
        if !shape.creates || shape.new_fd_param != Some(0) || !self.is_exit() || self.state.sysdig029 {
            return None;
        }
        (self.ev.param_i64(0)? < 0).then_some(-1)
    }

    /// `fd.name` (`raw`: `fd.nameraw`) of a failed open: the path it tried, resolved against the
    /// cwd or dirfd. `fd.nameraw` is the argument as written for `openat`/`openat2` and the
    /// resolved path for `open`/`creat` (libsinsp reads their path parameter resolved either
    /// way), with repeated separators collapsed.
    fn failed_open_name(&self, raw: bool) -> Option<String> {
        self.failed_open()?;
        let (resolved, written) = self.path_param(PathRole::Name)?;
        if !raw {
            return Some(resolved);
        }
        let name =
            if matches!(self.ev.info().name, "openat" | "openat2") { written } else { resolved.as_str() };
        let mut out = String::with_capacity(name.len());
        for c in name.chars() {
            if !(c == '/' && out.ends_with('/')) {
                out.push(c);
            }
        }
        Some(out)
    }

    /// The fd of this event as sysdig 0.29 sees it (see `State::sysdig029`).
    fn fd_view(&self) -> Option<FdView<'a>> {
        let info = self.ev.info();
        let shape = fd_shape(info.id);
        if shape.none {
            return None;
        }
        let lookup = |n: i64, exit: bool| match self.state.fd(self.tid(), n).filter(|_| n >= 0) {
            Some(f) => FdView::Known(n, f),
            None => FdView::Unknown(n, exit),
        };
        if !self.is_exit() {
            if shape.uses {
                if let Some(n) = shape.fd_param.and_then(|i| self.ev.param_i64(i)) {
                    return Some(lookup(n, false));
                }
            }
            return shape.creates.then_some(FdView::Creator(shape.typechar));
        }
        if shape.creates {
            let n = shape.new_fd_param.and_then(|i| self.ev.param_i64(i))?;
            return match self.state.fd(self.tid(), n).filter(|_| n >= 0) {
                Some(f) => Some(FdView::Known(n, f)),
                // A failed open: the file it tried to open.
                None if n < 0 && shape.typechar == b'f' => Some(FdView::FailedOpen),
                None => None,
            };
        }
        if shape.uses {
            // One thread lookup for both the enter fd and the fd table (`State::fd` again).
            let t = self.thread();
            let n = t.map(|t| t.last_enter_fd).unwrap_or(0);
            let f = t.filter(|_| n >= 0).and_then(|t| self.state.threads.process_of_thread(t).fds.get(n));
            return Some(match f {
                Some(f) => FdView::Known(n, f),
                None => FdView::Unknown(n, true),
            });
        }
        None
    }

    /// sysdig 0.29: an IP socket neither connected nor bound (no addresses or ports yet).
    fn unconnected_ip(&self, f: &FdInfo) -> bool {
        self.state.sysdig029
            && matches!(f.kind, FdKind::Ipv4Sock | FdKind::Ipv6Sock)
            && f.tuple.is_none_or(|t| t.sport == 0 && t.dport == 0)
    }

    /// The parent `proc.pname`/`proc.pexe`/`proc.pcmdline` read: the parent process, or with
    /// sysdig 0.29 compatibility the thread's own parent thread.
    fn pname_parent(&self) -> Option<&'a ThreadInfo> {
        if self.state.sysdig029 {
            let t = self.thread()?;
            if t.ptid <= 0 || t.ptid == t.tid {
                return None;
            }
            return self.state.threads.get(t.ptid);
        }
        self.parent()
    }

    fn container(&self) -> Option<&'a ContainerInfo> {
        self.state.container_of(self.thread()?)
    }

    fn container_id(&self) -> Option<&'a str> {
        self.thread().map(|t| if t.container_id.is_empty() { "host" } else { t.container_id.as_str() })
    }

    /// Ancestor `n` (0 = the process itself).
    fn ancestor(&self, n: i64) -> Option<&'a ThreadInfo> {
        if n < 0 {
            return None;
        }
        self.state.threads.ancestor(self.tid(), n as usize)
    }

    /// Push a per-process string for ancestor `arg` (an index) or for every ancestor (no index).
    fn ancestors_str(&self, arg: &FieldArg, out: &mut Values, f: impl Fn(&ThreadInfo, &mut Vec<u8>)) -> bool {
        match arg.index() {
            Some(n) => match self.ancestor(n) {
                Some(t) => {
                    out.push_str_with(|b| f(t, b));
                    true
                }
                None => false,
            },
            None => {
                let mut any = false;
                for a in self.state.threads.ancestors(self.tid()) {
                    out.push_str_with(|b| f(a, b));
                    any = true;
                }
                any
            }
        }
    }

    fn path_param(&self, which: PathRole) -> Option<(String, &'a str)> {
        let name = self.ev.info().name;
        let (raw_name, dirfd_name) = match (name, which) {
            ("mkdir" | "rmdir" | "unlink" | "chdir" | "chroot", PathRole::Name) => ("path", None),
            ("mkdirat", PathRole::Name) => ("path", Some("dirfd")),
            ("unlinkat", PathRole::Name) => ("name", Some("dirfd")),
            ("chmod", PathRole::Name) => ("filename", None),
            ("fchmodat", PathRole::Name) => ("filename", Some("dirfd")),
            ("open" | "creat", PathRole::Name) => ("name", None),
            ("openat" | "openat2", PathRole::Name) => ("name", Some("dirfd")),
            ("mount", PathRole::Name) => ("dir", None),
            ("umount" | "umount2", PathRole::Name) => ("name", None),
            ("rename" | "link", PathRole::Source) => ("oldpath", None),
            ("rename" | "link", PathRole::Target) => ("newpath", None),
            ("renameat" | "renameat2", PathRole::Source) => ("oldpath", Some("olddirfd")),
            ("renameat" | "renameat2", PathRole::Target) => ("newpath", Some("newdirfd")),
            ("linkat", PathRole::Source) => ("oldpath", Some("olddir")),
            ("linkat", PathRole::Target) => ("newpath", Some("newdir")),
            ("symlink", PathRole::Source) => ("target", None),
            ("symlink", PathRole::Target) => ("linkpath", None),
            ("symlinkat", PathRole::Source) => ("target", None),
            ("symlinkat", PathRole::Target) => ("linkpath", Some("linkdirfd")),
            _ => return None,
        };
        let raw = self.p_str(raw_name)?;
        // A symlink's target is stored as written: it is not resolved against anything.
        if matches!(name, "symlink" | "symlinkat") && which == PathRole::Source {
            return Some((raw.to_string(), raw));
        }
        let dirfd = dirfd_name.and_then(|d| self.p_i64(d)).unwrap_or(harrier_event::consts::AT_FDCWD);
        Some((self.state.resolve_at(self.tid(), dirfd, raw), raw))
    }

    fn ip_side(&self, side: Side) -> Option<(IpAddr, u16)> {
        let f = self.fd()?;
        let t = f.tuple?;
        if !f.kind.is_ip() || self.unconnected_ip(f) {
            return None;
        }
        let server = matches!(f.kind, crate::fd::FdKind::Ipv4ServSock | crate::fd::FdKind::Ipv6ServSock);
        let client = (t.sip, t.sport);
        let srv = (t.dip, t.dport);
        // `is_client`: this process initiated the connection, so local = client side.
        let local_is_client = f.is_client.unwrap_or(true);
        Some(match side {
            Side::Client if server => return None,
            Side::Client => client,
            Side::Server => srv,
            Side::Local if local_is_client => client,
            Side::Local => srv,
            Side::Remote if server => return None,
            Side::Remote if local_is_client => srv,
            Side::Remote => client,
        })
    }

    /// Render parameter `i` as text the way `evt.arg` shows it.
    fn render_param(&self, i: usize, b: &mut Vec<u8>) -> bool {
        let Some(pinfo) = self.ev.info().params.get(i) else { return false };
        let Some(raw) = self.ev.param(i) else {
            return false;
        };
        use ParamType as T;
        match pinfo.ptype {
            T::Fd => {
                let Some(v) = self.ev.param_i64(i) else { return false };
                match self.state.fd(self.tid(), v).filter(|_| v >= 0) {
                    Some(f) if pinfo.name == "fd" => {
                        b.push(b'<');
                        b.push(f.kind.type_char());
                        b.push(b'>');
                        b.extend_from_slice(f.name.as_bytes());
                    }
                    _ => {
                        let _ = write!(b, "{v}");
                    }
                }
            }
            T::Errno => {
                let Some(v) = self.ev.param_i64(i) else { return false };
                match names::errno_name(-v).filter(|_| v < 0) {
                    Some(n) => b.extend_from_slice(n.as_bytes()),
                    None => {
                        let _ = write!(b, "{v}");
                    }
                }
            }
            T::Flags8 | T::Flags16 | T::Flags32
                if pinfo.name == "flags" && self.ev.info().name.starts_with("open") =>
            {
                names::write_open_flags(self.ev.param_u32(i).unwrap_or(0), b)
            }
            T::Flags8 | T::Flags16 | T::Flags32 if self.ev.info().name == "creat" => {
                names::write_open_flags(self.ev.param_u32(i).unwrap_or(0), b)
            }
            T::Mode => names::write_mode(self.ev.param_u32(i).unwrap_or(0), b),
            T::Enumflags8 | T::Enumflags16 | T::Enumflags32 => {
                let v = self.ev.param_u64(i).unwrap_or(0);
                let name = match (self.ev.info().name, pinfo.name) {
                    ("ptrace", "request") => names::ptrace_request_name(v),
                    (_, "domain") => names::socket_family_name(v),
                    _ => None,
                };
                match name {
                    Some(n) => b.extend_from_slice(n.as_bytes()),
                    None => {
                        let _ = write!(b, "{v}");
                    }
                }
            }
            T::Charbuf | T::Fspath | T::Fsrelpath => {
                b.extend_from_slice(raw.strip_suffix(&[0]).unwrap_or(raw));
            }
            T::Bytebuf => {
                for &c in raw {
                    b.push(if c.is_ascii_graphic() || c == b' ' { c } else { b'.' });
                }
            }
            T::Sockaddr => match SockAddr::decode(raw) {
                Some(SockAddr::Inet { addr, port }) => {
                    let _ = write!(b, "{}:{}", std::net::Ipv4Addr::from(addr), port);
                }
                Some(SockAddr::Inet6 { addr, port }) => {
                    let _ = write!(b, "{}:{}", std::net::Ipv6Addr::from(addr), port);
                }
                Some(SockAddr::Unix { path }) => b.extend_from_slice(path),
                _ => return false,
            },
            T::Socktuple => match SockTuple::decode(raw) {
                Some(SockTuple::Inet { sip, dip, sport, dport }) => {
                    let _ = write!(
                        b,
                        "{}:{}->{}:{}",
                        std::net::Ipv4Addr::from(sip),
                        sport,
                        std::net::Ipv4Addr::from(dip),
                        dport
                    );
                }
                Some(SockTuple::Inet6 { sip, dip, sport, dport }) => {
                    let _ = write!(
                        b,
                        "{}:{}->{}:{}",
                        std::net::Ipv6Addr::from(sip),
                        sport,
                        std::net::Ipv6Addr::from(dip),
                        dport
                    );
                }
                Some(SockTuple::Unix { path, .. }) => b.extend_from_slice(path),
                _ => return false,
            },
            t if t.is_signed() => {
                let _ = write!(b, "{}", self.ev.param_i64(i).unwrap_or(0));
            }
            _ => match pinfo.fmt {
                harrier_event::PrintFormat::Hex => {
                    let _ = write!(b, "0x{:x}", self.ev.param_u64(i).unwrap_or(0));
                }
                harrier_event::PrintFormat::Oct => {
                    let _ = write!(b, "0{:o}", self.ev.param_u64(i).unwrap_or(0));
                }
                _ => match raw.len() {
                    1 | 2 | 4 | 8 => {
                        let _ = write!(b, "{}", self.ev.param_u64(i).unwrap_or(0));
                    }
                    _ => b.extend_from_slice(raw),
                },
            },
        }
        true
    }

    /// `evt.rawarg.NAME`: the parameter with its own type.
    fn raw_param(&self, i: usize, out: &mut Values) -> bool {
        let Some(pinfo) = self.ev.info().params.get(i) else { return false };
        let Some(raw) = self.ev.param(i) else { return false };
        use ParamType as T;
        match pinfo.ptype {
            T::Charbuf | T::Fspath | T::Fsrelpath => {
                out.push_str_bytes(raw.strip_suffix(&[0]).unwrap_or(raw))
            }
            T::Bytebuf | T::Sockaddr | T::Socktuple | T::Fdlist | T::Dyn => out.push_bytes(raw),
            t if t.is_signed() => out.push_int(self.ev.param_i64(i).unwrap_or(0)),
            _ => out.push_uint(self.ev.param_u64(i).unwrap_or(0)),
        }
        true
    }

    fn evt_arg(&self, arg: &FieldArg, out: &mut Values, raw: bool) -> bool {
        let idx = match arg {
            FieldArg::Index(i) => usize::try_from(*i).ok(),
            FieldArg::Key(k) => self.pi(k),
            FieldArg::None => None,
        };
        let Some(i) = idx else { return false };
        if i >= self.ev.nparams() {
            return false;
        }
        if raw {
            return self.raw_param(i, out);
        }
        let mut ok = true;
        out.push_str_with(|b| ok = self.render_param(i, b));
        if !ok {
            out.pop();
        }
        ok
    }

    fn open_flags(&self) -> Option<u32> {
        let name = self.ev.info().name;
        if !matches!(name, "open" | "openat" | "openat2" | "open_by_handle_at" | "creat") || !self.is_exit() {
            return None;
        }
        if name == "creat" {
            use harrier_event::consts::open_flags as of;
            // whether the file was created comes in `creat_flags` (newer captures, the probe)
            let created =
                self.pi("creat_flags").and_then(|i| self.ev.param_u32(i)).unwrap_or(0) & of::F_CREATED;
            return Some(of::CREAT | of::WRONLY | of::TRUNC | created);
        }
        self.ev.param_u32(self.pi("flags")?)
    }
}

/// What an event's fd is, for sysdig 0.29 compatibility.
#[derive(Clone, Copy)]
enum FdView<'a> {
    /// In the fd table.
    Known(i64, &'a FdInfo),
    /// Not in the table (`true`: on an exit event, where sysdig 0.29 shows an empty unknown fd).
    Unknown(i64, bool),
    /// The enter event of a syscall that creates an fd: the kind it will be (`fd.typechar`; 0 if none).
    Creator(u8),
    /// The exit event of an open that failed: `fd.name` is the path it tried, `fd.num` -1.
    FailedOpen,
}

/// `fd.typechar` sysdig 0.29 shows on the enter event of an fd-creating syscall.
/// What [`SyscallEvent::fd_view`] needs of an event type, computed once per id from the schema
/// (names compared once, not per event).
#[derive(Clone, Copy, Default)]
struct FdShape {
    /// No fd whatever the flags (`mmap`: its fd parameter is not the event's fd for sysdig).
    none: bool,
    creates: bool,
    uses: bool,
    /// The `fd` parameter.
    fd_param: Option<usize>,
    /// Exit events of fd creators: the parameter holding the new fd (`fd2` for pairs, else the
    /// first parameter when it is an fd or errno).
    new_fd_param: Option<usize>,
    typechar: u8,
    /// Of a failed open (Falco's view, see [`SyscallEvent::failed_open`]): its `fd.typechar`,
    /// 0 for every other event.
    failed_open: u8,
}

fn fd_shape(id: u16) -> FdShape {
    static TABLE: std::sync::OnceLock<Box<[FdShape]>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        harrier_event::all_events()
            .iter()
            .map(|info| FdShape {
                none: matches!(info.name, "mmap" | "mmap2"),
                creates: info.has_flag(ef::CREATES_FD),
                uses: info.has_flag(ef::USES_FD),
                fd_param: info.param_index("fd"),
                new_fd_param: match info.name {
                    "pipe" | "pipe2" | "socketpair" => info.param_index("fd2"),
                    _ => {
                        matches!(info.params.first().map(|p| p.ptype), Some(ParamType::Fd | ParamType::Errno))
                            .then_some(0)
                    }
                },
                typechar: creator_typechar(info.name),
                failed_open: if OPEN_FAMILY.contains(&info.name) {
                    failed_open_typechar(info.name) as u8
                } else {
                    0
                },
            })
            .collect()
    });
    // Ids outside the table: the schema's unknown entry has no flags.
    t.get(id as usize).copied().unwrap_or_default()
}

fn creator_typechar(name: &str) -> u8 {
    match name {
        "open" | "openat" | "openat2" | "creat" | "open_by_handle_at" => b'f',
        "socket" | "accept" | "accept4" => b'4',
        "socketpair" => b'u',
        "pipe" | "pipe2" => b'p',
        "eventfd" | "eventfd2" => b'e',
        "signalfd" | "signalfd4" => b's',
        "timerfd_create" => b't',
        "inotify_init" | "inotify_init1" => b'i',
        "epoll_create" | "epoll_create1" => b'l',
        _ => 0,
    }
}

/// `fd.directory` of a path with no descriptor behind it, as libsinsp cuts it: up to the last
/// `/` (the path itself when that is its last character; `/` when there is none or only the
/// leading one).
fn falco_dirname(name: &str) -> &str {
    match name.rfind('/') {
        None | Some(0) => "/",
        Some(i) if i + 1 < name.len() => &name[..i],
        Some(_) => name,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PathRole {
    Name,
    Source,
    Target,
}

#[derive(Clone, Copy)]
enum Side {
    Client,
    Server,
    Local,
    Remote,
}

fn push_opt_str(out: &mut Values, s: Option<&str>) -> bool {
    match s {
        Some(s) => {
            out.push_str(s);
            true
        }
        None => false,
    }
}

fn in_net(addr: IpAddr) -> IpAddr {
    addr
}

/// `fd.typechar` values as borrowed one-byte strings.
fn type_char_str(c: u8) -> &'static [u8] {
    const CHARS: &[u8] = b"fd46pueslitnbrmPo";
    match CHARS.iter().position(|&x| x == c) {
        Some(i) => &CHARS[i..i + 1],
        None => b"o",
    }
}

fn one_str(s: Option<&str>) -> One<'_> {
    match s {
        Some(s) => One::Value(Value::Str(s.as_bytes())),
        None => One::Absent,
    }
}

impl EventAccessor for SyscallEvent<'_> {
    fn event_type(&self) -> Option<u16> {
        Some(self.ev.etype())
    }

    /// Read only for generic events (as `Event::type_name` reads it).
    #[inline]
    fn generic_syscall(&self) -> Option<u16> {
        Some(self.ev.param_u16(0).unwrap_or(u16::MAX))
    }

    /// Borrowed values for the string fields rules test most (no copy into the value buffer).
    /// Must agree with [`EventAccessor::extract`]; sysdig-compatibility mode falls back for the
    /// fields whose extraction depends on it (the fd and container fields).
    #[inline]
    fn extract_one(&self, field: &BoundField) -> One<'_> {
        if field.arg != FieldArg::None {
            return One::Fallback;
        }
        // The client/server/local/remote address and port: one value each, read as `extract`
        // reads them (the same `ip_side`), in both modes.
        let ip = match field.id {
            F::FdCip | F::FdCport => Some(Side::Client),
            F::FdSip | F::FdSport => Some(Side::Server),
            F::FdLip | F::FdLport => Some(Side::Local),
            F::FdRip | F::FdRport => Some(Side::Remote),
            _ => None,
        };
        if let Some(side) = ip {
            let port = matches!(field.id, F::FdCport | F::FdSport | F::FdLport | F::FdRport);
            return match self.ip_side(side) {
                Some((_, p)) if port => One::Value(Value::Uint(p as u64)),
                Some((a, _)) => One::Value(Value::Ip(a)),
                None => One::Absent,
            };
        }
        if self.state.sysdig029
            && !matches!(field.id, F::EvtType | F::ProcName | F::ProcExe | F::ProcExepath | F::ProcPname)
        {
            return One::Fallback;
        }
        match field.id {
            F::EvtType => One::Value(Value::Str(self.ev.type_name().as_bytes())),
            F::ProcName => one_str(self.thread().map(|t| t.comm.as_str())),
            F::ProcExe => one_str(self.thread().map(|t| t.exe.as_str())),
            F::ProcExepath => one_str(self.thread().map(|t| t.exepath.as_str())),
            F::ProcPname => one_str(self.pname_parent().map(|t| t.comm.as_str())),
            F::FdName | F::FdDirectory | F::FdFilename | F::FdTypechar => {
                let Some(f) = self.fd() else {
                    // a failed open has some of them: its type from the event, the path forms
                    // built from the path argument by the full extraction
                    return match (self.failed_open(), field.id) {
                        (None, _) | (_, F::FdFilename) => One::Absent,
                        (Some(c), F::FdTypechar) => One::Value(Value::Str(type_char_str(c))),
                        (Some(_), _) => One::Fallback,
                    };
                };
                match field.id {
                    F::FdName => One::Value(Value::Str(f.name.as_bytes())),
                    F::FdDirectory => one_str(f.directory()),
                    F::FdFilename => one_str(f.filename()),
                    _ => One::Value(Value::Str(type_char_str(f.kind.type_char()))),
                }
            }
            F::ContainerId => one_str(self.container_id()),
            _ => One::Fallback,
        }
    }

    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        let ev = &self.ev;
        let info = ev.info();
        let arg = &field.arg;
        match field.id {
            // ---- evt ----
            F::EvtNum => out.push_uint(self.num),
            F::EvtTime => out.push_str(&format_time_hms(ev.ts(), 0)),
            F::EvtTimeS => out.push_str(&format_time_hms(ev.ts(), 0)[..8]),
            F::EvtTimeIso8601 => out.push_str(&format_time_iso8601(ev.ts(), 0)),
            F::EvtDatetime => {
                let s = format_time_iso8601(ev.ts(), 0);
                out.push_str_with(|b| {
                    b.extend_from_slice(&s.as_bytes()[..10]);
                    b.push(b' ');
                    b.extend_from_slice(&s.as_bytes()[11..29]);
                })
            }
            F::EvtDatetimeS => {
                let s = format_time_iso8601(ev.ts(), 0);
                out.push_str_with(|b| {
                    b.extend_from_slice(&s.as_bytes()[..10]);
                    b.push(b' ');
                    b.extend_from_slice(&s.as_bytes()[11..19]);
                })
            }
            F::EvtRawtime => out.push_uint(ev.ts()),
            F::EvtRawtimeS => out.push_uint(ev.ts() / 1_000_000_000),
            F::EvtRawtimeNs => out.push_uint(ev.ts() % 1_000_000_000),
            F::EvtReltime => out.push_uint(ev.ts().saturating_sub(self.state.first_ts)),
            F::EvtReltimeS => out.push_uint(ev.ts().saturating_sub(self.state.first_ts) / 1_000_000_000),
            F::EvtReltimeNs => out.push_uint(ev.ts().saturating_sub(self.state.first_ts) % 1_000_000_000),
            F::EvtDeltatime if self.prev_ts > 0 => out.push_uint(ev.ts().saturating_sub(self.prev_ts)),
            F::EvtSource => out.push_str("syscall"),
            F::EvtHostname => out.push_str(&self.state.hostname),
            F::EvtIsAsync => out.push_bool(false),
            F::EvtDir => out.push_str(if self.is_exit() { "<" } else { ">" }),
            F::EvtType => out.push_str(ev.type_name()),
            F::SyscallType if info.is_syscall() => out.push_str(ev.type_name()),
            F::EvtTypeIs => {
                let is = arg.key().is_some_and(|k| k == info.name);
                out.push_uint(is as u64)
            }
            F::EvtCategory => out.push_str(category_name(info.category)),
            F::EvtCpu => out.push_int(ev.cpu() as i64),
            F::EvtArgs => out.push_str_with(|b| {
                for i in 0..ev.nparams() {
                    let Some(p) = info.params.get(i) else { break };
                    if i > 0 {
                        b.push(b' ');
                    }
                    b.extend_from_slice(p.name.as_bytes());
                    b.push(b'=');
                    self.render_param(i, b);
                }
            }),
            F::EvtInfo => return self.extract(&BoundField::new(F::EvtArgs), out),
            F::EvtArg => return self.evt_arg(arg, out, false),
            F::EvtRawarg => return self.evt_arg(arg, out, true),
            F::EvtBuffer => {
                let Some(i) = self.pi("data") else { return false };
                let Some(d) = ev.param(i) else { return false };
                out.push_bytes(d)
            }
            F::EvtBuflen => {
                if !(info.has_flag(ef::READS_FROM_FD) || info.has_flag(ef::WRITES_TO_FD)) {
                    return false;
                }
                match self.res() {
                    Some(r) if r >= 0 => out.push_uint(r as u64),
                    _ => return false,
                }
            }
            F::EvtRes => match self.res() {
                Some(r) if r < 0 => match names::errno_name(-r) {
                    Some(n) => out.push_str(n),
                    None => out.push_str_with(|b| {
                        let _ = write!(b, "{r}");
                    }),
                },
                Some(_) => out.push_str("SUCCESS"),
                None => return false,
            },
            F::EvtRawres => match self.res() {
                Some(r) => out.push_int(r),
                None => return false,
            },
            // false, not absent, for events without a result (enter events included)
            F::EvtFailed => out.push_bool(self.res().is_some_and(|r| r < 0)),
            F::EvtIsIo => out.push_bool(info.has_flag(ef::READS_FROM_FD) || info.has_flag(ef::WRITES_TO_FD)),
            F::EvtIsIoRead => out.push_bool(info.has_flag(ef::READS_FROM_FD)),
            F::EvtIsIoWrite => out.push_bool(info.has_flag(ef::WRITES_TO_FD)),
            F::EvtIoDir => {
                if info.has_flag(ef::READS_FROM_FD) {
                    out.push_str("r")
                } else if info.has_flag(ef::WRITES_TO_FD) {
                    out.push_str("w")
                } else {
                    return false;
                }
            }
            F::EvtIsWait => out.push_bool(info.has_flag(ef::WAITS)),
            F::EvtCount => out.push_uint(1),
            F::EvtCountError => out.push_uint(self.res().is_some_and(|r| r < 0) as u64),
            F::EvtCountExit => out.push_uint(self.is_exit() as u64),
            F::EvtIsOpenRead | F::EvtIsOpenWrite | F::EvtIsOpenExec | F::EvtIsOpenCreate => {
                use harrier_event::consts::open_flags as of;
                let Some(fl) = self.open_flags() else {
                    out.push_bool(false);
                    return true;
                };
                let v = match field.id {
                    F::EvtIsOpenRead => fl & of::RDONLY != 0,
                    F::EvtIsOpenWrite => fl & of::WRONLY != 0,
                    F::EvtIsOpenCreate => fl & of::F_CREATED != 0,
                    _ => {
                        let mode = self.pi("mode").and_then(|i| ev.param_u32(i)).unwrap_or(0);
                        fl & (of::CREAT | of::TMPFILE) != 0 && mode & 0o111 != 0
                    }
                };
                out.push_bool(v)
            }
            F::EvtAbspath | F::FsPathName => match self.path_param(PathRole::Name) {
                Some((p, _)) => out.push_str(&p),
                None => return false,
            },
            F::FsPathNameraw => match self.path_param(PathRole::Name) {
                Some((_, raw)) => out.push_str(raw),
                None => return false,
            },
            F::EvtAbspathSrc | F::FsPathSource => match self.path_param(PathRole::Source) {
                Some((p, _)) => out.push_str(&p),
                None => return false,
            },
            F::FsPathSourceraw => match self.path_param(PathRole::Source) {
                Some((_, raw)) => out.push_str(raw),
                None => return false,
            },
            F::EvtAbspathDst | F::FsPathTarget => match self.path_param(PathRole::Target) {
                Some((p, _)) => out.push_str(&p),
                None => return false,
            },
            F::FsPathTargetraw => match self.path_param(PathRole::Target) {
                Some((_, raw)) => out.push_str(raw),
                None => return false,
            },

            // ---- process / thread ----
            F::ProcName => return push_opt_str(out, self.thread().map(|t| t.comm.as_str())),
            F::ProcExe => return push_opt_str(out, self.thread().map(|t| t.exe.as_str())),
            F::ProcExepath => return push_opt_str(out, self.thread().map(|t| t.exepath.as_str())),
            F::ProcArgs => {
                let Some(t) = self.thread() else { return false };
                out.push_str_with(|b| t.write_args(b))
            }
            F::ProcCmdline => {
                let Some(t) = self.thread() else { return false };
                out.push_str_with(|b| t.write_cmdline(b))
            }
            F::ProcExeline => {
                let Some(t) = self.thread() else { return false };
                out.push_str_with(|b| {
                    b.extend_from_slice(t.exe.as_bytes());
                    for a in &t.args {
                        b.push(b' ');
                        b.extend_from_slice(a.as_bytes());
                    }
                })
            }
            F::ProcCmdnargs => out.push_uint(self.thread().map(|t| t.args.len()).unwrap_or(0) as u64),
            F::ProcCmdlenargs => out.push_uint(
                self.thread().map(|t| t.args.iter().map(|a| a.len()).sum::<usize>()).unwrap_or(0) as u64,
            ),
            F::ProcPname => return push_opt_str(out, self.pname_parent().map(|t| t.comm.as_str())),
            F::ProcPexe => return push_opt_str(out, self.pname_parent().map(|t| t.exe.as_str())),
            F::ProcPexepath => return push_opt_str(out, self.parent().map(|t| t.exepath.as_str())),
            F::ProcPcmdline => {
                let Some(t) = self.pname_parent() else { return false };
                out.push_str_with(|b| t.write_cmdline(b))
            }
            F::ProcAname => {
                return self.ancestors_str(arg, out, |t, b| b.extend_from_slice(t.comm.as_bytes()))
            }
            F::ProcAexe => return self.ancestors_str(arg, out, |t, b| b.extend_from_slice(t.exe.as_bytes())),
            F::ProcAexepath => {
                return self.ancestors_str(arg, out, |t, b| b.extend_from_slice(t.exepath.as_bytes()))
            }
            F::ProcAcmdline => return self.ancestors_str(arg, out, |t, b| t.write_cmdline(b)),
            F::ProcApid => match arg.index() {
                Some(n) => match self.ancestor(n) {
                    Some(t) => out.push_int(t.pid),
                    None => return false,
                },
                None => {
                    let mut any = false;
                    for a in self.state.threads.ancestors(self.tid()) {
                        out.push_int(a.pid);
                        any = true;
                    }
                    return any;
                }
            },
            F::ProcEnv => {
                let Some(p) = self.process() else { return false };
                match arg.key() {
                    Some(k) => {
                        let v =
                            p.env.iter().find_map(|e| e.strip_prefix(k).and_then(|r| r.strip_prefix('=')));
                        return push_opt_str(out, v);
                    }
                    None => out.push_str_with(|b| {
                        for (i, e) in p.env.iter().enumerate() {
                            if i > 0 {
                                b.push(b' ');
                            }
                            b.extend_from_slice(e.as_bytes());
                        }
                    }),
                }
            }
            F::ProcCwd => {
                let Some(p) = self.process() else { return false };
                let cwd = if p.cwd.is_empty() { "/" } else { p.cwd.as_str() };
                out.push_str_with(|b| {
                    b.extend_from_slice(cwd.as_bytes());
                    if !cwd.ends_with('/') {
                        b.push(b'/');
                    }
                })
            }
            F::ProcTty => out.push_uint(self.thread().map(|t| t.tty as u64).unwrap_or(0)),
            F::ProcPid => return self.thread().map(|t| out.push_int(t.pid)).is_some(),
            // The parent's pid as the process records it, even when that process is unknown
            // (-1 for a process first seen in an event).
            F::ProcPpid => return self.process().map(|p| out.push_int(p.ptid)).is_some(),
            F::ProcVpid => return self.thread().map(|t| out.push_int(t.vpid)).is_some(),
            F::ProcPvpid => return self.parent().map(|t| out.push_int(t.vpid)).is_some(),
            F::ProcSid => return self.thread().map(|t| out.push_int(t.sid)).is_some(),
            F::ProcSname | F::ProcSidExe | F::ProcSidExepath => {
                let Some(t) = self.thread() else { return false };
                // The session leader is the nearest ancestor (or self) whose pid is the sid.
                let leader = std::iter::once(self.process())
                    .flatten()
                    .chain(self.state.threads.ancestors(self.tid()))
                    .find(|a| a.pid == t.sid);
                let Some(l) = leader else { return false };
                out.push_str(match field.id {
                    F::ProcSname => &l.comm,
                    F::ProcSidExe => &l.exe,
                    _ => &l.exepath,
                })
            }
            F::ProcVpgid => return self.thread().map(|t| out.push_int(t.vpgid)).is_some(),
            F::ProcVpgidName | F::ProcVpgidExe | F::ProcVpgidExepath => {
                let Some(t) = self.thread() else { return false };
                let leader = std::iter::once(self.process())
                    .flatten()
                    .chain(self.state.threads.ancestors(self.tid()))
                    .find(|a| a.vpid == t.vpgid);
                let Some(l) = leader else { return false };
                out.push_str(match field.id {
                    F::ProcVpgidName => &l.comm,
                    F::ProcVpgidExe => &l.exe,
                    _ => &l.exepath,
                })
            }
            F::ProcIsSidLeader => return self.thread().map(|t| out.push_bool(t.sid == t.pid)).is_some(),
            F::ProcIsVpgidLeader => return self.thread().map(|t| out.push_bool(t.vpgid == t.vpid)).is_some(),
            F::ProcDuration => match self.process().filter(|p| p.clone_ts > 0) {
                Some(p) => out.push_uint(ev.ts().saturating_sub(p.clone_ts)),
                None => return false,
            },
            F::ProcPpidDuration => match self.parent().filter(|p| p.clone_ts > 0) {
                Some(p) => out.push_uint(ev.ts().saturating_sub(p.clone_ts)),
                None => return false,
            },
            F::ProcPidTs => match self.process().filter(|p| p.clone_ts > 0) {
                Some(p) => out.push_uint(p.clone_ts),
                None => return false,
            },
            F::ProcPpidTs => match self.parent().filter(|p| p.clone_ts > 0) {
                Some(p) => out.push_uint(p.clone_ts),
                None => return false,
            },
            F::ProcIsExeWritable => return self.thread().map(|t| out.push_bool(t.exe_writable)).is_some(),
            F::ProcIsExeUpperLayer => {
                return self.thread().map(|t| out.push_bool(t.exe_upper_layer)).is_some()
            }
            F::ProcIsExeLowerLayer => {
                return self.thread().map(|t| out.push_bool(t.exe_lower_layer)).is_some()
            }
            F::ProcIsExeFromMemfd => return self.thread().map(|t| out.push_bool(t.exe_from_memfd)).is_some(),
            F::ProcExeIno => return self.thread().map(|t| out.push_int(t.exe_ino as i64)).is_some(),
            F::ProcExeInoCtime => return self.thread().map(|t| out.push_uint(t.exe_ino_ctime)).is_some(),
            F::ProcExeInoMtime => return self.thread().map(|t| out.push_uint(t.exe_ino_mtime)).is_some(),
            F::ProcExeInoCtimeDurationProcStart => match self.process() {
                Some(p) if p.clone_ts > 0 && p.exe_ino_ctime > 0 => {
                    out.push_uint(p.clone_ts.saturating_sub(p.exe_ino_ctime))
                }
                _ => return false,
            },
            F::ProcExeInoCtimeDurationPidnsStart => match self.process() {
                Some(p) if p.pidns_init_start_ts > 0 && p.exe_ino_ctime > 0 => {
                    out.push_uint(p.exe_ino_ctime.saturating_sub(p.pidns_init_start_ts))
                }
                _ => return false,
            },
            F::ProcPidnsInitStartTs => {
                return self.thread().map(|t| out.push_uint(t.pidns_init_start_ts)).is_some()
            }
            F::ThreadCapPermitted | F::ThreadCapInheritable | F::ThreadCapEffective => {
                let Some(t) = self.thread() else { return false };
                let set = match field.id {
                    F::ThreadCapPermitted => t.cap_permitted,
                    F::ThreadCapInheritable => t.cap_inheritable,
                    _ => t.cap_effective,
                };
                out.push_str_with(|b| names::write_caps(set, b))
            }
            F::ProcFdopencount => return self.process().map(|p| out.push_uint(p.fds.len() as u64)).is_some(),
            F::ProcFdlimit => return self.process().map(|p| out.push_int(p.fdlimit as i64)).is_some(),
            F::ProcVmsize | F::ThreadVmsize => {
                return self.process().map(|p| out.push_uint(p.vmsize_kb as u64)).is_some()
            }
            F::ProcVmrss | F::ThreadVmrss => {
                return self.process().map(|p| out.push_uint(p.vmrss_kb as u64)).is_some()
            }
            F::ProcVmswap => return self.process().map(|p| out.push_uint(p.vmswap_kb as u64)).is_some(),
            F::ProcStdinType
            | F::ProcStdoutType
            | F::ProcStderrType
            | F::ProcStdinName
            | F::ProcStdoutName
            | F::ProcStderrName => {
                let n = match field.id {
                    F::ProcStdinType | F::ProcStdinName => 0,
                    F::ProcStdoutType | F::ProcStdoutName => 1,
                    _ => 2,
                };
                let Some(f) = self.process().and_then(|p| p.fds.get(n)) else { return false };
                match field.id {
                    F::ProcStdinType | F::ProcStdoutType | F::ProcStderrType => {
                        out.push_str(f.kind.type_name())
                    }
                    _ => out.push_str(&f.name),
                }
            }
            F::ThreadTid => out.push_int(self.tid()),
            F::ThreadIsmain => return self.thread().map(|t| out.push_bool(t.tid == t.pid)).is_some(),
            F::ThreadVtid => return self.thread().map(|t| out.push_int(t.vtid)).is_some(),
            F::ThreadCgroups => {
                let Some(t) = self.thread() else { return false };
                out.push_str_with(|b| {
                    for (i, c) in t.cgroups.iter().enumerate() {
                        if i > 0 {
                            b.push(b' ');
                        }
                        b.extend_from_slice(c.as_bytes());
                    }
                })
            }
            F::ThreadCgroup => {
                let (Some(t), Some(k)) = (self.thread(), arg.key()) else { return false };
                let v = t.cgroups.iter().find_map(|c| c.strip_prefix(k).and_then(|r| r.strip_prefix('=')));
                return push_opt_str(out, v);
            }
            F::ProcNthreads => {
                let Some(p) = self.process() else { return false };
                out.push_uint(self.state.threads.live_threads_of(p.pid) as u64)
            }

            // ---- user / group ----
            F::UserUid => return self.thread().map(|t| out.push_uint(t.uid as u64)).is_some(),
            F::UserName | F::UserHomedir | F::UserShell => {
                let Some(t) = self.thread() else { return false };
                let u = self.state.user(t.uid);
                match field.id {
                    F::UserName => return push_opt_str(out, u.map(|u| u.name.as_str())),
                    F::UserHomedir => return push_opt_str(out, u.map(|u| u.home.as_str())),
                    _ => return push_opt_str(out, u.map(|u| u.shell.as_str())),
                }
            }
            F::UserLoginuid => {
                return self.thread().map(|t| out.push_int(t.loginuid as i32 as i64)).is_some()
            }
            F::UserLoginname => {
                let Some(t) = self.thread() else { return false };
                if t.loginuid == u32::MAX {
                    return false;
                }
                return push_opt_str(out, self.state.user(t.loginuid).map(|u| u.name.as_str()));
            }
            F::GroupGid => return self.thread().map(|t| out.push_uint(t.gid as u64)).is_some(),
            F::GroupName => {
                let Some(t) = self.thread() else { return false };
                return push_opt_str(out, self.state.groups.get(&t.gid).map(String::as_str));
            }

            // ---- fd ----
            F::FdNum => {
                return self.fd_num().or_else(|| self.failed_creator_num()).map(|n| out.push_int(n)).is_some()
            }
            F::FdTypechar | F::FdName | F::FdDirectory if self.state.sysdig029 => {
                match (self.fd_view(), field.id) {
                    (Some(FdView::Unknown(_, _)), F::FdTypechar) => out.push_str("o"),
                    (Some(FdView::Creator(c)), F::FdTypechar) if c != 0 => out.push_str_bytes(&[c]),
                    (Some(FdView::FailedOpen), F::FdTypechar) => out.push_str("f"),
                    (Some(FdView::FailedOpen), F::FdName) => match self.path_param(PathRole::Name) {
                        Some((p, _)) => out.push_str(&p),
                        None => return false,
                    },
                    (Some(FdView::Unknown(_, true)), F::FdName) => out.push_str(""),
                    (Some(FdView::Unknown(_, true)), F::FdDirectory) => out.push_str("/"),
                    (Some(FdView::Known(_, f)), F::FdTypechar) => out.push_str_bytes(&[f.kind.type_char()]),
                    (Some(FdView::Known(_, f)), F::FdName) => out.push_str(&f.name),
                    (Some(FdView::Known(_, f)), F::FdDirectory) => return push_opt_str(out, f.directory()),
                    _ => return false,
                }
            }
            F::FdUid => {
                let Some(n) = self.fd_num() else { return false };
                out.push_str_with(|b| {
                    let _ = write!(b, "{}{}", self.tid(), n);
                })
            }
            F::FdType => return self.fd().map(|f| out.push_str(f.kind.type_name())).is_some(),
            F::FdTypechar => match self.fd() {
                Some(f) => out.push_str_bytes(&[f.kind.type_char()]),
                None => return self.failed_open().map(|c| out.push_str_bytes(&[c])).is_some(),
            },
            F::FdName => match self.fd() {
                Some(f) => out.push_str(&f.name),
                None => return push_opt_str(out, self.failed_open_name(false).as_deref()),
            },
            F::FdNameraw => match self.fd() {
                Some(f) => out.push_str(if f.name_raw.is_empty() { &f.name } else { &f.name_raw }),
                None => return push_opt_str(out, self.failed_open_name(true).as_deref()),
            },
            F::FdDirectory => match self.fd() {
                Some(f) => return push_opt_str(out, f.directory()),
                None => return push_opt_str(out, self.failed_open_name(false).as_deref().map(falco_dirname)),
            },
            F::FdFilename => return push_opt_str(out, self.fd().and_then(|f| f.filename())),
            F::FdContainername | F::FdContainerdirectory => {
                let Some(c) = self.container_id() else { return false };
                let failed;
                let name = match (self.fd(), field.id) {
                    (Some(f), F::FdContainername) => Some(f.name.as_str()),
                    (Some(f), _) => f.directory(),
                    (None, id) => {
                        failed = self.failed_open_name(false);
                        let n = failed.as_deref();
                        if id == F::FdContainername {
                            n
                        } else {
                            n.map(falco_dirname)
                        }
                    }
                };
                let Some(name) = name else { return false };
                out.push_str_with(|b| {
                    b.extend_from_slice(c.as_bytes());
                    b.push(b':');
                    b.extend_from_slice(name.as_bytes());
                })
            }
            F::FdIp | F::FdNet => {
                let (Some(c), Some(s)) = (self.ip_side(Side::Client), self.ip_side(Side::Server)) else {
                    match self.ip_side(Side::Server) {
                        Some((ip, _)) => {
                            out.push_ip(in_net(ip));
                            return true;
                        }
                        None => return false,
                    }
                };
                out.push_ip(c.0);
                out.push_ip(s.0);
            }
            F::FdCip | F::FdCnet => {
                return self.ip_side(Side::Client).map(|(ip, _)| out.push_ip(ip)).is_some()
            }
            F::FdSip | F::FdSnet => {
                return self.ip_side(Side::Server).map(|(ip, _)| out.push_ip(ip)).is_some()
            }
            F::FdLip | F::FdLnet => {
                return self.ip_side(Side::Local).map(|(ip, _)| out.push_ip(ip)).is_some()
            }
            F::FdRip | F::FdRnet => {
                return self.ip_side(Side::Remote).map(|(ip, _)| out.push_ip(ip)).is_some()
            }
            F::FdPort => {
                let mut any = false;
                for side in [Side::Client, Side::Server] {
                    if let Some((_, p)) = self.ip_side(side) {
                        out.push_uint(p as u64);
                        any = true;
                    }
                }
                return any;
            }
            F::FdCport => return self.ip_side(Side::Client).map(|(_, p)| out.push_uint(p as u64)).is_some(),
            F::FdSport => return self.ip_side(Side::Server).map(|(_, p)| out.push_uint(p as u64)).is_some(),
            F::FdLport => return self.ip_side(Side::Local).map(|(_, p)| out.push_uint(p as u64)).is_some(),
            F::FdRport => return self.ip_side(Side::Remote).map(|(_, p)| out.push_uint(p as u64)).is_some(),
            F::FdL4proto => {
                let Some(f) = self.fd() else { return false };
                match f.tuple.filter(|_| f.kind.is_ip() && !self.unconnected_ip(f)) {
                    Some(t) => out.push_str(t.l4proto.name()),
                    None => return false,
                }
            }
            F::FdSockfamily => {
                let Some(f) = self.fd() else { return false };
                if f.kind.is_ip() {
                    out.push_str("ip")
                } else if f.kind == FdKind::UnixSock {
                    out.push_str("unix")
                } else {
                    return false;
                }
            }
            // false for fds that are not sockets (files, pipes…)
            F::FdIsServer => {
                let Some(f) = self.fd() else { return false };
                out.push_bool(f.kind.is_socket() && (f.is_client == Some(false) || self.unconnected_ip(f)))
            }
            F::FdConnected => {
                let Some(f) = self.fd() else { return false };
                if !f.kind.is_socket() {
                    return false;
                }
                out.push_bool(f.tuple.is_some_and(|t| t.dport != 0) || f.unix_path.is_some())
            }
            F::FdNameChanged => return self.fd().map(|f| out.push_bool(f.name_changed)).is_some(),
            F::FdDev => return self.fd().map(|f| out.push_int(f.dev as i64)).is_some(),
            F::FdDevMajor => return self.fd().map(|f| out.push_int((f.dev >> 20) as i64)).is_some(),
            F::FdDevMinor => return self.fd().map(|f| out.push_int((f.dev & 0xfffff) as i64)).is_some(),
            F::FdIno => return self.fd().map(|f| out.push_int(f.ino as i64)).is_some(),
            F::FdTypes => {
                let Some(p) = self.process() else { return false };
                match arg.index() {
                    Some(n) => match p.fds.get(n) {
                        Some(f) => out.push_str(f.kind.type_name()),
                        None => return false,
                    },
                    None => {
                        let mut kinds: Vec<&str> = p.fds.iter().map(|(_, f)| f.kind.type_name()).collect();
                        kinds.sort_unstable();
                        kinds.dedup();
                        for k in kinds {
                            out.push_str(k);
                        }
                    }
                }
            }

            // ---- container / k8s ----
            F::ContainerId
            | F::ContainerFullId
            | F::ContainerName
            | F::ContainerImage
            | F::ContainerImageRepository
            | F::ContainerImageTag
            | F::ContainerImageId
            | F::ContainerType
            | F::ContainerPrivileged
            | F::ContainerMounts
            | F::ContainerMountDest
            | F::ContainerMountSource
            | F::ContainerMount
            | F::ContainerMountMode
            | F::ContainerMountRdwr
            | F::ContainerMountPropagation
            | F::ContainerStartTs
            | F::ContainerDuration
            | F::ContainerLabel
            | F::ContainerLabels
            | F::K8sPodName
            | F::K8sNsName
            | F::K8sPodUid
            | F::K8sPodId
            | F::K8sPodLabel
            | F::K8sPodLabels
            | F::K8sContainerName => {
                let Some(t) = self.thread() else { return false };
                return container_field(field, &t.container_id, self.container(), ev.ts(), out)
                    .unwrap_or(false);
            }
            _ => return false,
        }
        true
    }
}

/// The `container.*` and `k8s.*` fields of a thread in container `container_id` (short id, empty
/// on the host) whose metadata is `c` (pending, partial or absent), for an event at `ts`. `None`
/// for other fields. Shared with the pipeline, which renders alerts again when metadata that was
/// pending arrives.
pub fn container_field(
    field: &BoundField,
    container_id: &str,
    c: Option<&ContainerInfo>,
    ts: u64,
    out: &mut Values,
) -> Option<bool> {
    let arg = &field.arg;
    let host = container_id.is_empty();
    let s = |f: fn(&ContainerInfo) -> &str| c.map(f).filter(|v| !v.is_empty());
    let label = |key: &str| c.and_then(|c| c.labels.iter().find(|(k, _)| k == key)).map(|(_, v)| v.as_str());
    let ok = match field.id {
        F::ContainerId => push_opt_str(out, Some(if host { "host" } else { container_id })),
        F::ContainerFullId => {
            if host {
                out.push_str("host")
            } else {
                out.push_str(c.map(|c| c.full_id.as_str()).filter(|v| !v.is_empty()).unwrap_or(container_id))
            }
            true
        }
        F::ContainerName => {
            if host {
                out.push_str("host");
                true
            } else {
                push_opt_str(out, s(|c| &c.name))
            }
        }
        F::ContainerImage => push_opt_str(out, s(|c| &c.image)),
        F::ContainerImageRepository => push_opt_str(out, s(|c| &c.image_repository)),
        F::ContainerImageTag => push_opt_str(out, s(|c| &c.image_tag)),
        F::ContainerImageId => push_opt_str(out, s(|c| &c.image_id)),
        F::ContainerType => push_opt_str(out, s(|c| &c.runtime)),
        F::ContainerPrivileged => match c.and_then(|c| c.privileged) {
            Some(p) => {
                out.push_bool(p);
                true
            }
            None => false,
        },
        F::ContainerMounts => match c {
            Some(c) => {
                out.push_str_with(|b| {
                    for (i, m) in c.mounts.iter().enumerate() {
                        if i > 0 {
                            b.push(b',');
                        }
                        b.extend_from_slice(m.as_bytes());
                    }
                });
                true
            }
            None => false,
        },
        F::ContainerMountDest
        | F::ContainerMountSource
        | F::ContainerMount
        | F::ContainerMountMode
        | F::ContainerMountRdwr
        | F::ContainerMountPropagation => match c {
            Some(c) => container_mount(c, field.id, arg, out),
            None => false,
        },
        F::ContainerStartTs => match c.filter(|c| c.start_ts > 0) {
            Some(c) => {
                out.push_uint(c.start_ts);
                true
            }
            None => false,
        },
        F::ContainerDuration => match c.filter(|c| c.start_ts > 0) {
            Some(c) => {
                out.push_uint(ts.saturating_sub(c.start_ts));
                true
            }
            None => false,
        },
        F::ContainerLabel => match arg.key() {
            Some(k) => push_opt_str(out, label(k)),
            None => false,
        },
        F::ContainerLabels => match c {
            Some(c) => {
                push_pairs(out, &c.labels);
                true
            }
            None => false,
        },
        // Kubernetes: what the runtime's metadata source found, else the kubelet's labels.
        F::K8sPodName => push_opt_str(out, s(|c| &c.pod_name).or_else(|| label("io.kubernetes.pod.name"))),
        F::K8sNsName => {
            push_opt_str(out, s(|c| &c.pod_namespace).or_else(|| label("io.kubernetes.pod.namespace")))
        }
        F::K8sContainerName => {
            push_opt_str(out, s(|c| &c.k8s_container_name).or_else(|| label("io.kubernetes.container.name")))
        }
        F::K8sPodUid | F::K8sPodId => {
            push_opt_str(out, label("io.kubernetes.pod.uid").or_else(|| s(|c| &c.pod_uid)))
        }
        F::K8sPodLabel => match arg.key() {
            Some(k) => push_opt_str(
                out,
                c.and_then(|c| c.pod_labels.iter().find(|(pk, _)| pk == k))
                    .map(|(_, v)| v.as_str())
                    .or_else(|| label(k)),
            ),
            None => false,
        },
        F::K8sPodLabels => match c.filter(|c| !c.pod_labels.is_empty()) {
            Some(c) => {
                push_pairs(out, &c.pod_labels);
                true
            }
            None => false,
        },
        _ => return None,
    };
    Some(ok)
}

fn push_pairs(out: &mut Values, pairs: &[(String, String)]) {
    out.push_str_with(|b| {
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            let _ = write!(b, "{k}:{v}");
        }
    })
}

/// `container.mount.*[arg]`: by index, or by path with glob characters (`/var/run/*`).
fn container_mount(c: &ContainerInfo, id: F, arg: &FieldArg, out: &mut Values) -> bool {
    // mounts are "source:dest:mode:rdwr:propagation"
    let parse = |m: &str| -> [String; 5] {
        let mut it = m.splitn(5, ':');
        std::array::from_fn(|_| it.next().unwrap_or("").to_string())
    };
    let mounts: Vec<[String; 5]> = c.mounts.iter().map(|m| parse(m)).collect();
    let found = match arg {
        FieldArg::Index(i) => usize::try_from(*i).ok().and_then(|i| mounts.get(i)),
        FieldArg::Key(k) => {
            // container.mount.dest[src] looks up by source; the others by destination… except
            // container.mount[src] and container.mount.source[dest].
            let by_source = matches!(id, F::ContainerMountDest | F::ContainerMount);
            mounts.iter().find(|m| {
                let target = if by_source { &m[0] } else { &m[1] };
                harrier_engine::glob::Glob::new(k.as_bytes(), false).matches(target.as_bytes())
            })
        }
        FieldArg::None => None,
    };
    let Some(m) = found else { return false };
    let v = match id {
        F::ContainerMountSource => m[0].clone(),
        F::ContainerMountDest => m[1].clone(),
        F::ContainerMountMode => m[2].clone(),
        F::ContainerMountRdwr => m[3].clone(),
        F::ContainerMountPropagation => m[4].clone(),
        _ => m.join(":"),
    };
    out.push_str(&v);
    true
}

fn category_name(cat: u32) -> &'static str {
    use harrier_event::cat as c;
    let table: [(u32, &str); 18] = [
        (c::FILE, "file"),
        (c::NET, "net"),
        (c::IPC, "ipc"),
        (c::MEMORY, "memory"),
        (c::PROCESS, "process"),
        (c::SLEEP, "sleep"),
        (c::SYSTEM, "system"),
        (c::SIGNAL, "signal"),
        (c::USER, "user"),
        (c::TIME, "time"),
        (c::IO_READ, "file"),
        (c::IO_WRITE, "file"),
        (c::IO_OTHER, "file"),
        (c::WAIT, "wait"),
        (c::SCHEDULER, "scheduler"),
        (c::INTERNAL, "internal"),
        (c::PLUGIN, "plugin"),
        (c::OTHER, "other"),
    ];
    table.iter().find(|(bit, _)| cat & bit != 0).map(|(_, n)| *n).unwrap_or("unknown")
}
