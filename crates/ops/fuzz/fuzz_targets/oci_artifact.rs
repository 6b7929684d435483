//! `harrier_ops::fuzzing::oci_artifact` under libFuzzer (`scripts/fuzz.sh ops oci_artifact`); the same function
//! runs briefly in the unit tests over the corpus kept in `corpus/oci_artifact`. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_ops::fuzzing::oci_artifact(data);
});
