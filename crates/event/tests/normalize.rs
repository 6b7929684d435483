use harrier_event::consts::open_flags as of;
use harrier_event::*;

fn raw(f: impl FnOnce(&mut EventBuf)) -> Vec<u8> {
    let mut b = EventBuf::new();
    f(&mut b);
    b.finish().unwrap().raw().to_vec()
}

fn ev(r: &[u8]) -> Event<'_> {
    Event::new(r, 0, 0).unwrap()
}

#[test]
fn old_open_enter_exit_merges_into_newest_exit() {
    // open enter (3 params) + an old-style exit with only the fd (1 param).
    let e = raw(|b| {
        b.begin(10, 7, ids::PPME_SYSCALL_OPEN_E)
            .push_str("/etc/shadow")
            .push_u32(of::RDWR | of::CREAT)
            .push_u32(0o600);
    });
    let x = raw(|b| {
        b.begin(11, 7, ids::PPME_SYSCALL_OPEN_X).push_i64(4);
    });
    let mut n = Normalizer::new(NormalizeMode::ExitOnly);
    assert!(n.push(ev(&e)).is_none(), "enter events are consumed");
    assert_eq!(n.pending(), 1);
    let out = n.push(ev(&x)).expect("exit emitted");
    assert_eq!(out.etype(), ids::PPME_SYSCALL_OPEN_X);
    assert_eq!(out.ts(), 11);
    assert_eq!(out.nparams(), 6);
    assert_eq!(out.param_i64(0), Some(4));
    assert_eq!(out.param_str(1), Some("/etc/shadow"));
    assert_eq!(out.param_u32(2), Some(of::RDWR | of::CREAT));
    assert_eq!(out.param_u32(3), Some(0o600));
    assert_eq!(out.param(4), None, "dev unknown");
    assert_eq!(out.param(5), None, "ino unknown");
    let s = n.stats();
    assert_eq!((s.converted, s.dropped_enter, s.missing_enter), (1, 1, 0));
    assert_eq!(n.pending(), 0);
}

#[test]
fn exit_values_win_over_enter_values() {
    let e = raw(|b| {
        b.begin(10, 7, ids::PPME_SYSCALL_OPEN_E).push_str("/a").push_u32(1).push_u32(0);
    });
    let x = raw(|b| {
        b.begin(11, 7, ids::PPME_SYSCALL_OPEN_X)
            .push_i64(3)
            .push_str("/b")
            .push_u32(2)
            .push_u32(0)
            .push_u32(9);
    });
    let mut n = Normalizer::default();
    n.push(ev(&e));
    let out = n.push(ev(&x)).unwrap();
    assert_eq!(out.nparams(), 6);
    assert_eq!(out.param_str(1), Some("/b"));
    assert_eq!(out.param_u32(2), Some(2));
    assert_eq!(out.param_u32(4), Some(9));
}

#[test]
fn current_exit_passes_through_unchanged() {
    let x = raw(|b| {
        b.begin(11, 7, ids::PPME_SYSCALL_CLOSE_X).push_i64(0).push_i64(3);
    });
    let mut n = Normalizer::default();
    let out = n.push(ev(&x)).unwrap();
    assert_eq!(out.raw(), &x[..]);
    assert_eq!(n.stats().passed, 1);
}

#[test]
fn old_close_gets_fd_from_enter() {
    let e = raw(|b| {
        b.begin(1, 9, ids::PPME_SYSCALL_CLOSE_E).push_i64(5);
    });
    let x = raw(|b| {
        b.begin(2, 9, ids::PPME_SYSCALL_CLOSE_X).push_i64(0);
    });
    let mut n = Normalizer::default();
    assert!(n.push(ev(&e)).is_none());
    let out = n.push(ev(&x)).unwrap();
    assert_eq!(out.nparams(), 2);
    assert_eq!(out.param_i64(0), Some(0));
    assert_eq!(out.param_i64(1), Some(5));
}

