//! socket, bind, listen, connect, accept, sendto/recvfrom, failed connect (root, real kernel).
mod common;
use common::*;
use std::net::{TcpListener, UdpSocket};

fn tuple_v4(e: &Ev) -> ([u8; 4], u16, [u8; 4], u16) {
    let b = e.bytes("tuple");
    assert_eq!(b[0], 2, "AF_INET tuple");
    (
        b[1..5].try_into().unwrap(),
        u16::from_le_bytes([b[5], b[6]]),
        b[7..11].try_into().unwrap(),
        u16::from_le_bytes([b[11], b[12]]),
    )
}

fn tuple_v6(e: &Ev) -> ([u8; 16], u16, [u8; 16], u16) {
    let b = e.bytes("tuple");
    assert_eq!(b[0], 10, "AF_INET6 tuple");
    (
        b[1..17].try_into().unwrap(),
        u16::from_le_bytes([b[17], b[18]]),
        b[19..35].try_into().unwrap(),
        u16::from_le_bytes([b[35], b[36]]),
    )
}

/// IPv6: the socket item's 16-byte addresses and ports (read from the sock in two 8-byte halves)
/// on connect, accept and send; a non-loopback peer address (`::ffff:127.0.0.1` mapped) keeps
/// both halves apart.
#[test]
fn tcp6_connect_accept_send_with_addresses() {
    let listener = TcpListener::bind("[::]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut probe = load(&["sendto"]);
    let lfd = {
        use std::os::fd::AsRawFd;
        listener.as_raw_fd()
    };
    let mk = |ip: std::net::Ipv6Addr| {
        let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        sa.sin6_family = libc::AF_INET6 as u16;
        sa.sin6_port = port.to_be();
        sa.sin6_addr.s6_addr = ip.octets();
        sa
    };
    let lo = std::net::Ipv6Addr::LOCALHOST;
    let mapped = std::net::Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped();
    let (sa_lo, sa_mapped) = (mk(lo), mk(mapped));
    let n = std::mem::size_of::<libc::sockaddr_in6>() as u32;
    let pid = run_child(|| unsafe {
        for sa in [&sa_lo, &sa_mapped] {
            let s = libc::socket(libc::AF_INET6, libc::SOCK_STREAM, 0);
            libc::connect(s, sa as *const _ as *const libc::sockaddr, n);
            let a = libc::accept4(lfd, std::ptr::null_mut(), std::ptr::null_mut(), 0);
            libc::sendto(s, b"v6".as_ptr() as *const _, 2, 0, std::ptr::null(), 0);
            libc::close(a);
            libc::close(s);
        }
    });
    let evs = events_of(&mut probe, pid);
    let conns: Vec<&Ev> = evs.iter().filter(|e| e.name() == "connect").collect();
    let accs: Vec<&Ev> = evs.iter().filter(|e| e.name() == "accept4").collect();
    let sends: Vec<&Ev> = evs.iter().filter(|e| e.name() == "sendto").collect();
    assert_eq!((conns.len(), accs.len(), sends.len()), (2, 2, 2));
    for (i, ip) in [lo, mapped].iter().enumerate() {
        assert_eq!(conns[i].i64("res"), 0);
        let (sip, sport, dip, dport) = tuple_v6(conns[i]);
        assert_eq!((sip, dip, dport), (ip.octets(), ip.octets(), port), "connect to {ip}");
        assert_ne!(sport, 0);
        assert_eq!(tuple_v6(accs[i]), (ip.octets(), sport, ip.octets(), port), "accept from {ip}");
        assert_eq!(tuple_v6(sends[i]), (ip.octets(), sport, ip.octets(), port), "send to {ip}");
    }
}

#[test]
fn tcp_connect_accept_and_failed_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut probe = load(&["sendto", "recvfrom", "listen"]);
    let lfd = {
        use std::os::fd::AsRawFd;
        listener.as_raw_fd()
    };
    let mk = |p: u16| {
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_port = p.to_be();
        sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        sa
    };
    let (sa, sa_closed) = (mk(port), mk(closed_port));
    let pid = run_child(|| unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        libc::connect(s, &sa as *const _ as *const libc::sockaddr, 16);
        let a = libc::accept4(lfd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC);
        let msg = b"ping";
        libc::sendto(s, msg.as_ptr() as *const _, 4, 0, std::ptr::null(), 0);
        let mut buf = [0u8; 16];
        libc::recvfrom(a, buf.as_mut_ptr() as *mut _, 16, 0, std::ptr::null_mut(), std::ptr::null_mut());
        let s2 = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        libc::connect(s2, &sa_closed as *const _ as *const libc::sockaddr, 16);
    });
    let evs = events_of(&mut probe, pid);
    let sock = find(&evs, "socket");
    let fd = sock.i64("fd");
    assert!(fd >= 0);
    assert_eq!(sock.u32("domain"), 2);
    assert_eq!(sock.u32("type"), libc::SOCK_STREAM as u32);
    let conns: Vec<&Ev> = evs.iter().filter(|e| e.name() == "connect").collect();
    assert_eq!(conns.len(), 2);
    let c = conns[0];
    assert_eq!(c.i64("res"), 0);
    assert_eq!(c.i64("fd"), fd);
    let (sip, sport, dip, dport) = tuple_v4(c);
    assert_eq!((sip, dip, dport), ([127, 0, 0, 1], [127, 0, 0, 1], port));
    assert_ne!(sport, 0);
    assert_eq!(c.bytes("addr"), [&[2u8, 127, 0, 0, 1][..], &port.to_le_bytes()].concat());
    let acc = find(&evs, "accept4");
    assert!(acc.i64("fd") >= 0);
    assert_eq!(acc.i64("flags"), libc::SOCK_CLOEXEC as i64);
    // accept: the client is the source
    assert_eq!(tuple_v4(acc), ([127, 0, 0, 1], sport, [127, 0, 0, 1], port));
    let send = find(&evs, "sendto");
    assert_eq!(send.i64("res"), 4);
    assert_eq!(send.bytes("data"), b"ping");
    assert_eq!(send.u32("size"), 4);
    assert_eq!(tuple_v4(send), ([127, 0, 0, 1], sport, [127, 0, 0, 1], port));
    let recv = find(&evs, "recvfrom");
    assert_eq!(recv.i64("res"), 4);
    assert_eq!(recv.bytes("data"), b"ping");
    assert_eq!(recv.i64("fd"), acc.i64("fd"));
    let failed = conns[1];
    assert_eq!(failed.i64("res"), -(libc::ECONNREFUSED as i64));
    let (_, _, dip, dport) = tuple_v4(failed);
    assert_eq!((dip, dport), ([127, 0, 0, 1], closed_port));
}

