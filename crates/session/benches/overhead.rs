//! Session audit overhead, printed as figures (root, real kernel). Run with
//! `cargo bench -p harrier-session --bench overhead`.
//!
//! The capture attaches its read/write tracepoints only while a shell with a terminal exists, so
//! every figure is taken in three states, alternated round by round: capture off, capture on with
//! no shell with a terminal (tracepoints detached), capture on with one (a real shell on a pty:
//! attached). The bench records one private shell name (`hbsh`) so that terminal shells other
//! people have open on the machine do not decide the state; the "shell present" state runs a
//! symlink `hbsh` -> bash on a pty, and the typed-character and flood readers take that name.
//!
//! 1. Non-terminal reads, capture off vs on: ns per 1-byte read() from a pipe and from /dev/zero
//!    in a process that has a controlling terminal (the worst case: the kernel program looks the
//!    fd up before it rejects it) and in one without (rejected at the first check); and `dd`
//!    through a pipe (bs=1), wall time.
//!    Also a syscall other than read/write (getppid) by a `bash`-named process with a terminal:
//!    the capture's program is attached to the read and write syscalls' own tracepoints, so this
//!    pays only the kernel's syscall-tracepoint path, never the program.
//!    Files: 1-byte write() and read() of a file in /tmp, and 64 KiB pipe throughput (MiB/s).
//! 2. Cost per typed character: 1-byte reads from a pty by a process named `bash`, off vs on.
//! 3. A terminal flood: a `bash`-named reader of a pty fed as fast as possible; records/s that
//!    reach userspace before the per-process rate limit, and what the limit dropped.
//! 4. Memory: RSS of this process before and after loading the capture.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harrier_session::{Capture, CaptureConfig, TermKind};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap())
        })
        .unwrap_or(0)
}

fn check(rc: libc::c_int, what: &str) -> libc::c_int {
    assert!(rc >= 0, "{what}: {}", std::io::Error::last_os_error());
    rc
}

/// A new pty pair (master, slave path), master raw.
fn pty() -> (RawFd, String) {
    unsafe {
        let m = check(libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY), "posix_openpt");
        check(libc::grantpt(m), "grantpt");
        check(libc::unlockpt(m), "unlockpt");
        let name = CStr::from_ptr(libc::ptsname(m)).to_string_lossy().into_owned();
        // raw before anything is written: no echo to fill the master's buffer, no line limit
        let mut tio: libc::termios = std::mem::zeroed();
        check(libc::tcgetattr(m, &mut tio), "tcgetattr");
        libc::cfmakeraw(&mut tio);
        check(libc::tcsetattr(m, libc::TCSANOW, &tio), "tcsetattr");
        (m, name)
    }
}

/// In a forked child: optionally become a session leader with `tty` as controlling terminal and
/// take `comm` as name, then run `f`; returns what the child wrote to its result pipe (u64).
fn in_child(ctty: Option<&str>, comm: &str, f: impl FnOnce() -> u64) -> u64 {
    let mut p = [0; 2];
    unsafe { check(libc::pipe(p.as_mut_ptr()), "pipe") };
    let pid = unsafe { libc::fork() };
    check(pid, "fork");
    if pid == 0 {
        unsafe {
            libc::setsid();
            if let Some(t) = ctty {
                let c = std::ffi::CString::new(t).unwrap();
                let fd = libc::open(c.as_ptr(), libc::O_RDWR);
                libc::ioctl(fd, libc::TIOCSCTTY, 0);
                libc::dup2(fd, 0);
            }
            let name = std::ffi::CString::new(comm).unwrap();
            libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
            let v = f();
            libc::write(p[1], &v as *const u64 as *const _, 8);
            libc::_exit(0);
        }
    }
    unsafe { libc::close(p[1]) };
    let mut v = 0u64;
    unsafe {
        libc::read(p[0], &mut v as *mut u64 as *mut _, 8);
        libc::close(p[0]);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    v
}

/// ns per 1-byte read over `n` reads of `fd`.
fn read_loop(fd: RawFd, n: u64) -> u64 {
    let mut b = [0u8; 1];
    let t = Instant::now();
    for _ in 0..n {
        unsafe { libc::read(fd, b.as_mut_ptr() as *mut _, 1) };
    }
    t.elapsed().as_nanos() as u64 / n
}

fn pipe_reads(n: u64) -> u64 {
    let mut p = [0; 2];
    unsafe { check(libc::pipe(p.as_mut_ptr()), "pipe") };
    let w = p[1];
    let writer = std::thread::spawn(move || {
        let buf = [b'x'; 65536];
        let mut left = n as usize;
        while left > 0 {
            let k = unsafe { libc::write(w, buf.as_ptr() as *const _, left.min(buf.len())) };
            if k <= 0 {
                break;
            }
            left -= k as usize;
        }
    });
    let r = read_loop(p[0], n);
    writer.join().unwrap();
    unsafe {
        libc::close(p[0]);
        libc::close(p[1]);
    }
    r
}

fn zero_reads(n: u64) -> u64 {
    let fd = unsafe { libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY) };
    let r = read_loop(fd, n);
    unsafe { libc::close(fd) };
    r
}

