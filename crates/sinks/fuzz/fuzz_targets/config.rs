//! A configuration file as `harrier forward -c` and `harrier run -c` read it: YAML parse, typed
//! sections, unknown-key detection with positions and nearest keys. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_sinks::fuzzing::config(data);
});
