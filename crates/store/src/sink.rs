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

/// Writes batches into a [`Store`] on the blocking pool; applies retention every 30 s. A
/// PostgreSQL server that cannot be reached when Harrier starts is connected to on the first
/// delivery that can (the router queues and spools meanwhile): detection never waits for it.
pub struct StoreSink {
    store: std::sync::OnceLock<Arc<dyn Store>>,
    url: String,
    retention: Retention,
    last_retention: std::sync::Mutex<Instant>,
    pub stored: AtomicU64,
}

impl StoreSink {
    pub fn new(store: Arc<dyn Store>, retention: Retention) -> StoreSink {
        let sink = StoreSink::unopened(String::new(), retention);
        let _ = sink.store.set(store);
        sink
    }

    /// A sink whose store at `url` is opened on first use.
    pub fn unopened(url: String, retention: Retention) -> StoreSink {
        StoreSink {
            store: std::sync::OnceLock::new(),
            url,
            retention,
            last_retention: std::sync::Mutex::new(Instant::now()),
            stored: AtomicU64::new(0),
        }
    }

    /// Whether the store is open (connected and migrated).
    pub fn is_open(&self) -> bool {
        self.store.get().is_some()
    }
}

/// A store URL without its password (in the user info or a `password=` parameter), for log lines.
fn redact_url(url: &str) -> String {
    let mut out = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    };
    if let Some(p) = out.find("password=") {
        let end = out[p..].find(['&', ' ']).map_or(out.len(), |e| p + e);
        out.replace_range(p + "password=".len()..end, "***");
    }
    out
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
            let store = match self.store.get() {
                Some(s) => s.clone(),
                None => {
                    // Not connected yet: try now, off the async threads.
                    let url = self.url.clone();
                    let opened = tokio::task::spawn_blocking(move || crate::open(&url))
                        .await
                        .map_err(|e| SinkError::transient(format!("store task: {e}")))?;
                    match opened {
                        Ok(s) => {
                            if self.store.set(Arc::from(s)).is_ok() {
                                tracing::info!(
                                    "store: connected to {}; queued alerts follow",
                                    redact_url(&self.url)
                                );
                            }
                            self.store.get().expect("set above").clone()
                        }
                        Err(e) => {
                            return Err(SinkError::transient(format!(
                                "{} not reachable yet: {e}",
                                redact_url(&self.url)
                            )))
                        }
                    }
                }
            };
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

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
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
    let sink = match opened {
        Ok(store) => Arc::new(StoreSink::new(Arc::from(store), retention)),
        // A database server that is down (or not up yet) must not keep detection from starting:
        // alerts queue and spool until it answers. Anything else (a bad URL, an unwritable SQLite
        // path, a failed migration) is a configuration error.
        Err(e) if is_postgres(&url) && e.contains("cannot connect") => {
            tracing::warn!(
                "store: PostgreSQL at {} is not reachable ({e}); alerts are queued and spooled until it is",
                redact_url(&url)
            );
            Arc::new(StoreSink::unopened(url, retention))
        }
        Err(e) => return Err(format!("store: {e}")),
    };
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

#[cfg(test)]
mod tests {
    #[test]
    fn redact_url_hides_passwords() {
        assert_eq!(super::redact_url("postgres://u:s3cret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            super::redact_url("postgres:///db?host=/run&password=s3cret&user=u"),
            "postgres:///db?host=/run&password=***&user=u"
        );
        assert_eq!(super::redact_url("sqlite:/var/lib/a.db"), "sqlite:/var/lib/a.db");
    }
}
