//! No OpenTelemetry Collector is packaged for this machine (`apt-cache policy otelcol
//! otelcol-contrib` finds nothing; Debian only has the Go SDK sources, PyPI has no collector), so
//! these tests run local receivers that decode OTLP with the same `opentelemetry-proto`
//! definitions: a tonic gRPC `LogsService` server, and HTTP servers that decode the protobuf
//! (prost) and JSON bodies, checking path, method, content type and headers as the OTLP spec
//! documents them.

use super::*;
use crate::testutil::{alert, free_port, Recorder};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

/// Requests with their `x-api-key` header.
type Seen = Arc<Mutex<Vec<(ExportLogsServiceRequest, Option<String>)>>>;

/// 0: accept, 1: UNAVAILABLE, 2: INVALID_ARGUMENT.
#[derive(Clone, Default)]
struct Receiver {
    got: Seen,
    mode: Arc<AtomicU8>,
}

#[tonic::async_trait]
impl LogsService for Receiver {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        match self.mode.load(Ordering::Relaxed) {
            1 => return Err(tonic::Status::unavailable("busy")),
            2 => return Err(tonic::Status::invalid_argument("bad")),
            _ => {}
        }
        let key = r.metadata().get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_string);
        self.got.lock().unwrap().push((r.into_inner(), key));
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

fn grpc_receiver(port: u16, rec: Receiver) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(rec))
            .serve(([127, 0, 0, 1], port).into())
            .await;
    })
}

fn attr<'a>(r: &'a LogRecord, k: &str) -> Option<&'a any_value::Value> {
    r.attributes.iter().find(|a| a.key == k).and_then(|a| a.value.as_ref()).and_then(|v| v.value.as_ref())
}

