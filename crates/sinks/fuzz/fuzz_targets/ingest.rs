//! The body Falco's http_output posts, through the forwarder's ingest, then the spool
//! round trip, the route filters and every sink's formatting.
//! Must never panic or allocate without bound.
//! Seeds: `cargo run -p harrier-sinks --example sinks_fuzz_seeds -- crates/sinks/fuzz/corpus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_sinks::fuzzing::ingest(data);
});
