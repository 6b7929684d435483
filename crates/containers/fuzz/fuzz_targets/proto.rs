//! A runtime's gRPC answer message (containerd containers/images/namespaces, CRI ContainerStatus)
//! decoded with each message type (prost, as tonic does) and through the metadata decoders: must
//! never panic or allocate without bound. Seeds: `cargo run -p harrier-containers --example containers_fuzz_seeds
//! -- crates/containers/fuzz/corpus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_containers::fuzzing::decode_grpc_answer(data);
});
