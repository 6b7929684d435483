//! Kernel records → newest-schema exit events in the driver format.
//!
//! Parameters are filled by name from the event table: for each parameter of the event's newest
//! exit id, [`Converter`] computes a value from the record, and the value is encoded with the
//! width and kind the table gives (so a table change cannot silently shift parameters).

use crate::abi::spec::{FILE_RET, PROC};
use crate::abi::{self, ProcInfo, Record, SockInfo};
use crate::syscalls;
use harrier_event::{event_info, newest_exit_id, Event, EventBuf, ParamType};
use std::collections::HashMap;
use std::sync::OnceLock;

/// One parameter value before encoding.
enum Val<'a> {
    Int(i64),
    Str(&'a [u8]),
    Bytes(&'a [u8]),
    Owned(Vec<u8>),
    Empty,
}

/// What a successful exec's `sched_process_exec` told us, kept until the execve exit.
#[derive(Debug, Default)]
struct ExecInfo {
    old_tid: u32,
    filename: Vec<u8>,
}

/// Counters of the conversion.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConvertStats {
    pub records: u64,
    pub events: u64,
    /// Records that failed to parse or named an unknown syscall.
    pub malformed: u64,
}

/// Turns records into events. Reuses its buffers.
pub struct Converter {
    buf: EventBuf,
    /// Added to the kernel's CLOCK_BOOTTIME timestamps to get ns since the epoch.
    boot_offset: u64,
    pending_exec: HashMap<u32, ExecInfo>,
    scratch: Vec<u8>,
    scratch2: Vec<u8>,
    pub stats: ConvertStats,
}

impl Default for Converter {
    fn default() -> Self {
        Self::new()
    }
}

/// ns since the epoch minus CLOCK_BOOTTIME ns.
pub fn boot_offset_ns() -> u64 {
    fn now(clock: libc::clockid_t) -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes into the timespec we own.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
    now(libc::CLOCK_REALTIME).saturating_sub(now(libc::CLOCK_BOOTTIME))
}

impl Converter {
    pub fn new() -> Self {
        Converter {
            buf: EventBuf::new(),
            boot_offset: boot_offset_ns(),
            pending_exec: HashMap::new(),
            scratch: Vec::new(),
            scratch2: Vec::new(),
            stats: ConvertStats::default(),
        }
    }

    /// Convert one ring record; call `f` with each resulting event (zero, one or two).
    pub fn convert(&mut self, raw: &[u8], f: &mut dyn FnMut(&Event<'_>)) {
        self.stats.records += 1;
        let Some(r) = Record::parse(raw) else {
            self.stats.malformed += 1;
            return;
        };
        let ts = r.ts.wrapping_add(self.boot_offset);
        match r.kind {
            abi::K_EXEC => {
                let info = ExecInfo {
                    old_tid: r.old_tid().unwrap_or(r.tid),
                    filename: r.item(abi::T_FILENAME).map(abi::cut_nul).unwrap_or_default().to_vec(),
                };
                if self.pending_exec.len() > 4096 {
                    self.pending_exec.clear();
                }
                self.pending_exec.insert(r.tid, info);
            }
            abi::K_EXIT => {
                self.procexit(ts, r.tid, r.ret, r.args[0] as i64);
                self.emit(f);
            }
            abi::K_SYSCALL => {
                let Some(plan) = plans().get(r.nr as usize).and_then(Option::as_ref) else {
                    self.stats.malformed += 1;
                    return;
                };
                // A multithreaded exec: the caller's old thread id is gone; report it exited.
                let exec = if plan.is_exec && r.ret == 0 { self.pending_exec.remove(&r.tid) } else { None };
                if let Some(e) = exec.as_ref().filter(|e| e.old_tid != r.tid && e.old_tid != 0) {
                    self.procexit(ts, e.old_tid, 0, r.tid as i64);
                    self.emit(f);
                }
                if self.syscall(ts, &r, plan, exec.as_ref()) {
                    self.emit(f);
                } else {
                    self.stats.malformed += 1;
                }
            }
            // the batch timer's wake-up: not one of the kernel's event records
            abi::K_TICK => self.stats.records -= 1,
            _ => self.stats.malformed += 1,
        }
    }

    fn emit(&mut self, f: &mut dyn FnMut(&Event<'_>)) {
        match self.buf.finish() {
            Ok(ev) => {
                self.stats.events += 1;
                f(&ev);
            }
            Err(_) => self.stats.malformed += 1,
        }
    }

    fn procexit(&mut self, ts: u64, tid: u32, code: i64, reaper: i64) {
        let code = code as i32;
        self.buf.begin(ts, tid as u64, harrier_event::ids::PPME_PROCEXIT_1_E);
        self.buf
            .push_i64(code as i64)
            .push_i64(((code >> 8) & 0xff) as i64)
            .push_u8((code & 0x7f) as u8)
            .push_u8(((code & 0x80) != 0) as u8)
            .push_i64(reaper);
    }

    /// Build the exit event of a syscall record into `self.buf`.
    fn syscall(&mut self, ts: u64, r: &Record<'_>, plan: &Plan, exec: Option<&ExecInfo>) -> bool {
        // Derived values shared by several parameters (items only process events carry).
        let args_item = r.item(abi::T_ARGS).or_else(|| r.item(abi::T_ARGV_USER)).unwrap_or(&[]);
        let args_item = args_item.strip_suffix(&[0]).unwrap_or(args_item);
        let (exe, rest) = match args_item.iter().position(|&c| c == 0) {
            Some(i) => (&args_item[..i], &args_item[i + 1..]),
            None => (args_item, &[][..]),
        };
        match r.item(abi::T_CWD) {
            Some(c) => abi::join_components(c, &mut self.scratch),
            None => self.scratch.clear(),
        }
        match r.item(abi::T_EXEPATH) {
            Some(c) if !(plan.is_exec && r.ret != 0) => abi::join_components(c, &mut self.scratch2),
            _ => self.scratch2.clear(),
        }
        let x = Ctx {
            r,
            name: plan.name,
            ret: r.ret,
            proc_: r.proc_info(),
            exe,
            rest,
            cwd: &self.scratch,
            exepath: &self.scratch2,
            exec,
            boot_offset: self.boot_offset,
        };
        self.buf.begin(ts, r.tid as u64, plan.id);
        for (t, get) in &plan.params {
            push_val(&mut self.buf, *t, get(&x));
        }
        true
    }
}

/// What one parameter's value is computed from (resolved once per syscall, see [`plan_for`]).
type Getter = for<'c> fn(&'c Ctx<'c>) -> Val<'c>;

/// Helps closures coerce to [`Getter`].
fn g(f: Getter) -> Getter {
    f
}

/// One record being converted, with the values several parameters share.
struct Ctx<'a> {
    r: &'a Record<'a>,
    name: &'static str,
    ret: i64,
    proc_: Option<ProcInfo>,
    exe: &'a [u8],
    rest: &'a [u8],
    cwd: &'a [u8],
    exepath: &'a [u8],
    exec: Option<&'a ExecInfo>,
    boot_offset: u64,
}

impl Ctx<'_> {
    #[inline]
    fn a(&self, i: usize) -> u64 {
        self.r.args[i]
    }
    #[inline]
    fn ai(&self, i: usize) -> i64 {
        self.r.args[i] as i32 as i64
    }
}

