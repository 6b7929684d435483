//! A response rules file (Talon's format) through the loader: errors carry lines inside the
//! file, loaded rules only name known actionners; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_respond::fuzzing::load_rules(data);
});
