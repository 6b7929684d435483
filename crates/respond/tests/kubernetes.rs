//! The `kubernetes:*` actionners, end to end from an alert.
//!
//! No Kubernetes API server can run on this machine, so these tests run a small local HTTP
//! server (axum, ephemeral port) that answers like the API server for the objects the test
//! sets up, checks each call against the documented API (method, exact path and query,
//! content type, body, bearer token) and records it. The responder reaches it through a real
//! kubeconfig file and kube-rs, exactly as it would reach a cluster.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harrier_respond::kubernetes::KubeSettings;
use harrier_respond::serve::{app, bind, serve, Emit};
use harrier_respond::{load_strs, Config, Responder, Status};
use harrier_rules::Priority;
use serde_json::{json, Value};

const TOKEN: &str = "test-sa-token-1234";

#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

#[derive(Default)]
struct Api {
    calls: Mutex<Vec<Call>>,
    /// Network policies created so far (name → object).
    netpols: Mutex<BTreeMap<String, Value>>,
    /// Calls refused: bad token or content type, unknown path.
    refused: Mutex<Vec<String>>,
    /// What exec sessions received on stdin (channel 0), one entry per session.
    stdin: Mutex<Vec<Vec<u8>>>,
    /// Evicted pods ("ns/name") with the pod lists still showing them (they terminate
    /// after that many lists); `None` = they never go (a stuck finalizer).
    evicted: Mutex<BTreeMap<String, Option<u32>>>,
    /// Lists an evicted pod stays for; 0 = the mock's pods never leave.
    linger: std::sync::atomic::AtomicU32,
}

fn pod(ns: &str, name: &str, owner: Option<(&str, &str)>) -> Value {
    let mut meta = json!({"name": name, "namespace": ns, "labels": {"app": "web", "pod-template-hash": "7f9c"},
        "resourceVersion": "11"});
    if let Some((kind, oname)) = owner {
        meta["ownerReferences"] =
            json!([{"apiVersion": "apps/v1", "kind": kind, "name": oname, "uid": "u-1", "controller": true}]);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"nodeName": "node-7", "containers": [{"name": "app"}, {"name": "sidecar"}]},
        "status": {"phase": "Running"}})
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "status": if code < 300 {"Success"} else {"Failure"},
        "code": code, "reason": reason, "message": message, "metadata": {}})
}

fn reply(code: u16, v: Value) -> Response {
    (StatusCode::from_u16(code).unwrap(), [("content-type", "application/json")], v.to_string())
        .into_response()
}

