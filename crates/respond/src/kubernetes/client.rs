//! The `kubernetes:*` actionners' API client (kube-rs); compiled with the `kubernetes` feature.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use harrier_engine::Alert;
use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{
    ApiResource, AttachParams, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams,
    PostParams,
};
use kube::Api;
use serde_json::{json, Map, Value as Json};

use super::{parse_min_healthy, KubeSettings, DEFAULT_LOG_DIR};
use crate::rules::field_text;
use crate::safety::Protected;
use crate::{ClusterActions, ClusterError};

/// The Kubernetes client and the runtime it runs on (the [`crate::Responder`] is synchronous).
pub struct Kube {
    rt: Option<tokio::runtime::Runtime>,
    client: kube::Client,
    protected: Protected,
    timeout: Duration,
    log_dir: PathBuf,
}

impl Drop for Kube {
    fn drop(&mut self) {
        // Dropping a runtime inside another runtime's thread would panic; this never blocks.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

type R<T> = Result<T, ClusterError>;

fn failed(s: impl Into<String>) -> ClusterError {
    ClusterError::Failed(s.into())
}

fn api_err(what: &str, e: kube::Error) -> ClusterError {
    match &e {
        kube::Error::Api(s) if s.code == 404 => failed(format!("target gone: {what} not found")),
        kube::Error::Api(s) if s.code == 403 => failed(format!(
            "{what}: forbidden ({}); the service account needs the RBAC of Harrier's chart",
            s.message
        )),
        _ => failed(format!("{what}: {e}")),
    }
}

impl Kube {
    /// Build the client (reads the kubeconfig or the service account; no API call yet).
    pub fn connect(settings: &KubeSettings, protected: Protected) -> Result<Kube, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("harrier-kube")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the Kubernetes client's runtime: {e}"))?;
        let timeout = settings.timeout.unwrap_or(Duration::from_secs(10));
        let path = settings.kubeconfig.clone();
        let client = rt.block_on(async move {
            let mut cfg = match &path {
                Some(p) => {
                    let kc = kube::config::Kubeconfig::read_from(p)
                        .map_err(|e| format!("kubeconfig {}: {e}", p.display()))?;
                    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                        .await
                        .map_err(|e| format!("kubeconfig {}: {e}", p.display()))?
                }
                None => kube::Config::infer().await.map_err(|e| {
                    format!("no Kubernetes configuration (kubeconfig or in-cluster service account): {e}")
                })?,
            };
            cfg.connect_timeout = Some(timeout);
            cfg.read_timeout = Some(timeout);
            cfg.write_timeout = Some(timeout);
            kube::Client::try_from(cfg).map_err(|e| format!("Kubernetes client: {e}"))
        })?;
        Ok(Kube {
            rt: Some(rt),
            client,
            protected,
            timeout,
            log_dir: settings.log_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_LOG_DIR)),
        })
    }

    fn block<T: Send + 'static>(&self, f: impl std::future::Future<Output = R<T>> + Send + 'static) -> R<T> {
        self.block_longer(f, Duration::ZERO)
    }

    /// [`Kube::block`] for actions that wait on purpose (`extra` longer).
    fn block_longer<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = R<T>> + Send + 'static,
        extra: Duration,
    ) -> R<T> {
        let rt = self.rt.as_ref().ok_or_else(|| failed("the Kubernetes client is shut down"))?;
        let (tx, rx) = mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        // Drain waits for evictions one by one: allow several calls' worth.
        rx.recv_timeout((self.timeout * 6).saturating_add(Duration::from_secs(1)).saturating_add(extra))
            .map_err(|_| failed("the Kubernetes API did not answer in time"))?
    }
}