fn str_of(v: Option<&any_value::Value>) -> Option<&str> {
    match v {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn check_request(req: &ExportLogsServiceRequest, rules: &[&str]) {
    let rl = &req.resource_logs[0];
    let res = rl.resource.as_ref().unwrap();
    assert_eq!(res.attributes[0].key, "service.name");
    let recs = &rl.scope_logs[0].log_records;
    assert_eq!(recs.iter().map(|r| str_of(attr(r, "rule")).unwrap()).collect::<Vec<_>>(), rules);
    let r = &recs[0];
    assert_eq!(r.severity_text, "Warning");
    assert_eq!(r.severity_number, 13);
    assert!(r.time_unix_nano > 0 && r.observed_time_unix_nano >= r.time_unix_nano);
    assert!(
        matches!(r.body.as_ref().and_then(|b| b.value.as_ref()), Some(any_value::Value::StringValue(s)) if s.contains("test from Harrier"))
    );
    assert_eq!(str_of(attr(r, "priority")), Some("Warning"));
    assert_eq!(str_of(attr(r, "tags")), Some("example,test"));
    assert_eq!(str_of(attr(r, "k8s.ns.name")), Some("prod"));
    assert_eq!(str_of(attr(r, "proc.name")), Some("harrier"));
}

#[tokio::test]
async fn grpc_export_with_headers_and_retry_classes() {
    let port = free_port();
    let rec = Receiver::default();
    let cfg: OtlpLogsConfig = serde_yaml::from_str(&format!(
        "endpoint: http://127.0.0.1:{port}\nprotocol: grpc\nheaders: X-Api-Key=k%3D1\ntimeout: 3000\n\
         extraenvvars: {{OTEL_SERVICE_NAME: edge-falco, OTEL_RESOURCE_ATTRIBUTES: 'k8s.cluster.name=prod-1'}}\n"
    ))
    .unwrap();
    let s = OtlpLogsSink::new(&cfg).unwrap();
    let batch = vec![Arc::new(alert("a", Priority::Warning)), Arc::new(alert("b", Priority::Critical))];
    // No receiver yet (connection refused): a transient failure, retried by the queue.
    let e = s.deliver(&batch).await.unwrap_err();
    assert!(!e.permanent && e.message.contains("Unavailable"), "{e:?}");
    // The receiver comes up; the same sink (lazy channel) connects and delivers.
    let _server = grpc_receiver(port, rec.clone());
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match s.deliver(&batch).await {
            Ok(()) => break,
            Err(e) => {
                assert!(!e.permanent && std::time::Instant::now() < end, "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let got = rec.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    check_request(&got[0].0, &["a", "b"]);
    assert_eq!(got[0].1.as_deref(), Some("k=1"), "header, percent-decoded");
    let res = &got[0].0.resource_logs[0].resource.as_ref().unwrap().attributes;
    assert_eq!(str_of(res[0].value.as_ref().and_then(|v| v.value.as_ref())), Some("edge-falco"));
    assert!(res.iter().any(|a| a.key == "k8s.cluster.name"));
    assert_eq!(got[0].0.resource_logs[0].scope_logs[0].log_records[1].severity_number, 20);
    rec.mode.store(1, Ordering::Relaxed);
    let e = s.deliver(&batch).await.unwrap_err();
    assert!(!e.permanent && e.message.contains("Unavailable"), "{e:?}");
    rec.mode.store(2, Ordering::Relaxed);
    let e = s.deliver(&batch).await.unwrap_err();
    assert!(e.permanent && e.message.contains("InvalidArgument"), "{e:?}");
}

#[tokio::test]
async fn http_protobuf_export() {
    let rec = Recorder::start(|r| {
        let ok = r.method == "POST"
            && r.path == "/v1/logs"
            && r.header("content-type") == Some("application/x-protobuf")
            && r.header("authorization") == Some("Bearer abc")
            && ExportLogsServiceRequest::decode(r.body.as_slice()).is_ok();
        if ok {
            (200, String::new())
        } else {
            (400, "unexpected request".into())
        }
    })
    .await;
    // A bare host gets the `/v1/logs` signal path.
    let cfg = OtlpLogsConfig {
        endpoint: rec.url(""),
        headers: "Authorization=Bearer abc".into(),
        ..Default::default()
    };
    let s = OtlpLogsSink::new(&cfg).unwrap();
    s.deliver(&[Arc::new(alert("p1", Priority::Warning))]).await.unwrap();
    let got = rec.take();
    assert_eq!(got.len(), 1);
    check_request(&ExportLogsServiceRequest::decode(got[0].body.as_slice()).unwrap(), &["p1"]);
}

#[tokio::test]
async fn http_json_export_and_partial_success() {
    let rec = Recorder::start(|r| {
        let v = r.json();
        // The OTLP/JSON mapping: lowerCamelCase keys, 64-bit integers as strings allowed.
        let ok = r.path == "/otlp/v1/logs"
            && r.header("content-type") == Some("application/json")
            && v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["severityText"].is_string()
            && v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["timeUnixNano"].is_string()
                | v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["timeUnixNano"].is_u64();
        let rejected = v.to_string().contains("\"reject me\"");
        match (ok, rejected) {
            (true, false) => (200, "{}".into()),
            (true, true) => {
                (200, r#"{"partialSuccess":{"rejectedLogRecords":"1","errorMessage":"too old"}}"#.into())
            }
            _ => (400, "unexpected request".into()),
        }
    })
    .await;
    let cfg = OtlpLogsConfig {
        endpoint: rec.url("/otlp/v1/logs"),
        protocol: "http/json".into(),
        ..Default::default()
    };
    let s = OtlpLogsSink::new(&cfg).unwrap();
    s.deliver(&[Arc::new(alert("j1", Priority::Warning))]).await.unwrap();
    let got = rec.take();
    let req: ExportLogsServiceRequest = serde_json::from_slice(&got[0].body).unwrap();
    check_request(&req, &["j1"]);
    let e = s.deliver(&[Arc::new(alert("reject me", Priority::Warning))]).await.unwrap_err();
    assert!(e.permanent && e.message.contains("rejected 1") && e.message.contains("too old"), "{e:?}");
}

#[test]
fn settings_and_bad_configs() {
    let st = Settings::new(&OtlpLogsConfig { endpoint: "https://otel:4318".into(), ..Default::default() })
        .unwrap();
    assert_eq!(
        (st.url.as_str(), st.tls, st.timeout),
        ("https://otel:4318/v1/logs", true, Duration::from_secs(10))
    );
    let st = Settings::new(&OtlpLogsConfig {
        endpoint: "http://otel:4317".into(),
        protocol: "grpc".into(),
        tls: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!((st.url.as_str(), st.protocol, st.tls), ("https://otel:4317", Protocol::Grpc, true));
    let mut env = BTreeMap::new();
    env.insert("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), serde_yaml::Value::from("http://c:4318/base"));
    env.insert("OTEL_EXPORTER_OTLP_TIMEOUT".to_string(), serde_yaml::Value::from(2500));
    let st = Settings::new(&OtlpLogsConfig {
        endpoint: "http://ignored:1".into(),
        extraenvvars: env,
        ..Default::default()
    })
    .unwrap();
    assert_eq!((st.url.as_str(), st.timeout), ("http://c:4318/base/v1/logs", Duration::from_millis(2500)));
    let base = || OtlpLogsConfig { endpoint: "http://otel:4318".into(), ..Default::default() };
    let mut bad_env = BTreeMap::new();
    bad_env.insert("OTEL_TRACES_SAMPLER".to_string(), serde_yaml::Value::from("always_on"));
    for (c, why) in [
        (OtlpLogsConfig::default(), "otlp.logs.endpoint is empty"),
        (
            OtlpLogsConfig { endpoint: "otel:4318".into(), ..Default::default() },
            "otlp.logs.endpoint 'otel:4318'",
        ),
        (OtlpLogsConfig { protocol: "thrift".into(), ..base() }, "otlp.logs.protocol must be"),
        (
            OtlpLogsConfig { headers: "novalue".into(), ..base() },
            "otlp.logs.headers: 'novalue' is not key=value",
        ),
        (
            OtlpLogsConfig { extraenvvars: bad_env, ..base() },
            "otlp.logs.extraenvvars: OTEL_TRACES_SAMPLER is not supported",
        ),
        (
            OtlpLogsConfig { protocol: "grpc".into(), tls: true, checkcert: false, ..base() },
            "otlp.logs.checkcert",
        ),
    ] {
        let e = OtlpLogsSink::new(&c).err().unwrap_or_default();
        assert!(e.contains(why), "{why}: {e}");
    }
}

#[test]
fn config_block_and_sinks_entry() {
    use crate::config::{build_sinks, Config};
    use crate::router::Router;
    let c = Config::parse(
        "spooldir: none\notlp:\n  logs:\n    endpoint: http://127.0.0.1:4318\n    minimumpriority: warning\n\
         sinks:\n  - type: otlp_logs\n    endpoint: http://127.0.0.1:4317\n    protocol: grpc\n",
    )
    .unwrap();
    assert!(c.has_outputs());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _g = rt.enter();
    let mut r = Router::new(rt.handle().clone());
    build_sinks(&c, &mut r, &Arc::default()).unwrap();
    let names: Vec<_> = r.stats().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["otlp_logs", "otlp_logs-0"]);
    let l = Config::parse_checked(
        "otlp:\n  logs:\n    endpoint: http://a:1\n    protocl: grpc\n",
        "s.yaml",
        false,
        true,
    )
    .unwrap();
    assert_eq!(
        l.warnings,
        ["s.yaml:4:5: unknown key 'otlp.logs.protocl' (did you mean 'otlp.logs.protocol'?)"]
    );
    let c = Config::parse("otlp:\n  logs:\n    endpoint: http://a:1\n    protocol: thrift\n").unwrap();
    let e = build_sinks(&c, &mut Router::new(rt.handle().clone()), &Arc::default()).unwrap_err();
    assert!(e.contains("otlp.logs.protocol"), "{e}");
}
