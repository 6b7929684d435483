//! The plugin host against a real plugin library: `crates/plugins/test-plugin`, written on the
//! `falco_plugin` SDK and built here as a cdylib (its own target dir under target/).

use harrier_plugins::host::{HostedPlugin, PluginValue};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Duration;

fn plugin_so() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-plugin/Cargo.toml");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
            .join("test-plugin");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = std::process::Command::new(cargo)
            .args(["build", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTC_WRAPPER")
            .status()
            .expect("run cargo to build the test plugin");
        assert!(st.success(), "building the test plugin failed");
        target.join("debug/libharrier_test_plugin.so")
    })
}

fn text(v: &PluginValue) -> String {
    match v {
        PluginValue::Str(s) => s.clone(),
        PluginValue::U64(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn loads_checks_sources_extracts_and_reports_metrics() {
    let p = HostedPlugin::load(plugin_so(), "").unwrap();
    assert_eq!(p.name, "harrier-test");
    assert_eq!(p.version, "0.1.0");
    assert_eq!(p.source, Some((999, "k8s_audit".to_string())));
    let names: Vec<&str> = p.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["test.data", "test.num", "test.words"]);
    assert_eq!(p.fields[1].ftype, "uint64");
    assert!(p.fields[2].is_list);

    let src = p.start_source("40", 4).unwrap();
    let mut events = Vec::new();
    loop {
        match src.next_timeout(Duration::from_secs(10)) {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break,
            Err(_) => panic!("plugin source stalled"),
        }
    }
    assert_eq!(events.len(), 40, "every event through a 4-slot queue");
    assert_eq!(src.stats.events.load(Ordering::Relaxed), 40);
    let mut p = src.stop().expect("plugin back after its thread");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(u32::from_le_bytes(e[34..38].try_into().unwrap()), 999, "plugin id set");
        let d = p.extract(e, i as u64 + 1, "test.data", None, None).unwrap().unwrap();
        assert_eq!(text(&d[0]), format!("event-{i}"));
        let n = p.extract(e, i as u64 + 1, "test.num", None, None).unwrap().unwrap();
        assert_eq!(n, vec![PluginValue::U64(i as u64)]);
        let w = p.extract(e, i as u64 + 1, "test.words", None, None).unwrap().unwrap();
        assert_eq!(w.iter().map(text).collect::<Vec<_>>(), vec!["event".to_string(), i.to_string()]);
    }
    assert!(p.extract(&events[0], 1, "test.nope", None, None).is_err());
    let m = p.metrics();
    assert_eq!(m.len(), 1);
    assert!(m[0].name.ends_with("events_emitted"), "{m:?}");
    assert_eq!(m[0].value, 40.0);
    assert!(m[0].monotonic);
}

#[test]
fn bad_plugins_and_bad_output_do_not_take_the_process_down() {
    // init fails: a clear error with the plugin's message.
    let e = HostedPlugin::load(plugin_so(), "fail").err().unwrap();
    assert!(e.contains("init failed") && e.contains("init refused: fail"), "{e}");
    // open fails on bad params.
    let p = HostedPlugin::load(plugin_so(), "").unwrap();
    let e = p.start_source("not-a-number", 4).err().unwrap();
    assert!(e.contains("open") && e.contains("failed"), "{e}");
    // An event with another plugin's id is refused and counted; the good one passes.
    let p = HostedPlugin::load(plugin_so(), "").unwrap();
    let src = p.start_source("badid", 4).unwrap();
    let mut got = Vec::new();
    while let Ok(Some(e)) = src.next_timeout(Duration::from_secs(10)) {
        got.push(e);
    }
    assert_eq!(got.len(), 1);
    assert_eq!(src.stats.bad_events.load(Ordering::Relaxed), 1);
    drop(src.stop());
    // Missing library, and a library that is not a plugin.
    let e = HostedPlugin::load(Path::new("/nonexistent/libx.so"), "").err().unwrap();
    assert!(e.contains("not found"), "{e}");
    let libz = ["/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("libz on this machine");
    let e = HostedPlugin::load(libz, "").err().unwrap();
    assert!(e.contains("plugin_get_required_api_version is missing"), "{e}");
}
