//! What falcosidekick / Falco post to `harrier ui`'s ingest paths, then the store's row derivation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_ui::fuzzing::ingest(data);
});
