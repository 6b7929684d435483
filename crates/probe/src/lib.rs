//! Harrier's live eBPF probe.
//!
//! * Kernel side (`bpf/harrier.bpf.c`, C CO-RE built by `build.rs` with clang): a BTF tracepoint
//!   on `sys_exit` that returns at once for syscalls nobody asked for (the `hr_spec` table in
//!   .rodata, filled at load from a list of event names), reads the arguments and whatever the syscall needs (strings,
//!   socket ends, the result fd's file, process info, argv/env, cwd, cgroups) into a per-CPU
//!   scratch slot and copies the record to a BPF ring buffer with an adaptive wake-up;
//!   `tp_btf/sched_process_exec` (filename, old tid) and `tp_btf/sched_process_exit` (process
//!   exit with the reaper). Reserve failures are counted per CPU by event class.
//! * Userspace: [`Probe`] loads, attaches and drains; [`convert::Converter`] turns records into
//!   newest-schema exit events in the driver format; [`procfs::scan`] builds the start-up state.
//!
//! Bounds (documented in `bpf/harrier.h`): argv and env 4 KiB each, paths 4 KiB (48 components of
//! up to 255 bytes for cwd/exe paths), socket data 128 bytes, cgroup paths 12 levels.

pub mod abi;
pub mod convert;
pub mod procfs;
pub mod syscalls;
pub mod sysnr;

use aya::maps::lpm_trie::{Key as LpmKey, LpmTrie};
use aya::maps::{Array, MapData, PerCpuArray, RingBuf};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};
use harrier_event::Event;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use convert::{ConvertStats, Converter};

/// The compiled BPF object.
static OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/harrier.bpf.o"));

/// Default ring buffer size (Falco's default preset, 8 MiB).
pub const DEFAULT_RING_BYTES: u32 = 8 << 20;

/// Run time (ns) and run count summed over the eBPF programs process `pid` holds, from their
/// fdinfo (counted while `kernel.bpf_stats_enabled` is 1); for the benchmarks' cost per run.
pub fn prog_run_stats(pid: u32) -> (u64, u64) {
    let mut out = (0, 0);
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return out };
    for e in dir.flatten() {
        let info = std::fs::read_to_string(e.path()).unwrap_or_default();
        if !info.contains("prog_type:") {
            continue;
        }
        let get = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        out.0 += get("run_time_ns:");
        out.1 += get("run_cnt:");
    }
    out
}

/// Ring size for Falco's `buf_size_preset` (0..=10; 0 and out-of-range take the default).
pub fn ring_bytes_for_preset(preset: u32) -> u32 {
    match preset {
        1 => 1 << 20,
        2 => 2 << 20,
        3 => 4 << 20,
        4 => 8 << 20,
        5 => 16 << 20,
        6 => 32 << 20,
        7 => 64 << 20,
        8 => 128 << 20,
        9 => 256 << 20,
        10 => 512 << 20,
        _ => DEFAULT_RING_BYTES,
    }
}

/// Default latency bound of ordinary records (see [`ProbeConfig::batch_window`]).
pub const DEFAULT_BATCH_WINDOW: Duration = Duration::from_millis(2);
/// Default latency bound of urgent records (see [`ProbeConfig::urgent`]).
pub const DEFAULT_URGENT_WINDOW: Duration = Duration::from_micros(200);

/// What to load.
#[derive(Debug, Clone)]
pub struct ProbeConfig<'a> {
    /// Event names to report (rules' event types); [`syscalls::STATE_EVENTS`] are added when
    /// `with_state_events` is set. `procexit` is always reported. Records of the names added
    /// only for state (and `procexit` when not named here) are *lazy*: they wake nobody by
    /// themselves and are read with the next record of a named syscall (or within the
    /// consumer's poll timeout), so syscalls no rule watches cost no wake-ups.
    pub syscalls: &'a [&'a str],
    pub with_state_events: bool,
    /// Ring buffer size in bytes (rounded up to a power of two, at least one page).
    pub ring_bytes: u32,
    /// Do not report this process (tgid), e.g. Harrier itself.
    pub exclude_pid: Option<u32>,
    /// Wake the consumer each time this many more bytes are pending (adaptive wake-up; at most a
    /// quarter of the ring); the consumer also polls with a timeout, so events never wait longer
    /// than that.
    pub wakeup_bytes: u64,
    /// Event names whose records wake the consumer within `urgent_window` (rules with a high
    /// priority or a response); the others within `batch_window`.
    pub urgent: &'a [&'a str],
    /// Of `urgent`, the open syscalls (`open`, `openat`) whose records are urgent only when the
    /// call succeeded with write access (the urgent rules cannot match read-only or failed
    /// opens); the others are ordinary records.
    pub urgent_writes_only: &'a [&'a str],
    /// Of `urgent`, the open syscalls ([`syscalls::OPEN_FAMILY`]) whose records are urgent only
    /// when the call succeeded and its path (as passed) starts with one of `urgent_path_prefixes`
    /// (a relative path: when the opened file's top-level directory is the first component of
    /// one) (or, when also in `urgent_writes_only`, it opened for writing);
    /// the others are ordinary records. Prefixes are cut to [`abi::PREFIX_MAX`] bytes; with more
    /// than [`abi::PREFIXES_MAX`], these opens stay urgent whatever the path.
    pub urgent_by_path: &'a [&'a str],
    pub urgent_path_prefixes: &'a [&'a str],
    /// Latency bound of ordinary records: a record wakes the consumer when the last wake-up is
    /// this old, and a consumer that found records comes back this soon by itself. Wake-ups
    /// stay at most one per window while records flow (batching), and none when idle.
    pub batch_window: Duration,
    /// Latency bound of `urgent` records.
    pub urgent_window: Duration,
    /// Drop in the kernel what no loaded rule can match and state tracking ignores (`None`:
    /// every record of the captured syscalls reaches the ring, e.g. for `harrier capture`).
    pub prefilter: Option<Prefilter<'a>>,
}

