#![no_main]
//! Arbitrary bytes through Reader + Normalizer (`harrier_scap::fuzzing::read`): must never panic
//! or allocate without bound.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_scap::fuzzing::read(data);
});