/// The conversion of one syscall: its newest exit event and a getter per parameter, in order.
pub(crate) struct Plan {
    id: u16,
    name: &'static str,
    is_exec: bool,
    params: Vec<(ParamType, Getter)>,
}

/// Plans by syscall number, built once.
fn plans() -> &'static [Option<Plan>] {
    static PLANS: OnceLock<Vec<Option<Plan>>> = OnceLock::new();
    PLANS.get_or_init(|| {
        let mut v: Vec<Option<Plan>> = (0..abi::MAX_SYSCALLS).map(|_| None).collect();
        for s in syscalls::SYSCALLS {
            if let Some(slot) = v.get_mut(s.nr as usize) {
                *slot = plan_for(s.name, s.spec);
            }
        }
        for s in syscalls::generic() {
            if let Some(slot) = v.get_mut(s.nr as usize) {
                *slot = Some(generic_plan(s.name));
            }
        }
        v
    })
}

/// A syscall without an event of its own: `PPME_GENERIC_X` with the driver's code and the
/// native number.
fn generic_plan(name: &'static str) -> Plan {
    let params = vec![
        (ParamType::Syscallid, g(|x| Val::Int(syscalls::ppm_code(x.name).unwrap_or(0) as i64))),
        (ParamType::Uint16, g(|x| Val::Int(x.r.nr as i64))),
    ];
    Plan { id: harrier_event::ids::PPME_GENERIC_X, name, is_exec: false, params }
}

fn plan_for(name: &'static str, spec: u32) -> Option<Plan> {
    let id = newest_exit_id(name)?;
    let info = event_info(id)?;
    let has_res = info.params.iter().any(|p| p.name == "res");
    let params = info.params.iter().map(|p| (p.ptype, getter(name, p.name, has_res, spec))).collect();
    Some(Plan { id, name, is_exec: name.starts_with("execve"), params })
}

