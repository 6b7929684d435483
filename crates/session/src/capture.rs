//! The kernel side: loads `bpf/session.bpf.c` (its own object) and turns its ring buffer records
//! into [`TermEvent`]s. See the object's header comment for what is captured and what never is.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::{BtfTracePoint, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};

static OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/session.bpf.o"));

/// Process names recorded when the configuration names none: the shells people type into.
pub const DEFAULT_SHELLS: &[&str] = &["bash", "sh", "dash", "ash", "busybox", "zsh", "ksh", "mksh", "fish"];

// ABI (bpf/session.h)
const SS_DATA: usize = 256;
const K_INPUT: u16 = 1;
const K_SECRET: u16 = 2;
const K_OUTPUT: u16 = 3;
const K_SIGINT: u16 = 4;
const K_EXIT: u16 = 5;
const K_SHELL: u16 = 6;
const K_GONE: u16 = 7;
const HDR: usize = 8 + 8 * 4 + 4 * 2 + 16;
const REC: usize = HDR + SS_DATA;

/// What happened on a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    /// Bytes the process read from its terminal (never a secret: see [`TermKind::Secret`]).
    Input(Vec<u8>),
    /// A read while the terminal was canonical without echo; only its length left the kernel.
    Secret(usize),
    /// What the process wrote right after it read a Tab (its completion).
    Output(Vec<u8>),
    /// SIGINT was sent to the process.
    Interrupt,
    /// The process exited.
    Exit,
}

/// One record from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermEvent {
    /// CLOCK_BOOTTIME nanoseconds.
    pub ts: u64,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// `/proc/PID/loginuid` (4294967295 when unset).
    pub loginuid: u32,
    /// The kernel audit session id (`/proc/PID/sessionid`, 4294967295 when unset).
    pub audit_session: u32,
    /// The terminal, `major << 20 | minor` (0 for interrupt and exit records).
    pub tty: u32,
    /// termios `c_lflag` at the time of the read.
    pub lflag: u32,
    pub comm: String,
    /// The read was longer than the kernel copies (4 KiB); the rest was dropped and counted.
    pub truncated: bool,
    /// Input of this process was dropped by the rate limit before this record.
    pub lost: bool,
    pub kind: TermKind,
}

/// Decode one ring buffer record; `None` for a malformed one.
pub fn decode(rec: &[u8]) -> Option<TermEvent> {
    if rec.len() < REC {
        return None;
    }
    let u32_at = |o: usize| u32::from_ne_bytes(rec[o..o + 4].try_into().unwrap());
    let u16_at = |o: usize| u16::from_ne_bytes(rec[o..o + 2].try_into().unwrap());
    let ts = u64::from_ne_bytes(rec[0..8].try_into().unwrap());
    let kind = u16_at(40);
    let len = u16_at(42) as usize;
    let flags = u16_at(46);
    let comm_raw = &rec[48..64];
    let comm_end = comm_raw.iter().position(|&b| b == 0).unwrap_or(16);
    let data = || rec[HDR..HDR + len.min(SS_DATA)].to_vec();
    let kind = match kind {
        K_INPUT => TermKind::Input(data()),
        K_SECRET => TermKind::Secret(len),
        K_OUTPUT => TermKind::Output(data()),
        K_SIGINT => TermKind::Interrupt,
        K_EXIT => TermKind::Exit,
        _ => return None,
    };
    Some(TermEvent {
        ts,
        pid: u32_at(8),
        tid: u32_at(12),
        ppid: u32_at(16),
        uid: u32_at(20),
        loginuid: u32_at(24),
        audit_session: u32_at(28),
        tty: u32_at(32),
        lflag: u32_at(36),
        comm: String::from_utf8_lossy(&comm_raw[..comm_end]).into_owned(),
        truncated: flags & 1 != 0,
        lost: flags & 2 != 0,
        kind,
    })
}

