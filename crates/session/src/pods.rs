//! Pod name and namespace of a shell's container, from the metadata the container runtimes give
//! (crates/containers: containerd, CRI-O, docker, podman; the kubelet's `io.kubernetes.pod.*`
//! labels). Asked once per container when its first shell is seen, through the same lookup
//! service as live detection. Nothing here ever waits: a request is queued and marked pending,
//! answers are picked up when records are built (as `harrier_state::State::note_container`
//! does). A lookup that does not answer within `wait`, or that no runtime could answer, counts as
//! failed and is asked again after a back-off (5 s, doubling up to 5 min); answers (also "not a
//! pod": a container described without pod labels) are cached.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use harrier_containers::service::{LookupHandle, LookupService};
use harrier_containers::{Runtime, RuntimeConfig};

/// Pod name and namespace (both empty: not a pod).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
}

/// What is known about a container's pod right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodLookup {
    /// The runtime answered (an empty [`Pod`]: not a pod).
    Known(Pod),
    /// Asked, no answer yet.
    Pending,
    /// Not known (no lookups, a failed or timed-out lookup waiting for its retry).
    Unknown,
}

/// Most containers remembered.
const CACHE_MAX: usize = 4096;
const BACKOFF_FIRST: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
enum Entry {
    Known(Pod),
    Pending { since: Instant, backoff: Duration },
    Failed { retry_at: Instant, backoff: Duration },
}

/// Looks pods up through the container runtimes, never blocking the caller.
pub struct ContainerPods {
    handle: LookupHandle,
    wait: Duration,
    cache: HashMap<String, Entry>,
    /// The first back-off after a failed lookup (doubles up to `BACKOFF_MAX`).
    backoff_first: Duration,
    /// Lookups that timed out (each is retried after its back-off).
    pub timeouts: u64,
}

impl ContainerPods {
    /// Start the lookup thread for the runtimes of `cfg`; `None` when metadata is switched off.
    pub fn start(cfg: &RuntimeConfig) -> Option<ContainerPods> {
        if !cfg.enabled {
            return None;
        }
        match LookupService::start(cfg) {
            Ok(handle) => Some(ContainerPods::with_handle(handle, cfg.lookup_timeout)),
            Err(e) => {
                tracing::warn!("session audit: container metadata lookups unavailable: {e}");
                None
            }
        }
    }

    /// Over an existing lookup service; a lookup unanswered after `wait` (at most 2 s) failed.
    pub fn with_handle(handle: LookupHandle, wait: Duration) -> ContainerPods {
        ContainerPods {
            handle,
            wait: wait.min(Duration::from_secs(2)),
            cache: HashMap::new(),
            backoff_first: BACKOFF_FIRST,
            timeouts: 0,
        }
    }

    /// Use `first` as the first back-off after a failed lookup instead of 5 s (it still doubles
    /// up to 5 min). For tests, which cannot wait 5 s per retry.
    pub fn with_backoff(mut self, first: Duration) -> ContainerPods {
        self.backoff_first = first.min(BACKOFF_MAX);
        self
    }

    /// How long a lookup may stay pending before it counts as failed.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    fn take_answers(&mut self) {
        let cache = &mut self.cache;
        let first = self.backoff_first;
        let now = Instant::now();
        self.handle.drain(|a| {
            if cache.len() >= CACHE_MAX && !cache.contains_key(&a.full_id) {
                cache.clear();
            }
            let e = match a.info {
                Some(i) => Entry::Known(Pod { name: i.pod_name, namespace: i.pod_namespace }),
                // no runtime described it (or none could be reached): ask again after the back-off
                None => {
                    let backoff = match cache.get(&a.full_id) {
                        Some(Entry::Pending { backoff, .. } | Entry::Failed { backoff, .. }) => *backoff,
                        _ => first,
                    };
                    Entry::Failed { retry_at: now + backoff, backoff: (backoff * 2).min(BACKOFF_MAX) }
                }
            };
            cache.insert(a.full_id, e);
        });
    }

    fn ask(&mut self, full_id: &str, runtime: Option<Runtime>, backoff: Duration, now: Instant) {
        if self.cache.len() >= CACHE_MAX && !self.cache.contains_key(full_id) {
            self.cache.clear();
        }
        let e = if self.handle.request(full_id, runtime) {
            Entry::Pending { since: now, backoff }
        } else {
            // the queue is full: ask again soon
            Entry::Failed { retry_at: now + Duration::from_secs(1), backoff }
        };
        self.cache.insert(full_id.to_owned(), e);
    }

    /// The pod of container `full_id` as known now; asks the runtime the first time (and again
    /// after a failure's back-off). Never waits.
    pub fn pod(&mut self, full_id: &str, runtime: Option<Runtime>) -> PodLookup {
        self.take_answers();
        let now = Instant::now();
        match self.cache.get(full_id).cloned() {
            Some(Entry::Known(p)) => PodLookup::Known(p),
            None => {
                self.ask(full_id, runtime, self.backoff_first, now);
                self.state(full_id)
            }
            Some(Entry::Pending { since, backoff }) => {
                if now.duration_since(since) < self.wait {
                    return PodLookup::Pending;
                }
                self.timeouts += 1;
                tracing::debug!(container = full_id, "session audit: pod lookup timed out; retrying later");
                self.cache.insert(
                    full_id.to_owned(),
                    Entry::Failed { retry_at: now + backoff, backoff: (backoff * 2).min(BACKOFF_MAX) },
                );
                PodLookup::Unknown
            }
            Some(Entry::Failed { retry_at, backoff }) => {
                if now < retry_at {
                    return PodLookup::Unknown;
                }
                self.ask(full_id, runtime, backoff, now);
                self.state(full_id)
            }
        }
    }

    fn state(&self, full_id: &str) -> PodLookup {
        match self.cache.get(full_id) {
            Some(Entry::Known(p)) => PodLookup::Known(p.clone()),
            Some(Entry::Pending { .. }) => PodLookup::Pending,
            _ => PodLookup::Unknown,
        }
    }
}