/// What the loaded rules can use, for the in-kernel pre-filter ([`ProbeConfig::prefilter`],
/// [`Probe::set_prefilter`]). Dropped are only records that change no state and that no rule
/// could match:
/// * failed opens ([`syscalls::OPEN_FAMILY`]) not named in `failed_opens_wanted`;
/// * failed `close`/`dup`/`dup2`/`dup3`/`fcntl` calls and `fcntl` commands other than
///   `F_DUPFD`/`F_DUPFD_CLOEXEC`, when those syscalls are captured for state only (not in
///   `watched`);
/// * with `read_open_keep`, successful read-only `open`/`openat` calls (without `O_DIRECTORY`)
///   of clean absolute paths that it does not keep, and the `close` of each such descriptor.
#[derive(Debug, Clone, Copy)]
pub struct Prefilter<'a> {
    /// Event names the rules watch.
    pub watched: &'a [&'a str],
    /// Open syscalls whose failures some rule may match (the engine decides this from the
    /// conditions: `harrier_engine::Ruleset::failed_open_interest`).
    pub failed_opens_wanted: &'a [&'a str],
    /// The read-only opens some rule may match (`harrier_engine::Ruleset::read_open_drop`); the
    /// others are dropped. `None`: every successful open is kept.
    pub read_open_keep: Option<OpenKeep<'a>>,
}

/// What keeps a read-only open of a clean absolute path (see [`Prefilter::read_open_keep`]).
#[derive(Debug, Clone, Copy)]
pub struct OpenKeep<'a> {
    /// Its path starts with one of these.
    pub paths: &'a [String],
    /// Its thread's name (the kernel's `comm`, at most 15 bytes) is one of these.
    pub comms: &'a [String],
}

impl OpenKeep<'_> {
    /// Whether the kernel can hold this bound (at most [`abi::PREFIXES_MAX`] path keys, the
    /// directories on the way included, and [`abi::KEEP_COMMS`] names); a bound that does not
    /// fit keeps every open.
    pub fn fits(&self) -> bool {
        keep_path_keys(self.paths).is_some() && comm_keys(self.comms).is_some()
    }
}

/// [`Prefilter`], owned.
#[derive(Debug, Clone, Default)]
struct OwnedPrefilter {
    watched: Vec<String>,
    failed: Vec<String>,
    keep: Option<(Vec<String>, Vec<String>)>,
}

fn union_into(a: &mut Vec<String>, b: Vec<String>) {
    for x in b {
        if !a.contains(&x) {
            a.push(x);
        }
    }
}

/// `hr_keep_paths` keys: each kept prefix, and each directory on the way to one as an exact name
/// (`/etc` for `/etc/shadow`, with its NUL): a later open relative to such a directory (`openat`
/// with its descriptor, `fchdir` and a relative path) is resolved against its name, which state
/// knows only if its open was reported. Each key is cut to [`abi::PREFIX_MAX`] bytes (a longer
/// one keeps more); `None` past [`abi::PREFIXES_MAX`] keys.
fn keep_path_keys(paths: &[String]) -> Option<Vec<(u32, [u8; abi::PREFIX_MAX])>> {
    let mut keys: Vec<(u32, [u8; abi::PREFIX_MAX])> = Vec::new();
    let mut add = |b: &[u8]| {
        let b = &b[..b.len().min(abi::PREFIX_MAX)];
        let mut data = [0u8; abi::PREFIX_MAX];
        data[..b.len()].copy_from_slice(b);
        let k = (b.len() as u32 * 8, data);
        if !keys.contains(&k) {
            keys.push(k);
        }
    };
    for p in paths {
        let b = p.as_bytes();
        let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
        add(b);
        for (i, _) in b.iter().enumerate().skip(1).filter(|(_, c)| **c == b'/') {
            let mut dir = b[..i].to_vec();
            dir.push(0);
            add(&dir);
        }
    }
    (keys.len() <= abi::PREFIXES_MAX).then_some(keys)
}

/// The kept thread names as `hr_keep` holds them: each cut to 15 bytes, NUL-padded (as
/// `bpf_get_current_comm` fills its buffer); `None` past [`abi::KEEP_COMMS`].
fn comm_keys(comms: &[String]) -> Option<Vec<[u8; 16]>> {
    let mut out: Vec<[u8; 16]> = Vec::new();
    for c in comms {
        let b = c.as_bytes();
        let b = &b[..b.iter().position(|&x| x == 0).unwrap_or(b.len()).min(15)];
        let mut k = [0u8; 16];
        k[..b.len()].copy_from_slice(b);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    (out.len() <= abi::KEEP_COMMS).then_some(out)
}

/// The `hr_keep` word for these trie keys and names: each prefix whole (8 bytes a word,
/// little-endian, zero-padded) with its length, sorted by its second byte (the kernel compares a
/// path only with the prefixes that share it, `grp`); with more than fit, or a prefix of one byte
/// or none (it keeps every absolute path), every path goes to the trie. A prefix that does not
/// start with '/' never matches the clean absolute paths the kernel checks, so the word leaves it
/// out.
fn keep_word(paths: &[(u32, [u8; abi::PREFIX_MAX])], comms: &[[u8; 16]]) -> abi::Keep {
    let mut w = abi::Keep::default();
    let short = paths.iter().any(|(bits, d)| *bits < 16 && (*bits == 0 || d[0] == b'/'));
    if short || paths.len() > abi::KEEP_PATHS {
        w.npaths = abi::KEEP_PATHS as u32 + 1;
    } else {
        let mut order: Vec<&(u32, [u8; abi::PREFIX_MAX])> =
            paths.iter().filter(|(_, d)| d[0] == b'/').collect();
        order.sort_by_key(|(_, d)| d[1]);
        w.npaths = order.len() as u32;
        for (i, (bits, data)) in order.into_iter().enumerate() {
            w.plen[i] = *bits / 8;
            for (j, chunk) in data.chunks(8).enumerate() {
                w.pfx[i][j] = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            }
            let g = &mut w.grp[data[1] as usize];
            if g[1] == 0 {
                g[0] = i as u8;
            }
            g[1] += 1;
        }
    }
    w.ncomms = comms.len().min(abi::KEEP_COMMS) as u32;
    for (i, c) in comms.iter().take(abi::KEEP_COMMS).enumerate() {
        let (a, b) = c.split_at(8);
        w.comm[i] = [
            u64::from_le_bytes(a.try_into().unwrap_or_default()),
            u64::from_le_bytes(b.try_into().unwrap_or_default()),
        ];
    }
    w
}

/// The pre-filter's `hr_drop` words (syscall number, `abi::prefilter` bits) for the captured
/// syscalls: every stateless-failure syscall gets an entry (0 = keep everything).
pub fn prefilter_words(captured: &[&str], p: Option<&Prefilter<'_>>) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for name in captured {
        if !syscalls::STATELESS_FAILURES.contains(name) {
            continue;
        }
        let Some(s) = syscalls::by_name(name) else { continue };
        let mut bits = 0;
        if let Some(p) = p {
            let watched = p.watched.contains(name);
            if p.read_open_keep.is_some() {
                match *name {
                    "open" | "openat" => bits |= abi::prefilter::RO_OPEN,
                    "close" => bits |= abi::prefilter::CLOSE_UNSEEN,
                    _ => {}
                }
            }
            if syscalls::OPEN_FAMILY.contains(name) {
                if !p.failed_opens_wanted.contains(name) {
                    bits |= abi::prefilter::FAILED;
                }
            } else if !watched {
                bits |= abi::prefilter::FAILED;
                if *name == "fcntl" {
                    bits |= abi::prefilter::FCNTL_NODUP;
                }
            }
        }
        out.push((s.nr, bits));
    }
    out
}

