//! Finding and loading rule files: `-r FILE|DIR`, `rules_files:` in the config, or the default ruleset.

use harrier_rules::{Loader, LoaderOptions};
use std::path::{Path, PathBuf};

/// Where Harrier's own default rules live: `$HARRIER_RULES_DIR`, `/etc/harrier/rules.d`, the
/// `rules/` folder next to the installed binary's tree, or the source tree's `rules/`.
pub fn default_rules_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HARRIER_RULES_DIR") {
        return PathBuf::from(d);
    }
    let etc = Path::new("/etc/harrier/rules.d");
    if etc.is_dir() {
        return etc.to_path_buf();
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/harrier → <repo>/rules
        for up in exe.ancestors().skip(1).take(4) {
            let cand = up.join("rules");
            if cand.join("harrier_rules.yaml").is_file() {
                return cand;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

/// Expand directories into their `*.yaml`/`*.yml` files (sorted by name); keep files as given.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read rules directory {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file() && matches!(f.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
                })
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!(
                "rules file {} does not exist (give a rules file or directory with -r)",
                p.display()
            ));
        }
    }
    Ok(out)
}

/// Load and check rule files with the engine's field checker.
pub fn load(files: &[PathBuf]) -> harrier_rules::Ruleset {
    let mut loader = Loader::new(LoaderOptions::default());
    for f in files {
        loader.load_file(f);
    }
    loader.finish(Some(&harrier_engine::Checker))
}
