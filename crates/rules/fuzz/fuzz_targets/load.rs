//! Feed arbitrary bytes as a rules file (and the same bytes again as a second file, so that
//! cross-file state is exercised); loading must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut loader = harrier_rules::Loader::new(Default::default());
    loader.load_bytes("fuzz.yaml", data);
    loader.load_bytes("fuzz2.yaml", data);
    let ruleset = loader.finish(None);
    let _ = ruleset.to_json();
    let _ = ruleset.to_text();
});
