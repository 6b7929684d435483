//! Container and Kubernetes metadata from the container runtimes.
//!
//! The hot path never talks to a runtime. It asks a [`LookupService`] (its own thread) for a
//! container id through a bounded queue (a full queue is a counted drop, retried on a later
//! event) and picks up the answers, [`ContainerInfo`] records, without blocking. Each runtime is
//! one [`MetadataSource`]: containerd (gRPC `containers.v1` and `images.v1` over its unix socket),
//! podman and docker (their HTTP API on a unix socket), CRI-O (CRI `ContainerStatus`). Kubernetes
//! pod metadata comes from the CRI labels and annotations the kubelet and the runtime set.

pub mod containerd;
pub mod containerd_events;
pub mod cri;
pub mod docker;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod service;
pub mod transport;

pub use service::{LookupHandle, LookupService, LookupStats};

use std::path::PathBuf;
use std::time::Duration;

/// The runtime a container belongs to (from its cgroup path or its metadata source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    Docker,
    Containerd,
    CriO,
    Podman,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
        }
    }
}

/// Container metadata as far as it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Short id (12 characters): `container.id`.
    pub id: String,
    pub full_id: String,
    pub name: String,
    /// Image reference as the runtime gives it (`docker.io/library/bb:latest`).
    pub image: String,
    pub image_repository: String,
    pub image_tag: String,
    pub image_id: String,
    /// `container.type`: docker, containerd, cri-o, podman.
    pub runtime: String,
    pub privileged: Option<bool>,
    /// Container labels, sorted by key.
    pub labels: Vec<(String, String)>,
    /// Mounts, each `source:dest:mode:rdwr:propagation`.
    pub mounts: Vec<String>,
    /// Creation time, ns since the epoch (0: unknown).
    pub start_ts: u64,
    pub pod_uid: String,
    pub pod_name: String,
    pub pod_namespace: String,
    /// `k8s.container.name` (the container's name in its pod spec).
    pub k8s_container_name: String,
    /// Pod labels (from the pod sandbox), sorted by key.
    pub pod_labels: Vec<(String, String)>,
    /// The runtime lookup has not answered yet: only the ids (and what the cgroup path tells)
    /// are known.
    pub pending: bool,
}

impl ContainerInfo {
    /// A record with only what the cgroup path gives: ids, runtime kind, pod uid.
    pub fn from_ids(full_id: &str, runtime: Runtime, pod_uid: Option<&str>) -> ContainerInfo {
        ContainerInfo {
            id: full_id.chars().take(12).collect(),
            full_id: full_id.to_string(),
            runtime: runtime.as_str().to_string(),
            pod_uid: pod_uid.unwrap_or_default().to_string(),
            ..Default::default()
        }
    }

    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Fill the Kubernetes fields from the labels the kubelet sets (`io.kubernetes.pod.*`,
    /// `io.kubernetes.container.name`) and from CRI annotations (`io.kubernetes.cri.*`), keeping
    /// what is already set.
    pub fn fill_k8s_from(&mut self, annotations: &[(String, String)]) {
        let pick = |labels: &[(String, String)], keys: &[&str]| -> Option<String> {
            keys.iter()
                .find_map(|k| labels.iter().find(|(lk, v)| lk == k && !v.is_empty()).map(|(_, v)| v.clone()))
        };
        let all: Vec<(String, String)> = self.labels.iter().chain(annotations).cloned().collect();
        let set = |slot: &mut String, keys: &[&str]| {
            if slot.is_empty() {
                if let Some(v) = pick(&all, keys) {
                    *slot = v;
                }
            }
        };
        set(&mut self.pod_name, &["io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name"]);
        set(&mut self.pod_namespace, &["io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace"]);
        set(&mut self.pod_uid, &["io.kubernetes.pod.uid", "io.kubernetes.cri.sandbox-uid"]);
        set(
            &mut self.k8s_container_name,
            &["io.kubernetes.container.name", "io.kubernetes.cri.container-name"],
        );
    }

    /// Set `image`, `image_repository` and `image_tag` from an image reference.
    pub fn set_image(&mut self, reference: &str) {
        self.image = reference.to_string();
        let (repo, tag) = split_image(reference);
        self.image_repository = repo.to_string();
        self.image_tag = tag.to_string();
    }
}

/// Split an image reference into repository and tag (`registry:5000/a/b:1.2@sha256:…` →
/// `registry:5000/a/b`, `1.2`). A reference by digest only has an empty tag.
pub fn split_image(reference: &str) -> (&str, &str) {
    let no_digest = reference.split_once('@').map(|(r, _)| r).unwrap_or(reference);
    let slash = no_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match no_digest[slash..].rfind(':') {
        Some(c) => (&no_digest[..slash + c], &no_digest[slash + c + 1..]),
        None => (no_digest, ""),
    }
}

/// A digest without its algorithm (`sha256:abc…` → `abc…`).
pub fn strip_digest(d: &str) -> &str {
    d.split_once(':').map(|(_, h)| h).unwrap_or(d)
}

/// Where the runtimes are and how long to wait for them. The defaults find the usual sockets;
/// environment variables override them (see [`RuntimeConfig::from_env`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Look metadata up at all (ids from cgroups are reported either way).
    pub enabled: bool,
    pub containerd_sockets: Vec<PathBuf>,
    /// containerd namespaces to search; empty: every namespace the daemon lists.
    pub containerd_namespaces: Vec<String>,
    pub podman_sockets: Vec<PathBuf>,
    pub docker_sockets: Vec<PathBuf>,
    pub cri_sockets: Vec<PathBuf>,
    /// How long an alert whose container metadata is still being looked up may wait for it.
    pub alert_wait: Duration,
    /// Bound of one runtime call.
    pub lookup_timeout: Duration,
    /// Capacity of the request queue (hot path → lookup thread).
    pub queue_capacity: usize,
    /// Print start-up and degradation messages on stderr.
    pub log: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        RuntimeConfig {
            enabled: true,
            containerd_sockets: p(&[
                "/run/containerd/containerd.sock",
                "/run/k3s/containerd/containerd.sock",
            ]),
            containerd_namespaces: Vec::new(),
            podman_sockets: p(&["/run/podman/podman.sock"]),
            docker_sockets: p(&["/var/run/docker.sock"]),
            cri_sockets: p(&["/run/crio/crio.sock", "/var/run/crio/crio.sock"]),
            alert_wait: Duration::from_millis(100),
            lookup_timeout: Duration::from_secs(2),
            queue_capacity: 1024,
            log: true,
        }
    }
}

