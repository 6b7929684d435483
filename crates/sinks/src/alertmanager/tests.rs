//! Against the real Prometheus Alertmanager (Debian's `prometheus-alertmanager`, started on a
//! free port with a private storage dir); alerts are read back through its `/api/v2/alerts` API.

use super::*;
use crate::queue::QueueConfig;
use crate::router::{RouteConfig, Router};
use crate::testutil::{alert, free_port, need, Proc, Recorder};
use std::process::Command;
use std::time::{Duration, Instant};

fn alertmanager_on(port: u16, dir: tempfile::TempDir) -> Proc {
    let bin = need("prometheus-alertmanager");
    let conf = dir.path().join("am.yml");
    std::fs::write(&conf, "route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n").unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", conf.display()))
        .arg(format!("--storage.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    let mut p = Proc::start("alertmanager", dir, port, &mut cmd);
    p.wait_port();
    p
}

/// The alerts Alertmanager holds, by rule label.
async fn alerts_in(port: u16) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match reqwest::get(&url).await {
            Ok(r) if r.status().is_success() => {
                return serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            }
            other => {
                assert!(Instant::now() < end, "GET {url}: {other:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn alertmanager_stores_alerts_with_falcosidekick_labels() {
    let p = alertmanager_on(free_port(), tempfile::tempdir().unwrap());
    let cfg: AlertmanagerConfig = serde_yaml::from_str(&format!(
        "hostport: http://127.0.0.1:{}\nexpiresafter: 3600\nextralabels: 'team:sec, cluster:prod-1'\n\
         extraannotations: {{runbook: 'https://wiki/falco'}}\ncustomseveritymap: 'warning:page'\n",
        p.port
    ))
    .unwrap();
    let s = AlertmanagerSink::new(&cfg, "").unwrap();
    let mut shell = alert("Terminal shell in container", Priority::Warning);
    shell.output_fields.insert("container.id".into(), "abc123".into());
    shell.output_fields.insert("proc.pid".into(), 4242.into());
    let batch = vec![Arc::new(shell.clone()), Arc::new(alert("Read sensitive file", Priority::Error))];
    s.deliver(&batch).await.unwrap();
    let got = alerts_in(p.port).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    let a = got.iter().find(|a| a["labels"]["rule"] == "Terminal shell in container").unwrap();
    let l = &a["labels"];
    assert_eq!(l["source"], "falco");
    assert_eq!(l["eventsource"], shell.source);
    assert_eq!(l["priority"], "Warning");
    assert_eq!(l["severity"], "page", "customseveritymap");
    assert_eq!(l["k8s_ns_name"], "prod");
    assert_eq!(l["proc_name"], "harrier");
    assert_eq!(l["proc_pid"], "4242");
    assert_eq!(l["container_id"], "abc123");
    assert_eq!(l["tags"], "example,test");
    assert_eq!(l["team"], "sec");
    assert_eq!(l["cluster"], "prod-1");
    assert_eq!(a["annotations"]["summary"], "Terminal shell in container");
    assert_eq!(a["annotations"]["description"], shell.output);
    assert_eq!(a["annotations"]["runbook"], "https://wiki/falco");
    assert_eq!(a["status"]["state"], "active");
    // endsAt is the event time plus `expiresafter`.
    let ends = a["endsAt"].as_str().unwrap();
    let want = harrier_engine::output::format_time_json(shell.time_ns + 3600 * 1_000_000_000);
    assert_eq!(&ends[..19], &want[..19], "{ends} vs {want}");
    let b = got.iter().find(|a| a["labels"]["rule"] == "Read sensitive file").unwrap();
    assert_eq!(b["labels"]["severity"], "warning", "default map: error → warning");
}

/// Alertmanager down while alerts come in (the router spools them), then started again on the
/// same port: every alert reaches it, none twice as separate alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_then_restart_delivers_everything_from_the_spool() {
    let port = free_port();
    let spool = tempfile::tempdir().unwrap();
    let cfg = AlertmanagerConfig {
        hostport: format!("http://127.0.0.1:{port}"),
        expiresafter: 3600,
        ..Default::default()
    };
    let mut r = Router::new(tokio::runtime::Handle::current());
    let q = QueueConfig {
        memory: 5,
        spool_dir: Some(spool.path().to_path_buf()),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        timeout: Duration::from_secs(3),
        ..Default::default()
    };
    r.add(
        Arc::new(AlertmanagerSink::new(&cfg, "").unwrap()),
        RouteConfig { queue: q, ..RouteConfig::new("am") },
    )
    .unwrap();
    const N: usize = 40;
    for i in 0..N {
        r.send(&alert(&format!("rule {i}"), Priority::Critical));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mid = r.stats()[0].clone();
    assert_eq!(mid.delivered, 0, "{mid:?}");
    assert!(mid.retries > 0 && mid.spilled > 0, "{mid:?}");
    let _p = alertmanager_on(port, tempfile::tempdir().unwrap());
    let end = Instant::now() + Duration::from_secs(30);
    while !r.is_idle() {
        assert!(Instant::now() < end, "not delivered 30 s after the restart: {:?}", r.stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = alerts_in(port).await;
    let mut rules: Vec<String> =
        got.iter().map(|a| a["labels"]["rule"].as_str().unwrap().to_string()).collect();
    rules.sort();
    rules.dedup();
    assert_eq!(rules.len(), N, "{rules:?}");
    let st = r.stats()[0].clone();
    assert_eq!((st.delivered, st.dropped), (N as u64, 0));
}

/// Headers and the endpoint are not visible through Alertmanager's API: checked on a local
/// server instead (the request an Alertmanager would get).
#[tokio::test]
async fn custom_headers_and_endpoint() {
    let rec = Recorder::start(|r| {
        let ok = r.method == "POST"
            && r.path == "/api/v1/alerts"
            && r.header("authorization") == Some("Bearer t0k")
            && r.header("content-type") == Some("application/json")
            && r.json().as_array().is_some_and(|a| a.len() == 1 && a[0]["labels"].is_object());
        if ok {
            (200, "{}".into())
        } else {
            (400, "unexpected request".into())
        }
    })
    .await;
    let cfg: AlertmanagerConfig = serde_yaml::from_str(&format!(
        "hostport: {}\nendpoint: /api/v1/alerts\ncustomheaders: {{Authorization: Bearer t0k}}\n",
        rec.url("")
    ))
    .unwrap();
    AlertmanagerSink::new(&cfg, "")
        .unwrap()
        .deliver(&[Arc::new(alert("x", Priority::Notice))])
        .await
        .unwrap();
    assert_eq!(rec.take().len(), 1);
}

#[test]
fn drop_events_are_bucketed_and_reprioritised() {
    let s = Shape::new(&AlertmanagerConfig::default()).unwrap();
    let mut a = alert("Falco internal: syscalls event drop", Priority::Debug);
    a.output_fields.insert("n_drops".into(), "815508".into());
    a.output_fields.insert("n_drops_buffer".into(), 0.into());
    a.output_fields.insert("n_drops_pf".into(), "50".into());
    a.output_fields.insert("n_evts".into(), "9000".into());
    let v = alert_json(&a, &s);
    assert_eq!(v["labels"]["n_drops"], ">10000");
    assert_eq!(v["labels"]["n_drops_buffer"], "0");
    assert_eq!(v["labels"]["n_drops_pf"], ">10");
    assert!(v["labels"].get("n_evts").is_none());
    assert_eq!(v["labels"]["priority"], "Critical");
    assert_eq!(v["labels"]["severity"], "critical");
    // Below every threshold: dropeventdefaultpriority.
    let s = Shape::new(&AlertmanagerConfig {
        dropeventthresholds: "100:critical".into(),
        dropeventdefaultpriority: "error".into(),
        ..Default::default()
    })
    .unwrap();
    let mut a = alert("drop", Priority::Debug);
    a.output_fields.insert("n_drops".into(), "7".into());
    let v = alert_json(&a, &s);
    assert_eq!(
        (v["labels"]["n_drops"].as_str(), v["labels"]["priority"].as_str()),
        (Some("7"), Some("Error"))
    );
    assert_eq!(safe_label("k8s.pod.labels[app]"), "k8s_pod_labels_app");
    assert_eq!(safe_label("evt.arg.flags"), "evt_arg_flags");
}

#[test]
fn bad_configs_name_the_key() {
    let base = || AlertmanagerConfig { hostport: "http://am:9093".into(), ..Default::default() };
    for (c, why) in [
        (AlertmanagerConfig::default(), "alertmanager.hostport is empty"),
        (AlertmanagerConfig { hostport: "am:9093".into(), ..Default::default() }, "alertmanager.hostport"),
        (AlertmanagerConfig { endpoint: "api/v2".into(), ..base() }, "alertmanager.endpoint"),
        (
            AlertmanagerConfig { customseveritymap: KvMap::Text("loud:x".into()), ..base() },
            "alertmanager.customseveritymap: unknown priority 'loud'",
        ),
        (
            AlertmanagerConfig { dropeventthresholds: "10x:critical".into(), ..base() },
            "alertmanager.dropeventthresholds: '10x'",
        ),
        (
            AlertmanagerConfig { dropeventthresholds: "100".into(), ..base() },
            "alertmanager.dropeventthresholds: '100' is not",
        ),
        (
            AlertmanagerConfig { dropeventdefaultpriority: "big".into(), ..base() },
            "alertmanager.dropeventdefaultpriority",
        ),
        (
            AlertmanagerConfig { extralabels: KvMap::Text("bad-name:x".into()), ..base() },
            "alertmanager.extralabels: 'bad-name'",
        ),
    ] {
        let e = AlertmanagerSink::new(&c, "").err().unwrap_or_default();
        assert!(e.contains(why), "{why}: {e}");
    }
}

#[test]
fn config_section_and_sinks_entry() {
    use crate::config::{build_sinks, Config};
    let c = Config::parse(
        "spooldir: none\nalertmanager:\n  hostport: http://127.0.0.1:9093\n  minimumpriority: error\n\
         sinks:\n  - type: alertmanager\n    name: am-2\n    hostport: http://127.0.0.1:9094\n",
    )
    .unwrap();
    assert!(c.has_outputs());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut r = Router::new(rt.handle().clone());
    build_sinks(&c, &mut r, &Arc::default()).unwrap();
    let names: Vec<_> = r.stats().into_iter().map(|s| (s.name, s.kind)).collect();
    assert_eq!(
        names,
        [("alertmanager".to_string(), "alertmanager".to_string()), ("am-2".into(), "alertmanager".into())]
    );
    // A bad value is refused at start-up with the key; a typo is warned about with its position.
    let c = Config::parse("alertmanager:\n  hostport: http://a:1\n  dropeventthresholds: 'x:y'\n").unwrap();
    let e = build_sinks(&c, &mut Router::new(rt.handle().clone()), &Arc::default()).unwrap_err();
    assert!(e.contains("alertmanager.dropeventthresholds"), "{e}");
    let l = Config::parse_checked(
        "alertmanager:\n  hostport: http://a:1\n  expiresafterr: 5\n",
        "s.yaml",
        false,
        true,
    )
    .unwrap();
    assert_eq!(
        l.warnings,
        ["s.yaml:3:3: unknown key 'alertmanager.expiresafterr' (did you mean 'alertmanager.expiresafter'?)"]
    );
    let e =
        Config::parse_checked("alertmanager:\n  expiresafter: soon\n", "s.yaml", false, true).unwrap_err();
    assert!(e.starts_with("s.yaml:2:") && e.contains("alertmanager.expiresafter"), "{e}");
}
