#![no_main]
//! Arbitrary bytes through Reader + Normalizer: must never panic or allocate without bound.
use harrier_event::{NormalizeMode, Normalizer};
use harrier_scap::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
