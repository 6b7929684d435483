//! The alert store as a sink (`store:` block) and a source (`harrier tune --store`), or — in a
//! build without the `ui` feature (scripts/run.sh's lean build) — a clear refusal naming it.

use harrier_sinks::Router;

/// Add the `store:` sink of a config (if it has one) to `router`; `true` when one was added.
#[cfg(feature = "ui")]
pub fn add_store_sink(yaml: &str, router: &mut Router) -> Result<bool, String> {
    harrier_store::sink::add_from_config(yaml, router).map(|s| s.is_some())
}

/// Without the store: a `store:` block is refused at start (its alerts would be lost otherwise).
#[cfg(not(feature = "ui"))]
pub fn add_store_sink(yaml: &str, _router: &mut Router) -> Result<bool, String> {
    let top: serde_yaml::Value = serde_yaml::from_str(yaml).map_err(|e| format!("store: {e}"))?;
    match top.get("store") {
        None | Some(serde_yaml::Value::Null) => Ok(false),
        Some(_) => Err(harrier_sinks::not_built("ui", "store")),
    }
}

#[cfg(test)]
mod tests {
    /// The lean build refuses a `store:` block and accepts a config without one (scripts/test.sh
    /// runs this with --no-default-features).
    #[test]
    #[cfg(not(feature = "ui"))]
    fn store_left_out_is_refused_naming_the_feature() {
        let mut r = harrier_sinks::Router::with_own_runtime(1).unwrap();
        let e = super::add_store_sink("store:\n  url: sqlite:/tmp/a.db\n", &mut r).unwrap_err();
        assert!(e.contains("without the `ui` feature") && e.contains("--features ui"), "{e}");
        assert!(!super::add_store_sink("webhook: {address: 'http://127.0.0.1:1/'}\n", &mut r).unwrap());
    }
}