/// The mock API server: one handler for every path, answering for the objects below.
async fn handle(
    State(api): State<Arc<Api>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth != format!("Bearer {TOKEN}") {
        api.refused.lock().unwrap().push(format!("no token: {method} {path}"));
        return reply(401, status(401, "Unauthorized", "Unauthorized"));
    }
    let body_v: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                api.refused.lock().unwrap().push(format!("bad body on {method} {path}: {e}"));
                return reply(400, status(400, "BadRequest", "bad body"));
            }
        }
    };
    api.calls.lock().unwrap().push(Call {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: ct.clone(),
        body: body_v.clone(),
    });
    let m = method.as_str();
    // Writes must carry the content type the API documents for them.
    let want_ct = match m {
        "PATCH" => Some("application/merge-patch+json"),
        "POST" | "PUT" => Some("application/json"),
        _ => None,
    };
    if let Some(w) = want_ct {
        if ct != w {
            api.refused.lock().unwrap().push(format!("{m} {path}: content type {ct}, want {w}"));
            return reply(415, status(415, "UnsupportedMediaType", "wrong content type"));
        }
    }
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (m, seg.as_slice()) {
        ("GET", ["api", "v1", "namespaces", ns, "pods", name]) => match *name {
            "web-1" => reply(200, pod(ns, name, Some(("ReplicaSet", "web-7f9c")))),
            "agent-1" => reply(200, pod(ns, name, Some(("DaemonSet", "agent")))),
            "lonely" => reply(200, pod(ns, name, None)),
            _ => reply(404, status(404, "NotFound", &format!("pods \"{name}\" not found"))),
        },
        ("GET", ["apis", "apps", "v1", "namespaces", ns, "replicasets", name]) => reply(
            200,
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": ns},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7f9c"}}},
                "status": {"replicas": 3, "readyReplicas": 1}}),
        ),
        ("DELETE", ["api", "v1", "namespaces", ns, "pods", name]) => reply(200, pod(ns, name, None)),
        ("PATCH", ["api", "v1", "namespaces", ns, "pods", name]) => reply(200, pod(ns, name, None)),
        ("PATCH", ["api", "v1", "nodes", name]) => {
            reply(200, json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}))
        }
        ("GET", ["apis", "networking.k8s.io", "v1", "namespaces", _, "networkpolicies", name]) => {
            match api.netpols.lock().unwrap().get(*name) {
                Some(v) => reply(200, v.clone()),
                None => reply(404, status(404, "NotFound", "not found")),
            }
        }
        ("POST", ["apis", "networking.k8s.io", "v1", "namespaces", _, "networkpolicies"]) => {
            let name = body_v["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let mut v = body_v.clone();
            v["metadata"]["resourceVersion"] = json!("1");
            api.netpols.lock().unwrap().insert(name, v.clone());
            reply(201, v)
        }
        ("PUT", ["apis", "networking.k8s.io", "v1", "namespaces", _, "networkpolicies", name]) => {
            api.netpols.lock().unwrap().insert(name.to_string(), body_v.clone());
            reply(200, body_v)
        }
        ("GET", ["api", "v1", "namespaces", _, "pods", _, "log"]) => {
            let c = if query.contains("container=app") { "app" } else { "sidecar" };
            (StatusCode::OK, [("content-type", "text/plain")], format!("{c}: line one\n{c}: line two\n"))
                .into_response()
        }
        ("GET", ["api", "v1", "pods"]) => {
            let mut ev = api.evicted.lock().unwrap();
            let items: Vec<Value> = [
                pod("prod", "web-1", Some(("ReplicaSet", "web-7f9c"))),
                pod("prod", "agent-1", Some(("DaemonSet", "agent"))),
                pod("kube-system", "coredns-1", Some(("ReplicaSet", "coredns"))),
            ]
            .into_iter()
            .filter(|p| {
                let id = format!(
                    "{}/{}",
                    p["metadata"]["namespace"].as_str().unwrap(),
                    p["metadata"]["name"].as_str().unwrap()
                );
                match ev.get_mut(&id) {
                    None | Some(None) => true,
                    Some(Some(0)) => false,
                    Some(Some(n)) => {
                        *n -= 1;
                        true
                    }
                }
            })
            .collect();
            reply(200, json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}))
        }
        ("POST", ["api", "v1", "namespaces", ns, "pods", name, "eviction"]) => {
            let linger = api.linger.load(std::sync::atomic::Ordering::SeqCst);
            api.evicted.lock().unwrap().insert(format!("{ns}/{name}"), (linger > 0).then_some(linger));
            reply(201, status(201, "", ""))
        }
        ("DELETE", ["api", "v1", "namespaces", _, "secrets", _]) => reply(200, status(200, "", "")),
        _ => {
            api.refused.lock().unwrap().push(format!("unknown: {m} {path}?{query}"));
            reply(404, status(404, "NotFound", "no such path in the mock"))
        }
    }
}

/// The values of `key` in a query string, decoded (`command` repeats, one per argument).
fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| {
            let v = v.replace('+', " ");
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        })
        .collect()
}

/// `pods/{name}/exec` as the API server serves it: a WebSocket upgrade with the channel
/// subprotocol (`v5.channel.k8s.io` preferred, `v4.channel.k8s.io`), each binary message
/// prefixed with its channel — 0 stdin, 1 stdout, 2 stderr, 3 the final `Status` (JSON), and in
/// v5, 255 closing a stream (`[255, 0]`: stdin is done).
async fn exec_ws(
    State(api): State<Arc<Api>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    use axum::extract::ws::Message;
    use futures_util::{SinkExt, StreamExt};
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth != format!("Bearer {TOKEN}") {
        api.refused.lock().unwrap().push(format!("no token: exec {path}"));
        return reply(401, status(401, "Unauthorized", "Unauthorized"));
    }
    let protos =
        headers.get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if !protos.split(',').any(|p| p.trim() == "v5.channel.k8s.io" || p.trim() == "v4.channel.k8s.io") {
        api.refused.lock().unwrap().push(format!("exec without the channel subprotocol: {protos:?}"));
        return reply(400, status(400, "BadRequest", "no subprotocol"));
    }
    api.calls.lock().unwrap().push(Call {
        method: format!("{method} (websocket {protos})"),
        path: path.clone(),
        query: query.clone(),
        content_type: String::new(),
        body: Value::Null,
    });
    let command = query_values(&query, "command");
    let with_stdin = query_values(&query, "stdin") == ["true"];
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"]).on_upgrade(move |socket| async move {
        let (mut tx, mut rx) = socket.split();
        let send = |ch: u8, data: &[u8]| {
            let mut m = vec![ch];
            m.extend_from_slice(data);
            Message::Binary(m.into())
        };
        let ok = json!({"metadata": {}, "status": "Success"});
        let mut stdin = Vec::new();
        if with_stdin {
            // Until the client closes stdin (v5: [255, 0]) or the socket.
            while let Some(Ok(m)) = rx.next().await {
                if let Message::Binary(b) = m {
                    match b.first() {
                        Some(0) => stdin.extend_from_slice(&b[1..]),
                        Some(255) if b.get(1) == Some(&0) => break,
                        _ => {}
                    }
                }
            }
            api.stdin.lock().unwrap().push(stdin.clone());
        }
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let (out, err, st): (Vec<u8>, Vec<u8>, Value) = match args.as_slice() {
            [_, "-c", "exit 3"] => (
                vec![],
                b"boom\n".to_vec(),
                json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                    "message": "command terminated with non-zero exit code: exit status 3",
                    "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}),
            ),
            [_, "-c", cmd] => (format!("ran: {cmd}\n").into_bytes(), vec![], ok),
            [_] => (format!("script of {} bytes done\n", stdin.len()).into_bytes(), vec![], ok),
            ["cat", "/var/log/big"] => (vec![b'x'; 5000], vec![], ok),
            ["cat", f] => (format!("content of {f}\n").into_bytes(), vec![], ok),
            _ => (vec![], b"unknown command".to_vec(), ok),
        };
        // Output in two frames, as a real stream may split it.
        let half = out.len() / 2;
        let _ = tx.send(send(1, &out[..half])).await;
        let _ = tx.send(send(1, &out[half..])).await;
        if !err.is_empty() {
            let _ = tx.send(send(2, &err)).await;
        }
        let _ = tx.send(send(3, st.to_string().as_bytes())).await;
        let _ = tx.send(Message::Close(None)).await;
    })
}