#[test]
fn execve_old_versions_become_newest() {
    // execve_8: enter without params, exit with 8 params.
    let e = raw(|b| {
        b.begin(1, 100, ids::PPME_SYSCALL_EXECVE_8_E);
    });
    let x = raw(|b| {
        b.begin(2, 100, ids::PPME_SYSCALL_EXECVE_8_X)
            .push_i64(0)
            .push_str("/bin/cat")
            .push(b"/etc/passwd\0")
            .push_i64(100)
            .push_i64(100)
            .push_i64(1)
            .push_str("/root")
            .push_u64(1024);
    });
    let mut n = Normalizer::default();
    assert!(n.push(ev(&e)).is_none());
    let out = n.push(ev(&x)).unwrap();
    assert_eq!(out.etype(), 293);
    let info = out.info();
    assert_eq!(out.nparams(), info.params.len());
    assert_eq!(out.param_str(info.param_index("exe").unwrap()), Some("/bin/cat"));
    assert_eq!(out.param_str(info.param_index("cwd").unwrap()), Some("/root"));
    assert_eq!(out.param_i64(info.param_index("ptid").unwrap()), Some(1));
    assert_eq!(out.param_u64(info.param_index("fdlimit").unwrap()), Some(1024));
    assert_eq!(out.param(info.param_index("env").unwrap()), None);
    assert_eq!(out.param(info.param_index("filename").unwrap()), None);

    // execve_19 enter carries the filename: merged into the exit.
    let e = raw(|b| {
        b.begin(3, 100, ids::PPME_SYSCALL_EXECVE_19_E).push_str("/usr/bin/id");
    });
    let x16 = raw(|b| {
        b.begin(4, 100, ids::PPME_SYSCALL_EXECVE_16_X).push_i64(0).push_str("id");
        for _ in 2..16 {
            b.push_empty();
        }
    });
    n.push(ev(&e));
    let out = n.push(ev(&x16)).unwrap();
    assert_eq!(out.etype(), 293);
    assert_eq!(out.param_str(out.param_index("filename").unwrap()), Some("/usr/bin/id"));
    assert_eq!(out.param_str(1), Some("id"));
}

#[test]
fn missing_enter_leaves_params_empty() {
    let x = raw(|b| {
        b.begin(11, 7, ids::PPME_SYSCALL_OPEN_X).push_i64(4);
    });
    let mut n = Normalizer::default();
    let out = n.push(ev(&x)).unwrap();
    assert_eq!(out.nparams(), 6);
    assert_eq!(out.param_i64(0), Some(4));
    assert_eq!(out.param(1), None);
    assert_eq!(n.stats().missing_enter, 1);
}

#[test]
fn enter_of_another_thread_or_syscall_is_not_merged() {
    let e = raw(|b| {
        b.begin(1, 1, ids::PPME_SYSCALL_OPEN_E).push_str("/x").push_u32(1).push_u32(0);
    });
    let other_tid = raw(|b| {
        b.begin(2, 2, ids::PPME_SYSCALL_OPEN_X).push_i64(3);
    });
    let mut n = Normalizer::default();
    n.push(ev(&e));
    let out = n.push(ev(&other_tid)).unwrap();
    assert_eq!(out.param(1), None);
    // an exit of another syscall on the same thread discards the stale enter
    let close_x = raw(|b| {
        b.begin(3, 1, ids::PPME_SYSCALL_CLOSE_X).push_i64(0);
    });
    let out = n.push(ev(&close_x)).unwrap();
    assert_eq!(out.etype(), ids::PPME_SYSCALL_CLOSE_X);
    assert_eq!(out.param(1), None);
    assert_eq!(n.pending(), 0);
}

#[test]
fn integer_widths_are_adapted() {
    // brk_1_X has res as UINT64, brk_4_E addr UINT64; listen_E backlog INT32 → listen_X backlog INT32.
    let e = raw(|b| {
        b.begin(1, 1, ids::PPME_SOCKET_LISTEN_E).push_i64(3).push(&(-1i32).to_le_bytes());
    });
    let x = raw(|b| {
        b.begin(2, 1, ids::PPME_SOCKET_LISTEN_X).push_i64(0);
    });
    let mut n = Normalizer::default();
    n.push(ev(&e));
    let out = n.push(ev(&x)).unwrap();
    assert_eq!(out.param_i64(1), Some(3));
    assert_eq!(out.param_i64(2), Some(-1));
}

