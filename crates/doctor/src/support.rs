//! `harrier --support`: Falco's support document (version, engine and system information, the
//! command line, the configuration file and every rules file with its content), as JSON.

use std::path::{Path, PathBuf};

fn uname() -> serde_json::Value {
    // SAFETY: a zeroed utsname filled by the kernel.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer for the duration of the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return serde_json::json!({});
    }
    let f = |a: &[libc::c_char]| {
        let b: Vec<u8> = a.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    serde_json::json!({
        "sysname": f(&u.sysname), "nodename": f(&u.nodename), "release": f(&u.release),
        "version": f(&u.version), "machine": f(&u.machine),
    })
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| format!("<cannot read: {e}>"))
}

/// The support document. `config` is `-c`; `rules` the expanded rule files (`-r` or the config's
/// `rules_files` or the defaults).
pub fn document(version: &str, config: Option<&Path>, rules: &[PathBuf]) -> serde_json::Value {
    let files: Vec<serde_json::Value> = rules
        .iter()
        .map(|p| {
            let content = read(p);
            let req = content
                .lines()
                .find_map(|l| l.trim().strip_prefix("- required_engine_version:"))
                .map(|v| v.trim().trim_matches(['"', '\'']).to_string());
            serde_json::json!({"name": p.display().to_string(), "content": content, "required_engine_version": req})
        })
        .collect();
    let (a, b, c) = harrier_rules::ENGINE_VERSION;
    let engine = format!("{a}.{b}.{c}");
    serde_json::json!({
        "version": version,
        "engine_info": {"engine_version": engine},
        "system_info": uname(),
        "cmdline": std::env::args().collect::<Vec<_>>().join(" "),
        "config": config.map(read).unwrap_or_default(),
        "config_file": config.map(|p| p.display().to_string()),
        "rules_files": files,
    })
}

/// The rule files `--support` lists: `-r`, else the config's `rules_files`, else `defaults`.
pub fn rule_files(config: Option<&Path>, rules: &[PathBuf], defaults: &[PathBuf]) -> Vec<PathBuf> {
    let cx = crate::Context::new(crate::Options {
        config: config.map(Path::to_path_buf),
        rules: rules.to_vec(),
        default_rules: defaults.to_vec(),
        ..Default::default()
    });
    crate::rules::expand(&crate::rules::rule_paths(&cx)).unwrap_or_default()
}