struct Mock {
    api: Arc<Api>,
    kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

impl Mock {
    fn start() -> Mock {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let api = Arc::new(Api::default());
        let a2 = api.clone();
        let addr = rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let router = axum::Router::new()
                .route("/api/v1/namespaces/{ns}/pods/{name}/exec", axum::routing::any(exec_ws))
                .fallback(handle)
                .with_state(a2);
            tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
            addr
        });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: mock\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: mock\n  context:\n    cluster: mock\n    user: sa\ncurrent-context: mock\nusers:\n- name: sa\n  user:\n    token: {TOKEN}\n"
            ),
        )
        .unwrap();
        Mock { api, kubeconfig, _dir: dir, _rt: rt }
    }

    fn calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.api.calls.lock().unwrap())
    }

    fn config(&self, log_dir: &std::path::Path) -> Config {
        Config {
            kube: KubeSettings {
                kubeconfig: Some(self.kubeconfig.clone()),
                timeout: Some(Duration::from_secs(5)),
                log_dir: Some(log_dir.to_path_buf()),
            },
            dedup_window: Duration::ZERO,
            ..Config::default()
        }
    }

    fn assert_clean(&self) {
        let r = self.api.refused.lock().unwrap();
        assert!(r.is_empty(), "the mock API server refused calls: {r:?}");
    }
}

fn rule(name: &str, actionner: &str, params: &str) -> String {
    format!(
        "- rule: {name}\n  match:\n    rules: [Terminal shell in container]\n  actions:\n    - action: {name}\n      actionner: {actionner}\n{params}"
    )
}

fn shell_alert(ns: &str, pod: &str) -> harrier_engine::Alert {
    common::alert(
        "Terminal shell in container",
        Priority::Notice,
        &["container", "shell"],
        &[("k8s.ns.name", json!(ns)), ("k8s.pod.name", json!(pod)), ("proc.name", json!("bash"))],
    )
}

fn run_one(mock: &Mock, yaml: &str, alert: &harrier_engine::Alert) -> harrier_respond::Outcome {
    let logs = tempfile::tempdir().unwrap();
    let r = Responder::new(load_strs(&[("r.yaml", yaml)]).unwrap(), mock.config(logs.path()));
    let mut o = r.handle(alert);
    assert_eq!(o.len(), 1, "{o:?}");
    o.remove(0)
}