/// The pod an alert is about: `k8s.ns.name` and `k8s.pod.name`.
fn pod_of(alert: &Alert) -> R<(String, String)> {
    let ns = field_text(alert, "k8s.ns.name").filter(|s| !s.is_empty() && s != "<NA>");
    let pod = field_text(alert, "k8s.pod.name").filter(|s| !s.is_empty() && s != "<NA>");
    match (ns, pod) {
        (Some(n), Some(p)) => Ok((n, p)),
        (None, _) => {
            Err(failed("the alert has no k8s.ns.name (add %k8s.ns.name to the detection rule's output)"))
        }
        (_, None) => {
            Err(failed("the alert has no k8s.pod.name (add %k8s.pod.name to the detection rule's output)"))
        }
    }
}

fn owner_kind(pod: &Pod) -> Option<(String, String)> {
    pod.metadata.owner_references.as_ref()?.first().map(|o| (o.kind.clone(), o.name.clone()))
}

fn param_str(p: &Map<String, Json>, k: &str) -> Option<String> {
    match p.get(k)? {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strs(p: &Map<String, Json>, k: &str) -> Vec<String> {
    p.get(k)
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Whether Talon's `ignore_*` parameters say to leave this pod alone; `Some(reason)` if so.
async fn ignored_pod(client: &kube::Client, p: &Map<String, Json>, pod: &Pod) -> R<Option<String>> {
    let b = |k: &str| p.get(k).and_then(Json::as_bool).unwrap_or(false);
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    match owner_kind(pod) {
        Some((k, n)) if k == "DaemonSet" && b("ignore_daemonsets") => {
            Ok(Some(format!("the pod belongs to the DaemonSet {n} (ignore_daemonsets)")))
        }
        Some((k, n)) if k == "StatefulSet" && b("ignore_statefulsets") => {
            Ok(Some(format!("the pod belongs to the StatefulSet {n} (ignore_statefulsets)")))
        }
        None if b("ignore_standalone_pods") => {
            Ok(Some("the pod has no controller (ignore_standalone_pods)".into()))
        }
        Some((k, n)) if k == "ReplicaSet" => {
            let Some(want) = param_str(p, "min_healthy_replicas") else { return Ok(None) };
            let (v, pct) = parse_min_healthy(&want).ok_or_else(|| {
                failed(format!("min_healthy_replicas '{want}' is not a count or a percentage"))
            })?;
            let rs = Api::<ReplicaSet>::namespaced(client.clone(), &ns)
                .get(&n)
                .await
                .map_err(|e| api_err(&format!("replicaset {ns}/{n}"), e))?;
            let ready = rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) as i64;
            let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) as i64;
            let need = if pct { (v * desired + 99) / 100 } else { v };
            Ok((ready < need).then(|| {
                format!(
                    "the ReplicaSet {n} has {ready} ready replicas, fewer than min_healthy_replicas {want}"
                )
            }))
        }
        _ => Ok(None),
    }
}

async fn get_pod(client: &kube::Client, ns: &str, name: &str) -> R<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(|e| api_err(&format!("pod {ns}/{name}"), e))
}

async fn node_of(client: &kube::Client, ns: &str, name: &str) -> R<String> {
    let pod = get_pod(client, ns, name).await?;
    pod.spec
        .and_then(|s| s.node_name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| failed(format!("pod {ns}/{name} is not scheduled on a node")))
}

async fn terminate(client: kube::Client, p: Map<String, Json>, ns: String, name: String) -> R<String> {
    let pod = get_pod(&client, &ns, &name).await?;
    if let Some(why) = ignored_pod(&client, &p, &pod).await? {
        return Err(ClusterError::Skipped(why));
    }
    // Talon's default: no grace period given = 0, the pod is killed at once.
    let grace = p.get("grace_period_seconds").and_then(Json::as_u64).unwrap_or(0) as u32;
    let dp = DeleteParams { grace_period_seconds: Some(grace), ..DeleteParams::default() };
    Api::<Pod>::namespaced(client, &ns)
        .delete(&name, &dp)
        .await
        .map_err(|e| api_err(&format!("pod {ns}/{name}"), e))?;
    Ok(format!("pod {ns}/{name} terminated (grace period {grace} s)"))
}

