//! Parse arbitrary UTF-8; whatever parses must print to a canonical form that parses back to the
//! same tree and prints identically.
#![no_main]

use harrier_condition::{canonical, parse, EqIgnoringPos};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    if let Ok(expr) = parse(input) {
        let printed = canonical(&expr);
        let again = match parse(&printed) {
            Ok(e) => e,
            Err(err) => panic!("canonical form {printed:?} of {input:?} does not parse: {err}"),
        };
        assert!(again.eq_ignoring_pos(&expr), "tree changed: {input:?} -> {printed:?}");
        assert_eq!(canonical(&again), printed, "canonical form is not stable for {input:?}");
    }
});
