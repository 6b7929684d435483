//! Hand-made broken inputs: every one must give a `ScapError` naming an offset, never a panic.
mod common;

use common::SharedBuf;
use harrier_event::{ids, EventBuf};
use harrier_scap::{Header, MachineInfo, Reader, ScapError, ThreadInfo, Writer, WriterOptions};

/// A small valid capture: SHB, MI, PL, 3 events.
fn sample() -> Vec<u8> {
    let buf = SharedBuf::default();
    let mut w = Writer::new(buf.clone(), WriterOptions::default());
    let h = Header {
        machine: Some(MachineInfo { num_cpus: 2, hostname: "h".into(), ..Default::default() }),
        threads: vec![ThreadInfo { tid: 5, pid: 5, comm: "sh".into(), ..Default::default() }],
        ..Default::default()
    };
    w.write_header(&h).unwrap();
    let mut b = EventBuf::new();
    for i in 0..3u64 {
        b.begin(100 + i, 5, ids::PPME_SYSCALL_OPEN_X).push_i64(3).push_str("/etc/hosts").push_u32(1);
        b.push_u32(0).push_u32(0).push_u64(9);
        w.write_event(&b.finish().unwrap()).unwrap();
    }
    w.finish().unwrap();
    buf.bytes()
}

fn read(bytes: Vec<u8>) -> Result<usize, ScapError> {
    let mut r = Reader::new(std::io::Cursor::new(bytes))?;
    let mut n = 0;
    while r.next_event()?.is_some() {
        n += 1;
    }
    Ok(n)
}

