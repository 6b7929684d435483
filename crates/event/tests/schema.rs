use harrier_event::consts::{af, open_flags};
use harrier_event::*;

#[test]
fn table_is_dense_and_complete() {
    assert_eq!(EVENT_MAX, 454);
    assert_eq!(all_events().len(), 454);
    for (i, e) in all_events().iter().enumerate() {
        assert_eq!(e.id as usize, i);
        assert!(e.params.len() <= MAX_PARAMS);
    }
    assert_eq!(ids::PPME_SYSCALL_OPEN_X, 3);
    assert_eq!(ids::PPME_PROCINFO_E, 234);
}

#[test]
fn lookups_by_name() {
    let open = ids_by_name("open");
    assert!(open.contains(&2) && open.contains(&3));
    assert_eq!(newest_exit_id("open"), Some(3));
    assert_eq!(newest_exit_id("execve"), Some(293));
    assert_eq!(newest_enter_id("open"), Some(2));
    assert_eq!(newest_exit_id("procinfo"), None);
    assert_eq!(newest_exit_id("no-such-event"), None);
    assert!(ids_by_name("execve").len() >= 10);
    // every old exit version points at the current one
    for &id in ids_by_name("execve") {
        let e = event_info(id).unwrap();
        assert_eq!(e.newest_exit, Some(293), "{}", e.enum_name);
    }
    assert_eq!(param_index(3, "flags"), Some(2));
    assert_eq!(param_index(293, "filename"), Some(30));
    assert_eq!(param_index(3, "nope"), None);
    let info = event_info(322).unwrap();
    assert!(info.is_large());
    assert_eq!(info.name, "pluginevent");
    assert!(event_info(ids::PPME_SYSCALL_EXECVE_8_X).unwrap().is_old());
    assert!(event_info(17).unwrap().is_unused());
    assert!(event_info(454).is_none());
}

#[test]
fn param_type_sizes() {
    assert_eq!(ParamType::Fd.fixed_size(), Some(8));
    assert_eq!(ParamType::Uid.fixed_size(), Some(4));
    assert_eq!(ParamType::Port.fixed_size(), Some(2));
    assert_eq!(ParamType::Sockfamily.fixed_size(), Some(1));
    assert_eq!(ParamType::Charbuf.fixed_size(), None);
    assert!(ParamType::Errno.is_signed());
    assert!(!ParamType::Uint64.is_signed());
    assert_eq!(open_flags::RDWR, 3);
    assert_eq!(af::INET6, 10);
}

#[test]
fn build_and_decode() {
    let mut b = EventBuf::new();
    b.begin(1_000, 42, ids::PPME_SYSCALL_OPEN_X).set_cpu(3);
    b.push_i64(-2).push_str("/etc/passwd").push_u32(open_flags::RDONLY | open_flags::CLOEXEC).push_empty();
    b.push_u32(0x803).push_u64(77);
    let ev = b.finish().unwrap();
    assert_eq!(ev.ts(), 1_000);
    assert_eq!(ev.tid(), 42);
    assert_eq!(ev.cpu(), 3);
    assert_eq!(ev.etype(), 3);
    assert_eq!(ev.info().name, "open");
    assert_eq!(ev.nparams(), 6);
    assert_eq!(ev.param_i64(0), Some(-2));
    assert_eq!(ev.param_str(1), Some("/etc/passwd"));
    assert_eq!(ev.param_raw(1).unwrap().len(), 12);
    assert_eq!(ev.param_u32(2), Some(open_flags::RDONLY | open_flags::CLOEXEC));
    assert_eq!(ev.param(3), None);
    assert_eq!(ev.param_raw(3), Some(&[][..]));
    assert_eq!(ev.param_u64(5), Some(77));
    assert_eq!(ev.param(6), None);
    assert_eq!(ev.param_by_name("name"), Some(&b"/etc/passwd\0"[..]));
    assert_eq!(ev.params().count(), 6);
    // the bytes re-validate
    let raw = ev.raw().to_vec();
    let again = Event::new(&raw, 3, 0).unwrap();
    assert_eq!(again.param_str(1), Some("/etc/passwd"));
}

