//! execve, clone/fork (both sides), threads, procexit (root, real kernel).
mod common;
use common::*;
use std::os::unix::fs::MetadataExt;

fn gettid() -> u64 {
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

fn self_status(key: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find_map(|l| l.strip_prefix(key).map(|v| v.trim_start_matches(':').trim().to_string())).unwrap()
}

#[test]
fn execve_reports_process_fields() {
    let dir = std::env::temp_dir().join(format!("harrier-probe-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cdir = cstr(dir.to_str().unwrap());
    let prog = cstr("/bin/echo");
    let (a0, a1, a2) = (cstr("echo"), cstr("hello"), cstr("world wide"));
    let argv = [a0.as_ptr(), a1.as_ptr(), a2.as_ptr(), std::ptr::null()];
    let e0 = cstr("HARRIER_T=1");
    let envp = [e0.as_ptr(), std::ptr::null()];
    let missing = cstr("/nonexistent-harrier-exe");
    let mut probe = load(&[]);
    let parent_tid = gettid();
    let pid = run_child(|| unsafe {
        let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        libc::dup2(devnull, 1);
        libc::chdir(cdir.as_ptr());
        libc::execve(missing.as_ptr(), argv.as_ptr(), envp.as_ptr());
        libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
    });
    let evs = events_of(&mut probe, pid);
    let execs: Vec<&Ev> = evs.iter().filter(|e| e.name() == "execve").collect();
    assert_eq!(execs.len(), 2, "{:?}", evs.iter().map(|e| e.name()).collect::<Vec<_>>());

    let failed = execs[0];
    assert_eq!(failed.i64("res"), -(libc::ENOENT as i64));
    assert_eq!(failed.str("filename"), "/nonexistent-harrier-exe");
    assert_eq!(failed.str("exe"), "echo");
    assert_eq!(failed.list("args"), ["hello", "world wide"]);

    let ok = execs[1];
    let real = std::fs::canonicalize("/bin/echo").unwrap();
    let md = std::fs::metadata(&real).unwrap();
    assert_eq!(ok.i64("res"), 0);
    assert_eq!(ok.str("exe"), "echo");
    assert_eq!(ok.list("args"), ["hello", "world wide"]);
    assert_eq!(ok.i64("tid"), pid as i64);
    assert_eq!(ok.i64("pid"), pid as i64);
    assert_eq!(ok.i64("ptid"), parent_tid as i64);
    assert_eq!(ok.str("cwd"), dir.to_str().unwrap());
    assert_eq!(ok.str("comm"), "echo");
    assert_eq!(ok.list("env"), ["HARRIER_T=1"]);
    assert_eq!(ok.str("filename"), "/bin/echo");
    assert_eq!(ok.str("trusted_exepath"), real.to_str().unwrap());
    assert_eq!(ok.u64("exe_ino"), md.ino());
    assert_eq!(ok.u64("exe_ino_mtime"), md.mtime() as u64 * 1_000_000_000 + md.mtime_nsec() as u64);
    assert_eq!(ok.u32("uid"), unsafe { libc::geteuid() });
    assert_eq!(ok.u32("gid"), unsafe { libc::getegid() });
    let loginuid: i64 = std::fs::read_to_string("/proc/self/loginuid").unwrap().trim().parse().unwrap();
    assert_eq!(ok.u32("loginuid"), loginuid as u32);
    assert_eq!(ok.u64("cap_effective"), u64::from_str_radix(&self_status("CapEff"), 16).unwrap());
    assert_eq!(ok.u64("cap_permitted"), u64::from_str_radix(&self_status("CapPrm"), 16).unwrap());
    assert_eq!(ok.i64("pgid"), unsafe { libc::getpgid(0) } as i64);
    assert_eq!(ok.i64("vpgid"), unsafe { libc::getpgid(0) } as i64);
    let limit = {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
        r.rlim_cur
    };
    assert_eq!(ok.u64("fdlimit"), limit);
    assert!(ok.u32("vm_size") > 0);
    // cgroups as `subsys=path`, matching /proc/PID/cgroup's controllers for this process
    let cg = ok.list("cgroups");
    assert!(!cg.is_empty());
    let ours = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mem_line =
        ours.lines().find(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|x| x == "memory")));
    if let Some(l) = mem_line {
        let path = l.splitn(3, ':').nth(2).unwrap();
        assert!(cg.contains(&format!("memory={path}")), "{cg:?} vs {path}");
    }
    let exit = find(&evs, "procexit");
    assert_eq!(exit.i64("ret"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fork_reports_child_and_parent_sides_and_exit_status() {
    let mut probe = load(&[]);
    let me = gettid();
    let pid = run_child(|| unsafe { libc::_exit(3) });
    let evs = collect(
        &mut probe,
        |e| e.tid() == pid as u64 || e.tid() == me,
        |v| v.iter().any(|e| e.name() == "procexit" && e.tid() == pid as u64),
    );
    let parent = evs.iter().find(|e| e.name() == "clone" && e.tid() == me).expect("parent-side clone");
    assert_eq!(parent.i64("res"), pid as i64);
    assert_eq!(parent.i64("tid"), me as i64);
    assert_eq!(parent.i64("pid"), std::process::id() as i64);
    let child = evs.iter().find(|e| e.name() == "clone" && e.tid() == pid as u64).expect("child-side clone");
    assert_eq!(child.i64("res"), 0);
    assert_eq!(child.i64("tid"), pid as i64);
    assert_eq!(child.i64("pid"), pid as i64);
    assert_eq!(child.i64("ptid"), me as i64);
    assert_eq!(child.i64("vtid"), pid as i64);
    assert_eq!(child.i64("vpid"), pid as i64);
    let flags = child.u32("flags");
    assert_eq!(flags & (1 << 13), 0, "not a thread");
    assert_ne!(flags & (1 << 23), 0, "CLONE_CHILD_CLEARTID");
    let exe = std::fs::read("/proc/self/cmdline").unwrap();
    let argv0 = String::from_utf8_lossy(exe.split(|&c| c == 0).next().unwrap()).into_owned();
    assert_eq!(child.str("exe"), argv0);
    assert_eq!(child.str("cwd"), std::env::current_dir().unwrap().to_str().unwrap());
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    assert_eq!(parent.str("comm"), comm.trim_end());
    assert_eq!(child.u32("uid"), unsafe { libc::geteuid() });
    assert!(!child.list("cgroups").is_empty());
    let exit = evs.iter().find(|e| e.name() == "procexit" && e.tid() == pid as u64).unwrap();
    assert_eq!(exit.i64("status"), 3 << 8);
    assert_eq!(exit.i64("ret"), 3);
    assert_eq!(exit.u64("sig") as u8, 0);
    assert!(exit.i64("reaper_tid") > 0);
}

#[test]
fn thread_creation_has_clone_thread_flag() {
    let mut probe = load(&[]);
    let me = gettid();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        tx.send(gettid()).unwrap();
    });
    let tid = rx.recv().unwrap();
    h.join().unwrap();
    let evs = collect(
        &mut probe,
        |e| e.tid() == tid || e.tid() == me,
        |v| v.iter().any(|e| e.name() == "procexit" && e.tid() == tid),
    );
    let child = evs.iter().find(|e| e.name().starts_with("clone") && e.tid() == tid).expect("child side");
    assert_eq!(child.i64("res"), 0);
    assert_eq!(child.i64("tid"), tid as i64);
    assert_eq!(child.i64("pid"), std::process::id() as i64);
    assert_ne!(child.u32("flags") & (1 << 13), 0, "CLONE_THREAD");
    let parent = evs.iter().find(|e| e.name().starts_with("clone") && e.tid() == me).expect("parent side");
    assert_eq!(parent.i64("res"), tid as i64);
    assert_ne!(parent.u32("flags") & (1 << 13), 0);
}
