//! A docker/podman container inspect answer (and the same bytes as an OCI runtime spec) through
//! the metadata decoders: must never panic. Seeds: `cargo run -p harrier-containers --example
//! containers_fuzz_seeds -- crates/containers/fuzz/corpus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_containers::fuzzing::decode_runtime_json(data);
});