/// The getter of parameter `pname` of syscall `name`.
fn getter(name: &'static str, pname: &str, has_res: bool, spec: u32) -> Getter {
    match (name, pname) {
        (_, "res") => g(|x| Val::Int(x.ret)),
        // fd-creating events without `res`: the fd is the result
        (_, "fd") if !has_res => g(|x| Val::Int(x.ret)),
        ("mmap", "fd") => g(|x| Val::Int(x.ai(4))),
        (_, "fd") => g(|x| Val::Int(x.ai(0))),
        // process events
        (_, "exe") => g(|x| Val::Str(x.exe)),
        ("execve" | "execveat" | "clone" | "clone3" | "fork" | "vfork", "args") => g(|x| Val::Bytes(x.rest)),
        (_, "tid") if spec & PROC != 0 => g(|x| Val::Int(x.proc_.map_or(0, |p| p.tid as i64))),
        (_, "pid") if spec & PROC != 0 => g(|x| Val::Int(x.proc_.map_or(0, |p| p.pid as i64))),
        (_, "ptid") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.ptid as i64))),
        (_, "cwd") => g(|x| if x.cwd.is_empty() { Val::Bytes(&[]) } else { Val::Str(x.cwd) }),
        (_, "fdlimit") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.fdlimit as i64))),
        (_, "pgft_maj") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.pgft_maj as i64))),
        (_, "pgft_min") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.pgft_min as i64))),
        ("mmap" | "munmap" | "brk", "vm_size" | "vm_rss" | "vm_swap") => g(|_| Val::Empty),
        (_, "vm_size") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.vm_size as i64))),
        (_, "vm_rss") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.vm_rss as i64))),
        (_, "vm_swap") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.vm_swap as i64))),
        (_, "comm") => g(|x| match x.proc_ {
            Some(p) => Val::Owned(abi::cut_nul(&p.comm).to_vec()),
            None => Val::Empty,
        }),
        (_, "cgroups") => g(|x| Val::Owned(cgroups_param(x.r))),
        (_, "env") => {
            g(|x| Val::Bytes(x.r.item(abi::T_ENV).map(|e| e.strip_suffix(&[0]).unwrap_or(e)).unwrap_or(&[])))
        }
        (_, "tty") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.tty as i64))),
        (_, "vpgid") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.vpgid as i64))),
        ("execve" | "execveat", "pgid") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.pgid as i64))),
        (_, "loginuid") => g(|x| Val::Int(x.proc_.map_or(-1, |p| p.loginuid as i32 as i64))),
        ("execve" | "execveat", "flags") => g(|x| Val::Int(exe_flags(x.r, x.exepath) as i64)),
        ("clone" | "clone3" | "fork" | "vfork", "flags") => {
            g(|x| Val::Int(clone_flags_of(x.name, x.r) as i64))
        }
        ("capset", "cap_inheritable") => g(|x| Val::Int(x.r.creds().map_or(0, |c| c.cap_inh as i64))),
        ("capset", "cap_permitted") => g(|x| Val::Int(x.r.creds().map_or(0, |c| c.cap_perm as i64))),
        ("capset", "cap_effective") => g(|x| Val::Int(x.r.creds().map_or(0, |c| c.cap_eff as i64))),
        (_, "cap_inheritable") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.cap_inh as i64))),
        (_, "cap_permitted") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.cap_perm as i64))),
        (_, "cap_effective") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.cap_eff as i64))),
        (_, "exe_ino") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.exe_ino as i64))),
        (_, "exe_ino_ctime") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.exe_ctime as i64))),
        (_, "exe_ino_mtime") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.exe_mtime as i64))),
        ("execve" | "execveat" | "clone" | "clone3" | "fork" | "vfork", "uid") => {
            g(|x| Val::Int(x.proc_.map_or(0, |p| p.euid as i64)))
        }
        ("execve" | "execveat" | "clone" | "clone3" | "fork" | "vfork", "gid") => {
            g(|x| Val::Int(x.proc_.map_or(0, |p| p.egid as i64)))
        }
        (_, "trusted_exepath") => g(|x| if x.exepath.is_empty() { Val::Empty } else { Val::Str(x.exepath) }),
        ("execve", "filename") => g(|x| match x.exec {
            Some(e) => Val::Str(&e.filename),
            None => x.r.str_arg(0).map_or(Val::Empty, Val::Str),
        }),
        (_, "vtid") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.vtid as i64))),
        (_, "vpid") => g(|x| Val::Int(x.proc_.map_or(0, |p| p.vpid as i64))),
        (_, "pidns_init_start_ts") => {
            g(|x| Val::Int(x.proc_.map_or(0, |p| p.pidns_init_start.wrapping_add(x.boot_offset) as i64)))
        }
        // files
        ("open" | "creat", "name") => g(|x| x.r.str_arg(0).map_or(Val::Empty, Val::Str)),
        ("openat" | "openat2", "name") => g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str)),
        ("openat" | "openat2", "dirfd") => g(|x| Val::Int(x.ai(0))),
        ("open", "flags") => g(|x| Val::Int(open_flags_with_file(x.a(1) as u32, x.r) as i64)),
        ("openat", "flags") => g(|x| Val::Int(open_flags_with_file(x.a(2) as u32, x.r) as i64)),
        ("openat2", "flags") => {
            g(|x| Val::Int(open_flags_with_file(x.r.open_how().map_or(0, |h| h.0 as u32), x.r) as i64))
        }
        ("open", "mode") => g(|x| Val::Int(open_mode(x.a(1) as u32, x.a(2)) as i64)),
        ("openat", "mode") => g(|x| Val::Int(open_mode(x.a(2) as u32, x.a(3)) as i64)),
        ("openat2", "mode") => g(|x| {
            let (fl, mode, _) = x.r.open_how().unwrap_or_default();
            Val::Int(open_mode(fl as u32, mode) as i64)
        }),
        ("openat2", "resolve") => g(|x| Val::Int(x.r.open_how().map_or(0, |h| h.2 as i64))),
        ("creat", "mode") => g(|x| Val::Int((x.a(1) & 0o7777) as i64)),
        ("creat", "creat_flags") => g(|x| {
            Val::Int(x.r.file().map_or(0, |f| if f.f_mode & FMODE_CREATED != 0 { 1 << 14 } else { 0 }) as i64)
        }),
        (_, "dev") if spec & FILE_RET != 0 || name.starts_with("open") || name == "creat" => {
            g(|x| Val::Int(x.r.file().map_or(0, |f| f.dev as i64)))
        }
        (_, "ino") if name.starts_with("pipe") => g(|x| Val::Int(x.r.fdpair().map_or(0, |p| p.2 as i64))),
        (_, "ino") => g(|x| Val::Int(x.r.file().map_or(0, |f| f.ino as i64))),
        ("dup" | "dup2" | "dup3", "oldfd") => g(|x| Val::Int(x.ai(0))),
        ("dup2" | "dup3", "newfd") => g(|x| Val::Int(x.ai(1))),
        ("dup3", "flags") => g(|x| Val::Int(open_flags(x.a(2) as u32) as i64 & CLOEXEC as i64)),
        ("fcntl", "cmd") => g(|x| Val::Int(fcntl_cmd(x.a(1) as u32) as i64)),
        ("fcntl", "arg") => g(|x| Val::Int(x.a(2) as i64)),
        ("pipe" | "pipe2" | "socketpair", "fd1") => g(|x| Val::Int(x.r.fdpair().map_or(-1, |p| p.0 as i64))),
        ("pipe" | "pipe2" | "socketpair", "fd2") => g(|x| Val::Int(x.r.fdpair().map_or(-1, |p| p.1 as i64))),
        ("pipe2", "flags") => g(|x| Val::Int(open_flags(x.a(1) as u32) as i64)),
        ("chdir" | "chroot" | "unlink" | "rmdir" | "mkdir", "path") => {
            g(|x| x.r.str_arg(0).map_or(Val::Empty, Val::Str))
        }
        ("mkdir", "mode") => g(|x| Val::Int((x.a(1) & 0o7777) as i64)),
        ("mkdirat", "dirfd") | ("unlinkat", "dirfd") | ("fchmodat", "dirfd") => g(|x| Val::Int(x.ai(0))),
        ("mkdirat", "path") => g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str)),
        ("mkdirat", "mode") => g(|x| Val::Int((x.a(2) & 0o7777) as i64)),
        ("unlinkat", "name") => g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str)),
        ("unlinkat", "flags") => g(|x| Val::Int((x.a(2) & 0x200) as i64)),
        ("rename" | "link", "oldpath") => g(|x| x.r.str_arg(0).map_or(Val::Empty, Val::Str)),
        ("rename" | "link", "newpath") => g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str)),
        ("renameat" | "renameat2", "olddirfd") | ("linkat", "olddir") => g(|x| Val::Int(x.ai(0))),
        ("renameat" | "renameat2" | "linkat", "oldpath") => {
            g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str))
        }
        ("renameat" | "renameat2", "newdirfd") | ("linkat", "newdir") => g(|x| Val::Int(x.ai(2))),
        ("renameat" | "renameat2" | "linkat", "newpath") => {
            g(|x| x.r.str_arg(3).map_or(Val::Empty, Val::Str))
        }
        ("renameat2", "flags") => g(|x| Val::Int((x.a(4) & 7) as i64)),
        ("linkat", "flags") => g(|x| Val::Int((x.a(4) & 0x1400) as i64)),
        ("symlink" | "symlinkat", "target") => g(|x| x.r.str_arg(0).map_or(Val::Empty, Val::Str)),
        ("symlink", "linkpath") => g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str)),
        ("symlinkat", "linkdirfd") => g(|x| Val::Int(x.ai(1))),
        ("symlinkat", "linkpath") => g(|x| x.r.str_arg(2).map_or(Val::Empty, Val::Str)),
        ("chmod", "filename") => g(|x| x.r.str_arg(0).map_or(Val::Empty, Val::Str)),
        ("chmod" | "fchmod", "mode") => g(|x| Val::Int((x.a(1) & 0o7777) as i64)),
        ("fchmodat", "filename") => g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str)),
        ("fchmodat", "mode") => g(|x| Val::Int((x.a(2) & 0o7777) as i64)),
        ("mount", "dev") => g(|x| x.r.str_arg(0).map_or(Val::Empty, Val::Str)),
        ("mount", "dir") => g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str)),
        ("mount", "type") => g(|x| x.r.str_arg(2).map_or(Val::Empty, Val::Str)),
        ("mount", "flags") => g(|x| {
            let mut fl = x.a(3) as u32;
            if fl & 0xffff_0000 == 0xc0ed_0000 {
                fl &= 0xffff;
            }
            Val::Int(fl as i64)
        }),
        ("umount2", "name") => g(|x| x.r.str_arg(0).map_or(Val::Empty, Val::Str)),
        ("umount2", "flags") => g(|x| Val::Int((x.a(1) & 0xf) as i64)),
        ("memfd_create", "name") => g(|x| x.r.str_arg(0).map_or(Val::Empty, Val::Str)),
        ("memfd_create", "flags") => g(|x| Val::Int((x.a(1) & 0x1f) as i64)),
        ("eventfd2", "flags") | ("epoll_create1", "flags") | ("inotify_init1", "flags") => {
            g(|x| Val::Int(x.a(if x.name == "eventfd2" { 1 } else { 0 }) as i64))
        }
        ("eventfd2", "initval") => g(|x| Val::Int(x.a(0) as i64)),
        ("signalfd4", "mask") => g(|x| Val::Int(x.a(1) as i64)),
        ("signalfd4", "flags") => g(|x| Val::Int(x.a(3) as i64)),
        ("timerfd_create", "clockid") => g(|x| Val::Int(x.a(0) as i64)),
        ("timerfd_create", "flags") => g(|x| Val::Int(x.a(1) as i64)),
        ("pidfd_open", "pid") => g(|x| Val::Int(x.ai(0))),
        ("pidfd_open", "flags") => g(|x| Val::Int(x.a(1) as i64)),
        ("userfaultfd", "flags") => g(|x| Val::Int(open_flags(x.a(0) as u32) as i64)),
        // network
        ("socket" | "socketpair", "domain") => g(|x| Val::Int(x.a(0) as i64)),
        ("socket" | "socketpair", "type") => g(|x| Val::Int(x.a(1) as i64)),
        ("socket" | "socketpair", "proto") => g(|x| Val::Int(x.a(2) as i64)),
        ("socket", "flags") => g(|_| Val::Int(0)),
        ("socketpair", "source") => g(|x| Val::Int(x.r.sock().map_or(0, |s| s.sk as i64))),
        ("socketpair", "peer") => g(|x| Val::Int(x.r.sock().map_or(0, |s| s.peer as i64))),
        ("bind" | "connect", "addr") => g(|x| match x.r.item(abi::T_SOCKADDR).and_then(sockaddr_param) {
            Some(v) => Val::Owned(v),
            None => Val::Empty,
        }),
        ("connect" | "sendto" | "sendmsg" | "recvfrom" | "recvmsg", "tuple") => {
            g(|x| match tuple_param(x.r, false) {
                Some(v) => Val::Owned(v),
                None => Val::Empty,
            })
        }
        ("accept" | "accept4", "tuple") => g(|x| match tuple_param(x.r, true) {
            Some(v) => Val::Owned(v),
            None => Val::Empty,
        }),
        ("accept" | "accept4", "queuepct" | "queuelen" | "queuemax") => g(|_| Val::Int(0)),
        ("accept4", "flags") => g(|x| Val::Int(x.a(3) as i64)),
        ("listen", "backlog") => g(|x| Val::Int(x.ai(1))),
        ("sendto" | "recvfrom" | "sendmsg" | "recvmsg", "data") => {
            g(|x| x.r.item(abi::T_DATA).map_or(Val::Empty, Val::Bytes))
        }
        ("sendto" | "recvfrom", "size") => g(|x| Val::Int(x.a(2) as i64)),
        ("sendmsg" | "recvmsg", "size") => g(|x| Val::Int(if x.ret > 0 { x.ret } else { 0 })),
        ("recvmsg", "msgcontrol") => g(|_| Val::Empty),
        // credentials
        ("setuid", "uid") | ("setgid", "gid") => g(|x| Val::Int(x.a(0) as u32 as i64)),
        ("setresuid", "ruid") | ("setresgid", "rgid") | ("setreuid", "ruid") | ("setregid", "rgid") => {
            g(|x| Val::Int(x.a(0) as u32 as i64))
        }
        ("setresuid", "euid") | ("setresgid", "egid") | ("setreuid", "euid") | ("setregid", "egid") => {
            g(|x| Val::Int(x.a(1) as u32 as i64))
        }
        ("setresuid", "suid") | ("setresgid", "sgid") => g(|x| Val::Int(x.a(2) as u32 as i64)),
        // other
        ("ptrace", "request") => g(|x| Val::Int(ptrace_request(x.a(0) as u32) as i64)),
        ("ptrace", "pid") => g(|x| Val::Int(x.ai(1))),
        ("ptrace", "addr") => g(|x| Val::Owned(dyn_u64(x.a(2)))),
        ("ptrace", "data") => g(|x| Val::Owned(dyn_u64(x.a(3)))),
        ("setns", "nstype") => g(|x| Val::Int(clone_flags(x.a(1)) as i64)),
        ("unshare", "flags") => g(|x| Val::Int(clone_flags(x.a(0)) as i64)),
        ("kill", "pid") | ("tgkill", "pid") => g(|x| Val::Int(x.ai(0))),
        ("tkill", "tid") => g(|x| Val::Int(x.ai(0))),
        ("tgkill", "tid") => g(|x| Val::Int(x.ai(1))),
        ("kill" | "tkill", "sig") => g(|x| Val::Int(x.a(1) as i64)),
        ("tgkill", "sig") => g(|x| Val::Int(x.a(2) as i64)),
        ("prctl", "option") => g(|x| Val::Int(x.a(0) as i64)),
        ("prctl", "arg2_str") => g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str)),
        ("prctl", "arg2_int") => g(|x| Val::Int(x.a(1) as i64)),
        ("bpf", "cmd") => g(|x| Val::Int(x.a(0) as i64)),
        ("init_module", "img") => g(|_| Val::Empty),
        ("init_module", "length") => g(|x| Val::Int(x.a(1) as i64)),
        ("init_module", "uargs") => g(|x| x.r.str_arg(2).map_or(Val::Empty, Val::Str)),
        ("finit_module", "uargs") => g(|x| x.r.str_arg(1).map_or(Val::Empty, Val::Str)),
        ("finit_module", "flags") => g(|x| Val::Int(x.a(2) as i64)),
        ("mmap" | "mprotect", "addr") => g(|x| Val::Int(x.a(0) as i64)),
        ("mmap" | "mprotect", "length") => g(|x| Val::Int(x.a(1) as i64)),
        ("mmap" | "mprotect", "prot") => g(|x| Val::Int(prot_flags(x.a(2) as u32) as i64)),
        ("mmap", "flags") => g(|x| Val::Int(mmap_flags(x.a(3) as u32) as i64)),
        ("mmap", "offset") => g(|x| Val::Int(x.a(5) as i64)),
        ("io_uring_setup", "entries") => g(|x| Val::Int(x.a(0) as i64)),
        ("io_uring_enter", "to_submit") => g(|x| Val::Int(x.a(1) as i64)),
        ("io_uring_enter", "min_complete") => g(|x| Val::Int(x.a(2) as i64)),
        ("io_uring_enter", "flags") => g(|x| Val::Int(x.a(3) as i64)),
        _ => g(|_| Val::Empty),
    }
}

