//! A JSON Lines stream through the file reader (capped lines) and the payload grammar: must never
//! panic. Seeds: `cargo run -p harrier-k8saudit --example k8saudit_fuzz_seeds -- crates/k8saudit/fuzz/corpus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_k8saudit::fuzzing::jsonl(data);
});