/// Kernel-side counters, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Records sent to userspace.
    pub sent: u64,
    /// Records lost because the ring buffer was full.
    pub ring_full: u64,
    /// Reads dropped by the per-process rate limit (terminal floods).
    pub rate_limited: u64,
    /// Secret reads withheld (only their length was sent).
    pub secrets: u64,
    /// Bytes cut from reads longer than 4 KiB.
    pub truncated_bytes: u64,
    /// Bytes let through over the rate limit because they were the first KiB of a line (a
    /// command typed or pasted during a flood; not dropped).
    pub graced_bytes: u64,
    /// Times the read/write tracepoints were attached (a shell with a terminal appeared while
    /// none was tracked).
    pub attaches: u64,
    /// Times they were detached (no shell with a terminal left for [`CaptureConfig::detach_after`]).
    pub detaches: u64,
    /// Shells with a terminal tracked now (at the time of the call).
    pub tracked_shells: u64,
    /// Longest time from a shell's exec to the tracepoints attached for it (microseconds): keys
    /// that shell read and returned from within this time were not seen.
    pub attach_latency_max_us: u64,
}

impl CaptureStats {
    /// Records lost (ring full or rate limited).
    pub fn dropped(&self) -> u64 {
        self.ring_full + self.rate_limited
    }
}

/// Capture settings.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// Process names (comm) whose terminal reads are recorded.
    pub shells: Vec<String>,
    /// Per-process byte budget per second of terminal input; over it records are dropped.
    pub rate_bytes_per_sec: u64,
    /// Ring buffer size in bytes (rounded up to a power of two).
    pub ring_bytes: u32,
    /// How long the read/write tracepoints stay attached after the last shell with a terminal
    /// is gone (so shells started and ended in a loop do not attach and detach each time).
    pub detach_after: Duration,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            shells: DEFAULT_SHELLS.iter().map(|s| s.to_string()).collect(),
            rate_bytes_per_sec: 64 * 1024,
            ring_bytes: 4 << 20,
            detach_after: Duration::from_secs(2),
        }
    }
}

/// Why the capture could not start.
#[derive(Debug)]
pub struct CaptureError(pub String);

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CaptureError {}

fn err_chain(what: &str, e: &dyn std::error::Error) -> CaptureError {
    let mut s = format!("{what}: {e}");
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(&format!(": {x}"));
        src = x.source();
    }
    CaptureError(s)
}

/// Most shell names the kernel filter holds.
pub const MAX_SHELLS: usize = 16;

/// The kernel's shell table: each name as the two native-endian words of its NUL-padded comm.
fn shell_table(names: &[String]) -> Result<([u64; MAX_SHELLS * 2], u32), CaptureError> {
    if names.len() > MAX_SHELLS {
        return Err(CaptureError(format!("at most {MAX_SHELLS} shell names (got {})", names.len())));
    }
    let mut t = [0u64; MAX_SHELLS * 2];
    for (i, n) in names.iter().enumerate() {
        let b = n.as_bytes();
        if b.is_empty() || b.len() > 15 || b.contains(&0) {
            return Err(CaptureError(format!(
                "shell name {n:?}: a process name is 1 to 15 bytes (the kernel's comm)"
            )));
        }
        let mut c = [0u8; 16];
        c[..b.len()].copy_from_slice(b);
        t[2 * i] = u64::from_ne_bytes(c[..8].try_into().unwrap());
        t[2 * i + 1] = u64::from_ne_bytes(c[8..].try_into().unwrap());
    }
    Ok((t, names.len() as u32))
}

/// The read and write tracepoints: attached only while a shell with a terminal exists.
const RW: [(&str, &str); 2] = [("ss_exit_read", "sys_exit_read"), ("ss_exit_write", "sys_exit_write")];