fn push_val(buf: &mut EventBuf, t: ParamType, v: Val<'_>) {
    match v {
        Val::Empty => {
            buf.push_empty();
        }
        Val::Int(i) => match t.fixed_size() {
            Some(1) => {
                buf.push_u8(i as u8);
            }
            Some(2) => {
                buf.push_u16(i as u16);
            }
            Some(4) => {
                buf.push_u32(i as u32);
            }
            Some(8) => {
                buf.push_i64(i);
            }
            _ => {
                buf.push_empty();
            }
        },
        Val::Str(s) => {
            if t.is_string() {
                buf.push_cstr(abi::cut_nul(s));
            } else {
                buf.push(s);
            }
        }
        Val::Bytes(b) => {
            buf.push(b);
        }
        Val::Owned(b) => {
            if t.is_string() {
                buf.push_cstr(abi::cut_nul(&b));
            } else {
                buf.push(&b);
            }
        }
    }
}

const FMODE_CREATED: u32 = 0x0010_0000;
const CLOEXEC: u32 = harrier_event::consts::open_flags::CLOEXEC;

/// Linux `O_*` → `PPM_O_*`.
pub fn open_flags(fl: u32) -> u32 {
    use harrier_event::consts::open_flags as o;
    let mut r = match fl & 3 {
        0 => o::RDONLY,
        1 => o::WRONLY,
        2 => o::RDWR,
        _ => 0,
    };
    let map: [(u32, u32); 12] = [
        (libc::O_CREAT as u32, o::CREAT),
        (libc::O_APPEND as u32, o::APPEND),
        (libc::O_DSYNC as u32, o::DSYNC),
        (libc::O_EXCL as u32, o::EXCL),
        (libc::O_NONBLOCK as u32, o::NONBLOCK),
        (libc::O_TRUNC as u32, o::TRUNC),
        (libc::O_DIRECT as u32, o::DIRECT),
        (libc::O_DIRECTORY as u32, o::DIRECTORY),
        (0o100000, o::LARGEFILE),
        (libc::O_CLOEXEC as u32, o::CLOEXEC),
        (libc::O_SYNC as u32, o::SYNC),
        (libc::O_TMPFILE as u32, o::TMPFILE),
    ];
    for (l, p) in map {
        if fl & l == l {
            r |= p;
        }
    }
    r
}