#[test]
fn terminate_deletes_the_pod_with_its_grace_period() {
    // Mock API server, see the file's header: no real API server can run here.
    let mock = Mock::start();
    let yaml =
        rule("Kill it", "kubernetes:terminate", "      parameters:\n        grace_period_seconds: 5\n");
    let o = run_one(&mock, &yaml, &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert_eq!(o.target, "pod=prod/web-1");
    let c = mock.calls();
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!((c[0].method.as_str(), c[0].path.as_str()), ("GET", "/api/v1/namespaces/prod/pods/web-1"));
    assert_eq!((c[1].method.as_str(), c[1].path.as_str()), ("DELETE", "/api/v1/namespaces/prod/pods/web-1"));
    assert_eq!(c[1].body["gracePeriodSeconds"], 5, "DeleteOptions body: {}", c[1].body);
    mock.assert_clean();

    // Talon's default grace period is 0 (immediate).
    let o = run_one(&mock, &rule("Kill now", "kubernetes:terminate", ""), &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done);
    assert_eq!(mock.calls()[1].body["gracePeriodSeconds"], 0);

    // ignore_daemonsets: the pod of a DaemonSet is left alone, nothing deleted.
    let yaml = rule("Kill", "kubernetes:terminate", "      parameters:\n        ignore_daemonsets: true\n");
    let o = run_one(&mock, &yaml, &shell_alert("prod", "agent-1"));
    assert_eq!(o.status, Status::Skipped, "{o:?}");
    assert!(o.detail.contains("DaemonSet agent"), "{}", o.detail);
    assert!(mock.calls().iter().all(|c| c.method == "GET"));

    // min_healthy_replicas: the ReplicaSet has 1 of 3 ready; 2 are needed.
    let yaml = rule("Kill", "kubernetes:terminate", "      parameters:\n        min_healthy_replicas: 2\n");
    let o = run_one(&mock, &yaml, &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Skipped, "{o:?}");
    let c = mock.calls();
    assert_eq!(c[1].path, "/apis/apps/v1/namespaces/prod/replicasets/web-7f9c");
    assert!(c.iter().all(|c| c.method == "GET"));

    // ignore_standalone_pods.
    let yaml =
        rule("Kill", "kubernetes:terminate", "      parameters:\n        ignore_standalone_pods: true\n");
    let o = run_one(&mock, &yaml, &shell_alert("prod", "lonely"));
    assert_eq!(o.status, Status::Skipped, "{o:?}");
    assert_eq!(mock.calls().len(), 1);

    // A pod that is already gone: reported, not retried.
    let o = run_one(&mock, &rule("Kill", "kubernetes:terminate", ""), &shell_alert("prod", "gone-1"));
    assert_eq!(o.status, Status::Failed);
    assert!(o.detail.contains("target gone: pod prod/gone-1 not found"), "{}", o.detail);
    assert_eq!(mock.calls().len(), 1);
    mock.assert_clean();
}

#[test]
fn safety_protected_namespaces_dry_run_and_missing_fields() {
    // Mock API server, see the file's header: no real API server can run here.
    let mock = Mock::start();
    let yaml = rule("Kill", "kubernetes:terminate", "");
    let o = run_one(&mock, &yaml, &shell_alert("kube-system", "coredns-1"));
    assert_eq!(o.status, Status::Skipped);
    assert!(o.detail.contains("kube-system is protected"), "{}", o.detail);

    let yaml_dry = format!("{yaml}  dry_run: true\n");
    let o = run_one(&mock, &yaml_dry, &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::DryRun, "{o:?}");

    let no_pod = common::alert(
        "Terminal shell in container",
        Priority::Notice,
        &[],
        &[("k8s.ns.name", json!("prod")), ("proc.name", json!("bash"))],
    );
    let o = run_one(&mock, &yaml, &no_pod);
    assert_eq!(o.status, Status::Failed);
    assert!(o.detail.contains("no k8s.pod.name (add %k8s.pod.name"), "{}", o.detail);
    assert!(mock.calls().is_empty(), "nothing may reach the API server");

    // delete on a protected target namespace, and on a namespace that is itself protected.
    let yaml = rule("Del", "kubernetes:delete", "");
    let a = |ns: &str, res: &str, name: &str| {
        common::alert(
            "Terminal shell in container",
            Priority::Notice,
            &[],
            &[
                ("ka.target.resource", json!(res)),
                ("ka.target.namespace", json!(ns)),
                ("ka.target.name", json!(name)),
            ],
        )
    };
    assert_eq!(run_one(&mock, &yaml, &a("kube-system", "secrets", "x")).status, Status::Skipped);
    assert_eq!(run_one(&mock, &yaml, &a("", "namespaces", "kube-system")).status, Status::Skipped);
    assert!(mock.calls().is_empty());
    let o = run_one(&mock, &yaml, &a("prod", "secrets", "leaked"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    let c = mock.calls();
    assert_eq!(
        (c[0].method.as_str(), c[0].path.as_str()),
        ("DELETE", "/api/v1/namespaces/prod/secrets/leaked")
    );
    let o = run_one(&mock, &yaml, &a("prod", "nodes", "n"));
    assert_eq!(o.status, Status::Failed);
    assert!(o.detail.contains("does not delete 'nodes'"));
    mock.assert_clean();
}

#[test]
fn label_annotation_merge_patch() {
    // Mock API server, see the file's header: no real API server can run here.
    let mock = Mock::start();
    let yaml = rule(
        "Mark",
        "kubernetes:label",
        "      parameters:\n        labels:\n          suspicious: \"true\"\n          app: \"\"\n",
    );
    let o = run_one(&mock, &yaml, &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    let c = mock.calls();
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].method.as_str(), c[0].path.as_str()), ("PATCH", "/api/v1/namespaces/prod/pods/web-1"));
    assert_eq!(c[0].content_type, "application/merge-patch+json");
    // An empty value removes the label (null in a merge patch).
    assert_eq!(c[0].body, json!({"metadata": {"labels": {"suspicious": "true", "app": null}}}));

    let yaml = rule(
        "Note",
        "kubernetes:annotation",
        "      parameters:\n        level: node\n        annotations:\n          harrier/alert: shell\n",
    );
    let o = run_one(&mock, &yaml, &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    let c = mock.calls();
    assert_eq!(c[0].path, "/api/v1/namespaces/prod/pods/web-1");
    assert_eq!((c[1].method.as_str(), c[1].path.as_str()), ("PATCH", "/api/v1/nodes/node-7"));
    assert_eq!(c[1].body, json!({"metadata": {"annotations": {"harrier/alert": "shell"}}}));
    mock.assert_clean();
}

#[test]
fn networkpolicy_created_then_replaced() {
    // Mock API server, see the file's header: no real API server can run here.
    let mock = Mock::start();
    let yaml = rule(
        "Isolate",
        "kubernetes:networkpolicy",
        "      parameters:\n        allow_cidr: [10.0.0.0/8]\n        allow_namespaces: [monitoring]\n",
    );
    let o = run_one(&mock, &yaml, &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert!(o.detail.contains("created"), "{}", o.detail);
    let c = mock.calls();
    let paths: Vec<String> = c.iter().map(|c| format!("{} {}", c.method, c.path)).collect();
    assert_eq!(
        paths,
        [
            "GET /api/v1/namespaces/prod/pods/web-1",
            "GET /apis/apps/v1/namespaces/prod/replicasets/web-7f9c",
            "GET /apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/web-7f9c",
            "POST /apis/networking.k8s.io/v1/namespaces/prod/networkpolicies",
        ]
    );
    let np = &c[3].body;
    assert_eq!(np["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(np["kind"], "NetworkPolicy");
    assert_eq!(np["metadata"]["name"], "web-7f9c");
    assert_eq!(np["spec"]["policyTypes"], json!(["Egress"]));
    // The controller's selector without pod-template-hash.
    assert_eq!(np["spec"]["podSelector"], json!({"matchLabels": {"app": "web"}}));
    assert_eq!(
        np["spec"]["egress"],
        json!([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}},
                       {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}])
    );
    // A second alert replaces it (PUT with the resourceVersion it read).
    let o = run_one(&mock, &yaml, &shell_alert("prod", "web-1"));
    assert!(o.detail.contains("updated"), "{}", o.detail);
    let c = mock.calls();
    assert_eq!(c[3].method, "PUT");
    assert_eq!(c[3].path, "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/web-7f9c");
    assert_eq!(c[3].body["metadata"]["resourceVersion"], "1");
    // No egress list at all: everything cut.
    let o = run_one(&mock, &rule("Cut", "kubernetes:networkpolicy", ""), &shell_alert("prod", "lonely"));
    assert_eq!(o.status, Status::Done);
    let c = mock.calls();
    assert!(c[2].body["spec"].get("egress").is_none(), "{}", c[2].body);
    assert_eq!(c[2].body["metadata"]["name"], "lonely");
    mock.assert_clean();

    // A bad CIDR is refused at load, with the rule's line.
    let bad = rule("X", "kubernetes:networkpolicy", "      parameters:\n        allow_cidr: [10.0.0.0/99]\n");
    let e = load_strs(&[("bad.yaml", &bad)]).unwrap_err().to_string();
    assert!(e.contains("10.0.0.0/99") && e.contains("bad.yaml:"), "{e}");
}

#[test]
fn log_cordon_drain() {
    // Mock API server, see the file's header: no real API server can run here.
    let mock = Mock::start();
    let logs = tempfile::tempdir().unwrap();
    let yaml = rule("Logs", "kubernetes:log", "      parameters:\n        tail_lines: 50\n");
    let r = Responder::new(load_strs(&[("r.yaml", &yaml)]).unwrap(), mock.config(logs.path()));
    let o = r.handle(&shell_alert("prod", "web-1")).remove(0);
    assert_eq!(o.status, Status::Done, "{o:?}");
    let c = mock.calls();
    assert_eq!(c[1].path, "/api/v1/namespaces/prod/pods/web-1/log");
    assert!(c[1].query.contains("container=app") && c[1].query.contains("tailLines=50"), "{}", c[1].query);
    assert!(c[2].query.contains("container=sidecar"));
    let files: Vec<_> = std::fs::read_dir(logs.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("app: line two") && text.contains("sidecar: line one"), "{text}");

    let o = run_one(&mock, &rule("Cordon", "kubernetes:cordon", ""), &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    let c = mock.calls();
    assert_eq!((c[1].method.as_str(), c[1].path.as_str()), ("PATCH", "/api/v1/nodes/node-7"));
    assert_eq!(c[1].body, json!({"spec": {"unschedulable": true}}));

    let o = run_one(&mock, &rule("Drain", "kubernetes:drain", ""), &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    let c = mock.calls();
    let paths: Vec<String> = c.iter().map(|c| format!("{} {}", c.method, c.path)).collect();
    assert_eq!(paths[1], "PATCH /api/v1/nodes/node-7");
    assert_eq!(paths[2], "GET /api/v1/pods");
    assert!(c[2].query.contains("fieldSelector=spec.nodeName%3Dnode-7"), "{}", c[2].query);
    // Only the ReplicaSet pod is evicted: the DaemonSet's stays, kube-system is protected.
    let evictions: Vec<&Call> = c.iter().filter(|c| c.path.ends_with("/eviction")).collect();
    assert_eq!(evictions.len(), 1, "{paths:?}");
    assert_eq!(evictions[0].path, "/api/v1/namespaces/prod/pods/web-1/eviction");
    assert_eq!(evictions[0].body["kind"], "Eviction");
    assert_eq!(evictions[0].body["apiVersion"], "policy/v1");
    assert_eq!(evictions[0].body["metadata"]["name"], "web-1");
    assert!(o.detail.contains("kube-system/coredns-1 (protected namespace)"), "{}", o.detail);
    mock.assert_clean();
}

#[test]
fn no_kubeconfig_is_a_clear_failure() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        kube: KubeSettings { kubeconfig: Some(dir.path().join("missing")), ..KubeSettings::default() },
        ..Config::default()
    };
    let r = Responder::new(load_strs(&[("r.yaml", &rule("K", "kubernetes:terminate", ""))]).unwrap(), cfg);
    let o = r.handle(&shell_alert("prod", "web-1")).remove(0);
    assert_eq!(o.status, Status::Failed);
    assert!(o.detail.contains("needs the Kubernetes API") && o.detail.contains("missing"), "{}", o.detail);
}

/// Through `harrier respond serve`'s HTTP app: Falco's POST → rules → the API server.
#[test]
fn falco_post_through_serve_terminates_the_pod() {
    // Mock API server, see the file's header: no real API server can run here.
    let mock = Mock::start();
    let logs = tempfile::tempdir().unwrap();
    let yaml = "- action: Label suspicious\n  actionner: kubernetes:label\n  parameters:\n    labels:\n      suspicious: \"true\"\n- action: Terminate pod\n  actionner: kubernetes:terminate\n  parameters:\n    grace_period_seconds: 3\n- rule: Shell in prod\n  match:\n    rules: [Terminal shell in container]\n    priority: '>=Notice'\n    output_fields:\n      - k8s.ns.name!=kube-system\n  actions:\n    - action: Label suspicious\n    - action: Terminate pod\n";
    let responder =
        Arc::new(Responder::new(load_strs(&[("r.yaml", yaml)]).unwrap(), mock.config(logs.path())));
    let seen: Arc<Mutex<Vec<harrier_engine::Alert>>> = Arc::default();
    let s2 = seen.clone();
    let emit: Emit = Arc::new(move |a| s2.lock().unwrap().push(a.clone()));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (l, addr) = bind("127.0.0.1", 0).await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            l,
            app(responder.clone(), emit, false, 1 << 16, Duration::from_secs(10), None),
            async move {
                let _ = rx.await;
            },
        ));
        let alert = json!({
            "hostname": "node-7", "output": "Notice A shell was spawned in a container",
            "priority": "Notice", "rule": "Terminal shell in container", "source": "syscall",
            "tags": ["container", "shell"], "time": "2026-12-04T10:00:00.000000000Z",
            "output_fields": {"k8s.ns.name": "prod", "k8s.pod.name": "web-1", "proc.name": "bash"}
        });
        let v: Value = reqwest::Client::new()
            .post(format!("http://{addr}/"))
            .json(&alert)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["outcomes"][0]["status"], "done", "{v}");
        assert_eq!(v["outcomes"][0]["actionner"], "kubernetes:label");
        assert_eq!(v["outcomes"][1]["status"], "done", "{v}");
        assert_eq!(v["outcomes"][1]["actionner"], "kubernetes:terminate");
        let _ = tx.send(());
        server.await.unwrap().unwrap();
    });
    let c = mock.calls();
    let paths: Vec<String> = c.iter().map(|c| format!("{} {}", c.method, c.path)).collect();
    assert_eq!(
        paths,
        [
            "PATCH /api/v1/namespaces/prod/pods/web-1",
            "GET /api/v1/namespaces/prod/pods/web-1",
            "DELETE /api/v1/namespaces/prod/pods/web-1"
        ]
    );
    assert_eq!(c[2].body["gracePeriodSeconds"], 3);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|a| a.source == "response"));
    assert_eq!(seen[1].output_fields["response.target"], "pod=prod/web-1");
    mock.assert_clean();
}

