//! The actionners Harrier knows: Talon's names (`kubernetes:*`, and its cloud ones, named as
//! unsupported), and Harrier's node-local ones (`node:*`). Each has a default for `continue`
//! (Talon's), a description, and a check of its parameters run at load time.

use serde_json::{Map, Value as Json};

/// Whether Harrier can run an actionner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Runs on the node, in the detecting process.
    Node,
    /// Runs against the Kubernetes API.
    Cluster,
    /// Loads (so Talon's files load unchanged) but fails with this reason when run.
    Unsupported(&'static str),
}

pub struct Info {
    pub name: &'static str,
    pub support: Support,
    pub continue_default: bool,
    pub description: &'static str,
    pub check: fn(&Map<String, Json>) -> Result<(), String>,
}

fn any(_: &Map<String, Json>) -> Result<(), String> {
    Ok(())
}

fn need_str(p: &Map<String, Json>, k: &str) -> Result<(), String> {
    match p.get(k) {
        Some(Json::String(s)) if !s.is_empty() => Ok(()),
        _ => Err(format!("parameter '{k}' (a string) is required")),
    }
}

fn need_map(p: &Map<String, Json>, k: &str) -> Result<(), String> {
    match p.get(k) {
        Some(Json::Object(m)) if !m.is_empty() => Ok(()),
        _ => Err(format!("parameter '{k}' (a map) is required")),
    }
}

fn opt_uint(p: &Map<String, Json>, k: &str) -> Result<(), String> {
    match p.get(k) {
        None | Some(Json::Null) => Ok(()),
        Some(v) if v.as_u64().is_some() => Ok(()),
        Some(v) => Err(format!("parameter '{k}' must be a non-negative integer, not {v}")),
    }
}

/// [`opt_uint`] no greater than `max` (`what` names the unit in the error).
fn opt_uint_max(p: &Map<String, Json>, k: &str, max: u64, what: &str) -> Result<(), String> {
    opt_uint(p, k)?;
    match p.get(k).and_then(Json::as_u64) {
        Some(v) if v > max => Err(format!("parameter '{k}' must be at most {max} {what}, not {v}")),
        _ => Ok(()),
    }
}

/// The longest a drain waits for its evictions: the response thread is held meanwhile.
pub const MAX_DRAIN_WAIT_SECONDS: u64 = 600;
/// The largest file `kubernetes:download` fetches (held in memory before it is written).
pub const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

fn opt_bool(p: &Map<String, Json>, k: &str) -> Result<(), String> {
    match p.get(k) {
        None | Some(Json::Null) | Some(Json::Bool(_)) => Ok(()),
        Some(v) => Err(format!("parameter '{k}' must be true or false, not {v}")),
    }
}

fn opt_strs(p: &Map<String, Json>, k: &str) -> Result<(), String> {
    match p.get(k) {
        None | Some(Json::Null) => Ok(()),
        Some(Json::Array(a)) if a.iter().all(Json::is_string) => Ok(()),
        Some(v) => Err(format!("parameter '{k}' must be a list of strings, not {v}")),
    }
}

fn check_kill(p: &Map<String, Json>) -> Result<(), String> {
    if let Some(s) = p.get("signal") {
        let s = s.as_str().ok_or("parameter 'signal' must be a signal name such as SIGKILL")?;
        crate::node::kill::signal_number(s).ok_or_else(|| format!("unknown signal '{s}'"))?;
    }
    match p.get("scope").map(|s| s.as_str()) {
        None | Some(Some("process" | "process_group" | "session")) => Ok(()),
        Some(_) => Err("parameter 'scope' must be process, process_group or session".into()),
    }
}

fn check_script(p: &Map<String, Json>) -> Result<(), String> {
    need_str(p, "command")?;
    let c = p["command"].as_str().unwrap_or_default();
    if !c.starts_with('/') {
        return Err(format!("parameter 'command' must be an absolute path to a program, not '{c}' (it is run directly, never through a shell)"));
    }
    opt_strs(p, "args")?;
    let args: Vec<String> = p
        .get("args")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    crate::node::script::check_no_interpreter(c, &args)?;
    opt_uint(p, "timeout_seconds")
}

fn check_quarantine(p: &Map<String, Json>) -> Result<(), String> {
    if let Some(v) = p.get("field") {
        v.as_str().ok_or("parameter 'field' must be a field name such as fd.name")?;
    }
    if let Some(v) = p.get("directory") {
        let d = v.as_str().ok_or("parameter 'directory' must be a path")?;
        if !d.starts_with('/') {
            return Err("parameter 'directory' must be an absolute path".into());
        }
    }
    Ok(())
}

fn check_terminate(p: &Map<String, Json>) -> Result<(), String> {
    opt_uint(p, "grace_period_seconds")?;
    opt_bool(p, "ignore_daemonsets")?;
    opt_bool(p, "ignore_statefulsets")?;
    opt_bool(p, "ignore_standalone_pods")?;
    crate::kubernetes::check_min_healthy(p)
}