impl Default for ProbeConfig<'_> {
    fn default() -> Self {
        ProbeConfig {
            syscalls: &[],
            with_state_events: true,
            ring_bytes: DEFAULT_RING_BYTES,
            exclude_pid: None,
            wakeup_bytes: 1 << 20,
            urgent: &[],
            urgent_writes_only: &[],
            urgent_by_path: &[],
            urgent_path_prefixes: &[],
            batch_window: DEFAULT_BATCH_WINDOW,
            urgent_window: DEFAULT_URGENT_WINDOW,
            prefilter: None,
        }
    }
}

/// Why the probe cannot run, with what to do about it.
#[derive(Debug)]
pub enum ProbeError {
    /// No kernel BTF at /sys/kernel/btf/vmlinux.
    NoBtf(String),
    /// The kernel refused: missing privileges or eBPF support.
    Load { what: String, detail: String },
    /// Event names the probe cannot produce.
    UnknownEvents(Vec<String>),
    /// Something else (maps, attach, poll).
    Other(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::NoBtf(e) => write!(
                f,
                "cannot load the eBPF probe: the kernel exposes no BTF (/sys/kernel/btf/vmlinux: {e}); \
                 a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed"
            ),
            ProbeError::Load { what, detail } => {
                let hint = if detail.contains("Operation not permitted")
                    || detail.contains("EPERM")
                    || detail.contains("permission")
                {
                    "run as root or grant CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE (CAP_SYS_ADMIN on \
                     kernels before 5.8); also check kernel.unprivileged_bpf_disabled and lockdown"
                } else if detail.contains("Function not implemented") || detail.contains("ENOSYS") {
                    "the kernel has no bpf() syscall (CONFIG_BPF_SYSCALL)"
                } else {
                    "the kernel rejected the program; see the detail (verifier log) above"
                };
                write!(f, "cannot load the eBPF probe ({what}): {detail}; {hint}")
            }
            ProbeError::UnknownEvents(v) => {
                write!(f, "the live probe cannot report these event types: {}", v.join(", "))
            }
            ProbeError::Other(e) => write!(f, "eBPF probe: {e}"),
        }
    }
}

impl std::error::Error for ProbeError {}

fn load_err(what: &str, e: impl std::fmt::Display) -> ProbeError {
    // Flatten aya's error chain (the verifier log is in the Display of the inner error).
    ProbeError::Load { what: what.to_string(), detail: e.to_string() }
}

fn load_err_chain(what: &str, e: &dyn std::error::Error) -> ProbeError {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    load_err(what, s)
}

/// Records lost in the kernel because the ring buffer was full, by event class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    pub process: u64,
    pub file: u64,
    pub network: u64,
    pub other: u64,
    /// Records the kernel submitted.
    pub sent: u64,
    /// Records the pre-filter dropped on purpose (no rule or state uses them; not losses).
    pub filtered: u64,
    /// Records submitted by class: process, file, network, other.
    pub sent_by_class: [u64; 4],
    /// Records submitted as urgent (woke the consumer within the urgent window).
    pub urgent: u64,
    /// Forced wake-ups of the consumer (urgent records, the byte threshold, the batch timer).
    pub wakeups: u64,
}

impl DropCounters {
    pub fn total(&self) -> u64 {
        self.process + self.file + self.network + self.other
    }
}

/// Counters of one `poll` call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    pub records: u64,
    pub events: u64,
    pub malformed: u64,
}

/// A loaded and attached probe.
pub struct Probe {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    /// Edge-triggered epoll on the ring: returns on a kernel wake-up (or the timeout), not
    /// whenever one record is pending, so records are consumed in batches.
    epoll: OwnedFd,
    /// The last drain emptied the ring: wait for a wake-up before the next one. Every watched
    /// record is followed by a wake-up within its window (at once, or by the kernel's batch
    /// timer), so the consumer never needs to come back by itself.
    wait_first: bool,
    urgent: Vec<&'static str>,
    conv: Converter,
    syscalls: Vec<&'static str>,
    prefilter: PrefilterHandle,
    /// Count the urgency of this process's syscall records ([`Probe::tap_urgency`]).
    tap: Option<u32>,
    tap_counts: UrgencyCounts,
}