#[test]
fn meta_and_unused_events() {
    let procinfo = raw(|b| {
        b.begin(1, 1, ids::PPME_PROCINFO_E).push_u64(1).push_u64(2);
    });
    let unused = raw(|b| {
        b.begin(1, 1, ids::PPME_PROCEXIT_X);
    });
    let mut n = Normalizer::default();
    assert_eq!(n.push(ev(&procinfo)).unwrap().raw(), &procinfo[..]);
    assert!(n.push(ev(&unused)).is_none());
    let mut keep = Normalizer::new(NormalizeMode::KeepEnter);
    assert!(keep.push(ev(&unused)).is_some());

    let c = raw(|b| {
        b.begin(5, 1, ids::PPME_CONTAINER_E)
            .push_str("abc123")
            .push_u32(0)
            .push_str("web")
            .push_str("nginx:1");
    });
    let out = n.push(ev(&c)).unwrap();
    assert_eq!(out.etype(), ids::PPME_CONTAINER_JSON_2_E);
    assert!(out.is_large());
    assert_eq!(out.param_str(0), Some(r#"{"id":"abc123","type":0,"name":"web","image":"nginx:1"}"#));
}

#[test]
fn modes() {
    let e = raw(|b| {
        b.begin(1, 1, ids::PPME_SYSCALL_OPEN_E).push_str("/x").push_u32(1).push_u32(0);
    });
    let x = raw(|b| {
        b.begin(2, 1, ids::PPME_SYSCALL_OPEN_X).push_i64(3);
    });
    let mut keep = Normalizer::new(NormalizeMode::KeepEnter);
    assert_eq!(keep.push(ev(&e)).unwrap().raw(), &e[..]);
    let out = keep.push(ev(&x)).unwrap();
    assert_eq!(out.param_str(1), Some("/x"));
    let mut pass = Normalizer::new(NormalizeMode::PassThrough);
    assert_eq!(pass.push(ev(&e)).unwrap().raw(), &e[..]);
    assert_eq!(pass.push(ev(&x)).unwrap().raw(), &x[..]);
}

#[test]
fn enter_store_is_bounded() {
    let mut n = Normalizer::default().with_max_threads(4);
    for tid in 0..10u64 {
        let e = raw(|b| {
            b.begin(1, tid, ids::PPME_SYSCALL_OPEN_E).push_str("/x").push_u32(1).push_u32(0);
        });
        n.push(ev(&e));
        assert!(n.pending() <= 4);
    }
    assert!(n.stats().stash_overflows >= 1);
}

#[test]
fn enter_events_are_not_stored_once_exits_arrive_complete_until_one_is_not() {
    let enter = raw(|b| {
        b.begin(10, 7, ids::PPME_SYSCALL_OPEN_E).push_str("/etc/a").push_u32(of::RDONLY).push_u32(0);
    });
    let full_exit = raw(|b| {
        b.begin(11, 7, ids::PPME_SYSCALL_OPEN_X)
            .push_i64(3)
            .push_str("/etc/a")
            .push_u32(of::RDONLY)
            .push_u32(0)
            .push_u32(1)
            .push_u64(2);
    });
    let short_exit = raw(|b| {
        b.begin(13, 7, ids::PPME_SYSCALL_OPEN_X).push_i64(4);
    });
    let mut n = Normalizer::new(NormalizeMode::ExitOnly);
    n.push(ev(&enter));
    assert_eq!(n.pending(), 1, "stored while nothing is known about open exits");
    assert!(n.push(ev(&full_exit)).is_some());
    n.push(ev(&enter));
    assert_eq!(n.pending(), 0, "open exits arrive complete: the enter copy is skipped");
    // An exit that needs its enter event: converted without it (counted), and from now on
    // enter events of this type are stored again.
    let out = n.push(ev(&short_exit)).unwrap();
    assert_eq!(out.param_i64(0), Some(4));
    assert_eq!(n.stats().missing_enter, 1);
    n.push(ev(&enter));
    assert_eq!(n.pending(), 1);
    let out = n.push(ev(&short_exit)).unwrap();
    assert_eq!(out.param_str(1), Some("/etc/a"), "merged from the stored enter event");
}

#[test]
fn only_wanted_syscalls_are_normalised() {
    // close is wanted, read is not: an old-style read exit passes as recorded, its enter is not
    // stored, and storing or pairing close events around it works as without the filter.
    let read_e = raw(|b| {
        b.begin(1, 7, ids::PPME_SYSCALL_READ_E).push_i64(3).push_u32(100);
    });
    let read_x = raw(|b| {
        b.begin(2, 7, ids::PPME_SYSCALL_READ_X).push_i64(5).push(b"hello");
    });
    let close_e = raw(|b| {
        b.begin(3, 7, ids::PPME_SYSCALL_CLOSE_E).push_i64(5);
    });
    let close_x = raw(|b| {
        b.begin(4, 7, ids::PPME_SYSCALL_CLOSE_X).push_i64(0);
    });
    let wanted = |id: u16| id == ids::PPME_SYSCALL_CLOSE_X;
    let mut n = Normalizer::new(NormalizeMode::KeepEnter).only_for(wanted);
    assert_eq!(n.push(ev(&read_e)).unwrap().raw(), &read_e[..], "enter events are kept");
    assert_eq!(n.pending(), 0, "not stored: its exit is not wanted");
    let out = n.push(ev(&read_x)).unwrap();
    assert_eq!(out.raw(), &read_x[..], "passed as recorded, not converted");
    assert_eq!(n.stats().converted, 0);
    n.push(ev(&close_e));
    assert_eq!(n.pending(), 1);
    let out = n.push(ev(&close_x)).unwrap();
    assert_eq!((out.nparams(), out.param_i64(1)), (2, Some(5)), "close merged with its enter");
    // An unwanted event between a wanted enter and its exit drops the stored enter, as storing
    // it would have replaced it: the same outcome as without the filter.
    for filtered in [true, false] {
        let mut n = Normalizer::new(NormalizeMode::KeepEnter);
        if filtered {
            n = n.only_for(wanted);
        }
        n.push(ev(&close_e));
        n.push(ev(&read_e));
        n.push(ev(&read_x));
        let out = n.push(ev(&close_x)).unwrap();
        assert_eq!(out.param(1), None, "filtered: {filtered}");
        assert_eq!(n.stats().missing_enter, 1, "filtered: {filtered}");
    }
}
