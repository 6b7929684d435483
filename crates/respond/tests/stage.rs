//! The response stage behind a detector's port: alerts pass through unchanged and in order,
//! outcome alerts come back into the stream, and flush waits for queued actions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use harrier_pipeline::{AlertPort, Collect, Stages};
use harrier_respond::stage::ResponseStage;
use harrier_respond::{load_strs, Config, Responder};
use harrier_rules::Priority;

#[test]
fn alerts_pass_and_outcomes_follow() {
    let dir = tempfile::tempdir().unwrap();
    let rules = format!(
        "- rule: Touch\n  match:\n    rules: [Hit]\n  actions:\n    - action: T\n      actionner: node:script\n      parameters:\n        command: /usr/bin/touch\n        args: ['{}/${{proc.name}}']\n",
        dir.path().display()
    );
    let cfg = Config { dedup_window: Duration::ZERO, rate_per_minute: 0, ..Config::default() };
    let responder = Arc::new(Responder::new(load_strs(&[("r.yaml", &rules)]).unwrap(), cfg));
    let mut port = Stages::new(Collect::default()).then(Box::new(ResponseStage::new(responder.clone())));
    port.put(alert("Miss", Priority::Warning, &[], &[]));
    port.put(alert("Hit", Priority::Warning, &[], &[("proc.name", serde_json::json!("a"))]));
    port.put(alert("Hit", Priority::Warning, &[], &[("proc.name", serde_json::json!("b"))]));
    port.flush();
    let got = &port.last().0;
    let detections: Vec<&str> =
        got.iter().filter(|a| a.source != "response").map(|a| a.rule.as_str()).collect();
    assert_eq!(detections, ["Miss", "Hit", "Hit"], "every alert passes, in order");
    let outcomes: Vec<_> = got.iter().filter(|a| a.source == "response").collect();
    assert_eq!(outcomes.len(), 2, "one outcome per action, after flush");
    assert!(outcomes.iter().all(|o| o.output_fields["response.status"] == "done"));
    assert!(dir.path().join("a").exists() && dir.path().join("b").exists());
    assert_eq!(
        responder.metrics().alerts.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "the unmatched alert never reached the worker"
    );
}
