//! Which syscalls the probe can report, what the kernel must capture for each, and the mapping
//! from event names (rules' `evt.type`s, state tracking) to syscall numbers (x86-64).

use crate::abi::spec::*;
use crate::abi::{C_FILE, C_NET, C_OTHER, C_PROC};

/// One supported syscall.
#[derive(Debug, Clone, Copy)]
pub struct Syscall {
    /// Event name in the schema (`openat`), which is also the syscall's name.
    pub name: &'static str,
    pub nr: u32,
    /// What the kernel captures (see `bpf/harrier.h`), without `ON` and the class.
    pub spec: u32,
    /// Drop-counter class.
    pub class: u32,
}

impl Syscall {
    /// The `hr_spec` map value.
    pub fn spec_word(&self) -> u32 {
        self.spec | ON | (self.class << CLASS_SHIFT)
    }
}

macro_rules! sc {
    ($name:literal, $nr:ident, $spec:expr, $class:expr) => {
        Syscall { name: $name, nr: libc::$nr as u32, spec: $spec, class: $class }
    };
}

/// Every syscall the probe knows how to turn into an event.
pub const SYSCALLS: &[Syscall] = &[
    // processes
    sc!("execve", SYS_execve, STR0 | PROC | EXEC, C_PROC),
    sc!("execveat", SYS_execveat, STR1 | PROC | EXEC, C_PROC),
    sc!("clone", SYS_clone, PROC, C_PROC),
    sc!("clone3", SYS_clone3, PROC | CLONE3, C_PROC),
    sc!("fork", SYS_fork, PROC, C_PROC),
    sc!("vfork", SYS_vfork, PROC, C_PROC),
    // files
    sc!("open", SYS_open, STR0 | FILE_RET, C_FILE),
    sc!("openat", SYS_openat, STR1 | FILE_RET, C_FILE),
    sc!("openat2", SYS_openat2, STR1 | FILE_RET | OPENHOW, C_FILE),
    sc!("creat", SYS_creat, STR0 | FILE_RET, C_FILE),
    sc!("close", SYS_close, 0, C_FILE),
    sc!("dup", SYS_dup, RET_FD, C_FILE),
    sc!("dup2", SYS_dup2, RET_FD, C_FILE),
    sc!("dup3", SYS_dup3, RET_FD, C_FILE),
    sc!("fcntl", SYS_fcntl, RET_FD, C_FILE),
    sc!("pipe", SYS_pipe, FDPAIR_A0, C_FILE),
    sc!("pipe2", SYS_pipe2, FDPAIR_A0, C_FILE),
    sc!("chdir", SYS_chdir, STR0, C_FILE),
    sc!("fchdir", SYS_fchdir, 0, C_FILE),
    sc!("chroot", SYS_chroot, STR0, C_FILE),
    sc!("rename", SYS_rename, STR0 | STR1, C_FILE),
    sc!("renameat", SYS_renameat, STR1 | STR3, C_FILE),
    sc!("renameat2", SYS_renameat2, STR1 | STR3, C_FILE),
    sc!("unlink", SYS_unlink, STR0, C_FILE),
    sc!("unlinkat", SYS_unlinkat, STR1, C_FILE),
    sc!("mkdir", SYS_mkdir, STR0, C_FILE),
    sc!("mkdirat", SYS_mkdirat, STR1, C_FILE),
    sc!("rmdir", SYS_rmdir, STR0, C_FILE),
    sc!("symlink", SYS_symlink, STR0 | STR1, C_FILE),
    sc!("symlinkat", SYS_symlinkat, STR0 | STR2, C_FILE),
    sc!("link", SYS_link, STR0 | STR1, C_FILE),
    sc!("linkat", SYS_linkat, STR1 | STR3, C_FILE),
    sc!("chmod", SYS_chmod, STR0, C_FILE),
    sc!("fchmod", SYS_fchmod, 0, C_FILE),
    sc!("fchmodat", SYS_fchmodat, STR1, C_FILE),
    sc!("mount", SYS_mount, STR0 | STR1 | STR2, C_FILE),
    sc!("umount2", SYS_umount2, STR0, C_FILE),
    sc!("memfd_create", SYS_memfd_create, STR0 | RET_FD, C_FILE),
    sc!("eventfd2", SYS_eventfd2, RET_FD, C_FILE),
    sc!("epoll_create1", SYS_epoll_create1, RET_FD, C_FILE),
    sc!("inotify_init1", SYS_inotify_init1, RET_FD, C_FILE),
    sc!("signalfd4", SYS_signalfd4, RET_FD, C_FILE),
    sc!("timerfd_create", SYS_timerfd_create, RET_FD, C_FILE),
    sc!("pidfd_open", SYS_pidfd_open, RET_FD, C_FILE),
    sc!("userfaultfd", SYS_userfaultfd, RET_FD, C_FILE),
    // network
    sc!("socket", SYS_socket, RET_FD, C_NET),
    sc!("socketpair", SYS_socketpair, FDPAIR_A3, C_NET),
    sc!("connect", SYS_connect, SOCK_A0 | SADDR_A1, C_NET),
    sc!("accept", SYS_accept, SOCK_RET, C_NET),
    sc!("accept4", SYS_accept4, SOCK_RET, C_NET),
    sc!("bind", SYS_bind, SADDR_A1, C_NET),
    sc!("listen", SYS_listen, 0, C_NET),
    sc!("sendto", SYS_sendto, SOCK_A0 | SADDR_A4 | DATA_A1, C_NET),
    sc!("sendmsg", SYS_sendmsg, SOCK_A0, C_NET),
    sc!("recvfrom", SYS_recvfrom, SOCK_A0 | DATA_A1, C_NET),
    sc!("recvmsg", SYS_recvmsg, SOCK_A0, C_NET),
    // credentials, namespaces, other
    sc!("setuid", SYS_setuid, 0, C_PROC),
    sc!("setgid", SYS_setgid, 0, C_PROC),
    sc!("setreuid", SYS_setreuid, 0, C_PROC),
    sc!("setregid", SYS_setregid, 0, C_PROC),
    sc!("setresuid", SYS_setresuid, 0, C_PROC),
    sc!("setresgid", SYS_setresgid, 0, C_PROC),
    sc!("capset", SYS_capset, CREDS, C_PROC),
    sc!("setsid", SYS_setsid, 0, C_PROC),
    sc!("ptrace", SYS_ptrace, 0, C_PROC),
    sc!("setns", SYS_setns, 0, C_PROC),
    sc!("unshare", SYS_unshare, 0, C_PROC),
    sc!("kill", SYS_kill, 0, C_PROC),
    sc!("tkill", SYS_tkill, 0, C_PROC),
    sc!("tgkill", SYS_tgkill, 0, C_PROC),
    sc!("prctl", SYS_prctl, PRCTL, C_PROC),
    sc!("bpf", SYS_bpf, 0, C_OTHER),
    sc!("init_module", SYS_init_module, STR2, C_OTHER),
    sc!("finit_module", SYS_finit_module, STR1, C_OTHER),
    sc!("mmap", SYS_mmap, PROT_EXEC, C_OTHER),
    sc!("mprotect", SYS_mprotect, PROT_EXEC, C_OTHER),
    sc!("io_uring_setup", SYS_io_uring_setup, 0, C_OTHER),
    sc!("io_uring_enter", SYS_io_uring_enter, 0, C_OTHER),
];

