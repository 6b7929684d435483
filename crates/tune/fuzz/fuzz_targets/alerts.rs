//! `harrier_tune::fuzzing::alerts` under libFuzzer (`scripts/fuzz.sh tune alerts`); the same function
//! runs briefly in the unit tests over the corpus kept in `corpus/alerts`. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_tune::fuzzing::alerts(data);
});