#[test]
fn exec_script_download_over_the_exec_stream() {
    // Mock API server, see the file's header: no real API server can run here. Its exec
    // endpoint speaks the WebSocket channel subprotocol as the API server documents it.
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let alert = shell_alert("prod", "web-1");

    // exec: Talon's shell + command, in the pod's first container.
    let o = run_one(
        &mock,
        &rule(
            "Exec",
            "kubernetes:exec",
            "      parameters:\n        shell: /bin/bash\n        command: ps aux\n",
        ),
        &alert,
    );
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert!(o.detail.contains("container app") && o.detail.contains("ran: ps aux"), "{}", o.detail);
    let c = mock.calls();
    assert_eq!((c[0].method.as_str(), c[0].path.as_str()), ("GET", "/api/v1/namespaces/prod/pods/web-1"));
    assert!(
        c[1].method.starts_with("GET (websocket") && c[1].method.contains("v5.channel.k8s.io"),
        "{}",
        c[1].method
    );
    assert_eq!(c[1].path, "/api/v1/namespaces/prod/pods/web-1/exec");
    assert_eq!(query_values(&c[1].query, "command"), ["/bin/bash", "-c", "ps aux"]);
    assert_eq!(query_values(&c[1].query, "container"), ["app"]);
    assert_eq!(query_values(&c[1].query, "stdout"), ["true"]);
    assert_eq!(query_values(&c[1].query, "stderr"), ["true"]);
    assert!(query_values(&c[1].query, "stdin").iter().all(|v| v == "false"), "{}", c[1].query);

    // A failing command: the status on channel 3 makes the outcome failed, with its exit code.
    let o = run_one(
        &mock,
        &rule(
            "Exec",
            "kubernetes:exec",
            "      parameters:\n        command: exit 3\n        container: sidecar\n",
        ),
        &alert,
    );
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(o.detail.contains("exit code 3") && o.detail.contains("boom"), "{}", o.detail);
    let c = mock.calls();
    assert_eq!(c.len(), 1, "container given: no pod lookup");
    assert_eq!(query_values(&c[0].query, "container"), ["sidecar"]);

    // script: the content goes to the shell's stdin, which is then closed; nothing of it is on
    // the command line. Shell metacharacters in the script stay data.
    let script_text = "echo \"$(id)\"; rm -rf /tmp/x; `reboot`\n";
    let yaml = rule(
        "Script",
        "kubernetes:script",
        &format!("      parameters:\n        script: {}\n", serde_json::to_string(script_text).unwrap()),
    );
    let o = run_one(&mock, &yaml, &alert);
    assert_eq!(o.status, Status::Done, "{o:?}");
    let c = mock.calls();
    assert_eq!(query_values(&c[1].query, "command"), ["/bin/sh"]);
    assert_eq!(query_values(&c[1].query, "stdin"), ["true"]);
    assert_eq!(mock.api.stdin.lock().unwrap().pop().unwrap(), script_text.as_bytes());
    assert!(o.detail.contains(&format!("script of {} bytes done", script_text.len())), "{}", o.detail);
    // From a local file (Talon's `file`).
    let f = dir.path().join("collect.sh");
    std::fs::write(&f, "uname -a\n").unwrap();
    let yaml =
        rule("Script", "kubernetes:script", &format!("      parameters:\n        file: {}\n", f.display()));
    let o = run_one(&mock, &yaml, &alert);
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert_eq!(mock.api.stdin.lock().unwrap().pop().unwrap(), b"uname -a\n");
    mock.calls();

    // download: `cat FILE` in the pod, saved 0600 in the destination.
    let dest = dir.path().join("downloads");
    let yaml = rule(
        "Download",
        "kubernetes:download",
        &format!("      parameters:\n        file: /etc/shadow\n        destination: {}\n", dest.display()),
    );
    let o = run_one(&mock, &yaml, &alert);
    assert_eq!(o.status, Status::Done, "{o:?}");
    let c = mock.calls();
    assert_eq!(query_values(&c[1].query, "command"), ["cat", "/etc/shadow"]);
    let files: Vec<_> = std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "content of /etc/shadow\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&files[0]).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(files[0].file_name().unwrap().to_str().unwrap().starts_with("prod_web-1_"));
    // Past the size cap: failed, nothing written.
    let yaml = rule(
        "Download",
        "kubernetes:download",
        &format!(
            "      parameters:\n        file: /var/log/big\n        destination: {}\n        max_bytes: 1000\n",
            dest.display()
        ),
    );
    let o = run_one(&mock, &yaml, &alert);
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(o.detail.contains("1000-byte cap"), "{}", o.detail);
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1);
    mock.assert_clean();
}

