//! `evt.type` checks over event names test generic syscall events (named after the syscall code
//! in their first parameter) by that code when the accessor gives it: the outcome is the one of
//! the string comparison, for every syscall code, an unnamed code and a missing parameter.

use harrier_engine::{compile_condition, BoundField, EventAccessor, FieldId, Scratch, Source, Values};
use harrier_event::ids::{PPME_GENERIC_E, PPME_GENERIC_X};

/// A generic event of syscall code `sc`; `by_code` says whether it offers the code.
struct Generic {
    id: u16,
    sc: u16,
    by_code: bool,
}

impl EventAccessor for Generic {
    fn event_type(&self) -> Option<u16> {
        Some(self.id)
    }
    fn generic_syscall(&self) -> Option<u16> {
        self.by_code.then_some(self.sc)
    }
    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        if field.id != FieldId::EvtType {
            return false;
        }
        // As `Event::type_name` names it: the code's name, else the generic events' own name.
        let own = harrier_event::event_info(self.id).map_or("syscall", |i| i.name);
        out.push_str(harrier_event::ppm_sc_name(self.sc).unwrap_or(own));
        true
    }
}

#[test]
fn generic_events_by_code_agree_with_their_names() {
    let conds = [
        "evt.type in (open, openat, execve, connect, accept, sendto)",
        "evt.type = setuid",
        "evt.type != read",
        "not evt.type in (open, close, mmap)",
        "evt.type in (syscall, open)",
        "evt.type = syscall",
        "evt.type != syscall",
        "evt.type in (open, openat) and not evt.type = openat",
    ];
    let mut hits = 0;
    for cond in conds {
        let (f, _) = compile_condition(Source::Syscall, &harrier_condition::parse(cond).unwrap()).unwrap();
        let mut scratch = Scratch::new();
        let codes = (0..harrier_event::ppm_sc::PPM_SC_NAMES.len() as u16 + 8).chain([u16::MAX]);
        for sc in codes {
            for id in [PPME_GENERIC_E, PPME_GENERIC_X] {
                let by_code = f.eval(&Generic { id, sc, by_code: true }, &mut scratch);
                let by_name = f.eval(&Generic { id, sc, by_code: false }, &mut scratch);
                assert_eq!(by_code, by_name, "{cond}: generic event {id} of syscall code {sc}");
                hits += by_code as u32;
            }
        }
    }
    // The lists name syscalls that have codes: some generic events match, most do not.
    assert!(hits > 100, "{hits}");
}
