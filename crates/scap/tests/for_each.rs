//! `Reader::for_each_event` (the inline fast path `harrier replay` uses) hands out exactly what a
//! loop over `Reader::next_event` returns: the same events (bytes, cpu, flags), the same ordinals,
//! counters and warnings, and the same error at the same point, on the reference captures, on
//! reads that end anywhere inside a block, and on truncated and corrupted copies.
mod common;

use harrier_scap::{Reader, ReaderStats};
use std::io::Read;

/// What a pass over a capture saw: each event with its ordinal, then how it ended.
#[derive(Debug, PartialEq)]
struct Pass {
    events: Vec<(u64, Vec<u8>, u16, u32)>,
    end: Option<String>,
    stats: ReaderStats,
    warnings: Vec<String>,
    /// `Reader::event_index` at the end (one past the events when the last one was malformed).
    last_index: u64,
}

/// A reader that returns at most `step` bytes per call, the size changing call by call, so that
/// blocks straddle the reader's refills.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
    calls: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        let n = (1 + (self.calls * 7919) % self.step).min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn open(data: &[u8], step: usize) -> Option<Reader> {
    let src = Trickle { data: data.to_vec(), pos: 0, step, calls: 0 };
    Reader::new(src).ok()
}

fn by_next_event(data: &[u8], step: usize) -> Option<Pass> {
    let mut r = open(data, step)?;
    let mut events = Vec::new();
    let end = loop {
        match r.next_event() {
            Ok(Some(ev)) => {
                let e = (0, ev.raw().to_vec(), ev.cpu(), ev.flags());
                events.push(e);
                let n = events.len() - 1;
                events[n].0 = r.event_index();
                assert_eq!(events[n].0, events.len() as u64);
            }
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    Some(Pass { events, end, stats: r.stats(), warnings: r.warnings().to_vec(), last_index: r.event_index() })
}

fn by_for_each(data: &[u8], step: usize) -> Option<Pass> {
    let mut r = open(data, step)?;
    let mut events = Vec::new();
    let end = r
        .for_each_event(|ev| {
            events.push((0, ev.raw().to_vec(), ev.cpu(), ev.flags()));
            true
        })
        .err()
        .map(|e| e.to_string());
    // Ordinals: the reader numbers every event it hands out, 1, 2, 3… (checked on the other side).
    for (i, e) in events.iter_mut().enumerate() {
        e.0 = i as u64 + 1;
    }
    Some(Pass { events, end, stats: r.stats(), warnings: r.warnings().to_vec(), last_index: r.event_index() })
}

fn plain(name: &str) -> Vec<u8> {
    let raw = std::fs::read(common::reference_dir().join(name)).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    }
}

fn same(data: &[u8], step: usize, what: &str) -> Option<Pass> {
    let a = by_next_event(data, step);
    let b = by_for_each(data, step);
    assert_eq!(a.is_some(), b.is_some(), "{what}: header read differs");
    let (a, b) = (a?, b?);
    assert_eq!(a.events.len(), b.events.len(), "{what}: event count");
    for (x, y) in a.events.iter().zip(&b.events) {
        assert_eq!(x, y, "{what}: event #{}", x.0);
    }
    assert_eq!(a.end, b.end, "{what}: how the pass ended");
    assert_eq!(a.stats, b.stats, "{what}: counters");
    assert_eq!(a.warnings, b.warnings, "{what}: warnings");
    assert_eq!(a.last_index, b.last_index, "{what}: ordinal at the end");
    Some(a)
}

#[test]
fn reference_captures_give_the_same_events_both_ways() {
    for &(name, events, _, _) in common::REFS {
        let data = plain(name);
        for step in [1 << 20, 4096, 333, 17] {
            let p = same(&data, step, &format!("{name} (reads ≤ {step} B)")).expect("valid capture");
            assert_eq!(p.events.len() as u64, events, "{name}");
            assert_eq!(p.end, None, "{name}");
        }
    }
}

#[test]
fn truncated_and_corrupted_copies_give_the_same_events_and_errors_both_ways() {
    let mut errors = 0;
    for name in ["cat_write.scap", "sample.scap", "curl_google.scap"] {
        let data = plain(name);
        let stride = (data.len() / 150).max(1) | 1;
        for cut in (0..data.len()).step_by(stride) {
            let p = same(&data[..cut], 4096, &format!("{name} cut at {cut}"));
            errors += p.is_some_and(|p| p.end.is_some()) as usize;
        }
        for at in (0..data.len()).step_by(stride) {
            for bytes in [[0xff; 4], [0; 4], [0x0c, 0, 0, 0]] {
                let mut d = data.clone();
                let n = 4.min(d.len() - at);
                d[at..at + n].copy_from_slice(&bytes[..n]);
                let p = same(&d, 4096, &format!("{name} with {bytes:?} at {at}"));
                errors += p.is_some_and(|p| p.end.is_some()) as usize;
            }
        }
    }
    // The mutations do reach the error paths (not only the header check).
    assert!(errors > 100, "{errors} passes ended in an error");
}

#[test]
fn stopping_early_leaves_the_reader_where_next_event_continues() {
    let data = plain("curl_google.scap");
    let all = by_next_event(&data, 4096).unwrap();
    for stop in [1usize, 2, 100, 777, all.events.len()] {
        let mut r = open(&data, 4096).unwrap();
        let mut seen = 0;
        r.for_each_event(|_| {
            seen += 1;
            seen < stop
        })
        .unwrap();
        assert_eq!(seen, stop);
        assert_eq!(r.event_index(), stop as u64);
        let next = r.next_event().unwrap().map(|e| e.raw().to_vec());
        assert_eq!(next, all.events.get(stop).map(|e| e.1.clone()), "after stopping at {stop}");
    }
}