/// An empty program attached alone to the tracepoint the probe uses (`sys_exit`): what any
/// program there costs every syscall before it does anything. For benchmarks, which compare a
/// workload under it with the workload under Harrier; detached when dropped.
pub struct Floor {
    _ebpf: Ebpf,
}

impl Floor {
    pub fn attach() -> Result<Floor, ProbeError> {
        let ebpf = attach_alone("hr_floor", EbpfLoader::new().map_max_entries("hr_ring", 4096))?;
        Ok(Floor { _ebpf: ebpf })
    }
}

/// Load the object with `loader` and attach only its program `name` on `tp_btf/sys_exit`
/// (the benchmarks' reference programs).
fn attach_alone(name: &str, loader: &mut EbpfLoader<'_>) -> Result<Ebpf, ProbeError> {
    std::fs::metadata("/sys/kernel/btf/vmlinux")
        .map_err(|e| ProbeError::NoBtf(format!("/sys/kernel/btf/vmlinux: {e}")))?;
    let mut ebpf = loader.load(OBJ).map_err(|e| load_err_chain("load object", &e))?;
    let btf = Btf::from_sys_fs().map_err(|e| ProbeError::NoBtf(e.to_string()))?;
    let p: &mut BtfTracePoint = ebpf
        .program_mut(name)
        .ok_or_else(|| ProbeError::Other(format!("program {name} missing")))?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| ProbeError::Other(e.to_string()))?;
    p.load("sys_exit", &btf).map_err(|e| load_err_chain("tp_btf/sys_exit", &e))?;
    p.attach().map_err(|e| load_err_chain("attach tp_btf/sys_exit", &e))?;
    Ok(ebpf)
}

/// The least a record-producing probe costs (benchmarks only, never used by Harrier): the
/// object's `hr_bare` program alone on `tp_btf/sys_exit`, putting a header-only record (timestamp,
/// ids, arguments; no strings, no file item, no counters) on the ring for every open, openat and
/// close, and a thread draining the ring as a consumer would. Detached on drop.
pub struct Bare {
    stop: Arc<std::sync::atomic::AtomicBool>,
    drain: Option<std::thread::JoinHandle<()>>,
    _ebpf: Ebpf,
}

impl Bare {
    pub fn attach() -> Result<Bare, ProbeError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let mut ebpf =
            attach_alone("hr_bare", EbpfLoader::new().map_max_entries("hr_buf", (ncpu * 2).max(2)))?;
        let mut ring = RingBuf::try_from(
            ebpf.take_map("hr_ring").ok_or_else(|| ProbeError::Other("map hr_ring missing".into()))?,
        )
        .map_err(|e| ProbeError::Other(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        // the records wake nobody: poll every millisecond, well within the ring's room
        let drain = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                while ring.next().is_some() {}
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Ok(Bare { stop, drain: Some(drain), _ebpf: ebpf })
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(d) = self.drain.take() {
            let _ = d.join();
        }
    }
}

/// Syscall records of one process read by the consumer, by how the kernel submitted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrgencyCounts {
    pub urgent: u64,
    pub ordinary: u64,
}

/// Changes the pre-filter of a running probe, from any thread (a rules reload).
#[derive(Clone)]
pub struct PrefilterHandle {
    inner: Arc<Mutex<PrefilterState>>,
}

struct PrefilterState {
    map: Array<MapData, u32>,
    keep_paths: LpmTrie<MapData, [u8; abi::PREFIX_MAX], u8>,
    keep: Array<MapData, abi::Keep>,
    /// The `hr_keep` slot the drop words of open and openat name now.
    sel: u32,
    captured: Vec<&'static str>,
    /// What the filter lets through now (`None`: everything).
    current: Option<OwnedPrefilter>,
    /// The keys in `keep_paths` now.
    paths_in: Vec<(u32, [u8; abi::PREFIX_MAX])>,
}