/// The event names state tracking needs whatever the rules say: process tree, fd table, cwd,
/// credentials.
pub const STATE_EVENTS: &[&str] = &[
    "execve",
    "execveat",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "pipe",
    "pipe2",
    "socket",
    "socketpair",
    "connect",
    "accept",
    "accept4",
    "bind",
    "chdir",
    "fchdir",
    "setuid",
    "setgid",
    "setresuid",
    "setresgid",
    "setreuid",
    "setregid",
    "capset",
    "setsid",
    "memfd_create",
    "eventfd2",
    "epoll_create1",
    "inotify_init1",
    "signalfd4",
    "timerfd_create",
    "pidfd_open",
    "userfaultfd",
    "io_uring_setup",
    "bpf",
];

/// The open syscalls: a failed one creates no descriptor and changes no state.
pub const OPEN_FAMILY: &[&str] = &["open", "openat", "openat2", "creat"];

/// Syscalls whose failed calls state tracking ignores (no descriptor created, closed or
/// copied): the pre-filter may drop their failures when no rule can match them.
pub const STATELESS_FAILURES: &[&str] =
    &["open", "openat", "openat2", "creat", "close", "dup", "dup2", "dup3", "fcntl"];

/// Index into [`SYSCALLS`] by syscall number (`u8::MAX`: not supported).
const BY_NR: [u8; crate::abi::MAX_SYSCALLS as usize] = {
    let mut t = [u8::MAX; crate::abi::MAX_SYSCALLS as usize];
    let mut i = 0;
    while i < SYSCALLS.len() {
        t[SYSCALLS[i].nr as usize] = i as u8;
        i += 1;
    }
    t
};

