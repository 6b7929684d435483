//! dup/fcntl, chdir, rename/unlink/mkdir/rmdir/symlink/link/chmod, credentials, memfd, kill,
//! prctl, mmap with PROT_EXEC, unshare (root, real kernel).
mod common;
use common::*;

#[test]
fn fd_and_path_syscalls() {
    let dir = std::env::temp_dir().join(format!("harrier-probe-misc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = |n: &str| cstr(dir.join(n).to_str().unwrap());
    let (cdir, a, b, sub, lnk, hard) =
        (cstr(dir.to_str().unwrap()), d("a"), d("b"), d("sub"), d("lnk"), d("hard"));
    let names = [
        "dup2",
        "fcntl",
        "chdir",
        "rename",
        "renameat2",
        "unlink",
        "unlinkat",
        "mkdir",
        "rmdir",
        "symlink",
        "link",
        "chmod",
        "fchmodat",
        "kill",
        "prctl",
        "mmap",
        "mprotect",
        "memfd_create",
        "setuid",
        "unshare",
    ];
    let mut probe = load(&names);
    let pid = run_child(|| unsafe {
        libc::chdir(cdir.as_ptr());
        let fd = libc::open(a.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
        libc::dup2(fd, 42);
        libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 50);
        libc::syscall(libc::SYS_rename, a.as_ptr(), b.as_ptr());
        libc::syscall(libc::SYS_chmod, b.as_ptr(), 0o4755);
        libc::syscall(libc::SYS_mkdir, sub.as_ptr(), 0o700);
        libc::syscall(libc::SYS_rmdir, sub.as_ptr());
        libc::syscall(libc::SYS_symlink, b.as_ptr(), lnk.as_ptr());
        libc::syscall(libc::SYS_link, b.as_ptr(), hard.as_ptr());
        libc::syscall(libc::SYS_unlink, lnk.as_ptr());
        libc::unlinkat(libc::AT_FDCWD, c"hard".as_ptr(), 0);
        libc::memfd_create(c"harrier-memfd".as_ptr(), libc::MFD_CLOEXEC);
        libc::prctl(libc::PR_SET_NAME, c"renamed".as_ptr());
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        libc::kill(0x7ffffff0, 0);
        libc::syscall(libc::SYS_setuid, 0);
        libc::unshare(libc::CLONE_NEWUTS);
    });
    let evs = events_of(&mut probe, pid);
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    assert_eq!(find(&evs, "chdir").str("path"), dir.to_str().unwrap());
    let dup2 = find(&evs, "dup2");
    assert_eq!((dup2.i64("res"), dup2.i64("newfd")), (42, 42));
    let fc = find(&evs, "fcntl");
    assert!(fc.i64("res") >= 50);
    assert_eq!(fc.u64("cmd") as u8, 26, "PPM_FCNTL_F_DUPFD_CLOEXEC");
    assert_eq!(fc.i64("fd"), dup2.i64("oldfd"));
    let rn = find(&evs, "rename");
    assert_eq!((rn.i64("res"), rn.str("oldpath"), rn.str("newpath")), (0, p("a"), p("b")));
    let ch = find(&evs, "chmod");
    assert_eq!((ch.str("filename"), ch.u32("mode")), (p("b"), 0o4755));
    let mk = find(&evs, "mkdir");
    assert_eq!((mk.str("path"), mk.u32("mode")), (p("sub"), 0o700));
    assert_eq!(find(&evs, "rmdir").str("path"), p("sub"));
    let sl = find(&evs, "symlink");
    assert_eq!((sl.str("target"), sl.str("linkpath")), (p("b"), p("lnk")));
    let ln = find(&evs, "link");
    assert_eq!((ln.str("oldpath"), ln.str("newpath")), (p("b"), p("hard")));
    assert_eq!(find(&evs, "unlink").str("path"), p("lnk"));
    let ua = find(&evs, "unlinkat");
    assert_eq!((ua.i64("dirfd"), ua.str("name"), ua.i64("res")), (-100, "hard".to_string(), 0));
    let mf = find(&evs, "memfd_create");
    assert!(mf.i64("fd") >= 0);
    assert_eq!((mf.str("name"), mf.u32("flags")), ("harrier-memfd".to_string(), 1));
    let pr = find(&evs, "prctl");
    assert_eq!((pr.i64("option"), pr.str("arg2_str")), (libc::PR_SET_NAME as i64, "renamed".to_string()));
    let mmaps: Vec<&Ev> = evs.iter().filter(|e| e.name() == "mmap").collect();
    assert_eq!(mmaps.len(), 1, "only the PROT_EXEC mapping is reported");
    assert_eq!(mmaps[0].u32("prot"), 1 | 4);
    assert_eq!(mmaps[0].u32("flags"), (1 << 1) | (1 << 3));
    assert_eq!(mmaps[0].u64("length"), 4096);
    let k = find(&evs, "kill");
    assert_eq!((k.i64("res"), k.i64("pid"), k.u64("sig") as u8), (-(libc::ESRCH as i64), 0x7ffffff0, 0));
    let su = find(&evs, "setuid");
    assert_eq!((su.i64("res"), su.u32("uid")), (0, 0));
    let un = find(&evs, "unshare");
    assert_eq!((un.i64("res"), un.u32("flags")), (0, 1 << 7));
    let _ = std::fs::remove_dir_all(&dir);
}

/// capset: the credentials item (read from the BTF task's cred) carries the sets after the call:
/// the child drops CAP_NET_RAW from its effective set and keeps the rest.
#[test]
fn capset_reports_the_new_capability_sets() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cap = |key: &str| {
        let v = status.lines().find_map(|l| l.strip_prefix(key)).unwrap().trim_start_matches(':').trim();
        u64::from_str_radix(v, 16).unwrap()
    };
    let (eff, perm, inh) = (cap("CapEff"), cap("CapPrm"), cap("CapInh"));
    const NET_RAW: u64 = 1 << 13;
    assert!(eff & NET_RAW != 0, "this test needs CAP_NET_RAW (root)");
    let mut probe = load(&["capset"]);
    let pid = run_child(|| unsafe {
        // _LINUX_CAPABILITY_VERSION_3: two 32-bit halves of each set
        let mut hdr = [0x2008_0522u32, 0];
        let mut data = [0u32; 6];
        libc::syscall(libc::SYS_capget, hdr.as_mut_ptr(), data.as_mut_ptr());
        data[0] &= !(NET_RAW as u32);
        libc::syscall(libc::SYS_capset, hdr.as_mut_ptr(), data.as_ptr());
    });
    let evs = events_of(&mut probe, pid);
    let c = find(&evs, "capset");
    assert_eq!(c.i64("res"), 0);
    assert_eq!(c.u64("cap_effective"), eff & !NET_RAW);
    assert_eq!(c.u64("cap_permitted"), perm);
    assert_eq!(c.u64("cap_inheritable"), inh);
}