/// Environment variables that override [`RuntimeConfig`] (paths are comma separated).
pub const ENV_KEYS: &[&str] = &[
    "HARRIER_CONTAINERD_SOCKET",
    "HARRIER_CONTAINERD_NAMESPACES",
    "HARRIER_PODMAN_SOCKET",
    "HARRIER_DOCKER_SOCKET",
    "HARRIER_CRIO_SOCKET",
    "HARRIER_CONTAINER_WAIT_MS",
    "HARRIER_CONTAINER_METADATA",
];

impl RuntimeConfig {
    /// The defaults with the `HARRIER_*` environment overrides applied:
    /// `HARRIER_CONTAINERD_SOCKET`, `HARRIER_PODMAN_SOCKET`, `HARRIER_DOCKER_SOCKET`,
    /// `HARRIER_CRIO_SOCKET` (comma-separated paths; an empty value disables that runtime),
    /// `HARRIER_CONTAINERD_NAMESPACES`, `HARRIER_CONTAINER_WAIT_MS`, and
    /// `HARRIER_CONTAINER_METADATA=false` to turn lookups off.
    pub fn from_env() -> RuntimeConfig {
        Self::default().with_env(|k| std::env::var(k).ok())
    }

    /// Apply overrides from `get` (an environment lookup).
    pub fn with_env(mut self, get: impl Fn(&str) -> Option<String>) -> RuntimeConfig {
        let paths = |v: String| v.split(',').filter(|s| !s.is_empty()).map(PathBuf::from).collect::<Vec<_>>();
        if let Some(v) = get("HARRIER_CONTAINERD_SOCKET") {
            self.containerd_sockets = paths(v);
        }
        if let Some(v) = get("HARRIER_PODMAN_SOCKET") {
            self.podman_sockets = paths(v);
        }
        if let Some(v) = get("HARRIER_DOCKER_SOCKET") {
            self.docker_sockets = paths(v);
        }
        if let Some(v) = get("HARRIER_CRIO_SOCKET") {
            self.cri_sockets = paths(v);
        }
        if let Some(v) = get("HARRIER_CONTAINERD_NAMESPACES") {
            self.containerd_namespaces = v.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
        }
        if let Some(ms) = get("HARRIER_CONTAINER_WAIT_MS").and_then(|v| v.trim().parse::<u64>().ok()) {
            self.alert_wait = Duration::from_millis(ms);
        }
        if let Some(v) = get("HARRIER_CONTAINER_METADATA") {
            self.enabled = !matches!(v.trim(), "false" | "0" | "no" | "off");
        }
        self
    }
}

/// The answer of one source for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Box<ContainerInfo>),
    /// The runtime answered and does not know this container.
    NotFound,
    /// The runtime could not be reached (socket missing, refused, timed out).
    Unreachable(String),
}

/// One container runtime that can describe containers.
pub trait MetadataSource: Send {
    /// The runtime this source serves (a cgroup path names it; that source is asked first).
    fn runtime(&self) -> Runtime;
    /// The sockets this source tries, in order.
    fn sockets(&self) -> Vec<PathBuf>;
    /// Whether the runtime answers now.
    fn probe(&mut self, rt: &tokio::runtime::Runtime) -> bool;
    /// Describe one container (by full id).
    fn lookup(&mut self, rt: &tokio::runtime::Runtime, full_id: &str) -> Lookup;
}

