//! Session audit overhead, printed as figures (root, real kernel). Run with
//! `cargo bench -p harrier-session --bench overhead`.
//!
//! 1. Non-terminal reads, capture off vs on: ns per 1-byte read() from a pipe and from /dev/zero
//!    in a process that has a controlling terminal (the worst case: the kernel program looks the
//!    fd up before it rejects it) and in one without (rejected at the first check); and `dd`
//!    through a pipe (bs=1), wall time.
//!    Also a syscall other than read/write (getppid) by a `bash`-named process with a terminal:
//!    the capture's program is attached to the read and write syscalls' own tracepoints, so this
//!    pays only the kernel's syscall-tracepoint path, never the program.
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
    thread: std::thread::JoinHandle<Capture>,
}

fn start(cfg: &CaptureConfig) -> Running {
    let mut cap = Capture::open(cfg).expect("load the session capture (root, BTF)");
    let stop = Arc::new(AtomicBool::new(false));
    let records = Arc::new(AtomicU64::new(0));
    let (s, r) = (stop.clone(), records.clone());
    let thread = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let _ = cap.poll(Duration::from_millis(50), &mut |ev| {
                if matches!(ev.kind, TermKind::Input(_)) {
                    r.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        cap
    });
    Running { stop, records, thread }
}

/// ns per getppid() (a syscall other than read/write) over `n` calls.
fn other_syscalls(n: u64) -> u64 {
    let t = Instant::now();
    for _ in 0..n {
        unsafe { libc::getppid() };
    }
    t.elapsed().as_nanos() as u64 / n
}

/// One sample of each non-terminal figure: [pipe (ctty), /dev/zero (ctty), pipe (no ctty), dd ms,
/// getppid (ctty)].
fn sample(pty_name: &str) -> [u64; 5] {
    const N: u64 = 200_000;
    [
        in_child(Some(pty_name), "benchcat", || pipe_reads(N)),
        in_child(Some(pty_name), "benchcat", || zero_reads(N)),
        in_child(None, "benchcat", || pipe_reads(N)),
        dd_pipe_ms(1 << 19),
        in_child(Some(pty_name), "bash", || other_syscalls(N)),
    ]
}

fn show(label: &str, v: [u64; 5]) {
    println!(
        "  {label:<12} pipe read (ctty) {:>4} ns | /dev/zero read (ctty) {:>4} ns | pipe read (no ctty) {:>4} ns | dd bs=1 512 KiB through a pipe {:>5} ms | getppid (a bash with a tty) {:>4} ns",
        v[0], v[1], v[2], v[3], v[4]
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
    let ns = in_child(Some(&name), "bash", move || read_loop(0, n));
    let m = feeder.join().unwrap();
    unsafe { libc::close(m) };
    ns
}

fn main() {
    assert!(unsafe { libc::geteuid() } == 0, "the session overhead bench loads eBPF and must run as root");
    let (pm, pts) = pty();
    println!("session audit overhead (shared machine: compare off and on of the same run only)");
    println!("non-terminal reads (off and on interleaved, 7 rounds, medians):");
    let cfg = CaptureConfig::default();
    let (mut offs, mut ons) = (Vec::new(), Vec::new());
    let (mut rss0, mut rss1) = (0, 0);
    for round in 0..7 {
        offs.push(sample(&pts));
        if round == 0 {
            rss0 = rss_kib();
        }
        let run = start(&cfg);
        if round == 0 {
            rss1 = rss_kib();
        }
        ons.push(sample(&pts));
        run.stop.store(true, Ordering::Relaxed);
        drop(run.thread.join().unwrap());
    }
    let med = |v: &Vec<[u64; 5]>, i: usize| median(v.iter().map(|x| x[i]).collect());
    let off = [0, 1, 2, 3, 4].map(|i| med(&offs, i));
    let on = [0, 1, 2, 3, 4].map(|i| med(&ons, i));
    show("capture off", off);
    show("capture on", on);
    let pct = |a: u64, b: u64| (b as f64 - a as f64) / a.max(1) as f64 * 100.0;
    println!(
        "  overhead:    pipe (ctty) {:+.1}% | /dev/zero (ctty) {:+.1}% | pipe (no ctty) {:+.1}% | dd {:+.1}% | getppid {:+.1}%",
        pct(off[0], on[0]),
        pct(off[1], on[1]),
        pct(off[2], on[2]),
        pct(off[3], on[3]),
        pct(off[4], on[4])
    );

    println!("typed characters (1-byte pty reads by a process named bash, 20000 reads):");
    let t_off = median((0..3).map(|_| typed_chars(20_000)).collect());
    // keep the rate limit out of the way for the per-character cost
    let run = start(&CaptureConfig { rate_bytes_per_sec: u64::MAX / 2, ..CaptureConfig::default() });
    let t_on = median((0..3).map(|_| typed_chars(20_000)).collect());
    run.stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(100));
    let got = run.records.load(Ordering::Relaxed);
    let cap = run.thread.join().unwrap();
    println!(
        "  off {t_off} ns/char, on {t_on} ns/char: {} ns per recorded character (kernel side + ring), {got} records received, {} lost (ring full)",
        t_on as i64 - t_off as i64,
        cap.stats().ring_full
    );
    drop(cap);

    println!("terminal flood (a bash-named reader of a pty fed as fast as possible, 2 s):");
    for rate in [64 * 1024u64, u64::MAX / 2] {
        let run = start(&CaptureConfig { rate_bytes_per_sec: rate, ..CaptureConfig::default() });
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
        let reads = in_child(Some(&name), "bash", || {
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
        run.stop.store(true, Ordering::Relaxed);
        let got = run.records.load(Ordering::Relaxed);
        let cap = run.thread.join().unwrap();
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
