//! Field semantics fixed against Debian's sysdig 0.29 (the selection oracle), with hand-built events.
//! Tests named `compat_*` exercise `State::sysdig029` (selection mode only); the others hold for rule
//! evaluation too.

use harrier_engine::{OutputTemplate, Source};
use harrier_event::{ids, Event, EventBuf};
use harrier_state::thread::ThreadInfo;
use harrier_state::{State, SyscallEvent, User};

/// Build one event; `params` pushes its parameters.
fn ev(etype: u16, tid: u64, params: impl FnOnce(&mut EventBuf)) -> Vec<u8> {
    let mut b = EventBuf::new();
    b.begin(1_000, tid, etype);
    params(&mut b);
    b.finish().expect("valid event").raw().to_vec()
}

fn view(bytes: &[u8]) -> Event<'_> {
    Event::new(bytes, 0, 0).expect("valid event")
}

/// Apply an event to the state.
fn apply(st: &mut State, bytes: &[u8]) {
    st.apply(&view(bytes));
}

/// Render `fmt` (`%field` placeholders; `<NA>` when absent) for an event the state has seen.
fn render(st: &State, bytes: &[u8], fmt: &str) -> String {
    let t = OutputTemplate::compile(Source::Syscall, fmt).expect("template compiles");
    t.render(&SyscallEvent::new(st, view(bytes), 1))
}

fn thread(tid: i64, ptid: i64, comm: &str) -> ThreadInfo {
    ThreadInfo { tid, pid: tid, ptid, comm: comm.into(), ..Default::default() }
}

fn state(compat: bool) -> State {
    let mut st = State::new();
    st.sysdig029 = compat;
    st.users.insert(0, User { uid: 0, gid: 0, name: "root".into(), ..Default::default() });
    st.groups.insert(0, "root".into());
    st
}

fn open_e(tid: u64, path: &str) -> Vec<u8> {
    ev(ids::PPME_SYSCALL_OPEN_E, tid, |b| {
        b.push_str(path).push_u32(1).push_u32(0);
    })
}

fn open_x(tid: u64, fd: i64, path: &str) -> Vec<u8> {
    ev(ids::PPME_SYSCALL_OPEN_X, tid, |b| {
        b.push_i64(fd).push_str(path).push_u32(1).push_u32(0).push_u32(0).push_u64(0);
    })
}

fn fstat_e(tid: u64, fd: i64) -> Vec<u8> {
    ev(ids::PPME_SYSCALL_FSTAT_E, tid, |b| {
        b.push_i64(fd);
    })
}

/// An fstat exit as old captures record it: the result only, no fd.
fn fstat_x_old(tid: u64) -> Vec<u8> {
    ev(ids::PPME_SYSCALL_FSTAT_X, tid, |b| {
        b.push_i64(0);
    })
}

#[test]
fn unknown_thread_has_unknown_user_and_group() {
    for compat in [false, true] {
        let mut st = state(compat);
        let e = fstat_e(100, 1);
        apply(&mut st, &e);
        assert_eq!(
            render(&st, &e, "%user.uid %user.name %group.gid %group.name %user.loginuid"),
            "4294967295 <NA> 4294967295 <NA> -1"
        );
    }
}

#[test]
fn user_name_needs_a_user_entry() {
    let mut st = state(false);
    st.threads.insert(ThreadInfo { uid: 1000, gid: 1000, ..thread(7, 1, "x") });
    let e = fstat_e(7, 1);
    apply(&mut st, &e);
    assert_eq!(render(&st, &e, "%user.uid %user.name %group.name"), "1000 <NA> <NA>");
    st.users.insert(1000, User { uid: 1000, gid: 1000, name: "ubuntu".into(), ..Default::default() });
    st.groups.insert(1000, "ubuntu".into());
    assert_eq!(render(&st, &e, "%user.name %group.name"), "ubuntu ubuntu");
}

#[test]
fn ppid_is_known_without_the_parent() {
    let mut st = state(false);
    st.threads.insert(thread(7, 5, "child"));
    let e = fstat_e(7, 1);
    apply(&mut st, &e);
    assert_eq!(render(&st, &e, "%proc.ppid %proc.pname"), "5 <NA>");
    // a thread first seen in an event has no parent: -1
    let e = fstat_e(8, 1);
    apply(&mut st, &e);
    assert_eq!(render(&st, &e, "%proc.ppid %proc.pname"), "-1 <NA>");
}

