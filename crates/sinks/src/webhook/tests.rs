use super::*;
use crate::testutil::{alert, Recorder};
use harrier_rules::Priority;

#[tokio::test]
async fn posts_falco_json_with_custom_headers() {
    let rec = Recorder::start(|r| {
        let ok = r.method == "POST"
            && r.header("content-type") == Some("application/json")
            && r.header("authorization") == Some("Bearer t0k")
            && r.json()["rule"].is_string()
            && r.json()["output_fields"].is_object();
        if ok {
            (200, "{}".into())
        } else {
            (400, "bad payload".into())
        }
    })
    .await;
    let cfg: WebhookConfig = serde_yaml::from_str(&format!(
        "address: {}\ncustomheaders:\n  Authorization: Bearer t0k\nminimumpriority: warning\n",
        rec.url("/hook")
    ))
    .unwrap();
    assert_eq!(cfg.common.minimumpriority, "warning");
    let s = WebhookSink::new(&cfg, "/etc/certs").unwrap();
    let a = Arc::new(alert("Write below etc", Priority::Error));
    s.deliver(std::slice::from_ref(&a)).await.unwrap();
    let reqs = rec.take();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/hook");
    assert_eq!(reqs[0].json()["rule"], "Write below etc");
    assert_eq!(reqs[0].json()["priority"], "Error");

    // The string header form, and a receiver that rejects: permanent error.
    let cfg2 = WebhookConfig {
        address: rec.url("/"),
        customheaders: KvMap::Text("X-A:1".into()),
        ..Default::default()
    };
    let e = WebhookSink::new(&cfg2, "").unwrap().deliver(std::slice::from_ref(&a)).await.unwrap_err();
    assert!(e.permanent && e.message.contains("400"), "{e:?}");
    // Nobody listening: transient.
    let cfg3 = WebhookConfig {
        address: format!("http://127.0.0.1:{}/", crate::testutil::free_port()),
        ..Default::default()
    };
    let e = WebhookSink::new(&cfg3, "").unwrap().deliver(std::slice::from_ref(&a)).await.unwrap_err();
    assert!(!e.permanent, "{e:?}");
    assert!(WebhookSink::new(&WebhookConfig { address: "ftp://x".into(), ..Default::default() }, "").is_err());
    let mtls = WebhookConfig { address: "https://x".into(), mutualtls: true, ..Default::default() };
    let e = WebhookSink::new(&mtls, "/nonexistent").err().unwrap();
    assert!(e.contains("/nonexistent/ca.crt"), "{e}");
}
