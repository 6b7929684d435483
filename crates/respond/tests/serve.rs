//! `harrier respond serve`: Falco/falcosidekick POSTs over real HTTP on an ephemeral port.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harrier_respond::serve::{app, bind, serve, Emit};
use harrier_respond::{load_strs, Config, Responder};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falco_posts_run_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = format!(
        "- rule: Mark\n  match:\n    rules: [Write below etc]\n    priority: '>=Warning'\n    output_fields:\n      - k8s.ns.name!=kube-system\n  actions:\n    - action: Touch\n      actionner: node:script\n      parameters:\n        command: /usr/bin/touch\n        args: ['{}/${{proc.name}}']\n",
        dir.path().display()
    );
    let responder = Arc::new(Responder::new(load_strs(&[("r.yaml", &rules)]).unwrap(), Config::default()));
    let seen: Arc<Mutex<Vec<harrier_engine::Alert>>> = Arc::default();
    let s2 = seen.clone();
    let emit: Emit = Arc::new(move |a| s2.lock().unwrap().push(a.clone()));
    let (l, addr) = bind("127.0.0.1", 0).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(serve(l, app(responder, emit, true, 4096, Duration::from_secs(5), None), async move {
            let _ = rx.await;
        }));
    let c = reqwest::Client::new();
    let base = format!("http://{addr}");

    // What Falco's http_output posts.
    let alert = json!({
        "hostname": "node-1", "output": "10:00:00.000000000: Error File below /etc opened for writing",
        "priority": "Error", "rule": "Write below etc", "source": "syscall", "tags": ["filesystem"],
        "time": "2026-12-04T10:00:00.000000000Z",
        "output_fields": {"proc.name": "evil", "k8s.ns.name": "prod", "fd.name": "/etc/x"}
    });
    let r = c.post(&base).json(&alert).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["outcomes"][0]["status"], "done", "{v}");
    assert!(dir.path().join("evil").exists());
    assert_eq!(seen.lock().unwrap()[0].source, "response");

    // Not matching: kube-system.
    let mut other = alert.clone();
    other["output_fields"]["k8s.ns.name"] = json!("kube-system");
    let v: Value = c.post(&base).json(&other).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["outcomes"], json!([]));

    // Bad input: clear 4xx, the server goes on.
    let r = c.post(&base).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("malformed JSON"));
    let r = c.post(&base).json(&json!({"rule": "x"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = c.post(&base).body(vec![b' '; 10_000]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let r = c.get(&base).send().await.unwrap();
    assert_eq!(r.status(), 405);

    let r = c.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let r = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], harrier_respond::serve::METRICS_CONTENT_TYPE);
    let m = r.text().await.unwrap();
    assert!(m.contains("# TYPE harrier_response_done counter\n"), "{m}");
    assert!(m.contains("\nharrier_response_done_total 1\n"), "{m}");
    assert!(m.contains("\nharrier_response_alerts_total 2\n"), "{m}");
    assert!(m.contains("\nharrier_response_failed_total 0\n"), "{m}");
    assert!(m.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF: {m}");

    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// With a token configured, a POST without it (or with another) is refused before any rule runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_token_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let rules = format!(
        "- rule: Mark\n  match:\n    rules: [Write below etc]\n  actions:\n    - action: Touch\n      actionner: node:script\n      parameters:\n        command: /usr/bin/touch\n        args: ['{}/${{proc.name}}']\n",
        dir.path().display()
    );
    let responder = Arc::new(Responder::new(load_strs(&[("r.yaml", &rules)]).unwrap(), Config::default()));
    let emit: Emit = Arc::new(|_| {});
    let (l, addr) = bind("127.0.0.1", 0).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = app(responder, emit, false, 4096, Duration::from_secs(5), Some("s3cret-token".into()));
    let server = tokio::spawn(serve(l, app, async move {
        let _ = rx.await;
    }));
    let c = reqwest::Client::new();
    let base = format!("http://{addr}");
    let alert = json!({
        "hostname": "n", "output": "o", "priority": "Error", "rule": "Write below etc", "source": "syscall",
        "time": "2026-12-04T10:00:00.000000000Z", "output_fields": {"proc.name": "forged"}
    });
    assert_eq!(c.post(&base).json(&alert).send().await.unwrap().status(), 401);
    assert_eq!(c.post(&base).bearer_auth("s3cret-tokeX").json(&alert).send().await.unwrap().status(), 401);
    assert!(!dir.path().join("forged").exists(), "nothing ran without the token");
    assert_eq!(c.post(&base).bearer_auth("s3cret-token").json(&alert).send().await.unwrap().status(), 200);
    assert!(dir.path().join("forged").exists());
    assert_eq!(c.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let _ = tx.send(());
    let _ = server.await;
}