/// Open flags plus what the kernel reported about the file: created, overlay layer.
fn open_flags_with_file(fl: u32, r: &Record<'_>) -> u32 {
    let mut f = open_flags(fl);
    if let Some(fi) = r.file() {
        if fi.f_mode & FMODE_CREATED != 0 {
            f |= harrier_event::consts::open_flags::F_CREATED;
        }
    }
    f
}

/// The mode argument only means something when the open may create a file.
fn open_mode(fl: u32, mode: u64) -> u32 {
    if fl & (libc::O_CREAT as u32) != 0 || fl & (libc::O_TMPFILE as u32) == libc::O_TMPFILE as u32 {
        (mode & 0o7777) as u32
    } else {
        0
    }
}

/// Linux `CLONE_*` → `PPM_CL_*`.
pub fn clone_flags(fl: u64) -> u32 {
    const MAP: [(u64, u32); 21] = [
        (0x400, 1 << 0),        // FILES
        (0x200, 1 << 1),        // FS
        (0x8000_0000, 1 << 2),  // IO
        (0x0800_0000, 1 << 3),  // NEWIPC
        (0x4000_0000, 1 << 4),  // NEWNET
        (0x0002_0000, 1 << 5),  // NEWNS
        (0x2000_0000, 1 << 6),  // NEWPID
        (0x0400_0000, 1 << 7),  // NEWUTS
        (0x8000, 1 << 8),       // PARENT
        (0x0010_0000, 1 << 9),  // PARENT_SETTID
        (0x2000, 1 << 10),      // PTRACE
        (0x800, 1 << 11),       // SIGHAND
        (0x0004_0000, 1 << 12), // SYSVSEM
        (0x0001_0000, 1 << 13), // THREAD
        (0x0080_0000, 1 << 14), // UNTRACED
        (0x100, 1 << 15),       // VM
        (0x1000_0000, 1 << 20), // NEWUSER
        (0x0020_0000, 1 << 23), // CHILD_CLEARTID
        (0x0100_0000, 1 << 24), // CHILD_SETTID
        (0x0008_0000, 1 << 25), // SETTLS
        (0x4000, 1 << 27),      // VFORK
    ];
    let mut r = 0;
    for (l, p) in MAP {
        if fl & l != 0 {
            r |= p;
        }
    }
    if fl & 0x0200_0000 != 0 {
        r |= 1 << 28; // NEWCGROUP
    }
    r
}

