//! Glue for Falco plugins: `plugins:`/`load_plugins:` in falco.yaml, `--enable-source`,
//! `--disable-source`, `--list-plugins`, `--plugin-info`, and running the `k8s_audit` source.
//! The logic is in `harrier-plugins` and `harrier-k8saudit`.

use crate::config::{self, RawConfig, Settings};
use crate::Common;
use harrier_engine::Ruleset;
use harrier_k8saudit::{AuditDetector, AuditSource};
use harrier_plugins::{info, PluginSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn plugin_set(raw: &RawConfig) -> Result<PluginSet, String> {
    PluginSet::from_config(raw.get("plugins"), raw.get("load_plugins"))
}

/// Sources available with this configuration: syscall, then the plugins' sources.
fn available(set: &PluginSet) -> Vec<String> {
    let mut v = vec!["syscall".to_string()];
    v.extend(set.native_sources().into_iter().map(String::from));
    v
}

/// Run the plugin sources the configuration and flags ask for: `Ok(exit code)`, or `Err(rules)`
/// when only the syscall source is enabled and the caller goes on as before.
pub fn run_plugin_sources(raw: &RawConfig, s: &Settings, c: &Common, rs: Ruleset) -> Result<u8, Ruleset> {
    let set = match plugin_set(raw) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: {e}");
            return Ok(1);
        }
    };
    if !set.hosted.is_empty() {
        let names: Vec<&str> = set.hosted.iter().map(|e| e.name.as_str()).collect();
        eprintln!("harrier: plugins {names:?} need their library loaded; hosting plugin libraries is not available in this build");
        return Ok(1);
    }
    let enabled = match harrier_plugins::enabled_sources(&available(&set), &c.enable_source, &c.disable_source) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: {e}");
            return Ok(1);
        }
    };
    let audit = enabled.iter().any(|x| x == harrier_k8saudit::SOURCE);
    let syscall = enabled.iter().any(|x| x == "syscall");
    match (syscall, audit) {
        (_, false) => Err(rs),
        (false, true) => Ok(run_audit(&set, s, c, rs)),
        (true, true) => {
            eprintln!(
                "harrier: running the syscall and k8s_audit sources in one process is not wired yet; \
                 pick one with --enable-source syscall or --enable-source k8s_audit"
            );
            Ok(1)
        }
    }
}

fn run_audit(set: &PluginSet, s: &Settings, c: &Common, rs: Ruleset) -> u8 {
    let Some(k) = &set.k8saudit else { return 1 };
    let mut outs =
        match crate::replay::outputs(s).and_then(|o| crate::delivery::Delivery::new(o, c.config.as_deref())) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("harrier: {e}");
                return 1;
            }
        };
    let src = match AuditSource::open(&k.open, &k.init) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: k8saudit: {e}");
            return 1;
        }
    };
    if let Some(a) = src.webhook_addr() {
        eprintln!("harrier: k8s_audit: webhook listening on {a}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    if let Some(secs) = c.stop_after {
        let st = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            st.store(true, Ordering::Relaxed);
        });
    }
    let mut det = AuditDetector::new(Arc::new(rs), crate::replay::hostname());
    det.run(&src, &stop, &mut |a| outs.send(&a));
    outs.finish(Duration::from_secs(5));
    tracing::info!(
        "k8s_audit: {} events, {} alerts; {}",
        det.events,
        det.alerts,
        src.counters().snapshot().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    );
    0
}

fn load(c: &Common) -> Result<PluginSet, String> {
    let (raw, _) = config::from_common(c).map_err(|e| e.to_string())?;
    plugin_set(&raw)
}

/// `--list-plugins`.
pub fn list(c: &Common) -> u8 {
    match load(c) {
        Ok(set) => {
            print!("{}", info::list(&info::native_infos(&set)));
            0
        }
        Err(e) => {
            eprintln!("harrier: {e}");
            1
        }
    }
}

/// `--plugin-info NAME`: a loaded plugin, or a built-in one by name.
pub fn info(c: &Common, name: &str) -> u8 {
    let set = match load(c) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    match info::builtin(name) {
        Some(p) => {
            print!("{}", info::detail(&p, set.entries.iter().find(|e| e.name == name)));
            0
        }
        None => {
            eprintln!("harrier: plugin '{name}' is not loaded (built in: k8saudit, json, container)");
            1
        }
    }
}