#[test]
fn evt_failed_is_false_without_a_result() {
    let mut st = state(false);
    st.threads.insert(thread(7, 1, "x"));
    let e = open_e(7, "/etc/passwd");
    apply(&mut st, &e);
    assert_eq!(render(&st, &e, "%evt.failed %evt.res"), "false <NA>");
    let x = open_x(7, -2, "/nope");
    apply(&mut st, &x);
    assert_eq!(render(&st, &x, "%evt.failed %evt.res %evt.rawres"), "true ENOENT -2");
    let x = open_x(7, 3, "/etc/passwd");
    apply(&mut st, &x);
    assert_eq!(render(&st, &x, "%evt.failed %evt.res %evt.rawres"), "false SUCCESS 3");
}

#[test]
fn is_server_is_false_for_files() {
    for compat in [false, true] {
        let mut st = state(compat);
        st.threads.insert(thread(7, 1, "x"));
        let x = open_x(7, 3, "/etc/passwd");
        apply(&mut st, &x);
        assert_eq!(render(&st, &x, "%fd.is_server %fd.typechar"), "false f");
    }
}

#[test]
fn enter_events_use_their_fd_parameter() {
    for compat in [false, true] {
        let mut st = state(compat);
        st.threads.insert(thread(7, 1, "x"));
        apply(&mut st, &open_x(7, 3, "/etc/ld.so.cache"));
        let e = fstat_e(7, 3);
        apply(&mut st, &e);
        assert_eq!(
            render(&st, &e, "%fd.num %fd.name %fd.directory %fd.typechar"),
            "3 /etc/ld.so.cache /etc f"
        );
    }
}

#[test]
fn compat_exit_fd_comes_from_the_last_enter_event() {
    let mut st = state(true);
    st.threads.insert(thread(7, 1, "x"));
    apply(&mut st, &open_x(7, 3, "/etc/ld.so.cache"));
    apply(&mut st, &fstat_e(7, 3));
    let x = fstat_x_old(7);
    apply(&mut st, &x);
    assert_eq!(render(&st, &x, "%fd.num %fd.name"), "3 /etc/ld.so.cache");
    // without compatibility the old exit has no fd
    st.sysdig029 = false;
    assert_eq!(render(&st, &x, "%fd.num %fd.name"), "<NA> <NA>");
}

#[test]
fn compat_exit_without_enter_uses_fd_0_of_a_new_thread() {
    let mut st = state(true);
    let mut t = thread(7, 1, "x");
    t.fds.insert(0, harrier_state::fd::FdInfo::file("/dev/pts/5", 0));
    st.threads.insert(t);
    let x = fstat_x_old(7);
    apply(&mut st, &x);
    assert_eq!(render(&st, &x, "%fd.num %fd.name"), "0 /dev/pts/5");
}

#[test]
fn compat_unknown_fd_reads_as_unknown_kind() {
    let mut st = state(true);
    st.threads.insert(thread(7, 1, "x"));
    let e = fstat_e(7, 1);
    apply(&mut st, &e);
    let fmt = "%fd.num [%fd.name] %fd.typechar %fd.type %fd.directory";
    assert_eq!(render(&st, &e, fmt), "1 [<NA>] o <NA> <NA>");
    let x = fstat_x_old(7);
    apply(&mut st, &x);
    assert_eq!(render(&st, &x, fmt), "1 [] o <NA> /");
    st.sysdig029 = false;
    assert_eq!(render(&st, &e, fmt), "1 [<NA>] <NA> <NA> <NA>");
}

#[test]
fn compat_fd_creating_enter_events() {
    let mut st = state(true);
    st.threads.insert(thread(7, 1, "x"));
    let e = open_e(7, "/etc/passwd");
    apply(&mut st, &e);
    assert_eq!(render(&st, &e, "%fd.num %fd.typechar %fd.name"), "-1 f <NA>");
    let s = ev(ids::PPME_SOCKET_SOCKET_E, 7, |b| {
        b.push_u32(10).push_u32(2).push_u32(0);
    });
    apply(&mut st, &s);
    assert_eq!(render(&st, &s, "%fd.num %fd.typechar"), "-1 4");
}

#[test]
fn compat_failed_open_names_the_path() {
    let mut st = state(true);
    let mut t = thread(7, 1, "x");
    t.cwd = "/home/u".into();
    st.threads.insert(t);
    apply(&mut st, &open_e(7, ".curlrc"));
    let x = open_x(7, -2, ".curlrc");
    apply(&mut st, &x);
    assert_eq!(render(&st, &x, "%fd.num %fd.typechar %fd.name"), "-1 f /home/u/.curlrc");
}

