//! What the pipeline's tests share: the reference data and a walk over its captures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use harrier_engine::{BoundField, EventAccessor, FieldId, One, Value};
use harrier_event::{NormalizeMode, Normalizer};
use harrier_scap::Reader;
use harrier_state::{State, SyscallEvent};

pub fn reference() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    assert!(dir.is_dir(), "reference data missing at {}", dir.display());
    dir
}

pub fn captures() -> Vec<PathBuf> {
    let mut paths: Vec<_> =
        std::fs::read_dir(reference().join("scap")).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
}

/// Walk every capture in both modes, calling `f` with each event's accessor.
pub fn walk(mut f: impl FnMut(&SyscallEvent<'_>)) {
    for (path, sysdig029) in captures().iter().flat_map(|p| [(p.clone(), false), (p.clone(), true)]) {
        let mut r = Reader::open(&path).unwrap();
        let mut state = State::new();
        state.sysdig029 = sysdig029;
        state.load_scap_header(r.header());
        let mut norm =
            Normalizer::new(if sysdig029 { NormalizeMode::KeepEnter } else { NormalizeMode::ExitOnly });
        while let Some((num, ev)) = r.next_numbered().unwrap() {
            let Some(ev) = norm.push(ev) else { continue };
            state.apply(&ev);
            f(&SyscallEvent::new(&state, ev, num));
        }
    }
}

pub fn str_of(acc: &SyscallEvent<'_>, id: FieldId) -> Option<String> {
    match acc.extract_one(&BoundField::new(id)) {
        One::Value(Value::Str(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// Quote a value for a condition.
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', ""))
}

/// A field's first value as text (strings as they are, numbers and booleans printed), through
/// the full extraction.
pub fn text_of(acc: &SyscallEvent<'_>, id: FieldId) -> Option<String> {
    let mut vals = harrier_engine::Values::new();
    if !acc.extract(&BoundField::new(id), &mut vals) {
        return None;
    }
    Some(match vals.get(0)? {
        Value::Str(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::Uint(u) => u.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    })
}
