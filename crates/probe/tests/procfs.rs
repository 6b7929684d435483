//! Start-up state from /proc: this process, an open file and a listening socket.
use harrier_scap::FdKind;
use std::net::TcpListener;
use std::os::fd::AsRawFd;

#[test]
fn scan_finds_this_process_its_file_and_socket() {
    let path = std::env::temp_dir().join(format!("harrier-procfs-{}", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = harrier_probe::procfs::scan();
    let me = std::process::id() as u64;
    let t = h.threads.iter().find(|t| t.tid == me).expect("this process");
    assert_eq!(t.pid, me);
    assert_eq!(t.ptid, unsafe { libc::getppid() } as u64);
    assert_eq!(t.cwd, std::env::current_dir().unwrap().to_str().unwrap());
    assert_eq!(t.exepath, std::env::current_exe().unwrap().to_str().unwrap());
    assert_eq!(t.uid, unsafe { libc::geteuid() });
    assert!(!t.cgroups.is_empty());
    assert!(t.fdlimit > 0);
    assert!(!t.env.is_empty());
    assert!(h.threads.iter().any(|t| t.tid == 1));
    let fds = h.fds_of(me).expect("fd table");
    let ff = fds.fds.iter().find(|x| x.fd == f.as_raw_fd() as i64).expect("file fd");
    match &ff.kind {
        FdKind::File { path: p, .. } => assert_eq!(p, path.to_str().unwrap()),
        k => panic!("{k:?}"),
    }
    let sf = fds.fds.iter().find(|x| x.fd == l.as_raw_fd() as i64).expect("socket fd");
    assert_eq!(
        sf.kind,
        FdKind::Ipv4ServSock { ip: [127, 0, 0, 1], port, l4proto: harrier_event::consts::l4::TCP }
    );
    assert!(h.users.iter().any(|u| u.uid == 0 && u.name == "root"));
    assert!(h.groups.iter().any(|g| g.gid == 0));
    let m = h.machine.as_ref().unwrap();
    assert!(m.num_cpus > 0 && m.memory_size_bytes > 0 && !m.hostname.is_empty());
    let _ = std::fs::remove_file(&path);
}
