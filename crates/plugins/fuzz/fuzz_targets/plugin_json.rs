//! `harrier_plugins::fuzzing::plugin_json` under libFuzzer (`scripts/fuzz.sh plugins plugin_json`); the same function
//! runs briefly in the unit tests over the corpus kept in `corpus/plugin_json`. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_plugins::fuzzing::plugin_json(data);
});