#[test]
fn exec_parameters_are_checked_at_load() {
    let bad = [
        ("kubernetes:exec", "      parameters:\n        shell: /bin/sh\n"),
        ("kubernetes:script", "      parameters:\n        script: x\n        file: /y\n"),
        ("kubernetes:script", "      parameters:\n        shell: /bin/sh\n"),
        ("kubernetes:download", "      parameters:\n        destination: /tmp\n"),
        ("kubernetes:download", "      parameters:\n        file: /x\n        destination: rel\n"),
    ];
    for (a, p) in bad {
        let e = load_strs(&[("r.yaml", &rule("R", a, p))]).unwrap_err().to_string();
        assert!(e.contains("parameter"), "{a}: {e}");
    }
}

#[test]
fn drain_waits_for_the_evicted_pods_up_to_max_wait_period() {
    // Mock API server, see the file's header: no real API server can run here. An evicted pod
    // stays in the node's pod list for two more lists, then is gone.
    let mock = Mock::start();
    mock.api.linger.store(2, std::sync::atomic::Ordering::SeqCst);
    let yaml = rule(
        "Drain",
        "kubernetes:drain",
        "      parameters:\n        max_wait_period: 3\n        grace_period_seconds: 7\n",
    );
    let o = run_one(&mock, &yaml, &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert!(o.detail.contains("evicted pods gone after"), "{}", o.detail);
    let c = mock.calls();
    let lists: Vec<&Call> = c.iter().filter(|c| c.method == "GET" && c.path == "/api/v1/pods").collect();
    // The first list finds the pods to evict; then the waits: web-1 is in the next two, gone in the third.
    assert_eq!(
        lists.len(),
        4,
        "{:?}",
        c.iter().map(|c| format!("{} {}", c.method, c.path)).collect::<Vec<_>>()
    );
    assert!(lists.iter().all(|l| l.query.contains("fieldSelector=spec.nodeName%3Dnode-7")));
    let ev = c.iter().find(|c| c.path.ends_with("/eviction")).unwrap();
    assert_eq!(ev.body["deleteOptions"]["gracePeriodSeconds"], 7);
    // Without max_wait_period: no waiting (one list).
    let o = run_one(&mock, &rule("Drain", "kubernetes:drain", ""), &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert_eq!(mock.calls().iter().filter(|c| c.path == "/api/v1/pods").count(), 1);

    // A pod that never goes: failed at the end of the period, naming it.
    mock.api.evicted.lock().unwrap().clear();
    mock.api.linger.store(0, std::sync::atomic::Ordering::SeqCst);
    let yaml = rule("Drain", "kubernetes:drain", "      parameters:\n        max_wait_period: 1\n");
    let t = std::time::Instant::now();
    let o = run_one(&mock, &yaml, &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(
        o.detail.contains("still on the node after max_wait_period (1 s)") && o.detail.contains("prod/web-1"),
        "{}",
        o.detail
    );
    assert!(t.elapsed() >= Duration::from_secs(1), "waited the period");
    let polls = mock.calls().iter().filter(|c| c.path == "/api/v1/pods").count();
    assert!((3..=7).contains(&polls), "polled within the period: {polls}");
    // Its namespace excluded from the wait (Talon's wait_period_excluded_namespaces): done at once.
    let yaml = rule(
        "Drain",
        "kubernetes:drain",
        "      parameters:\n        max_wait_period: 5\n        wait_period_excluded_namespaces: [prod]\n",
    );
    let o = run_one(&mock, &yaml, &shell_alert("prod", "web-1"));
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert_eq!(mock.calls().iter().filter(|c| c.path == "/api/v1/pods").count(), 1);
    mock.assert_clean();
}