/// How often tracked shells are checked for still being alive (a shell the kernel could not
/// track, or one that ended between the start-up /proc scan and its entry in the kernel map).
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The loaded and attached programs. Dropping it detaches them.
///
/// The exec, exit and signal hooks are attached for the capture's whole life; the read and
/// write tracepoints only while at least one shell (a `shells` name) with a controlling terminal
/// exists, found by a /proc scan at [`Capture::open`] and by the exec hook afterwards, and for
/// [`CaptureConfig::detach_after`] after the last one is gone. An attached syscall tracepoint
/// makes every task on the host take the kernel's slower syscall path; with no terminal shell,
/// reads and writes pay nothing. A new shell's exec record wakes the consumer at once and the
/// tracepoints are attached before it returns to polling: a read the shell is already blocked in
/// when they attach is still seen at its exit (its arguments come from the registers saved at
/// entry), so everything typed at or after the shell's first prompt is recorded. What is not:
/// keys typed ahead before the shell started that it reads before the attach completes (the
/// window is [`CaptureStats::attach_latency_max_us`] after its exec; a shell that reads rc files
/// usually takes longer than that to reach its first read). Only the first shell after an idle
/// period has the window: while any terminal shell exists the tracepoints stay attached.
pub struct Capture {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    epoll: OwnedFd,
    malformed: u64,
    shells: Vec<String>,
    tracked: HashSet<u32>,
    links: Vec<TracePointLinkId>,
    empty_since: Option<Instant>,
    detach_after: Duration,
    last_sweep: Instant,
    attaches: u64,
    detaches: u64,
    attach_latency_max_us: u64,
}