fn check_level(p: &Map<String, Json>) -> Result<(), String> {
    match p.get("level").map(|v| v.as_str()) {
        None | Some(Some("pod" | "node")) => Ok(()),
        Some(_) => Err("parameter 'level' must be pod or node".into()),
    }
}

fn check_label(p: &Map<String, Json>) -> Result<(), String> {
    need_map(p, "labels")?;
    check_level(p)
}

fn check_annotation(p: &Map<String, Json>) -> Result<(), String> {
    need_map(p, "annotations")?;
    check_level(p)
}

/// `a.b.c.d/n` or an IPv6 prefix.
fn valid_cidr(c: &str) -> bool {
    let Some((ip, len)) = c.split_once('/') else { return false };
    let Ok(len) = len.parse::<u8>() else { return false };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => len <= 32,
        Ok(std::net::IpAddr::V6(_)) => len <= 128,
        Err(_) => false,
    }
}

fn check_netpol(p: &Map<String, Json>) -> Result<(), String> {
    opt_strs(p, "allow")?;
    opt_strs(p, "allow_cidr")?;
    opt_strs(p, "allow_namespaces")?;
    for k in ["allow", "allow_cidr"] {
        for c in p.get(k).and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str) {
            if !valid_cidr(c) {
                return Err(format!("parameter '{k}': '{c}' is not a CIDR such as 10.0.0.0/8"));
            }
        }
    }
    Ok(())
}

fn opt_str(p: &Map<String, Json>, k: &str) -> Result<(), String> {
    match p.get(k) {
        None | Some(Json::Null) | Some(Json::String(_)) => Ok(()),
        Some(v) => Err(format!("parameter '{k}' must be a string, not {v}")),
    }
}

fn check_exec(p: &Map<String, Json>) -> Result<(), String> {
    opt_str(p, "shell")?;
    opt_str(p, "container")?;
    need_str(p, "command")
}

fn check_kscript(p: &Map<String, Json>) -> Result<(), String> {
    opt_str(p, "shell")?;
    opt_str(p, "container")?;
    let has = |k: &str| p.get(k).and_then(Json::as_str).is_some();
    match (has("script"), has("file")) {
        (false, false) => Err("parameter 'script' or 'file' is required".into()),
        (true, true) => Err("parameters 'script' and 'file' cannot both be set".into()),
        _ => Ok(()),
    }
}

fn check_log(p: &Map<String, Json>) -> Result<(), String> {
    opt_uint(p, "tail_lines")
}

fn check_download(p: &Map<String, Json>) -> Result<(), String> {
    opt_str(p, "container")?;
    opt_uint_max(p, "max_bytes", MAX_DOWNLOAD_BYTES, "bytes")?;
    if let Some(v) = p.get("destination") {
        let d = v.as_str().ok_or("parameter 'destination' must be a path")?;
        if !d.starts_with('/') {
            return Err("parameter 'destination' must be an absolute path".into());
        }
    }
    need_str(p, "file")
}

fn check_drain(p: &Map<String, Json>) -> Result<(), String> {
    crate::kubernetes::check_min_healthy(p)?;
    opt_uint_max(p, "max_wait_period", MAX_DRAIN_WAIT_SECONDS, "seconds")?;
    opt_uint_max(p, "wait_period", MAX_DRAIN_WAIT_SECONDS, "seconds")?;
    opt_uint(p, "grace_period_seconds")?;
    opt_bool(p, "ignore_daemonsets")?;
    opt_bool(p, "ignore_statefulsets")?;
    opt_strs(p, "wait_period_excluded_namespaces")
}

/// `duration` (seconds) and `buffer_size` are Talon's `kubernetes:sysdig` names (its `image`
/// is accepted and unused: nothing is started in the pod); `scope` (container or process),
/// `directory` and `max_bytes` are Harrier's.
fn check_capture(p: &Map<String, Json>) -> Result<(), String> {
    opt_uint(p, "duration")?;
    if p.get("duration").and_then(Json::as_u64) == Some(0) {
        return Err("parameter 'duration' must be at least 1 (seconds)".into());
    }
    opt_uint(p, "buffer_size")?;
    opt_uint(p, "max_bytes")?;
    match p.get("scope").map(|s| s.as_str()) {
        None | Some(Some("container" | "process")) => {}
        Some(_) => return Err("parameter 'scope' must be container or process".into()),
    }
    if let Some(v) = p.get("directory") {
        let d = v.as_str().ok_or("parameter 'directory' must be a path")?;
        if !d.starts_with('/') {
            return Err("parameter 'directory' must be an absolute path".into());
        }
    }
    Ok(())
}

const CLOUD: &str =
    "cloud actionners need the provider's SDK and credentials; use node: or kubernetes: actionners";