/// `label` and `annotation`: a merge patch; an empty value removes the key.
async fn meta_patch(
    client: kube::Client,
    p: Map<String, Json>,
    ns: String,
    name: String,
    key: &'static str,
) -> R<String> {
    let mut m = Map::new();
    if let Some(Json::Object(items)) = p.get(key) {
        for (k, v) in items {
            let v = match v {
                Json::String(s) if s.is_empty() => Json::Null,
                Json::Null => Json::Null,
                Json::String(s) => Json::String(s.clone()),
                other => Json::String(other.to_string()),
            };
            m.insert(k.clone(), v);
        }
    }
    let body = json!({ "metadata": { key: m } });
    let pp = PatchParams::default();
    if p.get("level").and_then(Json::as_str) == Some("node") {
        let node = node_of(&client, &ns, &name).await?;
        Api::<Node>::all(client)
            .patch(&node, &pp, &Patch::Merge(&body))
            .await
            .map_err(|e| api_err(&format!("node {node}"), e))?;
        Ok(format!("node {node} (of pod {ns}/{name}): {key} {}", Json::Object(m)))
    } else {
        Api::<Pod>::namespaced(client, &ns)
            .patch(&name, &pp, &Patch::Merge(&body))
            .await
            .map_err(|e| api_err(&format!("pod {ns}/{name}"), e))?;
        Ok(format!("pod {ns}/{name}: {key} {}", Json::Object(m)))
    }
}

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

async fn networkpolicy(client: kube::Client, p: Map<String, Json>, ns: String, name: String) -> R<String> {
    let pod = get_pod(&client, &ns, &name).await?;
    let sel = |s: Option<LabelSelector>| s.and_then(|s| s.match_labels).unwrap_or_default();
    let (owner, mut labels) = match owner_kind(&pod) {
        Some((k, n)) if k == "ReplicaSet" => {
            let o = Api::<ReplicaSet>::namespaced(client.clone(), &ns)
                .get(&n)
                .await
                .map_err(|e| api_err(&format!("replicaset {ns}/{n}"), e))?;
            (n, sel(o.spec.map(|s| s.selector)))
        }
        Some((k, n)) if k == "DaemonSet" => {
            let o = Api::<DaemonSet>::namespaced(client.clone(), &ns)
                .get(&n)
                .await
                .map_err(|e| api_err(&format!("daemonset {ns}/{n}"), e))?;
            (n, sel(o.spec.map(|s| s.selector)))
        }
        Some((k, n)) if k == "StatefulSet" => {
            let o = Api::<StatefulSet>::namespaced(client.clone(), &ns)
                .get(&n)
                .await
                .map_err(|e| api_err(&format!("statefulset {ns}/{n}"), e))?;
            (n, sel(o.spec.map(|s| s.selector)))
        }
        _ => (name.clone(), pod.metadata.labels.clone().unwrap_or_default()),
    };
    for k in ["pod-template-hash", "pod-template-generation", "controller-revision-hash"] {
        labels.remove(k);
    }
    if labels.is_empty() {
        return Err(failed(format!(
            "pod {ns}/{name} has no labels to select it with; a NetworkPolicy cannot isolate it"
        )));
    }
    let selector = labels.clone();
    labels.insert(MANAGED_BY.into(), "harrier".into());
    let mut peers = Vec::new();
    // Talon's `allow_cidr`; `allow` is accepted as its older name.
    for c in strs(&p, "allow_cidr").into_iter().chain(strs(&p, "allow")) {
        peers.push(NetworkPolicyPeer {
            ip_block: Some(IPBlock { cidr: c, except: None }),
            ..NetworkPolicyPeer::default()
        });
    }
    for n in strs(&p, "allow_namespaces") {
        peers.push(NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some([("kubernetes.io/metadata.name".to_string(), n)].into()),
                match_expressions: None,
            }),
            ..NetworkPolicyPeer::default()
        });
    }
    let np = NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(owner.clone()),
            namespace: Some(ns.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            policy_types: Some(vec!["Egress".into()]),
            pod_selector: Some(LabelSelector { match_labels: Some(selector), match_expressions: None }),
            egress: (!peers.is_empty())
                .then(|| vec![NetworkPolicyEgressRule { to: Some(peers), ports: None }]),
            ingress: None,
        }),
    };
    let api = Api::<NetworkPolicy>::namespaced(client, &ns);
    let what = format!("networkpolicy {ns}/{owner}");
    match api.get_opt(&owner).await.map_err(|e| api_err(&what, e))? {
        None => {
            api.create(&PostParams::default(), &np).await.map_err(|e| api_err(&what, e))?;
            Ok(format!("{what} created: egress of pod {ns}/{name} cut off"))
        }
        Some(old) => {
            let mut np = np;
            np.metadata.resource_version = old.metadata.resource_version;
            api.replace(&owner, &PostParams::default(), &np).await.map_err(|e| api_err(&what, e))?;
            Ok(format!("{what} updated: egress of pod {ns}/{name} cut off"))
        }
    }
}