impl PrefilterState {
    /// Install `p`. The bounds that keep read-only opens are written before the `hr_drop` words
    /// that use them (the trie's new keys, then the other `hr_keep` slot whole, then the drop
    /// words, which name that slot), and trie keys the new bound no longer has are removed only
    /// after: at no moment is an open dropped that the old or the new rules keep.
    fn write(&mut self, mut p: Option<OwnedPrefilter>) -> Result<(), ProbeError> {
        let keys = p
            .as_ref()
            .and_then(|p| p.keep.as_ref())
            .and_then(|(paths, comms)| Some((keep_path_keys(paths)?, comm_keys(comms)?)));
        if keys.is_none() {
            // too many to hold: keep every open
            if let Some(p) = p.as_mut() {
                p.keep = None;
            }
        }
        let err = |what: &str, e: aya::maps::MapError| ProbeError::Other(format!("{what}: {e}"));
        if let Some((paths, comms)) = &keys {
            for (bits, data) in paths {
                if !self.paths_in.contains(&(*bits, *data)) {
                    self.keep_paths
                        .insert(&LpmKey::new(*bits, *data), 1u8, 0)
                        .map_err(|e| err("hr_keep_paths", e))?;
                    self.paths_in.push((*bits, *data));
                }
            }
            let next = self.sel ^ 1;
            self.keep.set(next, keep_word(paths, comms), 0).map_err(|e| err("hr_keep", e))?;
            self.sel = next;
        }
        let (w, f): (Vec<&str>, Vec<&str>) = match &p {
            Some(p) => (
                p.watched.iter().map(String::as_str).collect(),
                p.failed.iter().map(String::as_str).collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let pf = Prefilter {
            watched: &w,
            failed_opens_wanted: &f,
            read_open_keep: p
                .as_ref()
                .and_then(|p| p.keep.as_ref())
                .map(|(paths, comms)| OpenKeep { paths, comms }),
        };
        for (nr, mut bits) in prefilter_words(&self.captured, p.as_ref().map(|_| &pf)) {
            if bits & abi::prefilter::RO_OPEN != 0 && self.sel == 1 {
                bits |= abi::prefilter::KEEP_SLOT1;
            }
            self.map.set(nr, bits, 0).map_err(|e| ProbeError::Other(format!("hr_drop[{nr}]: {e}")))?;
        }
        // what the new bound does not hold (all of it when no open is dropped any more)
        let paths = keys.map(|k| k.0).unwrap_or_default();
        for k in std::mem::take(&mut self.paths_in) {
            if paths.contains(&k) {
                self.paths_in.push(k);
            } else {
                self.keep_paths.remove(&LpmKey::new(k.0, k.1)).map_err(|e| err("hr_keep_paths", e))?;
            }
        }
        self.current = p;
        Ok(())
    }
}

fn owned(p: Option<&Prefilter<'_>>) -> Option<OwnedPrefilter> {
    p.map(|p| OwnedPrefilter {
        watched: p.watched.iter().map(|s| s.to_string()).collect(),
        failed: p.failed_opens_wanted.iter().map(|s| s.to_string()).collect(),
        keep: p.read_open_keep.map(|k| (k.paths.to_vec(), k.comms.to_vec())),
    })
}

impl PrefilterHandle {
    /// Let through exactly what `p` needs (`None`: everything).
    pub fn set(&self, p: Option<&Prefilter<'_>>) -> Result<(), ProbeError> {
        let mut g = self.inner.lock().map_err(|_| ProbeError::Other("pre-filter lock poisoned".into()))?;
        g.write(owned(p))
    }

    /// Let through, from now on, also what `p` needs, and never less than before: reloaded rules
    /// are swapped in by the detector a moment later, and the earlier ones run until then (a
    /// narrower filter takes effect at the next start).
    pub fn widen(&self, p: Option<&Prefilter<'_>>) -> Result<(), ProbeError> {
        let mut g = self.inner.lock().map_err(|_| ProbeError::Other("pre-filter lock poisoned".into()))?;
        let merged = match (g.current.clone(), owned(p)) {
            (Some(mut a), Some(b)) => {
                union_into(&mut a.watched, b.watched);
                union_into(&mut a.failed, b.failed);
                a.keep = match (a.keep, b.keep) {
                    (Some((mut pa, mut ca)), Some((pb, cb))) => {
                        union_into(&mut pa, pb);
                        union_into(&mut ca, cb);
                        Some((pa, ca))
                    }
                    _ => None,
                };
                Some(a)
            }
            _ => None,
        };
        g.write(merged)
    }
}

/// `hr_urgent_paths` / `hr_keep_paths` keys (prefix length in bits, bytes) of `prefixes`, each cut to
/// [`abi::PREFIX_MAX`] bytes; `None` when there are more than [`abi::PREFIXES_MAX`] (or
/// none: then no open is urgent by path, and the caller marks none).
fn prefix_keys(prefixes: &[&str]) -> Option<Vec<(u32, [u8; abi::PREFIX_MAX])>> {
    let mut keys: Vec<(u32, [u8; abi::PREFIX_MAX])> = Vec::new();
    for p in prefixes {
        let b = p.as_bytes();
        let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len()).min(abi::PREFIX_MAX)];
        let mut data = [0u8; abi::PREFIX_MAX];
        data[..b.len()].copy_from_slice(b);
        let k = (b.len() as u32 * 8, data);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    (keys.len() <= abi::PREFIXES_MAX).then_some(keys)
}

/// Every prefix names device files under /dev (`/dev/sd`, `/dev/mem`; not `/dev/` itself, nor
/// the directories and links there that lead to regular files: shm, mqueue, fd, std*, hugepages,
/// core): the kernel then judges a relative open by the file's type, with no walk to the root.
fn device_only_prefixes(prefixes: &[&str]) -> bool {
    const NOT_DEVICES: [&str; 8] = ["shm", "mqueue", "fd", "stdin", "stdout", "stderr", "hugepages", "core"];
    !prefixes.is_empty()
        && prefixes.iter().all(|p| match p.strip_prefix("/dev/") {
            Some(rest) if !rest.is_empty() => {
                !NOT_DEVICES.iter().any(|n| n.starts_with(rest) || rest.starts_with(n))
            }
            _ => false,
        })
}

/// `hr_urgent_tops` keys: each prefix cut after its first component (`/dev/sd` → `/dev/`; one
/// without a second `/` whole). The kernel looks up `/NAME/` for the top-level directory of a file
/// opened by a relative path. A prefix not starting with `/` (a relative `fd.nameraw`) makes every
/// relative open urgent (an empty prefix).
fn top_keys(keys: &[(u32, [u8; abi::PREFIX_MAX])]) -> Vec<(u32, [u8; abi::PREFIX_MAX])> {
    let mut out: Vec<(u32, [u8; abi::PREFIX_MAX])> = Vec::new();
    for (bits, data) in keys {
        let len = (*bits / 8) as usize;
        let p = &data[..len];
        let cut = match p.first() {
            Some(b'/') => p[1..].iter().position(|&c| c == b'/').map_or(len, |i| i + 2),
            _ => 0,
        };
        let mut d = [0u8; abi::PREFIX_MAX];
        d[..cut].copy_from_slice(&p[..cut]);
        let k = (cut as u32 * 8, d);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Records consumed by one drain at most, so a flood cannot starve the caller.
const DRAIN_MAX: u64 = 65536;

impl Probe {
    /// Load the programs, fill the syscall filter and attach.
    pub fn load(cfg: &ProbeConfig<'_>) -> Result<Probe, ProbeError> {
        let mut names: Vec<&str> = cfg.syscalls.to_vec();
        let (named, _) = syscalls::resolve(cfg.syscalls);
        if cfg.with_state_events {
            names.extend_from_slice(syscalls::STATE_EVENTS);
        }
        let (wanted, unknown) = syscalls::resolve(&names);
        if !unknown.is_empty() {
            // Event types the probe cannot produce (other sources, meta events) are not an error
            // for the caller, who may pass every rule's types; report only truly odd names.
            let odd: Vec<String> = unknown
                .into_iter()
                .filter(|n| {
                    harrier_event::newest_exit_id(n).is_none() && harrier_event::newest_enter_id(n).is_none()
                })
                .collect();
            if !odd.is_empty() {
                return Err(ProbeError::UnknownEvents(odd));
            }
        }
        let ring = cfg.ring_bytes.max(4096).next_power_of_two();
        let ncpu = aya::util::nr_cpus().map_err(|(p, e)| ProbeError::Other(format!("{p}: {e}")))? as u32;
        let excl = cfg.exclude_pid.unwrap_or(0);
        // The kernel counts pending bytes per scratch slot (two per CPU), not the ring's fill
        // level: each slot's share of the threshold.
        let wake = (cfg.wakeup_bytes.min(u64::from(ring / 4)) / u64::from(ncpu * 2)).max(1);
        let (urgent, _) = syscalls::resolve(cfg.urgent);
        let prefixes = prefix_keys(cfg.urgent_path_prefixes);
        let dev_only = u32::from(device_only_prefixes(cfg.urgent_path_prefixes));
        let mut spec = [0u32; abi::MAX_SYSCALLS as usize];
        for s in &wanted {
            if let Some(w) = spec.get_mut(s.nr as usize) {
                *w = s.spec_word();
                if urgent.iter().any(|u| u.nr == s.nr) {
                    *w |= abi::spec::URGENT;
                    if matches!(s.name, "open" | "openat") && cfg.urgent_writes_only.contains(&s.name) {
                        *w |= abi::spec::URGENT_WRITES;
                    }
                    if syscalls::OPEN_FAMILY.contains(&s.name) && cfg.urgent_by_path.contains(&s.name) {
                        match &prefixes {
                            Some(_) => *w |= abi::spec::URGENT_PATH,
                            // too many prefixes: every open of it stays urgent
                            None => *w &= !abi::spec::URGENT_WRITES,
                        }
                    }
                } else if !named.iter().any(|n| n.nr == s.nr) {
                    *w |= abi::spec::LAZY;
                }
                if syscalls::STATELESS_FAILURES.contains(&s.name) {
                    *w |= abi::spec::FILTERABLE;
                }
            }
        }
        let exit_wakes = u32::from(!cfg.with_state_events || cfg.syscalls.contains(&"procexit"));
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        let batch_ns = ns(cfg.batch_window);
        let urgent_ns = ns(cfg.urgent_window).min(batch_ns);
        // Memory: the kernel's BTF parses to ~20 MiB. `EbpfLoader::new` parses its own copy for
        // the CO-RE relocations; it is freed with the loader, before the copy the tracepoint
        // attachment needs is parsed, so the two never coexist (start-up peak).
        std::fs::metadata("/sys/kernel/btf/vmlinux")
            .map_err(|e| ProbeError::NoBtf(format!("/sys/kernel/btf/vmlinux: {e}")))?;
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("hr_ring", ring)
            .map_max_entries("hr_buf", (ncpu * 2).max(2))
            .override_global("hr_excl_tgid", &excl, true)
            .override_global("hr_wake_bytes", &wake, true)
            .override_global("hr_batch_ns", &batch_ns, true)
            .override_global("hr_urgent_ns", &urgent_ns, true)
            .override_global("hr_spec", &spec, true)
            .override_global("hr_exit_wakes", &exit_wakes, true)
            .override_global("hr_urgent_dev_only", &dev_only, true)
            .load(OBJ)
            .map_err(|e| load_err_chain("load object", &e))?;
        let btf = Btf::from_sys_fs().map_err(|e| ProbeError::NoBtf(e.to_string()))?;
        for (prog, tp) in [
            ("hr_sys_exit", "sys_exit"),
            ("hr_exec", "sched_process_exec"),
            ("hr_exit", "sched_process_exit"),
        ] {
            let p: &mut BtfTracePoint = ebpf
                .program_mut(prog)
                .ok_or_else(|| ProbeError::Other(format!("program {prog} missing")))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| ProbeError::Other(e.to_string()))?;
            p.load(tp, &btf).map_err(|e| load_err_chain(&format!("tp_btf/{tp}"), &e))?;
            p.attach().map_err(|e| load_err_chain(&format!("attach tp_btf/{tp}"), &e))?;
        }
        if let Some(keys) = &prefixes {
            let mut trie: LpmTrie<_, [u8; abi::PREFIX_MAX], u8> = LpmTrie::try_from(
                ebpf.map_mut("hr_urgent_paths")
                    .ok_or_else(|| ProbeError::Other("map hr_urgent_paths missing".into()))?,
            )
            .map_err(|e| ProbeError::Other(e.to_string()))?;
            for (bits, data) in keys {
                trie.insert(&LpmKey::new(*bits, *data), 1u8, 0)
                    .map_err(|e| ProbeError::Other(format!("hr_urgent_paths: {e}")))?;
            }
            let mut tops: LpmTrie<_, [u8; abi::PREFIX_MAX], u8> = LpmTrie::try_from(
                ebpf.map_mut("hr_urgent_tops")
                    .ok_or_else(|| ProbeError::Other("map hr_urgent_tops missing".into()))?,
            )
            .map_err(|e| ProbeError::Other(e.to_string()))?;
            for (bits, data) in top_keys(keys) {
                tops.insert(&LpmKey::new(bits, data), 1u8, 0)
                    .map_err(|e| ProbeError::Other(format!("hr_urgent_tops: {e}")))?;
            }
        }
        let captured: Vec<&'static str> = wanted.iter().map(|s| s.name).collect();
        let drop_map = Array::try_from(
            ebpf.take_map("hr_drop").ok_or_else(|| ProbeError::Other("map hr_drop missing".into()))?,
        )
        .map_err(|e| ProbeError::Other(e.to_string()))?;
        let keep_paths = LpmTrie::try_from(
            ebpf.take_map("hr_keep_paths")
                .ok_or_else(|| ProbeError::Other("map hr_keep_paths missing".into()))?,
        )
        .map_err(|e| ProbeError::Other(e.to_string()))?;
        let keep = Array::try_from(
            ebpf.take_map("hr_keep").ok_or_else(|| ProbeError::Other("map hr_keep missing".into()))?,
        )
        .map_err(|e| ProbeError::Other(e.to_string()))?;
        let mut pf = PrefilterState {
            map: drop_map,
            keep_paths,
            keep,
            sel: 0,
            captured: captured.clone(),
            current: None,
            paths_in: Vec::new(),
        };
        pf.write(owned(cfg.prefilter.as_ref()))?;
        let ring = RingBuf::try_from(
            ebpf.take_map("hr_ring").ok_or_else(|| ProbeError::Other("map hr_ring missing".into()))?,
        )
        .map_err(|e| ProbeError::Other(e.to_string()))?;
        // SAFETY: epoll_create1 has no memory arguments; the fd is checked before being owned.
        let efd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if efd < 0 {
            return Err(ProbeError::Other(format!("epoll_create1: {}", std::io::Error::last_os_error())));
        }
        // SAFETY: a fresh fd we own.
        let epoll = unsafe { OwnedFd::from_raw_fd(efd) };
        let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: 0 };
        // SAFETY: valid fds and a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(efd, libc::EPOLL_CTL_ADD, ring.as_raw_fd(), &mut ev) } < 0 {
            return Err(ProbeError::Other(format!("epoll_ctl: {}", std::io::Error::last_os_error())));
        }
        Ok(Probe {
            ebpf,
            ring,
            epoll,
            wait_first: false,
            urgent: wanted.iter().filter(|s| urgent.iter().any(|u| u.nr == s.nr)).map(|s| s.name).collect(),
            conv: Converter::new(),
            syscalls: captured,
            prefilter: PrefilterHandle { inner: Arc::new(Mutex::new(pf)) },
            tap: None,
            tap_counts: UrgencyCounts::default(),
        })
    }

