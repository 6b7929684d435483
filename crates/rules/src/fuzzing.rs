//! Entry point for the fuzz target (`crates/rules/fuzz`): arbitrary bytes as a rules file (and
//! the same bytes again as a second file, so that cross-file state is exercised); loading must
//! never panic. Not a stable API.

/// A rules file's bytes.
pub fn load(data: &[u8]) {
    let mut loader = crate::Loader::new(Default::default());
    loader.load_bytes("fuzz.yaml", data);
    loader.load_bytes("fuzz2.yaml", data);
    let ruleset = loader.finish(None);
    let _ = ruleset.to_json();
    let _ = ruleset.to_text();
}

/// Every target briefly in the unit tests, seeded with the official Falco rules
/// (`../shared/reference/falco-rules`, read in place).
#[cfg(test)]
mod brief_fuzz {
    #[test]
    fn load() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/falco-rules");
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .filter_map(|p| std::fs::read(p).ok())
            .filter(|b| b.len() <= 512 * 1024)
            .collect();
        seeds.push(b"- macro: m\n  condition: evt.type=open\n- list: l\n  items: [a, b]\n- rule: r\n  desc: d\n  condition: m and proc.name in (l)\n  output: o %proc.name\n  priority: WARNING\n  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: [[a]]\n".to_vec());
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "load", &seeds, super::load);
    }
}
