//! Conformance against the real captures in ../shared/reference/scap.
mod common;

use common::*;
use harrier_event::{NormalizeMode, Normalizer};
use harrier_scap::{FdKind, Interface, Reader, Writer, WriterOptions};

type Ev = (Vec<u8>, u16, u32);

fn read_all(r: &mut Reader) -> Vec<Ev> {
    let mut v = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        v.push((ev.raw().to_vec(), ev.cpu(), ev.flags()));
    }
    v
}

#[test]
fn reads_all_reference_captures_with_exact_counts() {
    for &(name, events, _, _) in REFS {
        let mut r = Reader::open(reference(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let evs = read_all(&mut r);
        assert_eq!(evs.len() as u64, events, "{name}");
        assert_eq!(r.event_index(), events, "{name}");
        let st = r.stats();
        assert_eq!(
            st.unknown_blocks + st.late_blocks + st.skipped_unknown_type,
            0,
            "{name}: {:?}",
            r.warnings()
        );
        assert!(r.header().machine.is_some(), "{name}");
        assert!(!r.header().threads.is_empty(), "{name}");
        assert!(!r.header().fd_tables.is_empty(), "{name}");
        assert!(!r.header().interfaces.is_empty(), "{name}");
        assert!(!r.header().users.is_empty(), "{name}");
        if let Some(total) = r.total_size() {
            assert_eq!(r.bytes_consumed(), total, "{name}: progress reaches the end");
        }
    }
}

#[test]
fn metadata_details() {
    let r = Reader::open(reference("sample.scap")).unwrap();
    let h = r.header();
    assert!(!r.is_gzip());
    assert_eq!((h.section.major, h.section.minor), (1, 2));
    assert_eq!(h.machine.as_ref().unwrap().hostname, "ubuntu2204.localdomain");
    let init = h.threads.iter().find(|t| t.tid == 1).unwrap();
    assert_eq!(init.comm, "systemd");
    assert_eq!(init.exe, "/sbin/init");
    assert_eq!(init.exepath, "/usr/lib/systemd/systemd");
    assert_eq!(init.cwd, "/");
    assert!(init.env.iter().any(|e| e.starts_with("PATH=")));
    assert!(init.cgroups.iter().any(|c| c.starts_with("cpu=")));
    assert!(matches!(&h.interfaces[0], Interface::V4 { name, addr: [127, 0, 0, 1], .. } if name == "lo"));
    let root = h.users.iter().find(|u| u.uid == 0).unwrap();
    assert_eq!(
        (root.name.as_str(), root.homedir.as_str(), root.shell.as_str()),
        ("root", "/root", "/bin/bash")
    );
    assert!(h.groups.iter().any(|g| g.gid == 0 && g.name == "root"));
    let fds = h.fds_of(0x17e).unwrap();
    assert!(matches!(&fds.fds[0].kind, FdKind::File { path, open_flags: 1, .. } if path == "/dev/null"));

    // legacy v1 blocks
    let r = Reader::open(reference("cat_write.scap")).unwrap();
    let h = r.header();
    assert!(r.is_gzip());
    assert_eq!((h.section.major, h.section.minor), (1, 0));
    assert_eq!(h.machine.as_ref().unwrap().hostname, "ubuntu");
    assert!(h.interfaces.iter().any(|i| matches!(i, Interface::V4 { name, .. } if name == "enp0s3")));
    assert!(h.threads.iter().any(|t| t.comm == "bash"));
    let any_sock = h.fd_tables.iter().flat_map(|t| &t.fds).any(|f| matches!(f.kind, FdKind::Ipv4Sock { .. }));
    assert!(any_sock);
}

#[test]
fn legacy_events_get_nparams() {
    let mut r = Reader::open(reference("cat_write.scap")).unwrap();
    let mut opens = 0;
    while let Some(ev) = r.next_event().unwrap() {
        if ev.etype() == 2 {
            // this very old capture's open enter events carry no parameters
            assert_eq!(ev.nparams(), 0);
            opens += 1;
        }
    }
    assert_eq!(opens, 4);
    assert_eq!(r.stats().legacy_events, 345);
}

fn assert_header_eq(name: &str, a: &harrier_scap::Header, b: &harrier_scap::Header) {
    assert_eq!(a.machine, b.machine, "{name}");
    assert_eq!(a.interfaces, b.interfaces, "{name}");
    assert_eq!(a.users, b.users, "{name}");
    assert_eq!(a.groups, b.groups, "{name}");
    assert_eq!(a.threads.len(), b.threads.len(), "{name}");
    for (x, y) in a.threads.iter().zip(&b.threads) {
        assert_eq!(x, y, "{name}: thread {}", y.tid);
    }
    assert_eq!(a.fd_tables.len(), b.fd_tables.len(), "{name}");
    for (x, y) in a.fd_tables.iter().zip(&b.fd_tables) {
        assert_eq!(x, y, "{name}: fd table of {}", y.tid);
    }
    assert_eq!(a, b, "{name}");
}

fn roundtrip(name: &str, gzip: bool) {
    let mut r = Reader::open(reference(name)).unwrap();
    let header = r.header().clone();
    let evs = read_all(&mut r);
    let buf = SharedBuf::default();
    let mut w = Writer::new(buf.clone(), WriterOptions { gzip, ..Default::default() });
    w.write_header(&header).unwrap();
    let mut r2 = Reader::open(reference(name)).unwrap();
    while let Some(ev) = r2.next_event().unwrap() {
        w.write_event(&ev).unwrap();
    }
    assert_eq!(w.events_written(), evs.len() as u64);
    w.finish().unwrap();
    let bytes = buf.bytes();
    assert_eq!(bytes[..2] == [0x1f, 0x8b], gzip);
    let mut back = Reader::new(std::io::Cursor::new(bytes)).unwrap();
    let mut h2 = back.header().clone();
    // the writer always writes version 1.2
    assert_eq!((h2.section.major, h2.section.minor), (1, 2));
    h2.section = header.section.clone();
    assert_header_eq(name, &h2, &header);
    let evs2 = read_all(&mut back);
    assert_eq!(evs2.len(), evs.len(), "{name}");
    for (i, (a, b)) in evs.iter().zip(&evs2).enumerate() {
        assert_eq!(a, b, "{name}: event #{}", i + 1);
    }
}

#[test]
fn roundtrip_plain() {
    for &(name, ..) in REFS {
        roundtrip(name, false);
    }
}

#[test]
fn roundtrip_gzip() {
    for &(name, ..) in REFS {
        roundtrip(name, true);
    }
}

#[test]
fn normalised_streams_are_exit_only() {
    for &(name, ..) in REFS {
        let mut r = Reader::open(reference(name)).unwrap();
        let mut n = Normalizer::new(NormalizeMode::ExitOnly);
        let mut out = 0;
        while let Some(ev) = r.next_event().unwrap() {
            if let Some(o) = n.push(ev) {
                out += 1;
                let info = o.info();
                assert!(!info.is_unused(), "{name}");
                if info.is_syscall() && info.newest_exit.is_some() {
                    assert_eq!(info.dir, harrier_event::Direction::Exit, "{name}: {}", info.enum_name);
                    assert!(!info.is_old(), "{name}: {}", info.enum_name);
                    assert_eq!(o.nparams(), info.params.len(), "{name}: {}", info.enum_name);
                }
            }
        }
        assert!(out > 0);
    }
}

#[test]
fn cat_write_open_is_merged() {
    let mut r = Reader::open(reference("cat_write.scap")).unwrap();
    let mut n = Normalizer::default();
    let mut names = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        if let Some(o) = n.push(ev) {
            if o.etype() == 3 && o.param(1).is_some() {
                let flags = o.param_u32(2).unwrap();
                names.push((o.param_i64(0).unwrap(), o.param_str(1).unwrap().to_string(), flags));
            }
        }
    }
    assert_eq!(names.len(), 4);
    assert!(names.iter().any(|(fd, name, fl)| *fd >= 0 && name == "/etc/ld.so.cache" && fl & 1 != 0));
}
