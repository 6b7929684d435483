//! A webhook request body through the payload grammar and every k8s audit field: must never panic.
//! Seeds: `cargo run -p harrier-k8saudit --example k8saudit_fuzz_seeds -- crates/k8saudit/fuzz/corpus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_k8saudit::fuzzing::webhook_body(data);
});
