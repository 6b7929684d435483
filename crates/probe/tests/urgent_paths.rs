//! Opens are urgent by path (root, real kernel): with `urgent_by_path`, only the opens whose
//! path starts with one of the urgent prefixes (a relative one: whose file's top-level directory
//! is a prefix's first component) wake the reader at once; the others are batched, and every one
//! of them is still delivered.
//! Asserted on the kernel's per-record urgency (counted for the child only), not on timings.

mod common;

use harrier_probe::{Probe, ProbeConfig, UrgencyCounts};
use std::ffi::CString;
use std::time::{Duration, Instant};

const DEV: usize = 5;
const ORDINARY: usize = 40;
const RELATIVE: usize = 3;
const REL_DEV: usize = 4;

/// A child opens /dev/null `DEV` times, a file under a temp dir by its absolute path
/// `ORDINARY` times and by a relative path `RELATIVE` times, then /dev/null by the relative path
/// `null` from /dev `REL_DEV` times (all read-only). Returns the urgency of the child's records and
/// how many of its opens (by path kind) were delivered.
fn run(probe: &mut Probe) -> (UrgencyCounts, [usize; 4]) {
    for _ in 0..3 {
        probe.poll(Duration::from_millis(5), &mut |_| {}).expect("poll");
    }
    let dir = std::env::temp_dir().join(format!("harrier-urgent-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("f"), b"x").expect("file");
    let dev = CString::new("/dev/null").unwrap();
    let abs = CString::new(dir.join("f").to_string_lossy().as_bytes()).unwrap();
    let cdir = CString::new(dir.to_string_lossy().as_bytes()).unwrap();
    let rel = CString::new("f").unwrap();
    let devdir = CString::new("/dev").unwrap();
    let null = CString::new("null").unwrap();
    let pid = common::run_child(|| {
        // SAFETY: valid C strings; the fds are closed right away.
        unsafe {
            for _ in 0..DEV {
                libc::close(libc::open(dev.as_ptr(), libc::O_RDONLY));
            }
            for _ in 0..ORDINARY {
                libc::close(libc::openat(libc::AT_FDCWD, abs.as_ptr(), libc::O_RDONLY));
            }
            libc::chdir(cdir.as_ptr());
            for _ in 0..RELATIVE {
                libc::close(libc::openat(libc::AT_FDCWD, rel.as_ptr(), libc::O_RDONLY));
            }
            libc::chdir(devdir.as_ptr());
            for _ in 0..REL_DEV {
                libc::close(libc::openat(libc::AT_FDCWD, null.as_ptr(), libc::O_RDONLY));
            }
        }
    });
    // the child's records wait in the ring: count them as they are read
    probe.tap_urgency(Some(pid as u32));
    let abs_s = abs.to_string_lossy().into_owned();
    let mut seen = [0usize; 4];
    let t = Instant::now();
    while seen.iter().sum::<usize>() < DEV + ORDINARY + RELATIVE + REL_DEV
        && t.elapsed() < Duration::from_secs(10)
    {
        probe
            .poll(Duration::from_millis(50), &mut |e| {
                if e.tid() != pid as u64 || !e.info().name.starts_with("open") {
                    return;
                }
                let name = e.param_index("name").and_then(|i| e.param_str(i)).unwrap_or_default().to_string();
                match name.as_str() {
                    "/dev/null" => seen[0] += 1,
                    "f" => seen[2] += 1,
                    "null" => seen[3] += 1,
                    n if n == abs_s => seen[1] += 1,
                    _ => {}
                }
            })
            .expect("poll");
    }
    let counts = probe.urgency_counts();
    probe.tap_urgency(None);
    let _ = std::fs::remove_dir_all(&dir);
    (counts, seen)
}

#[test]
fn only_opens_under_an_urgent_prefix_are_urgent() {
    let cfg = ProbeConfig {
        syscalls: &["open", "openat"],
        with_state_events: false,
        urgent: &["open", "openat"],
        urgent_by_path: &["open", "openat"],
        urgent_path_prefixes: &["/dev/nu", "/proc/sys/"],
        ..Default::default()
    };
    let mut probe = Probe::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let before = probe.drops();
    let (counts, seen) = run(&mut probe);
    // every open is delivered, urgent or not
    assert_eq!(
        seen,
        [DEV, ORDINARY, RELATIVE, REL_DEV],
        "delivered opens (/dev, absolute, relative, relative in /dev)"
    );
    // the /dev/null opens (by absolute and by relative path) were urgent, the others batched
    assert_eq!(
        counts,
        UrgencyCounts { urgent: (DEV + REL_DEV) as u64, ordinary: (ORDINARY + RELATIVE) as u64 }
    );
    let after = probe.drops();
    assert!(after.urgent >= before.urgent + (DEV + REL_DEV) as u64, "{before:?} -> {after:?}");
}

#[test]
fn without_path_prefixes_every_urgent_open_stays_urgent() {
    let cfg = ProbeConfig {
        syscalls: &["open", "openat"],
        with_state_events: false,
        urgent: &["open", "openat"],
        ..Default::default()
    };
    let mut probe = Probe::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let (counts, seen) = run(&mut probe);
    assert_eq!(seen, [DEV, ORDINARY, RELATIVE, REL_DEV]);
    assert_eq!(counts, UrgencyCounts { urgent: (DEV + ORDINARY + RELATIVE + REL_DEV) as u64, ordinary: 0 });
}

#[test]
fn not_urgent_at_all_means_no_urgent_record() {
    let cfg = ProbeConfig { syscalls: &["open", "openat"], with_state_events: false, ..Default::default() };
    let mut probe = Probe::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let (counts, seen) = run(&mut probe);
    assert_eq!(seen, [DEV, ORDINARY, RELATIVE, REL_DEV]);
    assert_eq!(counts, UrgencyCounts { urgent: 0, ordinary: (DEV + ORDINARY + RELATIVE + REL_DEV) as u64 });
}

#[test]
fn with_device_prefixes_a_relative_open_is_judged_by_the_file_type() {
    // Every prefix names device files: a relative open is urgent when it opens a character or
    // block device (here a copy of /dev/null's node in a temp dir: the kernel does not walk up to
    // see that it is not under /dev, a wrong guess that costs a wake-up, never a record), and a
    // regular file opened by a relative path is not.
    let cfg = ProbeConfig {
        syscalls: &["open", "openat"],
        with_state_events: false,
        urgent: &["open", "openat"],
        urgent_by_path: &["open", "openat"],
        urgent_path_prefixes: &["/dev/nu"],
        ..Default::default()
    };
    let mut probe = Probe::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let (counts, seen) = run(&mut probe);
    assert_eq!(seen, [DEV, ORDINARY, RELATIVE, REL_DEV]);
    assert_eq!(
        counts,
        UrgencyCounts { urgent: (DEV + REL_DEV) as u64, ordinary: (ORDINARY + RELATIVE) as u64 }
    );

    let dir = std::env::temp_dir().join(format!("harrier-urgent-node-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cdir = CString::new(dir.to_string_lossy().as_bytes()).unwrap();
    let node = CString::new("nullnode").unwrap();
    // SAFETY: valid C strings (root: mknod of a character device, 1:3 as /dev/null).
    let made = unsafe {
        libc::mknod(
            CString::new(dir.join("nullnode").to_string_lossy().as_bytes()).unwrap().as_ptr(),
            libc::S_IFCHR | 0o600,
            libc::makedev(1, 3),
        )
    };
    assert_eq!(made, 0, "mknod: {}", std::io::Error::last_os_error());
    for _ in 0..3 {
        probe.poll(Duration::from_millis(5), &mut |_| {}).expect("poll");
    }
    let pid = common::run_child(|| {
        // SAFETY: valid C strings; the fds are closed right away.
        unsafe {
            libc::chdir(cdir.as_ptr());
            for _ in 0..REL_DEV {
                libc::close(libc::openat(libc::AT_FDCWD, node.as_ptr(), libc::O_RDONLY));
            }
        }
    });
    probe.tap_urgency(Some(pid as u32));
    let mut n = 0;
    let t = Instant::now();
    while n < REL_DEV && t.elapsed() < Duration::from_secs(10) {
        probe
            .poll(Duration::from_millis(50), &mut |e| {
                if e.tid() == pid as u64 && e.info().name.starts_with("open") {
                    n += 1;
                }
            })
            .expect("poll");
    }
    let counts = probe.urgency_counts();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(n, REL_DEV);
    assert_eq!(counts, UrgencyCounts { urgent: REL_DEV as u64, ordinary: 0 });
}
