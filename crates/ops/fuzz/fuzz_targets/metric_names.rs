//! `harrier_ops::fuzzing::metric_names` under libFuzzer (`scripts/fuzz.sh ops metric_names`); the same function
//! runs briefly in the unit tests over the corpus kept in `corpus/metric_names`. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_ops::fuzzing::metric_names(data);
});
