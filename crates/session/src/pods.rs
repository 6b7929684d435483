//! Pod name and namespace of a shell's container, from the metadata the container runtimes give
//! (crates/containers: containerd, CRI-O, docker, podman; the kubelet's `io.kubernetes.pod.*`
//! labels). Asked once per container when its first shell starts, through the same lookup service
//! as live detection, waiting at most `alert_wait`; answers (also "not a pod") are cached.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use harrier_containers::service::{LookupHandle, LookupService};
use harrier_containers::{Runtime, RuntimeConfig};

/// Pod name and namespace (both empty: not a pod, or unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
}

/// Most containers remembered.
const CACHE_MAX: usize = 4096;

/// Looks pods up through the container runtimes.
pub struct ContainerPods {
    handle: LookupHandle,
    wait: Duration,
    cache: HashMap<String, Pod>,
}

impl ContainerPods {
    /// Start the lookup thread for the runtimes of `cfg`; `None` when metadata is switched off.
    pub fn start(cfg: &RuntimeConfig) -> Option<ContainerPods> {
        if !cfg.enabled {
            return None;
        }
        let wait = cfg.lookup_timeout.min(Duration::from_secs(2));
        match LookupService::start(cfg) {
            Ok(handle) => Some(ContainerPods { handle, wait, cache: HashMap::new() }),
            Err(e) => {
                tracing::warn!("session audit: container metadata lookups unavailable: {e}");
                None
            }
        }
    }

    fn take_answers(&mut self) {
        let cache = &mut self.cache;
        self.handle.drain(|a| {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            let pod =
                a.info.map(|i| Pod { name: i.pod_name, namespace: i.pod_namespace }).unwrap_or_default();
            cache.insert(a.full_id, pod);
        });
    }

    /// The pod of container `full_id` (waits for the runtime at most the configured time).
    pub fn pod(&mut self, full_id: &str, runtime: Option<Runtime>) -> Pod {
        self.take_answers();
        if let Some(p) = self.cache.get(full_id) {
            return p.clone();
        }
        if !self.handle.request(full_id, runtime) {
            return Pod::default();
        }
        let t = Instant::now();
        while t.elapsed() < self.wait {
            std::thread::sleep(Duration::from_millis(5));
            self.take_answers();
            if let Some(p) = self.cache.get(full_id) {
                return p.clone();
            }
        }
        Pod::default()
    }
}