    /// Replace the pre-filter; `None` lets every record through.
    pub fn set_prefilter(&self, p: Option<&Prefilter<'_>>) -> Result<(), ProbeError> {
        self.prefilter.set(p)
    }

    /// A handle that changes the pre-filter from another thread (rules reloads).
    pub fn prefilter_handle(&self) -> PrefilterHandle {
        self.prefilter.clone()
    }

    /// The syscalls the kernel filter lets through.
    pub fn syscalls(&self) -> &[&'static str] {
        &self.syscalls
    }

    /// The syscalls whose records wake the consumer within the urgent window.
    pub fn urgent_syscalls(&self) -> &[&'static str] {
        &self.urgent
    }

    /// Drain the ring buffer and call `f` with each event, in ring order. Records are consumed
    /// in batches: when the previous call emptied the ring (or nothing is pending), this first
    /// waits for the kernel's wake-up, up to `timeout`. The kernel wakes the consumer for an
    /// urgent record at once and for ordinary ones by its batch timer, one wake-up per batch
    /// window while they keep coming; state-only records wake nobody and come with the next
    /// wake-up (or after `timeout`). An idle ring costs one wake-up per `timeout`.
    pub fn poll(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(&Event<'_>),
    ) -> Result<PollStats, ProbeError> {
        let before = self.conv.stats;
        let mut waited = false;
        if self.wait_first {
            self.wait(timeout)?;
            waited = true;
        }
        let mut got = self.drain(f);
        if got == 0 && !waited {
            self.wait(timeout)?;
            got = self.drain(f);
        }
        self.wait_first = got < DRAIN_MAX;
        let after = self.conv.stats;
        Ok(PollStats {
            records: after.records - before.records,
            events: after.events - before.events,
            malformed: after.malformed - before.malformed,
        })
    }

    fn wait(&mut self, timeout: Duration) -> Result<(), ProbeError> {
        // rounded up: a sub-millisecond timeout must not become a busy loop
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: one valid epoll_event for the duration of the call.
        let rc = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut ev, 1, ms) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(ProbeError::Other(format!("epoll_wait: {e}")));
            }
        }
        Ok(())
    }

    /// From now on, count how the kernel submitted the syscall records of process `tgid` (urgent
    /// or ordinary) as they are read; `None` stops. For tests and diagnostics: the kernel's own
    /// counters ([`Probe::drops`]) are machine-wide.
    pub fn tap_urgency(&mut self, tgid: Option<u32>) {
        self.tap = tgid;
        self.tap_counts = UrgencyCounts::default();
    }

    /// What [`Probe::tap_urgency`] counted.
    pub fn urgency_counts(&self) -> UrgencyCounts {
        self.tap_counts
    }

    /// Records consumed.
    fn drain(&mut self, f: &mut dyn FnMut(&Event<'_>)) -> u64 {
        let mut n = 0;
        while n < DRAIN_MAX {
            let Some(item) = self.ring.next() else { break };
            if let Some(t) = self.tap {
                let at = |o: usize| item.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                if let (Some(pid), Some(kind_nr), Some(flags)) = (at(12), at(abi::HDR_KIND_OFF), at(84)) {
                    if pid == t && kind_nr as u16 == abi::K_SYSCALL {
                        if flags & abi::F_URGENT != 0 {
                            self.tap_counts.urgent += 1;
                        } else {
                            self.tap_counts.ordinary += 1;
                        }
                    }
                }
            }
            self.conv.convert(&item, f);
            n += 1;
        }
        n
    }

    /// Counters of the kernel side, summed over CPUs.
    pub fn drops(&self) -> DropCounters {
        let mut d = DropCounters::default();
        let Some(map) = self.ebpf.map("hr_stats") else { return d };
        let Ok(arr) = PerCpuArray::<_, u64>::try_from(map) else { return d };
        let sum = |i: u32| arr.get(&i, 0).map(|v| v.iter().copied().sum::<u64>()).unwrap_or(0);
        d.process = sum(abi::C_PROC);
        d.file = sum(abi::C_FILE);
        d.network = sum(abi::C_NET);
        d.other = sum(abi::C_OTHER);
        d.filtered = sum(abi::STAT_FILTERED);
        for (i, v) in d.sent_by_class.iter_mut().enumerate() {
            *v = sum(abi::STAT_SENT_C0 + i as u32);
        }
        d.sent = d.sent_by_class.iter().sum();
        d.urgent = sum(abi::STAT_URGENT);
        d.wakeups = sum(abi::STAT_WAKEUPS);
        d
    }

    /// Userspace conversion counters (records, events, malformed records skipped).
    pub fn convert_stats(&self) -> ConvertStats {
        self.conv.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> (u32, [u8; abi::PREFIX_MAX]) {
        let mut d = [0u8; abi::PREFIX_MAX];
        d[..s.len()].copy_from_slice(s.as_bytes());
        (s.len() as u32 * 8, d)
    }

    #[test]
    fn device_only_prefix_sets() {
        // the official rules' urgent opens
        assert!(device_only_prefixes(&[
            "/dev/sd",
            "/dev/nvme",
            "/dev/vd",
            "/dev/xvd",
            "/dev/mem",
            "/dev/kmem"
        ]));
        assert!(device_only_prefixes(&["/dev/nu"]));
        // regular files can be under these
        for p in
            ["/dev/", "/dev/s", "/dev/shm/x", "/dev/mq", "/dev/fd/3", "/dev/stdout", "/dev/hugepages", "/dev"]
        {
            assert!(!device_only_prefixes(&["/dev/sd", p]), "{p}");
        }
        assert!(!device_only_prefixes(&["/dev/sd", "/etc/shadow"]));
        assert!(!device_only_prefixes(&["sd"]));
        assert!(!device_only_prefixes(&[]));
    }

    #[test]
    fn keep_keys_hold_the_directories_on_the_way() {
        let keys = keep_path_keys(&["/etc/pam.d/".to_string(), "/etc/shadow".to_string()]).unwrap();
        let text: Vec<String> = keys
            .iter()
            .map(|(bits, d)| String::from_utf8_lossy(&d[..(*bits / 8) as usize]).into_owned())
            .collect();
        assert_eq!(text, ["/etc/pam.d/", "/etc\0", "/etc/pam.d\0", "/etc/shadow"]);
        let w = keep_word(
            &keys,
            &comm_keys(&["sshd".to_string(), "a_very_long_process_name".to_string()]).unwrap(),
        );
        assert_eq!(w.npaths, 4);
        assert_eq!(w.grp[b'e' as usize], [0, 4], "all four after /e");
        assert_eq!(w.grp[b'd' as usize], [0, 0]);
        assert_eq!(w.plen[1], 5, "/etc and its NUL");
        assert_eq!(w.pfx[1][0], u64::from_le_bytes(*b"/etc\0\0\0\0"));
        assert_eq!(
            (w.pfx[3][0], w.pfx[3][1]),
            (u64::from_le_bytes(*b"/etc/sha"), u64::from_le_bytes(*b"dow\0\0\0\0\0"))
        );
        assert_eq!(w.ncomms, 2);
        assert_eq!(w.comm[1], [u64::from_le_bytes(*b"a_very_l"), u64::from_le_bytes(*b"ong_pro\0")]);
        // more prefixes than the word holds: every path goes to the trie
        let many: Vec<String> = (0..100).map(|i| format!("/d{i:03}")).collect();
        let keys = keep_path_keys(&many).unwrap();
        assert_eq!(keep_word(&keys, &[]).npaths as usize, abi::KEEP_PATHS + 1);
        // sorted by the second byte, each group in its place; a relative prefix left out
        let keys =
            keep_path_keys(&["/proc/".to_string(), "/dev/".to_string(), "sd".to_string(), "/dx".to_string()])
                .unwrap();
        let w = keep_word(&keys, &[]);
        assert_eq!(w.npaths, 5, "/proc/ /proc /dev/ /dev /dx");
        assert_eq!(w.grp[b'd' as usize], [0, 3]);
        assert_eq!(w.grp[b'p' as usize], [3, 2]);
        assert_eq!(w.pfx[3][0], u64::from_le_bytes(*b"/proc/\0\0"));
        // "/" keeps every path: the trie answers
        let keys = keep_path_keys(&["/".to_string(), "/etc/".to_string()]).unwrap();
        assert_eq!(keep_word(&keys, &[]).npaths as usize, abi::KEEP_PATHS + 1);
        assert!(comm_keys(&(0..17).map(|i| format!("p{i}")).collect::<Vec<_>>()).is_none());
    }

    #[test]
    fn top_level_keys_of_prefixes() {
        let keys = prefix_keys(&["/dev/sd", "/dev/nvme", "/etc/shadow", "/de", "/"]).unwrap();
        assert_eq!(top_keys(&keys), vec![key("/dev/"), key("/etc/"), key("/de"), key("/")]);
        // a relative prefix (fd.nameraw) makes every relative open urgent
        let keys = prefix_keys(&["/dev/sd", "sd"]).unwrap();
        assert_eq!(top_keys(&keys), vec![key("/dev/"), key("")]);
        // as many as the map holds, and no more
        let many: Vec<String> = (0..=abi::PREFIXES_MAX).map(|i| format!("/p{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(prefix_keys(&many[..abi::PREFIXES_MAX]).map(|k| k.len()), Some(abi::PREFIXES_MAX));
        assert!(prefix_keys(&many).is_none());
        // cut to the key size
        let long = format!("/{}", "a".repeat(100));
        assert_eq!(prefix_keys(&[long.as_str()]).unwrap()[0].0, abi::PREFIX_MAX as u32 * 8);
    }
}
