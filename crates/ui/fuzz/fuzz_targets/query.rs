//! Query strings of the read API (both filter dialects), cookies, addresses, times.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_ui::fuzzing::query(data);
});