#[test]
fn udp_bind_listen_sendto_with_address() {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pport = peer.local_addr().unwrap().port();
    let mut probe = load(&["sendto", "recvfrom", "listen"]);
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as u16;
    sa.sin_port = pport.to_be();
    sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    let mut any: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    any.sin_family = libc::AF_INET as u16;
    any.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    let pid = run_child(|| unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        libc::bind(s, &any as *const _ as *const libc::sockaddr, 16);
        libc::sendto(s, b"x".as_ptr() as *const _, 1, 0, &sa as *const _ as *const libc::sockaddr, 16);
        let t = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        libc::listen(t, 7);
    });
    let evs = events_of(&mut probe, pid);
    let bind = find(&evs, "bind");
    assert_eq!(bind.i64("res"), 0);
    assert_eq!(bind.bytes("addr"), [2u8, 127, 0, 0, 1, 0, 0]);
    let send = find(&evs, "sendto");
    assert_eq!(send.i64("res"), 1);
    let (sip, sport, dip, dport) = tuple_v4(send);
    assert_eq!((sip, dip, dport), ([127, 0, 0, 1], [127, 0, 0, 1], pport));
    assert_ne!(sport, 0);
    let l = find(&evs, "listen");
    assert_eq!(l.i64("res"), 0);
    assert_eq!(l.i64("backlog"), 7);
}

#[test]
fn unix_socketpair_and_pipe() {
    let mut probe = load(&["sendto", "recvfrom", "listen"]);
    let pid = run_child(|| unsafe {
        let mut sv = [0i32; 2];
        libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr());
        let mut p = [0i32; 2];
        libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC);
    });
    let evs = events_of(&mut probe, pid);
    let sp = find(&evs, "socketpair");
    assert_eq!(sp.i64("res"), 0);
    assert!(sp.i64("fd1") >= 0 && sp.i64("fd2") > sp.i64("fd1"));
    assert_ne!(sp.u64("source"), 0);
    assert_ne!(sp.u64("peer"), 0);
    assert_eq!(sp.u32("domain"), 1);
    let p = find(&evs, "pipe2");
    assert_eq!(p.i64("res"), 0);
    // (not necessarily adjacent: the child inherits this multi-threaded test's descriptor table,
    // which other tests may have left with holes)
    assert!(p.i64("fd1") >= 0 && p.i64("fd2") > p.i64("fd1"));
    assert_ne!(p.u64("ino"), 0);
    assert_eq!(
        p.u32("flags"),
        harrier_event::consts::open_flags::CLOEXEC | harrier_event::consts::open_flags::RDONLY
    );
}