fn clone_flags_of(name: &str, r: &Record<'_>) -> u32 {
    let mut f = match name {
        "clone" => clone_flags(r.args[0]),
        "clone3" => clone_flags(r.clone3_flags().unwrap_or(0)),
        "vfork" => clone_flags(0x4000 | 0x100),
        _ => 0,
    };
    // The new task lives in a child pid namespace.
    if let Some(p) = r.proc_info() {
        if p.vtid != 0 && p.vtid != p.tid {
            f |= 1 << 29; // PPM_CL_CHILD_IN_PIDNS
        }
    }
    f
}

/// `PPM_EXE_*` flags of an exec.
const EXE_WRITABLE: u32 = 1 << 0;
const EXE_UPPER_LAYER: u32 = 1 << 1;
const EXE_FROM_MEMFD: u32 = 1 << 2;
const EXE_LOWER_LAYER: u32 = 1 << 3;

/// `PPM_EXE_*` flags of an exec: memfd from the executable's path and link count, overlayfs
/// layer and writability from what the kernel saw (`T_EXEINFO`, successful execs only).
fn exe_flags(r: &Record<'_>, exepath: &[u8]) -> u32 {
    let mut f = 0;
    if let Some(p) = r.proc_info() {
        let leaf = exepath.rsplit(|&c| c == b'/').next().unwrap_or(&[]);
        if p.exe_nlink == 0 && leaf.starts_with(b"memfd:") {
            f |= EXE_FROM_MEMFD;
        }
    }
    if let Some(x) = r.exe_info() {
        use abi::exeinfo;
        for (k, ppm) in [
            (exeinfo::WRITABLE, EXE_WRITABLE),
            (exeinfo::UPPER, EXE_UPPER_LAYER),
            (exeinfo::LOWER, EXE_LOWER_LAYER),
        ] {
            if x & k != 0 {
                f |= ppm;
            }
        }
    }
    f
}

fn fcntl_cmd(c: u32) -> u8 {
    match c {
        0 => 1,     // F_DUPFD
        1 => 2,     // F_GETFD
        2 => 3,     // F_SETFD
        3 => 4,     // F_GETFL
        4 => 5,     // F_SETFL
        5 => 6,     // F_GETLK
        6 => 8,     // F_SETLK
        7 => 9,     // F_SETLKW
        8 => 10,    // F_SETOWN
        9 => 12,    // F_GETOWN
        10 => 13,   // F_SETSIG
        11 => 15,   // F_GETSIG
        15 => 21,   // F_SETOWN_EX
        16 => 22,   // F_GETOWN_EX
        1024 => 23, // F_SETLEASE
        1025 => 24, // F_GETLEASE
        1029 => 25, // F_CANCELLK
        1030 => 26, // F_DUPFD_CLOEXEC
        1026 => 27, // F_NOTIFY
        1031 => 28, // F_SETPIPE_SZ
        1032 => 29, // F_GETPIPE_SZ
        36 => 30,   // F_OFD_GETLK
        37 => 31,   // F_OFD_SETLK
        38 => 32,   // F_OFD_SETLKW
        _ => 0,
    }
}

