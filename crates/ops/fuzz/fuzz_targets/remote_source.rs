//! `harrier_ops::fuzzing::remote_source` under libFuzzer (`scripts/fuzz.sh ops remote_source`); the same function
//! runs briefly in the unit tests over the corpus kept in `corpus/remote_source`. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_ops::fuzzing::remote_source(data);
});