fn gz(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Offsets of each block start.
fn blocks(b: &[u8]) -> Vec<(u32, usize, usize)> {
    let mut v = Vec::new();
    let mut o = 0;
    while o + 8 <= b.len() {
        let t = u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let l = u32::from_le_bytes(b[o + 4..o + 8].try_into().unwrap()) as usize;
        v.push((t, o, l));
        o += l;
    }
    v
}

#[test]
fn valid_sample_reads() {
    assert_eq!(read(sample()).unwrap(), 3);
    assert_eq!(read(gz(&sample())).unwrap(), 3);
}

#[test]
fn zero_length_input() {
    let e = read(Vec::new()).unwrap_err();
    assert!(matches!(e, ScapError::Truncated { offset: 0, .. }), "{e}");
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn truncated_section_header() {
    let s = sample();
    for cut in [3, 8, 12, 20, 27] {
        let e = read(s[..cut].to_vec()).unwrap_err();
        assert!(matches!(e, ScapError::Truncated { .. }), "cut {cut}: {e}");
        assert!(e.offset().is_some(), "cut {cut}");
    }
}

#[test]
fn bad_magic_and_byte_swapped_magic() {
    let mut s = sample();
    s[0] = 0x42;
    let e = read(s).unwrap_err();
    assert!(matches!(e, ScapError::BadMagic { offset: 0, .. }), "{e}");
    let mut s = sample();
    s[8..12].copy_from_slice(&0x1A2B_3C4Du32.to_be_bytes());
    let e = read(s).unwrap_err();
    assert!(matches!(e, ScapError::BadMagic { offset: 8, found: 0x4D3C_2B1A }), "{e}");
    assert!(e.to_string().contains("magic"));
    // not a capture at all
    let e = read(b"hello world, this is not a capture".to_vec()).unwrap_err();
    assert!(matches!(e, ScapError::BadMagic { .. }), "{e}");
}

#[test]
fn unsupported_version() {
    let mut s = sample();
    s[12] = 2; // major
    let e = read(s).unwrap_err();
    assert!(matches!(e, ScapError::Version { major: 2, .. }), "{e}");
}

#[test]
fn truncated_everywhere_never_panics() {
    let s = sample();
    let bl = blocks(&s);
    let last = bl.last().unwrap();
    for cut in 0..s.len() {
        let r = read(s[..cut].to_vec());
        // cutting exactly at a block boundary after the first event is a clean, shorter file
        let at_event_boundary =
            bl.iter().any(|&(t, o, _)| o == cut && t == 0x216 && o > bl[2].1) || cut == s.len();
        match r {
            Ok(n) => assert!(at_event_boundary && n < 3, "cut {cut}: read {n} events"),
            Err(ScapError::NoEvents) => {
                assert!(
                    bl.iter().any(|b| b.1 == cut && cut <= bl[3].1),
                    "cut {cut}: NoEvents off a header block boundary"
                )
            }
            Err(e) => {
                let off = e.offset();
                if cut > bl[2].1 {
                    assert!(off.is_some_and(|o| o <= cut as u64), "cut {cut}: {e}");
                }
            }
        }
    }
    // cut in the middle of the last block names that block
    let e = read(s[..last.1 + 10].to_vec()).unwrap_err();
    assert!(matches!(e, ScapError::Truncated { offset, .. } if offset == last.1 as u64), "{e}");
    assert!(e.to_string().contains("event block"), "{e}");
    // the same through gzip
    let g = gz(&s[..last.1 + 10]);
    let e = read(g).unwrap_err();
    assert!(matches!(e, ScapError::Truncated { .. }), "{e}");
}

#[test]
fn truncated_gzip_stream() {
    let g = gz(&sample());
    let e = read(g[..g.len() / 2].to_vec()).unwrap_err();
    assert!(e.offset().is_some(), "{e}");
}

#[test]
fn bad_trailer() {
    let mut s = sample();
    let bl = blocks(&s);
    let (_, o, l) = bl[1]; // machine info
    s[o + l - 4] ^= 0xff;
    let e = read(s).unwrap_err();
    assert!(matches!(e, ScapError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("trailer"), "{e}");
    assert!(e.to_string().contains("machine info"), "{e}");
}

#[test]
fn huge_and_tiny_block_lengths() {
    let s = sample();
    let bl = blocks(&s);
    for (idx, len) in [(1, u32::MAX), (1, 0x7fff_ffff), (3, 0x1000_0000), (1, 4), (3, 0)] {
        let mut s = s.clone();
        let o = bl[idx].1;
        s[o + 4..o + 8].copy_from_slice(&len.to_le_bytes());
        let e = read(s).unwrap_err();
        assert!(matches!(e, ScapError::Corrupt { .. }), "{e}");
        assert_eq!(e.offset(), Some(o as u64), "{e}");
    }
    // a large length that fits the cap but not the input: truncated, no big allocation beyond the cap
    let mut s = s.clone();
    let o = bl[1].1;
    s[o + 4..o + 8].copy_from_slice(&(32u32 << 20).to_le_bytes());
    let e = read(s).unwrap_err();
    assert!(matches!(e, ScapError::Truncated { .. }), "{e}");
}

#[test]
fn corrupt_event_inside_block() {
    let s = sample();
    let bl = blocks(&s);
    let (_, o, _) = *bl.iter().find(|b| b.0 == 0x216).unwrap();
    let ev = o + 8 + 2; // after block header and cpu
                        // event len larger than the block
    let mut t = s.clone();
    t[ev + 16..ev + 20].copy_from_slice(&5000u32.to_le_bytes());
    let e = read(t).unwrap_err();
    assert!(matches!(e, ScapError::Corrupt { .. }), "{e}");
    // a parameter length that overflows the event
    let mut t = s.clone();
    t[ev + 26..ev + 28].copy_from_slice(&60000u16.to_le_bytes());
    let e = read(t).unwrap_err();
    assert!(e.to_string().contains("parameters"), "{e}");
    // absurd nparams
    let mut t = s.clone();
    t[ev + 22..ev + 26].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(read(t).is_err());
}

#[test]
fn corrupt_metadata_fields() {
    let s = sample();
    let bl = blocks(&s);
    let (_, o, _) = *bl.iter().find(|b| b.0 == 0x215).unwrap();
    // entry_len of the first thread beyond the block
    let mut t = s.clone();
    t[o + 8..o + 12].copy_from_slice(&10_000u32.to_le_bytes());
    let e = read(t).unwrap_err();
    assert!(e.to_string().contains("process list"), "{e}");
    // comm length over the limit
    let mut t = s.clone();
    let comm = o + 8 + 4 + 40;
    t[comm..comm + 2].copy_from_slice(&5000u16.to_le_bytes());
    let e = read(t).unwrap_err();
    assert!(e.to_string().contains("comm"), "{e}");
}

#[test]
fn unknown_blocks_are_skipped_and_counted() {
    let s = sample();
    let bl = blocks(&s);
    let first_ev = bl.iter().find(|b| b.0 == 0x216).unwrap().1;
    let mut unk = Vec::new();
    unk.extend_from_slice(&0x7777u32.to_le_bytes());
    unk.extend_from_slice(&16u32.to_le_bytes());
    unk.extend_from_slice(&[1, 2, 3, 4]);
    unk.extend_from_slice(&16u32.to_le_bytes());
    let mut t = s[..first_ev].to_vec();
    t.extend_from_slice(&unk);
    t.extend_from_slice(&s[first_ev..]);
    t.extend_from_slice(&unk);
    let mut r = Reader::new(std::io::Cursor::new(t)).unwrap();
    let mut n = 0;
    while r.next_event().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 3);
    assert_eq!(r.stats().unknown_blocks, 2);
    assert_eq!(r.warnings().len(), 2);
}

#[test]
fn no_events_is_an_error() {
    let s = sample();
    let bl = blocks(&s);
    let first_ev = bl.iter().find(|b| b.0 == 0x216).unwrap().1;
    assert!(matches!(read(s[..first_ev].to_vec()), Err(ScapError::NoEvents)));
}

#[test]
fn unknown_event_types_are_skipped() {
    let s = sample();
    let bl = blocks(&s);
    let (_, o, _) = *bl.iter().find(|b| b.0 == 0x216).unwrap();
    let mut t = s.clone();
    t[o + 10 + 20..o + 10 + 22].copy_from_slice(&9999u16.to_le_bytes());
    let mut r = Reader::new(std::io::Cursor::new(t)).unwrap();
    let mut n = 0;
    while r.next_event().unwrap().is_some() {
        n += 1;
    }
    assert_eq!((n, r.stats().skipped_unknown_type, r.event_index()), (2, 1, 2));
}

#[test]
fn progress_is_reported() {
    let s = sample();
    let len = s.len() as u64;
    let p = common::tmp_path("progress.scap");
    std::fs::write(&p, &s).unwrap();
    let mut r = Reader::open(&p).unwrap();
    assert_eq!(r.total_size(), Some(len));
    let prog = r.progress();
    while r.next_event().unwrap().is_some() {}
    assert_eq!(prog.consumed(), len);
    assert_eq!(r.offset(), len);
    let _ = std::fs::remove_file(p);
}

#[test]
fn flags_and_large_events_round_trip() {
    let buf = SharedBuf::default();
    let mut w = Writer::new(buf.clone(), WriterOptions::default());
    let mut b = EventBuf::new();
    b.begin(1, 1, ids::PPME_SYSCALL_CLOSE_X).push_i64(0).push_i64(3).set_flags(7).set_cpu(1);
    w.write_event(&b.finish().unwrap()).unwrap();
    let big = vec![7u8; 100_000];
    b.begin(2, 1, ids::PPME_PLUGINEVENT_E).push_u32(1).push(&big);
    w.write_event(&b.finish().unwrap()).unwrap();
    b.begin(3, 1, ids::PPME_ASYNCEVENT_E).push_u32(1).push_str("x").push(b"data").set_flags(1);
    w.write_event(&b.finish().unwrap()).unwrap();
    w.finish().unwrap();
    let bytes = buf.bytes();
    let types: Vec<u32> = blocks(&bytes).iter().map(|b| b.0).collect();
    assert_eq!(types, vec![0x0A0D_0D0A, 0x217, 0x221, 0x222]);
    let mut r = Reader::new(std::io::Cursor::new(bytes)).unwrap();
    let e = r.next_event().unwrap().unwrap();
    assert_eq!((e.flags(), e.cpu(), e.param_i64(1)), (7, 1, Some(3)));
    let e = r.next_event().unwrap().unwrap();
    assert_eq!(e.param(1).unwrap().len(), 100_000);
    let e = r.next_event().unwrap().unwrap();
    assert_eq!((e.flags(), e.param_str(1)), (1, Some("x")));
    assert!(r.next_event().unwrap().is_none());
}