fn ptrace_request(r: u32) -> u16 {
    match r {
        0 => 1,       // TRACEME
        1 => 2,       // PEEKTEXT
        2 => 3,       // PEEKDATA
        3 => 4,       // PEEKUSR
        4 => 5,       // POKETEXT
        5 => 6,       // POKEDATA
        6 => 7,       // POKEUSR
        7 => 8,       // CONT
        8 => 9,       // KILL
        9 => 10,      // SINGLESTEP
        16 => 11,     // ATTACH
        17 => 12,     // DETACH
        24 => 13,     // SYSCALL
        0x4200 => 14, // SETOPTIONS
        0x4201 => 15, // GETEVENTMSG
        0x4202 => 16, // GETSIGINFO
        0x4203 => 17, // SETSIGINFO
        0x4204 => 18, // GETREGSET
        0x4205 => 19, // SETREGSET
        0x4206 => 20, // SEIZE
        0x4207 => 21, // INTERRUPT
        0x4208 => 22, // LISTEN
        0x4209 => 23, // PEEKSIGINFO
        0x420a => 24, // GETSIGMASK
        0x420b => 25, // SETSIGMASK
        12 => 26,     // GETREGS
        13 => 27,     // SETREGS
        14 => 28,     // GETFPREGS
        15 => 29,     // SETFPREGS
        18 => 30,     // GETFPXREGS
        19 => 31,     // SETFPXREGS
        21 => 32,     // OLDSETOPTIONS
        25 => 33,     // GET_THREAD_AREA
        26 => 34,     // SET_THREAD_AREA
        30 => 35,     // ARCH_PRCTL
        31 => 36,     // SYSEMU
        32 => 37,     // SYSEMU_SINGLESTEP
        33 => 38,     // SINGLEBLOCK
        _ => 0,
    }
}

/// A `PT_DYN` value of index 0 (u64).
fn dyn_u64(v: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(9);
    b.push(0);
    b.extend_from_slice(&v.to_le_bytes());
    b
}

fn prot_flags(p: u32) -> u32 {
    let mut r = p & 0xf; // READ WRITE EXEC SEM
    if p & 0x0100_0000 != 0 {
        r |= 1 << 4;
    }
    if p & 0x0200_0000 != 0 {
        r |= 1 << 5;
    }
    r
}

fn mmap_flags(f: u32) -> u32 {
    const MAP: [(u32, u32); 13] = [
        (0x01, 1 << 0),    // SHARED
        (0x02, 1 << 1),    // PRIVATE
        (0x10, 1 << 2),    // FIXED
        (0x20, 1 << 3),    // ANONYMOUS
        (0x40, 1 << 4),    // 32BIT
        (0x4000, 1 << 6),  // NORESERVE
        (0x8000, 1 << 7),  // POPULATE
        (0x10000, 1 << 8), // NONBLOCK
        (0x100, 1 << 9),   // GROWSDOWN
        (0x800, 1 << 10),  // DENYWRITE
        (0x1000, 1 << 11), // EXECUTABLE
        (0x2000, 1 << 14), // LOCKED
        (0x0004_0000, 0),  // HUGETLB (no PPM bit)
    ];
    let mut r = 0;
    for (l, p) in MAP {
        if f & l != 0 {
            r |= p;
        }
    }
    r
}

/// Linux `struct sockaddr` bytes → `PT_SOCKADDR`.
fn sockaddr_param(b: &[u8]) -> Option<Vec<u8>> {
    let fam = u16::from_le_bytes(b.get(0..2)?.try_into().ok()?);
    let mut v = Vec::with_capacity(20);
    match fam as i32 {
        libc::AF_INET => {
            v.push(2);
            v.extend_from_slice(b.get(4..8)?);
            v.extend_from_slice(&u16::from_be_bytes(b.get(2..4)?.try_into().ok()?).to_le_bytes());
        }
        libc::AF_INET6 => {
            v.push(10);
            v.extend_from_slice(b.get(8..24)?);
            v.extend_from_slice(&u16::from_be_bytes(b.get(2..4)?.try_into().ok()?).to_le_bytes());
        }
        libc::AF_UNIX => {
            v.push(1);
            let path = b.get(2..).unwrap_or(&[]);
            // abstract sockets start with a NUL: keep the name, as '@name' would be a guess
            let path = if path.first() == Some(&0) { &path[1..] } else { path };
            v.extend_from_slice(abi::cut_nul(path));
            v.push(0);
        }
        _ => {
            v.push(fam as u8);
        }
    }
    Some(v)
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&c| c == 0)
}

