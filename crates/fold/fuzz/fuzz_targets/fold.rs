//! `harrier_fold::fuzzing::fold` under libFuzzer (`scripts/fuzz.sh fold fold`); the same function
//! runs briefly in the unit tests over the corpus kept in `corpus/fold`. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_fold::fuzzing::fold(data);
});