fn dd_pipe_ms(bytes: u64) -> u64 {
    let t = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("dd if=/dev/zero bs=1 count={bytes} status=none | dd of=/dev/null bs=1 status=none"))
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    t.elapsed().as_millis() as u64
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

struct Running {
    stop: Arc<AtomicBool>,
    records: Arc<AtomicU64>,
    attached: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Capture>,
}

/// The one shell name the bench's captures record.
const SHELL: &str = "hbsh";

fn bench_cfg() -> CaptureConfig {
    CaptureConfig { shells: vec![SHELL.into()], ..CaptureConfig::default() }
}

fn start(cfg: &CaptureConfig) -> Running {
    let mut cap = Capture::open(cfg).expect("load the session capture (root, BTF)");
    let stop = Arc::new(AtomicBool::new(false));
    let records = Arc::new(AtomicU64::new(0));
    let attached = Arc::new(AtomicBool::new(cap.attached()));
    let (s, r, a) = (stop.clone(), records.clone(), attached.clone());
    let thread = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let _ = cap.poll(Duration::from_millis(50), &mut |ev| {
                if matches!(ev.kind, TermKind::Input(_)) {
                    r.fetch_add(1, Ordering::Relaxed);
                }
            });
            a.store(cap.attached(), Ordering::Relaxed);
        }
        cap
    });
    Running { stop, records, attached, thread }
}

impl Running {
    fn finish(self) -> Capture {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }

