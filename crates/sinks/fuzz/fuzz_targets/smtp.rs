//! An SMTP server's replies, from the greeting on, through the sink's whole session.
//! Must never panic or allocate without bound.
//! Seeds: `cargo run -p harrier-sinks --example sinks_fuzz_seeds -- crates/sinks/fuzz/corpus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_sinks::fuzzing::smtp(data);
});
