//! `SyscallEvent` looks the event's thread and descriptor up once and keeps them for the
//! accessor's life. On every event of the reference captures (both extraction modes), every
//! field without an argument, extracted in turn through one accessor (so all but the first see
//! the kept lookups), has the same values as through a fresh accessor per field.

use harrier_engine::fields::ArgKind;
use harrier_engine::values::One;
use harrier_engine::{BoundField, EventAccessor, Values, FIELDS};
use harrier_event::{NormalizeMode, Normalizer};
use harrier_scap::Reader;
use harrier_state::{State, SyscallEvent};
use std::path::Path;

fn render(acc: &SyscallEvent<'_>, f: &BoundField, vals: &mut Values) -> String {
    vals.clear();
    let present = acc.extract(f, vals);
    let one = match acc.extract_one(f) {
        One::Value(v) => format!("{v:?}"),
        One::Absent => "absent".into(),
        One::Fallback => "fallback".into(),
    };
    format!("{present} {:?} {one}", vals.iter().collect::<Vec<_>>())
}

#[test]
fn kept_lookups_give_the_same_values_as_fresh_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/scap");
    assert!(dir.is_dir(), "reference captures missing at {}", dir.display());
    let fields: Vec<BoundField> =
        FIELDS.iter().filter(|i| i.arg == ArgKind::None).map(|i| BoundField::new(i.id)).collect();
    assert!(fields.len() > 100, "{}", fields.len());
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    let mut checked = 0u64;
    let (mut a, mut b) = (Values::new(), Values::new());
    for (path, sysdig029) in paths.iter().flat_map(|p| [(p, false), (p, true)]) {
        let mut r = Reader::open(path).unwrap();
        let mut state = State::new();
        state.sysdig029 = sysdig029;
        state.load_scap_header(r.header());
        let mut norm =
            Normalizer::new(if sysdig029 { NormalizeMode::KeepEnter } else { NormalizeMode::ExitOnly });
        let mut n = 0;
        while let Some((num, ev)) = r.next_numbered().unwrap() {
            let Some(ev) = norm.push(ev) else { continue };
            state.apply(&ev);
            n += 1;
            // every event of the small captures, every 7th of the others
            if n > 5000 && n % 7 != 0 {
                continue;
            }
            let kept = SyscallEvent::new(&state, ev, num);
            for f in &fields {
                let fresh = SyscallEvent::new(&state, ev, num);
                let (x, y) = (render(&kept, f, &mut a), render(&fresh, f, &mut b));
                assert_eq!(x, y, "{} event {num} field {}", path.display(), f.info().name);
                checked += 1;
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}