#[test]
fn compat_mmap_has_no_fd() {
    let mut st = state(true);
    st.threads.insert(thread(7, 1, "x"));
    apply(&mut st, &open_x(7, 3, "/lib/libc.so.6"));
    let m = ev(ids::PPME_SYSCALL_MMAP_E, 7, |b| {
        b.push_u64(0).push_u64(4096).push_u32(1).push_u32(2).push_i64(3).push_u64(0);
    });
    apply(&mut st, &m);
    assert_eq!(render(&st, &m, "%fd.num %fd.name"), "<NA> <NA>");
    st.sysdig029 = false;
    assert_eq!(render(&st, &m, "%fd.num %fd.name"), "3 /lib/libc.so.6");
}

#[test]
fn compat_unconnected_ip_socket_has_no_endpoints() {
    let sock_x = ev(ids::PPME_SOCKET_SOCKET_X, 7, |b| {
        // fd, domain AF_INET6, SOCK_DGRAM, proto 0, flags
        b.push_i64(4).push_u32(10).push_u32(2).push_u32(0).push_u32(0);
    });
    let fmt = "%fd.type %fd.l4proto %fd.sip %fd.is_server";
    let mut st = state(true);
    st.threads.insert(thread(7, 1, "x"));
    apply(&mut st, &sock_x);
    assert_eq!(render(&st, &sock_x, fmt), "ipv6 <NA> <NA> true");
    let mut st = state(false);
    st.threads.insert(thread(7, 1, "x"));
    apply(&mut st, &sock_x);
    assert_eq!(render(&st, &sock_x, fmt), "ipv6 udp :: false");
}

/// A clone exit (current version) with the parameters the tracker reads.
fn clone_x(tid: u64, res: i64, pid: i64, ptid: i64, comm: &str, flags: u32) -> Vec<u8> {
    ev(ids::PPME_SYSCALL_CLONE_20_X, tid, |b| {
        b.push_i64(res).push_str(comm).push_cstr(b"").push_i64(tid as i64).push_i64(pid).push_i64(ptid);
        b.push_str("/").push_i64(1024).push_u64(0).push_u64(0).push_u32(0).push_u32(0).push_u32(0);
        b.push_str(comm).push_cstr(b"").push_u32(flags).push_u32(1000).push_u32(1000);
        b.push_i64(tid as i64).push_i64(pid);
    })
}

#[test]
fn compat_threads_have_the_calling_thread_as_parent() {
    const CLONE_THREAD: u32 = harrier_state::tracker::clone_flags::CLONE_THREAD;
    for compat in [false, true] {
        let mut st = state(compat);
        st.threads.insert(thread(3200, 1, "bash"));
        st.threads.insert(thread(17497, 3200, "curl"));
        apply(&mut st, &clone_x(17497, 17498, 17497, 3200, "curl", CLONE_THREAD));
        let child = clone_x(17498, 0, 17497, 3200, "curl", CLONE_THREAD);
        apply(&mut st, &child);
        let want = if compat { "17497 3200 curl bash" } else { "17497 3200 bash bash" };
        assert_eq!(
            render(&st, &child, "%proc.pid %proc.ppid %proc.pname %proc.aname[1]"),
            want,
            "compat={compat}"
        );
    }
}

#[test]
fn compat_caller_is_not_refreshed_by_its_clone() {
    for compat in [false, true] {
        let mut st = state(compat);
        st.threads.insert(thread(3200, 1, "bash"));
        let e = fstat_e(17497, 1); // first seen in an event: user unknown
        apply(&mut st, &e);
        let x = clone_x(17497, 17498, 17497, 3200, "curl", 0);
        apply(&mut st, &x);
        let want = if compat { "4294967295" } else { "1000" };
        assert_eq!(render(&st, &x, "%user.uid"), want, "compat={compat}");
    }
}

