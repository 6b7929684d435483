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
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "read", &seeds, super::read);
    }
}