#[test]
fn large_payload_uses_u32_lengths() {
    let mut b = EventBuf::new();
    let big = vec![b'x'; 70_000];
    b.begin(1, 2, ids::PPME_PLUGINEVENT_E).push_u32(9).push(&big);
    let ev = b.finish().unwrap();
    assert!(ev.is_large());
    assert_eq!(ev.len() as usize, 26 + 8 + 4 + 70_000);
    assert_eq!(ev.param_u32(0), Some(9));
    assert_eq!(ev.param(1).unwrap().len(), 70_000);
    // too big for a u16 length in a normal event
    b.begin(1, 2, ids::PPME_SYSCALL_WRITE_X).push_i64(0).push(&big);
    assert!(b.finish().is_err());
}

#[test]
fn sockaddr_socktuple_fdlist() {
    let mut b = EventBuf::new();
    let mut tuple = vec![af::INET];
    tuple.extend_from_slice(&[10, 0, 0, 1]);
    tuple.extend_from_slice(&40000u16.to_le_bytes());
    tuple.extend_from_slice(&[8, 8, 8, 8]);
    tuple.extend_from_slice(&53u16.to_le_bytes());
    let mut addr = vec![af::INET6];
    addr.extend_from_slice(&[0; 15]);
    addr.push(1);
    addr.extend_from_slice(&443u16.to_le_bytes());
    b.begin(1, 1, ids::PPME_SOCKET_CONNECT_X).push_i64(0).push(&tuple).push_i64(3).push(&addr);
    let ev = b.finish().unwrap();
    assert_eq!(
        ev.param_socktuple(1),
        Some(SockTuple::Inet { sip: [10, 0, 0, 1], dip: [8, 8, 8, 8], sport: 40000, dport: 53 })
    );
    let mut a6 = [0u8; 16];
    a6[15] = 1;
    assert_eq!(ev.param_sockaddr(3), Some(SockAddr::Inet6 { addr: a6, port: 443 }));

    let mut unix = vec![af::UNIX];
    unix.extend_from_slice(&1u64.to_le_bytes());
    unix.extend_from_slice(&2u64.to_le_bytes());
    unix.extend_from_slice(b"/run/x.sock\0");
    assert_eq!(SockTuple::decode(&unix), Some(SockTuple::Unix { source: 1, dest: 2, path: b"/run/x.sock" }));
    assert_eq!(SockAddr::decode(b"\x01/tmp/s\0"), Some(SockAddr::Unix { path: b"/tmp/s" }));
    assert_eq!(SockAddr::decode(b"\x02\x01"), Some(SockAddr::Other { family: 2, data: b"\x01" }));

    let mut fdl = 2u16.to_le_bytes().to_vec();
    fdl.extend_from_slice(&5u64.to_le_bytes());
    fdl.extend_from_slice(&1u16.to_le_bytes());
    fdl.extend_from_slice(&7u64.to_le_bytes());
    fdl.extend_from_slice(&4u16.to_le_bytes());
    let v: Vec<_> = FdList::decode(&fdl).unwrap().collect();
    assert_eq!(v, vec![(5, 1), (7, 4)]);
    // a count larger than the data is clamped
    fdl[0] = 200;
    assert_eq!(FdList::decode(&fdl).unwrap().count(), 2);
}

#[test]
fn invalid_events_are_rejected() {
    assert!(matches!(Event::new(&[0; 10], 0, 0), Err(EventError::TooShort { .. })));
    let mut b = EventBuf::new();
    b.begin(1, 1, 3).push_i64(1);
    let raw = b.finish().unwrap().raw().to_vec();
    let mut bad = raw.clone();
    bad[16] = 200; // len
    assert!(matches!(Event::new(&bad, 0, 0), Err(EventError::BadLength { .. })));
    let mut bad = raw.clone();
    bad[26] = 50; // first param length too big
    assert!(matches!(Event::new(&bad, 0, 0), Err(EventError::ParamsOverflow { .. })));
    let mut bad = raw;
    bad[22] = 200; // nparams
    assert!(matches!(Event::new(&bad, 0, 0), Err(EventError::TooManyParams { .. })));
}
