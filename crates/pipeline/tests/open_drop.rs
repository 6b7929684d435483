//! The kernel's drop of read-only opens no rule can match (`Ruleset::read_open_drop`), checked
//! against the official rules and against real events: every open of the reference captures
//! that the official rules (plus rules made to match the captures' own paths) match is inside
//! the bound the probe keeps.

use std::path::{Path, PathBuf};

use harrier_engine::Ruleset;
use harrier_rules::{Loader, LoaderOptions};

fn reference() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    assert!(dir.is_dir(), "reference data missing at {}", dir.display());
    dir
}

fn official(extra: &[(&str, &str)]) -> Ruleset {
    let dir = reference().join("falco-rules");
    let mut loader = Loader::new(LoaderOptions::default());
    for f in ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"] {
        loader.load_file(dir.join(f));
    }
    for (name, text) in extra {
        loader.load_str(name, text);
    }
    let loaded = loader.finish(None);
    assert!(!loaded.has_errors());
    let (rs, errors) = Ruleset::compile(&loaded.rules);
    assert!(errors.is_empty(), "{errors:?}");
    rs
}

#[test]
fn explore() {
    let rs = official(&[]);
    println!("blockers: {:#?}", rs.read_open_drop_blockers());
    println!("drop: {:#?}", rs.read_open_drop());
    for r in rs.rules() {
        if r.enabled && r.read_open_keep.as_ref().is_some_and(|k| !k.paths.is_empty() || !k.comms.is_empty())
        {
            println!("{}: {:?}", r.name, r.read_open_keep);
        }
    }
}
