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

/// Where rules fetched from URLs and OCI registries are cached: `$HARRIER_RULES_CACHE`, else
/// `/var/lib/harrier/rules-cache` when it can be created, else a directory below the temp dir.
pub fn remote_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HARRIER_RULES_CACHE") {
        return PathBuf::from(d);
    }
    let sys = Path::new("/var/lib/harrier/rules-cache");
    if std::fs::create_dir_all(sys).is_ok() {
        return sys.to_path_buf();
    }
    std::env::temp_dir().join("harrier-rules-cache")
}

/// Replace rule sources that are URLs (`https://…`, `oci://…`) by their cache files. With
/// `fetch`, each is fetched first (an error stops here: the first fetch must succeed) and the
/// fetchers are returned for following; without, the cached files are used as they are.
pub fn resolve_remote(
    paths: &[PathBuf],
    fetch: bool,
) -> Result<(Vec<PathBuf>, Vec<harrier_ops::remote::Fetcher>), String> {
    let mut out = Vec::with_capacity(paths.len());
    let mut fetchers = Vec::new();
    for p in paths {
        let s = p.to_string_lossy();
        match harrier_ops::remote::RemoteRules::parse(&s) {
            None => out.push(p.clone()),
            Some(Err(e)) => return Err(format!("rules source {e}")),
            Some(Ok(src)) => {
                let mut f = harrier_ops::remote::Fetcher::new(src, &remote_cache_dir())?;
                if fetch {
                    f.fetch().map_err(|e| format!("cannot fetch rules: {e}"))?;
                }
                out.push(f.path.clone());
                fetchers.push(f);
            }
        }
    }
    Ok((out, fetchers))
}
