#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| harrier_doctor::fuzzing::config(data));
