#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| harrier_profile::fuzzing::files(data));
