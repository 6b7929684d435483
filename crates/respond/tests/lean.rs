//! A lean build (`--no-default-features`, as scripts/run.sh builds): the `kubernetes:*`
//! actionners are left out; a rule that uses one still loads, and its action fails with the
//! feature to enable. scripts/test.sh runs this
//! file without the default features; with them it is empty.
#![cfg(not(feature = "kubernetes"))]

mod common;

use harrier_respond::{load_strs, Config, Responder, Status};
use harrier_rules::Priority;
use serde_json::json;

#[test]
fn kubernetes_actionners_left_out_fail_naming_the_feature() {
    let yaml = "- action: Terminate the pod\n  actionner: kubernetes:terminate\n- rule: Shells\n  match:\n    rules: [Terminal shell in container]\n  actions:\n    - action: Terminate the pod\n";
    let r = Responder::new(load_strs(&[("r.yaml", yaml)]).unwrap(), Config::default());
    let alert = common::alert(
        "Terminal shell in container",
        Priority::Notice,
        &["container"],
        &[("k8s.ns.name", json!("prod")), ("k8s.pod.name", json!("web-1"))],
    );
    let o = r.handle(&alert);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0].status, Status::Failed, "{o:?}");
    assert!(
        o[0].detail.contains("without the `kubernetes` feature")
            && o[0].detail.contains("--features kubernetes"),
        "{}",
        o[0].detail
    );
}