/// The sources for a configuration: containerd, podman, docker, CRI-O (those with sockets).
pub fn default_sources(cfg: &RuntimeConfig) -> Vec<Box<dyn MetadataSource>> {
    let mut v: Vec<Box<dyn MetadataSource>> = Vec::new();
    if !cfg.containerd_sockets.is_empty() {
        v.push(Box::new(containerd::Containerd::new(
            cfg.containerd_sockets.clone(),
            cfg.containerd_namespaces.clone(),
            cfg.lookup_timeout,
        )));
    }
    if !cfg.podman_sockets.is_empty() {
        v.push(Box::new(docker::DockerApi::new(
            Runtime::Podman,
            cfg.podman_sockets.clone(),
            cfg.lookup_timeout,
        )));
    }
    if !cfg.docker_sockets.is_empty() {
        v.push(Box::new(docker::DockerApi::new(
            Runtime::Docker,
            cfg.docker_sockets.clone(),
            cfg.lookup_timeout,
        )));
    }
    if !cfg.cri_sockets.is_empty() {
        v.push(Box::new(cri::Cri::new(cfg.cri_sockets.clone(), cfg.lookup_timeout)));
    }
    v
}

/// Parse an RFC 3339 time (`2024-05-01T10:20:30.123456789Z`, `+02:00` offsets) to ns since the
/// epoch; 0 when it cannot be parsed.
pub fn parse_rfc3339(s: &str) -> u64 {
    fn num(s: &str) -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let f = || -> Option<u64> {
        let (date, rest) = s.get(..10).zip(s.get(11..))?;
        let y = num(date.get(0..4)?)?;
        let mo = num(date.get(5..7)?)?;
        let d = num(date.get(8..10)?)?;
        let h = num(rest.get(0..2)?)?;
        let mi = num(rest.get(3..5)?)?;
        let se = num(rest.get(6..8)?)?;
        let mut tail = rest.get(8..)?;
        let mut nanos = 0i64;
        if let Some(frac) = tail.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            let digits = &frac[..n.min(9)];
            nanos = num(digits)? * 10i64.pow(9 - digits.len() as u32);
            tail = &frac[n..];
        }
        let offset = match tail {
            "Z" | "z" | "" => 0,
            t => {
                let sign = if t.starts_with('-') { -1 } else { 1 };
                sign * (num(t.get(1..3)?)? * 3600 + num(t.get(4..6)?)? * 60)
            }
        };
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
            return None;
        }
        // Days from the civil date (proleptic Gregorian).
        let (yy, mm) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
        let era = yy.div_euclid(400);
        let yoe = yy - era * 400;
        let doy = (153 * mm + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
        u64::try_from(secs).ok()?.checked_mul(1_000_000_000)?.checked_add(nanos as u64)
    };
    f().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert_eq!(split_image("docker.io/library/bb:latest"), ("docker.io/library/bb", "latest"));
        assert_eq!(split_image("localhost:5000/a/b:1.2@sha256:00"), ("localhost:5000/a/b", "1.2"));
        assert_eq!(split_image("localhost:5000/a/b"), ("localhost:5000/a/b", ""));
        assert_eq!(split_image("nginx"), ("nginx", ""));
        assert_eq!(split_image(""), ("", ""));
        assert_eq!(strip_digest("sha256:abc"), "abc");
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), 1_000_000_000);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.5Z"), 1_700_000_000_500_000_000);
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), 1_700_000_000_000_000_000);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.123456789123Z"), 1_700_000_000_123_456_789);
        for bad in [
            "",
            "x",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:1",
            "0001-01-01T00:00:00Z",
            "2023-11-14T22:13:20.Z",
        ] {
            let _ = parse_rfc3339(bad);
        }
        assert_eq!(parse_rfc3339("garbage-garbage"), 0);
    }

    #[test]
    fn k8s_from_labels_then_annotations() {
        let mut c = ContainerInfo {
            labels: vec![("io.kubernetes.pod.name".into(), "web-1".into())],
            ..Default::default()
        };
        c.fill_k8s_from(&[
            ("io.kubernetes.cri.sandbox-name".into(), "other".into()),
            ("io.kubernetes.cri.sandbox-namespace".into(), "blog".into()),
            ("io.kubernetes.cri.container-name".into(), "web".into()),
        ]);
        assert_eq!((c.pod_name.as_str(), c.pod_namespace.as_str()), ("web-1", "blog"));
        assert_eq!(c.k8s_container_name, "web");
    }

    #[test]
    fn env_overrides() {
        let c = RuntimeConfig::default().with_env(|k| match k {
            "HARRIER_CONTAINERD_SOCKET" => Some("/a.sock,/b.sock".into()),
            "HARRIER_DOCKER_SOCKET" => Some(String::new()),
            "HARRIER_CONTAINER_WAIT_MS" => Some("250".into()),
            _ => None,
        });
        assert_eq!(c.containerd_sockets, vec![PathBuf::from("/a.sock"), PathBuf::from("/b.sock")]);
        assert!(c.docker_sockets.is_empty());
        assert_eq!(c.alert_wait, Duration::from_millis(250));
    }
}
