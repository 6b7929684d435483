//! The webserver over real sockets: Falco's `/healthz` body and content type, `/versions` keys,
//! `/metrics` only when both switches are on, TLS from one combined PEM, a stalled event loop
//! failing the probe, and bounded requests.

use harrier_ops::metrics::{RuleMatches, Snapshot};
use harrier_ops::{start, versions_json, Health, WebConfig, WebState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn state(stall: Duration) -> WebState {
    let snap = Snapshot {
        version: "0.1.0".into(),
        engine_name: "modern_bpf".into(),
        evt_source: "syscall".into(),
        n_evts: 42,
        rules: vec![RuleMatches {
            rule: "Shell in container".into(),
            priority: harrier_rules::Priority::Notice,
            source: "syscall".into(),
            tags: vec!["container".into()],
            count: 3,
        }],
        ..Default::default()
    };
    WebState {
        health: Arc::new(Health::new(stall)),
        snapshot: Arc::new(Mutex::new(snap)),
        versions: versions_json("0.1.0", &[("k8saudit".into(), "0.18.0".into())]),
    }
}

fn local(prometheus: bool) -> WebConfig {
    WebConfig {
        listen_address: IpAddr::from([127, 0, 0, 1]),
        listen_port: 0,
        prometheus_metrics: prometheus,
        ..Default::default()
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap()
}

#[test]
fn healthz_versions_and_metrics_as_falco_serves_them() {
    let st = state(Duration::from_secs(30));
    let srv = start(&local(true), st.clone()).unwrap();
    let base = format!("http://{}", srv.addr);
    let c = client();

    let r = c.get(format!("{base}/healthz")).send().unwrap();
    assert_eq!(r.status(), 503, "not ready before the probe is attached and the rules loaded");
    st.health.set_ready(true);
    let r = c.get(format!("{base}/healthz")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().unwrap(), "{\"status\": \"ok\"}");

    let v: serde_json::Value =
        serde_json::from_str(&c.get(format!("{base}/versions")).send().unwrap().text().unwrap()).unwrap();
    for k in [
        "falco_version",
        "libs_version",
        "plugin_api_version",
        "driver_api_version",
        "driver_schema_version",
        "default_driver_version",
        "engine_version",
        "engine_version_semver",
        "plugin_versions",
    ] {
        assert!(v.get(k).is_some(), "/versions lacks {k}: {v}");
    }
    assert_eq!(v["plugin_versions"]["k8saudit"], "0.18.0");
    assert!(v["engine_version"].is_string(), "the minor version, as a string");

    let r = c.get(format!("{base}/metrics")).send().unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().unwrap();
    assert!(text.contains("# TYPE falcosecurity_scap_n_evts counter"), "{text}");
    assert!(text.contains("falcosecurity_scap_n_evts_total 42"), "{text}");
    assert!(text.contains("rule_name=\"Shell in container\""), "{text}");

    // Only GET, no body.
    assert_eq!(c.post(format!("{base}/healthz")).send().unwrap().status(), 405);
    assert_eq!(c.post(format!("{base}/healthz")).body("x").send().unwrap().status(), 413);
    assert_eq!(c.get(format!("{base}/nope")).send().unwrap().status(), 404);
}

#[test]
fn metrics_is_404_unless_both_switches_are_on_and_the_healthz_path_is_configurable() {
    let st = state(Duration::from_secs(30));
    st.health.set_ready(true);
    let cfg = WebConfig { k8s_healthz_endpoint: "/health/live".into(), ..local(false) };
    let srv = start(&cfg, st).unwrap();
    let base = format!("http://{}", srv.addr);
    let c = client();
    assert_eq!(c.get(format!("{base}/metrics")).send().unwrap().status(), 404);
    assert_eq!(c.get(format!("{base}/health/live")).send().unwrap().status(), 200);
    assert_eq!(c.get(format!("{base}/healthz")).send().unwrap().status(), 404);
}

#[test]
fn a_stalled_event_loop_fails_the_probe() {
    let st = state(Duration::from_millis(200));
    let srv = start(&local(false), st.clone()).unwrap();
    let base = format!("http://{}", srv.addr);
    let c = client();
    st.health.set_ready(true);
    assert_eq!(c.get(format!("{base}/healthz")).send().unwrap().status(), 200);
    std::thread::sleep(Duration::from_millis(400));
    let r = c.get(format!("{base}/healthz")).send().unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().unwrap().contains("stalled"));
    assert_eq!(c.get(format!("{base}/livez")).send().unwrap().status(), 503);
    assert_eq!(c.get(format!("{base}/readyz")).send().unwrap().status(), 200);
    st.health.beat();
    assert_eq!(c.get(format!("{base}/healthz")).send().unwrap().status(), 200);
}

#[test]
fn tls_from_one_combined_pem() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let pem = dir.path().join("falco.pem");
    std::fs::write(&pem, format!("{}{}", cert.cert.pem(), cert.key_pair.serialize_pem())).unwrap();
    let st = state(Duration::from_secs(30));
    st.health.set_ready(true);
    let cfg = WebConfig { ssl_certificate: Some(pem.clone()), ..local(false) };
    let srv = start(&cfg, st.clone()).unwrap();
    assert!(srv.tls);
    let ca = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let c = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .resolve("localhost", srv.addr)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let r = c.get(format!("https://localhost:{}/healthz", srv.addr.port())).send().unwrap();
    assert_eq!(r.text().unwrap(), "{\"status\": \"ok\"}");
    // Plain HTTP to the TLS port gets nothing useful.
    assert!(client().get(format!("http://{}/healthz", srv.addr)).send().is_err());

    // A PEM without its key is a clear error.
    let only_cert = dir.path().join("cert.pem");
    std::fs::write(&only_cert, cert.cert.pem()).unwrap();
    let e = start(&WebConfig { ssl_certificate: Some(only_cert), ..local(false) }, st).err().unwrap();
    assert!(e.contains("no private key"), "{e}");
}

#[test]
fn bad_listen_addresses_and_busy_ports_are_clear_errors() {
    assert!(harrier_ops::parse_listen_address("0.0.0.0").is_ok());
    assert!(harrier_ops::parse_listen_address("::").is_ok());
    let e = harrier_ops::parse_listen_address("localhost").unwrap_err();
    assert!(e.contains("not an IPv4 or IPv6 address"), "{e}");
    let st = state(Duration::from_secs(30));
    let a = start(&local(false), st.clone()).unwrap();
    let busy = WebConfig { listen_port: a.addr.port(), ..local(false) };
    let e = start(&busy, st).err().unwrap();
    assert!(e.contains("cannot listen on"), "{e}");
}
