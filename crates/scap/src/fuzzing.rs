//! Entry point for the fuzz target (`crates/scap/fuzz`): arbitrary bytes as a capture file,
//! through the reader and the normalizer, every parameter read in every way. Must never panic or
//! allocate without bound. Not a stable API.

use crate::Reader;
use harrier_event::{NormalizeMode, Normalizer};

/// A capture file's bytes.
pub fn read(data: &[u8]) {
    let Ok(mut r) = Reader::new(std::io::Cursor::new(data.to_vec())) else { return };
    let mut n = Normalizer::new(NormalizeMode::ExitOnly);
    let mut count = 0usize;
    while let Ok(Some(ev)) = r.next_event() {
        if let Some(o) = n.push(ev) {
            for i in 0..o.nparams() {
                let _ = o.param_u64(i);
                let _ = o.param_str(i);
                let _ = o.param_sockaddr(i);
                let _ = o.param_socktuple(i);
                if let Some(l) = o.param_fdlist(i) {
                    count += l.count();
                }
            }
        }
        count += 1;
        if count > 1_000_000 {
            break;
        }
    }
    same_both_ways(data);
}

/// Differential: `Reader::for_each_event` (the inline path) hands out what `Reader::next_event`
/// does, up to the same error.
fn same_both_ways(data: &[u8]) {
    let open = || Reader::new(std::io::Cursor::new(data.to_vec())).ok();
    let (Some(mut a), Some(mut b)) = (open(), open()) else { return };
    let mut seen = Vec::new();
    let end_b = b
        .for_each_event(|ev| {
            seen.push((ev.raw().to_vec(), ev.cpu(), ev.flags()));
            seen.len() < 100_000
        })
        .err()
        .map(|e| e.to_string());
    for (i, want) in seen.iter().enumerate() {
        let got = a.next_event().map(|o| o.map(|ev| (ev.raw().to_vec(), ev.cpu(), ev.flags())));
        assert_eq!(got.ok().flatten().as_ref(), Some(want), "event {i}");
    }
    if seen.len() < 100_000 {
        let end_a = match a.next_event() {
            Ok(None) => None,
            Ok(Some(_)) => Some("more events".to_string()),
            Err(e) => Some(e.to_string()),
        };
        assert_eq!(end_a, end_b, "end of the capture");
        assert_eq!(a.stats(), b.stats());
    }
}

/// Every target briefly in the unit tests, seeded with the reference captures
/// (`../shared/reference/scap`, read in place, never copied into the repository).
#[cfg(test)]
mod brief_fuzz {
    #[test]
    fn read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/scap");
        let seeds: Vec<Vec<u8>> = ["cat_write.scap", "syscall.scap", "curl_google.scap"]
            .iter()
            .map(|f| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display())))
            .collect();
        // The same captures decompressed too: mutations of gzip input mostly stop at the
        // decompressor, those of the plain bytes reach the block and event checks.
        let plain = seeds.iter().filter(|s| s.starts_with(&[0x1f, 0x8b])).map(|s| {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&s[..]), &mut out).unwrap();
            out
        });
        let seeds: Vec<Vec<u8>> = seeds.iter().cloned().chain(plain.collect::<Vec<_>>()).collect();
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "read", &seeds, super::read);
    }
}
