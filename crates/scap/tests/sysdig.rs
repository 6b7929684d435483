//! Cross-checks against Debian's sysdig 0.29 (the oracle). These tests FAIL when sysdig is missing:
//! install it with `apt-get install -y sysdig` (see tests/README.md).
mod common;

use std::process::Command;

use common::*;
use harrier_event::{event_info, ids, EventBuf, NormalizeMode, Normalizer};
use harrier_scap::{sysdig029_counts, Reader, Writer, WriterOptions};

fn sysdig(args: &[&str]) -> Vec<String> {
    let out = Command::new("sysdig").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run sysdig ({e}): these tests need Debian's sysdig 0.29 on PATH — apt-get install -y sysdig")
    });
    assert!(out.status.success(), "sysdig {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn rewrite(src: &std::path::Path, dst: &std::path::Path, gzip: bool, mode: NormalizeMode) -> u64 {
    let mut r = Reader::open(src).unwrap();
    let mut w = Writer::create(dst, WriterOptions { gzip, ..Default::default() }).unwrap();
    w.write_header(r.header()).unwrap();
    let mut n = Normalizer::new(mode);
    while let Some(ev) = r.next_event().unwrap() {
        if let Some(o) = n.push(ev) {
            w.write_event(&o).unwrap();
        }
    }
    let c = w.events_written();
    w.finish().unwrap();
    c
}

#[test]
fn sysdig_reads_reference_counts() {
    for &(name, _, shown, last) in REFS {
        let p = reference(name);
        let nums = sysdig(&["-r", p.to_str().unwrap(), "-p", "%evt.num"]);
        assert_eq!(nums.len() as u64, shown, "{name}");
        assert_eq!(nums.last().unwrap().parse::<u64>().unwrap(), last, "{name}");
    }
}

#[test]
fn sysdig_reads_our_rewrites_identically() {
    for &(name, ..) in REFS {
        let src = reference(name);
        for gzip in [false, true] {
            let dst = tmp_path(&format!("rw-{gzip}-{name}"));
            rewrite(&src, &dst, gzip, NormalizeMode::PassThrough);
            let a = sysdig(&["-r", src.to_str().unwrap()]);
            let b = sysdig(&["-r", dst.to_str().unwrap()]);
            assert_eq!(a.len(), b.len(), "{name} gzip={gzip}");
            assert_eq!(a, b, "{name} gzip={gzip}: sysdig output differs");
            let fmt = "%evt.num %proc.name %proc.cmdline %fd.name %user.name %container.id";
            let a = sysdig(&["-r", src.to_str().unwrap(), "-p", fmt]);
            let b = sysdig(&["-r", dst.to_str().unwrap(), "-p", fmt]);
            assert_eq!(a, b, "{name}: state from metadata differs");
            let _ = std::fs::remove_file(dst);
        }
    }
}

#[test]
fn sysdig_reads_normalised_rewrite_of_old_capture() {
    let src = reference("cat_write.scap");
    let dst = tmp_path("cat_write_norm.scap");
    let written = rewrite(&src, &dst, false, NormalizeMode::ExitOnly);
    assert_eq!(written, 303);
    let lines = sysdig(&["-r", dst.to_str().unwrap(), "-p", "%evt.dir %evt.type %proc.name"]);
    // 303 events minus 260 hidden procinfo events; every shown event is an exit event
    assert_eq!(lines.len(), 43);
    // (procexit is a tracepoint "enter" event without an exit)
    assert!(lines.iter().all(|l| l.starts_with('<') || l == "> procexit cat"), "{lines:?}");
    let _ = std::fs::remove_file(dst);
}

/// `evt.num` in sysdig = 1-based ordinal of the event in the file, skipping ids sysdig 0.29 does not know.
/// Harrier's `Reader::event_index` is the same ordinal without that skip; this checks both line up
/// for every event sysdig prints, with the event names agreeing.
#[test]
fn evt_num_lines_up_with_sysdig() {
    for &(name, ..) in REFS {
        let p = reference(name);
        let mut r = Reader::open(&p).unwrap();
        let mut ours = std::collections::HashMap::new();
        let mut sysdig_num = 0u64;
        while let Some((idx, ev)) = r.next_numbered().unwrap() {
            if sysdig029_counts(ev.etype()) {
                sysdig_num += 1;
                ours.insert(sysdig_num, (idx, ev.info().name, ev.info().dir.as_char()));
            }
        }
        for line in sysdig(&["-r", p.to_str().unwrap(), "-p", "%evt.num %evt.type %evt.dir"]) {
            let mut it = line.split(' ');
            let num: u64 = it.next().unwrap().parse().unwrap();
            let ty = it.next().unwrap();
            let dir = it.next().unwrap().chars().next().unwrap();
            let (_, our_name, our_dir) = ours.get(&num).unwrap_or_else(|| panic!("{name}: no event {num}"));
            // generic "syscall" events are shown by sysdig under the real syscall's name
            let our_name = if *our_name == "syscall" { ty } else { our_name };
            assert_eq!((our_name, *our_dir), (ty, dir), "{name}: evt.num {num}");
        }
    }
}

#[test]
fn sysdig029_event_max_is_336() {
    // Events of type 334 (known to sysdig 0.29), 336 and 400 (unknown to it), then an open exit.
    let dst = tmp_path("evmax.scap");
    let mut w = Writer::create(&dst, WriterOptions::default()).unwrap();
    let mut b = EventBuf::new();
    for (i, t) in [334u16, 336, 400, ids::PPME_SYSCALL_CLOSE_X].into_iter().enumerate() {
        b.begin(1000 + i as u64, 1, t);
        if t == ids::PPME_SYSCALL_CLOSE_X {
            b.push_i64(0).push_i64(3);
        } else {
            for p in event_info(t).unwrap().params {
                let _ = p;
                b.push_empty();
            }
        }
        w.write_event(&b.finish().unwrap()).unwrap();
    }
    w.finish().unwrap();
    let lines = sysdig(&["-r", dst.to_str().unwrap(), "-p", "%evt.num %evt.type"]);
    assert_eq!(lines, vec!["1 clone3".to_string(), "2 close".to_string()]);
    assert!(sysdig029_counts(335) && !sysdig029_counts(336));
    let _ = std::fs::remove_file(dst);
}