pub static ACTIONNERS: &[Info] = &[
    Info {
        name: "node:kill",
        support: Support::Node,
        continue_default: true,
        description: "Kill the process (pidfd, safe against pid reuse), its process group or session",
        check: check_kill,
    },
    Info {
        name: "node:kill_container",
        support: Support::Node,
        continue_default: false,
        description: "Kill the container's tasks through containerd",
        check: check_kill,
    },
    Info {
        name: "node:pause_container",
        support: Support::Node,
        continue_default: true,
        description: "Pause (freeze) the container through containerd",
        check: any,
    },
    Info {
        name: "node:block_network",
        support: Support::Node,
        continue_default: true,
        description: "Block the container's outbound connects and sends (eBPF cgroup programs)",
        check: any,
    },
    Info {
        name: "node:quarantine",
        support: Support::Node,
        continue_default: true,
        description: "Move a file out of reach, keeping its metadata for restore",
        check: check_quarantine,
    },
    Info {
        name: "node:capture",
        support: Support::Node,
        continue_default: true,
        description: "Record the next seconds of the container's events to a .scap",
        check: check_capture,
    },
    Info {
        name: "node:script",
        support: Support::Node,
        continue_default: true,
        description: "Run a program with alert fields as arguments (never a shell)",
        check: check_script,
    },
    Info {
        name: "kubernetes:terminate",
        support: Support::Cluster,
        continue_default: false,
        description: "Terminate the pod",
        check: check_terminate,
    },
    Info {
        name: "kubernetes:label",
        support: Support::Cluster,
        continue_default: true,
        description: "Add, change or remove labels of the pod",
        check: check_label,
    },
    Info {
        name: "kubernetes:annotation",
        support: Support::Cluster,
        continue_default: true,
        description: "Add, change or remove annotations of the pod",
        check: check_annotation,
    },
    Info {
        name: "kubernetes:networkpolicy",
        support: Support::Cluster,
        continue_default: true,
        description: "Isolate the pod with a NetworkPolicy",
        check: check_netpol,
    },
    Info {
        name: "kubernetes:exec",
        support: Support::Cluster,
        continue_default: true,
        description: "Run a command in the pod",
        check: check_exec,
    },
    Info {
        name: "kubernetes:script",
        support: Support::Cluster,
        continue_default: true,
        description: "Run a script in the pod",
        check: check_kscript,
    },
    Info {
        name: "kubernetes:log",
        support: Support::Cluster,
        continue_default: true,
        description: "Get the pod's logs",
        check: check_log,
    },
    Info {
        name: "kubernetes:download",
        support: Support::Cluster,
        continue_default: true,
        description: "Download a file from the pod",
        check: check_download,
    },
    Info {
        name: "kubernetes:delete",
        support: Support::Cluster,
        continue_default: false,
        description: "Delete the resource",
        check: any,
    },
    Info {
        name: "kubernetes:cordon",
        support: Support::Cluster,
        continue_default: true,
        description: "Cordon the pod's node",
        check: any,
    },
    Info {
        name: "kubernetes:drain",
        support: Support::Cluster,
        continue_default: true,
        description: "Drain the pod's node",
        check: check_drain,
    },
    Info {
        name: "kubernetes:tcpdump",
        support: Support::Unsupported("use node:capture, which records the container's events on the node"),
        continue_default: true,
        description: "Capture packets in the pod",
        check: any,
    },
    Info {
        name: "kubernetes:sysdig",
        support: Support::Node,
        continue_default: true,
        description: "Capture the pod's syscalls: done on the node as node:capture (no job, no image)",
        check: check_capture,
    },
    Info {
        name: "aws:lambda",
        support: Support::Unsupported(CLOUD),
        continue_default: true,
        description: "Invoke an AWS Lambda function",
        check: any,
    },
    Info {
        name: "gcp:function",
        support: Support::Unsupported(CLOUD),
        continue_default: true,
        description: "Invoke a GCP function",
        check: any,
    },
    Info {
        name: "calico:networkpolicy",
        support: Support::Unsupported(
            "Calico's CRDs are not driven by Harrier; use kubernetes:networkpolicy or node:block_network",
        ),
        continue_default: true,
        description: "Create a Calico network policy",
        check: any,
    },
    Info {
        name: "cilium:networkpolicy",
        support: Support::Unsupported(
            "Cilium's CRDs are not driven by Harrier; use kubernetes:networkpolicy or node:block_network",
        ),
        continue_default: true,
        description: "Create a Cilium network policy",
        check: any,
    },
];

pub fn lookup(name: &str) -> Option<&'static Info> {
    ACTIONNERS.iter().find(|i| i.name == name)
}

pub fn known_list() -> String {
    ACTIONNERS.iter().map(|i| i.name).collect::<Vec<_>>().join(", ")
}