/// The per-syscall tracepoints (`tracepoint/syscalls/*`) are attached through tracefs, which
/// some hosts do not mount (a fresh VM of the CI's kind had none): mount it at its usual place
/// when neither it nor the debugfs path is there. Root (or CAP_SYS_ADMIN) can; otherwise the
/// error says how.
fn ensure_tracefs() -> Result<(), CaptureError> {
    let mounted = |p: &str| std::path::Path::new(p).join("events").is_dir();
    if mounted("/sys/kernel/tracing") || mounted("/sys/kernel/debug/tracing") {
        return Ok(());
    }
    let (src, target, fstype) = (c"nodev", c"/sys/kernel/tracing", c"tracefs");
    // SAFETY: three NUL-terminated strings that outlive the call, no data argument.
    let r = unsafe { libc::mount(src.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        return Err(CaptureError(format!(
            "tracefs is not mounted and mounting it at /sys/kernel/tracing failed ({}); mount it \
             with `mount -t tracefs nodev /sys/kernel/tracing`",
            std::io::Error::last_os_error()
        )));
    }
    tracing::info!(
        "mounted tracefs at /sys/kernel/tracing (the session audit's syscall tracepoints need it)"
    );
    Ok(())
}

impl Capture {
    /// Load, verify and attach (needs root or CAP_BPF + CAP_PERFMON, and kernel BTF).
    pub fn open(cfg: &CaptureConfig) -> Result<Capture, CaptureError> {
        std::fs::metadata("/sys/kernel/btf/vmlinux")
            .map_err(|e| CaptureError(format!("kernel BTF /sys/kernel/btf/vmlinux: {e}")))?;
        let me = std::process::id();
        let ring = cfg.ring_bytes.max(4096).next_power_of_two();
        let (shells, nshells) = shell_table(&cfg.shells)?;
        let mut ebpf = EbpfLoader::new()
            .override_global("ss_shells", &shells, true)
            .override_global("ss_nshells", &nshells, true)
            .map_max_entries("ss_ring", ring)
            .override_global("ss_excl_tgid", &me, true)
            .override_global("ss_rate_bytes", &cfg.rate_bytes_per_sec.max(1), true)
            .load(OBJ)
            .map_err(|e| err_chain("load session.bpf.o", &e))?;
        let btf = Btf::from_sys_fs().map_err(|e| err_chain("kernel BTF", &e))?;
        ensure_tracefs()?;
        for (prog, tp) in RW {
            let p: &mut TracePoint = ebpf
                .program_mut(prog)
                .ok_or_else(|| CaptureError(format!("program {prog} missing")))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| err_chain(prog, &e))?;
            p.load().map_err(|e| err_chain(&format!("load tracepoint/syscalls/{tp}"), &e))?;
        }
        for (prog, tp) in [
            ("ss_signal", "signal_generate"),
            ("ss_exit", "sched_process_exit"),
            ("ss_exec", "sched_process_exec"),
        ] {
            let p: &mut BtfTracePoint = ebpf
                .program_mut(prog)
                .ok_or_else(|| CaptureError(format!("program {prog} missing")))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| err_chain(prog, &e))?;
            p.load(tp, &btf).map_err(|e| err_chain(&format!("load tp_btf/{tp}"), &e))?;
            p.attach().map_err(|e| err_chain(&format!("attach tp_btf/{tp}"), &e))?;
        }
        let ring = RingBuf::try_from(
            ebpf.take_map("ss_ring").ok_or_else(|| CaptureError("map ss_ring missing".into()))?,
        )
        .map_err(|e| err_chain("ss_ring", &e))?;
        // SAFETY: epoll_create1 takes no pointers; the result is checked before it is owned.
        let efd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if efd < 0 {
            return Err(CaptureError(format!("epoll_create1: {}", std::io::Error::last_os_error())));
        }
        // SAFETY: a fresh fd nobody else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(efd) };
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
        // SAFETY: valid fds and a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(efd, libc::EPOLL_CTL_ADD, ring.as_raw_fd(), &mut ev) } < 0 {
            return Err(CaptureError(format!("epoll_ctl: {}", std::io::Error::last_os_error())));
        }
        let mut cap = Capture {
            ebpf,
            ring,
            epoll,
            malformed: 0,
            shells: cfg.shells.clone(),
            tracked: HashSet::new(),
            links: Vec::new(),
            empty_since: None,
            detach_after: cfg.detach_after,
            last_sweep: Instant::now(),
            attaches: 0,
            detaches: 0,
            attach_latency_max_us: 0,
        };
        // the exec hook is attached: a shell started from now on is reported by it; the ones
        // already running are found here (one found by both is tracked once)
        for pid in terminal_shells(&cap.shells) {
            cap.track(pid);
        }
        cap.settle()?;
        Ok(cap)
    }

    /// Whether the read/write tracepoints are attached now.
    pub fn attached(&self) -> bool {
        !self.links.is_empty()
    }

    /// Whether `pid` is tracked as a shell with a terminal.
    pub fn tracks(&self, pid: u32) -> bool {
        self.tracked.contains(&pid)
    }

    fn track(&mut self, pid: u32) {
        if self.tracked.insert(pid) {
            if let Some(m) = self.ebpf.map_mut("ss_tracked") {
                if let Ok(mut m) = BpfHashMap::<_, u32, u8>::try_from(m) {
                    // full map: the sweep still finds its end
                    let _ = m.insert(pid, 1, 0);
                }
            }
        }
    }

    fn untrack(&mut self, pid: u32) {
        self.tracked.remove(&pid);
    }

    /// Attach when a shell is tracked; detach once none has been for `detach_after`.
    fn settle(&mut self) -> Result<(), CaptureError> {
        if !self.tracked.is_empty() {
            self.empty_since = None;
            if self.links.is_empty() {
                for (prog, tp) in RW {
                    let p: &mut TracePoint = self
                        .ebpf
                        .program_mut(prog)
                        .ok_or_else(|| CaptureError(format!("program {prog} missing")))?
                        .try_into()
                        .map_err(|e: aya::programs::ProgramError| err_chain(prog, &e))?;
                    let link = p
                        .attach("syscalls", tp)
                        .map_err(|e| err_chain(&format!("attach tracepoint/syscalls/{tp}"), &e))?;
                    self.links.push(link);
                }
                self.attaches += 1;
                tracing::debug!(
                    shells = self.tracked.len(),
                    "session capture: read/write tracepoints attached"
                );
            }
            return Ok(());
        }
        if self.links.is_empty() {
            return Ok(());
        }
        let since = *self.empty_since.get_or_insert_with(Instant::now);
        if since.elapsed() < self.detach_after {
            return Ok(());
        }
        for (i, link) in std::mem::take(&mut self.links).into_iter().enumerate() {
            let prog = RW[i].0;
            if let Some(Ok(p)) = self.ebpf.program_mut(prog).map(<&mut TracePoint>::try_from) {
                if let Err(e) = p.detach(link) {
                    tracing::warn!("session capture: detach {prog}: {e}");
                }
            }
        }
        self.detaches += 1;
        self.empty_since = None;
        tracing::debug!("session capture: no shell with a terminal left; read/write tracepoints detached");
        Ok(())
    }

    /// Forget tracked shells that are gone without an exit record (see [`SWEEP_EVERY`]).
    fn sweep(&mut self) {
        if self.last_sweep.elapsed() < SWEEP_EVERY || self.tracked.is_empty() {
            return;
        }
        self.last_sweep = Instant::now();
        let gone: Vec<u32> = self
            .tracked
            .iter()
            .copied()
            .filter(|&p| !std::path::Path::new(&format!("/proc/{p}")).exists())
            .collect();
        for p in gone {
            self.untrack(p);
            if let Some(m) = self.ebpf.map_mut("ss_tracked") {
                if let Ok(mut m) = BpfHashMap::<_, u32, u8>::try_from(m) {
                    let _ = m.remove(&p);
                }
            }
        }
    }

    /// Wait up to `timeout` for records, then hand every pending one to `f`. Returns how many.
    /// Also attaches or detaches the read/write tracepoints as shells with a terminal come and
    /// go (see [`Capture`]).
    pub fn poll(&mut self, timeout: Duration, f: &mut dyn FnMut(TermEvent)) -> Result<usize, CaptureError> {
        let mut n = self.drain(f)?;
        if n == 0 {
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: one valid epoll_event for the duration of the call.
            let rc = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut ev, 1, ms) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(CaptureError(format!("epoll_wait: {e}")));
                }
            }
            n = self.drain(f)?;
        }
        self.sweep();
        self.settle()?;
        Ok(n)
    }

    fn drain(&mut self, f: &mut dyn FnMut(TermEvent)) -> Result<usize, CaptureError> {
        let mut n = 0;
        loop {
            // (control kind, pid, decoded record), taken out of the ring before acting on it
            let (ctl, pid, ts, ev) = {
                let Some(item) = self.ring.next() else { break };
                if item.len() < REC {
                    (0, 0, 0, None)
                } else {
                    let kind = u16::from_ne_bytes([item[40], item[41]]);
                    let pid = u32::from_ne_bytes(item[8..12].try_into().unwrap());
                    let ts = u64::from_ne_bytes(item[0..8].try_into().unwrap());
                    match kind {
                        K_SHELL | K_GONE => (kind, pid, ts, None),
                        _ => (kind, pid, ts, decode(&item)),
                    }
                }
            };
            match (ctl, ev) {
                (K_SHELL, _) => {
                    self.track(pid);
                    // at once: the shell's first keys must not be read before this
                    let was = self.attached();
                    self.settle()?;
                    if !was && self.attached() {
                        let us = boottime_ns().saturating_sub(ts) / 1000;
                        self.attach_latency_max_us = self.attach_latency_max_us.max(us);
                    }
                }
                (K_GONE, _) => self.untrack(pid),
                (_, Some(ev)) => {
                    if ctl == K_EXIT {
                        self.untrack(pid);
                    }
                    f(ev);
                    n += 1;
                }
                (_, None) => self.malformed += 1,
            }
            if n >= 4096 {
                break;
            }
        }
        Ok(n)
    }

    /// Records that did not decode (never expected; counted, not fatal).
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Kernel counters, summed over CPUs.
    pub fn stats(&self) -> CaptureStats {
        let mut s = CaptureStats::default();
        let Some(map) = self.ebpf.map("ss_stats") else { return s };
        let Ok(arr) = PerCpuArray::<_, u64>::try_from(map) else { return s };
        let sum = |i: u32| arr.get(&i, 0).map(|v| v.iter().copied().sum::<u64>()).unwrap_or(0);
        s.sent = sum(0);
        s.ring_full = sum(1);
        s.rate_limited = sum(2);
        s.secrets = sum(3);
        s.truncated_bytes = sum(4);
        s.graced_bytes = sum(5);
        s.attaches = self.attaches;
        s.detaches = self.detaches;
        s.tracked_shells = self.tracked.len() as u64;
        s.attach_latency_max_us = self.attach_latency_max_us;
        s
    }
}