/// A file name part made of safe characters only (pod names come from the alert).
fn safe_part(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
        .take(100)
        .collect()
}

async fn log(
    client: kube::Client,
    p: Map<String, Json>,
    ns: String,
    name: String,
    dir: PathBuf,
) -> R<String> {
    // Talon's default: the last 20 lines.
    let tail = p.get("tail_lines").and_then(Json::as_u64).filter(|n| *n > 0).unwrap_or(20) as i64;
    let pod = get_pod(&client, &ns, &name).await?;
    let containers: Vec<String> =
        pod.spec.map(|s| s.containers.into_iter().map(|c| c.name).collect()).unwrap_or_default();
    if containers.is_empty() {
        return Err(failed(format!("pod {ns}/{name} has no containers")));
    }
    let api = Api::<Pod>::namespaced(client, &ns);
    let mut out = String::new();
    let mut last_err = None;
    for c in &containers {
        let lp = LogParams { container: Some(c.clone()), tail_lines: Some(tail), ..LogParams::default() };
        match api.logs(&name, &lp).await {
            Ok(s) => {
                out.push_str(&format!("==> container {c} <==\n{s}"));
                if !s.ends_with('\n') && !s.is_empty() {
                    out.push('\n');
                }
            }
            Err(e) => last_err = Some(api_err(&format!("logs of {ns}/{name} container {c}"), e)),
        }
    }
    if out.is_empty() {
        return Err(last_err.unwrap_or_else(|| failed("no logs")));
    }
    let file = dir.join(format!("{}_{}_{}.log", safe_part(&ns), safe_part(&name), crate::now_ns()));
    write_private(&dir, &file, out.as_bytes())
        .map_err(|e| failed(format!("cannot write {}: {e}", file.display())))?;
    Ok(format!(
        "logs of pod {ns}/{name} ({} bytes, last {tail} lines per container) saved to {}",
        out.len(),
        file.display()
    ))
}

fn write_private(dir: &Path, file: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file)?;
    f.write_all(data)
}

/// The resources `kubernetes:delete` knows (Talon's list): plural → (group, version, kind, namespaced).
const DELETABLE: &[(&str, &str, &str, &str, bool)] = &[
    ("namespaces", "", "v1", "Namespace", false),
    ("configmaps", "", "v1", "ConfigMap", true),
    ("secrets", "", "v1", "Secret", true),
    ("services", "", "v1", "Service", true),
    ("serviceaccounts", "", "v1", "ServiceAccount", true),
    ("pods", "", "v1", "Pod", true),
    ("deployments", "apps", "v1", "Deployment", true),
    ("daemonsets", "apps", "v1", "DaemonSet", true),
    ("statefulsets", "apps", "v1", "StatefulSet", true),
    ("replicasets", "apps", "v1", "ReplicaSet", true),
    ("roles", "rbac.authorization.k8s.io", "v1", "Role", true),
    ("clusterroles", "rbac.authorization.k8s.io", "v1", "ClusterRole", false),
];