pub fn by_nr(nr: u32) -> Option<&'static Syscall> {
    let i = *BY_NR.get(nr as usize)?;
    SYSCALLS.get(i as usize)
}

pub fn by_name(name: &str) -> Option<&'static Syscall> {
    SYSCALLS.iter().find(|s| s.name == name).or_else(|| generic().iter().find(|s| s.name == name))
}

/// Syscalls reported as generic events (`PPME_GENERIC_X`: the driver's syscall code and the
/// native number, no parameters), as Falco's drivers report syscalls without an event of their
/// own: every x86-64 syscall that the driver names, that has no dedicated event in the schema
/// and no entry in [`SYSCALLS`]. The kernel side records them like any syscall (number, result,
/// arguments) and copies nothing else.
pub fn generic() -> &'static [Syscall] {
    static GENERIC: std::sync::OnceLock<Vec<Syscall>> = std::sync::OnceLock::new();
    GENERIC.get_or_init(|| {
        crate::sysnr::X86_64
            .iter()
            .filter(|(name, nr)| {
                *nr < crate::abi::MAX_SYSCALLS
                    && ppm_code(name).is_some()
                    && harrier_event::newest_exit_id(name).is_none()
                    && !SYSCALLS.iter().any(|s| s.name == *name || s.nr == *nr)
            })
            .map(|&(name, nr)| Syscall { name, nr, spec: 0, class: C_OTHER })
            .collect()
    })
}

/// Every syscall the probe can report: those with their own event, then the generic ones.
pub fn all() -> impl Iterator<Item = &'static Syscall> {
    SYSCALLS.iter().chain(generic().iter())
}

/// The driver's syscall code (`PPM_SC_*`) of a syscall name.
pub fn ppm_code(name: &str) -> Option<u16> {
    static CODES: std::sync::OnceLock<std::collections::HashMap<&'static str, u16>> =
        std::sync::OnceLock::new();
    CODES
        .get_or_init(|| {
            harrier_event::ppm_sc::PPM_SC_NAMES
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.is_empty())
                .map(|(i, n)| (*n, i as u16))
                .collect()
        })
        .get(name)
        .copied()
}

/// Event names that are not syscalls but are always reported (scheduler tracepoints).
pub const TRACEPOINT_EVENTS: &[&str] = &["procexit"];

/// Resolve event names to syscalls. Unknown names are returned in the second vector (the
/// tracepoint events and names of events the probe cannot produce).
pub fn resolve(names: &[&str]) -> (Vec<&'static Syscall>, Vec<String>) {
    let mut out: Vec<&'static Syscall> = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        // `umount` is reported through umount2 on x86-64.
        let n = if *n == "umount" { "umount2" } else { n };
        match by_name(n) {
            Some(s) => {
                if !out.iter().any(|o| o.nr == s.nr) {
                    out.push(s);
                }
            }
            None if TRACEPOINT_EVENTS.contains(&n) => {}
            None => unknown.push(n.to_string()),
        }
    }
    (out, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syscall_has_an_exit_event() {
        for s in SYSCALLS {
            assert!(harrier_event::newest_exit_id(s.name).is_some(), "{} has no exit event", s.name);
            assert!(s.nr < crate::abi::MAX_SYSCALLS);
        }
        for n in STATE_EVENTS {
            assert!(by_name(n).is_some(), "{n}");
        }
    }

    #[test]
    fn syscalls_without_an_event_are_generic() {
        let m = by_name("madvise").expect("madvise");
        assert_eq!((m.nr, m.spec), (libc::SYS_madvise as u32, 0));
        assert_eq!(ppm_code("madvise"), Some(139));
        // Syscalls with an event of their own are never generic, even without a handler.
        assert!(generic().iter().all(|s| harrier_event::newest_exit_id(s.name).is_none()));
        assert!(!generic().iter().any(|s| s.name == "read" || s.name == "openat"));
        let (s, u) = resolve(&["madvise", "openat"]);
        assert_eq!(s.iter().map(|s| s.name).collect::<Vec<_>>(), ["madvise", "openat"]);
        assert!(u.is_empty());
    }

    #[test]
    fn resolve_names() {
        let (s, u) = resolve(&["openat", "procexit", "umount", "nosuch", "openat"]);
        assert_eq!(s.iter().map(|s| s.name).collect::<Vec<_>>(), ["openat", "umount2"]);
        assert_eq!(u, ["nosuch"]);
    }
}
