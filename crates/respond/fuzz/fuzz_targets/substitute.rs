//! `${field}` substitution of node:script arguments over arbitrary field values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_respond::fuzzing::substitute(data);
});
