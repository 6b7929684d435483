//! The e-mail built for an alert whose text comes from the input (lettre encodes it).
//! Must never panic, and the alert text must never become a header.
//! Seeds: `cargo run -p harrier-sinks --example sinks_fuzz_seeds -- crates/sinks/fuzz/corpus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_sinks::fuzzing::smtp(data);
});
