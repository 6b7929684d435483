//! The store as a sink of `harrier run` (and any router): alerts reach the database in batches,
//! through the router's bounded queue, spool and retry, so a slow or broken database never slows
//! detection. Configured by a `store:` block in the same YAML as the other sinks:
//!
//! ```yaml
//! store:
//!   url: sqlite:/var/lib/harrier/alerts.db
//!   minimumpriority: ""      # optional, like every falcosidekick output
//!   maxage: 30d              # optional retention, applied continuously by the sink
//!   maxsize: 10GiB
//! ```

use crate::{Retention, Store, StoreError};
use harrier_engine::Alert;
use harrier_sinks::queue::QueueConfig;
use harrier_sinks::sink::{BoxFut, Sink, SinkError};
use harrier_sinks::{RouteConfig, Router};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Writes batches into a [`Store`] on the blocking pool; applies retention every 30 s.
pub struct StoreSink {
    store: Arc<dyn Store>,
    retention: Retention,
    last_retention: std::sync::Mutex<Instant>,
    pub stored: AtomicU64,
}

impl StoreSink {
    pub fn new(store: Arc<dyn Store>, retention: Retention) -> StoreSink {
        StoreSink {
            store,
            retention,
            last_retention: std::sync::Mutex::new(Instant::now()),
            stored: AtomicU64::new(0),
        }
    }
}

impl Sink for StoreSink {
    fn kind(&self) -> &'static str {
        "store"
    }

    fn max_batch(&self) -> usize {
        500
    }

    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let batch: Vec<Alert> = alerts.iter().map(|a| (**a).clone()).collect();
            let store = self.store.clone();
            let due = {
                let mut t = self.last_retention.lock().unwrap_or_else(|e| e.into_inner());
                let due = t.elapsed() >= Duration::from_secs(30);
                if due {
                    *t = Instant::now();
                }
                due
            };
            let retention = self.retention;
            let n = batch.len() as u64;
            let r = tokio::task::spawn_blocking(move || {
                store.insert(&batch)?;
                if due && (retention.max_age_ns.is_some() || retention.max_bytes.is_some()) {
                    if let Err(e) = store.enforce_retention(&retention) {
                        tracing::warn!(error = %e, "store sink: retention failed");
                    }
                }
                Ok::<_, StoreError>(())
            })
            .await
            .map_err(|e| SinkError::transient(format!("store task: {e}")))?;
            match r {
                Ok(()) => {
                    self.stored.fetch_add(n, Ordering::Relaxed);
                    Ok(())
                }
                // A full, locked or unreachable database comes back: retry (the queue spills meanwhile).
                Err(StoreError::Unavailable(m)) => Err(SinkError::transient(m)),
                Err(StoreError::BadRequest(m)) => Err(SinkError::permanent(m)),
            }
        })
    }
}

#[derive(serde::Deserialize, Default)]
struct Block {
    #[serde(default)]
    url: String,
    #[serde(default)]
    minimumpriority: String,
    #[serde(default)]
    maxage: String,
    #[serde(default)]
    maxsize: String,
    #[serde(default)]
    name: String,
}

#[derive(serde::Deserialize, Default)]
struct Top {
    #[serde(default)]
    store: Option<Block>,
    #[serde(default)]
    spooldir: String,
}

fn duration_ns(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let m = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(m)?.checked_mul(1_000_000_000)
}

fn size_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let m: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(m)
}

/// Add the `store:` sink of a sinks YAML (if it has one) to `router`. Returns the sink, so the
/// caller can report what it stored.
pub fn add_from_config(yaml: &str, router: &mut Router) -> Result<Option<Arc<StoreSink>>, String> {
    let top: Top = serde_yaml::from_str(yaml).map_err(|e| format!("store: {e}"))?;
    let Some(b) = top.store else { return Ok(None) };
    if b.url.trim().is_empty() {
        return Err("store: 'url' is required (sqlite:PATH or postgres://…)".into());
    }
    let retention = Retention {
        max_age_ns: match b.maxage.trim() {
            "" => None,
            s => Some(
                duration_ns(s).ok_or_else(|| format!("store: maxage '{s}': expected a duration like 30d"))?,
            ),
        },
        max_bytes: match b.maxsize.trim() {
            "" => None,
            s => Some(
                size_bytes(s).ok_or_else(|| format!("store: maxsize '{s}': expected a size like 10GiB"))?,
            ),
        },
    };
    // Opened on a thread of its own: the PostgreSQL client blocks, and the caller may be async
    // (`harrier forward` builds its sinks on its runtime).
    let url = b.url.clone();
    let opened = std::thread::scope(|s| s.spawn(|| crate::open(&url)).join())
        .map_err(|_| "store: opening the store failed".to_string())?;
    let store: Arc<dyn Store> = Arc::from(opened.map_err(|e| format!("store: {e}"))?);
    let sink = Arc::new(StoreSink::new(store, retention));
    let mut route = RouteConfig::new(if b.name.is_empty() { "store".to_string() } else { b.name });
    if !b.minimumpriority.is_empty() {
        route.min_priority = crate::parse_priority(&b.minimumpriority)
            .ok_or_else(|| format!("store: unknown minimumpriority '{}'", b.minimumpriority))?;
    }
    let mut q = QueueConfig::default();
    if !top.spooldir.is_empty() {
        q.spool_dir = Some(PathBuf::from(&top.spooldir));
    }
    route.queue = q;
    router.add(sink.clone(), route)?;
    Ok(Some(sink))
}
