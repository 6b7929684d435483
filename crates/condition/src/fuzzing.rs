//! Entry point for the fuzz target (`crates/condition/fuzz`): arbitrary UTF-8 as a condition;
//! whatever parses must print to a canonical form that parses back to the same tree and prints
//! identically. Not a stable API.

use crate::{canonical, parse, EqIgnoringPos};

/// A condition's text.
pub fn parse_condition(data: &[u8]) {
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
}

/// Every target briefly in the unit tests (see `harrier-fuzzrun`).
#[cfg(test)]
mod brief_fuzz {
    const SEEDS: &[&str] = &[
        "evt.type in (open, openat) and fd.name startswith /etc and not proc.name in (known_procs)",
        "(spawned_process and container) or k8s.ns.name=\"x\" and proc.aname[2] glob 'ba*' and fd.num >= 3",
        "evt.arg.flags contains O_CREAT and proc.env[HOME] != /root and val(fd.name) = fd.directory",
        "not (a or b) and c exists and d pmatch (/a, /b) and e intersects (1, 2) and json.value[/a/b] = \"\\\"\"",
    ];

    #[test]
    fn parse() {
        let seeds: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "parse", &seeds, super::parse_condition);
    }
}
