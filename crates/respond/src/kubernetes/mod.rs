//! The `kubernetes:*` actionners, through the Kubernetes API with kube-rs: Falco Talon's names,
//! parameters and defaults. The client comes from a kubeconfig (`kubeconfig:` in the config,
//! else `$KUBECONFIG`, else `~/.kube/config`) or the pod's service account (in-cluster).
//!
//! | actionner | API calls |
//! | --- | --- |
//! | `terminate` | GET pod (owner checks; GET replicaset for `min_healthy_replicas`), DELETE pod with `gracePeriodSeconds` |
//! | `label` / `annotation` | PATCH pod (or its node with `level: node`), `application/merge-patch+json`; an empty value removes the key |
//! | `networkpolicy` | GET pod and its owner, GET the policy, then POST (create) or PUT (replace) a `networking.k8s.io/v1` NetworkPolicy |
//! | `log` | GET pod, GET `pods/{name}/log?container=..&tailLines=..`, written to a file |
//! | `delete` | DELETE the `ka.target.*` resource (k8s audit alerts) |
//! | `cordon` | GET pod, PATCH node `{"spec":{"unschedulable":true}}` |
//! | `drain` | cordon, list the node's pods, POST a `policy/v1` Eviction to `pods/{name}/eviction` for each (not DaemonSet, static or protected pods); with `max_wait_period` (or older Talon's `wait_period`) seconds, list the node's pods again (every fifth of the period, 0.2–5 s) until the evicted ones are gone — those in `wait_period_excluded_namespaces` are not waited for — and fail naming those still there at the end |
//!
//! | `exec` | GET pod, then `pods/{name}/exec?command=SHELL&command=-c&command=CMD&container=..&stdout=true&stderr=true` upgraded to a WebSocket (`v5.channel.k8s.io`, else `v4`) |
//! | `script` | the same with `command=SHELL&stdin=true`: the script goes to the shell's stdin (never on a command line), then stdin is closed |
//! | `download` | the same with `command=cat&command=FILE`; stdout saved to a file (0600), cut off at a size cap |
//!
//! Parameters are Talon's: `shell` (default `/bin/sh`) and `command` for exec; `shell` and
//! `script` or `file` (a local file whose content is sent) for script; `file` for download,
//! plus Harrier's `container` (default: the pod's first), `destination` (download directory,
//! default the log directory) and `max_bytes` (download cap, default 64 MiB). Alert fields are
//! never put into a command.
//!
//! Protected namespaces are never acted on: the pod's (`k8s.ns.name`, checked by the
//! [`crate::Responder`]), `ka.target.namespace` for `delete`, and every pod a drain would evict.

//! Without the `kubernetes` feature (a lean build) the settings and parameter checks stay and the
//! actionners fail with the feature to enable.

use serde_json::{Map, Value as Json};
use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "kubernetes")]
mod client;
#[cfg(feature = "kubernetes")]
pub use client::Kube;

/// How Harrier reaches the API server.
#[derive(Debug, Clone, Default)]
pub struct KubeSettings {
    /// A kubeconfig file; `None` = `$KUBECONFIG`, `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// Time allowed for one API call (connect + answer); default 10 s.
    pub timeout: Option<Duration>,
    /// Where `kubernetes:log` writes (default `/var/lib/harrier/response/logs`).
    pub log_dir: Option<PathBuf>,
}

pub const DEFAULT_LOG_DIR: &str = "/var/lib/harrier/response/logs";

/// `min_healthy_replicas`: "3" or "50%".
pub(crate) fn parse_min_healthy(s: &str) -> Option<(i64, bool)> {
    match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<i64>().ok().filter(|v| (0..=100).contains(v)).map(|v| (v, true)),
        None => s.trim().parse::<i64>().ok().filter(|v| *v >= 0).map(|v| (v, false)),
    }
}

pub(crate) fn check_min_healthy(p: &Map<String, Json>) -> Result<(), String> {
    match p.get("min_healthy_replicas") {
        None | Some(Json::Null) => Ok(()),
        Some(Json::Number(n)) if n.as_u64().is_some() => Ok(()),
        Some(Json::String(s)) if parse_min_healthy(s).is_some() => Ok(()),
        Some(v) => Err(format!(
            "parameter 'min_healthy_replicas' must be a count such as 2 or a percentage such as 50%, not {v}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_healthy_forms() {
        assert_eq!(parse_min_healthy("3"), Some((3, false)));
        assert_eq!(parse_min_healthy("50%"), Some((50, true)));
        assert_eq!(parse_min_healthy("150%"), None);
        assert_eq!(parse_min_healthy("x"), None);
    }
}
