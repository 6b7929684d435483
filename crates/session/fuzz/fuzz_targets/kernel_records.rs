#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| harrier_session::fuzzing::kernel_records(data));