async fn delete(client: kube::Client, resource: String, ns: String, name: String) -> R<String> {
    let (plural, group, version, kind, namespaced) =
        *DELETABLE.iter().find(|d| d.0 == resource).ok_or_else(|| {
            failed(format!(
                "kubernetes:delete does not delete '{resource}' (it deletes {})",
                DELETABLE.iter().map(|d| d.0).collect::<Vec<_>>().join(", ")
            ))
        })?;
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() { version.into() } else { format!("{group}/{version}") },
        kind: kind.into(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = if namespaced {
        if ns.is_empty() {
            return Err(failed("the alert has no ka.target.namespace for a namespaced resource"));
        }
        Api::namespaced_with(client, &ns, &ar)
    } else {
        Api::all_with(client, &ar)
    };
    let what = if namespaced { format!("{kind} {ns}/{name}") } else { format!("{kind} {name}") };
    api.delete(&name, &DeleteParams::default()).await.map_err(|e| api_err(&what, e))?;
    Ok(format!("{what} deleted"))
}

/// Largest output kept from `kubernetes:exec` / `kubernetes:script` (the detail shows the start).
const EXEC_OUTPUT_MAX: usize = 1 << 20;
/// `kubernetes:download`'s default cap.
pub const DOWNLOAD_MAX: u64 = 64 << 20;
/// Largest script sent by `kubernetes:script`.
const SCRIPT_MAX: u64 = 1 << 20;

/// What a command run in a pod left.
struct ExecOut {
    container: String,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

async fn read_capped(
    r: Option<impl tokio::io::AsyncRead + Unpin>,
    cap: u64,
) -> std::io::Result<(Vec<u8>, bool)> {
    use tokio::io::AsyncReadExt;
    let Some(r) = r else { return Ok((Vec::new(), false)) };
    let mut out = Vec::new();
    let mut limited = r.take(cap.saturating_add(1));
    limited.read_to_end(&mut out).await?;
    let over = out.len() as u64 > cap;
    out.truncate(cap as usize);
    Ok((out, over))
}

/// Run `command` in the pod (its `container`, else the first), with `stdin` sent then closed.
/// Fails when the stream reports a failure status (non-zero exit) or stdout passes `cap`.
async fn exec_in(
    client: kube::Client,
    ns: &str,
    name: &str,
    container: Option<String>,
    command: Vec<String>,
    stdin: Option<Vec<u8>>,
    cap: u64,
) -> R<ExecOut> {
    use tokio::io::AsyncWriteExt;
    let container = match container {
        Some(c) => c,
        None => {
            let pod = get_pod(&client, ns, name).await?;
            pod.spec
                .and_then(|s| s.containers.into_iter().next().map(|c| c.name))
                .ok_or_else(|| failed(format!("pod {ns}/{name} has no containers")))?
        }
    };
    let ap =
        AttachParams::default().container(container.clone()).stdin(stdin.is_some()).stdout(true).stderr(true);
    let what = format!("exec in {ns}/{name} container {container}");
    let mut proc =
        Api::<Pod>::namespaced(client, ns).exec(name, command, &ap).await.map_err(|e| api_err(&what, e))?;
    let status = proc.take_status();
    let (out, err) = (proc.stdout(), proc.stderr());
    let writer = async {
        if let (Some(data), Some(mut w)) = (stdin, proc.stdin()) {
            w.write_all(&data).await?;
            w.shutdown().await?;
        }
        Ok::<(), std::io::Error>(())
    };
    // stderr on its own task: a stdout past the cap stops the session without waiting for it.
    let err_task = tokio::spawn(read_capped(err, 64 << 10));
    let (w, o) = tokio::join!(writer, read_capped(out, cap));
    let (stdout, over) = o.map_err(|e| failed(format!("{what}: reading stdout: {e}")))?;
    if over {
        proc.abort();
        err_task.abort();
        return Err(failed(format!("{what}: the output passed the {cap}-byte cap; stopped")));
    }
    w.map_err(|e| failed(format!("{what}: sending stdin: {e}")))?;
    let stderr = match err_task.await {
        Ok(Ok((b, _))) => b,
        Ok(Err(e)) => return Err(failed(format!("{what}: reading stderr: {e}"))),
        Err(e) => return Err(failed(format!("{what}: reading stderr: {e}"))),
    };
    let st = match status {
        Some(s) => s.await,
        None => None,
    };
    // A stream that broke before the command's status came is not a success.
    proc.join().await.map_err(|e| failed(format!("{what}: the exec stream failed: {e}")))?;
    let Some(st) = st else {
        return Err(failed(format!("{what}: the exec stream ended without the command's status")));
    };
    {
        if st.status.as_deref() == Some("Failure") {
            let code = st
                .details
                .as_ref()
                .and_then(|d| d.causes.as_ref())
                .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
                .and_then(|c| c.message.clone());
            let msg = st.message.unwrap_or_default();
            return Err(failed(format!(
                "{what}: {}{msg}; stderr: {}",
                code.map(|c| format!("exit code {c}: ")).unwrap_or_default(),
                String::from_utf8_lossy(&stderr).trim()
            )));
        }
    }
    Ok(ExecOut { container, stdout, stderr })
}

fn shown(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_end();
    if s.len() > 2048 {
        let mut end = 2048;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], b.len())
    } else {
        s.to_string()
    }
}

