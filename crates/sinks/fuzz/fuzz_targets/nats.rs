//! A NATS server's protocol lines (MSG acknowledgements, PING, PONG, -ERR) through core and
//! JetStream publishing.
//! Must never panic or allocate without bound.
//! Seeds: `cargo run -p harrier-sinks --example sinks_fuzz_seeds -- crates/sinks/fuzz/corpus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_sinks::fuzzing::nats(data);
});
