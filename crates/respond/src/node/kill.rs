//! `node:kill`: signal a process through a pidfd, after checking that the pidfd refers to the
//! process the alert named (it started no later than the alert's event), so a recycled pid is
//! never hit. `scope: process_group | session` signals every member of the target's group or
//! session the same way, one pidfd each, skipping protected processes.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::safety::Protected;

/// Signal names accepted by `signal:` (with or without the `SIG` prefix).
pub fn signal_number(name: &str) -> Option<i32> {
    let n = name.trim().to_ascii_uppercase();
    let n = n.strip_prefix("SIG").unwrap_or(&n);
    Some(match n {
        "KILL" => libc::SIGKILL,
        "TERM" => libc::SIGTERM,
        "INT" => libc::SIGINT,
        "HUP" => libc::SIGHUP,
        "QUIT" => libc::SIGQUIT,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "ABRT" => libc::SIGABRT,
        _ => return None,
    })
}

/// Why a kill did not happen.
#[derive(Debug)]
pub enum KillError {
    /// The process is gone (exited, or its pid now belongs to a newer process).
    Gone(String),
    /// A protected process; never touched.
    Protected(String),
    Failed(String),
}

/// What the kill did.
#[derive(Debug, Default)]
pub struct Killed {
    pub signalled: Vec<u32>,
    pub skipped_protected: Vec<(u32, String)>,
    /// Time from sending the signal to the target's exit, when waited for.
    pub exited_after: Option<Duration>,
}

/// Process facts read from /proc.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    pub pid: u32,
    pub comm: String,
    pub pgrp: u32,
    pub session: u32,
    /// Start time, ns since the epoch (10 ms resolution).
    pub start_ns: u64,
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes to the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn proc_info(pid: u32) -> io::Result<ProcInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let open = stat.find('(').ok_or_else(|| io::Error::other("bad stat"))?;
    let close = stat.rfind(')').ok_or_else(|| io::Error::other("bad stat"))?;
    let comm = stat[open + 1..close].to_string();
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let num = |i: usize| {
        rest.get(i).and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| io::Error::other("bad stat"))
    };
    let (pgrp, session, start_ticks) = (num(2)?, num(3)?, num(19)?);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let since_boot = start_ticks * 1_000_000_000 / hz;
    let (real, boot) = (clock_ns(libc::CLOCK_REALTIME), clock_ns(libc::CLOCK_BOOTTIME));
    let start_ns = real.saturating_sub(boot.saturating_sub(since_boot));
    Ok(ProcInfo { pid, comm, pgrp: pgrp as u32, session: session as u32, start_ns })
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned fd is owned by us.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new, valid descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pidfd_signal(fd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall on our fd; no siginfo.
    let r =
        unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, std::ptr::null::<u8>(), 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Wait until the pidfd's process exits (the fd becomes readable), up to `timeout`.
fn wait_exit(fd: &OwnedFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd we own.
    let r = unsafe { libc::poll(&mut p, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
    r > 0
}

/// Slack for comparing a /proc start time (clock-tick resolution) with the alert's event time.
const START_SLACK_NS: u64 = 20_000_000;

/// Open a pidfd on `pid` and check it is the process the alert saw: it started no later than
/// `event_ns`, and (if given) its command name is `comm`.
fn open_verified(pid: u32, event_ns: u64, comm: Option<&str>) -> Result<(OwnedFd, ProcInfo), KillError> {
    let fd = pidfd_open(pid).map_err(|e| match e.raw_os_error() {
        Some(libc::ESRCH) => KillError::Gone(format!("pid {pid} has exited")),
        _ => KillError::Failed(format!("pidfd_open({pid}): {e}")),
    })?;
    // Read /proc after the pidfd is open: if this is still the same process, the pidfd pins it.
    let info = proc_info(pid).map_err(|_| KillError::Gone(format!("pid {pid} has exited")))?;
    if event_ns > 0 && info.start_ns > event_ns + START_SLACK_NS {
        return Err(KillError::Gone(format!(
            "pid {pid} was reused: the process now holding it ({}) started {} ms after the alert's event",
            info.comm,
            (info.start_ns - event_ns) / 1_000_000
        )));
    }
    if let Some(c) = comm.filter(|c| !c.is_empty()) {
        let c15: String = c.chars().take(15).collect();
        if info.comm != c15 {
            return Err(KillError::Gone(format!(
                "pid {pid} now runs '{}', not '{c}' as the alert says",
                info.comm
            )));
        }
    }
    // Still alive and the same process (a dead one makes this fail with ESRCH).
    pidfd_signal(&fd, 0).map_err(|_| KillError::Gone(format!("pid {pid} has exited")))?;
    Ok((fd, info))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Process,
    ProcessGroup,
    Session,
}

/// Kill the alert's process (or its group/session). `event_ns` is the alert's event time.
pub fn kill(
    pid: u32,
    event_ns: u64,
    comm: Option<&str>,
    sig: i32,
    scope: Scope,
    protected: &Protected,
    wait: Duration,
) -> Result<Killed, KillError> {
    if let Some(why) = protected.pid_reason(pid) {
        return Err(KillError::Protected(why));
    }
    let (fd, info) = open_verified(pid, event_ns, comm)?;
    // Checked again now that the pidfd pins the process.
    if let Some(why) = protected.pid_reason(pid) {
        return Err(KillError::Protected(why));
    }
    let mut out = Killed::default();
    if scope == Scope::Process {
        pidfd_signal(&fd, sig).map_err(|e| match e.raw_os_error() {
            Some(libc::ESRCH) => KillError::Gone(format!("pid {pid} has exited")),
            _ => KillError::Failed(format!("pidfd_send_signal({pid}): {e}")),
        })?;
        out.signalled.push(pid);
        if sig == libc::SIGKILL && !wait.is_zero() {
            let t = Instant::now();
            if wait_exit(&fd, wait) {
                out.exited_after = Some(t.elapsed());
            }
        }
        return Ok(out);
    }
    let (want, group_id) = match scope {
        Scope::ProcessGroup => (0, info.pgrp),
        _ => (1, info.session),
    };
    if let Some(why) = protected.pid_reason(group_id) {
        return Err(KillError::Protected(format!(
            "its {} leader is protected: {why}",
            if want == 0 { "process group" } else { "session" }
        )));
    }
    let members: Vec<u32> = fs::read_dir("/proc")
        .map_err(|e| KillError::Failed(format!("/proc: {e}")))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            proc_info(*p).is_ok_and(|i| if want == 0 { i.pgrp == group_id } else { i.session == group_id })
        })
        .collect();
    for m in members {
        if let Some(why) = protected.pid_reason(m) {
            out.skipped_protected.push((m, why));
            continue;
        }
        // Members are checked like the target: pinned by a pidfd, still in the group.
        let Ok(mfd) = pidfd_open(m) else { continue };
        let still =
            proc_info(m).is_ok_and(|i| if want == 0 { i.pgrp == group_id } else { i.session == group_id });
        if still && pidfd_signal(&mfd, sig).is_ok() {
            out.signalled.push(m);
        }
    }
    if out.signalled.is_empty() {
        return Err(KillError::Gone(format!("no process left in the group of pid {pid}")));
    }
    Ok(out)
}
