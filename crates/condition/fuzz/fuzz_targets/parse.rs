//! Parse arbitrary UTF-8 (`harrier_condition::fuzzing::parse_condition`); whatever parses must
//! print to a canonical form that parses back to the same tree and prints identically.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_condition::fuzzing::parse_condition(data);
});
