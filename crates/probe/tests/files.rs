//! Open family, close, failed open (root, real kernel).
mod common;
use common::*;
use harrier_event::consts::open_flags as o;
use std::os::unix::fs::MetadataExt;

#[test]
fn openat_reports_fd_name_flags_mode_dev_ino() {
    let dir = std::env::temp_dir().join(format!("harrier-probe-open-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("f.txt");
    let _ = std::fs::remove_file(&path);
    let cpath = cstr(path.to_str().unwrap());
    let missing = cstr("/nonexistent-harrier/x");
    let mut probe = load(&[]);
    let pid = run_child(|| unsafe {
        let fd = libc::openat(
            libc::AT_FDCWD,
            cpath.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
            0o640,
        );
        libc::close(fd);
        libc::syscall(libc::SYS_open, missing.as_ptr(), libc::O_RDONLY);
    });
    let evs = events_of(&mut probe, pid);
    let md = std::fs::metadata(&path).unwrap();
    let open = find(&evs, "openat");
    let fd = open.i64("fd");
    assert!(fd >= 3, "fd {fd}");
    assert_eq!(open.i64("dirfd"), -100);
    assert_eq!(open.str("name"), path.to_str().unwrap());
    assert_eq!(open.u32("flags"), o::WRONLY | o::CREAT | o::CLOEXEC | o::F_CREATED);
    assert_eq!(open.u32("mode"), 0o640);
    assert_eq!(open.u64("ino"), md.ino());
    assert_eq!(open.u32("dev") as u64, md.dev());
    let close = find(&evs, "close");
    assert_eq!(close.i64("fd"), fd);
    assert_eq!(close.i64("res"), 0);
    let failed = find(&evs, "open");
    assert_eq!(failed.i64("fd"), -(libc::ENOENT as i64));
    assert_eq!(failed.str("name"), "/nonexistent-harrier/x");
    assert_eq!(failed.u32("flags"), o::RDONLY);
    let _ = std::fs::remove_dir_all(&dir);
}