/// CLOCK_BOOTTIME in nanoseconds (the records' clock).
fn boottime_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Processes running now whose name is one of `shells` and that have a controlling terminal
/// (`/proc/PID/stat`'s tty_nr), as the exec hook would have found them.
fn terminal_shells(shells: &[String]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        if let Some((comm, tty)) = parse_stat(&stat) {
            if tty != 0 && shells.iter().any(|s| s == comm) {
                out.push(pid);
            }
        }
    }
    out
}

/// `(comm, tty_nr)` from a `/proc/PID/stat` line (the comm may hold spaces and parentheses).
fn parse_stat(stat: &str) -> Option<(&str, i64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    // after ") ": state ppid pgrp session tty_nr
    let tty = stat.get(close + 1..)?.split_whitespace().nth(4)?.parse().ok()?;
    Some((comm, tty))
}

/// `pts/3`, `tty1`, `ttyS0`, `console` for a `major << 20 | minor` device.
pub fn tty_name(dev: u32) -> String {
    let (major, minor) = (dev >> 20, dev & 0xfffff);
    match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        5 if minor == 1 => "console".into(),
        5 => "tty".into(),
        0 => String::new(),
        _ => format!("{major}:{minor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_table_checks_names() {
        let (t, n) = shell_table(&["bash".into(), "zsh".into()]).unwrap();
        assert_eq!(n, 2);
        assert_eq!(t[0], u64::from_ne_bytes(*b"bash\0\0\0\0"));
        assert_eq!(t[1], 0);
        assert!(shell_table(&["a-very-long-shell-name".into()]).is_err());
        assert!(shell_table(&vec!["sh".to_string(); 17]).is_err());
    }

    #[test]
    fn stat_lines() {
        let l = "4242 (ba sh) S 1 4242 4242 34816 4242 4194560 0 0";
        assert_eq!(parse_stat(l), Some(("ba sh", 34816)));
        assert_eq!(parse_stat("7 (a) b)) S 1 7 7 0 -1"), Some(("a) b)", 0)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S"), None);
    }

    #[test]
    fn tty_names() {
        assert_eq!(tty_name(136 << 20 | 3), "pts/3");
        assert_eq!(tty_name(137 << 20 | 1), "pts/257");
        assert_eq!(tty_name(4 << 20 | 1), "tty1");
        assert_eq!(tty_name(4 << 20 | 64), "ttyS0");
        assert_eq!(tty_name(5 << 20 | 1), "console");
    }

    #[test]
    fn decode_rejects_short_and_unknown() {
        assert!(decode(&[0u8; 10]).is_none());
        let mut r = vec![0u8; REC];
        r[40] = 99;
        assert!(decode(&r).is_none());
        r[40] = K_INPUT as u8;
        r[42] = 3;
        r[HDR..HDR + 3].copy_from_slice(b"ls\r");
        r[48..52].copy_from_slice(b"bash");
        r[8] = 7;
        let ev = decode(&r).unwrap();
        assert_eq!(ev.kind, TermKind::Input(b"ls\r".to_vec()));
        assert_eq!(ev.comm, "bash");
        assert_eq!(ev.pid, 7);
        // a length past the data area is clamped, not trusted
        r[42] = 0xff;
        r[43] = 0xff;
        assert!(matches!(decode(&r).unwrap().kind, TermKind::Input(d) if d.len() == SS_DATA));
    }
}