async fn exec(client: kube::Client, p: Map<String, Json>, ns: String, name: String) -> R<String> {
    let shell = param_str(&p, "shell").unwrap_or_else(|| "/bin/sh".into());
    let command = param_str(&p, "command").ok_or_else(|| failed("parameter 'command' is required"))?;
    let o = exec_in(
        client,
        &ns,
        &name,
        param_str(&p, "container"),
        vec![shell, "-c".into(), command],
        None,
        EXEC_OUTPUT_MAX as u64,
    )
    .await?;
    Ok(format!(
        "command run in {ns}/{name} container {}; output: {}{}",
        o.container,
        shown(&o.stdout),
        if o.stderr.is_empty() { String::new() } else { format!("; stderr: {}", shown(&o.stderr)) }
    ))
}

async fn script(client: kube::Client, p: Map<String, Json>, ns: String, name: String) -> R<String> {
    let shell = param_str(&p, "shell").unwrap_or_else(|| "/bin/sh".into());
    let body = match (param_str(&p, "script"), param_str(&p, "file")) {
        (Some(s), None) => s.into_bytes(),
        (None, Some(f)) => {
            let meta = std::fs::metadata(&f).map_err(|e| failed(format!("script file {f}: {e}")))?;
            if meta.len() > SCRIPT_MAX {
                return Err(failed(format!("script file {f} is larger than {SCRIPT_MAX} bytes")));
            }
            std::fs::read(&f).map_err(|e| failed(format!("script file {f}: {e}")))?
        }
        _ => return Err(failed("exactly one of the parameters 'script' and 'file' is required")),
    };
    let o = exec_in(
        client,
        &ns,
        &name,
        param_str(&p, "container"),
        vec![shell],
        Some(body),
        EXEC_OUTPUT_MAX as u64,
    )
    .await?;
    Ok(format!("script run in {ns}/{name} container {}; output: {}", o.container, shown(&o.stdout)))
}

async fn download(
    client: kube::Client,
    p: Map<String, Json>,
    ns: String,
    name: String,
    dir: PathBuf,
) -> R<String> {
    let file = param_str(&p, "file").ok_or_else(|| failed("parameter 'file' is required"))?;
    let cap = p.get("max_bytes").and_then(Json::as_u64).unwrap_or(DOWNLOAD_MAX);
    let o =
        exec_in(client, &ns, &name, param_str(&p, "container"), vec!["cat".into(), file.clone()], None, cap)
            .await?;
    let base = Path::new(&file).file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
    let out =
        dir.join(format!("{}_{}_{}_{}", safe_part(&ns), safe_part(&name), crate::now_ns(), safe_part(&base)));
    write_private(&dir, &out, &o.stdout)
        .map_err(|e| failed(format!("cannot write {}: {e}", out.display())))?;
    Ok(format!(
        "{file} of {ns}/{name} container {} ({} bytes) saved to {}",
        o.container,
        o.stdout.len(),
        out.display()
    ))
}

