//! The probe's wake-ups are bounded in time (root, real kernel): a record reaches a reader that
//! waits with a long poll timeout within the batch window (the kernel's batch timer; at once for
//! urgent syscalls), including records that come while a wake-up is already scheduled.
//! Without the time bound, the reader would sleep until the 1 MiB byte threshold or its timeout.

mod common;

use harrier_probe::{Probe, ProbeConfig};
use std::ffi::CString;
use std::time::{Duration, Instant};

/// Far longer than any window: a poll that returns an event well before this was woken for it.
const LONG: Duration = Duration::from_secs(30);

fn load(urgent: &[&str]) -> Probe {
    let cfg = ProbeConfig {
        syscalls: &["mkdir", "mkdirat"],
        with_state_events: false,
        urgent,
        ..Default::default()
    };
    Probe::load(&cfg).unwrap_or_else(|e| panic!("{e}"))
}

/// A child makes `n` directories back to back under a fresh temp dir; its pid and the dir.
fn mkdirs_in_child(n: usize) -> (i32, std::path::PathBuf) {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "harrier-wakeup-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let paths: Vec<CString> = (0..n)
        .map(|i| CString::new(dir.join(format!("d{i}")).to_string_lossy().as_bytes()).unwrap())
        .collect();
    let pid = common::run_child(|| {
        for p in &paths {
            // SAFETY: a valid C string.
            unsafe { libc::mkdir(p.as_ptr(), 0o700) };
        }
    });
    (pid, dir)
}

/// Make `n` directories under a fresh temp dir in a child, back to back; then poll with the long
/// timeout until the child's `n` mkdir events are in. Returns how long that took.
fn mkdirs_delivered(probe: &mut Probe, n: usize) -> Duration {
    // Empty the ring of what came before (other processes' mkdirs, procexits).
    for _ in 0..3 {
        probe.poll(Duration::from_millis(5), &mut |_| {}).expect("poll");
    }
    let t = Instant::now();
    let (pid, dir) = mkdirs_in_child(n);
    let mut seen = 0;
    while seen < n && t.elapsed() < Duration::from_secs(60) {
        probe
            .poll(LONG, &mut |e| {
                if e.tid() == pid as u64 && e.info().name.starts_with("mkdir") {
                    seen += 1;
                }
            })
            .expect("poll");
    }
    let took = t.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(seen, n, "the child's mkdir events");
    took
}

#[test]
fn an_urgent_record_wakes_the_reader() {
    let mut probe = load(&["mkdir", "mkdirat"]);
    assert_eq!(probe.urgent_syscalls().len(), 2, "{:?}", probe.urgent_syscalls());
    let took = mkdirs_delivered(&mut probe, 1);
    assert!(took < Duration::from_secs(10), "delivered after {took:?}: the reader was not woken");
}

#[test]
fn an_ordinary_record_wakes_the_reader_within_the_batch_window() {
    let mut probe = load(&[]);
    assert!(probe.urgent_syscalls().is_empty());
    let took = mkdirs_delivered(&mut probe, 1);
    assert!(took < Duration::from_secs(10), "delivered after {took:?}: the reader was not woken");
}

#[test]
fn records_right_after_a_wake_up_are_fetched_too() {
    // 200 mkdirs back to back: most come while the batch timer is pending and arm nothing; its
    // wake-up (or the next one they arm) fetches them.
    let mut probe = load(&[]);
    let took = mkdirs_delivered(&mut probe, 200);
    assert!(took < Duration::from_secs(10), "delivered after {took:?}: records waited for the timeout");
}

#[test]
fn state_only_records_come_with_the_next_watched_record_in_order() {
    // close is loaded for state only (no rule watches it): its records are lazy and wake nobody;
    // they must still reach the reader, before the watched mkdir that follows them, which
    // wakes it within the batch window.
    let cfg = ProbeConfig { syscalls: &["mkdir", "mkdirat"], with_state_events: true, ..Default::default() };
    let mut probe = Probe::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..3 {
        probe.poll(Duration::from_millis(5), &mut |_| {}).expect("poll");
    }
    let dir = std::env::temp_dir().join(format!("harrier-lazy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = CString::new(dir.join("d").to_string_lossy().as_bytes()).unwrap();
    let t = Instant::now();
    let pid = common::run_child(|| {
        for _ in 0..20 {
            // SAFETY: closing an fd that is not open only fails
            unsafe { libc::close(999) };
        }
        // SAFETY: a valid C string.
        unsafe { libc::mkdir(path.as_ptr(), 0o700) };
    });
    let mut seq: Vec<String> = Vec::new();
    while !seq.iter().any(|n| n.starts_with("mkdir")) && t.elapsed() < Duration::from_secs(60) {
        probe
            .poll(LONG, &mut |e| {
                if e.tid() == pid as u64 && (e.info().name == "close" || e.info().name.starts_with("mkdir")) {
                    seq.push(e.info().name.to_string());
                }
            })
            .expect("poll");
    }
    let took = t.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(seq.len(), 21, "20 closes then the mkdir: {seq:?}");
    assert!(seq[..20].iter().all(|n| n == "close") && seq[20].starts_with("mkdir"), "{seq:?}");
    assert!(
        took < Duration::from_secs(10),
        "delivered after {took:?}: the watched record did not wake the reader"
    );
}

#[test]
fn a_flood_wakes_the_reader_by_bytes_before_the_batch_window() {
    // The batch timer is far off (2 min): only the byte threshold can wake the reader, once the
    // child's records put more than a slot's share of 16 KiB on the ring.
    let cfg = ProbeConfig {
        syscalls: &["mkdir", "mkdirat"],
        with_state_events: false,
        batch_window: Duration::from_secs(120),
        wakeup_bytes: 16 << 10,
        ..Default::default()
    };
    let mut probe = Probe::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..3 {
        probe.poll(Duration::from_millis(5), &mut |_| {}).expect("poll");
    }
    let t = Instant::now();
    let (pid, dir) = mkdirs_in_child(2000);
    let mut seen = 0;
    probe
        .poll(LONG, &mut |e| {
            if e.tid() == pid as u64 && e.info().name.starts_with("mkdir") {
                seen += 1;
            }
        })
        .expect("poll");
    let took = t.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(seen > 0, "the first wake-up brought none of the child's records (after {took:?})");
    assert!(
        took < Duration::from_secs(10),
        "woken after {took:?}: the byte threshold did not wake the reader"
    );
}