#[test]
fn sockets_found_at_start_up_get_a_role() {
    use harrier_scap::meta::{
        FdInfo as ScapFd, FdKind as ScapKind, FdTable, Header, ThreadInfo as ScapThread,
    };
    let mut h = Header::default();
    h.threads.push(ScapThread { tid: 50, pid: 50, ptid: 1, comm: "sshd".into(), ..Default::default() });
    let sock = |fd, sport, dport| ScapFd {
        fd,
        ino: 0,
        kind: ScapKind::Ipv4Sock { sip: [10, 0, 2, 15], dip: [10, 0, 2, 2], sport, dport, l4proto: 1 },
    };
    h.fd_tables.push(FdTable { tid: 50, fds: vec![sock(3, 22, 49289), sock(4, 40000, 443)] });
    let mut st = state(false);
    st.load_scap_header(&h);
    let fmt = "%fd.name %fd.cip %fd.sport %fd.is_server";
    let e = fstat_e(50, 3);
    apply(&mut st, &e);
    assert_eq!(render(&st, &e, fmt), "10.0.2.2:49289->10.0.2.15:22 10.0.2.2 22 true");
    let e = fstat_e(50, 4);
    apply(&mut st, &e);
    assert_eq!(render(&st, &e, fmt), "10.0.2.15:40000->10.0.2.2:443 10.0.2.15 443 false");
}

#[test]
fn kubernetes_container_name_from_metadata_or_kubelet_label() {
    let mut st = state(false);
    let mut t = thread(500, 1, "sh");
    t.container_id = "3ad7b26ded6d".into();
    st.threads.insert(t);
    let read = ev(ids::PPME_SYSCALL_READ_X, 500, |b| {
        b.push_i64(0).push(b"").push_i64(0).push_u32(0);
    });
    apply(&mut st, &read);
    let mut c = harrier_state::ContainerInfo { id: "3ad7b26ded6d".into(), ..Default::default() };
    c.labels = vec![("io.kubernetes.container.name".into(), "web".into())];
    st.containers.insert(c.id.clone(), c.clone());
    assert_eq!(render(&st, &read, "%k8s.container.name"), "web", "from the kubelet label");
    c.k8s_container_name = "api".into();
    st.containers.insert(c.id.clone(), c);
    assert_eq!(render(&st, &read, "%k8s.container.name"), "api", "the runtime's metadata wins");
    st.containers.clear();
    assert_eq!(render(&st, &read, "%k8s.container.name"), "<NA>");
}

/// A successful setuid: rules judge the call with the caller's identity (as Falco's rules judge
/// the enter event), the thread has the new uid from its next event on. sysdig 0.29's exit
/// event already shows the new uid.
#[test]
fn setuid_is_judged_with_the_callers_uid() {
    for compat in [false, true] {
        let mut st = state(compat);
        st.users.insert(1000, User { uid: 1000, gid: 1000, name: "alice".into(), ..Default::default() });
        st.threads.insert(ThreadInfo { uid: 1000, ..thread(300, 1, "su") });
        let set = ev(ids::PPME_SYSCALL_SETUID_X, 300, |b| {
            b.push_i64(0).push_u32(0);
        });
        apply(&mut st, &set);
        let during = render(&st, &set, "%user.uid %user.name %evt.arg.uid");
        let next = fstat_e(300, 1);
        apply(&mut st, &next);
        let after = render(&st, &next, "%user.uid %user.name");
        if compat {
            assert_eq!(during, "0 root 0");
        } else {
            assert_eq!(during, "1000 alice 0");
        }
        assert_eq!(after, "0 root");
        // a failed setuid changes nothing
        let failed = ev(ids::PPME_SYSCALL_SETUID_X, 300, |b| {
            b.push_i64(-1).push_u32(1000);
        });
        apply(&mut st, &failed);
        apply(&mut st, &next);
        assert_eq!(render(&st, &next, "%user.uid"), "0");
    }
}

/// `creat` is an open for writing that creates; `evt.is_open_create` follows its `creat_flags`
/// (whether the file was really created), like the open family's `O_F_CREATED`.
#[test]
fn creat_reports_whether_it_created_the_file() {
    for (flags, created) in [(1u16 << 14, "true"), (0, "false")] {
        let mut st = state(false);
        st.threads.insert(thread(400, 1, "touch"));
        let e = ev(ids::PPME_SYSCALL_CREAT_X, 400, |b| {
            b.push_i64(3).push_str("/dev/x").push_u32(0o644).push_u32(0).push_u64(0).push_u16(flags);
        });
        apply(&mut st, &e);
        assert_eq!(
            render(&st, &e, "%evt.is_open_create %evt.is_open_write %evt.is_open_read %fd.name"),
            format!("{created} true false /dev/x")
        );
    }
}