async fn cordon_node(client: &kube::Client, node: &str) -> R<()> {
    let body = json!({"spec": {"unschedulable": true}});
    Api::<Node>::all(client.clone())
        .patch(node, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map_err(|e| api_err(&format!("node {node}"), e))?;
    Ok(())
}

async fn drain(
    client: kube::Client,
    p: Map<String, Json>,
    ns: String,
    name: String,
    protected: Protected,
) -> R<String> {
    let node = node_of(&client, &ns, &name).await?;
    cordon_node(&client, &node).await?;
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|e| api_err(&format!("pods of node {node}"), e))?;
    let (mut evicted, mut left, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for pod in pods.items {
        let pns = pod.metadata.namespace.clone().unwrap_or_default();
        let pname = pod.metadata.name.clone().unwrap_or_default();
        let id = format!("{pns}/{pname}");
        if protected.namespace_reason(Some(&pns)).is_some() {
            left.push(format!("{id} (protected namespace)"));
            continue;
        }
        // Mirror (static) pods cannot be evicted; DaemonSet pods come back at once.
        let mirror =
            pod.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
        let kind = owner_kind(&pod).map(|o| o.0);
        if mirror || kind.as_deref() == Some("DaemonSet") {
            left.push(format!("{id} ({})", if mirror { "static pod" } else { "DaemonSet" }));
            continue;
        }
        match ignored_pod(&client, &p, &pod).await {
            Ok(Some(why)) => {
                left.push(format!("{id} ({why})"));
                continue;
            }
            Ok(None) => {}
            Err(ClusterError::Failed(e) | ClusterError::Skipped(e)) => {
                failures.push(format!("{id}: {e}"));
                continue;
            }
        }
        // The documented policy/v1 Eviction body (kube's own evict() sends a body without kind).
        let mut body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": pname, "namespace": pns}});
        if let Some(g) = p.get("grace_period_seconds").and_then(Json::as_u64) {
            body["deleteOptions"] = json!({"gracePeriodSeconds": g});
        }
        let r: Result<Json, _> = Api::<Pod>::namespaced(client.clone(), &pns)
            .create_subresource("eviction", &pname, &PostParams::default(), &body)
            .await;
        match r {
            Ok(_) => evicted.push(id),
            Err(e) => failures.push(format!("{id}: {e}")),
        }
    }
    let mut d = format!("node {node} cordoned; evicted {evicted:?}; left {left:?}");
    // Talon's max_wait_period (older Talon: wait_period): wait for the evicted pods to be gone.
    let wait = p
        .get("max_wait_period")
        .and_then(Json::as_u64)
        .filter(|n| *n > 0)
        .or_else(|| p.get("wait_period").and_then(Json::as_u64))
        .unwrap_or(0);
    let excluded = strs(&p, "wait_period_excluded_namespaces");
    let mut waiting: Vec<String> = evicted
        .iter()
        .filter(|id| !excluded.iter().any(|ns| id.split('/').next() == Some(ns.as_str())))
        .cloned()
        .collect();
    if wait > 0 && !waiting.is_empty() {
        let period = Duration::from_secs(wait);
        let every = (period / 5).clamp(Duration::from_millis(200), Duration::from_secs(5));
        let start = tokio::time::Instant::now();
        let mut polls = 0u32;
        loop {
            tokio::time::sleep(every.min(period.saturating_sub(start.elapsed()))).await;
            polls += 1;
            match Api::<Pod>::all(client.clone())
                .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
                .await
            {
                Ok(list) => {
                    let there: std::collections::HashSet<String> = list
                        .items
                        .iter()
                        .map(|p| {
                            format!(
                                "{}/{}",
                                p.metadata.namespace.as_deref().unwrap_or_default(),
                                p.metadata.name.as_deref().unwrap_or_default()
                            )
                        })
                        .collect();
                    waiting.retain(|id| there.contains(id));
                }
                Err(e) => tracing::warn!("kubernetes:drain: listing the pods of node {node}: {e}"),
            }
            if waiting.is_empty() || start.elapsed() >= period {
                break;
            }
        }
        if waiting.is_empty() {
            d.push_str(&format!(
                "; evicted pods gone after {:.1} s ({polls} checks)",
                start.elapsed().as_secs_f64()
            ));
        } else {
            failures.push(format!("still on the node after max_wait_period ({wait} s): {waiting:?}"));
        }
    }
    if failures.is_empty() {
        Ok(d)
    } else {
        Err(failed(format!("{d}; eviction failed for {failures:?}")))
    }
}

impl ClusterActions for Kube {
    fn run(
        &self,
        actionner: &str,
        params: &Map<String, Json>,
        alert: &Alert,
    ) -> Result<String, ClusterError> {
        let c = self.client.clone();
        let p = params.clone();
        match actionner {
            "kubernetes:delete" => {
                let g = |k: &str| field_text(alert, k).filter(|s| !s.is_empty() && s != "<NA>");
                let resource = g("ka.target.resource").ok_or_else(|| {
                    failed("the alert has no ka.target.resource (kubernetes:delete acts on k8s audit alerts)")
                })?;
                let name = g("ka.target.name").ok_or_else(|| failed("the alert has no ka.target.name"))?;
                let ns = g("ka.target.namespace").unwrap_or_default();
                let ns_target =
                    if resource == "namespaces" { Some(name.as_str()) } else { Some(ns.as_str()) };
                if let Some(why) = self.protected.namespace_reason(ns_target) {
                    return Err(ClusterError::Skipped(format!("protected: {why}")));
                }
                self.block(delete(c, resource, ns, name))
            }
            a => {
                let (ns, name) = pod_of(alert)?;
                if let Some(why) = self.protected.namespace_reason(Some(&ns)) {
                    return Err(ClusterError::Skipped(format!("protected: {why}")));
                }
                match a {
                    "kubernetes:terminate" => self.block(terminate(c, p, ns, name)),
                    "kubernetes:label" => self.block(meta_patch(c, p, ns, name, "labels")),
                    "kubernetes:annotation" => self.block(meta_patch(c, p, ns, name, "annotations")),
                    "kubernetes:networkpolicy" => self.block(networkpolicy(c, p, ns, name)),
                    "kubernetes:log" => {
                        let dir = p
                            .get("directory")
                            .and_then(Json::as_str)
                            .map(PathBuf::from)
                            .unwrap_or_else(|| self.log_dir.clone());
                        self.block(log(c, p, ns, name, dir))
                    }
                    "kubernetes:exec" => self.block(exec(c, p, ns, name)),
                    "kubernetes:script" => self.block(script(c, p, ns, name)),
                    "kubernetes:download" => {
                        let dir = p
                            .get("destination")
                            .and_then(Json::as_str)
                            .map(PathBuf::from)
                            .unwrap_or_else(|| self.log_dir.clone());
                        self.block(download(c, p, ns, name, dir))
                    }
                    "kubernetes:cordon" => self.block(async move {
                        let node = node_of(&c, &ns, &name).await?;
                        cordon_node(&c, &node).await?;
                        Ok(format!("node {node} (of pod {ns}/{name}) cordoned"))
                    }),
                    "kubernetes:drain" => {
                        let prot = self.protected.clone();
                        let wait = ["max_wait_period", "wait_period"]
                            .iter()
                            .filter_map(|k| p.get(*k).and_then(Json::as_u64))
                            .max()
                            .unwrap_or(0);
                        self.block_longer(drain(c, p, ns, name, prot), Duration::from_secs(wait))
                    }
                    other => Err(failed(format!("{other} is not a Kubernetes actionner Harrier runs"))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_file_name_parts() {
        assert_eq!(safe_part("a/../b;rm"), "a_.._b_rm");
    }
}
