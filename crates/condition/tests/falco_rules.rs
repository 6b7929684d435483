//! Every `condition:` of the official Falco rule files must parse, and its canonical form must
//! parse back to the same tree. The files are read in place (never copied into the project).

use harrier_condition::{canonical, parse, EqIgnoringPos};
use serde_yaml::Value;
use std::path::{Path, PathBuf};

const RULES_DIR: &str = "/work/shared/reference/falco-rules";

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

/// `(file, item name, condition)` for every top-level list item with a string `condition`.
fn conditions() -> Vec<(String, String, String)> {
    let dir = Path::new(RULES_DIR);
    assert!(
        dir.is_dir(),
        "the official Falco rule files are required at {RULES_DIR} (shared reference data); directory missing"
    );
    let mut files = Vec::new();
    yaml_files(dir, &mut files);
    assert!(!files.is_empty(), "no YAML files under {RULES_DIR}");
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let doc: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let Value::Sequence(items) = doc else { continue };
        for item in items {
            let Value::Mapping(h) = &item else { continue };
            if let Some(Value::String(cond)) = h.get("condition") {
                let name = ["rule", "macro", "list"]
                    .iter()
                    .find_map(|k| h.get(*k).and_then(|v| v.as_str()))
                    .unwrap_or("?")
                    .to_string();
                out.push((f.display().to_string(), name, cond.clone()));
            }
        }
    }
    out
}

#[test]
fn all_official_conditions_parse_and_round_trip() {
    let conds = conditions();
    assert_eq!(conds.len(), 678, "expected the 678 conditions of the reference rule files");
    let mut failures = Vec::new();
    let start = std::time::Instant::now();
    let mut parsed = Vec::new();
    for (file, name, cond) in &conds {
        match parse(cond) {
            Ok(e) => parsed.push(e),
            Err(e) => failures.push(format!("{file}: {name}: {e}\n    {cond}")),
        }
    }
    let elapsed = start.elapsed();
    assert!(failures.is_empty(), "{} conditions failed:\n{}", failures.len(), failures.join("\n"));
    eprintln!("parsed {} conditions in {elapsed:?}", parsed.len());
    for (e, (_, name, cond)) in parsed.iter().zip(&conds) {
        let printed = canonical(e);
        let again = parse(&printed).unwrap_or_else(|err| {
            panic!("{name}: canonical form does not parse: {err}\n{printed}\nfrom {cond}")
        });
        assert!(e.eq_ignoring_pos(&again), "{name}: round trip changed the tree\n{printed}");
        assert_eq!(canonical(&again), printed, "{name}");
    }
}

#[test]
fn known_conditions_have_expected_shape() {
    let conds = conditions();
    let find = |n: &str| conds.iter().find(|(_, name, _)| name == n).map(|(_, _, c)| c.clone());
    // a macro that is a plain field comparison list
    let c = find("open_write").expect("macro open_write in falco_rules.yaml");
    assert_eq!(
        canonical(&parse(&c).unwrap()),
        "(evt.type in (open, openat, openat2) and evt.is_open_write = true and fd.typechar = f and fd.num >= 0)"
    );
    let c = find("spawned_process").expect("macro spawned_process");
    assert_eq!(canonical(&parse(&c).unwrap()), "evt.type in (execve, execveat)");
}