/// `PT_SOCKTUPLE` (`family, sip, sport, dip, dport`) with the client as source: local→remote,
/// or remote→local for accept. When the socket has no peer yet (a failed or non-blocking
/// connect, unconnected UDP), the remote end comes from the call's sockaddr.
fn tuple_param(r: &Record<'_>, accepted: bool) -> Option<Vec<u8>> {
    let s: SockInfo = r.sock()?;
    let mut v = Vec::with_capacity(40);
    let (mut raddr, mut rport) = (s.raddr, s.rport);
    let from_addr = r.item(abi::T_SOCKADDR).and_then(sockaddr_param);
    match s.family as i32 {
        libc::AF_INET => {
            if is_zero(&raddr[..4]) || rport == 0 {
                if let Some(sa) = from_addr.as_ref().filter(|a| a.first() == Some(&2) && a.len() >= 7) {
                    raddr[..4].copy_from_slice(&sa[1..5]);
                    rport = u16::from_le_bytes([sa[5], sa[6]]);
                }
            }
            let (l, r_) = ((&s.laddr[..4], s.lport), (&raddr[..4], rport));
            let (src, dst) = if accepted { (r_, l) } else { (l, r_) };
            v.push(2);
            v.extend_from_slice(src.0);
            v.extend_from_slice(&src.1.to_le_bytes());
            v.extend_from_slice(dst.0);
            v.extend_from_slice(&dst.1.to_le_bytes());
        }
        libc::AF_INET6 => {
            if is_zero(&raddr) || rport == 0 {
                if let Some(sa) = from_addr.as_ref().filter(|a| a.first() == Some(&10) && a.len() >= 19) {
                    raddr.copy_from_slice(&sa[1..17]);
                    rport = u16::from_le_bytes([sa[17], sa[18]]);
                }
            }
            let (l, r_) = ((&s.laddr[..], s.lport), (&raddr[..], rport));
            let (src, dst) = if accepted { (r_, l) } else { (l, r_) };
            v.push(10);
            v.extend_from_slice(src.0);
            v.extend_from_slice(&src.1.to_le_bytes());
            v.extend_from_slice(dst.0);
            v.extend_from_slice(&dst.1.to_le_bytes());
        }
        libc::AF_UNIX => {
            v.push(1);
            v.extend_from_slice(&s.sk.to_le_bytes());
            v.extend_from_slice(&s.peer.to_le_bytes());
            let path = r.item(abi::T_UNIXPATH).map(|p| if p.first() == Some(&0) { &p[1..] } else { p });
            let path = match path {
                Some(p) => abi::cut_nul(p).to_vec(),
                None => from_addr
                    .as_ref()
                    .filter(|a| a.first() == Some(&1))
                    .map(|a| abi::cut_nul(&a[1..]).to_vec())
                    .unwrap_or_default(),
            };
            v.extend_from_slice(&path);
            v.push(0);
        }
        _ => return None,
    }
    Some(v)
}

/// The `cgroups` parameter: `subsys=/path` entries, NUL separated.
fn cgroups_param(r: &Record<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    for item in r.cgroup_items() {
        let Some(i) = item.iter().position(|&c| c == 0) else { continue };
        let (name, comps) = (&item[..i], &item[i + 1..]);
        abi::join_components(comps, &mut path);
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(&path);
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_maps() {
        use harrier_event::consts::open_flags as o;
        assert_eq!(open_flags(0), o::RDONLY);
        assert_eq!(
            open_flags((libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u32),
            o::WRONLY | o::CREAT | o::TRUNC
        );
        assert_eq!(open_flags((libc::O_RDWR | libc::O_CLOEXEC) as u32), o::RDWR | o::CLOEXEC);
        assert_eq!(open_flags(libc::O_SYNC as u32), o::RDONLY | o::SYNC | o::DSYNC);
        assert_eq!(clone_flags(0x10000 | 0x100 | 0x800), (1 << 13) | (1 << 15) | (1 << 11));
        assert_eq!(fcntl_cmd(0), 1);
        assert_eq!(fcntl_cmd(1030), 26);
    }

    #[test]
    fn exe_info_bits_become_ppm_exe_flags() {
        let rec = |x: u32| {
            let mut b = vec![0u8; abi::HDR_LEN];
            b.extend_from_slice(&abi::T_EXEINFO.to_le_bytes());
            b.extend_from_slice(&4u16.to_le_bytes());
            b.extend_from_slice(&x.to_le_bytes());
            let len = b.len() as u32;
            b[16..20].copy_from_slice(&len.to_le_bytes());
            b
        };
        use abi::exeinfo::{LOWER, UPPER, WRITABLE};
        let flags = |x: u32| exe_flags(&Record::parse(&rec(x)).unwrap(), b"/bin/x");
        assert_eq!(flags(0), 0);
        assert_eq!(flags(UPPER), EXE_UPPER_LAYER);
        assert_eq!(flags(LOWER | WRITABLE), EXE_LOWER_LAYER | EXE_WRITABLE);
        // no item (failed exec, older probe): no layer claimed
        let mut b = vec![0u8; abi::HDR_LEN];
        b[16..20].copy_from_slice(&(abi::HDR_LEN as u32).to_le_bytes());
        assert_eq!(exe_flags(&Record::parse(&b).unwrap(), b"/bin/x"), 0);
    }

    #[test]
    fn sockaddr_encoding() {
        let mut sa = vec![2u8, 0, 0x1f, 0x90, 127, 0, 0, 1];
        sa.extend_from_slice(&[0; 8]);
        assert_eq!(sockaddr_param(&sa).unwrap(), vec![2, 127, 0, 0, 1, 0x90, 0x1f]);
        let mut un = vec![1u8, 0];
        un.extend_from_slice(b"/tmp/x\0");
        assert_eq!(sockaddr_param(&un).unwrap(), b"\x01/tmp/x\0".to_vec());
        assert!(sockaddr_param(&[1]).is_none());
    }

    #[test]
    fn garbage_never_panics() {
        let mut c = Converter::new();
        let mut n = 0;
        let mut seed = 0x1234_5678u64;
        for len in 0..600 {
            let mut b = vec![0u8; len];
            for x in b.iter_mut() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *x = (seed >> 33) as u8;
            }
            if len >= 24 {
                b[16..20].copy_from_slice(&(len as u32).to_le_bytes());
                b[20..22].copy_from_slice(&((len % 3) as u16 + 1).to_le_bytes());
                b[22..24].copy_from_slice(&(libc::SYS_openat as u16).to_le_bytes());
            }
            c.convert(&b, &mut |_| n += 1);
        }
        assert!(c.stats.malformed > 0);
    }
}
