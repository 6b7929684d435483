//! Read throughput: `cargo bench -p harrier-scap --bench read [-- REPEATS]`.
//!
//! Builds a large capture in memory by repeating the event blocks of a reference capture (like
//! `shared/tools/scapdup.py`, shifting timestamps), then times: read only, read + normalise, read from gzip,
//! and — when `sysdig` is on PATH — `sysdig -r` with a filter matching nothing, on the same file.
use std::io::{Cursor, Read, Write};
use std::time::Instant;

use harrier_event::{NormalizeMode, Normalizer};
use harrier_scap::Reader;

fn run(label: &str, data: &'static [u8], normalize: bool, expect: u64) {
    let best = (0..3)
        .map(|_| {
            let t = Instant::now();
            let mut r = Reader::new(Cursor::new(data)).unwrap();
            let mut n = Normalizer::new(NormalizeMode::ExitOnly);
            let mut count = 0u64;
            let mut out = 0u64;
            while let Some(ev) = r.next_event().unwrap() {
                count += 1;
                if normalize && n.push(ev).is_some() {
                    out += 1;
                }
            }
            assert_eq!(count, expect);
            std::hint::black_box(out);
            t.elapsed()
        })
        .min()
        .unwrap();
    println!(
        "{label:<32} {expect:>10} events  {:>8.3} s  {:>7.2} M events/s  {:>7.0} MB/s",
        best.as_secs_f64(),
        expect as f64 / best.as_secs_f64() / 1e6,
        data.len() as f64 / best.as_secs_f64() / 1e6
    );
}

fn main() {
    let repeats: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(250);
    let path = std::env::var("HARRIER_BENCH_CAPTURE").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference/scap/run_as_user_0_container.scap")
            .into()
    });
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let src = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut v = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut v).unwrap();
        v
    } else {
        raw
    };
    let (big, n) = harrier_scap::repeat::repeat_events(&src, repeats);
    let big: &'static [u8] = Box::leak(big.into_boxed_slice());
    println!("capture: {path} x{repeats} = {:.1} MB, {n} events", big.len() as f64 / 1e6);
    run("read (plain, in memory)", big, false, n);
    run("read + normalise (exit-only)", big, true, n);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(big).unwrap();
    let gz: &'static [u8] = Box::leak(gz.finish().unwrap().into_boxed_slice());
    run("read (gzip, in memory)", gz, false, n);

    // Peer: sysdig 0.29 on the same file, filter matching nothing.
    let tmp = std::env::temp_dir().join(format!("harrier-bench-{}.scap", std::process::id()));
    std::fs::write(&tmp, big).unwrap();
    let t = Instant::now();
    match std::process::Command::new("sysdig")
        .args(["-r", tmp.to_str().unwrap(), "proc.name=nonexistent-xyz"])
        .output()
    {
        Ok(o) if o.status.success() => {
            let s = t.elapsed().as_secs_f64();
            println!(
                "{:<32} {n:>10} events  {s:>8.3} s  {:>7.2} M events/s",
                "peer: sysdig -r (no match)",
                n as f64 / s / 1e6
            )
        }
        _ => println!("peer: sysdig not available (apt-get install -y sysdig)"),
    }
    let _ = std::fs::remove_file(tmp);
}