    fn wait_attached(&self, want: bool) {
        let t = Instant::now();
        while self.attached.load(Ordering::Relaxed) != want {
            assert!(t.elapsed() < Duration::from_secs(20), "capture never became attached={want}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A real shell with a terminal: `hbsh` (a symlink to bash) as session leader on a new pty,
/// waiting. Killed on drop.
struct TermShell {
    child: std::process::Child,
    master: RawFd,
    _dir: std::path::PathBuf,
}

impl TermShell {
    fn start() -> TermShell {
        use std::os::unix::process::CommandExt;
        let dir = std::env::temp_dir().join(format!("hbsh-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let exe = dir.join(SHELL);
        if !exe.exists() {
            std::os::unix::fs::symlink("/bin/bash", &exe).unwrap();
        }
        let (m, name) = pty();
        let mut c = Command::new(&exe);
        c.args(["--norc", "--noprofile", "-c", "sleep 100000; :"]);
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let tty = std::ffi::CString::new(name).unwrap();
        // SAFETY: only async-signal-safe calls between fork and exec
        unsafe {
            c.pre_exec(move || {
                libc::setsid();
                let fd = libc::open(tty.as_ptr(), libc::O_RDWR);
                if fd < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::dup2(fd, 0);
                Ok(())
            });
        }
        TermShell { child: c.spawn().expect("start a shell on a pty"), master: m, _dir: dir }
    }
}

impl Drop for TermShell {
    fn drop(&mut self) {
        // the shell and its sleep
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
        unsafe { libc::close(self.master) };
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// ns per 1-byte write() to then read() from a file in /tmp: [write, read].
fn file_rw(n: u64) -> [u64; 2] {
    let path = std::ffi::CString::new(format!("/tmp/hbsh-file-{}", std::process::id())).unwrap();
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC, 0o600) };
    check(fd, "open /tmp file");
    let b = [b'z'; 1];
    let t = Instant::now();
    for _ in 0..n {
        unsafe { libc::write(fd, b.as_ptr() as *const _, 1) };
    }
    let w = t.elapsed().as_nanos() as u64 / n;
    unsafe { libc::lseek(fd, 0, libc::SEEK_SET) };
    let r = read_loop(fd, n);
    unsafe {
        libc::close(fd);
        libc::unlink(path.as_ptr());
    }
    [w, r]
}

/// MiB/s through a pipe in 64 KiB writes and reads (256 MiB).
fn pipe_mibps() -> u64 {
    const TOTAL: usize = 256 << 20;
    let mut p = [0; 2];
    unsafe { check(libc::pipe(p.as_mut_ptr()), "pipe") };
    let w = p[1];
    let t = Instant::now();
    let writer = std::thread::spawn(move || {
        let buf = vec![b'x'; 65536];
        let mut left = TOTAL;
        while left > 0 {
            let k = unsafe { libc::write(w, buf.as_ptr() as *const _, left.min(buf.len())) };
            if k <= 0 {
                break;
            }
            left -= k as usize;
        }
    });
    let mut buf = vec![0u8; 65536];
    let mut got = 0;
    while got < TOTAL {
        let k = unsafe { libc::read(p[0], buf.as_mut_ptr() as *mut _, buf.len()) };
        if k <= 0 {
            break;
        }
        got += k as usize;
    }
    writer.join().unwrap();
    let secs = t.elapsed().as_secs_f64();
    unsafe {
        libc::close(p[0]);
        libc::close(p[1]);
    }
    (got as f64 / secs / (1 << 20) as f64) as u64
}

/// ns per getppid() (a syscall other than read/write) over `n` calls.
fn other_syscalls(n: u64) -> u64 {
    let t = Instant::now();
    for _ in 0..n {
        unsafe { libc::getppid() };
    }
    t.elapsed().as_nanos() as u64 / n
}

const NF: usize = 9;

/// One sample of each non-terminal figure: [pipe (ctty), /dev/zero (ctty), pipe (no ctty), dd ms,
/// getppid (ctty), file write (ctty), file read (ctty), pipe MiB/s (ctty), pipe MiB/s (no ctty)].
fn sample(pty_name: &str) -> [u64; NF] {
    const N: u64 = 200_000;
    let file = [
        in_child(Some(pty_name), "benchcat", || file_rw(N)[0]),
        in_child(Some(pty_name), "benchcat", || file_rw(N)[1]),
    ];
    [
        in_child(Some(pty_name), "benchcat", || pipe_reads(N)),
        in_child(Some(pty_name), "benchcat", || zero_reads(N)),
        in_child(None, "benchcat", || pipe_reads(N)),
        dd_pipe_ms(1 << 19),
        in_child(Some(pty_name), SHELL, || other_syscalls(N)),
        file[0],
        file[1],
        in_child(Some(pty_name), "benchcat", pipe_mibps),
        in_child(None, "benchcat", pipe_mibps),
    ]
}

fn show(label: &str, v: [u64; NF]) {
    println!(
        "  {label:<28} pipe read (ctty) {:>4} ns | /dev/zero read (ctty) {:>4} ns | pipe read (no ctty) {:>4} ns | dd bs=1 512 KiB through a pipe {:>5} ms | getppid (a hbsh with a tty) {:>4} ns | file write 1 B {:>4} ns | file read 1 B {:>4} ns | pipe 64 KiB (ctty) {:>5} MiB/s | pipe 64 KiB (no ctty) {:>5} MiB/s",
        v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]
    );
}

/// ns per 1-byte read from a pty by a process called `bash` (the master is fed in advance).
fn typed_chars(n: u64) -> u64 {
    let (m, name) = pty();
    let feeder = std::thread::spawn(move || {
        let buf = [b'a'; 4096];
        let mut left = n as usize;
        while left > 0 {
            let k = unsafe { libc::write(m, buf.as_ptr() as *const _, left.min(buf.len())) };
            if k <= 0 {
                break;
            }
            left -= k as usize;
        }
        m
    });
    let ns = in_child(Some(&name), SHELL, move || read_loop(0, n));
    let m = feeder.join().unwrap();
    unsafe { libc::close(m) };
    ns
}

fn main() {
    assert!(unsafe { libc::geteuid() } == 0, "the session overhead bench loads eBPF and must run as root");
    let (pm, pts) = pty();
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    println!("session audit overhead (shared machine: compare the states of the same run only)");
    println!(
        "non-terminal syscalls ({rounds} rounds alternating off / on without a terminal shell / on with one; medians; load per round):"
    );
    let cfg = bench_cfg();
    let (mut offs, mut idle, mut busy) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rss0, mut rss1) = (0, 0);
    for round in 0..rounds {
        let l0 = load();
        offs.push(sample(&pts));
        if round == 0 {
            rss0 = rss_kib();
        }
        let run = start(&cfg);
        if round == 0 {
            rss1 = rss_kib();
        }
        run.wait_attached(false);
        let l1 = load();
        idle.push(sample(&pts));
        let sh = TermShell::start();
        run.wait_attached(true);
        let l2 = load();
        busy.push(sample(&pts));
        drop(sh);
        let cap = run.finish();
        let st = cap.stats();
        println!(
            "  round {round}: load off [{l0}] on-no-shell [{l1}] on-with-shell [{l2}]; attaches {} detaches {}",
            st.attaches, st.detaches
        );
        drop(cap);
    }
    let med = |v: &Vec<[u64; NF]>, i: usize| median(v.iter().map(|x| x[i]).collect());
    let off: [u64; NF] = std::array::from_fn(|i| med(&offs, i));
    let on0: [u64; NF] = std::array::from_fn(|i| med(&idle, i));
    let on1: [u64; NF] = std::array::from_fn(|i| med(&busy, i));
    let spread = |v: &Vec<[u64; NF]>, i: usize| {
        let mut x: Vec<u64> = v.iter().map(|s| s[i]).collect();
        x.sort_unstable();
        (x[0], x[x.len() - 1])
    };
    show("capture off", off);
    show("on, no terminal shell", on0);
    show("on, a terminal shell exists", on1);
    let pct = |a: u64, b: u64| (b as f64 - a as f64) / a.max(1) as f64 * 100.0;
    let names = [
        "pipe read (ctty)",
        "/dev/zero read (ctty)",
        "pipe read (no ctty)",
        "dd bs=1",
        "getppid",
        "file write 1 B",
        "file read 1 B",
        "pipe 64 KiB MiB/s (ctty)",
        "pipe 64 KiB MiB/s (no ctty)",
    ];
    println!("  change vs off (median; the off rounds' own min..max in brackets, the noise):");
    for i in 0..NF {
        let (lo, hi) = spread(&offs, i);
        println!(
            "    {:<28} no shell {:+6.1}% | with shell {:+6.1}%   [off {lo}..{hi}]",
            names[i],
            pct(off[i], on0[i]),
            pct(off[i], on1[i])
        );
    }

    println!(
        "typed characters (1-byte pty reads by a process named hbsh, a recorded shell name, 20000 reads):"
    );
    let t_off = median((0..3).map(|_| typed_chars(20_000)).collect());
    // keep the rate limit out of the way for the per-character cost
    let run = start(&CaptureConfig { rate_bytes_per_sec: u64::MAX / 2, ..bench_cfg() });
    let sh = TermShell::start();
    run.wait_attached(true);
    let t_on = median((0..3).map(|_| typed_chars(20_000)).collect());
    drop(sh);
    std::thread::sleep(Duration::from_millis(100));
    let got = run.records.load(Ordering::Relaxed);
    let cap = run.finish();
    println!(
        "  off {t_off} ns/char, on {t_on} ns/char: {} ns per recorded character (kernel side + ring), {got} records received, {} lost (ring full)",
        t_on as i64 - t_off as i64,
        cap.stats().ring_full
    );
    drop(cap);

    println!("terminal flood (an hbsh-named reader of a pty fed as fast as possible, 2 s):");
    for rate in [64 * 1024u64, u64::MAX / 2] {
        let run = start(&CaptureConfig { rate_bytes_per_sec: rate, ..bench_cfg() });
        let sh = TermShell::start();
        run.wait_attached(true);
        let (m, name) = pty();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        unsafe { libc::fcntl(m, libc::F_SETFL, libc::fcntl(m, libc::F_GETFL) | libc::O_NONBLOCK) };
        let feeder = std::thread::spawn(move || {
            let buf = [b'y'; 4096];
            let mut sent = 0u64;
            let mut pfd = libc::pollfd { fd: m, events: libc::POLLOUT, revents: 0 };
            while !s2.load(Ordering::Relaxed) {
                if unsafe { libc::poll(&mut pfd, 1, 50) } <= 0 {
                    continue;
                }
                let k = unsafe { libc::write(m, buf.as_ptr() as *const _, buf.len()) };
                if k > 0 {
                    sent += k as u64;
                }
            }
            (m, sent)
        });
        let t = Instant::now();
        let reads = in_child(Some(&name), SHELL, || {
            let mut b = [0u8; 4096];
            let t = Instant::now();
            let mut n = 0;
            while t.elapsed() < Duration::from_secs(2) {
                if unsafe { libc::read(0, b.as_mut_ptr() as *mut _, b.len()) } > 0 {
                    n += 1;
                }
            }
            n
        });
        let secs = t.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let (m, sent) = feeder.join().unwrap();
        unsafe { libc::close(m) };
        std::thread::sleep(Duration::from_millis(200));
        drop(sh);
        let got = run.records.load(Ordering::Relaxed);
        let cap = run.finish();
        let st = cap.stats();
        let limit = if rate > 1 << 40 {
            "no rate limit".to_string()
        } else {
            format!("rate limit {} KiB/s", rate / 1024)
        };
        println!(
            "  {limit:<22} {:.0} reads/s, {:.1} MiB/s typed into the pty; {:.0} records/s reached userspace; rate-limited reads {}, ring full {}",
            reads as f64 / secs,
            sent as f64 / secs / (1 << 20) as f64,
            got as f64 / secs,
            st.rate_limited,
            st.ring_full
        );
    }
    println!(
        "memory: RSS +{} KiB after loading (maps: {} KiB ring buffer, charged to the kernel's memcg)",
        rss1.saturating_sub(rss0),
        cfg.ring_bytes / 1024
    );
    unsafe { libc::close(pm) };
}
