//! The borrowed fast path (`extract_one`) agrees with `extract` on every event of the reference
//! captures, for every field it serves (a failed open's `fd.name` and `fd.directory`, built from
//! its path argument, are handed to `extract`).

use harrier_engine::prefilter::OPEN_FAMILY;
use harrier_engine::values::One;
use harrier_engine::{BoundField, EventAccessor, FieldId, Value, Values};
use harrier_event::{NormalizeMode, Normalizer};
use harrier_scap::Reader;
use harrier_state::{State, SyscallEvent};
use std::path::Path;

#[test]
fn fast_path_matches_copy_path_on_reference_captures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/scap");
    assert!(dir.is_dir(), "reference captures missing at {}", dir.display());
    let process =
        [FieldId::EvtType, FieldId::ProcName, FieldId::ProcExe, FieldId::ProcExepath, FieldId::ProcPname];
    let ip = [
        FieldId::FdCip,
        FieldId::FdSip,
        FieldId::FdLip,
        FieldId::FdRip,
        FieldId::FdCport,
        FieldId::FdSport,
        FieldId::FdLport,
        FieldId::FdRport,
    ];
    let names = [
        FieldId::FdName,
        FieldId::FdDirectory,
        FieldId::FdFilename,
        FieldId::FdTypechar,
        FieldId::ContainerId,
    ];
    let fields: Vec<FieldId> = process.iter().chain(&names).chain(&ip).copied().collect();
    // With sysdig 0.29 compatibility (selection mode) the fd names and container fields are
    // extracted differently and always take the copying path; the others keep the fast path.
    let compat_fields: Vec<FieldId> = process.iter().chain(&ip).copied().collect();
    // Events on which an address or port field is present, per mode (the captures hold sockets).
    let mut ip_present = [0u64; 2];
    let mut checked = 0u64;
    let mut compat_checked = 0u64;
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    for (path, sysdig029) in paths.iter().flat_map(|p| [(p, false), (p, true)]) {
        let mut r = Reader::open(path).unwrap();
        let mut state = State::new();
        state.sysdig029 = sysdig029;
        state.load_scap_header(r.header());
        // Selection mode keeps the enter events (as `harrier_pipeline::filter_source` does): the
        // fd of an exit is the one its enter named.
        let mut norm =
            Normalizer::new(if sysdig029 { NormalizeMode::KeepEnter } else { NormalizeMode::ExitOnly });
        let mut vals = Values::new();
        while let Some((num, ev)) = r.next_numbered().unwrap() {
            let Some(ev) = norm.push(ev) else { continue };
            state.apply(&ev);
            let acc = SyscallEvent::new(&state, ev, num);
            let failed_open =
                OPEN_FAMILY.contains(&ev.info().name) && ev.param_i64(0).is_some_and(|fd| fd < 0);
            for &id in &fields {
                let bf = BoundField::new(id);
                vals.clear();
                let present = acc.extract(&bf, &mut vals);
                match acc.extract_one(&bf) {
                    One::Fallback if sysdig029 && !compat_fields.contains(&id) => continue,
                    // a failed open's path forms are built from its path argument (Falco's view)
                    One::Fallback if failed_open && matches!(id, FieldId::FdName | FieldId::FdDirectory) => {
                        continue
                    }
                    One::Fallback => panic!("{id:?} is served by the fast path (sysdig029: {sysdig029})"),
                    One::Absent => {
                        assert!(!present, "{}: {id:?} absent vs {:?}", path.display(), vals.get(0))
                    }
                    One::Value(v) => {
                        assert!(present, "{}: {id:?} present only in the fast path", path.display());
                        assert_eq!(vals.len(), 1);
                        let copy = vals.get(0).unwrap();
                        match (v, copy) {
                            (Value::Str(a), Value::Str(b)) => assert_eq!(a, b, "{}: {id:?}", path.display()),
                            (a @ (Value::Ip(_) | Value::Uint(_)), b) => {
                                assert_eq!(a, b, "{}: {id:?}", path.display());
                                ip_present[sysdig029 as usize] += 1;
                            }
                            _ => panic!("{id:?}: unexpected value kinds {v:?} / {copy:?}"),
                        }
                    }
                }
                if sysdig029 {
                    compat_checked += 1;
                } else {
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50_000, "{checked}");
    assert!(compat_checked > 25_000, "{compat_checked}");
    assert!(ip_present.iter().all(|&n| n > 100), "address/port fields present: {ip_present:?}");
}
